"""Benchmark the Laplace emission update (DESIGN §2, §7): K = 10, S = 50 and 100, counts
from ~1 M transitions, float32 on CPU.

Measures, per optimizer (`optax.adam(5e-3)`, the tutorial's, and `optax.lbfgs()`) and
tolerance of `find_mode`'s stopping rule:

(a) the mode search from the data-driven start (first Gibbs iteration);
(b) the mode search warm-started at the previous mode after the counts changed as in a
    Gibbs sweep (5 % of the transitions moved to another hidden state);
(full) the whole `sample_low_rank_emissions` call in situation (b): what a Gibbs
    iteration pays for its emissions;
(c) Hessian blocks + block factorisation + draw alone.

Quality: the loss gap `loss(centre) − loss(true mode)` in nats (float64; the true mode
is found by L-BFGS and Newton steps in float64), for the optimizer's stopping point and
for the Newton-corrected centre that `sample_low_rank_emissions` draws around. A gap g
shifts the Laplace draw by a Mahalanobis distance √(2g); the draw's own spread is
√D ≈ 54 (S = 50) or 100 (S = 100).

Memory: XLA's own accounting of the compiled full update (arguments + outputs + temporaries)
and the process's peak resident set.

Run: `.venv/bin/python benchmarks/bench_laplace.py [--sizes 50 100] [--repeats 5]`.
Times are the median (and min) of `--repeats` runs after a warm-up; the machine's load
average is printed because other processes inflate wall times.
"""

import argparse
import os
import statistics
import time
from functools import partial

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import optax

from smoseq.inference.laplace import (
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
    return {"median": statistics.median(walls), "min": min(walls), "cpu": statistics.median(cpus), "result": result}


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
            mode = jax.jit(lambda p: find_mode(loss_fn(self.counts), p, optax.lbfgs(), 5000, 1e-15))(start).params
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


def bench_size(size: int, tols: list[float], repeats: int) -> None:
    counts = jnp.asarray(make_counts(size))
    counts_next = jnp.asarray(move_between_states(np.asarray(counts)))
    reference, reference_next = Reference(np.asarray(counts)), Reference(np.asarray(counts_next))
    start = initial_emission_params(counts)
    key = jr.key(0)
    print(f"\nK = {NUM_STATES}, S = {size}: D = {size * (size - 1) + (NUM_STATES - 1) * (size - 1)}, "
          f"{int(counts.sum()):,} transitions, start gap {reference.gap(start):,.0f} nats")
    header = f"{'optimizer':11s} {'tol':>6s} | {'(a) cold':>22s} {'gap':>8s} {'+Newton':>8s} | {'(b) warm':>22s} {'gap':>8s} {'+Newton':>8s} | {'full (b)':>16s}"
    print(header)
    print("-" * len(header))
    for name, optimizer in OPTIMIZERS.items():
        for tol in tols:
            cold = timed(search, counts, start, optimizer, tol, repeats=repeats)
            cold_mode = cold["result"].params
            warm = timed(search, counts_next, cold_mode, optimizer, tol, repeats=repeats)
            full = timed(full_update, key, counts_next, cold_mode, optimizer, tol, repeats=repeats)
            cold_newton = reference.gap(newton_centre(counts, cold_mode))
            warm_newton = reference_next.gap(full["result"][2].mode)
            print(
                f"{name:11s} {tol:6.0e} | "
                f"{int(cold['result'].n_steps):4d} st {cold['median'] * 1e3:6.0f} ms ({cold['min'] * 1e3:4.0f}) "
                f"{reference.gap(cold_mode):8.2f} {cold_newton:8.3f} | "
                f"{int(warm['result'].n_steps):4d} st {warm['median'] * 1e3:6.0f} ms ({warm['min'] * 1e3:4.0f}) "
                f"{reference_next.gap(warm['result'].params):8.2f} {warm_newton:8.3f} | "
                f"{full['median'] * 1e3:6.0f} ms ({full['min'] * 1e3:4.0f})",
                flush=True,
            )
    draw = timed(factor_and_draw, key, counts, cold_mode, repeats=repeats)
    print(f"(c) Hessian blocks + factorisation + draw: {draw['median'] * 1e3:.0f} ms median, "
          f"{draw['min'] * 1e3:.0f} ms min, {draw['cpu'] * 1e3:.0f} ms CPU")
    compiled = full_update.lower(key, counts_next, cold_mode, OPTIMIZERS["lbfgs"], tols[0]).compile()
    memory = compiled.memory_analysis()
    if memory is not None:
        total = memory.argument_size_in_bytes + memory.output_size_in_bytes + memory.temp_size_in_bytes
        print(f"XLA memory of the full update: {total / 2**20:.0f} MiB "
              f"({memory.temp_size_in_bytes / 2**20:.0f} MiB temporaries)")
    print(f"process peak RSS so far: {peak_rss_mib():.0f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[50, 100])
    parser.add_argument("--tols", type=float, nargs="+", default=[1e-6, 1e-7, 1e-8])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(f"jax {jax.__version__}, optax {optax.__version__}, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}; times: median (min) wall of {args.repeats} runs")
    for size in args.sizes:
        bench_size(size, args.tols, args.repeats)
    print(f"\nload average at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
