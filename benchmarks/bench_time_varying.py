"""Memory and time of the three forms of transition matrices: (K, K), (N, K, K), (N, T, K, K).

Run: `.venv/bin/python benchmarks/bench_time_varying.py [--runs 5] [--length 20000]`.

Data: N = 21 sequences of T frames, K = 10 hidden states, S = 50 syllables, float32,
random syllable tables. The three forms hold the same sticky matrix: shared (K, K), one
per sequence (N, K, K) and one per frame (N, T, K, K), the form a transitions component
reading per-frame inputs returns. For each form and method (serial `lax.scan`, parallel
`lax.associative_scan`, native numba on the syllable tables) the posterior sampler (what a
Gibbs iteration runs) and the filter run in a fresh subprocess: one warm-up call, then
the median of `--runs` calls. "inputs MB" is the size of the transition array itself;
"kernel MB" the growth of the process's peak resident set (`ru_maxrss`) during the calls,
i.e. what the kernel allocates on top of its inputs. The (K, K) and (N, K, K) forms are
never expanded to one matrix per frame, so their kernel memory does not grow with
N·T·K²; the per-frame form costs its own size again in the native kernel (a float64
transposed copy). The system load average is printed: other work slows every row.
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
FORMS = ("shared", "sequence", "frames")
METHODS = ("serial", "parallel", "native")
KERNELS = ("sample", "filter")


def _max_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kilobytes


def _inputs(form: str, num_timesteps: int):
    import jax.numpy as jnp
    import numpy as np

    rng = np.random.default_rng(0)
    matrix = 0.98 * np.eye(NUM_STATES) + 0.02 * rng.dirichlet(np.ones(NUM_STATES), size=NUM_STATES)
    shape = {"shared": (), "sequence": (NUM_SEQUENCES,), "frames": (NUM_SEQUENCES, num_timesteps)}[form]
    trans = np.broadcast_to(matrix.astype(np.float32), shape + matrix.shape).copy()
    tables = rng.dirichlet(np.full(NUM_SYLLABLES, 0.5), size=(NUM_STATES, NUM_SYLLABLES))
    return {
        "log_init": jnp.full((NUM_STATES,), -np.log(NUM_STATES), jnp.float32),
        "trans": jnp.asarray(trans),
        "tables": jnp.asarray(tables, jnp.float32),
        "syllables": jnp.asarray(rng.integers(0, NUM_SYLLABLES, size=(NUM_SEQUENCES, num_timesteps)), jnp.int32),
        "mask": jnp.ones((NUM_SEQUENCES, num_timesteps), jnp.float32),
    }


def _call(method: str, kernel: str, data: dict):
    import jax
    import jax.random as jr

    from smoseq.inference import kernels, native, parallel

    if method == "native":
        args = (data["log_init"], data["trans"], data["tables"], data["syllables"], data["mask"])
        if kernel == "sample":
            function = jax.jit(native.sample_states_native)
            return lambda: function(jr.key(0), *args)
        function = jax.jit(native.filter_native)
        return lambda: function(*args)
    module = kernels if method == "serial" else parallel
    axis = None if data["trans"].ndim == 2 else 0
    log_likelihoods = jax.jit(native.syllable_log_likelihoods)(data["tables"], data["syllables"], data["mask"])
    if kernel == "sample":
        keys = jr.split(jr.key(0), NUM_SEQUENCES)
        function = jax.jit(jax.vmap(module.hmm_posterior_sample, in_axes=(0, None, axis, 0)))
        return lambda: function(keys, data["log_init"], data["trans"], log_likelihoods)
    function = jax.jit(jax.vmap(module.hmm_filter, in_axes=(None, axis, 0)))
    return lambda: function(data["log_init"], data["trans"], log_likelihoods)


def run_case(form: str, method: str, kernel: str, num_timesteps: int, runs: int) -> dict:
    """Time one case in this process; seconds and megabytes."""
    import jax

    data = jax.block_until_ready(_inputs(form, num_timesteps))
    call = _call(method, kernel, data)
    rss_before = _max_rss_mb()
    jax.block_until_ready(call())
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        jax.block_until_ready(call())
        times.append(time.perf_counter() - start)
    return {
        "median": statistics.median(times), "inputs_mb": data["trans"].nbytes / 2**20,
        "kernel_mb": _max_rss_mb() - rss_before,
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--length", type=int, default=20_000)
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--case", nargs=4, metavar=("FORM", "METHOD", "KERNEL", "T"), help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.case:
        form, method, kernel, num_timesteps = options.case
        print(json.dumps(run_case(form, method, kernel, int(num_timesteps), options.runs)))
        return
    print(f"N={NUM_SEQUENCES} T={options.length} K={NUM_STATES} S={NUM_SYLLABLES} float32, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}, median of {options.runs} runs after a warm-up")  # fmt: skip
    header = f"{'form':<9} {'method':<9} {'kernel':<7} {'median s':>9} {'inputs MB':>10} {'kernel MB':>10}"
    print(header + "\n" + "-" * len(header))
    for method in options.methods:
        for form in FORMS:
            for kernel in KERNELS:
                command = [sys.executable, __file__, "--case", form, method, kernel, str(options.length), "--runs", str(options.runs)]
                completed = subprocess.run(command, capture_output=True, text=True, check=False)
                if completed.returncode != 0:
                    print(f"{form:<9} {method:<9} {kernel:<7} error: {(completed.stderr.strip().splitlines() or ['?'])[-1]}")
                    continue
                result = json.loads(completed.stdout.strip().splitlines()[-1])
                print(f"{form:<9} {method:<9} {kernel:<7} {result['median']:>9.3f} {result['inputs_mb']:>10.1f} "
                      f"{result['kernel_mb']:>10.0f}", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
