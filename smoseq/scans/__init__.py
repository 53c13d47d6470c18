"""Parameter scans: batched fitting, scan folders, executors, model selection (see `smoseq.scan`)."""
