"""Benchmark the Laplace emission update (DESIGN §2, §7): K = 10, S = 50 and 100, counts
from ~1 M transitions, float32 on CPU.

Measures, per optimizer (`optax.adam(5e-3)`, the tutorial's, and `optax.lbfgs()`) and
tolerance of `find_mode`'s stopping rule:

(a) the mode search from the data-driven start (first Gibbs iteration);
(b) the mode search warm-started at the previous mode after the counts changed as in a
    Gibbs sweep (5 % of the transitions moved to another hidden state);
(b´) the same, warm-started at the previous Laplace draw instead of the previous mode;
(full) the whole `sample_low_rank_emissions` call in situations (b) and (b´): what a
    Gibbs iteration pays for its emissions;
(c) Hessian blocks + block factorisation + draw alone.

Quality: the loss gap `loss(centre) − loss(true mode)` in nats (float64; the true mode
is found by L-BFGS and Newton steps in float64), for the optimizer's stopping point and
for the Newton-corrected centre that `sample_low_rank_emissions` draws around. A gap g
shifts the Laplace draw by a Mahalanobis distance √(2g); the draw's own spread is
√D ≈ 54 (S = 50) or 100 (S = 100).

Memory: XLA's own accounting of the compiled full update (arguments + outputs + temporaries)
and the process's peak resident set.

Run: `.venv/bin/python benchmarks/bench_laplace.py [--sizes 50 100] [--repeats 5]`.
Times are the median (and min) wall time of `--repeats` runs after a warm-up, plus the
median CPU time (all threads) for the full update and (c); the machine's load average is
printed because other processes inflate wall times.
"""

import os

# jaxlib runs its small LAPACK kernels in SciPy's OpenBLAS, whose threads thrash on a
# busy 2-core machine (10 ms instead of 0.05 ms per 99 × 99 solve). Must precede imports;
# run with OPENBLAS_NUM_THREADS=2 to see the default behaviour.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from functools import partial  # noqa: E402

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import jax.random as jr  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402

from smoseq.models.laplace import (  # noqa: E402
    emission_log_posterior,
    factorize_precision,
    find_mode,
    initial_emission_params,
    laplace_precision,
    sample_laplace,
    sample_low_rank_emissions,
    solve_precision,
    transition_probs,
)

NUM_STATES = 10
NUM_TRANSITIONS = 1_000_000
MOVED_FRACTION = 0.05
MAX_ITERS = 3000
OPTIMIZERS = {"adam(5e-3)": optax.adam(5e-3), "lbfgs": optax.lbfgs()}


def make_counts(size: int, seed: int = 0) -> np.ndarray:
    """(K, S, S) counts of ~1 M transitions from low-rank emissions drawn from the prior."""
    rng = np.random.default_rng(seed)
    base = jnp.asarray(rng.normal(size=(size, size - 1)), jnp.float32)
    biases = jnp.asarray(rng.normal(size=(NUM_STATES - 1, size - 1)), jnp.float32)
    probs = np.asarray(transition_probs(base, biases), np.float64)
    probs /= probs.sum(-1, keepdims=True)
    state_weights = rng.dirichlet(np.ones(NUM_STATES))
    syllable_weights = rng.dirichlet(np.ones(size))  # some syllables rare
    row_weights = np.outer(state_weights, syllable_weights).ravel()
    row_counts = rng.multinomial(NUM_TRANSITIONS, row_weights).reshape(NUM_STATES, size)
    return rng.multinomial(row_counts, probs).astype(np.float32)


def move_between_states(counts: np.ndarray, seed: int = 1) -> np.ndarray:
    """Move `MOVED_FRACTION` of each cell's transitions to uniformly chosen states."""
    rng = np.random.default_rng(seed)
    moved = rng.binomial(counts.astype(np.int64), MOVED_FRACTION)
    per_syllable_pair = moved.sum(axis=0)  # (S, S)
    redistributed = rng.multinomial(per_syllable_pair, np.full(NUM_STATES, 1 / NUM_STATES))
    return (counts - moved + np.moveaxis(redistributed, -1, 0)).astype(np.float32)


def timed(fn, *args, repeats: int) -> dict:
    jax.block_until_ready(fn(*args))  # warm-up (compiles)
    walls, cpus = [], []
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        result = jax.block_until_ready(fn(*args))
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return {
        "median": statistics.median(walls),
        "min": min(walls),
        "cpu": statistics.median(cpus),
        "result": result,
    }


def loss_fn(counts):
    return lambda params: -emission_log_posterior(*params, counts, 1.0, 1.0)


@partial(jax.jit, static_argnames=("optimizer", "tol"))
def search(counts, start, optimizer, tol):
    return find_mode(loss_fn(counts), start, optimizer, MAX_ITERS, tol)


@partial(jax.jit, static_argnames=("optimizer", "tol"))
def full_update(key, counts, start, optimizer, tol):
    return sample_low_rank_emissions(key, counts, *start, 1.0, 1.0, optimizer, MAX_ITERS, tol)


@jax.jit
def factor_and_draw(key, counts, mode):
    factor = factorize_precision(laplace_precision(*mode, counts, 1.0, 1.0))
    return sample_laplace(key, mode, factor)


@jax.jit
def newton_centre(counts, params):
    factor = factorize_precision(laplace_precision(*params, counts, 1.0, 1.0))
    step = solve_precision(factor, jax.grad(loss_fn(counts))(params))
    return jax.tree.map(lambda p, s: p - s, params, step)


class Reference:
    """The true mode and loss in float64, to measure the gap of float32 results."""

    def __init__(self, counts: np.ndarray):
        with jax.enable_x64(True):
            self.counts = jnp.asarray(counts, jnp.float64)
            start = initial_emission_params(self.counts)
            search_far = jax.jit(
                lambda p: find_mode(loss_fn(self.counts), p, optax.lbfgs(), 5000, 1e-15)
            )
            mode = search_far(start).params
            for _ in range(3):
                mode = newton_centre(self.counts, mode)
            self.loss = float(loss_fn(self.counts)(mode))

    def gap(self, params) -> float:
        with jax.enable_x64(True):
            params64 = jax.tree.map(lambda a: jnp.asarray(a, jnp.float64), params)
            return float(loss_fn(self.counts)(params64)) - self.loss


def peak_rss_mib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _timing(result: dict) -> str:
    steps = int(result["result"].n_steps)
    return f"{steps:4d} st {result['median'] * 1e3:6.0f} ms ({result['min'] * 1e3:4.0f})"


def bench_optimizer(name, optimizer, tol, counts, counts_next, references, repeats) -> str:
    """One table row: (a) cold, (b) warm from the previous mode, (b') warm from the previous
    draw (each a mode search), and the full update in situations (b) and (b')."""
    reference, reference_next = references
    key = jr.key(0)
    cold = timed(search, counts, initial_emission_params(counts), optimizer, tol, repeats=repeats)
    cold_mode = cold["result"].params
    previous_draw = factor_and_draw(jr.key(1), counts, cold_mode)
    warm = timed(search, counts_next, cold_mode, optimizer, tol, repeats=repeats)
    from_draw = timed(search, counts_next, previous_draw, optimizer, tol, repeats=repeats)
    full = timed(full_update, key, counts_next, cold_mode, optimizer, tol, repeats=repeats)
    full_from_draw = timed(
        full_update, key, counts_next, previous_draw, optimizer, tol, repeats=repeats
    )
    return (
        f"{name:11s} {tol:6.0e} | {_timing(cold)} {reference.gap(cold_mode):8.2f} "
        f"{reference.gap(newton_centre(counts, cold_mode)):8.3f} | {_timing(warm)} "
        f"{reference_next.gap(warm['result'].params):8.2f} "
        f"{reference_next.gap(full['result'][2].mode):8.3f} | {_timing(from_draw)} "
        f"{reference_next.gap(full_from_draw['result'][2].mode):8.3f} | "
        f"{_full_timing(full)} | {_full_timing(full_from_draw)}"
    )


def _full_timing(result: dict) -> str:
    return f"{result['median'] * 1e3:5.0f} ms {result['cpu'] * 1e3:5.0f} cpu"


def bench_factor_and_memory(counts, repeats) -> None:
    """(c) and the memory of the full update."""
    key, start = jr.key(0), initial_emission_params(counts)
    mode = search(counts, start, OPTIMIZERS["lbfgs"], 1e-7).params
    draw = timed(factor_and_draw, key, counts, mode, repeats=repeats)
    print(f"(c) Hessian blocks + factorisation + draw: {draw['median'] * 1e3:.0f} ms median, "
          f"{draw['min'] * 1e3:.0f} ms min, {draw['cpu'] * 1e3:.0f} ms CPU")
    compiled = full_update.lower(key, counts, mode, OPTIMIZERS["lbfgs"], 1e-7).compile()
    memory = compiled.memory_analysis()
    if memory is not None:
        kinds = ("argument", "output", "temp")
        total = sum(getattr(memory, f"{kind}_size_in_bytes") for kind in kinds)
        print(f"XLA memory of the full update: {total / 2**20:.0f} MiB "
              f"({memory.temp_size_in_bytes / 2**20:.0f} MiB temporaries)")
    print(f"process peak RSS so far (includes compilation and the float64 references): "
          f"{peak_rss_mib():.0f} MiB")


def bench_size(size: int, tols: list[float], repeats: int) -> None:
    counts = jnp.asarray(make_counts(size))
    counts_next = jnp.asarray(move_between_states(np.asarray(counts)))
    references = Reference(np.asarray(counts)), Reference(np.asarray(counts_next))
    dim = size * (size - 1) + (NUM_STATES - 1) * (size - 1)
    start_gap = references[0].gap(initial_emission_params(counts))
    print(f"\nK = {NUM_STATES}, S = {size}: D = {dim}, {int(counts.sum()):,} transitions, "
          f"data-driven start {start_gap:,.0f} nats above the mode")
    header = (f"{'optimizer':11s} {'tol':>6s} | {'(a) cold':>22s} {'gap':>8s} {'+Newton':>8s} | "
              f"{'(b) from mode':>22s} {'gap':>8s} {'+Newton':>8s} | "
              f"{'(b´) from draw':>22s} {'+Newton':>8s} | {'full (b)':>18s} | {'full (b´)':>18s}")
    print(header + "\n" + "-" * len(header))
    for name, optimizer in OPTIMIZERS.items():
        for tol in tols:
            print(bench_optimizer(name, optimizer, tol, counts, counts_next, references, repeats),
                  flush=True)
    bench_factor_and_memory(counts, repeats)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[50, 100])
    parser.add_argument("--tols", type=float, nargs="+", default=[1e-5, 1e-6, 1e-7, 1e-8])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(f"jax {jax.__version__}, optax {optax.__version__}, {os.cpu_count()} CPUs, "
          f"OPENBLAS_NUM_THREADS={os.environ['OPENBLAS_NUM_THREADS']}, "
          f"load average {os.getloadavg()[0]:.1f}; times: median (min) wall of {args.repeats} runs")
    for size in args.sizes:
        bench_size(size, args.tols, args.repeats)
    print(f"\nload average at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
