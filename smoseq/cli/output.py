"""What every command writes: its output folder, figures, and the HTML report (`index.html`)."""

import html
from pathlib import Path

from .._errors import InputError
from ..io.files import atomic_write_text


def say(message: str) -> None:
    """Print a progress line of a command at once (commands are the only code that prints)."""
    print(message, flush=True)


def prepare_output(folder, force: bool, marker: str) -> Path:
    """Create `folder` (refusing to replace results marked by `marker` unless `force`)."""
    folder = Path(folder)
    if (folder / marker).exists() and not force:
        raise FileExistsError(f"{folder}: already holds results; pass --force to replace them")
    if folder.exists() and not folder.is_dir():
        raise InputError(f"{folder}: exists and is not a folder")
    folder.mkdir(parents=True, exist_ok=True)
    probe = folder / ".smoseq-write-test"
    try:
        probe.write_bytes(b"")
        probe.unlink()
    except OSError:
        raise InputError(f"{folder}: cannot write to this folder") from None
    return folder


def save_figure(figure, path: Path) -> Path:
    """Write a matplotlib figure to `path` through a temporary file; returns `path`."""
    temporary = path.with_name(f".{path.stem}.tmp{path.suffix}")
    figure.savefig(temporary, dpi=120, bbox_inches="tight")
    temporary.replace(path)
    return path



def write_index(folder: Path, title: str, sections: list[tuple[str, list[Path]]], movies: list[Path], notes: list[str]) -> Path:
    """A self-contained `index.html` showing every figure and linking the movies."""
    parts = [f"<!doctype html><meta charset='utf-8'><title>{html.escape(title)}</title>",
             "<style>body{font-family:sans-serif;max-width:1100px;margin:auto} img{max-width:100%;border:1px solid #ddd}"
             " figure{display:inline-block;margin:8px;vertical-align:top;max-width:520px}</style>",
             f"<h1>{html.escape(title)}</h1>"]
    parts += [f"<p>{html.escape(note)}</p>" for note in notes]
    for heading, figures in sections:
        parts.append(f"<h2>{html.escape(heading)}</h2>")
        for figure in figures:
            relative = html.escape(figure.relative_to(folder).as_posix())
            parts.append(f"<figure><img src='{relative}' alt='{relative}'><figcaption>{relative}</figcaption></figure>")
    if movies:
        parts.append("<h2>Grid movies</h2><ul>")
        for movie in movies:
            relative = html.escape(movie.relative_to(folder).as_posix())
            parts.append(f"<li><a href='{relative}'>{relative}</a><br><video src='{relative}' controls width='480'></video></li>")
        parts.append("</ul>")
    atomic_write_text(folder / "index.html", "\n".join(parts) + "\n")
    return folder / "index.html"
