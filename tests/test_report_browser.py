"""The HTML reports open in a real browser: every image and video loads, no console error.

Chromium runs headless through Playwright's Python package, launched from the system's
Chromium (`apt-get install chromium`; Playwright's own browser download is not used). Without
the package or a Chromium on PATH (or at $SMOSEQ_CHROMIUM) the test is skipped with that reason.

Pages: the report of `smoseq stats --decode` on the planted-effect fit of `test_stats_cli`, and
a report written by the same writer the demo uses, holding a grid movie made by
`generate_grid_movies` from a small test video.
"""

import os
import shutil

import numpy as np
import pytest

from smoseq.cli import main
from smoseq.cli.output import write_index
from smoseq.viz import generate_grid_movies
from test_grid_movies import write_coded_video
from test_stats_cli import project  # noqa: F401  (the fixture)

sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright's Python package is not installed (pip install playwright)")


def _chromium() -> str:
    candidates = [os.environ.get("SMOSEQ_CHROMIUM", "")] + [shutil.which(n) or "" for n in ("chromium", "chromium-browser", "google-chrome")]
    found = next((c for c in candidates if c and os.path.isfile(c)), None)
    if found is None:
        pytest.skip("no Chromium found (apt-get install chromium, or set SMOSEQ_CHROMIUM)")
    return found


@pytest.fixture(scope="module")
def browser():
    executable = _chromium()
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, headless=True, args=["--no-sandbox"])
        yield launched
        launched.close()


def _load(browser, index) -> tuple[list, list, list]:
    """(images, videos, errors) of the page: src and load state of each, console errors and failed requests."""
    page = browser.new_page()
    errors = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("requestfailed", lambda request: errors.append(f"request failed: {request.url}"))
    page.goto(index.as_uri(), wait_until="load")
    page.evaluate("document.querySelectorAll('video').forEach(v => { v.preload = 'auto'; v.load(); })")
    page.wait_for_function(
        "Array.from(document.querySelectorAll('video')).every(v => v.readyState >= 2 || v.error)", timeout=30_000
    )
    images = page.eval_on_selector_all("img", "all => all.map(i => [i.getAttribute('src'), i.complete, i.naturalWidth])")
    videos = page.eval_on_selector_all(
        "video", "all => all.map(v => [v.getAttribute('src'), v.readyState, v.error && v.error.code, v.videoWidth])"
    )
    page.close()
    return images, videos, errors


def test_stats_report_loads_in_chromium(browser, project, tmp_path):  # noqa: F811
    root, _, _ = project
    out = tmp_path / "stats"
    args = ["stats", str(root / "fit"), "--data", str(root / "data"), "--out", str(out), "--decode", "--permutations", "50"]
    assert main(args) == 0
    images, videos, errors = _load(browser, out / "index.html")
    assert len(images) >= 5 and any(src.endswith("decoding.png") for src, _, _ in images)
    broken = [src for src, complete, width in images if not (complete and width > 0)]
    assert broken == [] and videos == [] and errors == [], (broken, errors)


def test_report_with_grid_movie_loads_in_chromium(browser, tmp_path):
    video = write_coded_video(tmp_path / "m00.mp4", 60)
    states = {"m00": np.repeat([0, 1, 0, 1], 15)}
    centroids = {"m00": np.full((60, 2), 80.0)}
    generate_grid_movies(states, {"m00": video}, centroids, output_dir=tmp_path / "movies", rows=1, cols=2,
                         max_duration=20, window_size=64, min_duration=5, progress=False)  # fmt: skip
    movies = sorted((tmp_path / "movies").glob("*.mp4"))
    figure = _a_png(tmp_path)
    index = write_index(tmp_path, "report", [("Figures", [figure])], movies, ["a note"])
    images, videos, errors = _load(browser, index)
    assert len(videos) == len(movies) == 2 and len(images) == 1
    assert all(error is None and state >= 2 and width > 0 for _, state, error, width in videos), videos
    assert all(complete and width > 0 for _, complete, width in images) and errors == [], (images, errors)


def test_a_missing_image_is_caught(browser, tmp_path):
    """The check itself: a report whose figure is missing fails it."""
    figure = _a_png(tmp_path)
    index = write_index(tmp_path, "report", [("Figures", [figure])], [], [])
    figure.unlink()
    images, _, errors = _load(browser, index)
    assert images[0][2] == 0 and any("figure.png" in e for e in errors), (images, errors)


def _a_png(folder):
    from matplotlib.figure import Figure

    figure = Figure(figsize=(2, 2))
    figure.subplots().plot([0, 1], [0, 1])
    path = folder / "figure.png"
    figure.savefig(path)
    return path
