"""Benchmark parameter scans against their budgets, on 21 recordings × 50,000 frames,
K = 10, S = 50 (synthetic HHMM data):

- throughput ratio: model-iterations per second of `fit_models` (one vmapped step for a batch)
  over fitting the same models one after another with `sm.fit` (same starts, same keys),
  10 models × 10 iterations, measured in one run, rounds interleaved; budget ≥ 2×;
- scan budget: 20 κ × 5 seeds × 100 iterations ≤ 15 minutes on 2 cores (`--full` runs the
  whole scan through `run_scan`; otherwise it is extrapolated from the measured throughput);
- `--profile`: where a model-iteration's time goes (counts, emission mode search, Laplace
  factor and draw, state sampling), one model alone and vmapped in a batch;
- `--memory`: XLA's buffer sizes of the compiled batched step against the estimate of
  `smoseq.fitting.memory.model_footprint_bytes`.

Compilation is excluded (every program is warmed up first). Timings on a shared machine are
noisy: compare the ratios of one run. Run: `.venv/bin/python benchmarks/bench_scan.py
[--models 10] [--iters 10] [--rounds 2] [--profile] [--memory] [--full]`.
"""

import argparse
import tempfile
import time

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np

import smoseq as sm
from smoseq._threads import single_threaded_blas
from smoseq.fitting.batch import fit_models, seed_initial_states
from smoseq.fitting.components import build_prior_model
from smoseq.fitting.data import prepare_data
from smoseq.fitting.loop import Chains, Sampler, default_mode_search, default_retry, stack_chains, take_chain
from smoseq.fitting.memory import model_footprint_bytes
from smoseq.inference import gibbs
from smoseq.inference.states import resolve_method, sample_states
from smoseq.models import emission_counts, laplace, low_rank_hhmm, transition_counts

N_RECORDINGS, N_FRAMES, N_STATES, N_SYLLABLES = 21, 50_000, 10, 50
SCAN_KAPPAS, SCAN_SEEDS, SCAN_ITERS, SCAN_BUDGET_S = 20, 5, 100, 15 * 60


def synthetic_recordings(n_recordings=N_RECORDINGS, n_frames=N_FRAMES, seed=0) -> dict:
    """Syllables from an HHMM with prior-drawn tables and states lasting ~5 s at 120 fps."""
    truth = low_rank_hhmm(jr.key(seed), N_STATES, N_SYLLABLES, kappa=1e5)
    tables = np.cumsum(np.asarray(truth.emissions.transition_tables(), dtype=np.float64), -1)
    rng = np.random.default_rng(seed)
    stay = 1 - 1 / 600
    hidden = np.zeros((n_recordings, n_frames), np.int64)
    hidden[:, 0] = rng.integers(0, N_STATES, n_recordings)
    switches = rng.random((n_recordings, n_frames)) > stay
    jumps = rng.integers(1, N_STATES, (n_recordings, n_frames))
    for t in range(1, n_frames):
        hidden[:, t] = np.where(switches[:, t], (hidden[:, t - 1] + jumps[:, t]) % N_STATES, hidden[:, t - 1])
    syllables = np.zeros((n_recordings, n_frames), np.int64)
    syllables[:, 0] = rng.integers(0, N_SYLLABLES, n_recordings)
    uniforms = rng.random((n_recordings, n_frames))
    for t in range(1, n_frames):
        rows = tables[hidden[:, t], syllables[:, t - 1]]
        syllables[:, t] = np.minimum((rows < uniforms[:, t, None]).sum(-1), N_SYLLABLES - 1)
    return {f"rec{i:02d}": syllables[i] for i in range(n_recordings)}


def _grid(n_models: int):
    kappas = np.logspace(3, 7, n_models)
    seeds = np.arange(n_models)
    return kappas, seeds


def _sequential(recordings, kappas, seeds, starts, n_iters):
    for kappa, seed, start in zip(kappas, seeds, starts):
        sm.fit(recordings, N_STATES, float(kappa), n_iters, int(seed), init_states=start, progress=False)


def _batched(strategy):
    def run(recordings, kappas, seeds, starts, n_iters):
        fit_models(recordings, N_STATES, kappas, seeds, n_iters, init_states=starts, max_batch=len(kappas),
                   strategy=strategy, progress=False)  # fmt: skip

    return run


def _timed(function, *args) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    function(*args)
    return time.perf_counter() - wall, time.process_time() - cpu


def throughput(recordings, n_models: int, n_iters: int, rounds: int) -> float:
    """Model-iterations per second, batched and sequential; returns the best batched rate."""
    kappas, seeds = _grid(n_models)
    prepared = prepare_data(recordings)
    starts = [seed_initial_states(prepared, N_STATES, int(s))[1] for s in seeds]
    print(f"warming up (compiling the single and the {n_models}-model batched steps) ...", flush=True)
    runners = {"sequential (sm.fit per model)": _sequential}
    for strategy in ("vmap", "split"):
        runners[f"fit_models M={n_models} {strategy}"] = _batched(strategy)
    for runner in runners.values():
        runner(recordings, kappas[:1] if runner is _sequential else kappas, seeds, starts, 1)
    work = n_models * n_iters
    rates = {name: [] for name in runners}
    for round_index in range(rounds):
        for name, runner in runners.items():
            wall, cpu = _timed(runner, recordings, kappas, seeds, starts, n_iters)
            rates[name].append(work / wall)
            print(f"round {round_index + 1} {name:32s} {wall:7.1f} s wall, {cpu:7.1f} s CPU: "
                  f"{work / wall:.3f} model-iterations/s ({wall / work:.3f} s each, CPU {cpu / work:.3f} s)", flush=True)  # fmt: skip
    names = list(rates)
    for name in names[1:]:
        ratios = [b / s for s, b in zip(rates[names[0]], rates[name])]
        print(f"throughput ratio {name} / sequential: best rounds {max(rates[name]) / max(rates[names[0]]):.2f}, "
              f"per round " + ", ".join(f"{r:.2f}" for r in ratios) + " (budget >= 2)")  # fmt: skip
    return max(max(rates[name]) for name in names[1:])


def scan_budget(recordings, rate: float | None, full: bool) -> None:
    n_models = SCAN_KAPPAS * SCAN_SEEDS
    if not full:
        estimate = n_models * SCAN_ITERS / rate
        print(f"scan estimate: {n_models} models x {SCAN_ITERS} iterations at {rate:.3f} model-iterations/s = "
              f"{estimate / 60:.1f} min (budget {SCAN_BUDGET_S / 60:.0f} min; compile and k-means starts excluded)")  # fmt: skip
        return
    from smoseq.scan import ScanSettings, run_scan

    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        run_scan(recordings, f"{folder}/scan", n_states=[N_STATES], kappas=np.logspace(3, 7, SCAN_KAPPAS),
                 seeds=range(SCAN_SEEDS), settings=ScanSettings(n_iters=SCAN_ITERS))  # fmt: skip
        wall = time.perf_counter() - started
    print(f"full scan: {n_models} models x {SCAN_ITERS} iterations in {wall / 60:.1f} min "
          f"(budget {SCAN_BUDGET_S / 60:.0f} min; everything included)")  # fmt: skip


def _block(value):
    return jax.block_until_ready(value)


def _median_time(function, *args, repeats=5) -> float:
    _block(function(*args))
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        _block(function(*args))
        times.append(time.perf_counter() - started)
    return float(np.median(times))


def profile(recordings, n_models: int) -> None:
    """Seconds per model-iteration of each part of the Gibbs step, alone and vmapped over `n_models`."""
    kappas, seeds = _grid(n_models)
    prepared = prepare_data(recordings)
    data = prepared.data
    starts = [seed_initial_states(prepared, N_STATES, int(s)) for s in seeds]
    mode_search, method = default_mode_search(), resolve_method("auto")
    models = [build_prior_model(N_STATES, prepared.n_syllables, float(kappa), 1.0) for kappa in kappas]
    state = stack_chains([gibbs.init(model, start, data) for model, (_, start) in zip(models, starts)])
    fit_keys = jnp.stack([jr.fold_in(jr.key(int(seed)), 1) for seed in seeds])
    chains = Chains(state, fit_keys, data, Sampler(mode_search, method, default_retry()), "vmap", [""] * n_models)
    chains.run(range(3))  # past the first, slowest mode searches
    batch, single = chains.state, take_chain(chains.state, 0)
    keys = jr.split(jr.key(0), n_models)
    counts = eqx.filter_jit(lambda s: emission_counts(data.syllables, data.mask, s.states, N_STATES, N_SYLLABLES))
    trans = eqx.filter_jit(lambda s: transition_counts(s.states, data.mask, N_STATES))

    def mode(s, c):
        e = s.model.emissions
        loss = lambda p: -laplace.emission_log_posterior(*p, c, e.base_prior.sigma, e.bias_prior.sigma)
        return laplace.find_mode(loss, (e.base, e.biases), mode_search.optimizer, mode_search.max_iters, mode_search.tol)

    def draw(k, s, c, m):
        e = s.model.emissions
        precision = laplace.laplace_precision(*m.params, c, 1 / e.base_prior.sigma**2, 1 / e.bias_prior.sigma**2, 1e-2)
        return laplace.sample_laplace(k, m.params, laplace.factorize_precision(precision))

    params = lambda k, s: s.model.resample(k, s.states, data, mode_search)
    states = lambda k, s: sample_states(k, s.model, data, method)
    c1, cb = counts(single), eqx.filter_vmap(counts)(batch)
    m1, mb = eqx.filter_jit(mode)(single, c1), eqx.filter_jit(eqx.filter_vmap(mode))(batch, cb)
    parts = {
        "emission counts": ((counts, single), (eqx.filter_vmap(counts), batch)),
        "transition counts": ((trans, single), (eqx.filter_vmap(trans), batch)),
        "emission mode search": ((mode, single, c1), (eqx.filter_vmap(mode), batch, cb)),
        "Laplace factor + draw": ((draw, keys[0], single, c1, m1), (eqx.filter_vmap(draw), keys, batch, cb, mb)),
        "all parameters | states": ((params, keys[0], single), (eqx.filter_vmap(params), keys, batch)),
        f"states | parameters ({method})": ((states, keys[0], single), (eqx.filter_vmap(states), keys, batch)),
        "whole Gibbs step": ((gibbs.compiled_kernel(mode_search, method, gibbs.single_chain_strategy(method)), keys[0], single, data), None),
    }
    print(f"seconds per model-iteration (median of 5), one model vs vmapped over {n_models}:")
    for name, (alone, together) in parts.items():
        t1 = _median_time(eqx.filter_jit(alone[0]), *alone[1:])
        if together is None:
            print(f"  {name:34s} {t1:8.4f}")
            continue
        tb = _median_time(eqx.filter_jit(together[0]), *together[1:]) / n_models
        print(f"  {name:34s} {t1:8.4f} {tb:8.4f}   (batched/alone {tb / t1:.2f})")
    steps = np.asarray(mb.n_steps)
    print(f"  mode-search steps this iteration: alone {int(m1.n_steps)}, batch {steps.tolist()} "
          f"(a vmapped while loop runs max = {steps.max()} steps for every model; mean {steps.mean():.1f})")  # fmt: skip


def memory(recordings) -> None:
    """XLA buffer sizes of the compiled batched step for M = 1 and 4 against the footprint estimate."""
    mode_search = default_mode_search()
    for n_timesteps in (10_000, 40_000):
        prepared = prepare_data({k: v[:n_timesteps] for k, v in list(recordings.items())[:4]}, seg_overlap=0)
        data = prepared.data
        start = jnp.asarray(seed_initial_states(prepared, N_STATES, 0)[1])
        for method in ("native", "serial", "parallel"):
            sizes = {}
            for n_models in (1, 4):
                models = [build_prior_model(N_STATES, N_SYLLABLES, 1e3 * (i + 1), 1.0, "low_rank", 1.0, 1.0, 1.0) for i in range(n_models)]
                batch = stack_chains([gibbs.init(m, start, data) for m in models])
                step = jax.jit(jax.vmap(gibbs.build_kernel(mode_search, method), in_axes=(0, 0, None)))
                analysis = step.lower(jr.split(jr.key(0), n_models), batch, data).compile().memory_analysis()
                sizes[n_models] = analysis.temp_size_in_bytes + analysis.argument_size_in_bytes + analysis.output_size_in_bytes
            measured = (sizes[4] - sizes[1]) / 3
            estimate = model_footprint_bytes(4, n_timesteps, N_STATES, N_SYLLABLES, 0, method) / 1.5
            print(f"T={n_timesteps:6d} {method:8s} XLA bytes per model {measured / 1e6:7.1f} MB; "
                  f"estimate without safety factor {estimate / 1e6:7.1f} MB")  # fmt: skip
    frames = N_RECORDINGS * (N_FRAMES + 30)
    full = model_footprint_bytes(N_RECORDINGS, N_FRAMES + 30, N_STATES, N_SYLLABLES, SCAN_ITERS, "native")
    print(f"budget data ({frames:,} frames, 100 iterations, native): {full / 1e6:.0f} MB per model with the 1.5 safety factor")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", type=int, default=10)
    parser.add_argument("--iters", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--memory", action="store_true")
    parser.add_argument("--full", action="store_true", help="run the whole 20 x 5 x 100 scan")
    parser.add_argument("--skip-ratio", action="store_true")
    args = parser.parse_args()
    started = time.perf_counter()
    recordings = synthetic_recordings()
    print(f"data: {N_RECORDINGS} x {N_FRAMES} frames, K={N_STATES}, S={N_SYLLABLES} "
          f"({time.perf_counter() - started:.1f} s to simulate); jax {jax.__version__}, backend {jax.default_backend()}")  # fmt: skip
    if args.memory:
        memory(recordings)
    if args.profile:
        with single_threaded_blas():  # as fit and fit_models run
            profile(recordings, args.models)
    rate = None if args.skip_ratio else throughput(recordings, args.models, args.iters, args.rounds)
    if rate is not None or args.full:
        scan_budget(recordings, rate, args.full)


if __name__ == "__main__":
    main()
