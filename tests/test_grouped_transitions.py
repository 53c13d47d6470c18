"""`GroupedTransitions` and `sm.compare_group_dynamics`: planted duration effects recovered, none claimed where none was planted.

Fits run at the default κ ("auto" = frames / K): the comparison must be right there. The
estimator itself is checked by hand in `tests/test_group_dynamics.py`, its calibration over
many simulated experiments by `benchmarks/bench_group_calibration.py`.

The full-size checks (both directions, more data) are slow: `python -m pytest -m slow tests/test_grouped_transitions.py`.
"""

import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pandas as pd
import pytest

import smoseq as sm
from smoseq.models import HHMM, FullRankEmissions, GroupedTransitions, SyllableData

K, S = 3, 12


def two_group_recordings(ratio: float, per_group: int, frames: int, seed: int = 0, base: float = 20.0):
    """Recordings of groups A and B; state 0 lasts `base` frames in A and `ratio`·`base` in B, the others `base` in both."""
    rng = np.random.default_rng(seed)
    tables = rng.dirichlet(np.full(S, 0.3), size=(K, S))
    probs = np.zeros((2, K, K))
    for g, scale in enumerate((1.0, ratio)):
        durations = np.full(K, base) * np.array([scale, 1.0, 1.0])
        probs[g] = (1 / durations)[:, None] / (K - 1)
        probs[g][np.arange(K), np.arange(K)] = 1 - 1 / durations
    truth = HHMM(FullRankEmissions(tables), GroupedTransitions(probs, ("A", "B")))
    groups = np.repeat([0, 1], per_group)
    states, syllables = truth.simulate(jr.key(seed), 2 * per_group, frames, groups=jnp.asarray(groups))
    names = [f"mouse{i}" for i in range(2 * per_group)]
    return (
        {name: np.asarray(syllables[i]) for i, name in enumerate(names)},
        {name: np.asarray(states[i]) for i, name in enumerate(names)},
        {name: "AB"[g] for name, g in zip(names, groups)},
    )


def fitted_duration_ratios(ratio, per_group, frames, n_iters, use_true_start, seed=0):
    recordings, states, groups = two_group_recordings(ratio, per_group, frames, seed)
    result = sm.fit(recordings, n_states=K, n_iters=n_iters, seed=seed, groups=groups,
                    emissions="full_rank", repeats="model", init_states=states if use_true_start else None,
                    progress=False)  # fmt: skip
    matched = sm.compare_states(states, result.states, K)
    assert matched.accuracy > 0.9
    table = sm.compare_group_dynamics(result, fps=30.0)
    ratios = table[(table.kind == "ratio") & (table.quantity == "duration_frames")].set_index("state")
    fitted_of_true = {int(true): fitted for fitted, true in enumerate(matched.permutation)}
    return result, table, [ratios.loc[fitted_of_true[k]] for k in range(K)], recordings


def test_a_doubled_duration_is_recovered_with_an_interval_excluding_one():
    result, table, ratios, recordings = fitted_duration_ratios(2.0, 4, 2000, 30, use_true_start=True)
    assert result.hyperparameters["kappa"] == 8 * 2000 / K  # the default, "auto"
    predicted = result.predict(recordings)  # the fit's own groups
    agreement = np.mean(np.concatenate([predicted[k] == result.states[k] for k in recordings]))
    assert agreement > 0.9
    only_b = {"mouse5": recordings["mouse5"]}
    np.testing.assert_array_equal(result.predict(only_b, groups={"mouse5": "B"})["mouse5"], predicted["mouse5"])
    with pytest.raises(sm.InputError, match="pass groups="):
        result.predict({"new": recordings["mouse3"]})
    with pytest.raises(sm.InputError, match="'C' are not among the model's groups"):
        result.predict({"new": recordings["mouse3"]}, groups={"new": "C"})
    assert result.transition_samples.shape == (15, 2, K, K)  # burn-in: the first half of 30 iterations
    assert result.group_counts.shape == (15, 8, K, K)  # every recording's counts at the same iterations
    np.testing.assert_allclose(result.group_counts.sum((-1, -2)), 2000 - 1)
    assert abs(ratios[0]["median"] / 2 - 1) < 0.2 and ratios[0]["lower"] > 1
    assert ratios[0]["p_greater"] > 0.99 and ratios[0]["group"] == "B" and ratios[0]["reference"] == "A"
    assert all(ratios[k]["lower"] < 1 < ratios[k]["upper"] for k in (1, 2))  # unchanged states: no difference claimed
    assert set(table.quantity) == {"duration_frames", "duration_seconds", "occupancy", "transition_probability"}
    occupancy = table[(table.kind == "group") & (table.quantity == "occupancy")]
    np.testing.assert_allclose(occupancy.groupby("group")["median"].sum(), 1, atol=0.05)
    assert len(sm.plot_group_dynamics(table).axes) == 4
    with pytest.raises(sm.InputError, match="kept no per-recording state counts"):
        sm.compare_group_dynamics(sm.fit(recordings, n_states=2, n_iters=2, emissions="full_rank", progress=False))


def test_segments_follow_their_recordings_group():
    recordings = {"mouse0": np.arange(500) % S, "mouse1": np.arange(500) % 5}
    groups = {"mouse0": "A", "mouse1": "B"}
    from smoseq.fitting.data import prepare_data
    from smoseq.fitting.groups import with_groups

    prepared, group_of, names = with_groups(prepare_data(recordings, seg_length=200), groups)
    assert names == ("A", "B") and group_of == groups
    expected = [names.index(groups[str(key)]) for key in prepared.keys]
    np.testing.assert_array_equal(prepared.data.groups, expected)
    assert len(expected) == 6 and expected.count(0) == 3
    transitions = GroupedTransitions(np.stack([np.eye(2), np.full((2, 2), 0.5)]), ["A", "B"])
    data = SyllableData(np.zeros((3, 4), int), np.ones((3, 4)), groups=[1, 0, 1])
    assert transitions.transition_matrices(data).shape == (3, 2, 2)
    counts = transitions.statistics(jnp.array([[0, 0, 1, 1], [0, 1, 1, 1], [1, 1, 1, 1]]), data)
    np.testing.assert_array_equal(counts, [[[0, 1], [0, 2]], [[1, 1], [0, 4]]])
    with pytest.raises(ValueError, match="needs the group of every sequence"):
        transitions.transition_matrices(SyllableData(np.zeros((3, 4), int), np.ones((3, 4))))


def test_bad_groups_are_refused_in_one_line(tmp_path):
    recordings = {"a": np.arange(50) % 3, "b": np.arange(50) % 3}
    sheet = tmp_path / "index.csv"
    sheet.write_text("name,group\na,x\n")
    with pytest.raises(sm.InputError, match="no group for recording"):
        sm.fit(recordings, n_states=2, n_iters=1, groups=sheet, progress=False)
    sheet.write_text("name,group\na,x\nb,y\nc,y\n")
    with pytest.raises(sm.InputError, match="'c' match no recording"):
        sm.fit(recordings, n_states=2, n_iters=1, groups=sheet, progress=False)
    with pytest.raises(sm.InputError, match="'z' of the transitions have no recordings"):
        sm.fit(recordings, n_states=2, n_iters=1, groups={"a": "x", "b": "y"}, progress=False,
               transitions=GroupedTransitions.create(["x", "y", "z"], 2))  # fmt: skip
    with pytest.raises(sm.InputError, match="the HDP transitions have one matrix for every recording"):
        sm.fit(recordings, n_states=2, n_iters=1, groups={"a": "x", "b": "y"}, transitions="hdp", progress=False)
    with pytest.raises(sm.InputError, match="needs the group of every recording"):
        sm.fit(recordings, n_states=2, n_iters=1, transitions=GroupedTransitions.create(["x"], 2), progress=False)
    from smoseq.cli import main

    data = tmp_path / "data"
    data.mkdir()
    for name, syllables in recordings.items():
        pd.DataFrame({"syllable": syllables}).to_csv(data / f"{name}.csv", index=False)
    assert main(["fit", str(data), "--out", str(tmp_path / "fit"), "--groups", str(sheet)]) != 0


@pytest.mark.slow
def test_grouped_fit_through_the_cli_writes_the_comparison(tmp_path):
    from smoseq.cli import main

    recordings, _, groups = two_group_recordings(2.0, 2, 1500)
    data = tmp_path / "data"
    data.mkdir()
    for name, syllables in recordings.items():
        pd.DataFrame({"syllable": syllables}).to_csv(data / f"{name}.csv", index=False)
    pd.DataFrame({"name": list(groups), "group": list(groups.values()), "extra": 1}).to_csv(tmp_path / "index.csv", index=False)
    assert main(["fit", str(data), "--out", str(tmp_path / "fit"), "--n-states", "3", "--iters", "6",
                 "--emissions", "full_rank", "--groups", str(tmp_path / "index.csv")]) == 0  # fmt: skip
    table = pd.read_csv(tmp_path / "fit" / "group_dynamics.csv")
    assert {"duration_seconds", "occupancy"} <= set(table.quantity)
    assert (tmp_path / "fit" / "figures" / "group_dynamics.png").is_file()
    loaded = sm.load_fit(tmp_path / "fit")
    assert loaded.transition_samples.shape == (3, 2, 3, 3) and loaded.group_counts.shape == (3, 4, 3, 3)
    expected = sm.compare_group_dynamics(loaded, fps=120.0)  # the CLI's table is the estimator's, from the saved counts
    numbers = ["state", "to_state", "median", "lower", "upper", "p_greater"]
    np.testing.assert_allclose(table[numbers].to_numpy(float), expected[numbers].to_numpy(float), rtol=1e-9)
    assert isinstance(loaded.model.transitions, GroupedTransitions) and loaded.model.transitions.group_names == ("A", "B")
    applied = ["apply", str(tmp_path / "fit"), str(data), "--out", str(tmp_path / "applied")]
    assert main(applied + ["--groups", str(tmp_path / "index.csv")]) == 0
    assert main(applied + ["--force"]) == 0  # the fit's own groups of its recordings


@pytest.mark.slow
def test_planted_effect_recovered_and_none_claimed_where_none_planted():
    # Each 95 % interval of an unplanted ratio misses 1 with probability 0.05, so over the 10
    # such intervals below at most 2 may miss (a calibrated sampler fails this about 1 % of runs).
    covering = []
    for seed in (0, 1):
        _, _, ratios, _ = fitted_duration_ratios(2.0, 4, 5000, 60, use_true_start=False, seed=seed)
        assert abs(ratios[0]["median"] / 2 - 1) < 0.2 and ratios[0]["lower"] > 1
        covering += [ratios[k]["lower"] < 1 < ratios[k]["upper"] for k in (1, 2)]
        _, _, ratios, _ = fitted_duration_ratios(1.0, 4, 5000, 60, use_true_start=False, seed=seed)
        covering += [r["lower"] < 1 < r["upper"] for r in ratios]
    assert sum(covering) >= len(covering) - 2, covering


def test_grouped_models_are_scanned_saved_and_selected_through_the_cli(tmp_path, capsys):
    from smoseq.cli import main

    recordings, _, groups = two_group_recordings(2.0, 2, 600)
    data = tmp_path / "data"
    data.mkdir()
    for name, syllables in recordings.items():
        pd.DataFrame({"syllable": syllables}).to_csv(data / f"{name}.csv", index=False)
    sheet = tmp_path / "index.csv"
    pd.DataFrame({"name": list(groups), "group": list(groups.values())}).to_csv(sheet, index=False)
    scan = tmp_path / "scan"
    arguments = ["scan", str(data), "--out", str(scan), "--kappas", "10", "--seeds", "2", "--n-states", "3",
                 "--iters", "4", "--emissions", "full_rank", "--repeats", "model", "--groups", str(sheet)]  # fmt: skip
    assert main(arguments) == 0
    summary = pd.read_csv(scan / "summary.csv")
    assert len(summary) == 2 and summary.error.isna().all()
    for folder in summary.fit_folder:
        fit = sm.load_fit(scan / folder)
        assert fit.transition_samples.shape == (2, 2, K, K)  # iterations 2 and 3 kept (burn-in 4 // 2), groups A and B
        assert fit.group_counts.shape == (2, 4, K, K)  # and the counts of the 4 recordings' states
        assert fit.hyperparameters["groups"] == groups and fit.hyperparameters["group_names"] == ["A", "B"]
        assert len(sm.compare_group_dynamics(fit, fps=30.0))
    assert main(["select", str(scan), "--kappa", "10", "--no-suggestion"]) == 0
    assert "best seed at kappa 10" in capsys.readouterr().out
    assert main([*arguments[:-1], str(tmp_path / "absent.csv"), "--out", str(tmp_path / "other")]) == 2
    assert "no such group sheet" in capsys.readouterr().err
    assert main([*arguments, "--heldout-folds", "2", "--out", str(tmp_path / "folds")]) == 2
    assert "cannot be combined" in capsys.readouterr().err
