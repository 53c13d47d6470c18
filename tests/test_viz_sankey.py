"""The published interactive Sankey diagram: a plotly figure whose links are shares of all frames."""

import numpy as np
import plotly.graph_objects as go
import pytest

import smoseq as sm


def test_links_carry_the_share_of_frames_of_each_pair_of_states():
    states1 = {"a": np.array([0, 0, 1]), "b": np.array([1, 1])}
    states2 = {"a": np.array([1, 1, 0]), "b": np.array([0, 1])}
    # pairs (s1, s2): (0,1) (0,1) (1,0) (1,0) (1,1) -> shares 2/5, 2/5, 1/5
    figure = sm.plot_sankey(states1, states2)
    assert isinstance(figure, go.Figure)
    (sankey,) = figure.data
    assert sankey.type == "sankey"
    assert list(sankey.node.label) == ["state 0", "state 1", "state 0", "state 1"]
    links = {(s, t): v for s, t, v in zip(sankey.link.source, sankey.link.target, sankey.link.value)}
    assert list(links) == [(0, 2), (0, 3), (1, 2), (1, 3)]  # every pair; right-hand nodes offset by K1 = 2
    assert links[(0, 2)] == 0
    assert links[(0, 3)] == pytest.approx(2 / 5)
    assert links[(1, 2)] == pytest.approx(2 / 5)
    assert links[(1, 3)] == pytest.approx(1 / 5)
    assert list(sankey.link.color) == [sankey.node.color[source] for source in sankey.link.source]
    assert np.reshape(sankey.link.value, (2, 2)) == pytest.approx(np.array([[0, 2], [2, 1]]) / 5)
    figure.update_layout(width=600)  # what the published scan tutorial does with it
    assert figure.layout.width == 600


def test_different_numbers_of_states_and_side_labels():
    figure = sm.plot_sankey(np.array([0, 0, 1, 1, 2, 2]), np.array([0, 0, 0, 1, 1, 1]), labels=("K=3", "K=2"))
    (sankey,) = figure.data
    assert len(sankey.node.label) == 5 and sankey.node.label[0] == "K=3: state 0" and sankey.node.label[4] == "K=2: state 1"
    assert sum(sankey.link.value) == pytest.approx(1.0)
