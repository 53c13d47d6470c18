"""The `smoseq` command end to end on a tiny dataset, and its one-line errors."""

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from smoseq.cli import main


def _write_recordings(folder, n_recordings=3, n_frames=1500, seed=0, n_syllables=8):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(n_recordings):
        # two regimes with different syllable usage, switching every 300 frames
        regime = (np.arange(n_frames) // 300) % 2
        low = rng.integers(0, n_syllables // 2, n_frames)
        high = rng.integers(n_syllables // 2, n_syllables, n_frames)
        syllables = np.where(rng.random(n_frames) < 0.85, np.where(regime == 0, low, high), rng.integers(0, n_syllables, n_frames))
        xy = rng.normal(100, 5, size=(n_frames, 2))
        pd.DataFrame({"syllable": syllables, "x": xy[:, 0], "y": xy[:, 1]}).to_csv(folder / f"rec{i}.csv", index=False)
    return folder


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    data = _write_recordings(root / "data")
    code = main(["fit", str(data), "--out", str(root / "fit"), "--n-states", "2", "--iters", "6", "--checkpoint-every", "3"])
    assert code == 0
    return root, data


def test_fit_writes_the_fit_folder_and_figures(fitted):
    root, _ = fitted
    fit = root / "fit"
    for name in ("model.eqx", "model.json", "states.npz", "trace.npz", "fit.json", "syllables.npz"):
        assert (fit / name).is_file(), name
    assert len(list((fit / "figures").glob("*.png"))) >= 6


def test_apply_on_training_data_agrees_with_fitted_states(fitted):
    root, data = fitted
    assert main(["apply", str(root / "fit"), str(data), "--out", str(root / "applied"), "--marginals"]) == 0
    with np.load(root / "applied" / "states.npz", allow_pickle=False) as applied, np.load(root / "fit" / "states.npz", allow_pickle=False) as fit:
        names = applied["names"].tolist()
        assert names == fit["names"].tolist()
        agreement = np.mean(np.concatenate([applied[f"states_{i}"] == fit[f"states_{i}"] for i in range(len(names))]))
    assert agreement >= 0.95
    assert (root / "applied" / "marginals.npz").is_file()


def test_export_and_plot(fitted):
    root, _ = fitted
    assert main(["export", str(root / "fit"), "--csv", "--out", str(root / "csv")]) == 0
    table = pd.read_csv(root / "csv" / "rec0.csv")
    assert list(table.columns) == ["frame", "syllable", "state"] and len(table) == 1500
    assert main(["plot", str(root / "fit"), "--out", str(root / "plots")]) == 0
    assert len(list((root / "plots").glob("*.png"))) >= 6


def test_existing_fit_is_not_overwritten_without_force(fitted, capsys):
    root, data = fitted
    assert main(["fit", str(data), "--out", str(root / "fit"), "--n-states", "2", "--iters", "2"]) == 2
    assert "--force" in capsys.readouterr().err


def test_mi_command(tmp_path):
    data = _write_recordings(tmp_path / "data", n_frames=3000)
    assert main(["mi", str(data), "--fps", "30", "--out", str(tmp_path / "mi"), "--n-lags", "5"]) == 0
    assert (tmp_path / "mi" / "lagged_mi.png").is_file()


@pytest.mark.parametrize("command", ["demo", "example-data", "mi", "fit", "apply", "movies", "plot", "export"])
def test_every_command_has_help_with_an_example(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    assert "example:" in capsys.readouterr().out


def test_console_script_runs_without_traceback(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "smoseq.cli", "fit", str(tmp_path / "missing"), "--out", str(tmp_path / "out")],
        capture_output=True, text=True,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().count("\n") == 0 and "no such file or folder" in result.stderr
    assert not (tmp_path / "out").exists()


def test_compilation_cache_is_exported_to_the_processes_a_command_starts(tmp_path, monkeypatch):
    import jax

    from smoseq.cli import enable_compilation_cache

    monkeypatch.setenv("SMOSEQ_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("JAX_COMPILATION_CACHE_DIR", raising=False)
    monkeypatch.delenv("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", raising=False)
    saved = jax.config.jax_compilation_cache_dir, jax.config.jax_persistent_cache_min_compile_time_secs
    try:
        enable_compilation_cache()
        assert jax.config.jax_compilation_cache_dir == str(tmp_path / "cache")
        assert jax.config.jax_persistent_cache_min_compile_time_secs == 0.0
    finally:
        jax.config.update("jax_compilation_cache_dir", saved[0])
        jax.config.update("jax_persistent_cache_min_compile_time_secs", saved[1])
    child = "import jax; print(jax.config.jax_compilation_cache_dir, jax.config.jax_persistent_cache_min_compile_time_secs)"
    printed = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, check=True).stdout.split()
    assert printed == [str(tmp_path / "cache"), "0.0"]
