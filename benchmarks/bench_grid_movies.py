"""Benchmark `generate_grid_movies`: grid frames written per second and peak memory.

Run: `.venv/bin/python benchmarks/bench_grid_movies.py [--durations 150 600 1200 2400]`.

A 640 x 480, 30 fps test video (a dark animal moving over a textured arena, H.264 with a
keyframe every 60 frames) is written once to `--workdir`. Four recordings share it, each with
its own state sequence (two states, runs of 100-400 frames and one long run, so every movie
lasts `max_duration` frames). Each configuration runs in a fresh subprocess, whose peak
resident memory (`ru_maxrss`, including the Python interpreter and `import smoseq`) is
reported; the budget is 500 MB for any `max_duration`. Timings include indexing the video.
The last two rows show that memory follows the grid's pixel count (encoder buffers), not the
number of tiles: 6 x 8 tiles of 128 px make the same 1024 x 768 grid as 3 x 4 of 256 px.
"""

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

WIDTH, HEIGHT, FPS, N_FRAMES = 640, 480, 30, 3000
N_RECORDINGS = 4


def write_video(path: Path) -> None:
    import av

    rng = np.random.default_rng(0)
    arena = (120 + 40 * rng.random((HEIGHT, WIDTH, 1))).astype(np.uint8).repeat(3, axis=2)
    ys, xs = np.mgrid[:HEIGHT, :WIDTH]
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=FPS, options={"crf": "23", "preset": "veryfast", "g": "60"})
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        for t in range(N_FRAMES):
            cx, cy = centroid(t)
            frame = arena.copy()
            frame[(xs - cx) ** 2 / 900 + (ys - cy) ** 2 / 300 < 1] = 30
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode(None))


def centroid(t):
    return WIDTH / 2 + 200 * np.cos(t / 90), HEIGHT / 2 + 150 * np.sin(t / 65)


def inputs(video: Path, longest: int):
    rng = np.random.default_rng(1)
    states, videos, centroids = {}, {}, {}
    track = np.array([centroid(t) for t in range(N_FRAMES)])
    for r in range(N_RECORDINGS):
        lengths = rng.integers(100, 400, 40)
        seq = np.repeat(np.arange(40) % 2, lengths)
        seq[: min(longest, N_FRAMES - 1)] = r % 2  # one run at least max_duration long per state
        states[f"rec{r}"] = seq[:N_FRAMES]
        videos[f"rec{r}"] = str(video)
        centroids[f"rec{r}"] = track
    return states, videos, centroids


def worker(config: dict) -> dict:
    from smoseq.viz import generate_grid_movies

    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    states, videos, centroids = inputs(Path(config["video"]), config["max_duration"])
    start = time.perf_counter()
    instances = generate_grid_movies(
        states, videos, centroids, output_dir=config["output"], rows=config["rows"], cols=config["cols"],
        max_duration=config["max_duration"], window_size=config["window_size"], progress=False,
    )  # fmt: skip
    seconds = time.perf_counter() - start
    frames = sum(min(config["max_duration"], max(e - s for _, s, e in tiles)) for tiles in instances.values())
    return {
        **config,
        "seconds": round(seconds, 2),
        "grid_frames": frames,
        "grid_frames_per_s": round(frames / seconds, 1),
        "tile_frames_per_s": round(frames * config["rows"] * config["cols"] / seconds, 1),
        "import_rss_mb": round(baseline),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--durations", type=int, nargs="+", default=[150, 600, 1200, 2400])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/smoseq-bench-grid-movies"))
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return

    args.workdir.mkdir(parents=True, exist_ok=True)
    video = args.workdir / "arena.mp4"
    if not video.exists():
        print(f"writing the test video {video} ...", flush=True)
        write_video(video)
    configs = [(3, 4, 256, d) for d in args.durations] + [(6, 8, 128, 600), (6, 8, 256, 600)]
    header = ("grid", "window", "max_dur", "frames", "seconds", "grid fr/s", "tile fr/s", "peak MB")
    print(" ".join(f"{h:>{w}}" for h, w in zip(header, (5, 6, 7, 6, 7, 9, 9, 7))))
    for rows, cols, window, duration in configs:
        config = {
            "video": str(video), "output": str(args.workdir / "out"), "rows": rows, "cols": cols,
            "window_size": window, "max_duration": duration,
        }  # fmt: skip
        command = [sys.executable, __file__, "--worker", json.dumps(config)]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode:
            sys.exit(done.stderr)
        r = json.loads(done.stdout.strip().splitlines()[-1])
        print(
            f"{rows}x{cols:<3} {window:>6} {duration:>7} {r['grid_frames']:>6} {r['seconds']:>7} "
            f"{r['grid_frames_per_s']:>9} {r['tile_frames_per_s']:>9} {r['peak_rss_mb']:>7}"
            f"  (after imports: {r['import_rss_mb']} MB)",
            flush=True,
        )


if __name__ == "__main__":
    main()
