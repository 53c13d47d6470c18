"""Choosing the number of states the published way: the most reproducible n_states across seeds."""

import itertools

import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

import smoseq as sm
from smoseq.io.fit_folders import load_states
from smoseq.models import HHMM, FullRankEmissions, StickyTransitions
from smoseq.scan import ScanSettings, load_summary, run_scan, suggest_n_states


@pytest.fixture(scope="module")
def scan(tmp_path_factory):
    """Two well-separated true states (disjoint syllables), scanned at n_states 2 and 4 with three seeds."""
    tables = np.full((2, 6, 6), 1e-3)
    tables[0, :, :3], tables[1, :, 3:] = 1.0, 1.0
    tables /= tables.sum(-1, keepdims=True)
    truth = HHMM(FullRankEmissions(tables), StickyTransitions(jnp.array([[0.99, 0.01], [0.01, 0.99]])))
    _, syllables = truth.simulate(jr.key(0), 3, 600)
    recordings = {f"r{i}": np.asarray(x) for i, x in enumerate(syllables)}
    folder = tmp_path_factory.mktemp("scan") / "scan"
    settings = ScanSettings(n_iters=8, emissions="full_rank", repeats="model")
    run_scan(recordings, folder, n_states=[2, 4], kappas=[100.0], seeds=[0, 1, 2], settings=settings, say=lambda _: None)
    return folder


def test_the_most_reproducible_n_states_is_suggested_with_the_states_it_uses(scan):
    suggestion = suggest_n_states(scan)
    table = suggestion.table.set_index("n_states")
    assert table.index.tolist() == [2, 4] and (table["n_seeds"] == 3).all()
    assert suggestion.n_states == int(table["median_adjusted_rand"].idxmax())
    summary = load_summary(scan, write=False)
    for n_states in (2, 4):  # every number from the seeds' own states
        states = [load_states(scan / f) for f in summary[summary["n_states"] == n_states]["fit_folder"]]
        pairs = [sm.get_adjusted_rand(a, b, 10) for a, b in itertools.combinations(states, 2)]
        assert table.loc[n_states, "median_adjusted_rand"] == pytest.approx(np.median(pairs))
        used = [int((sm.get_frequencies(s, n_states) >= 0.02).sum()) for s in states]
        assert table.loc[n_states, "median_effective_states"] == np.median(used)
        if n_states == suggestion.n_states:
            assert suggestion.effective_states == used
            assert f"n_states={n_states}" in suggestion.rule and str(used) in suggestion.rule
            assert ("report the" in suggestion.rule) == (max(used) < n_states)
    # two true states: however many are offered, the seeds use about two of them
    assert (table["median_effective_states"] <= 3).all()


def test_a_kappa_without_models_is_refused(scan):
    with pytest.raises(sm.InputError, match="no n_states has two fitted seeds"):
        suggest_n_states(scan, kappa=5.0)


def test_smoseq_select_prints_the_n_states_suggestion(scan, tmp_path, capsys):
    from smoseq.cli import main

    assert main(["select", str(scan), "--no-suggestion", "--out", str(tmp_path / "sel")]) == 0
    assert main(["select", str(scan), "--out", str(tmp_path / "sel"), "--fps", "30"]) == 0
    printed = capsys.readouterr().out
    assert "suggested n_states=" in printed and "median_adjusted_rand" in printed
    assert (tmp_path / "sel" / "n_states.csv").read_text().startswith("n_states,kappa,n_seeds")
    assert (tmp_path / "sel" / "n_states.png").stat().st_size > 0


def test_the_n_states_figure_draws_a_line_per_seed(scan):
    from smoseq.scan import plot_n_states_selection

    suggestion = suggest_n_states(scan)
    figure = plot_n_states_selection(suggestion)
    ranked = figure.axes[0]
    assert len(ranked.lines) == 3 * 2 + 1  # 3 seeds × 2 n_states, and the 2 % line
    assert sorted(len(line.get_xdata()) for line in ranked.lines[:-1]) == [2, 2, 2, 4, 4, 4]


def test_n_states_ranges_on_the_command_line():
    from smoseq.cli.scan_commands import _integers

    assert _integers("2:5", "n-states", False) == [2, 3, 4, 5]
    assert _integers("3,6", "n-states", False) == [3, 6]
    with pytest.raises(sm.InputError, match="range A:B"):
        _integers("5:2", "n-states", False)
