"""Per-recording covariates and per-frame inputs reach the components; input-driven transitions fit end to end."""

import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pandas as pd
import pytest

import smoseq as sm
from smoseq.fitting.covariates import with_experiment
from smoseq.fitting.data import prepare_data
from smoseq.inference import gibbs
from smoseq.io.batching import batch
from smoseq.io.covariates import load_covariates
from smoseq.models import HHMM, FullRankEmissions, Dirichlet
from tests.custom_components import GroupStayTransitions, InputSwitchTransitions


def input_driven_recordings(seed=0, num_frames=1200, names=("a", "b")):
    """Two hidden states that switch (with probability 1/2) only on frames whose input is 1.

    State 0 alternates syllables 0, 1 and state 1 alternates 2, 3, so the states are
    identifiable; the input is 1 on about 8% of frames.
    """
    rng = np.random.default_rng(seed)
    recordings, inputs, truth = {}, {}, {}
    for name in names:
        flags = (rng.random(num_frames) < 0.08).astype(float)
        flags[0] = 0.0
        states = np.zeros(num_frames, int)
        for t in range(1, num_frames):
            switch = flags[t] == 1 and rng.random() < 0.5
            states[t] = 1 - states[t - 1] if switch else states[t - 1]
        recordings[name] = 2 * states + (np.arange(num_frames) % 2)
        inputs[name], truth[name] = flags, states
    return recordings, inputs, truth


@pytest.mark.parametrize(
    "method", ["native", pytest.param("serial", marks=pytest.mark.slow), pytest.param("parallel", marks=pytest.mark.slow)]
)
def test_input_driven_transitions_fit_end_to_end(method):
    recordings, inputs, truth = input_driven_recordings()
    fit = sm.fit(
        recordings, n_states=2, n_iters=12, n_init_iters=2, seed=1, emissions="full_rank",
        transitions=InputSwitchTransitions(2), inputs=inputs, method=method, progress=False,
    )  # fmt: skip
    stay = np.asarray(fit.model.transitions.stay)
    assert stay[0] > 0.98 and 0.25 < stay[1] < 0.75, stay  # switches only where the input is 1, about half the time
    assert fit.hyperparameters["inputs"] == {"names": ["input0"]}
    assert fit.hyperparameters["covariates"] is None
    for name, states in fit.states.items():
        agreement = max(np.mean(states == truth[name]), np.mean(states != truth[name]))
        assert agreement > 0.97
    predicted = fit.predict(recordings, inputs=inputs, kernel=method)
    assert all(np.array_equal(predicted[name], fit.states[name]) or np.mean(predicted[name] == fit.states[name]) > 0.97 for name in recordings)
    with pytest.raises(sm.InputError, match="per-frame inputs"):
        fit.predict(recordings)
    heldout = sm.heldout_loglik_per_frame(fit.model, recordings, kernel=method, inputs=inputs)
    assert np.isfinite(heldout)


def test_every_strategy_passes_per_frame_matrices():
    """The same keys give the same states on every method and strategy (host, fused, split, vmap).

    Also the cheap check of every method, the full fits of `serial` and `parallel` being
    marked slow (`pytest -m slow tests/test_covariates.py`).
    """
    recordings, inputs, _ = input_driven_recordings(num_frames=300)
    prepared, _ = with_experiment(prepare_data(recordings, repeats="ignore"), inputs=inputs)
    data = prepared.data
    emissions = FullRankEmissions(np.full((2, 4, 4), 0.25), Dirichlet(1.0))
    model = HHMM(emissions, InputSwitchTransitions(2, stay=(0.99, 0.5)))
    start = gibbs.init(model, np.asarray(data.syllables) // 2, data)
    key = jr.key(3)
    reference, reference_info = gibbs.build_kernel(None, "serial", "fused")(key, start, data)
    runs = {(method, "fused"): gibbs.build_kernel(None, method, "fused")(key, start, data) for method in ("native", "parallel")}
    runs["native", "host"] = gibbs.build_kernel(None, "native", "host")(key, start, data)

    stacked = sm_stack([start, start])
    for method, strategy in (("native", "split"), ("serial", "split"), ("serial", "vmap")):
        state, info = gibbs.build_kernel(None, method, strategy)(jnp.stack([key, key]), stacked, data)
        runs[method, strategy] = (take(state, 0), take(info, 0))
    for name, (state, info) in runs.items():
        agreement = np.mean(np.asarray(state.states) == np.asarray(reference.states))
        assert agreement > 0.99, name
        np.testing.assert_allclose(info.marginal_loglik, reference_info.marginal_loglik, rtol=1e-4, err_msg=str(name))


def sm_stack(states):
    from smoseq.fitting.loop import stack_chains

    return stack_chains(states)


def take(tree, index):
    import jax

    return jax.tree_util.tree_map(lambda leaf: leaf[index], tree)


def test_component_reading_groups_is_accepted_with_groups():
    recordings, _, _ = input_driven_recordings(num_frames=400, names=("a", "b", "c"))
    fit = sm.fit(
        recordings, n_states=2, n_iters=4, n_init_iters=1, emissions="full_rank", progress=False,
        transitions=GroupStayTransitions(2, 2), groups={"a": "x", "b": "y", "c": "y"},
    )  # fmt: skip
    assert fit.model.transitions.stay.shape == (2,)
    assert fit.hyperparameters["groups"] == {"a": "x", "b": "y", "c": "y"}
    assert fit.transition_samples is None


def test_inputs_and_covariates_are_segmented_like_the_syllables(tmp_path):
    recordings = {"m1": np.arange(70) % 5, "m2": np.arange(45) % 5}
    inputs = {name: {"speed": syllables * 1.5, "flag": syllables % 2} for name, syllables in recordings.items()}
    sheet = tmp_path / "covariates.csv"
    sheet.write_text("name,dose,strain\nvideos/m1.mp4,0.5,wt\nm2,2.0,ko\nother,1.0,het\n")
    prepared = prepare_data(recordings, seg_length=20, seg_overlap=7, repeats="model")
    prepared, record = with_experiment(prepared, covariates=sheet, inputs=inputs)
    data = prepared.data
    seqs, mask, _ = batch(recordings, seg_length=20, seg_overlap=7)
    np.testing.assert_array_equal(np.asarray(data.inputs[..., 0]), seqs * 1.5)  # padding repeats the last frame too
    np.testing.assert_array_equal(np.asarray(data.inputs[..., 1]), seqs % 2)
    assert data.input_names == ("speed", "flag")
    assert data.covariate_names == ("dose", "strain=het", "strain=ko", "strain=wt")
    expected = {"m1": [0.5, 0, 0, 1], "m2": [2.0, 0, 1, 0]}
    np.testing.assert_array_equal(np.asarray(data.covariates), [expected[str(key)] for key in prepared.keys])
    assert record == {"covariates": {"names": list(data.covariate_names), "levels": {"strain": ["het", "ko", "wt"]}},
                      "inputs": {"names": ["speed", "flag"]}}  # fmt: skip


def test_covariate_levels_are_reused_and_checked():
    table = pd.DataFrame({"name": ["a", "b"], "strain": ["ko", "ko"], "age": [3, 4]})
    encoded = load_covariates(table, ["a", "b"], levels={"strain": ["ko", "wt"]})
    assert encoded.names == ("strain=ko", "strain=wt", "age")
    np.testing.assert_array_equal(encoded.rows["b"], [1.0, 0.0, 4.0])
    with pytest.raises(sm.InputError, match="level"):
        load_covariates(table, ["a"], levels={"strain": ["wt"]})
    with pytest.raises(sm.InputError, match="no covariates for recording.*'c'"):
        load_covariates({"a": {"age": 1}}, ["a", "c"])
    with pytest.raises(sm.InputError, match="no value in column 'age'"):
        load_covariates({"a": {"age": 1}, "b": {"age": None}}, ["a", "b"])


def test_bad_inputs_are_refused_in_one_line(tmp_path):
    recordings = {"a": np.arange(30) % 3, "b": np.arange(40) % 3}
    with pytest.raises(sm.InputError, match="recording 'b' needs \\(40, D\\) inputs"):
        sm.fit(recordings, n_states=2, n_iters=1, progress=False, inputs={"a": np.zeros(30), "b": np.zeros(39)})
    with pytest.raises(sm.InputError, match="no inputs for recording"):
        sm.fit(recordings, n_states=2, n_iters=1, progress=False, inputs={"a": np.zeros(30)})
    with pytest.raises(sm.InputError, match="non-finite input at frame 3"):
        sm.fit(recordings, n_states=2, n_iters=1, progress=False, inputs={"a": np.zeros(30), "b": np.r_[0, 0, 0, np.nan, np.zeros(36)]})
    with pytest.raises(sm.InputError, match="no such covariate table"):
        sm.fit(recordings, n_states=2, n_iters=1, progress=False, covariates=tmp_path / "missing.csv")


def test_cli_fit_and_apply_take_a_covariate_sheet(tmp_path, capsys):
    from smoseq.cli import main

    data = tmp_path / "data"
    data.mkdir()
    for name, syllables in {"m1": np.arange(120) % 4, "m2": (np.arange(150) // 2) % 4}.items():
        pd.DataFrame({"syllable": syllables}).to_csv(data / f"{name}.csv", index=False)
    sheet = tmp_path / "sheet.csv"
    sheet.write_text("name,strain,age\nm1,wt,3\nm2,ko,5\n")
    out = tmp_path / "fit"
    assert main(["fit", str(data), "--out", str(out), "--n-states", "2", "--iters", "2", "--emissions", "full_rank",
                 "--covariates", str(sheet)]) == 0  # fmt: skip
    recorded = sm.load_fit(out).hyperparameters["covariates"]
    assert recorded == {"names": ["strain=ko", "strain=wt", "age"], "levels": {"strain": ["ko", "wt"]}}
    assert main(["apply", str(out), str(data), "--out", str(tmp_path / "applied")]) == 2
    assert "pass covariates=" in capsys.readouterr().err
    assert main(["apply", str(out), str(data), "--out", str(tmp_path / "applied"), "--covariates", str(sheet)]) == 0
    sheet.write_text("name,strain\nm1,wt\n")
    assert main(["fit", str(data), "--out", str(tmp_path / "fit2"), "--covariates", str(sheet)]) == 2
    assert "no covariates for recording(s) 'm2'" in capsys.readouterr().err


def test_fit_models_takes_inputs():
    recordings, inputs, _ = input_driven_recordings(num_frames=400)
    results = sm.fit_models(
        recordings, 2, [1.0, 1.0], [0, 1], 3, emissions="full_rank", transitions=InputSwitchTransitions(2),
        inputs=inputs, progress=False,
    )  # fmt: skip
    assert [r.hyperparameters["inputs"] for r in results] == [{"names": ["input0"]}] * 2
    assert all(r.model.transitions.stay.shape == (2,) for r in results)
