"""Names for states, transition graphs, distances between states and merging them: hand-worked
expectations, round trips through save/load/reorder/merge, and the acceptance case (a true
state split in two is joined first by the dendrogram and recovered by merging)."""

import dataclasses
import json

import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest
from matplotlib.figure import Figure

import smoseq as sm
from smoseq.fitting import FitResult
from smoseq.fitting.merge import low_rank_from_logits, low_rank_logits, lump_transitions, merge_mapping, mixture_tables
from smoseq.metrics import js_divergence, leaving_probabilities, transition_difference, transition_graph, transition_graphs
from smoseq.models import (
    HHMM, FullRankEmissions, GroupedTransitions, HDPTransitions, LowRankEmissions, StickyTransitions,
)  # fmt: skip


def full_rank_hhmm(key, K, S):
    """A full-rank HHMM with random parameters drawn by NumPy (quick)."""
    rng = np.random.default_rng(int(np.asarray(jr.key_data(key)).sum()))
    return HHMM(FullRankEmissions(rng.dirichlet(np.ones(S), size=(K, S))), StickyTransitions(rng.dirichlet(np.ones(K) * 2, size=K)))


def low_rank_hhmm(key, K, S, sigma_bias=1.0):
    """A low-rank HHMM with random parameters drawn by NumPy (no JAX program to compile: quick)."""
    rng = np.random.default_rng(int(np.asarray(jr.key_data(key)).sum()))
    emissions = LowRankEmissions(rng.normal(size=(S, S - 1)), sigma_bias * rng.normal(size=(K - 1, S - 1)))
    return HHMM(emissions, StickyTransitions(rng.dirichlet(np.ones(K) + 5 * np.eye(K)[0], size=K)))


def _result(model, states, **extra):
    return FitResult(model, states, np.zeros(1), np.zeros(0), np.zeros((1, 6), np.int16), {"n_states": model.n_states}, **extra)


# ----------------------------------------------------------------------------- names


def test_state_labels_and_validation():
    assert sm.state_labels(4, {0: "rearing", 3: "grooming"}) == ["rearing", "1", "2", "grooming"]
    result = _result(full_rank_hhmm(jr.key(0), 3, 4), {"a": np.array([0, 1, 2])})
    assert result.state_names == {} and result.state_labels() == ["0", "1", "2"]
    named = sm.name_states(result, {"2": " rear ", 0: "walk"})
    assert named.state_names == {0: "walk", 2: "rear"} and result.state_names == {}
    assert sm.name_states(named, {2: None, 1: "rear"}).state_labels() == ["walk", "rear", "2"]
    for names, message in [({3: "x"}, "unknown state 3"), ({-1: "x"}, "unknown state"), ({0: ""}, "the name is empty"),
                           ({0: "a", 1: "a"}, "'a' is given to states 0 and 1"), ({1: "walk"}, "'walk' is given")]:  # fmt: skip
        with pytest.raises(sm.InputError, match=message):
            sm.name_states(named, names)


def test_names_round_trip_save_load_reorder_merge(tmp_path):
    states = {"a": np.array([0, 1, 1, 2, 2, 2, 3], np.int32)}
    result = _result(full_rank_hhmm(jr.key(1), 4, 5), states)
    result.save(tmp_path / "fit")
    loaded = sm.load_fit(tmp_path / "fit")
    assert loaded.state_names == {} and not (tmp_path / "fit" / "state_names.json").exists()
    named = sm.name_states(loaded, {1: "groom", 2: "rear"})  # loaded from a folder: written there
    assert json.loads((tmp_path / "fit" / "state_names.json").read_text())["names"] == {"1": "groom", "2": "rear"}
    assert sm.load_fit(tmp_path / "fit").state_names == {1: "groom", 2: "rear"}
    reordered = sm.reorder_states(named)  # frames: 2 -> 3, 1 -> 2, then 0, 3
    assert reordered.state_labels() == ["rear", "groom", "2", "3"] and reordered.folder is None  # unnamed: new numbers
    merged = sm.merge_states(named, [[2, 1]])
    assert merged.state_labels() == ["0", "groom+rear", "2"]
    merged.save(tmp_path / "merged")
    assert sm.load_fit(tmp_path / "merged").state_labels() == ["0", "groom+rear", "2"]
    with pytest.raises(sm.InputError, match="other recordings"):
        sm.name_states(_result(full_rank_hhmm(jr.key(1), 4, 5), {"b": np.zeros(3, np.int32)}), {0: "x"}, folder=tmp_path / "fit")


def test_a_bad_names_file_is_refused(tmp_path):
    _result(full_rank_hhmm(jr.key(1), 3, 4), {"a": np.array([0, 1, 2], np.int32)}).save(tmp_path / "fit")
    (tmp_path / "fit" / "state_names.json").write_text('{"format": 1, "names": {"5": "x"}}')
    with pytest.raises(sm.ModelFileError, match="state_names.json: unknown state 5"):
        sm.load_fit(tmp_path / "fit")


# ----------------------------------------------------------------------------- distances


def test_js_distance_on_two_by_two_tables():
    uniform = np.full((2, 2), 0.5)  # usage (½, ½): every pair 1/4
    alternate = np.array([[0.0, 1.0], [1.0, 0.0]])  # usage (½, ½): pairs (0,1), (1,0) each 1/2
    # mixture m = [[1/8, 3/8], [3/8, 1/8]]
    kl_uniform = 2 * 0.25 * np.log2(0.25 / 0.125) + 2 * 0.25 * np.log2(0.25 / 0.375)
    kl_alternate = 2 * 0.5 * np.log2(0.5 / 0.375)
    expected = np.sqrt((kl_uniform + kl_alternate) / 2)  # = 0.5579...
    distances = sm.state_distances(np.stack([uniform, alternate, uniform]))
    assert distances[0, 1] == pytest.approx(expected, abs=1e-9) and distances[1, 0] == pytest.approx(expected, abs=1e-9)
    assert distances[0, 2] == pytest.approx(0.0, abs=1e-9) and np.all(np.diag(distances) == 0)
    assert js_divergence([1.0, 0.0], [0.0, 1.0]) == pytest.approx(1.0)
    # the same tables with different syllable usage differ: usage weights the rows
    usage = np.array([[0.9, 0.1], [0.5, 0.5]])
    assert sm.state_distances(np.stack([uniform, uniform]), usage=usage)[0, 1] > 0.1


def test_ignore_diagonal_drops_repeats():
    tables = np.array([[[0.5, 0.5], [0.5, 0.5]], [[0.9, 0.1], [0.1, 0.9]]])
    assert sm.state_distances(tables, ignore_diagonal=True)[0, 1] == pytest.approx(0.0, abs=1e-9)
    assert sm.state_distances(tables)[0, 1] > 0.1


# ----------------------------------------------------------------------------- merging rules


def test_merge_mapping_and_bad_groups():
    assert merge_mapping(8, [[1, 4], [2, 6]]).tolist() == [0, 1, 2, 3, 1, 4, 2, 5]
    assert merge_mapping(4, [[3, 0]]).tolist() == [0, 1, 2, 0]
    for groups, message in [([[1, 9]], "unknown state 9"), ([[1]], "at least two"), ([[1, 2], [2, 3]], "in two groups"),
                            ("1,2", "lists of states"), ([[1.5, 2]], "unknown state")]:  # fmt: skip
        with pytest.raises(sm.InputError, match=message):
            merge_mapping(4, groups)


def test_lumping_by_hand():
    probs = np.array([[0.8, 0.1, 0.1], [0.2, 0.6, 0.2], [0.3, 0.3, 0.4]])
    weights = np.array([0.5, 0.3, 0.2])
    # states 1 and 2 lumped: row {1,2} = (0.3·[0.2, 0.8] + 0.2·[0.3, 0.7]) / 0.5 = [0.24, 0.76]
    lumped = lump_transitions(probs, np.array([0, 1, 1]), weights)
    np.testing.assert_allclose(lumped, [[0.8, 0.2], [0.24, 0.76]])
    stationary = sm.metrics.stationary_distribution(probs)
    merged_stationary = sm.metrics.stationary_distribution(lump_transitions(probs, np.array([0, 1, 1])))
    np.testing.assert_allclose(merged_stationary, [stationary[0], stationary[1] + stationary[2]], atol=1e-12)


def test_mixture_tables_by_hand():
    # two states with uniform usage over 2 syllables, frame weights 3:1: row mixture 3:1
    tables = np.array([[[0.5, 0.5], [0.5, 0.5]], [[0.1, 0.9], [0.9, 0.1]]])
    mixed, usage = mixture_tables(tables, np.array([0, 0]), np.array([0.75, 0.25]))
    np.testing.assert_allclose(mixed[0], [[0.4, 0.6], [0.6, 0.4]], atol=1e-9)
    np.testing.assert_allclose(usage[0], [0.5, 0.5], atol=1e-9)


def _duplicated(model: HHMM, state: int) -> HHMM:
    """`model` with `state` split into itself and a new last state: same emissions, each half the inflow."""
    K = model.n_states
    probs = np.asarray(model.transitions.probs, dtype=float)
    split = np.zeros((K + 1, K + 1))
    split[:K, :K] = probs
    split[K] = split[state]
    split[:, K] = split[:, state] / 2
    split[:, state] /= 2
    emissions = model.emissions
    if isinstance(emissions, LowRankEmissions):
        base, biases = low_rank_logits(emissions)
        emissions = low_rank_from_logits(base, np.vstack([biases, biases[state]]), emissions)
    else:
        tables = np.asarray(emissions.tables)
        emissions = FullRankEmissions(np.concatenate([tables, tables[state : state + 1]]))
    return HHMM(emissions, StickyTransitions(split))


@pytest.mark.parametrize("make", [low_rank_hhmm, full_rank_hhmm])
def test_merging_a_duplicated_state_gives_the_original_model(make):
    model = make(jr.key(3), 3, 6)
    split = _duplicated(model, 1)
    states = {"a": np.array([0, 1, 3, 3, 2, 1], np.int32)}
    merged = sm.merge_states(_result(split, states), [[1, 3]])
    np.testing.assert_allclose(_tables(merged.model), _tables(model), atol=2e-6)
    np.testing.assert_allclose(merged.model.transitions.probs, model.transitions.probs, atol=1e-6)
    assert merged.states["a"].tolist() == [0, 1, 1, 1, 2, 1] and merged.hyperparameters["n_states"] == 3


def test_low_rank_merge_is_the_closest_table_to_the_mixture():
    model = low_rank_hhmm(jr.key(4), 3, 5, sigma_bias=2.0)
    weights = np.array([0.2, 0.5, 0.3])
    merged = sm.merge_states(_result(model, {"a": np.repeat([0, 1, 1, 1, 1, 1, 2, 2, 2, 0], 10).astype(np.int32)}), [[1, 2]])
    tables = _tables(model)
    target, usage = mixture_tables(tables, np.array([0, 1, 1]), weights)
    got = _tables(merged.model)[1]
    np.testing.assert_allclose(_tables(merged.model)[0], tables[0], atol=2e-6)

    def loss(table):
        return np.sum(usage[1][:, None] * target[1] * np.log(target[1] / table))

    members = [np.asarray(t) for t in tables[1:]]
    assert loss(got) < min(loss(m) for m in members)  # closer to the mixture than either member
    assert loss(got) < loss(np.exp(np.log(members[0]) * 0.625 + np.log(members[1]) * 0.375) /
                           np.exp(np.log(members[0]) * 0.625 + np.log(members[1]) * 0.375).sum(1, keepdims=True))  # fmt: skip


def test_grouped_and_hdp_fits_merge_and_reorder():
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(4), size=(2, 4))
    model = HHMM(FullRankEmissions(rng.dirichlet(np.ones(5), size=(4, 5))), GroupedTransitions(probs, ("A", "B")))
    samples = rng.dirichlet(np.ones(4), size=(7, 2, 4))
    states = {"a": np.array([0, 1, 2, 3, 3], np.int32)}
    counts = rng.integers(0, 9, size=(7, 3, 4, 4)).astype(np.float32)
    result = dataclasses.replace(_result(model, states, transition_samples=samples), group_counts=counts)
    merged = sm.merge_states(result, [[0, 3]])
    # merged state 0 holds 0 and 3: its stays are the counts among {0, 3}, its moves to 1 those from 0 and from 3
    np.testing.assert_allclose(merged.group_counts[2, 1, 0, 0], counts[2, 1][np.ix_([0, 3], [0, 3])].sum())
    np.testing.assert_allclose(merged.group_counts[2, 1, 0, 1], counts[2, 1, 0, 1] + counts[2, 1, 3, 1])
    np.testing.assert_allclose(merged.group_counts[..., 2, 1], counts[..., 2, 1])
    assert merged.group_counts.shape == (7, 3, 3, 3)
    assert merged.model.transitions.probs.shape == (2, 3, 3) and merged.transition_samples.shape == (7, 2, 3, 3)
    np.testing.assert_allclose(np.asarray(merged.model.transitions.probs).sum(-1), 1, atol=1e-6)
    np.testing.assert_allclose(merged.transition_samples[3, 1], lump_transitions(samples[3, 1], np.array([0, 1, 2, 0])))
    reordered = sm.reorder_states(result, by=[3, 0, 1, 2])
    np.testing.assert_allclose(reordered.transition_samples, samples[..., [3, 0, 1, 2], :][..., [3, 0, 1, 2]])
    np.testing.assert_allclose(reordered.group_counts[4, 0, 0, 1], counts[4, 0, 3, 0])
    hdp = HHMM(FullRankEmissions(rng.dirichlet(np.ones(5), size=(4, 5))), HDPTransitions(probs[0], np.array([0.1, 0.2, 0.3, 0.4])))
    merged_hdp = sm.merge_states(_result(hdp, states), [[1, 2]])
    np.testing.assert_allclose(merged_hdp.model.transitions.weights, [0.1, 0.5, 0.4], atol=1e-6)
    assert merged_hdp.model.n_states == 3 and float(jnp.exp(merged_hdp.model.log_init()).sum()) == pytest.approx(1.0)


def test_a_component_without_a_merge_rule_is_refused():
    model = full_rank_hhmm(jr.key(0), 3, 4)

    class Opaque(StickyTransitions):  # a user's subclass may hold more per-state parameters: no rule is assumed
        pass

    opaque = HHMM(model.emissions, Opaque(model.transitions.probs))
    with pytest.raises(sm.InputError, match="cannot merge the states of a Opaque"):
        sm.merge_states(_result(opaque, {"a": np.array([0, 1, 2], np.int32)}), [[0, 1]])


def _tables(model):
    if isinstance(model.emissions, LowRankEmissions):
        base, biases = low_rank_logits(model.emissions)
        logits = base[None] + biases[:, None, :]
        return np.exp(logits - logits.max(-1, keepdims=True)) / np.exp(logits - logits.max(-1, keepdims=True)).sum(-1, keepdims=True)
    return np.asarray(model.emissions.transition_tables(), dtype=float)


# ----------------------------------------------------------------------------- acceptance


def _simulate(model: HHMM, n_sequences: int, n_frames: int, seed: int):
    """(states, syllables), each (N, T), drawn with NumPy (quick, no compilation)."""
    rng = np.random.default_rng(seed)
    probs, tables = np.asarray(model.transitions.probs, float), _tables(model)
    K, S = tables.shape[:2]
    z, x = np.zeros((n_sequences, n_frames), np.int32), np.zeros((n_sequences, n_frames), np.int32)
    for n in range(n_sequences):
        z[n, 0], x[n, 0] = rng.integers(K), rng.integers(S)
        for t in range(1, n_frames):
            z[n, t] = rng.choice(K, p=probs[z[n, t - 1]] / probs[z[n, t - 1]].sum())
            x[n, t] = rng.choice(S, p=tables[z[n, t], x[n, t - 1]] / tables[z[n, t], x[n, t - 1]].sum())
    return z, x


def test_a_split_state_is_joined_first_and_merging_recovers_the_truth():
    """Truth: K = 3. The 'fit': the true state 2 split in two (its bouts alternate between 2 and 3,
    each copy's biases nudged), as a K = 4 fit that over-splits would have it."""
    K, S = 3, 8
    truth = low_rank_hhmm(jr.key(0), K, S, sigma_bias=2.0)
    probs = np.full((K, K), 0.02 / (K - 1)) + 0.98 * np.eye(K) - 0.02 / (K - 1) * np.eye(K)
    truth = HHMM(truth.emissions, StickyTransitions(probs))
    true_states, _ = _simulate(truth, 3, 1500, seed=1)
    split = _duplicated(truth, 2)
    base, biases = low_rank_logits(split.emissions)
    biases[2:] += 0.05 * np.random.default_rng(2).standard_normal((2, S))
    emissions = low_rank_from_logits(base, biases, split.emissions)
    fitted = {}
    for n, sequence in enumerate(true_states):
        bout = np.cumsum(np.r_[True, sequence[1:] != sequence[:-1]])
        fitted[f"r{n}"] = np.where((sequence == 2) & (bout % 2 == 0), 3, sequence).astype(np.int32)
    over_split = _result(HHMM(emissions, split.transitions), fitted)

    first_join = sm.state_linkage(over_split)[0]
    assert sorted(first_join[:2].astype(int).tolist()) == [2, 3]
    assert first_join[2] < 0.1 < sm.state_linkage(over_split)[1, 2]

    merged = sm.merge_states(over_split, [[2, 3]])
    merged_states = np.concatenate([merged.states[f"r{n}"] for n in range(3)])
    assert sm.compare_states(true_states.ravel(), merged_states)[2] == pytest.approx(1.0)
    before = sm.compare_states(true_states.ravel(), np.concatenate(list(fitted.values())))[2]
    assert before < 0.9  # the split costs accuracy; merging wins it back
    np.testing.assert_allclose(_tables(merged.model), _tables(truth), atol=0.02)
    np.testing.assert_allclose(np.asarray(merged.model.transitions.probs), probs, atol=1e-4)


# ----------------------------------------------------------------------------- transition graphs


def test_transition_graphs_by_hand():
    states = {"a": np.array([0, 0, 1, 1, 0, 2, 2, 2]), "b": np.array([2, 2, 1, 0])}
    graphs = transition_graphs(states, num_states=3)
    # bouts a: 0 1 0 2; b: 2 1 0 -> 0->1, 1->0, 0->2, 2->1, 1->0: from 0: {1: 1, 2: 1}; from 1: {0: 2}; from 2: {1: 1}
    np.testing.assert_allclose(graphs.probabilities[0], [[0, 0.5, 0.5], [1, 0, 0], [0, 1, 0]])
    np.testing.assert_allclose(graphs.occupancy[0], np.array([4, 3, 5]) / 12)
    per_group = transition_graphs(states, {"a": "x", "b": "y"}, num_states=3, names={1: "walk"})
    assert per_group.groups == ["x", "y"] and per_group.labels == ["0", "walk", "2"]
    np.testing.assert_allclose(per_group.probabilities[1], [[0, 0, 0], [1, 0, 0], [0, 1, 0]])
    graph = transition_graph(graphs.occupancy[0], graphs.probabilities[0], graphs.labels, threshold=0.6)
    assert sorted(graph.edges) == [(1, 0), (2, 1)] and graph.nodes[1]["occupancy"] == pytest.approx(0.25)
    np.testing.assert_allclose(leaving_probabilities(np.array([[0.5, 0.25, 0.25], [0.1, 0.8, 0.1], [0, 0, 1.0]])),
                               [[0, 0.5, 0.5], [0.5, 0, 0.5], [0, 0, 0]])  # fmt: skip
    with pytest.raises(sm.InputError, match="has no group"):
        transition_graphs(states, {"a": "x"})


def test_credible_edges_of_a_grouped_fit():
    rng = np.random.default_rng(0)
    base = np.array([[0.9, 0.08, 0.02], [0.05, 0.9, 0.05], [0.05, 0.05, 0.9]])
    changed = base.copy()
    changed[0] = [0.9, 0.02, 0.08]  # group B leaves 0 for 2 rather than 1
    samples = np.stack([[base, changed]] * 200) + rng.normal(0, 0.002, (200, 2, 3, 3))
    samples = np.abs(samples) / np.abs(samples).sum(-1, keepdims=True)
    model = HHMM(FullRankEmissions(np.full((3, 4, 4), 0.25)), GroupedTransitions(np.stack([base, changed]), ("A", "B")))
    result = _result(model, {"a": np.array([0, 1, 2], np.int32)}, transition_samples=samples)
    result.hyperparameters["group_names"] = ["A", "B"]
    graphs = transition_graphs(result)
    assert graphs.groups == ["A", "B"] and graphs.samples.shape == (200, 2, 3, 3)
    _, difference, credible = transition_difference(graphs, "A", "B")
    assert difference[0, 2] == pytest.approx(0.6, abs=0.02) and difference[0, 1] == pytest.approx(-0.6, abs=0.02)
    assert credible[0, 1] and credible[0, 2] and not credible[1, 2] and not credible[1, 0]
    with pytest.raises(sm.InputError, match="unknown group 'C'"):
        transition_difference(graphs, "A", "C")
    figure = sm.plot_transition_graph_difference("A", "B", source=result, threshold=0.0)  # every edge drawn
    styles = [p.get_linestyle() for p in figure.axes[0].patches]
    assert isinstance(figure, Figure) and styles.count("solid") == credible.sum() and styles.count("dashed") == 6 - credible.sum()


def test_figures_are_returned_not_shown():
    states = {"a": np.array([0, 0, 1, 1, 0, 2, 2, 2]), "b": np.array([2, 2, 1, 0])}
    groups = {"a": "x", "b": "y"}
    result = _result(full_rank_hhmm(jr.key(0), 3, 4), states, state_names={0: "rear"})
    for figure in (sm.plot_transition_graph(result, groups), sm.plot_transition_graph(states, layout="spring"),
                   sm.plot_transition_graph_difference(states, {"c": np.array([0, 2, 1])}),
                   sm.plot_transition_graph_difference("x", "y", source=states, groups=groups),
                   sm.plot_state_dendrogram(result)):  # fmt: skip
        assert isinstance(figure, Figure)
    texts = [t.get_text() for t in sm.plot_transition_graph(result).axes[0].texts]
    assert "rear" in texts and "1" in texts
    ticks = [t.get_text() for t in sm.plot_state_dendrogram(result).axes[0].get_xticklabels()]
    assert sorted(ticks) == ["1", "2", "rear"]


def test_names_on_the_axes_of_other_figures():
    states = {"a": np.array([0, 0, 1, 1, 0, 2, 2, 2])}
    names = {0: "rear"}
    assert sm.viz.plot_syllable_tables(np.full((3, 4, 4), 0.25), labels=names).axes[0].get_title() == "rear"
    ticks = [t.get_text() for t in sm.viz.plot_frequencies(states, labels=names).axes[0].get_xticklabels()]
    assert ticks == ["rear", "1", "2"]
    ticks = [t.get_text() for t in sm.viz.plot_transition_matrix(np.eye(3), labels=names).axes[0].get_yticklabels()]
    assert ticks == ["rear", "1", "2"]
    ticks = [t.get_text() for t in sm.viz.plot_bout_durations(states, 10.0, labels=["a", "b", "c"]).axes[0].get_xticklabels()]
    assert ticks == ["a", "b", "c"]
    with pytest.raises(sm.InputError, match="3 labels"):
        sm.viz.plot_frequencies(states, labels=["a"])


def test_names_on_the_state_history_and_the_ethogram():
    history = np.array([[0, 0, 1, 2], [0, 1, 1, 2]])
    figure = sm.viz.plot_state_history(history, 10.0, n_states=3, labels={2: "groom"})
    colorbar = figure.axes[1]  # the heatmap, then its colour bar
    assert [t.get_text() for t in colorbar.get_yticklabels()] == ["0", "1", "groom"]
    plain = sm.viz.plot_state_history(history, 10.0, n_states=3).axes[1]
    assert [t.get_text() for t in plain.get_yticklabels()] == ["0", "1", "2"]

    states, syllables = np.array([0, 0, 2, 2, 2, 0]), np.array([1, 1, 0, 3, 3, 2])
    legend = sm.viz.plot_ethogram(states, syllables, 10.0, n_states=3, labels=["rear", "walk", "groom"]).axes[1].get_legend()
    assert [t.get_text() for t in legend.get_texts()] == ["rear", "groom"]  # the states shown, in order
    legend = sm.viz.plot_ethogram(states, syllables, 10.0).axes[1].get_legend()
    assert [t.get_text() for t in legend.get_texts()] == ["state 0", "state 2"]
    with pytest.raises(sm.InputError, match="3 labels"):
        sm.viz.plot_ethogram(states, syllables, 10.0, n_states=3, labels=["rear"])


def test_movie_file_names():
    assert sm.viz.movie_file_name(3) == "state3.mp4"
    assert sm.viz.movie_file_name(3, {0: "rear"}) == "state3.mp4"
    assert sm.viz.movie_file_name(3, {3: "grooming"}) == "state3_grooming.mp4"
    assert sm.viz.movie_file_name(3, {"3": "head bob/left"}) == "state3_head_bob_left.mp4"
    assert sm.viz.movie_file_name(0, {0: "///"}) == "state0.mp4"  # nothing usable left: the number alone


def _grouped(state_names):
    """A stand-in grouped fit: 2 recordings (groups A, B), K = 2, one kept sample of counts."""
    from types import SimpleNamespace

    counts = np.array([[[[8.0, 2.0], [1.0, 4.0]], [[6.0, 1.0], [3.0, 5.0]]]])  # (1, R=2, K=2, K=2)
    hyper = {"groups": {"r0": "A", "r1": "B"}, "group_names": ["A", "B"]}
    return SimpleNamespace(group_counts=counts, hyperparameters=hyper, state_names=state_names)


def test_group_dynamics_and_covariate_effects_carry_the_names():
    from types import SimpleNamespace

    plain = sm.compare_group_dynamics(_grouped({}), fps=10.0)
    assert list(plain.columns) == sm.metrics.group_dynamics.COLUMNS
    named = sm.compare_group_dynamics(_grouped({1: "groom"}), fps=10.0)
    assert list(named.columns) == sm.metrics.group_dynamics.COLUMNS + ["state_name", "to_state_name"]
    assert named[plain.columns].equals(plain)  # the numbers are unchanged
    for row in named.itertuples():
        assert row.state_name == ["0", "groom"][row.state]
        assert row.to_state_name == ("" if row.to_state < 0 else ["0", "groom"][row.to_state])
    assert set(named.loc[named["quantity"] == "transition_probability", "to_state_name"]) == {"0", "groom"}

    draws = np.random.default_rng(0).uniform(1, 50, size=(4, 3, 2, 2, 2))  # (D, R, U, K, K): draws, recordings, inputs
    counts = draws.mean(0)
    transitions = SimpleNamespace(names=["light"], centre=np.array([0.5]))
    model = SimpleNamespace(transitions=transitions)
    rows = np.array([[0.0], [1.0]])
    fit = SimpleNamespace(feature_counts=counts, feature_draws=draws, feature_rows=rows, model=model, state_names={0: "rest"})
    table = sm.compare_covariate_effects(fit)
    assert list(table.columns[-2:]) == ["state_name", "to_state_name"]
    for row in table.itertuples():
        assert row.state_name == ["rest", "1"][row.state]
        assert row.to_state_name == ("" if row.to_state < 0 else ["rest", "1"][row.to_state])
    unnamed = SimpleNamespace(feature_counts=counts, feature_draws=draws, feature_rows=rows, model=model, state_names={})
    assert list(sm.compare_covariate_effects(unnamed).columns) == list(table.columns[:-2])
