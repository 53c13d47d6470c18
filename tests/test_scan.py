"""Parameter scans: batched fits, scan folders and executors, interrupted scans, selection, CLI.

Every scan here has the same shapes (4 recordings × 300 frames, S = 8, K = 3, batches of 4
models), so the batched Gibbs step compiles once for the whole module.
"""

import json
from pathlib import Path

import jax
import jax.random as jr
import numpy as np
import pandas as pd
import pytest
import submitit  # noqa: F401  (imported before any test captures output: its log handlers bind to sys.stderr)

import smoseq as sm
import smoseq.scan.jobs as scan_jobs
from smoseq.cli import main
from smoseq.fitting.data import prepare_data
from smoseq.models import low_rank_hhmm
from smoseq.scan import (
    ScanSettings,
    best_seed,
    fit_models,
    load_summary,
    mi_separation_lag,
    run_scan,
    SeedStates,
    seed_agreement,
    seed_confusions,
    seed_initial_states,
    suggest_kappa,
)

N_STATES, KAPPAS, SEEDS, ITERS = 3, [10.0, 1000.0], [0, 1], 3
SCAN_ARGS = ["--kappas", "10:1000:2", "--seeds", "2", "--n-states", "3", "--iters", str(ITERS)]


@pytest.fixture(scope="module")
def recordings():
    truth = low_rank_hhmm(jr.key(0), N_STATES, 8, kappa=300.0)
    _, syllables = truth.simulate(jr.key(1), 4, 300)
    return {f"rec{i}": np.asarray(syllables[i]) for i in range(4)}


@pytest.fixture(scope="module")
def data_dir(recordings, tmp_path_factory):
    folder = tmp_path_factory.mktemp("data")
    for name, syllables in recordings.items():
        pd.DataFrame({"syllable": syllables}).to_csv(folder / f"{name}.csv", index=False)
    return folder


@pytest.fixture(scope="module")
def reference_scan(data_dir, tmp_path_factory):
    """An uninterrupted scan run through the CLI (inline executor)."""
    folder = tmp_path_factory.mktemp("reference") / "scan"
    assert main(["scan", str(data_dir), "--out", str(folder), *SCAN_ARGS]) == 0
    return folder


def _leaves(model):
    return [np.asarray(leaf) for leaf in jax.tree_util.tree_leaves(model)]


def test_batched_fits_equal_separate_fits(recordings):
    kappas, seeds = [10.0, 10.0, 1000.0, 1000.0], [0, 1, 0, 1]
    batched = fit_models(recordings, N_STATES, kappas, seeds, ITERS, progress=False)
    prepared = prepare_data(recordings)
    for kappa, seed, result in zip(kappas, seeds, batched):
        _, start = seed_initial_states(prepared, N_STATES, seed)
        alone = sm.fit(recordings, N_STATES, kappa, ITERS, seed, init_states=start, progress=False)
        for name in recordings:
            np.testing.assert_array_equal(result.states[name], alone.states[name])
        np.testing.assert_array_equal(result.history, alone.history)
        # float32: the batched program fuses the Laplace update differently, so the draws
        # differ in their last bits and the log probabilities by ~1e-5 relative
        np.testing.assert_allclose(result.log_probs, alone.log_probs, rtol=1e-4)
        # the emission mode search stops wherever float rounding puts it within its tolerance
        for a, b in zip(_leaves(result.model), _leaves(alone.model)):
            np.testing.assert_allclose(a, b, rtol=0, atol=1e-2)
        assert result.hyperparameters == alone.hyperparameters
        assert result.info["batch_size"] == 4


@pytest.mark.parametrize(
    "strategy, method",
    [("vmap", "native"), pytest.param("vmap", "serial", marks=pytest.mark.slow), pytest.param("split", "serial", marks=pytest.mark.slow)],
)
def test_every_batching_strategy_equals_separate_fits(recordings, strategy, method):
    """The GPU layout (`vmap` of the whole step) and the JAX-sampler split, besides the CPU default.

    The two JAX-sampler cases take half a minute each: `pytest -m slow tests/test_scan.py`.
    """
    kappas, seeds = [10.0, 1000.0], [0, 1]
    batched = fit_models(recordings, N_STATES, kappas, seeds, 2, method=method, strategy=strategy, progress=False)
    prepared = prepare_data(recordings)
    for kappa, seed, result in zip(kappas, seeds, batched):
        _, start = seed_initial_states(prepared, N_STATES, seed)
        alone = sm.fit(recordings, N_STATES, kappa, 2, seed, init_states=start, method=method, progress=False)
        for name in recordings:
            np.testing.assert_array_equal(result.states[name], alone.states[name])
        np.testing.assert_allclose(result.log_probs, alone.log_probs, rtol=1e-4)
        assert result.info["batch_strategy"] == strategy


def test_scan_with_submitit_local_executor_completes_and_rerun_fits_nothing(data_dir, tmp_path, capsys):
    scan = tmp_path / "scan"
    arguments = ["scan", str(data_dir), "--out", str(scan), *SCAN_ARGS, "--heldout-folds", "2", "--executor", "submitit-local"]
    assert main(arguments) == 0
    summary = pd.read_csv(scan / "summary.csv")
    assert len(summary) == 4 and set(zip(summary.kappa, summary.seed)) == {(k, s) for k in KAPPAS for s in SEEDS}
    assert (summary.fold == summary.seed % 2).all()
    assert np.isfinite(summary.heldout_loglik_per_frame).all() and (summary.heldout_loglik_per_frame < 0).all()
    assert all(sm.load_fit(scan / folder).log_probs.shape == (ITERS,) for folder in summary.fit_folder)
    trained_on = {len(sm.load_fit(scan / folder).states) for folder in summary.fit_folder}
    assert trained_on == {2}  # 4 recordings, 2 folds: each model sees 2
    stamps = {p: p.stat().st_mtime_ns for p in scan.glob("models/*/fit.json")}
    capsys.readouterr()
    assert main(arguments) == 0
    assert "4 models: 4 complete, 0 to fit in 0 batches, 0 jobs" in capsys.readouterr().out
    assert {p: p.stat().st_mtime_ns for p in scan.glob("models/*/fit.json")} == stamps


def test_interrupted_scan_finishes_with_the_results_of_an_uninterrupted_one(recordings, reference_scan, tmp_path, monkeypatch):
    scan = tmp_path / "scan"
    options = dict(n_states=[N_STATES], kappas=KAPPAS, seeds=SEEDS, settings=ScanSettings(n_iters=ITERS), say=lambda m: None)
    real_save, saved = scan_jobs.save_fit, []

    def save_then_die(result, folder, overwrite=False):
        if len(saved) == 2:
            raise KeyboardInterrupt  # killed while the batch's fit folders are being written
        real_save(result, folder, overwrite)
        saved.append(folder)

    monkeypatch.setattr(scan_jobs, "save_fit", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        run_scan(recordings, scan, **options)
    assert len(list(scan.glob("models/*/fit.json"))) == 2 and len(list(scan.glob("models/*"))) == 3
    monkeypatch.setattr(scan_jobs, "save_fit", real_save)
    resumed = run_scan(recordings, scan, **options)
    reference = load_summary(reference_scan)
    columns = ["kappa", "n_states", "seed", "final_log_prob", "median_duration_frames", "n_states_used", "fit_folder"]
    pd.testing.assert_frame_equal(resumed[columns], reference[columns])
    for folder in reference.fit_folder:
        a, b = sm.load_fit(scan / folder), sm.load_fit(reference_scan / folder)
        np.testing.assert_array_equal(a.log_probs, b.log_probs)
        for x, y in zip(_leaves(a.model), _leaves(b.model)):
            np.testing.assert_array_equal(x, y)
        for name in b.states:
            np.testing.assert_array_equal(a.states[name], b.states[name])


def _hand_made_summary():
    rows = []
    durations = {1e3: [1, 1, 2], 1e4: [3, 3, 4], 1e5: [5, 6, 5], 1e6: [90, 110, 100]}
    log_probs = {1e3: [-10.0, -9.0, -11.0], 1e4: [-5.0, -7.0, -4.0], 1e5: [-3.0, -2.0, -8.0], 1e6: [-6.0, -6.5, -7.0]}
    for kappa in durations:
        for seed in range(3):
            rows.append({"kappa": kappa, "n_states": 5, "seed": seed, "final_log_prob": log_probs[kappa][seed],
                         "median_duration_frames": float(durations[kappa][seed]), "fold": -1, "error": ""})  # fmt: skip
    summary = pd.DataFrame(rows)
    summary["median_duration_s"] = summary["median_duration_frames"] / 10.0
    summary["heldout_loglik_per_frame"] = np.nan
    return summary


def test_selection_helpers_on_a_hand_made_summary():
    summary = _hand_made_summary()
    assert best_seed(summary, 1e4)["seed"] == 2
    assert best_seed(summary, 1e5, n_states=5)["seed"] == 1
    assert best_seed(summary, 1e5)["ranked_by"] == "final_log_prob"
    with pytest.raises(sm.InputError, match="no models with kappa 2000"):
        best_seed(summary, 2e3)

    # shuffle 0.01 everywhere; Markov excess halves each lag; real excess decays slower:
    # real/Markov excess = 1, 1.6, 2.4, ... so the curves separate at lag 4 frames.
    lags = np.array([1, 2, 4, 8, 16, 32])
    shuffle = np.full(6, 0.01)
    markov = shuffle + np.array([1.0, 0.5, 0.25, 0.1, 0.05, 0.0])
    real = shuffle + np.array([1.0, 0.8, 0.6, 0.5, 0.4, 0.3])
    timescale = mi_separation_lag(lags, np.stack([real, real]), markov, shuffle)
    assert timescale.lag == 4.0
    assert timescale.evidence["separated"].tolist() == [False, False, True, True, True, True]
    # per-κ median durations (over seeds): 1, 3, 5, 100 frames; |log(d / 4)| is smallest for 5 (κ = 1e5)
    suggestion = suggest_kappa(summary, lags, real, markov, shuffle, fps=10.0)
    assert suggestion.kappa == 1e5 and suggestion.timescale_s == pytest.approx(0.4)
    assert suggestion.median_duration_s == pytest.approx(0.5)
    np.testing.assert_allclose(suggestion.per_kappa["log_distance"], np.abs(np.log(np.array([1, 3, 5, 100]) / 4)))
    assert "suggested kappa 1e+05" in suggestion.message and "extend the scan" not in suggestion.message
    # Only the κ with 100-frame states: 25x the 4-frame timescale, at the small end of the range.
    longest = summary[summary["kappa"] == summary["kappa"].max()]
    too_long = suggest_kappa(longest, lags, real, markov, shuffle, fps=10.0)
    assert "25x longer than that: extend the scan to smaller κ" in too_long.message
    # The timescale at 32 frames (separation only at the last lag): 1-frame states are 32x too short.
    shortest = summary[summary["kappa"] == summary["kappa"].min()]
    late = suggest_kappa(shortest, lags, real, real * np.array([1, 1, 1, 1, 1, 0.1]), 0 * shuffle, fps=10.0)
    assert late.timescale_frames == 32 and "32x shorter than that: extend the scan to larger κ" in late.message
    assert suggestion.rule == "log_prob_peak" and "peaks there" in suggestion.message  # median log probs -10, -5, -3, -6.5
    rising = summary.assign(final_log_prob=np.log10(summary["kappa"]))  # no interior peak: the MI timescale decides
    by_mi = suggest_kappa(rising, lags, real, markov, shuffle, fps=10.0)
    assert by_mi.kappa == 1e5 and by_mi.rule == "mi_timescale" and "does not peak" in by_mi.message
    never = suggest_kappa(rising, lags, markov, markov, shuffle, fps=10.0)
    assert never.kappa is None and "never separate" in never.message and never.rule == "none"
    peak_anyway = suggest_kappa(summary, lags, markov, markov, shuffle, fps=10.0)  # the peak decides without MI
    assert peak_anyway.kappa == 1e5 and "never separate" in peak_anyway.message


def test_mi_separation_needs_the_real_excess_to_stand_out_of_its_noise():
    """At long lags few pairs are left: a noisy real excess barely above 0 is no separation."""
    lags = np.array([1, 2, 4, 8, 16])
    shuffle = np.zeros((6, 5))
    markov = np.tile([0.5, 0.3, 0.1, 0.02, -0.01], (6, 1))
    real = np.tile([0.5, 0.3, 0.1, 0.02, 0.0], (6, 1))
    real[:, -1] = [0.05, -0.04, 0.03, -0.02, 0.01, -0.01]  # mean 0.00333, sd 0.03327, standard error 0.01358
    noisy = mi_separation_lag(lags, real, markov, shuffle)
    assert noisy.lag is None and noisy.evidence["real_excess_se"].iloc[-1] == pytest.approx(0.01358, abs=1e-5)
    assert mi_separation_lag(lags, real, markov, shuffle, significance=0).lag == 16  # the old rule: separated by chance
    real[:, -1] += 0.05  # every sequence now carries the slow dependence
    assert mi_separation_lag(lags, real, markov, shuffle).lag == 16
    with pytest.raises(sm.InputError, match="same number of sequences"):
        mi_separation_lag(lags, real, markov[:4], shuffle)


def test_best_seed_ranks_by_heldout_likelihood_when_seeds_saw_different_recordings():
    summary = _hand_made_summary()
    summary["fold"] = summary["seed"] % 2
    summary["heldout_loglik_per_frame"] = np.arange(len(summary), dtype=float)[::-1]
    best = best_seed(summary, 1e4)
    assert best["ranked_by"] == "heldout_loglik_per_frame" and best["seed"] == 0


def test_cli_scan_and_select_end_to_end(reference_scan, data_dir, tmp_path, capsys):
    summary = pd.read_csv(reference_scan / "summary.csv")
    assert len(summary) == 4 and summary.error.isna().all()
    assert summary.heldout_loglik_per_frame.isna().all()
    assert (summary.median_duration_s == summary.median_duration_frames / 120).all()
    assert ((summary.n_states_used >= 1) & (summary.n_states_used <= N_STATES)).all()
    assert json.loads((reference_scan / "scan.json").read_text())["batches"][0]["models"] == [
        "K3_kappa10_seed0", "K3_kappa10_seed1", "K3_kappa1000_seed0", "K3_kappa1000_seed1"
    ]  # fmt: skip
    mi = tmp_path / "mi"
    assert main(["mi", str(data_dir), "--out", str(mi), "--min-lag", "0.01", "--max-lag", "1", "--n-lags", "8"]) == 0
    capsys.readouterr()
    assert main(["select", str(reference_scan), "--kappa", "1000", "--mi", str(mi)]) == 0
    out = capsys.readouterr().out
    assert "best seed at kappa 1000" in out and "agreement across seeds" in out
    assert "suggested kappa" in out or "no κ suggested" in out
    figures = {p.name for p in (reference_scan / "selection").iterdir()}
    assert {"scan.png", "agreement_K3_kappa1000.png", "kappa_suggestion.png", "seed_confusions_K3_kappa1000.png"} <= figures
    sankeys = sorted(name for name in figures if name.startswith("sankey_seed"))
    assert len(sankeys) == 2 and {Path(name).suffix for name in sankeys} == {".png", ".html"}
    assert "plotly" in (reference_scan / "selection" / sankeys[0]).read_text()[:100_000].lower()
    pairs = seed_agreement(reference_scan, 1000.0, N_STATES)
    assert len(pairs) == 1 and 0 <= pairs.accuracy[0] <= 1 and -1 <= pairs.adjusted_rand[0] <= 1
    assert main(["select", str(reference_scan)]) == 0
    out = capsys.readouterr().out
    assert (reference_scan / "selection" / "agreement.csv").is_file()
    # Without --mi the MI curves come from the scan's own recordings, at `smoseq mi`'s defaults.
    assert "lagged MI of the scan's recordings" in out and ("suggested kappa" in out or "no κ suggested" in out)
    assert {"mi.npz", "lagged_mi.png", "kappa_suggestion.png"} <= {p.name for p in (reference_scan / "selection").iterdir()}
    assert main(["select", str(reference_scan), "--no-suggestion", "--out", str(tmp_path / "plain")]) == 0
    assert not (tmp_path / "plain" / "mi.npz").exists() and (tmp_path / "plain" / "scan.png").is_file()


def test_select_suggests_a_kappa_for_every_number_of_states(data_dir, tmp_path, capsys):
    scan = tmp_path / "scan"
    args = ["--kappas", "10,1000", "--seeds", "1", "--n-states", "2,3", "--iters", "2"]
    assert main(["scan", str(data_dir), "--out", str(scan), *args]) == 0
    capsys.readouterr()
    assert main(["select", str(scan)]) == 0
    lines = capsys.readouterr().out.splitlines()
    for n_states in (2, 3):
        assert any(line.startswith(f"K={n_states}: ") and ("suggested kappa" in line or "no κ suggested" in line) for line in lines)
        assert (scan / "selection" / f"kappa_suggestion_K{n_states}.png").is_file()


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--kappas", "abc"], "--kappas must be"),
        (["--kappas", "10:1000:2", "--heldout-folds", "5"], "needs at least 5 recordings"),
        (["--kappas", "10:1000:2", "--heldout-folds", "1"], "--heldout-folds must be an integer >= 2"),
        (["--kappas", "10:1000:2", "--seeds", "0"], "--seeds must be at least 1"),
        (["--kappas", "1000,1000.1"], "equal to 4 significant digits"),
        (["--kappas", "10:1000:2", "--executor", "processes", "--workers", "0"], "workers must be an integer >= 1"),
    ],
)
def test_bad_scan_arguments_are_one_line_errors(data_dir, tmp_path, capsys, extra, message):
    assert main(["scan", str(data_dir), "--out", str(tmp_path / "scan"), *extra]) == 2
    error = capsys.readouterr().err
    assert message in error and error.count("\n") == 1


def test_slurm_options_become_valid_submitit_parameters(tmp_path):
    from smoseq.scan.executors import ExecutorOptions, slurm_parameters

    options = ExecutorOptions("slurm", slurm_partition="gpu", slurm_gpus=1, slurm_mem_gb=32, slurm_time_min=90,
                              slurm_array_parallelism=4, slurm_cpus=8)  # fmt: skip
    parameters = slurm_parameters(options)
    assert parameters == {"name": "smoseq-scan", "timeout_min": 90, "gpus_per_node": 1, "mem_gb": 32, "cpus_per_task": 8,
                          "slurm_partition": "gpu", "slurm_array_parallelism": 4}  # fmt: skip
    submitit.AutoExecutor(folder=tmp_path, cluster="debug").update_parameters(**parameters)  # names and types check


def test_rerun_with_other_settings_or_a_non_scan_folder_is_refused(reference_scan, data_dir, tmp_path, capsys):
    assert main(["scan", str(data_dir), "--out", str(reference_scan), *SCAN_ARGS[:-1], "7"]) == 2
    assert "was started with other settings (n_iters 3 -> 7)" in capsys.readouterr().err
    assert main(["select", str(tmp_path)]) == 2
    assert "not a scan folder" in capsys.readouterr().err


def test_slurm_without_srun_is_refused_before_anything_is_written(data_dir, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # no srun: not a SLURM login node
    out = tmp_path / "scan"
    assert main(["scan", str(data_dir), "--out", str(out), "--kappas", "10", "--executor", "slurm"]) == 2
    error = capsys.readouterr().err
    assert "no `srun` on this machine" in error and error.count("\n") == 1
    assert not out.exists()


def test_seed_confusions_put_matched_states_on_the_diagonal():
    # reference seed 0: states 0,0,1,1,2,2; seed 1 relabels them 2,2,0,0,1,1 (a pure relabelling);
    # seed 2 merges reference states 1 and 2 into its state 0.
    states = SeedStates(
        {0: {"a": np.array([0, 0, 1, 1, 2, 2])}, 1: {"a": np.array([2, 2, 0, 0, 1, 1])}, 2: {"a": np.array([1, 1, 0, 0, 0, 2])}},
        n_states=3, kappa=1.0, basis="fitted states",
    )  # fmt: skip
    matrices = seed_confusions(states, reference_seed=0)
    assert list(matrices) == [1, 2]
    np.testing.assert_allclose(matrices[1], np.eye(3))
    # confusion[s0, s2]: row 0 -> col 1; row 1 -> col 0; row 2 -> half col 0, half col 2.
    # Matching: s2 label 0 <- s0 label 1, s2 label 1 <- s0 label 0, s2 label 2 <- s0 label 2.
    np.testing.assert_allclose(matrices[2], [[1, 0, 0], [0, 1, 0], [0.5, 0, 0.5]])
    with pytest.raises(sm.InputError, match="seed 7 is not among"):
        seed_confusions(states, reference_seed=7)
    figure = sm.scan.plot_seed_confusions(matrices, 0, "K=3")
    assert len(figure.axes) == 3  # two panels and a colour bar
