"""Benchmark the exact HMM kernels: filter, posterior sample and Viterbi, in their serial
(`lax.scan`), parallel (`lax.associative_scan`) and native (numba) forms.

Run: `.venv/bin/python benchmarks/bench_kernels.py [--runs 5] [--lengths 50000 432000]`.

Data: N = 21 sequences of T frames, K = 10 hidden states, S = 50 syllables, float32, a
sticky transition matrix and random syllable tables (what a Gibbs iteration sees;
21 x 432,000 frames is the tutorial's 21-hour, 120 fps dataset). The JAX kernels are
timed on precomputed (N, T, K) log-likelihoods, vmapped over sequences; the native
kernels read the (K, S, S) tables and the syllables directly (the "lookup" row is the
cost of building the log-likelihoods the JAX kernels need). Each case runs in a fresh
subprocess: one warm-up call (compilation), then the median of `--runs` timed calls.
Memory is the subprocess's peak resident set (`ru_maxrss`): "peak" is the whole process
(interpreter, JAX, inputs), "kernel" the growth of that peak during the calls. The
parallel form is O(T K^3) work and is only run at the shorter length. The system load
average is printed because other work on the machine slows every row.
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

NUM_SEQUENCES, NUM_STATES, NUM_SYLLABLES = 21, 10, 50
KERNELS = ("filter", "sample", "viterbi")


def _max_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kilobytes


def _inputs(num_timesteps: int):
    import jax.numpy as jnp
    import numpy as np

    rng = np.random.default_rng(0)
    trans = 0.98 * np.eye(NUM_STATES) + 0.02 * rng.dirichlet(np.ones(NUM_STATES), size=NUM_STATES)
    tables = rng.dirichlet(np.full(NUM_SYLLABLES, 0.5), size=(NUM_STATES, NUM_SYLLABLES))
    syllables = rng.integers(0, NUM_SYLLABLES, size=(NUM_SEQUENCES, num_timesteps))
    return {
        "log_init": jnp.full((NUM_STATES,), -np.log(NUM_STATES), jnp.float32),
        "trans": jnp.asarray(trans, jnp.float32),
        "tables": jnp.asarray(tables, jnp.float32),
        "syllables": jnp.asarray(syllables, jnp.int32),
        "mask": jnp.ones((NUM_SEQUENCES, num_timesteps), jnp.float32),
    }


def _jax_call(form: str, kernel: str, data: dict):
    import jax
    import jax.random as jr

    from smoseq.inference import kernels, native, parallel

    module = kernels if form == "serial" else parallel
    log_likelihoods = jax.block_until_ready(
        jax.jit(native.syllable_log_likelihoods)(data["tables"], data["syllables"], data["mask"])
    )
    args = (data["log_init"], data["trans"], log_likelihoods)
    if kernel == "sample":
        keys = jr.split(jr.PRNGKey(0), NUM_SEQUENCES)
        function = jax.jit(jax.vmap(module.hmm_posterior_sample, in_axes=(0, None, None, 0)))
        return lambda: function(keys, *args)
    name = {"filter": "hmm_filter", "viterbi": "hmm_viterbi"}[kernel]
    function = jax.jit(jax.vmap(getattr(module, name), in_axes=(None, None, 0)))
    return lambda: function(*args)


def _native_call(kernel: str, data: dict):
    import jax
    import jax.random as jr

    from smoseq.inference import native

    args = (data["log_init"], data["trans"], data["tables"], data["syllables"], data["mask"])
    if kernel == "sample":
        function = jax.jit(native.sample_states_native)
        return lambda: function(jr.PRNGKey(0), *args)
    function = jax.jit(native.filter_native if kernel == "filter" else native.viterbi_native)
    return lambda: function(*args)


def _lookup_call(data: dict):
    import jax

    from smoseq.inference import native

    function = jax.jit(native.syllable_log_likelihoods)
    return lambda: function(data["tables"], data["syllables"], data["mask"])


def run_case(form: str, kernel: str, num_timesteps: int, runs: int) -> dict:
    """Time one (form, kernel, T) case in this process; returns seconds and megabytes."""
    import jax

    data = jax.block_until_ready(_inputs(num_timesteps))
    if form == "native":
        call = _native_call(kernel, data)
    elif form == "lookup":
        call = _lookup_call(data)
    else:
        call = _jax_call(form, kernel, data)
    rss_before = _max_rss_mb()
    start = time.perf_counter()
    jax.block_until_ready(call())
    first = time.perf_counter() - start
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        jax.block_until_ready(call())
        times.append(time.perf_counter() - start)
    peak = _max_rss_mb()
    median = statistics.median(times)
    return {"first": first, "median": median, "min": min(times), "peak_mb": peak, "kernel_mb": peak - rss_before}


def _run_in_subprocess(form: str, kernel: str, num_timesteps: int, runs: int) -> dict:
    command = [sys.executable, __file__, "--case", form, kernel, str(num_timesteps), "--runs", str(runs)]
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        return {"error": (completed.stderr.strip().splitlines() or ["failed"])[-1]}
    return json.loads(completed.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--lengths", type=int, nargs="+", default=[50_000, 432_000])
    parser.add_argument("--case", nargs=3, metavar=("FORM", "KERNEL", "T"), help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.case:
        form, kernel, num_timesteps = options.case
        print(json.dumps(run_case(form, kernel, int(num_timesteps), options.runs)))
        return

    print(f"N={NUM_SEQUENCES} K={NUM_STATES} S={NUM_SYLLABLES} float32, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}, median of {options.runs} runs after a warm-up")
    columns = f"{'median s':>9} {'min s':>8} {'first s':>8} {'peak MB':>8} {'kernel MB':>9}"
    header = f"{'T':>8} {'form':<9} {'kernel':<8} {columns}"
    print(header)
    print("-" * len(header))
    shortest = min(options.lengths)
    for num_timesteps in options.lengths:
        forms = ["serial", "parallel", "native"] if num_timesteps == shortest else ["serial", "native"]
        cases = [(form, kernel) for form in forms for kernel in KERNELS] + [("lookup", "-")]
        for form, kernel in cases:
            result = _run_in_subprocess(form, kernel, num_timesteps, options.runs)
            if "error" in result:
                print(f"{num_timesteps:>8} {form:<9} {kernel:<8} error: {result['error']}")
                continue
            print(
                f"{num_timesteps:>8} {form:<9} {kernel:<8} {result['median']:>9.3f} {result['min']:>8.3f} "
                f"{result['first']:>8.2f} {result['peak_mb']:>8.0f} {result['kernel_mb']:>9.0f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
