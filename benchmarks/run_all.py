"""Run the benchmarks behind the README's table, one after another, each in its own process.

    python benchmarks/run_all.py            # the DESIGN §7 budgets: Gibbs, facade, MI, kernels, scan ratio
    python benchmarks/run_all.py --quick    # the smallest case of each (a few minutes)
    python benchmarks/run_all.py --list     # what would run

Each script prints its own table (medians of several runs after a warm-up, peak memory
where it matters). Scripts that need another package or long runs (`compare_published.py`,
`bench_scan.py --full`, `bench_accuracy.py`, `bench_grid_movies.py`) are run by hand; see
their docstrings.
"""

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHMARKS = [  # (script, full arguments, quick arguments)
    ("bench_gibbs.py", [], ["--quick"]),
    ("bench_facade.py", [], None),
    ("bench_kernels.py", [], ["--runs", "3", "--lengths", "50000"]),
    ("bench_native_paths.py", [], ["--runs", "3"]),
    ("bench_time_varying.py", [], ["--runs", "3", "--length", "10000"]),
    ("bench_mi.py", [], ["--repeats", "3"]),
    ("bench_laplace.py", [], ["--repeats", "3"]),
    ("bench_scan.py", [], ["--models", "4", "--iters", "5", "--rounds", "1"]),
]


def main() -> int:
    quick = "--quick" in sys.argv
    failed = []
    for script, full, quick_args in BENCHMARKS:
        if quick and quick_args is None:
            continue
        command = [sys.executable, str(HERE / script), *(quick_args if quick else full)]
        print(f"\n=== {' '.join(command[1:])}", flush=True)
        if "--list" in sys.argv:
            continue
        started = time.perf_counter()
        if subprocess.run(command).returncode != 0:
            failed.append(script)
        print(f"=== {script}: {time.perf_counter() - started:.0f} s", flush=True)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
