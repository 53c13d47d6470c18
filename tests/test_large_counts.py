"""Statistics and the exact low-rank emission update at the counts of a 300 M-frame fit.

A fit of 300 M frames (K = 10, S = 50) has ~3·10⁷ frames per state: cells of its
transition counts above 2²⁴ (where a float32 accumulator stops counting), and
log-likelihoods of ~10⁹ nats (where float32 differences of totals are off by many nats).
The oracles here are float64 computations of the same quantities and the generating
parameters, at which the posterior concentrates.
"""

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np

from smoseq._embedding import raise_dim
from smoseq.models import Normal, emission_counts, transition_counts
from smoseq.models import exact_emissions
from smoseq.models.counts import weighted_counts
from smoseq.models.exact_emissions import sample_exact_emissions

FRAMES_PER_STATE = 3e7


def test_counts_past_two_to_the_24_are_exact():
    """One cell of 2²⁴ + 2²⁰ events: a single float32 scatter-add stops at 2²⁴, the blocked sum does not."""
    n = (1 << 24) + (1 << 20) + 1
    zeros, ones = jnp.zeros((1, n), jnp.int32), jnp.ones((1, n), jnp.float32)
    capped = jnp.zeros(4, jnp.float32).at[jnp.zeros(n - 1, jnp.int32)].add(1.0)
    assert float(capped[0]) == 2.0**24  # what the counts were before
    assert float(transition_counts(zeros, ones, 2)[0, 0]) == n - 1
    assert float(emission_counts(zeros, ones, zeros, 2, 2)[0, 0, 0]) == n - 1


def test_blocked_counts_equal_bincount():
    """Blocks of 7 events with a remainder: the same sums as one pass (exact for integer weights)."""
    rng = np.random.default_rng(0)
    indices = rng.integers(0, 5, size=103)
    integer_weights = rng.integers(0, 3, size=103).astype(np.float32)
    fractional = rng.random(103).astype(np.float32)
    blocked = weighted_counts(jnp.asarray(indices), jnp.asarray(integer_weights), 5, block=7)
    np.testing.assert_array_equal(np.asarray(blocked), np.bincount(indices, integer_weights, minlength=5))
    blocked = weighted_counts(jnp.asarray(indices), jnp.asarray(fractional), 5, block=7)
    np.testing.assert_allclose(np.asarray(blocked), np.bincount(indices, fractional.astype(np.float64), minlength=5), rtol=1e-6)


def _problem(n_states, n_syllables, seed=0):
    """Parameters drawn from the prior and multinomial counts of `FRAMES_PER_STATE` frames per state."""
    k_base, k_bias = jr.split(jr.PRNGKey(seed))
    base = Normal(1.0).sample(k_base, (n_syllables, n_syllables - 1))
    biases = Normal(1.0).sample(k_bias, (n_states - 1, n_syllables - 1))
    logits = raise_dim(base, 1)[None] + raise_dim(raise_dim(biases, 0), 1)[:, None]
    tables = np.asarray(jax.nn.softmax(logits.astype(jnp.float32), axis=-1), np.float64)
    rng = np.random.default_rng(seed)
    counts = np.zeros((n_states, n_syllables, n_syllables))
    for k in range(n_states):
        rows = rng.multinomial(int(FRAMES_PER_STATE), np.full(n_syllables, 1.0 / n_syllables))
        for i in range(n_syllables):
            counts[k, i] = rng.multinomial(rows[i], tables[k, i] / tables[k, i].sum())
    return base, biases, tables, counts


def _log_tables64(base, biases):
    with jax.enable_x64(True):
        base, biases = jnp.asarray(np.asarray(base, np.float64)), jnp.asarray(np.asarray(biases, np.float64))
        logits = raise_dim(base, 1)[None] + raise_dim(raise_dim(biases, 0), 1)[:, None]
        return np.asarray(jax.nn.log_softmax(logits, axis=-1))


def _log_target64(base, biases, counts):
    """float64 `Σ N log P + log prior` at the given (float32) points."""
    prior = -0.5 * (np.sum(np.asarray(base, np.float64) ** 2) + np.sum(np.asarray(biases, np.float64) ** 2))
    return float(np.sum(counts * _log_tables64(base, biases)) + prior)


def test_metropolis_ratios_at_300m_frame_counts_match_float64():
    """The row and bias blocks' log ratios (float32, term by term) against float64 differences of the log target."""
    n_states, n_syllables = 4, 8
    base, biases, _, counts = _problem(n_states, n_syllables)
    counts32 = jnp.asarray(counts, jnp.float32)
    possible = jnp.ones((n_syllables, n_syllables), bool)
    step = 3.0 / np.sqrt(FRAMES_PER_STATE / n_syllables)  # a few posterior standard deviations
    new_base = base + step * jr.normal(jr.PRNGKey(1), base.shape)
    new_biases = biases + step * jr.normal(jr.PRNGKey(2), biases.shape)
    prior = Normal(1.0)
    embed = jnp.asarray(np.asarray(raise_dim(jnp.eye(n_syllables - 1), 0)), jnp.float32)
    raised_biases = raise_dim(raise_dim(biases, 0), 1)
    errors, sizes = [], []
    for i in range(n_syllables):
        block = exact_emissions._row_block(raised_biases, counts32[:, i], possible[i], embed, 1.0, prior)
        ratio = float(jax.jit(block.log_ratio)(new_base[i], base[i]))
        moved = base.at[i].set(new_base[i])
        oracle = _log_target64(moved, biases, counts) - _log_target64(base, biases, counts)
        errors.append(abs(ratio - oracle))
        sizes.append(abs(oracle))
    block = exact_emissions._bias_block(raise_dim(base, 1), counts32, possible, 1.0, prior, biases.shape)
    ratio = float(jax.jit(block.log_ratio)(new_biases.ravel(), biases.ravel()))
    oracle = _log_target64(base, new_biases, counts) - _log_target64(base, biases, counts)
    errors.append(abs(ratio - oracle))
    sizes.append(abs(oracle))
    assert np.median(sizes) > 10  # the moves matter: ratios of tens to hundreds of nats
    assert max(errors) < 0.05, (errors, sizes)
    # the difference of float32 totals, as the update computed it before, is off by nats
    total32 = float(exact_emissions.conditional_log_likelihood(base, new_biases, counts32)) - float(
        exact_emissions.conditional_log_likelihood(base, biases, counts32)
    )
    assert abs(total32 - (oracle + 0.5 * float(jnp.sum(new_biases**2) - jnp.sum(biases**2)))) > 1.0


def test_exact_update_at_300m_frame_counts_concentrates_at_the_truth():
    """From a cold start, the exact update at 3·10⁷ frames per state lands within the posterior's width of the truth."""
    n_states, n_syllables = 3, 6
    _, _, tables, counts = _problem(n_states, n_syllables, seed=3)
    prior = Normal(1.0)
    update = jax.jit(lambda key, b, c: sample_exact_emissions(key, b, c, jnp.asarray(counts, jnp.float32), prior, prior))
    base, biases = jnp.zeros((n_syllables, n_syllables - 1)), jnp.zeros((n_states - 1, n_syllables - 1))
    row_accepted, bias_accepted = [], []
    for t in range(12):  # the two blocks converge geometrically: ~7 updates from zeros at these counts
        base, biases, info = update(jr.PRNGKey(t), base, biases)
        row_accepted.append(float(info.base_accepted.mean()))
        bias_accepted.append(float(info.bias_accepted))
    assert np.isfinite(np.asarray(base)).all() and np.isfinite(np.asarray(biases)).all()
    assert np.mean(row_accepted) > 0.6 and np.mean(bias_accepted) > 0.4, (row_accepted, bias_accepted)
    drawn = np.exp(_log_tables64(base, biases))
    rows = counts.sum(-1, keepdims=True)
    width = np.sqrt(tables * (1 - tables) / rows)  # sampling and posterior sd of each probability
    assert np.all(np.abs(drawn - tables) < 6 * width + 1e-7), np.max(np.abs(drawn - tables) / (width + 1e-12))
