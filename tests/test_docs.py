"""The documentation cannot rot: every code block of every page runs, and the reference builds.

Each page under docs/ (the reference pages excepted, they are generated from docstrings)
runs in one fresh Python process in an empty temporary folder, its fenced ```python
blocks in order in one namespace and its ```bash blocks in a shell (with this
environment's `smoseq` on PATH) from the same folder, so files and variables carry from
block to block as they would for a reader.
"""

import ast
import contextlib
import io
import os
import re
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
DOCS = ROOT / "docs"
REFERENCE = DOCS / "reference"
RUNNABLE = ("python", "bash")
FENCE = re.compile(
    r"^(?P<indent>[ \t]*)```(?P<lang>[\w-]*)[^\n]*\n(?P<body>.*?)^(?P=indent)```[ \t]*$", re.MULTILINE | re.DOTALL
)
CACHE = Path(os.environ.get("SMOSEQ_TEST_CACHE", Path(tempfile.gettempdir()) / "smoseq-test-jax-cache"))

RUNNER = r"""
import subprocess, sys, time, traceback
blocks = {blocks!r}
namespace = {{"__name__": "__main__"}}
for path, line, lang, code in blocks:
    started = time.perf_counter()
    print(f"--- {{path}}:{{line}} ({{lang}})", flush=True)
    if lang == "python":
        exec(compile("\n" * line + code, path, "exec"), namespace)
    else:
        done = subprocess.run(["bash", "-euo", "pipefail", "-c", code])
        if done.returncode != 0:
            sys.exit(f"{{path}}:{{line}}: bash block exited with {{done.returncode}}")
    print(f"--- {{path}}:{{line}} took {{time.perf_counter() - started:.1f}} s", flush=True)
"""


def pages() -> list[Path]:
    return sorted(p for p in DOCS.rglob("*.md") if REFERENCE not in p.parents)


def code_blocks(page: Path) -> list[tuple[int, str, str]]:
    """`(line, language, code)` of every fenced block of a page (line: first line of code, 0-based)."""
    text = page.read_text(encoding="utf-8")
    blocks = []
    for match in FENCE.finditer(text):
        line = text.count("\n", 0, match.start("body"))
        body = textwrap.dedent(match.group("body")) if match.group("indent") else match.group("body")
        blocks.append((line, match.group("lang"), body))
    return blocks


def run_page(page: Path, folder: Path) -> subprocess.CompletedProcess:
    relative = str(page.relative_to(ROOT))
    blocks = [(relative, line, lang, code) for line, lang, code in code_blocks(page) if lang in RUNNABLE]
    env = dict(os.environ)
    env.update(
        MPLBACKEND="Agg",
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        SMOSEQ_CACHE_DIR=str(CACHE),  # the CLI's compilation cache
        JAX_COMPILATION_CACHE_DIR=str(CACHE),  # the same for Python blocks
        JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",  # small programs too: loading beats compiling
        PYTHONWARNINGS="ignore::DeprecationWarning",
    )  # XLA_FLAGS come from tests/conftest.py: quick compilation for the pages' tiny data
    CACHE.mkdir(parents=True, exist_ok=True)
    script = RUNNER.format(blocks=blocks)
    return subprocess.run(
        [sys.executable, "-c", script], cwd=folder, env=env, capture_output=True, text=True, timeout=900
    )


@pytest.mark.parametrize("page", pages(), ids=lambda p: str(p.relative_to(DOCS)))
def test_page_runs(page, tmp_path):
    result = run_page(page, tmp_path)
    assert result.returncode == 0, f"{page.name} failed\n{result.stdout[-4000:]}\n{result.stderr[-6000:]}"


def test_every_page_has_code_and_is_in_the_navigation():
    config = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    for page in pages():
        languages = [lang for _, lang, _ in code_blocks(page)]
        assert any(lang in RUNNABLE for lang in languages), f"{page} has no python or bash block"
        assert not [lang for lang in languages if lang == ""], f"{page} has a fence without a language"
        assert str(page.relative_to(DOCS)) in config, f"{page} is missing from mkdocs.yml's nav"
    for page in sorted(REFERENCE.glob("*.md")):
        assert "\n::: " in page.read_text(encoding="utf-8"), f"{page} documents nothing"
        assert str(page.relative_to(DOCS)) in config, f"{page} is missing from mkdocs.yml's nav"


def _public_names() -> list[str]:
    """Names `smoseq` exports: explicit re-exports and the lazily loaded ones."""
    tree = ast.parse((ROOT / "smoseq" / "__init__.py").read_text(encoding="utf-8"))
    names = [alias.asname for node in tree.body if isinstance(node, ast.ImportFrom) for alias in node.names if alias.asname]
    lazy = [n for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)]
    names += [n.value for n in lazy if n.value in ("generate_grid_movies", "plot_alluvial")]
    return sorted(set(names))


def test_reference_covers_the_public_api():
    directives = set()
    for page in REFERENCE.glob("*.md"):
        directives |= set(re.findall(r"^::: ([\w.]+)", page.read_text(encoding="utf-8"), re.MULTILINE))
    lazy = {"generate_grid_movies": "smoseq.viz.generate_grid_movies", "plot_alluvial": "smoseq.viz.plot_alluvial"}
    missing = [name for name in _public_names() if lazy.get(name, f"smoseq.{name}") not in directives]
    assert not missing, f"not in docs/reference: {missing}"
    for module in ("smoseq.hhmm_efficient", "smoseq.inference.kernels", "smoseq.inference.parallel", "smoseq.scan"):
        assert module in directives, f"{module} is not in docs/reference"


def test_reference_builds(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    hint = "(griffe reads Google-style docstrings: a grouped `a, b: text` Args entry must keep its names on one line)"
    assert result.returncode == 0, f"{result.stderr[-6000:]}\n{hint}"
    assert (tmp_path / "site" / "reference" / "api" / "index.html").is_file()
    assert "heldout_loglik_per_frame" in (tmp_path / "site" / "reference" / "api" / "index.html").read_text()


def test_inline_commands_parse():
    """Command lines shown inline (not run, to keep the pages quick) parse with the `smoseq` parser."""
    import shlex

    from smoseq.cli import build_parser

    commands = []
    for page in pages():
        commands += re.findall(r"`(smoseq [^`]+)`", page.read_text(encoding="utf-8"))
    assert commands
    for command in commands:
        words = shlex.split(command)
        if "COMMAND" in command or len(words) < 3:  # a bare command name in prose
            continue
        if words[2].startswith("-"):  # an option named in prose: it must exist
            help_text = io.StringIO()
            with contextlib.redirect_stdout(help_text), pytest.raises(SystemExit):
                build_parser().parse_args([words[1], "--help"])
            assert all(word in help_text.getvalue() for word in words[2:] if word.startswith("--")), command
            continue
        try:
            build_parser().parse_args(shlex.split(command)[1:])
        except SystemExit as stop:
            assert stop.code == 0, f"`{command}` does not parse"
