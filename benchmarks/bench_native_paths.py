"""Benchmark the native (numba) host sampler's input paths: syllable tables with a shared
transition matrix, tables with one matrix per sequence, and dense log-likelihoods.

Run: `.venv/bin/python benchmarks/bench_native_paths.py [--runs 7] [--rounds 1] [--native PATH ...]`.

Data: N = 21 sequences of T = 50,000 frames, K = 10 hidden states, S = 50 syllables,
float32 inputs, sticky transition matrices, random syllable tables; the dense path gets
`syllable_log_likelihoods(tables, syllables, mask)` (float32, (N, T, K)), so it samples
the same posterior. Each case times `native.sample_states_host` (what a Gibbs step
runs): one warm-up call (compilation or numba cache load), then the median of `--runs`
calls per round. `--rounds R` repeats every case R times, interleaved, and reports the
median over all rounds' calls (the machine may be shared: interleaving spreads its
noise over the cases). `--native PATH` (repeatable; `package` is the installed
module, the default) times copies of `native.py` side by side in one process, e.g. the
previous version (`git show REV:smoseq/inference/native.py > /tmp/native_before.py`),
imported as a module of `smoseq.inference` named after its path (numba's on-disk cache
of a file is only valid under the module name it was written with: if a copy was cached
under another name, delete its `__pycache__/*.nbi`/`*.nbc`); cases a copy does not
support are skipped.
"""

import argparse
import hashlib
import importlib.util
import inspect
import os
import statistics
import sys
import time

import numpy as np

NUM_SEQUENCES, NUM_TIMESTEPS, NUM_STATES, NUM_SYLLABLES = 21, 50_000, 10, 50


def _load_native(path: str):
    from smoseq.inference import native

    # numba's on-disk cache of a file refers to its module by name: load each file under one
    # importable name, the package's under its own, any other under a name fixed by its path.
    if path == "package" or os.path.realpath(path) == os.path.realpath(native.__file__):
        return native
    name = "smoseq.inference._native_" + hashlib.sha1(os.path.realpath(path).encode()).hexdigest()[:12]
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _inputs():
    import jax

    from smoseq.inference import native

    rng = np.random.default_rng(0)

    def sticky(size=()):
        noise = rng.dirichlet(np.ones(NUM_STATES), size=size + (NUM_STATES,))
        return (0.98 * np.eye(NUM_STATES) + 0.02 * noise).astype(np.float32)

    tables = rng.dirichlet(np.full(NUM_SYLLABLES, 0.5), size=(NUM_STATES, NUM_SYLLABLES)).astype(np.float32)
    syllables = rng.integers(0, NUM_SYLLABLES, size=(NUM_SEQUENCES, NUM_TIMESTEPS)).astype(np.int32)
    mask = np.ones((NUM_SEQUENCES, NUM_TIMESTEPS), np.float32)
    log_likelihoods = np.asarray(jax.jit(native.syllable_log_likelihoods)(tables, syllables, mask))
    return {
        "log_init": np.full((NUM_STATES,), -np.log(NUM_STATES), np.float32),
        "trans": sticky(),
        "trans_per_sequence": sticky((NUM_SEQUENCES,)),
        "tables": tables,
        "syllables": syllables,
        "mask": mask,
        "uniforms": (1.0 - rng.random((NUM_SEQUENCES, NUM_TIMESTEPS))).astype(np.float32),
        "log_likelihoods": log_likelihoods.astype(np.float32),
    }


def _cases(native, data: dict) -> dict:
    d = data
    cases = {"table, shared trans": lambda: native.sample_states_host(
        d["log_init"], d["trans"], d["tables"], d["syllables"], d["mask"], d["uniforms"]
    )}
    if "log_likelihoods" in inspect.signature(native.sample_states_host).parameters:
        cases["table, per-sequence trans"] = lambda: native.sample_states_host(
            d["log_init"], d["trans_per_sequence"], d["tables"], d["syllables"], d["mask"], d["uniforms"]
        )
        cases["dense, shared trans"] = lambda: native.sample_states_host(
            d["log_init"], d["trans"], None, d["syllables"], d["mask"], d["uniforms"],
            log_likelihoods=d["log_likelihoods"],
        )
    return cases


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=7, help="timed calls per case and round")
    parser.add_argument("--rounds", type=int, default=1, help="interleaved repetitions of every case")
    parser.add_argument(
        "--native", action="append", default=None, help="path of a native.py to time ('package': the installed one)"
    )
    args = parser.parse_args()

    data = _inputs()
    cases = {}
    for index, path in enumerate(args.native or ["package"]):
        native = _load_native(path)
        print(f"[{index}] {native.__file__}")
        for name, case in _cases(native, data).items():
            cases[f"[{index}] {name}"] = case
    print(f"N={NUM_SEQUENCES} T={NUM_TIMESTEPS} K={NUM_STATES} S={NUM_SYLLABLES} float32, "
          f"numba threads={native.numba.get_num_threads()}, load average {os.getloadavg()[0]:.2f}")
    results = {name: case() for name, case in cases.items()}  # warm-up: compile or load the numba cache
    for name, (states, logliks) in results.items():  # same model, same uniforms: the same draws
        index, case = name.split("] ", 1)
        reference = "[0] " + ("table, shared trans" if case.startswith("dense") else case)
        if reference != name and reference in results:
            same = np.mean(states == results[reference][0])
            gap = np.max(np.abs(logliks - results[reference][1]))
            print(f"{name} vs {reference}: {same:.6f} of states equal, max |loglik difference| {gap:.3g}")
    times = {name: [] for name in cases}
    for _ in range(args.rounds):
        for name, case in cases.items():
            for _ in range(args.runs):
                start = time.perf_counter()
                case()
                times[name].append(time.perf_counter() - start)
    for name, values in times.items():
        print(f"{name:32s} median {1e3 * statistics.median(values):8.1f} ms  "
              f"(min {1e3 * min(values):.1f}, {len(values)} calls)")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
