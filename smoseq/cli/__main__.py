"""`python -m smoseq.cli ...` runs the `smoseq` command."""

import sys

from .parser import main

sys.exit(main())
