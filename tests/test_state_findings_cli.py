"""`smoseq label`, `smoseq merge` and the state findings in `smoseq stats`, end to end on a hand-made fit folder
(no sampling, so the tests are fast), and their one-line errors."""

import json

import numpy as np
import pandas as pd
import pytest

import smoseq as sm
from smoseq.cli import main
from smoseq.fitting import FitResult
from smoseq.cli.stats_commands import StatsResult, state_drawings
from smoseq.models import HHMM, FullRankEmissions, GroupedTransitions, StickyTransitions

K, S = 4, 5


@pytest.fixture()
def fit_folder(tmp_path):
    """fit/ (K = 4 full-rank, states 1 and 3 with the same table), data/ (CSV per recording) and index.csv."""
    rng = np.random.default_rng(0)
    tables = rng.dirichlet(np.ones(S), size=(K, S))
    tables[3] = tables[1]
    states = {f"m{i}": np.repeat(rng.integers(0, K, 40), 10).astype(np.int32) for i in range(4)}
    result = FitResult(
        HHMM(FullRankEmissions(tables), StickyTransitions(np.full((K, K), 0.1) + 0.6 * np.eye(K))),
        states, np.zeros(1), np.zeros(0), np.zeros((1, 10), np.int16), {"n_states": K}, info={"fps": 10.0},
    )  # fmt: skip
    result.save(tmp_path / "fit")
    (tmp_path / "data").mkdir()
    for name, array in states.items():
        xy = 50 + np.cumsum(rng.normal(size=(len(array), 2)), axis=0)
        frame = pd.DataFrame({"syllable": rng.integers(0, S, len(array)), "x": xy[:, 0], "y": xy[:, 1]})
        frame.to_csv(tmp_path / "data" / f"{name}.csv", index=False)
    (tmp_path / "index.csv").write_text("name,group\nm0,A\nm1,A\nm2,B\nm3,B\n")
    return tmp_path


def _error(capsys, args, *fragments):
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    for fragment in fragments:
        assert fragment in err, err


def test_label_writes_names_the_fit_loads(fit_folder, capsys):
    fit = str(fit_folder / "fit")
    assert main(["label", fit, "0=rearing", "3=grooming"]) == 0
    saved = json.loads((fit_folder / "fit" / "state_names.json").read_text())
    assert saved == {"format": 1, "names": {"0": "rearing", "3": "grooming"}}
    assert main(["label", fit, "1=walk"]) == 0  # adds to the names already there
    assert sm.load_fit(fit).state_labels() == ["rearing", "walk", "2", "grooming"]
    assert "3: grooming" in capsys.readouterr().out


@pytest.mark.parametrize(
    "pairs, fragment",
    [(["7=x"], "unknown state 7"), (["0=a", "1=a"], "'a' is given to states 0 and 1"), (["0="], "state 0: the name is empty"),
     (["rearing"], "expected STATE=NAME"), (["x=a"], "expected STATE=NAME")],
)  # fmt: skip
def test_label_bad_input_is_one_line(fit_folder, capsys, pairs, fragment):
    _error(capsys, ["label", str(fit_folder / "fit"), *pairs], fragment)
    assert not (fit_folder / "fit" / "state_names.json").exists()


def test_merge_writes_a_fit_that_loads(fit_folder, capsys):
    fit, out = str(fit_folder / "fit"), str(fit_folder / "merged")
    assert main(["label", fit, "1=groom", "3=groom again"]) == 0
    assert main(["merge", fit, "--states", "1,3", "--out", out]) == 0
    merged = sm.load_fit(out)
    original = sm.load_fit(fit)
    assert merged.n_states == 3 and merged.state_labels() == ["0", "groom+groom again", "2"]
    mapping = np.array([0, 1, 2, 1])
    assert all(np.array_equal(merged.states[n], mapping[original.states[n]]) for n in original.states)
    tables = np.asarray(original.model.emissions.transition_tables())
    np.testing.assert_allclose(np.asarray(merged.model.emissions.transition_tables())[1], tables[1], atol=1e-6)
    assert (fit_folder / "merged" / "figures" / "state_dendrogram.png").is_file()
    _error(capsys, ["merge", fit, "--states", "1,3", "--out", out], "already holds a fit")


@pytest.mark.parametrize(
    "groups, fragment",
    [(["1,9"], "unknown state 9"), (["1"], "at least two different states"), (["1,2", "2,3"], "state 2 is in two groups"),
     (["1;2"], "comma-separated state numbers")],
)  # fmt: skip
def test_merge_bad_input_is_one_line(fit_folder, capsys, groups, fragment):
    _error(capsys, ["merge", str(fit_folder / "fit"), "--states", *groups, "--out", str(fit_folder / "m")], fragment)
    assert not (fit_folder / "m").exists()


def test_stats_shows_names_graphs_and_dendrogram(fit_folder):
    fit = str(fit_folder / "fit")
    assert main(["label", fit, "0=rearing"]) == 0
    out = fit_folder / "stats"
    args = ["stats", fit, "--data", str(fit_folder / "data"), "--groups", str(fit_folder / "index.csv"), "--out", str(out)]
    assert main(args) == 0
    figures = {p.name for p in (out / "figures").glob("*.png")}
    assert {"transition_graph.png", "transition_graph_B_vs_A.png", "state_dendrogram.png"} <= figures
    behaviour = pd.read_csv(out / "behaviour.csv")
    assert behaviour.columns.tolist()[behaviour.columns.get_loc("state") + 1] == "state_name"
    assert set(behaviour.loc[behaviour.state == 0, "state_name"]) == {"rearing"}
    assert set(behaviour.loc[behaviour.state == 2, "state_name"]) == {"2"}
    report = (out / "index.html").read_text()
    assert "State names: 0 rearing." in report and "figures/state_dendrogram.png" in report


def test_csv_export_carries_the_names(fit_folder):
    fit = fit_folder / "fit"
    loaded = sm.load_fit(fit)
    names = list(loaded.states)  # the syllables `smoseq fit` keeps beside the fit
    np.savez(fit / "syllables.npz", names=np.array(names), **{f"syllables_{i}": np.zeros(len(loaded.states[n]), np.int32)
                                                            for i, n in enumerate(names)})  # fmt: skip
    assert main(["label", str(fit), "2=rear"]) == 0
    assert main(["export", str(fit), "--csv", "--out", str(fit_folder / "csv")]) == 0
    table = pd.read_csv(fit_folder / "csv" / "m0.csv", keep_default_na=False)
    assert table.columns.tolist() == ["frame", "syllable", "state", "state_name"]
    expected = np.where(table["state"] == 2, "rear", table["state"].astype(str))
    assert (table["state_name"].to_numpy() == expected).all()


def test_stats_of_a_grouped_fit_draws_the_difference_from_its_samples(fit_folder):
    rng = np.random.default_rng(1)
    loaded = sm.load_fit(fit_folder / "fit")
    probs = np.stack([np.full((K, K), 0.1) + 0.6 * np.eye(K)] * 2)
    grouped = FitResult(
        HHMM(loaded.model.emissions, GroupedTransitions(probs, ("A", "B"))), loaded.states, np.zeros(1), np.zeros(0),
        np.zeros((1, 10), np.int16), {"n_states": K, "group_names": ["A", "B"], "groups": {"m0": "A", "m1": "A", "m2": "B", "m3": "B"}},
        info={"fps": 10.0}, transition_samples=rng.dirichlet(np.ones(K) * 20, size=(30, 2, K)),
    )  # fmt: skip
    grouped.save(fit_folder / "grouped")
    out = fit_folder / "grouped_stats"
    args = ["stats", str(fit_folder / "grouped"), "--data", str(fit_folder / "data"), "--groups", str(fit_folder / "index.csv"),
            "--out", str(out)]  # fmt: skip
    assert main(args) == 0
    assert {"transition_graph.png", "transition_graph_B_vs_A.png"} <= {p.name for p in (out / "figures").glob("*.png")}
    computed = StatsResult(pd.DataFrame(), pd.DataFrame(), grouped.states, {}, 10.0, K, groups=grouped.hyperparameters["groups"],
                           reference="A", fit=sm.load_fit(fit_folder / "grouped"))  # fmt: skip
    figure = state_drawings(computed)["transition_graph_B_vs_A"]()
    legend = [text.get_text() for text in figure.axes[0].get_legend().get_texts()]
    assert "95% interval excludes 0" in legend  # drawn from the posterior samples, not the decoded states


def test_label_adds_the_names_to_the_tables_the_fit_wrote(fit_folder, capsys):
    from smoseq.metrics.group_dynamics import COLUMNS, group_dynamics_table

    fit = fit_folder / "fit"
    states = sm.load_fit(fit).states
    counts = sm.metrics.group_dynamics.transition_counts([states[f"m{i}"] for i in range(4)], K)
    table = group_dynamics_table(counts, np.array([0, 0, 1, 1]), ["A", "B"], fps=10.0)
    (fit / "group_dynamics.csv").write_text(table.to_csv(index=False))  # as `smoseq fit --groups` leaves it
    assert main(["label", str(fit), "0=rearing", "3=grooming"]) == 0
    assert "added the state names to" in capsys.readouterr().out
    named = pd.read_csv(fit / "group_dynamics.csv", keep_default_na=False)
    assert list(named.columns) == COLUMNS + ["state_name", "to_state_name"]
    labels = ["rearing", "1", "2", "grooming"]
    assert list(named["state_name"]) == [labels[k] for k in named["state"]]
    assert list(named["to_state_name"]) == [labels[k] if k >= 0 else "" for k in named["to_state"]]
    assert np.allclose(named["median"], table["median"])
    assert main(["label", str(fit), "1=walk"]) == 0  # renaming replaces the columns
    named = pd.read_csv(fit / "group_dynamics.csv", keep_default_na=False)
    assert list(named.columns) == COLUMNS + ["state_name", "to_state_name"]
    assert "walk" in set(named["state_name"])


def test_fit_figures_get_the_names(fit_folder, monkeypatch):
    from smoseq import viz
    from smoseq.cli.commands import write_fit_figures

    fit = fit_folder / "fit"
    assert main(["label", str(fit), "2=groom"]) == 0
    seen = {}
    for name in ("plot_state_history", "plot_ethogram"):
        original = getattr(viz, name)
        monkeypatch.setattr(viz, name, lambda *a, _f=original, _n=name, **kw: seen.setdefault(_n, kw) and _f(*a, **kw))
    syllables = {f"m{i}": pd.read_csv(fit_folder / "data" / f"m{i}.csv")["syllable"].to_numpy() for i in range(4)}
    write_fit_figures(fit, sm.load_fit(fit), syllables, 10.0)
    assert seen["plot_state_history"]["labels"] == ["0", "1", "groom", "3"]
    assert seen["plot_ethogram"]["labels"] == ["0", "1", "groom", "3"]
