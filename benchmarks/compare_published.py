"""Side by side with the published `state-moseq`: values, speed and held-out accuracy.

`--what values` (default): for the same params and data, `smoseq.hhmm_efficient` /
`hhmm_standard` give the published package's marginal log-likelihood and log prior to
1e-4 relative, smoothed probabilities to 2e-3, Viterbi paths >= 99.9 % identical, and
`batch` / `unbatch` identical. `--what speed parts accuracy`: seconds per Gibbs iteration, the state
update and the lagged MI alone, and held-out accuracy of both packages on the same data (see `published_fits.py`), printed
with the date and the machine, and written as JSON with `--json FILE`.

The published package needs an older JAX than smoseq, so it runs in its own virtualenv:

    python3 -m venv /tmp/smvenv
    /tmp/smvenv/bin/pip install state-moseq --no-deps
    /tmp/smvenv/bin/pip install "jax==0.4.30" "jaxlib==0.4.30" "tensorflow-probability==0.24.0" \\
        "dynamax==0.1.4" "numpy<2" "pandas<2.3" chex jaxtyping numba tqdm h5py matplotlib \\
        scikit-learn opencv-python-headless plotly vidio "imageio[ffmpeg]"
    # (these pins still install, checked 2026-12-07 with Python 3.11; pip then warns that
    # state-moseq's ipykernel and jupyter are missing: the comparison does not use them)
    .venv/bin/python benchmarks/compare_published.py --published-python /tmp/smvenv/bin/python
    .venv/bin/python benchmarks/compare_published.py --published-python /tmp/smvenv/bin/python \\
        --what speed parts accuracy --json published.json

The published side draws parameters with its own `random_params`, simulates data with its
own `simulate`, batches uneven recordings, and writes everything with its results to an
.npz; this side recomputes with smoseq and prints each comparison against its tolerance.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

N_STATES, N_SYLLABLES, N_SEQUENCES, N_FRAMES = 5, 20, 6, 3000
HYPPARAMS = {
    "n_states": N_STATES, "n_syllables": N_SYLLABLES, "emission_base_sigma": 1.0, "emission_biases_sigma": 1.0,
    "emissions_beta": 1.0, "trans_beta": 1.0, "trans_kappa": 1e3,
}  # fmt: skip
FLAVOURS = ("hhmm_efficient", "hhmm_standard")
FUNCTIONS = ("marginal_loglik", "log_params_prob", "smoothed_states", "predicted_states")


def published_side(out: str) -> None:
    """Runs under the published package's interpreter."""
    import importlib

    import jax.random as jr
    import state_moseq

    results = {}
    for number, flavour in enumerate(FLAVOURS):
        module = importlib.import_module(f"state_moseq.{flavour}")
        params = module.random_params(jr.PRNGKey(number), HYPPARAMS)
        _, syllables = module.simulate(jr.PRNGKey(10 + number), params, N_FRAMES, N_SEQUENCES)[:2]
        lengths = [N_FRAMES - 400 * i for i in range(N_SEQUENCES)]  # uneven recordings, so batches are padded
        recordings = {f"r{i}": np.asarray(syllables[i][:n]) for i, n in enumerate(lengths)}
        seqs, mask, (keys, bounds) = state_moseq.batch(recordings, seg_length=1000)
        data = {"syllables": seqs, "mask": mask}
        results.update({f"{flavour}/param/{name}": np.asarray(value) for name, value in params.items()})
        results.update({f"{flavour}/recording/{name}": value for name, value in recordings.items()})
        results.update({f"{flavour}/batch/seqs": np.asarray(seqs), f"{flavour}/batch/mask": np.asarray(mask),
                        f"{flavour}/batch/keys": np.asarray(keys), f"{flavour}/batch/bounds": np.asarray(bounds)})  # fmt: skip
        unbatched = state_moseq.unbatch(np.asarray(seqs), keys, bounds)
        results.update({f"{flavour}/unbatch/{name}": np.asarray(value) for name, value in unbatched.items()})
        results[f"{flavour}/marginal_loglik"] = np.asarray(module.marginal_loglik(data, params))
        results[f"{flavour}/log_params_prob"] = np.asarray(module.log_params_prob(params, HYPPARAMS))
        results[f"{flavour}/smoothed_states"] = np.asarray(module.smoothed_states(data, params))
        results[f"{flavour}/predicted_states"] = np.asarray(module.predicted_states(data, params))
    np.savez(out, **results)


def _group(archive, prefix: str) -> dict:
    return {key[len(prefix) :]: archive[key] for key in archive.files if key.startswith(prefix)}


def smoseq_side(path: str) -> bool:
    import importlib

    import jax.numpy as jnp

    import smoseq

    archive = np.load(path, allow_pickle=False)
    ok = True

    def report(name, value, limit, passed):
        nonlocal ok
        ok &= passed
        print(f"  {name:42s} {value:12.3g}  (limit {limit})  {'ok' if passed else 'FAIL'}")

    for flavour in FLAVOURS:
        print(flavour)
        module = importlib.import_module(f"smoseq.{flavour}")
        params = {name: jnp.asarray(value) for name, value in _group(archive, f"{flavour}/param/").items()}
        recordings = _group(archive, f"{flavour}/recording/")
        seqs, mask, (keys, bounds) = smoseq.batch(recordings, seg_length=1000)
        expected = {name: archive[f"{flavour}/batch/{name}"] for name in ("seqs", "mask", "keys", "bounds")}
        same_batch = all(np.array_equal(a, b) for a, b in zip((seqs, mask, keys, bounds), expected.values()))
        unbatched = smoseq.unbatch(np.asarray(expected["seqs"]), expected["keys"], expected["bounds"])
        published_unbatched = _group(archive, f"{flavour}/unbatch/")
        same_unbatch = set(unbatched) == set(published_unbatched) and all(
            np.array_equal(unbatched[k], published_unbatched[k]) for k in unbatched
        )
        report("batch identical (0 = yes)", float(not same_batch), "0", same_batch)
        report("unbatch identical (0 = yes)", float(not same_unbatch), "0", same_unbatch)
        data = {"syllables": jnp.asarray(expected["seqs"]), "mask": jnp.asarray(expected["mask"])}
        ours = {
            "marginal_loglik": float(module.marginal_loglik(data, params)),
            "log_params_prob": float(module.log_params_prob(params, HYPPARAMS)),
            "smoothed_states": np.asarray(module.smoothed_states(data, params)),
            "predicted_states": np.asarray(module.predicted_states(data, params)),
        }
        theirs = {name: archive[f"{flavour}/{name}"] for name in FUNCTIONS}
        for name in ("marginal_loglik", "log_params_prob"):
            relative = abs(ours[name] - float(theirs[name])) / abs(float(theirs[name]))
            print(f"  {name}: smoseq {ours[name]:.6g}, published {float(theirs[name]):.6g}")
            report(f"{name} relative difference", relative, "1e-4", relative <= 1e-4)
        real = expected["mask"] > 0
        smoothed_gap = float(np.abs(ours["smoothed_states"] - theirs["smoothed_states"])[real].max())
        report("smoothed_states max |difference| (real frames)", smoothed_gap, "2e-3", smoothed_gap <= 2e-3)
        agreement = float(np.mean(ours["predicted_states"][real] == theirs["predicted_states"][real]))
        report("predicted_states agreement (real frames)", agreement, ">= 0.999", agreement >= 0.999)
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--published-python", help="interpreter with state-moseq installed")
    parser.add_argument("--what", nargs="+", choices=("values", "speed", "parts", "accuracy"), default=["values"])
    parser.add_argument("--speed-syllables", nargs="+", type=int, default=[50, 100])
    parser.add_argument("--presets", nargs="+", default=["usage-K5-S30", "mixed-K6-S40-lognormal", "sticky-syll-K5-S30", "kpms-K4-S50"])
    parser.add_argument("--languages", nargs="*", default=["en", "de", "es"], help="text case (needs Debian's fortune packages)")
    parser.add_argument("--iters", type=int, default=100, help="Gibbs iterations of the accuracy fits")
    parser.add_argument("--json", help="write the speed and accuracy rows here")
    parser.add_argument("--published-side", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.published_side:
        published_side(args.published_side)
        return
    if not args.published_python:
        parser.error("--published-python is required (see the module docstring)")
    import datetime

    import published_fits

    print(f"{datetime.date.today().isoformat()}, {published_fits.machine()}, load {_load()}")
    ok, rows = True, {}
    with tempfile.TemporaryDirectory() as folder:
        if "values" in args.what:
            path = f"{folder}/published.npz"
            subprocess.run([args.published_python, __file__, "--published-side", path], check=True)
            ok = smoseq_side(path)
        if "speed" in args.what:
            rows["speed"] = published_fits.compare_speed(args.published_python, folder, args.speed_syllables)
        if "parts" in args.what:
            rows["parts"] = published_fits.compare_parts(args.published_python, folder)
        if "accuracy" in args.what:
            languages = args.languages if args.languages and _have_fortunes(args.languages) else []
            rows["accuracy"] = published_fits.compare_accuracy(args.published_python, folder, args.presets, languages, n_iters=args.iters)
    if args.json:
        rows.update(date=datetime.date.today().isoformat(), machine=published_fits.machine(), load_at_end=_load())
        with open(args.json, "w") as file:
            json.dump(rows, file, indent=1)
    sys.exit(0 if ok else 1)


def _load() -> str:
    """The 1, 5 and 15 minute load averages (these machines are shared: read timings beside them)."""
    return " ".join(f"{value:.1f}" for value in os.getloadavg())


def _have_fortunes(languages) -> bool:
    import bench_accuracy

    missing = [language for language in languages if not bench_accuracy.fortune_files(language)]
    if missing:
        print(f"text case skipped: {bench_accuracy.install_hint(missing)}")
    return not missing


if __name__ == "__main__":
    main()
