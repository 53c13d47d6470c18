"""The calls of the published parameter-scan tutorial, on pickles written the way its users write them.

Users fit one model per (κ, n_states, seed) with the example tutorial's loop
(`hhmm_efficient.resample_params` / `resample_states`), unbatch the states and
`joblib.dump` them as `kappa=..._nstates=..._seed=...-state_sequences.p` beside an
`...-additional_info.p` holding `log_probs`. The scan tutorial then loads them and calls
`sm.get_durations`, `sm.get_adjusted_rand`, `sm.compare_states` (showing
`confusion[optimal_permutation]`) and `sm.plot_sankey`. This is our own code making the
same calls, with brute-force oracles for what the calls return.
"""

import itertools
import os

import jax.numpy as jnp
import jax.random as jr
import joblib
import numpy as np
import pytest

import smoseq as sm
from smoseq import hhmm_efficient as eff

FPS = 30
N_STATES, KAPPAS, SEEDS = 3, [100.0, 1000.0], [0, 1]
HYPPARAMS = {
    "n_states": N_STATES, "emission_base_sigma": 1, "emission_biases_sigma": 1, "trans_beta": 1,
    "n_syllables": 10, "emission_gd_iters": 200, "emission_gd_lr": 5e-3,
}  # fmt: skip


@pytest.fixture(scope="module")
def scan_directory(tmp_path_factory):
    folder = tmp_path_factory.mktemp("example_kappa_scan")
    truth = eff.random_params(jr.PRNGKey(0), dict(HYPPARAMS, trans_kappa=300.0))
    _, syllables = eff.simulate(jr.PRNGKey(1), truth, 300, 4)
    recordings = {f"recording{i}": np.asarray(s) for i, s in enumerate(syllables)}
    seqs, mask, metadata = sm.batch(recordings, seg_length=300)
    data = {"syllables": jnp.array(seqs), "mask": jnp.array(mask)}
    for kappa, seed in itertools.product(KAPPAS, SEEDS):
        hypparams = dict(HYPPARAMS, trans_kappa=kappa, random_seed=seed)
        key = jr.PRNGKey(seed)
        states = jr.randint(key, data["syllables"].shape, 0, N_STATES)
        params, log_probs = None, []
        for _ in range(3):
            key, params_key, states_key = jr.split(key, 3)
            params, _ = eff.resample_params(params_key, data, states, hypparams, params)
            states, marginal_loglik = eff.resample_states(states_key, data, params)
            log_probs.append(eff.log_params_prob(params, hypparams).item() + marginal_loglik.item())
        prefix = os.path.join(folder, f"kappa={kappa}_nstates={N_STATES}_seed={seed}")
        joblib.dump(sm.unbatch(np.array(states), *metadata), f"{prefix}-state_sequences.p")
        joblib.dump({"params": params, "hypparams": hypparams, "log_probs": log_probs}, f"{prefix}-additional_info.p")
    return folder


def load_state_seqs(folder, kappa, seed):
    return joblib.load(os.path.join(folder, f"kappa={kappa}_nstates={N_STATES}_seed={seed}-state_sequences.p"))


def bouts(sequence):
    """Run lengths of a 1-D sequence, by hand."""
    lengths, run = [], 1
    for previous, current in zip(sequence[:-1], sequence[1:]):
        if current == previous:
            run += 1
        else:
            lengths.append(run)
            run = 1
    return lengths + [run]


def test_median_durations_and_log_probs_as_the_tutorial_reads_them(scan_directory):
    for kappa, seed in itertools.product(KAPPAS, SEEDS):
        state_seqs = load_state_seqs(scan_directory, kappa, seed)
        median = np.median(sm.get_durations(state_seqs)) / FPS
        expected = np.median([length for states in state_seqs.values() for length in bouts(list(states))]) / FPS
        assert median == pytest.approx(expected)
        info = joblib.load(os.path.join(scan_directory, f"kappa={kappa}_nstates={N_STATES}_seed={seed}-additional_info.p"))
        assert np.isfinite(info["log_probs"][-1])


def test_confusion_rows_reordered_by_the_optimal_permutation(scan_directory):
    states1 = load_state_seqs(scan_directory, KAPPAS[0], SEEDS[0])
    states2 = load_state_seqs(scan_directory, KAPPAS[0], SEEDS[1])
    confusion, optimal_permutation, accuracy = sm.compare_states(states1, states2)
    flat1 = np.concatenate([states1[k] for k in states1])
    flat2 = np.concatenate([states2[k] for k in states1])
    # oracle: every one-to-one relabelling of states2, scored by the frames it matches
    best = max(itertools.permutations(range(N_STATES)), key=lambda p: np.mean(np.array(p)[flat2] == flat1))
    assert accuracy == pytest.approx(np.mean(np.array(best)[flat2] == flat1))
    assert accuracy == pytest.approx(np.mean(optimal_permutation[flat2] == flat1))
    counts = np.zeros((N_STATES, N_STATES))
    np.add.at(counts, (flat1, flat2), 1)
    expected = counts / np.maximum(counts.sum(1, keepdims=True), 1)
    np.testing.assert_allclose(confusion, expected)
    shown = confusion[optimal_permutation]  # the tutorial's heat map: row j = the states1 match of states2 state j
    np.testing.assert_allclose(np.diag(shown), expected[optimal_permutation, np.arange(N_STATES)])


def test_rand_scores_and_sankey_between_seeds(scan_directory):
    states = {seed: load_state_seqs(scan_directory, KAPPAS[1], seed) for seed in SEEDS}
    score = sm.get_adjusted_rand(states[0], states[1])
    assert -1 <= score <= 1
    assert sm.get_adjusted_rand(states[0], states[0]) == pytest.approx(1.0)
    fig = sm.plot_sankey(states[0], states[1])
    fig.update_layout(width=600)
    (sankey,) = fig.data
    flat = [np.concatenate([states[s][k] for k in states[0]]) for s in SEEDS]
    joint = np.zeros((N_STATES, N_STATES))
    np.add.at(joint, (flat[0], flat[1]), 1 / flat[0].size)
    np.testing.assert_allclose(np.reshape(sankey.link.value, (N_STATES, N_STATES)), joint)
    assert fig.layout.width == 600 and "sankey" in fig.to_html(include_plotlyjs=False).lower()
