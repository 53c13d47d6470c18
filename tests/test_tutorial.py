"""The published example-data tutorial runs verbatim (state_moseq renamed to smoseq)."""

import subprocess
import sys
from pathlib import Path


from smoseq.datasets.example import make_example

TUTORIAL = Path(__file__).parents[1] / "docs" / "tutorials" / "example_data_tutorial.py"
RUNNER = """
import runpy, sys
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
runpy.run_path(sys.argv[1], run_name="__main__")
for number in plt.get_fignums():
    plt.figure(number).savefig(f"figure_{number}.png")
"""


def test_published_tutorial_runs_verbatim(tmp_path):
    make_example(tmp_path / "example_data", n_recordings=3, duration_s=60.0, n_syllables=24, video_size=128, progress=False)
    result = subprocess.run(
        [sys.executable, "-c", RUNNER, str(TUTORIAL)], cwd=tmp_path, capture_output=True, text=True, timeout=1200
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "example_data-state_sequences.p").stat().st_size > 0
    assert (tmp_path / "example_data-additional_info.p").stat().st_size > 0
    assert len(list(tmp_path.glob("figure_*.png"))) >= 3
    movies = list((tmp_path / "grid_movies").glob("*.mp4"))
    assert movies and all(movie.stat().st_size > 0 for movie in movies)
