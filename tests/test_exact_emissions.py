"""The exact low-rank emission update (`ModeSearch(..., metropolis=True)`) against its oracles.

The Laplace draw is an independence Metropolis–Hastings proposal: checked here are the
acceptance probability against dense formulas, acceptance 1 when the target is the
proposal's own Gaussian, a proposal that depends on the counts alone, and a chain whose
moments match the conditional posterior computed on a grid (S = 2, K = 2: three
parameters). Longer statistical checks are `slow`-marked (`pytest -m slow
tests/test_exact_emissions.py`): the same on S = 3 against importance sampling, and the
simulation-based calibration of the whole Gibbs sampler (`benchmarks/bench_calibration.py`).
"""

import importlib.util
import json
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import optax
import pytest
from jax.flatten_util import ravel_pytree
from scipy.stats import multivariate_normal

import smoseq as sm
from smoseq._embedding import center_embedding
from smoseq.fitting.loop import Sampler, default_mode_search, describe_mode_search
from smoseq.models import ExactBlockedUpdate, LaplaceUpdate, LowRankEmissions, ModeSearch, Normal, StudentT
from smoseq.models.laplace import (
    emission_log_likelihood_ratio,
    defensive_log_density,
    emission_log_likelihood,
    emission_log_posterior,
    factorize_precision,
    initial_emission_params,
    laplace_log_density,
    laplace_precision,
    laplace_proposal,
    metropolis_laplace_draw,
    sample_laplace,
    sample_low_rank_emissions,
)

BOOST = 1e-2
LBFGS = optax.lbfgs()
ROOT = Path(__file__).resolve().parents[1]


def _uses_exact(exact_emissions, emissions, mode_search) -> bool:
    return sm.FitSettings(exact_emissions=exact_emissions, emissions=emissions, mode_search=mode_search).uses_exact_emissions


@pytest.fixture
def x64():
    with jax.enable_x64(True):
        yield


def _flat(params):
    return ravel_pytree(params)[0]


def _counts(num_states, size, seed, total):
    rng = np.random.default_rng(seed)
    rates = total / (num_states * size * size) * rng.gamma(0.5, size=(num_states, size, size))
    return jnp.asarray(rng.poisson(rates), jnp.result_type(float))


def _point(num_states, size, seed, scale=0.7):
    rng = np.random.default_rng(seed)
    dtype = jnp.result_type(float)
    return (jnp.asarray(scale * rng.normal(size=(size, size - 1)), dtype),
            jnp.asarray(scale * rng.normal(size=(num_states - 1, size - 1)), dtype))  # fmt: skip


_exact_update = jax.jit(
    sample_low_rank_emissions, static_argnames=("optimizer", "max_iters", "newton_step", "metropolis")
)


def _update(key, counts, current, newton_step=True, metropolis=True, max_iters=200):
    one = jnp.asarray(1.0, counts.dtype)
    return _exact_update(key, counts, *current, one, one, LBFGS, max_iters, 1e-10,
                         newton_step=newton_step, metropolis=metropolis)  # fmt: skip


# ---------------------------------------------------------------------------------------
# The accept/reject step
# ---------------------------------------------------------------------------------------


def test_target_equal_to_the_proposal_is_always_accepted(x64):
    """A Gaussian target whose precision is the proposal's: q = p, so every ratio is 1."""
    counts = _counts(2, 3, seed=0, total=60.0)
    centre = _point(2, 3, seed=1)
    one = jnp.asarray(1.0)
    factor = factorize_precision(laplace_precision(*centre, counts, one, one, BOOST))

    def loss_fn(params):
        return -laplace_log_density(params, centre, factor)

    @jax.jit
    def step(key, current):
        start = jax.tree.map(jnp.zeros_like, centre)  # far from the centre: the search must find it
        proposal = laplace_proposal(loss_fn, lambda params: factor, start, ModeSearch(LBFGS, 200, 1e-12))
        # prior_weight=0: the undefended Gaussian proposal, whose density is exactly the target's
        return metropolis_laplace_draw(key, proposal, current, lambda new, old: loss_fn(old) - loss_fn(new),
                                       _normal_log_prior, _normal_prior_draw(current), prior_weight=0.0)  # fmt: skip

    currents = [_point(2, 3, seed=s, scale=2.0) for s in range(2, 8)]
    for index, current in enumerate(currents):
        (base, biases), info = step(jr.key(index), current)
        assert bool(info.accepted)
        np.testing.assert_allclose(float(info.acceptance_prob), 1.0, atol=1e-8)
        np.testing.assert_allclose(_flat(info.proposal.mode), _flat(centre), atol=1e-8)
        assert not np.allclose(_flat((base, biases)), _flat(current))


def _normal_log_prior(params):
    """log N(0, 1) of every entry (the priors of `_update`), normalised."""
    return Normal(1.0).log_prob(params[0]) + Normal(1.0).log_prob(params[1])


def _normal_prior_draw(like):
    def draw(key):
        k_base, k_bias = jr.split(key)
        return Normal(1.0).sample(k_base, like[0].shape), Normal(1.0).sample(k_bias, like[1].shape)

    return draw


@jax.jit
def _dense_log_post_and_precision(flat_mode, counts):
    """The log posterior's value function pieces and `−∇² log p + boost·I` at the mode, densely."""
    one = jnp.asarray(1.0, counts.dtype)
    unravel = ravel_pytree(initial_emission_params(counts))[1]
    hessian = jax.hessian(lambda x: emission_log_posterior(*unravel(x), counts, one, one))(flat_mode)
    return -hessian + BOOST * jnp.eye(flat_mode.size, dtype=flat_mode.dtype)


@jax.jit
def _dense_log_post(flat, counts):
    one = jnp.asarray(1.0, counts.dtype)
    unravel = ravel_pytree(initial_emission_params(counts))[1]
    return emission_log_posterior(*unravel(flat), counts, one, one)


def test_acceptance_matches_dense_metropolis_hastings_ratio(x64):
    """min(1, p(x')q(x) / p(x)q(x')) from a dense Hessian and scipy's Gaussian density; decisions by the same uniform."""
    counts = _counts(2, 3, seed=3, total=40.0)
    outcomes = []
    for seed in range(6):
        key = jr.key(seed)
        # a current point drawn near the posterior (another key's proposal), so that both decisions occur
        current = _update(jr.key(100 + seed), counts, _point(2, 3, seed=4), newton_step=False)[2]
        current = tuple(current.proposal.mode[i] + 1.5 * jr.normal(jr.key(200 + seed), current.proposal.mode[i].shape) for i in range(2))
        base, biases, info = _update(key, counts, current, newton_step=False)

        flat_mode = _flat(info.proposal.mode)
        precision = np.asarray(_dense_log_post_and_precision(flat_mode, counts))
        gaussian_density = multivariate_normal(np.asarray(flat_mode), np.linalg.inv(precision))
        prior_density = multivariate_normal(np.zeros(flat_mode.size), np.eye(flat_mode.size))

        def proposal_logpdf(flat):  # the defended proposal: 0.95 Gaussian + 0.05 prior
            return np.logaddexp(np.log(0.95) + gaussian_density.logpdf(flat), np.log(0.05) + prior_density.logpdf(flat))

        k_draw, k_accept = jr.split(key)
        k_choice, k_gauss, k_prior = jr.split(k_draw, 3)
        from_prior = float(jr.uniform(k_choice, (), jnp.float64)) < 0.05
        gaussian_draw = flat_mode + np.linalg.solve(np.linalg.cholesky(precision).T, np.asarray(jr.normal(k_gauss, flat_mode.shape)))
        proposal = _flat(_normal_prior_draw(current)(k_prior)) if from_prior else gaussian_draw
        flat_current = _flat(current)
        log_ratio = (float(_dense_log_post(proposal, counts)) - float(_dense_log_post(flat_current, counts))
                     + proposal_logpdf(flat_current) - proposal_logpdf(proposal))  # fmt: skip

        np.testing.assert_allclose(float(info.acceptance_prob), min(1.0, np.exp(log_ratio)), rtol=1e-8, atol=1e-12)
        accept = float(jnp.log(jr.uniform(k_accept, (), jnp.float64))) < log_ratio
        assert bool(info.accepted) == accept
        np.testing.assert_allclose(_flat((base, biases)), proposal if accept else flat_current, atol=1e-10)
        outcomes.append(accept)
    assert any(outcomes) and not all(outcomes), "the cases should include both decisions"


def test_defended_proposal_has_bounded_importance_weights(x64):
    """log p − log q ≤ −log ε for the defended proposal on points far out along a zero-count
    cell's direction, where the undefended Gaussian's weight grows without bound."""
    counts = _counts(2, 3, seed=3, total=40.0).at[:, 0, 1].set(0.0)  # a cell with no counts
    one = jnp.asarray(1.0)
    proposal = _update(jr.key(0), counts, _point(2, 3, seed=4), newton_step=True)[2].proposal
    centre = proposal.mode
    factor = factorize_precision(laplace_precision(*centre, counts, one, one, BOOST))
    laplace = laplace_proposal(lambda params: -emission_log_posterior(*params, counts, one, one),
                               lambda params: factor, centre, ModeSearch(LBFGS, 1, 1e-10), newton_step=False)  # fmt: skip
    lowered = center_embedding(3).T @ (jnp.full(3, 1.0 / 3) - jnp.eye(3)[1])  # lowers logit (0, 1) alone
    direction = (jnp.zeros_like(centre[0]).at[0].set(lowered / jnp.linalg.norm(lowered)), jnp.zeros_like(centre[1]))
    defended, undefended = [], []
    for t in (0.0, 2.0, 4.0, 8.0, 16.0):
        x = jax.tree.map(lambda c, d: c + t * d, centre, direction)
        log_target = emission_log_likelihood(*x, counts) + _normal_log_prior(x)  # likelihood × normalised priors
        defended.append(float(log_target - defensive_log_density(x, laplace, _normal_log_prior, 0.05)))
        undefended.append(float(log_target - laplace_log_density(x, laplace.centre, laplace.factor)))
    assert max(defended) <= -np.log(0.05) + 1e-9, defended
    assert undefended[-1] - undefended[1] > 20.0, undefended  # the old proposal's weights are unbounded


def test_proposal_depends_on_the_counts_only(x64):
    """Different current parameters, same key: the same proposal (centre and, when both accept, draw)."""
    counts = _counts(2, 3, seed=5, total=100.0)
    results = [_update(jr.key(11), counts, _point(2, 3, seed=seed, scale=scale), newton_step=False)
               for seed, scale in ((6, 0.7), (7, 1.5))]  # fmt: skip
    np.testing.assert_array_equal(_flat(results[0][2].proposal.mode), _flat(results[1][2].proposal.mode))
    if bool(results[0][2].accepted) and bool(results[1][2].accepted):
        np.testing.assert_array_equal(_flat(results[0][:2]), _flat(results[1][:2]))


class _NormalWithoutCurvature(eqx.Module):
    """A user prior with only `log_prob` and `sample`: its curvature is found by automatic differentiation."""

    sigma: jax.Array

    def log_prob(self, x):
        return Normal(self.sigma).log_prob(x)

    def sample(self, key, shape):
        return Normal(self.sigma).sample(key, shape)


def test_a_prior_without_curvature_takes_the_same_path_as_normal(x64):
    """`LowRankEmissions.resample` with `metropolis=True`: a prior that gives only `log_prob` (curvature by
    autodiff) reproduces `Normal`'s closed-form curvature, decision and draw; `StudentT` runs and reports it."""
    counts = _counts(2, 3, seed=13, total=40.0)
    current = _point(2, 3, seed=14, scale=1.0)
    search = ModeSearch(LBFGS, 200, 1e-10, metropolis=True)
    resample = eqx.filter_jit(lambda e, key, c: e.resample(key, c, search))
    closed_form = resample(LowRankEmissions(*current, Normal(1.0), Normal(1.0)), jr.key(5), counts)
    user = _NormalWithoutCurvature(jnp.asarray(1.0))
    generic = resample(LowRankEmissions(*current, user, user), jr.key(5), counts)
    np.testing.assert_allclose(float(generic[1].acceptance_prob), float(closed_form[1].acceptance_prob), rtol=1e-6)
    assert bool(generic[1].accepted) == bool(closed_form[1].accepted)
    np.testing.assert_allclose(_flat((generic[0].base, generic[0].biases)),
                               _flat((closed_form[0].base, closed_form[0].biases)), atol=1e-6)  # fmt: skip
    specialised = _update(jr.key(5), counts, current)  # the array-level wrapper: the same path
    np.testing.assert_allclose(float(specialised[2].acceptance_prob), float(closed_form[1].acceptance_prob), rtol=1e-6)

    emissions = LowRankEmissions(*current, Normal(1.0), StudentT(1.0, 3.0))
    updated, info = eqx.filter_jit(lambda e, key, c: e.resample(key, c, search))(emissions, jr.key(6), counts)
    assert isinstance(updated.bias_prior, StudentT)
    assert info.accepted is not None and 0.0 <= float(info.acceptance_prob) <= 1.0
    kept = _flat((updated.base, updated.biases))
    assert np.allclose(kept, _flat(current)) != bool(info.accepted)


def test_log_likelihood_ratio_is_the_difference_of_log_posteriors(x64):
    counts = _counts(3, 4, seed=8, total=300.0)
    new, old = _point(3, 4, seed=9), _point(3, 4, seed=10)
    infinite = jnp.asarray(jnp.inf)  # no prior term
    expected = emission_log_posterior(*new, counts, infinite, infinite) - emission_log_posterior(*old, counts, infinite, infinite)
    np.testing.assert_allclose(emission_log_likelihood_ratio(new, old, counts), expected, rtol=1e-12)


# ---------------------------------------------------------------------------------------
# The chain against the exact conditional
# ---------------------------------------------------------------------------------------

GRID_COUNTS = np.array([[[3.0, 0.0], [1.0, 0.0]], [[0.0, 2.0], [4.0, 1.0]]])  # K = 2, S = 2: 3 parameters


def _grid_moments(counts, half_width=7.0, points=81):
    """Posterior mean and variance of the 3 parameters, by summing the density on a grid (float64)."""
    one = jnp.asarray(1.0)
    start = initial_emission_params(counts)
    flat_start, unravel = ravel_pytree(start)
    axes = [jnp.linspace(-half_width, half_width, points)] * flat_start.size
    grid = jnp.stack(jnp.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, flat_start.size)
    log_density = jax.jit(jax.vmap(lambda x: emission_log_posterior(*unravel(x), counts, one, one)))(grid)
    weights = np.exp(np.asarray(log_density) - float(log_density.max()))
    weights /= weights.sum()
    mean = weights @ np.asarray(grid)
    variance = weights @ (np.asarray(grid) - mean) ** 2
    return mean, variance


def _chain(counts, n_steps, metropolis, key):
    """The emission update iterated with fixed counts (one Gibbs block), from a plain Laplace draw."""
    one = jnp.asarray(1.0, counts.dtype)

    @jax.jit
    def run(key):
        k_start, k_steps = jr.split(key)
        start = initial_emission_params(counts)
        base, biases, _ = sample_low_rank_emissions(k_start, counts, *start, one, one, LBFGS, 100, 1e-10)

        def step(current, key):
            base, biases, info = sample_low_rank_emissions(key, counts, *current, one, one, LBFGS, 100, 1e-10,
                                                           metropolis=metropolis)  # fmt: skip
            accepted = info.accepted if metropolis else jnp.asarray(True)  # the plain draw's LaplaceInfo has none
            return (base, biases), (_flat((base, biases)), accepted)

        return jax.lax.scan(step, (base, biases), jr.split(k_steps, n_steps))[1]

    return [np.asarray(a) for a in run(key)]


def _batch_means_z(draws, expected, n_batches=40):
    """|chain mean − expected| in units of its batch-means standard error, per coordinate."""
    batches = draws[: len(draws) // n_batches * n_batches].reshape(n_batches, -1, draws.shape[1]).mean(axis=1)
    standard_error = batches.std(axis=0, ddof=1) / np.sqrt(n_batches)
    return np.abs(draws.mean(axis=0) - expected) / standard_error


def test_metropolis_chain_matches_the_grid_posterior(x64):
    """The update iterated with fixed counts: the chain's mean and variance are the grid's.

    (The slow test below shows that the plain Laplace draw fails this comparison.)
    """
    counts = jnp.asarray(GRID_COUNTS)
    mean, variance = _grid_moments(counts)

    exact, accepted = _chain(counts, 3000, True, jr.key(0))

    assert 0.3 < accepted.mean() < 1.0
    assert _batch_means_z(exact, mean).max() < 4.0
    assert _batch_means_z((exact - mean) ** 2, variance).max() < 4.0


# ---------------------------------------------------------------------------------------
# Through the fit
# ---------------------------------------------------------------------------------------


def _small_recordings():
    rng = np.random.default_rng(0)
    recordings = {f"r{i}": rng.integers(0, 4, 150) for i in range(2)}
    return recordings, {name: (np.arange(len(x)) // 50) % 2 for name, x in recordings.items()}


def _saves_and_loads_acceptance(result, folder):
    result.save(folder)
    loaded = sm.load_fit(folder)
    np.testing.assert_array_equal(loaded.emission_accepted, result.emission_accepted)
    np.testing.assert_array_equal(loaded.emission_acceptance, result.emission_acceptance)
    assert loaded.acceptance_rate == result.acceptance_rate
    return json.loads((folder / "fit.json").read_text())


def test_default_fit_uses_the_blocked_update_and_records_its_acceptance(tmp_path):
    """By default a low-rank fit runs the blocked update: no plain start, every iteration's acceptance recorded."""
    recordings, init_states = _small_recordings()
    result = sm.fit(recordings, n_states=2, n_iters=6, seed=0, init_states=init_states, progress=False,
                    method="serial")  # fmt: skip

    assert result.hyperparameters["emission_update"] == "exact_blocked"
    assert result.hyperparameters["mode_search"]["emission_update"] == "exact_blocked"
    assert "metropolis" not in result.hyperparameters["mode_search"]
    assert result.emission_accepted.shape == result.emission_acceptance.shape == (6,)
    probabilities = result.emission_acceptance
    assert np.all((probabilities >= 0) & (probabilities <= 1)), probabilities  # no NaN: no plain start
    assert result.acceptance_rate == pytest.approx(result.emission_accepted.mean())
    last = result.last_updates
    assert bool(last["emissions.accepted"]) == (float(last["emissions.bias_accepted"]) > 0)
    assert 0.0 <= float(last["emissions.row_accepted_min"]) <= float(last["emissions.row_accepted"]) <= 1.0
    assert float(last["emissions.acceptance_prob"]) == pytest.approx(float(probabilities[-1]))
    record = _saves_and_loads_acceptance(result, tmp_path / "fit")
    assert record["emission_acceptance_rate"] == result.acceptance_rate
    assert record["hyperparameters"]["emission_update"] == "exact_blocked"


def test_fit_models_uses_the_blocked_update_by_default():
    recordings, init_states = _small_recordings()
    results = sm.fit_models(recordings, 2, kappas=[1e2, 1e3], seeds=0, n_iters=3, init_states=init_states,
                            method="serial", progress=False)  # fmt: skip
    for result in results:
        assert result.hyperparameters["emission_update"] == "exact_blocked"
        assert result.emission_acceptance.shape == (3,) and np.all(np.isfinite(result.emission_acceptance))
        assert result.acceptance_rate is not None


def test_which_update_a_fit_uses():
    """The default is exact for the low-rank emissions; False, or a mode search, asks for the Laplace update."""
    search = ModeSearch(LBFGS, 200, 1e-6, name="lbfgs")
    assert _uses_exact(None, "low_rank", None) is True
    assert _uses_exact(None, LowRankEmissions.from_prior(jr.key(0), 2, 3), None) is True
    assert _uses_exact(None, "full_rank", None) is False
    assert _uses_exact(None, "low_rank", search) is False
    assert _uses_exact(False, "low_rank", None) is False
    assert _uses_exact(True, "low_rank", search) is True


def test_laplace_fit_is_opt_in_and_recorded(tmp_path):
    """`exact_emissions=False` runs the Laplace update (mode search, no acceptance) and fit.json says so;
    a checkpoint of it does not resume under the default (the error names the setting), only with False."""
    recordings, init_states = _small_recordings()
    options = dict(n_states=2, seed=0, init_states=init_states, progress=False, method="serial",
                   checkpoint_dir=tmp_path / "ckpt", checkpoint_every=2)  # fmt: skip
    result = sm.fit(recordings, n_iters=2, exact_emissions=False, **options)
    assert result.hyperparameters["emission_update"] == "laplace" and result.emission_accepted.shape == (0,)
    assert result.emission_losses.size > 0
    result.save(tmp_path / "fit")
    assert json.loads((tmp_path / "fit" / "fit.json").read_text())["hyperparameters"]["emission_update"] == "laplace"
    with pytest.raises(sm.ModelFileError, match="emission_update: checkpoint 'laplace', this fit 'exact_blocked'"):
        sm.fit(recordings, n_iters=4, resume=True, **options)
    resumed = sm.fit(recordings, n_iters=4, resume=True, exact_emissions=False, **options)
    assert resumed.log_probs.shape == (4,) and resumed.hyperparameters["emission_update"] == "laplace"


def test_laplace_metropolis_fit_still_records_acceptance(tmp_path):
    """`ModeSearch(..., metropolis=True)` keeps the (defended) Laplace MH update, started by a plain draw."""
    recordings, init_states = _small_recordings()
    search = ModeSearch(LBFGS, 200, 1e-6, name="lbfgs", metropolis=True)
    result = sm.fit(recordings, n_states=2, n_iters=5, seed=0, init_states=init_states, mode_search=search,
                    progress=False, method="serial")  # fmt: skip

    assert result.hyperparameters["mode_search"]["metropolis"] is True
    assert result.hyperparameters["emission_update"] == "laplace"
    assert np.isnan(result.emission_acceptance[0]) and result.emission_accepted[0]
    probabilities = result.emission_acceptance[1:]
    assert np.all((probabilities >= 0) & (probabilities <= 1))
    assert result.acceptance_rate == pytest.approx(result.emission_accepted[1:].mean())
    record = _saves_and_loads_acceptance(result, tmp_path / "fit")
    assert record["emission_acceptance_rate"] == result.acceptance_rate


def test_default_fit_records_no_acceptance():
    assert ModeSearch(LBFGS).metropolis is False and ModeSearch(LBFGS).emission_update == "laplace"
    assert "metropolis" not in describe_mode_search(default_mode_search())
    assert "emission_update" not in describe_mode_search(default_mode_search())
    default = Sampler.create(None, "serial", None)
    assert default.describe()["emission_update"] == "laplace" and not default.metropolis
    assert type(LowRankEmissions.from_prior(jr.key(0), 2, 3).update_kernel(default.mode_search)) is LaplaceUpdate
    exact = Sampler.create(None, "serial", None, exact_emissions=True)
    assert exact.describe()["emission_update"] == "exact_blocked" and not exact.metropolis
    assert type(LowRankEmissions.from_prior(jr.key(0), 2, 3).update_kernel(exact.mode_search)) is ExactBlockedUpdate
    result = sm.FitResult(model=None, states={}, log_probs=np.zeros(3), emission_losses=np.zeros(0),
                          history=np.zeros((3, 0)), hyperparameters={})  # fmt: skip
    assert result.acceptance_rate is None and result.emission_accepted.shape == (0,)


# ---------------------------------------------------------------------------------------
# Slow: S = 3 against importance sampling, and the calibration of the whole sampler
# ---------------------------------------------------------------------------------------


@pytest.mark.slow
def test_metropolis_chain_matches_importance_sampling_with_three_syllables(x64):
    """K = 2, S = 3 (8 parameters): the chain's moments against self-normalised importance
    sampling from a wide Gaussian (the Laplace covariance inflated 1.5² times, an independent proposal)."""
    counts = _counts(2, 3, seed=12, total=25.0)
    one = jnp.asarray(1.0)
    _, _, info = _update(jr.key(0), counts, initial_emission_params(counts), metropolis=False)
    flat_mode, unravel = ravel_pytree(info.mode)

    def log_post(x):
        return emission_log_posterior(*unravel(x), counts, one, one)

    covariance = 1.5**2 * np.linalg.inv(np.asarray(-jax.hessian(log_post)(flat_mode)))
    wide = multivariate_normal(np.asarray(flat_mode), covariance)
    samples = wide.rvs(400_000, random_state=np.random.default_rng(1))
    log_weights = np.asarray(jax.jit(jax.vmap(log_post))(jnp.asarray(samples))) - wide.logpdf(samples)
    weights = np.exp(log_weights - log_weights.max())
    weights /= weights.sum()
    mean = weights @ samples
    variance = weights @ (samples - mean) ** 2
    assert 1 / np.sum(weights**2) > 50_000  # effective sample size of the oracle

    exact, accepted = _chain(counts, 20_000, True, jr.key(3))
    plain, _ = _chain(counts, 20_000, False, jr.key(3))

    assert _batch_means_z(exact, mean).max() < 4.0
    assert _batch_means_z((exact - mean) ** 2, variance).max() < 4.0
    assert _batch_means_z(plain, mean).max() > 6.0
    assert accepted.mean() > 0.3


def _calibration_module():
    spec = importlib.util.spec_from_file_location("bench_calibration", ROOT / "benchmarks" / "bench_calibration.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_gibbs_sampler_with_metropolis_is_calibrated():
    """Simulation-based calibration (`benchmarks/bench_calibration.py`): ranks of the true
    parameters' label-invariant statistics among the draws are uniform (chi-square p > 0.001 each)."""
    calibration = _calibration_module()
    p_values = calibration.run_calibration(metropolis=True, n_replicates=300, seed=0)
    assert min(p_values.values()) > 1e-3, p_values


def test_cli_flag_reaches_the_fit(tmp_path, monkeypatch):
    """`--exact-emissions` passes True to `sm.fit`, `--laplace-emissions` False, neither the default (None)."""
    from smoseq.cli import commands
    from smoseq.cli.parser import build_parser
    from smoseq.fitting import single

    seen = []

    class Stop(Exception):
        pass

    def fake_fit(*args, **kwargs):
        seen.append(kwargs["settings"].exact_emissions)
        raise Stop

    monkeypatch.setattr(single, "fit", fake_fit)
    for extra in ([], ["--exact-emissions"], ["--laplace-emissions"]):
        args = build_parser().parse_args(["fit", "data", "--out", str(tmp_path / "out"), *extra])
        with pytest.raises(Stop):
            commands.run_fit({"r0": np.zeros(5, int)}, tmp_path / "out", args, progress=False)
    assert seen == [None, True, False]


def test_cli_flag_runs_the_blocked_update(tmp_path):
    """`smoseq fit --exact-emissions` fits with the blocked update and its fit.json says so."""
    from smoseq.cli import commands
    from smoseq.cli.parser import build_parser

    recordings, _ = _small_recordings()
    out = tmp_path / "out"
    argv = ["fit", "data", "--out", str(out), "--n-states", "2", "--iters", "3", "--exact-emissions"]
    args = build_parser().parse_args(argv)
    result = commands.run_fit(recordings, out, args, progress=False)
    record = json.loads((out / "fit.json").read_text())
    assert record["hyperparameters"]["emission_update"] == "exact_blocked"
    assert result.emission_acceptance.shape == (3,) and np.all(np.isfinite(result.emission_acceptance))
    assert record["emission_acceptance_rate"] == result.acceptance_rate
