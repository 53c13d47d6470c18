"""`sm.FitSettings`: one settings object through `sm.fit`, `sm.fit_models`, a scan and the command line."""

import json

import numpy as np
import pandas as pd
import pytest

import smoseq as sm
from smoseq.cli import main
from smoseq.fitting.batch import seed_initial_states
from smoseq.fitting.data import prepare_data
from smoseq.fitting.settings import DEFAULT, resolve_settings
from smoseq.scan import ScanSettings
from smoseq.scan.layout import SCAN_FILE, data_fingerprint, settings_from, start_scan_folder, write_recordings

N_STATES, KAPPA, SEED = 2, 40.0, 1
SETTINGS = sm.FitSettings(
    n_states=N_STATES, kappa=KAPPA, n_iters=3, seed=SEED, emissions="full_rank", emission_beta=0.5,
    repeats="model", n_init_iters=1, checkpoint_every=0,
)  # fmt: skip
# what a batched fit (and a scan) records: no single-fit-only settings
BATCHED = {k: v for k, v in SETTINGS.to_json().items() if k not in sm.FitSettings.SINGLE_FIT_ONLY}


def _recordings() -> dict:
    rng = np.random.default_rng(0)
    recordings = {}
    for i in range(3):
        regime = (np.arange(240) // 60) % 2
        syllables = np.where(regime == 0, rng.integers(0, 3, 240), rng.integers(3, 6, 240))
        recordings[f"rec{i}"] = np.where(rng.random(240) < 0.9, syllables, rng.integers(0, 6, 240))
    return recordings


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """The recordings as a dict and as a folder of CSVs, and the settings written to a file."""
    root = tmp_path_factory.mktemp("settings")
    recordings = _recordings()
    (root / "data").mkdir()
    for name, syllables in recordings.items():
        pd.DataFrame({"syllable": syllables}).to_csv(root / "data" / f"{name}.csv", index=False)
    SETTINGS.write(root / "settings.json")
    return root, recordings


@pytest.fixture(scope="module")
def batched(data):
    _, recordings = data
    (result,) = sm.fit_models(recordings, settings=SETTINGS, progress=False)
    return result


def test_json_round_trip_of_every_kind_of_setting(tmp_path):
    search = sm.ModeSearch(sm.optimizer("adam", learning_rate=5e-3), max_iters=40, tol=1e-5, name="adam")
    settings = sm.FitSettings(
        n_states=4, kappa=1e3, n_iters=7, seed=3, transitions="hdp", mode_search=search, exact_emissions=True,
        method="serial", seg_length=500, seg_overlap=10, memory_limit="8GB", devices=2, sigma_bias=2.0,
    )  # fmt: skip
    data = json.loads(json.dumps(settings.to_json()))
    restored = sm.FitSettings.from_json(data)
    assert restored.to_json() == data
    assert restored.mode_search.max_iters == 40 and restored.mode_search.tol == 1e-5 and restored.mode_search.name == "adam"
    assert restored.replace(mode_search=search) == settings and restored != settings  # a rebuilt optimizer is another object
    settings.write(tmp_path / "s.json")
    assert sm.FitSettings.read(tmp_path / "s.json").to_json() == data
    assert sm.FitSettings.from_json({}) == sm.FitSettings()  # missing settings take the defaults
    plain = sm.FitSettings(n_states=3, kappa="auto", repeats="model")
    assert sm.FitSettings.from_json(plain.to_json()) == plain


@pytest.mark.parametrize(
    "text, message",
    [
        ("{", "not valid JSON"),
        ("[1, 2]", "must be a JSON object"),
        ('{"n_iter": 5}', "unknown setting 'n_iter'"),
        ('{"n_iters": 0}', "n_iters must be an integer >= 1"),
        ('{"kappa": "big"}', "kappa must be 'auto' or a number"),
        ('{"emissions": {"component": "MyEmissions"}}', "component of your own (MyEmissions)"),
        ('{"mode_search": {"optimizer": "mine", "optax": null, "settings": null, "max_iters": 5, "tol": 1e-6}}',
         "built directly with optax"),
        ('{"emissions": "full_rank", "sigma_base": 2.0}', "sigma_base and sigma_bias set the low-rank"),
    ],
)  # fmt: skip
def test_a_bad_settings_file_is_one_line_naming_it(tmp_path, text, message):
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(sm.InputError) as error:
        sm.FitSettings.read(path)
    assert str(error.value).startswith(str(path)) and message in str(error.value) and "\n" not in str(error.value)


def test_a_bad_settings_file_on_the_command_line_exits_2_and_writes_nothing(data, tmp_path, capsys):
    root, _ = data
    (tmp_path / "bad.json").write_text('{"n_iters": -1}')
    out = tmp_path / "fit"
    assert main(["fit", str(root / "data"), "--out", str(out), "--settings", str(tmp_path / "bad.json")]) == 2
    error = capsys.readouterr().err.strip()
    assert error.count("\n") == 0 and "bad.json" in error and "n_iters must be an integer >= 1" in error
    assert not out.exists()
    assert main(["fit", str(root / "data"), "--out", str(out), "--settings", str(tmp_path / "missing.json")]) == 2
    assert "no such settings file" in capsys.readouterr().err and not out.exists()


def test_a_keyword_that_contradicts_the_settings_is_refused(data, tmp_path, capsys):
    root, recordings = data
    with pytest.raises(sm.InputError, match=r"n_iters=5 contradicts settings.n_iters=3"):
        sm.fit(recordings, settings=SETTINGS, n_iters=5)
    with pytest.raises(sm.InputError, match=r"n_states=3 contradicts settings.n_states=2"):
        sm.fit_models(recordings, 3, settings=SETTINGS)
    with pytest.raises(sm.InputError, match="emissions='low_rank' contradicts"):
        sm.fit_models(recordings, settings=SETTINGS, emissions="low_rank")
    with pytest.raises(sm.InputError, match="not both"):
        ScanSettings(SETTINGS, n_iters=3)
    # the same value, or a keyword left at DEFAULT, is no contradiction
    assert resolve_settings(SETTINGS, {"n_iters": 3, "kappa": 40, "seed": DEFAULT}) is SETTINGS
    assert resolve_settings(None, {"n_iters": 3, "emissions": DEFAULT}) == sm.FitSettings(n_iters=3)
    # a built-in's keyword next to a component, or an optimizer for conjugate emissions
    with pytest.raises(sm.InputError, match="kappa and beta set the built-in sticky transitions"):
        sm.FitSettings(transitions=sm.HDPTransitions.create(3), kappa=10.0)
    with pytest.raises(sm.InputError, match="mode_search and exact_emissions set the low-rank emission update"):
        SETTINGS.replace(exact_emissions=True)
    # the command line: an option that contradicts the settings file
    out = tmp_path / "fit"
    assert main(["fit", str(root / "data"), "--out", str(out), "--settings", str(root / "settings.json"), "--iters", "9"]) == 2
    assert "--iters contradicts" in capsys.readouterr().err and not out.exists()


def test_fit_and_fit_models_give_the_same_fit_from_the_same_settings(data, batched):
    _, recordings = data
    assert batched.hyperparameters["kappa"] == KAPPA and batched.hyperparameters["seed"] == SEED
    assert batched.info["settings"] == BATCHED
    prepared = prepare_data(recordings, repeats=SETTINGS.repeats)
    _, start = seed_initial_states(prepared, N_STATES, SEED)
    single = sm.fit(recordings, settings=SETTINGS, init_states=start, progress=False)
    assert single.info["settings"] == SETTINGS.to_json()
    for name in recordings:
        np.testing.assert_array_equal(single.states[name], batched.states[name])
    np.testing.assert_allclose(single.log_probs, batched.log_probs, rtol=1e-5)
    assert {k: v for k, v in single.hyperparameters.items()} == batched.hyperparameters
    # the keywords build the same settings
    by_keywords = sm.fit(recordings, N_STATES, KAPPA, 3, SEED, emissions="full_rank", emission_beta=0.5,
                         repeats="model", n_init_iters=1, checkpoint_every=0, init_states=start, progress=False)  # fmt: skip
    assert by_keywords.info["settings"] == SETTINGS.to_json()
    np.testing.assert_array_equal(by_keywords.log_probs, single.log_probs)


def test_the_command_line_fit_uses_the_settings_file(data, tmp_path):
    root, recordings = data
    out = tmp_path / "fit"
    assert main(["fit", str(root / "data"), "--out", str(out), "--settings", str(root / "settings.json"), "--no-figures",
                 "--iters", "3"]) == 0  # fmt: skip
    cli = sm.load_fit(out)
    python = sm.fit(recordings, settings=SETTINGS, progress=False)
    assert cli.info["settings"] == SETTINGS.to_json() == python.info["settings"]
    assert cli.hyperparameters == python.hyperparameters
    for name in recordings:
        np.testing.assert_array_equal(cli.states[name], python.states[name])


def test_a_scan_stores_the_settings_and_its_jobs_fit_with_them(data, batched, tmp_path):
    root, recordings = data
    scan = tmp_path / "scan"
    argv = ["scan", str(root / "data"), "--out", str(scan), "--kappas", str(KAPPA), "--seeds", f"{SEED},{SEED + 1}",
            "--n-states", str(N_STATES), "--settings", str(root / "settings.json")]  # fmt: skip
    assert main(argv) == 0
    stored = json.loads((scan / SCAN_FILE).read_text())["settings"]
    assert stored == ScanSettings(SETTINGS).to_json()
    assert settings_from({"settings": stored}).to_json() == stored
    model = sm.load_fit(scan / "models" / sm.scan.model_name(N_STATES, KAPPA, SEED))
    assert model.info["settings"] == BATCHED
    assert model.hyperparameters == batched.hyperparameters
    for name in recordings:
        np.testing.assert_array_equal(model.states[name], batched.states[name])
    np.testing.assert_allclose(model.log_probs, batched.log_probs, rtol=1e-5)  # batched with another model


def test_a_scan_folder_written_before_the_settings_object_reopens(tmp_path):
    recordings = _recordings()
    legacy = {"n_iters": 5, "heldout_folds": 0, "fps": 30.0, "emissions": "full_rank", "transitions": "sticky", "beta": 1.0,
              "sigma_base": 1.0, "sigma_bias": 1.0, "emission_beta": 1.0, "seg_length": None, "seg_overlap": 30,
              "method": "auto", "repeats": "ignore", "groups": None}  # fmt: skip
    tmp_path.joinpath("scan").mkdir()
    write_recordings(tmp_path / "scan", recordings)
    description = {"format": "smoseq-scan", "format_version": 1, "data_fingerprint": data_fingerprint(recordings),
                   "settings": legacy, "batches": []}  # fmt: skip
    (tmp_path / "scan" / SCAN_FILE).write_text(json.dumps(description))
    settings = ScanSettings(n_iters=5, fps=30.0, emissions="full_rank", exact_emissions=False)
    assert settings_from(description) == settings
    assert start_scan_folder(tmp_path / "scan", recordings, settings)["settings"] == legacy
    with pytest.raises(sm.InputError, match="n_iters 5 -> 6"):
        start_scan_folder(tmp_path / "scan", recordings, settings.replace(n_iters=6))
