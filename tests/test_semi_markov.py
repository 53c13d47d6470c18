"""Explicit-duration (semi-Markov) states: the phase-expanded chain, its conjugate update, phase-shared emissions, fits."""

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest
from scipy import stats

import smoseq as sm
from smoseq.inference.states import marginal_logliks
from smoseq.models import (
    HHMM,
    FullRankEmissions,
    PhaseEmissions,
    PhaseTableEmissions,
    SemiMarkovTransitions,
    StickyTransitions,
    SyllableData,
    lookup_tables,
    phase_emissions,
    reduce_phase_counts,
)

SWITCH = np.array([[0.0, 0.3, 0.7], [0.5, 0.0, 0.5], [0.9, 0.1, 0.0]])
STAY = np.array([0.8, 0.6, 0.9])


@pytest.mark.parametrize("n_phases", [1, 2, 4])
def test_expanded_matrix_rows_sum_to_one_and_imply_the_negative_binomial(n_phases):
    transitions = SemiMarkovTransitions(SWITCH, STAY, n_phases)
    matrix = np.asarray(transitions.transition_matrices(None), dtype=float)
    r, durations = n_phases, np.arange(1, 120)
    assert matrix.shape == (3 * r, 3 * r)
    np.testing.assert_allclose(matrix.sum(1), 1.0, atol=1e-6)
    fitted = np.asarray(transitions.duration_pmf(durations), dtype=float)
    for k in range(3):
        block = matrix[k * r:(k + 1) * r, k * r:(k + 1) * r]
        leave = 1.0 - block.sum(1)  # from each phase, out of state k
        # exact first passage: P(D = d) = e_0' Q^(d-1) leave, entering at phase 0
        occupancy, passage = np.eye(r)[0], []
        for _ in durations:
            passage.append(occupancy @ leave)
            occupancy = occupancy @ block
        np.testing.assert_allclose(fitted[k], passage, atol=1e-6)
        np.testing.assert_allclose(fitted[k], stats.nbinom.pmf(durations - r, r, 1 - STAY[k]), atol=1e-6)
        # the exits go where the switch matrix says, to the first phase
        exits = matrix[k * r + r - 1].reshape(3, r)
        others = np.arange(3) != k
        np.testing.assert_allclose(exits[others, 0], (1 - STAY[k]) * SWITCH[k, others], atol=1e-6)
    np.testing.assert_allclose(transitions.mean_durations(), r / (1 - STAY), rtol=1e-5)


def test_one_phase_is_the_sticky_chain_with_the_same_matrix():
    rng = np.random.default_rng(0)
    semi = SemiMarkovTransitions(SWITCH, STAY, 1)
    sticky = StickyTransitions(np.diag(STAY) + (1 - STAY)[:, None] * SWITCH)
    emissions = FullRankEmissions(rng.dirichlet(np.ones(4), size=(3, 4)))
    data = SyllableData(rng.integers(0, 4, size=(2, 50)), np.ones((2, 50)))
    a = marginal_logliks(HHMM(phase_emissions(emissions, 1), semi), data, "serial")
    b = marginal_logliks(HHMM(emissions, sticky), data, "serial")
    np.testing.assert_allclose(a, b, rtol=1e-5)


def test_phase_counts_reduce_to_stays_advances_and_exits():
    # r = 2, K = 2; a hand-made path: state 0 phases 0,0,1,1, then state 1 phases 0,1,1, then state 0 phase 0
    path = np.array([[0, 0, 1, 1, 2, 3, 3, 0]])
    counts = sm.models.transition_counts(jnp.asarray(path), jnp.ones((1, 8)), 4)
    statistics = reduce_phase_counts(counts, 2)
    np.testing.assert_allclose(statistics.stays, [2, 1])  # 0→0, 1→1 in state 0; 3→3 in state 1
    np.testing.assert_allclose(statistics.advances, [2, 2])  # 0→1 and the exit 1→2; 2→3 and the exit 3→0
    np.testing.assert_allclose(statistics.exits, [[0, 1], [1, 0]])


def test_conjugate_update_matches_the_beta_and_dirichlet_closed_forms():
    transitions = SemiMarkovTransitions.create(3, n_phases=2, alpha=0.5, stay_a=2.0, stay_b=3.0)
    statistics = sm.models.SemiMarkovStatistics(
        jnp.array([30.0, 5.0, 0.0]), jnp.array([10.0, 20.0, 0.0]), jnp.array([[0.0, 4.0, 6.0], [1.0, 0.0, 19.0], [0, 0, 0]])
    )
    update = transitions.update_kernel()
    draws = jax.vmap(lambda key: update.step(key, transitions, statistics)[0])(jr.split(jr.key(0), 20000))
    a, b = 2.0 + np.array([30.0, 5.0, 0.0]), 3.0 + np.array([10.0, 20.0, 0.0])
    stay = np.asarray(draws.stay, dtype=float)
    np.testing.assert_allclose(stay.mean(0), a / (a + b), atol=0.004)
    np.testing.assert_allclose(stay.var(0), a * b / ((a + b) ** 2 * (a + b + 1)), rtol=0.06)
    switch = np.asarray(draws.switch, dtype=float)
    np.testing.assert_allclose(switch[:, np.arange(3), np.arange(3)], 0.0)
    concentration = 0.5 + np.array([[4.0, 6.0], [1.0, 19.0], [0.0, 0.0]])
    off = switch[:, ~np.eye(3, dtype=bool)].reshape(-1, 3, 2)
    np.testing.assert_allclose(off.mean(0), concentration / concentration.sum(1, keepdims=True), atol=0.006)


def test_log_prior_is_the_beta_and_off_diagonal_dirichlet_densities():
    transitions = SemiMarkovTransitions(SWITCH, STAY, 3, alpha=1.5, stay_a=2.0, stay_b=0.7)
    expected = stats.beta.logpdf(STAY, 2.0, 0.7).sum()
    expected += sum(stats.dirichlet.logpdf(SWITCH[k][np.arange(3) != k], [1.5, 1.5]) for k in range(3))
    np.testing.assert_allclose(transitions.log_prior(), expected, rtol=1e-5)


def test_phase_emissions_repeat_the_inner_tables_and_keep_the_native_path():
    rng = np.random.default_rng(1)
    inner = FullRankEmissions(rng.dirichlet(np.ones(5), size=(3, 5)))
    shared = phase_emissions(inner, 4)
    assert isinstance(shared, PhaseTableEmissions) and shared.n_states == 12
    tables = np.asarray(lookup_tables(shared, "ignore"))
    np.testing.assert_allclose(tables, np.repeat(np.asarray(inner.scored_tables("ignore")), 4, axis=0), rtol=1e-6)
    data = SyllableData(rng.integers(0, 5, size=(3, 80)), np.ones((3, 80)))
    model = HHMM(shared, SemiMarkovTransitions(SWITCH, STAY, 4))
    np.testing.assert_allclose(marginal_logliks(model, data, "native"), marginal_logliks(model, data, "serial"), rtol=1e-5)
    # a generic wrapper scores the same; statistics are the inner ones of z // r
    generic = HHMM(PhaseEmissions(inner, 4), SemiMarkovTransitions(SWITCH, STAY, 4))
    np.testing.assert_allclose(marginal_logliks(generic, data, "serial"), marginal_logliks(model, data, "serial"), rtol=1e-5)
    states = jnp.asarray(rng.integers(0, 12, size=(3, 80)))
    np.testing.assert_allclose(shared.statistics(states, data).counts, inner.statistics(states // 4, data).counts)


def test_hidden_states_spread_the_phases_over_each_run():
    transitions = SemiMarkovTransitions(SWITCH, STAY, 4)
    hidden = transitions.hidden_states(np.array([[0, 0, 0, 0, 0, 0, 0, 0, 2, 2, 1]]))
    np.testing.assert_array_equal(hidden, [[0, 0, 1, 1, 2, 2, 3, 3, 8, 10, 4]])
    np.testing.assert_array_equal(transitions.observed_states(hidden), [[0] * 8 + [2, 2, 1]])


def _simulate(rng, tables, n_recordings, n_frames, shape, scales):
    """Syllables whose hidden states last round(Gamma(shape, scale_k)) frames and never repeat."""
    n_states, n_syllables = tables.shape[:2]
    cumulative = tables.cumsum(-1)
    recordings, states = {}, {}
    for n in range(n_recordings):
        z = np.empty(n_frames, int)
        t, k = 0, rng.integers(n_states)
        while t < n_frames:
            duration = max(1, int(round(rng.gamma(shape, scales[k]))))
            z[t:t + duration] = k
            t += duration
            k = rng.choice([j for j in range(n_states) if j != k])
        x, u = np.empty(n_frames, int), rng.random(n_frames)
        x[0] = rng.integers(n_syllables)
        for t in range(1, n_frames):
            x[t] = min(np.searchsorted(cumulative[z[t], x[t - 1]], u[t]), n_syllables - 1)
        recordings[f"r{n}"], states[f"r{n}"] = x, z
    return recordings, states


def _gamma_medians(shape, scales):
    """Median of max(1, round(Gamma(shape, scale))) frames."""
    return np.array([next(d for d in range(1, 10_000) if stats.gamma.cdf(d + 0.5, shape, scale=s) >= 0.5) for s in scales])


def _bout_medians(states, shape, scales):
    """Median length of the complete bouts (recording ends cut off) of every state in simulated states."""
    lengths = {k: [] for k in range(len(scales))}
    for z in states.values():
        starts = np.flatnonzero(np.r_[True, z[1:] != z[:-1]])
        runs = np.diff(np.r_[starts, z.size])
        for k, length in zip(z[starts][1:-1], runs[1:-1]):
            lengths[int(k)].append(length)
    return np.array([np.median(lengths[k]) for k in range(len(scales))])


def _population_medians(states, shape, scales):
    """Median of the gamma law itself, rounded as the simulation rounds."""
    return _gamma_medians(shape, scales)


def _acceptance(n_recordings, n_frames, n_iters, tmp_path, reference, n_init_iters=10):
    rng = np.random.default_rng(0)
    shape, scales = 4.0, np.array([5.0, 8.0, 12.0])
    tables = rng.dirichlet(np.full(8, 0.3), size=(3, 8))
    train, truth = _simulate(rng, tables, n_recordings, n_frames, shape, scales)
    test, _ = _simulate(rng, tables, 2, n_frames, shape, scales)
    fits = {
        name: sm.fit(train, 3, transitions=name, emissions="full_rank", n_iters=n_iters, repeats="model",
                      n_init_iters=n_init_iters, progress=False)
        for name in ("semi_markov", "sticky")
    }
    semi = fits["semi_markov"]
    assert set(np.unique(np.concatenate(list(semi.states.values())))) <= {0, 1, 2}
    comparisons = {name: sm.compare_states(truth, fit.states) for name, fit in fits.items()}
    assert comparisons["semi_markov"].accuracy >= comparisons["sticky"].accuracy - 0.005
    medians = sm.duration_distributions(semi).median
    permutation = comparisons["semi_markov"].permutation
    np.testing.assert_allclose(medians, reference(truth, shape, scales)[permutation], rtol=0.10)
    assert sm.heldout_loglik_per_frame(semi, test) > sm.heldout_loglik_per_frame(fits["sticky"], test)
    semi.save(tmp_path / "fit")
    loaded = sm.load_fit(tmp_path / "fit")
    assert isinstance(loaded.model.transitions, SemiMarkovTransitions) and loaded.n_states == 3
    np.testing.assert_array_equal(loaded.states["r0"], semi.states["r0"])
    np.testing.assert_allclose(sm.duration_distributions(loaded).pmf, sm.duration_distributions(semi).pmf)
    reordered = sm.reorder_states(semi, by=[2, 0, 1])
    np.testing.assert_array_equal(sm.duration_distributions(reordered).median, medians[[2, 0, 1]])
    np.testing.assert_allclose(
        sm.heldout_loglik_per_frame(reordered, test), sm.heldout_loglik_per_frame(semi, test), rtol=1e-5
    )
    predicted = loaded.predict(test)
    assert max(int(v.max()) for v in predicted.values()) <= 2
    return fits


def test_fit_recovers_gamma_durations_small(tmp_path):
    _acceptance(n_recordings=4, n_frames=3000, n_iters=20, tmp_path=tmp_path, reference=_population_medians, n_init_iters=3)


@pytest.mark.slow
def test_fit_recovers_gamma_durations(tmp_path):
    # enough bouts (~150 per state) for the population medians of the gamma law
    _acceptance(n_recordings=6, n_frames=4000, n_iters=60, tmp_path=tmp_path, reference=_population_medians)


def test_cli_fit_with_semi_markov_transitions_draws_the_fitted_durations(tmp_path):
    import pandas as pd

    from smoseq.cli.parser import main

    rng = np.random.default_rng(3)
    tables = rng.dirichlet(np.full(6, 0.3), size=(2, 6))
    recordings, _ = _simulate(rng, tables, 2, 600, 4.0, np.array([6.0, 10.0]))
    (tmp_path / "data").mkdir()
    for name, syllables in recordings.items():
        pd.DataFrame({"syllable": syllables}).to_csv(tmp_path / "data" / f"{name}.csv", index=False)
    out = tmp_path / "fit"
    assert main(["fit", str(tmp_path / "data"), "--out", str(out), "--n-states", "2", "--iters", "4",
                 "--transitions", "semi_markov", "--emissions", "full_rank"]) == 0  # fmt: skip
    assert (out / "figures" / "durations.png").exists()
    loaded = sm.load_fit(out)
    assert loaded.model.n_states == 8 and loaded.n_states == 2
    assert set(np.unique(np.concatenate(list(loaded.states.values())))) <= {0, 1}
