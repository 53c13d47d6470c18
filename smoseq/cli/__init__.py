"""The `smoseq` command: `parser` (arguments, exit codes), `commands` and `scan_commands`
(the handlers), `demo` (the tutorial pipeline) and `output` (folders, figures, the HTML report)."""

from .parser import build_parser as build_parser
from .parser import enable_compilation_cache as enable_compilation_cache
from .parser import main as main
