"""Benchmark `make_example`: time to write the default example dataset (budget: < 1 minute
on a 2-core machine), and the size of what it writes.

Run: `.venv/bin/python benchmarks/bench_datasets.py [--repeats 1] [--no-video] [--keep DIR]`.
Reports wall and CPU time (the videos are encoded two at a time, so CPU time can exceed wall
time), frames, bytes on disk and the system load average before the run, since other work on
the machine slows the encoder.
"""

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from smoseq.datasets.example import make_example


def write_once(directory: Path, video: bool) -> tuple[float, float, int, int]:
    if directory.exists():
        shutil.rmtree(directory)
    wall, cpu = time.perf_counter(), time.process_time()
    dataset = make_example(directory, video=video, progress=False)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    frames = sum(sum(1 for _ in path.open()) - 1 for path in dataset.csv_paths)
    size = sum(path.stat().st_size for path in directory.iterdir())
    return wall, cpu, frames, size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--no-video", action="store_true", help="CSVs and ground truth only")
    parser.add_argument("--keep", type=Path, default=None, help="write here and keep the dataset")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        directory = args.keep or Path(scratch) / "example_data"
        load = os.getloadavg()[0]
        runs = [write_once(directory, not args.no_video) for _ in range(args.repeats)]
    wall = statistics.median(r[0] for r in runs)
    cpu = statistics.median(r[1] for r in runs)
    _, _, frames, size = runs[-1]
    print(f"make_example defaults{' (no video)' if args.no_video else ''}: {frames:,} frames, "
          f"{size / 1e6:.1f} MB; wall {wall:.1f} s, CPU {cpu:.1f} s "
          f"({1e6 * wall / frames:.0f} µs/frame wall); load average before: {load:.2f}")


if __name__ == "__main__":
    main()
