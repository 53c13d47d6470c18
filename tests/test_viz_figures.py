"""Every figure runs on small inputs, returns a Figure and saves a PNG."""

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

import smoseq.viz as viz
from smoseq.viz._comparison import _match

FPS = 30


@pytest.fixture(scope="module")
def states():
    rng = np.random.default_rng(0)

    def runs(n_frames, n_states):
        return np.repeat(rng.integers(0, n_states, n_frames), rng.integers(5, 60, n_frames))[:n_frames]

    return {f"rec{i}.csv": runs(900, 5) for i in range(3)}


def relabelled(states, permutation):
    return {k: np.asarray(permutation)[v] for k, v in states.items()}


def save(figure, tmp_path, name):
    assert isinstance(figure, Figure)
    path = tmp_path / f"{name}.png"
    figure.savefig(path, dpi=60)
    assert path.stat().st_size > 1000


def test_training_figures(tmp_path, states):
    save(viz.plot_emission_losses(np.exp(-np.arange(800) / 90.0), tail_from=500), tmp_path, "losses")
    save(viz.plot_emission_losses(np.ones((3, 50)), tail_from=500), tmp_path, "losses_batch")  # tail clamped
    save(viz.plot_log_probs(-1e4 + np.log1p(np.arange(100)), tail_from=50), tmp_path, "log_probs")
    history = np.stack([states["rec0.csv"]] * 12)
    save(viz.plot_state_history(history, FPS, start=0, end=600), tmp_path, "history")


def test_timescale_figures(tmp_path, states):
    lags = np.unique(np.logspace(0, 2.5, 12).astype(int))
    rng = np.random.default_rng(1)
    real = 0.5 * lags[None] ** -0.5 * (1 + 0.1 * rng.random((4, lags.size)))
    markov, shuffle = real * np.exp(-lags / 10.0), np.full((4, lags.size), 1e-4)
    save(viz.plot_lagged_mi(lags, real, markov, shuffle, FPS), tmp_path, "mi")
    figure = viz.plot_durations(states, FPS)
    durations = np.concatenate([np.diff(np.flatnonzero(np.diff(np.r_[-1, s, -1]) != 0)) for s in states.values()])
    assert f"{np.median(durations / FPS):.2f}" in figure.axes[0].get_title()
    save(figure, tmp_path, "durations")
    save(viz.plot_durations(np.array([30, 60, 90]), FPS, max_seconds=5), tmp_path, "durations_array")


def test_usage_figures(tmp_path, states):
    save(viz.plot_frequencies(states, cutoff=0.02), tmp_path, "frequencies")
    save(viz.plot_frequencies(states, n_states=8, cutoff=0.01), tmp_path, "frequencies_unused")
    counts = np.random.default_rng(2).integers(0, 20, (5, 5))
    save(viz.plot_transition_matrix(counts, title="bout-level transitions"), tmp_path, "bout_transitions")
    sticky = np.full((5, 5), 0.001) + np.eye(5)
    save(viz.plot_transition_matrix(sticky, exclude_diagonal=True), tmp_path, "hidden_transitions")
    syllables = np.random.default_rng(3).integers(0, 20, 900)
    save(viz.plot_ethogram(states["rec0.csv"], syllables, FPS, start=100, title="rec0"), tmp_path, "ethogram")


def test_model_figures(tmp_path):
    tables = np.random.default_rng(4).dirichlet(np.ones(8), size=(3, 8))
    save(viz.plot_syllable_tables(tables), tmp_path, "tables")
    save(viz.plot_syllable_tables(tables, n_cols=2, relative=True), tmp_path, "tables_relative")


def test_comparison_figures(tmp_path, states):
    other = relabelled(states, [2, 0, 4, 1, 3])
    save(viz.plot_confusion(states, other), tmp_path, "confusion")
    save(viz.plot_alluvial(states, other, labels=("seed 0", "seed 1")), tmp_path, "alluvial")
    noisy = {k: np.where(np.arange(v.size) % 7 == 0, 5, v) for k, v in states.items()}  # 6 states vs 5
    save(viz.plot_confusion(states, noisy), tmp_path, "confusion_unequal")
    save(viz.plot_alluvial(states, noisy), tmp_path, "alluvial_unequal")


def test_matching_undoes_a_relabelling(states):
    permutation = [2, 0, 4, 1, 3]
    match = _match(states, relabelled(states, permutation), None, None)
    assert match.agreement == 1.0
    assert list(match.order) == permutation
    np.testing.assert_array_equal(match.colors2[permutation], match.colors1)  # partners share colours


def test_scan_figure(tmp_path):
    rng = np.random.default_rng(5)
    rows = [
        dict(kappa=k, n_states=n, seed=s, final_log_prob=-1e4 + np.log(k) + rng.normal(), median_duration_s=np.log(k))
        for k in (1e3, 1e4, 1e5) for n in (5, 10) for s in range(3)
    ]  # fmt: skip
    save(viz.plot_scan(pd.DataFrame(rows)), tmp_path, "scan")
    with pytest.raises(ValueError, match="median_duration_s"):
        viz.plot_scan(pd.DataFrame(rows).drop(columns="median_duration_s"))


def test_state_colors_are_consistent():
    assert viz.state_colors(12).shape == (12, 4)
    np.testing.assert_array_equal(viz.state_colors(5), viz.state_colors(10)[:5])
    np.testing.assert_array_equal(viz.state_colors(10), viz.state_colors(20)[:10])
    assert len({tuple(c) for c in viz.state_colors(40)}) == 40


def test_bad_figure_inputs_are_explained(states):
    with pytest.raises(ValueError, match="n_states is 3"):
        viz.plot_frequencies(states, n_states=3)
    with pytest.raises(ValueError, match="square"):
        viz.plot_transition_matrix(np.ones((3, 4)))
    with pytest.raises(ValueError, match="differ in length"):
        viz.plot_confusion(states, {k: v[:-1] for k, v in states.items()})


def test_jax_arrays_are_accepted(tmp_path, states):
    import jax.numpy as jnp

    lags = jnp.logspace(0, 2, 6).astype(int)
    mi = jnp.ones((3, 6)) / (1.0 + lags)
    save(viz.plot_lagged_mi(lags, mi, mi / 2, mi / 10, FPS), tmp_path, "mi_jax")
    save(viz.plot_state_history(jnp.asarray(np.stack([states["rec1.csv"]] * 3)), FPS), tmp_path, "history_jax")
    save(viz.plot_frequencies({k: jnp.asarray(v) for k, v in states.items()}), tmp_path, "frequencies_jax")
