"""`smoseq scan` and `smoseq select` (parameter scans); registered by `smoseq.cli`."""


def add_commands(subparsers, add_command) -> None:
    """Register the scan commands on the `smoseq` parser."""
