"""Figures of behaviour per state and of groups: each drawn from small inputs and saved."""

import numpy as np
import pytest

import smoseq as sm
from smoseq import viz


@pytest.fixture(scope="module")
def small():
    rng = np.random.default_rng(0)
    states = {f"r{i}": np.repeat(rng.integers(0, 3, 30), 20) for i in range(6)}
    centroids = {name: rng.normal(size=(600, 2)).cumsum(0) for name in states}
    groups = {name: "AB"[i % 2] for i, name in enumerate(states)}
    table = sm.behaviour_table(states, 20.0, centroids, num_states=3)
    return states, centroids, groups, table, sm.compare_groups(table, groups)


def _saved(figure, path):
    figure.savefig(path)
    assert path.stat().st_size > 1000
    return figure


def test_behaviour_figures_are_saved(small, tmp_path):
    states, centroids, _, _, _ = small
    occupancy = _saved(viz.plot_occupancy(states, centroids, n_states=4, bins=8), tmp_path / "occupancy.png")
    assert sum(ax.get_visible() for ax in occupancy.axes) == 4
    _saved(viz.plot_state_speeds(states, centroids, 20.0), tmp_path / "speeds.png")
    bouts = _saved(viz.plot_bout_durations(states, 20.0), tmp_path / "bouts.png")
    assert f"({len(sm.bout_table(states, 20.0))} bouts)" in bouts.axes[0].get_title()


def test_group_figures_are_saved_with_marks(small, tmp_path):
    states, _, groups, table, statistics = small
    marked = statistics.assign(p_corrected=np.where(statistics["state"] == 1, 0.004, 0.5))
    figure = _saved(viz.plot_group_metric(table, groups, "median_bout_s", marked), tmp_path / "metric.png")
    assert [t.get_text() for t in figure.axes[0].texts] == ["**"]
    _saved(viz.plot_group_transitions(states, groups, reference="B"), tmp_path / "transitions.png")
    three = {name: "ABC"[i % 3] for i, name in enumerate(states)}
    _saved(viz.plot_group_transitions(states, three), tmp_path / "transitions3.png")


def test_figure_inputs_are_checked(small):
    states, centroids, groups, table, _ = small
    with pytest.raises(ValueError, match="no centroid track"):
        viz.plot_occupancy(states, {})
    with pytest.raises(ValueError, match="no column"):
        viz.plot_group_metric(table, groups, "speed")
    with pytest.raises(ValueError, match="reference group 'C'"):
        viz.plot_group_transitions(states, groups, reference="C")
