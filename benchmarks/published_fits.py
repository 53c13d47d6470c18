"""Side by side with the published `state-moseq`: speed per Gibbs iteration and held-out accuracy.

Run through `compare_published.py --what speed accuracy` (it starts the published side in
its own virtualenv); this module holds both sides. Every number is measured in the same
run, on the same data, on the same machine, and printed with the date and the machine.

Speed: 21 recordings × 50,000 frames simulated from a K = 10 low-rank HHMM (the data of
`bench_facade.py`), S = 50 and S = 100. The published side runs its example tutorial's
loop (`resample_params` with 1000 Adam steps at lr 5e-3, then `resample_states`); smoseq
runs the same loop through `smoseq.hhmm_efficient` and, separately, `sm.fit`'s Gibbs step
(`bench_gibbs.py`'s measurement). Median seconds per iteration after warm-up iterations,
and peak RSS, each case in its own process.

Accuracy: the semi-Markov presets of `bench_accuracy.py` (and its text data when Debian's
fortune packages are installed), fitted on training recordings and scored on held-out
ones with Hungarian-matched accuracy against the true states. The published side runs
its tutorial's loop for the same number of iterations (random initial states, κ equal to
smoseq's default, real training frames / K) and labels the held-out recordings with its
`predicted_states` (Viterbi); smoseq runs `sm.fit` with its defaults and
`result.predict`.
"""

import json
import os
import platform
import resource
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
SPEED_SEQUENCES, SPEED_FRAMES, SPEED_STATES = 21, 50_000, 10


def machine() -> str:
    """One line naming this machine: CPU model, cores, memory."""
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            names = [line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")]
        model = names[0] if names else model
    except OSError:
        pass
    memory_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{model}, {os.cpu_count()} cores, {memory_gb:.0f} GB"


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def median_seconds(repeats: int, function) -> float:
    """Median wall time of `repeats` calls of `function` after one warm-up call (JAX work awaited)."""
    import jax

    jax.block_until_ready(function())
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        jax.block_until_ready(function())
        times.append(time.perf_counter() - started)
    return float(np.median(times))


# ------------------------------------------------------------------ published side


def tutorial_loop(efficient, data, hypparams: dict, n_iters: int, on_iteration=None):
    """The published example tutorial's fitting loop (one key split per iteration, as published)."""
    import jax.random as jr

    seed = jr.PRNGKey(hypparams["random_seed"])
    states = jr.randint(seed, data["syllables"].shape, 0, hypparams["n_states"])
    params = None
    for iteration in range(n_iters):
        started = time.perf_counter()
        seed, subseed = jr.split(seed)
        params, _ = efficient.resample_params(subseed, data, states, hypparams, params)
        states, _ = efficient.resample_states(seed, data, params, False)
        states.block_until_ready()
        if on_iteration is not None:
            on_iteration(iteration, time.perf_counter() - started)
    return params, states


def published_speed(archive_path: str, warmup: int, n_iters: int) -> dict:
    """Seconds per iteration of the published loop on the archive's batched syllables."""
    import jax.numpy as jnp
    from state_moseq import hhmm_efficient

    archive = np.load(archive_path)
    data = {"syllables": jnp.asarray(archive["seqs"]), "mask": jnp.asarray(archive["mask"])}
    hypparams = tutorial_hypparams(int(archive["n_states"]), int(archive["n_syllables"]), 6e5, 0)
    times = []
    tutorial_loop(hhmm_efficient, data, hypparams, warmup + n_iters, lambda i, s: times.append(s) if i >= warmup else None)
    return {"seconds_per_iteration": float(np.median(times)), "times": times, "peak_rss_mb": peak_rss_mb()}


def published_parts(archive_path: str, repeats: int) -> dict:
    """The state update alone and the lagged MI of the published package on the archive's data."""
    import jax
    import jax.numpy as jnp
    import jax.random as jr
    import state_moseq
    from state_moseq import hhmm_efficient

    archive = np.load(archive_path)
    data = {"syllables": jnp.asarray(archive["seqs"]), "mask": jnp.asarray(archive["mask"])}
    hypparams = tutorial_hypparams(int(archive["n_states"]), int(archive["n_syllables"]), 6e5, 0)
    params = hhmm_efficient.random_params(jr.PRNGKey(0), hypparams)

    states_s = median_seconds(repeats, lambda: hhmm_efficient.resample_states(jr.PRNGKey(1), data, params, False)[0])
    lags = np.asarray(archive["lags"])
    started = time.perf_counter()
    jax.block_until_ready(state_moseq.lagged_mutual_information(data["syllables"], data["mask"] > 0, jnp.asarray(lags)))
    mi_s = time.perf_counter() - started
    return {"states_s": states_s, "mi_s": mi_s, "peak_rss_mb": peak_rss_mb()}


def published_accuracy(archive_path: str, n_iters: int) -> dict:
    """Fit on the archive's training recordings with the tutorial loop; Viterbi states of the held-out ones."""
    import jax.numpy as jnp
    import state_moseq
    from state_moseq import hhmm_efficient

    archive = np.load(archive_path)
    train = {key[len("train/"):]: archive[key] for key in archive.files if key.startswith("train/")}
    heldout = {key[len("heldout/"):]: archive[key] for key in archive.files if key.startswith("heldout/")}
    n_states, n_syllables = int(archive["n_states"]), int(archive["n_syllables"])
    kappa = sum(len(v) for v in train.values()) / n_states
    hypparams = tutorial_hypparams(n_states, n_syllables, kappa, int(archive["seed"]))
    seqs, mask, _ = state_moseq.batch(train, seg_length=max(map(len, train.values())))
    started = time.perf_counter()
    params, _ = tutorial_loop(hhmm_efficient, {"syllables": jnp.asarray(seqs), "mask": jnp.asarray(mask)}, hypparams, n_iters)
    seconds = time.perf_counter() - started
    seqs, mask, (keys, bounds) = state_moseq.batch(heldout, seg_length=max(map(len, heldout.values())))
    predicted = hhmm_efficient.predicted_states({"syllables": jnp.asarray(seqs), "mask": jnp.asarray(mask)}, params)
    states = state_moseq.unbatch(np.asarray(predicted), keys, bounds)
    return {"states": {name: np.asarray(value).tolist() for name, value in states.items()}, "fit_seconds": seconds}


def tutorial_hypparams(n_states: int, n_syllables: int, kappa: float, seed: int) -> dict:
    return {
        "n_states": n_states, "emission_base_sigma": 1, "emission_biases_sigma": 1, "trans_beta": 1,
        "trans_kappa": float(kappa), "n_syllables": n_syllables, "emission_gd_iters": 1000,
        "emission_gd_lr": 5e-3, "random_seed": seed,
    }  # fmt: skip


# ------------------------------------------------------------------ smoseq side


def speed_archive(n_syllables: int, path: str) -> None:
    """`bench_facade.py`'s data (same seeds), batched as its loop batches them."""
    import equinox as eqx
    import jax.random as jr

    import smoseq
    from smoseq.models import low_rank_hhmm

    truth = low_rank_hhmm(jr.key(0), SPEED_STATES, n_syllables, kappa=1e6)
    _, syllables = eqx.filter_jit(lambda m, k: m.simulate(k, SPEED_SEQUENCES, SPEED_FRAMES))(truth, jr.key(1))
    recordings = {f"r{i:02d}": np.asarray(syllables[i]) for i in range(SPEED_SEQUENCES)}
    seqs, mask, _ = smoseq.batch(recordings, seg_length=None)
    np.savez(path, seqs=seqs, mask=mask, n_states=SPEED_STATES, n_syllables=n_syllables)


def run_json(command: list[str]) -> dict:
    output = subprocess.run(command, capture_output=True, text=True)
    if output.returncode != 0:
        raise RuntimeError(f"{' '.join(command[:3])} failed:\n{output.stderr[-3000:]}")
    return json.loads(output.stdout.strip().splitlines()[-1])


def compare_speed(published_python: str, folder: str, syllables=(50, 100), warmup: int = 2, n_iters: int = 3) -> list[dict]:
    rows = []
    for n_syllables in syllables:
        path = os.path.join(folder, f"speed_S{n_syllables}.npz")
        speed_archive(n_syllables, path)
        theirs = run_json([published_python, __file__, "published-speed", path, str(warmup), str(n_iters)])
        facade = run_json([sys.executable, os.path.join(HERE, "bench_facade.py"), "--case", str(n_syllables), str(n_iters)])
        gibbs = run_json([sys.executable, os.path.join(HERE, "bench_gibbs.py"), "--case", str(n_syllables), str(SPEED_FRAMES)])
        rows.append({"S": n_syllables, "published_s": theirs["seconds_per_iteration"], "published_rss_mb": theirs["peak_rss_mb"],
                     "facade_s": facade["seconds_per_iteration"], "facade_rss_mb": facade["peak_rss_mb"],
                     "fit_step_s": gibbs["iteration_s"], "fit_step_rss_mb": gibbs["peak_rss_mb"],
                     "emission_update": gibbs.get("emission_update"), "load_1min": os.getloadavg()[0]})  # fmt: skip
        print_speed_row(rows[-1])
    return rows


def compare_parts(published_python: str, folder: str, repeats: int = 3) -> dict:
    """State update alone (K = 10, S = 50) and lagged MI (40 lags, 1 to 300 s at 120 fps), both packages."""
    import jax.random as jr

    import smoseq as sm
    from smoseq.hhmm_efficient import random_params, resample_states

    path = os.path.join(folder, "parts.npz")
    speed_archive(50, path)
    lags = np.unique(np.logspace(np.log10(120), np.log10(120 * 300), 40).astype(int))
    archive = dict(np.load(path))
    np.savez(path, lags=lags, **archive)
    theirs = run_json([published_python, __file__, "published-parts", path, str(repeats)])
    data = {"syllables": archive["seqs"], "mask": archive["mask"]}
    params = random_params(jr.PRNGKey(0), tutorial_hypparams(SPEED_STATES, 50, 6e5, 0))

    ours_states = median_seconds(repeats, lambda: resample_states(jr.PRNGKey(1), data, params, False)[0])
    ours_mi = median_seconds(repeats, lambda: sm.lagged_mutual_information(archive["seqs"], archive["mask"], lags, progress=False)[0])
    row = {"published_states_s": theirs["states_s"], "smoseq_states_s": ours_states,
           "published_mi_s": theirs["mi_s"], "smoseq_mi_s": ours_mi, "load_1min": os.getloadavg()[0]}  # fmt: skip
    print(f"state update alone (21 × 50,000 frames, K=10, S=50): published {theirs['states_s']:.3f} s, smoseq {ours_states:.3f} s | "
          f"lagged MI, 40 lags: published {theirs['mi_s']:.1f} s (one run, Markov simulation included), smoseq {ours_mi:.2f} s | load {row['load_1min']:.1f}", flush=True)  # fmt: skip
    return row


def print_speed_row(row: dict) -> None:
    print(f"S={row['S']:>3}: published loop {row['published_s']:.3f} s ({row['published_rss_mb'] / 1024:.1f} GB) | "
          f"smoseq same loop {row['facade_s']:.3f} s ({row['facade_rss_mb'] / 1024:.1f} GB) | "
          f"smoseq sm.fit step {row['fit_step_s']:.3f} s ({row['fit_step_rss_mb'] / 1024:.1f} GB) | "
          f"ratio {row['published_s'] / row['fit_step_s']:.0f}x | load {row['load_1min']:.1f}", flush=True)  # fmt: skip


def accuracy_cases(presets, languages, seed: int, n_train: int, n_heldout: int, frames: int):
    """(setting, K, S, train, train states, heldout, heldout states) from `bench_accuracy.py`'s generators."""
    sys.path.insert(0, HERE)
    import bench_accuracy as ba

    for preset in presets:
        spec = ba.SYNTHETIC_PRESETS[preset]
        rng = np.random.default_rng(1000 + seed)
        process = ba.draw_process(spec, rng)
        train, train_states = ba.synthetic_recordings(process, n_train, frames, rng, "train")
        heldout, heldout_states = ba.synthetic_recordings(process, n_heldout, frames, rng, "heldout")
        yield preset, spec.n_states, spec.n_syllables, train, train_states, heldout, heldout_states
    if languages:
        rng = np.random.default_rng(2000 + seed)
        train_pools, heldout_pools = ba.split_pools(languages, 0.25, rng)
        train, train_states = ba.text_recordings(train_pools, n_train, frames, 400.0, rng, "train")
        heldout, heldout_states = ba.text_recordings(heldout_pools, n_heldout, frames, 400.0, rng, "heldout")
        yield "text " + "+".join(languages), len(languages), ba.N_TEXT_SYMBOLS, train, train_states, heldout, heldout_states


def compare_accuracy(published_python: str, folder: str, presets, languages, seed: int = 0, n_iters: int = 100,
                     n_train: int = 12, n_heldout: int = 3, frames: int = 30_000) -> list[dict]:  # fmt: skip
    import smoseq as sm

    rows = []
    for setting, k, s, train, train_states, heldout, heldout_states in accuracy_cases(presets, languages, seed, n_train, n_heldout, frames):
        path = os.path.join(folder, "accuracy.npz")
        np.savez(path, n_states=k, n_syllables=s, seed=seed, **{f"train/{n}": v for n, v in train.items()},
                 **{f"heldout/{n}": v for n, v in heldout.items()})  # fmt: skip
        theirs = run_json([published_python, __file__, "published-accuracy", path, str(n_iters)])
        started = time.perf_counter()
        result = sm.fit(train, n_states=k, n_iters=n_iters, seed=seed, progress=False)
        seconds = time.perf_counter() - started
        ours = sm.compare_states(heldout_states, result.predict(heldout), n_states=k).accuracy
        published_states = {name: np.asarray(v) for name, v in theirs["states"].items()}
        published = sm.compare_states(heldout_states, published_states, n_states=k).accuracy
        rows.append({"setting": setting, "K": k, "S": s, "smoseq": float(ours), "published": float(published),
                     "smoseq_fit_s": seconds, "published_fit_s": theirs["fit_seconds"], "load_1min": os.getloadavg()[0]})  # fmt: skip
        print(f"{setting:<28} K={k} S={s}: held-out accuracy smoseq {ours:.3f} ({seconds:.0f} s), "
              f"published {published:.3f} ({theirs['fit_seconds']:.0f} s) | load {rows[-1]['load_1min']:.1f}", flush=True)
    return rows


def main() -> None:
    """Entry point of the published side: `python published_fits.py published-speed|published-accuracy ARGS`."""
    role, path, *rest = sys.argv[1:]
    if role == "published-speed":
        print(json.dumps(published_speed(path, int(rest[0]), int(rest[1]))))
    elif role == "published-parts":
        print(json.dumps(published_parts(path, int(rest[0]))))
    elif role == "published-accuracy":
        print(json.dumps(published_accuracy(path, int(rest[0]))))
    else:
        raise SystemExit(f"unknown role {role}")


if __name__ == "__main__":
    main()
