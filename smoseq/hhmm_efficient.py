"""Seed-compatible API of the low-rank ("efficient") HHMM, as in the published `state_moseq.hhmm_efficient`.

Same dict shapes as the published package::

    params    = {"emission_base": (S, S-1), "emission_biases": (K-1, S-1), "trans_probs": (K, K)}
    data      = {"syllables": (N, T) int, "mask": (N, T)}
    hypparams = {"n_states", "n_syllables", "emission_base_sigma", "emission_biases_sigma",
                 "trans_beta", "trans_kappa", "emission_gd_iters", "emission_gd_lr"}

Parameter arrays are interchangeable with the published package's. Unlike it, every
random draw has its own key, `fit_gibbs` works, `initialize_params` returns params,
and `resample_params` warm-starts from `params` when given, treats
`emission_gd_iters` as a cap (stopping when the optimizer has converged), and
returns the real loss of every optimizer step taken. The emission update is a
Laplace approximation around the mode found by `optax.adam(emission_gd_lr)`.
"""

from functools import lru_cache

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import optax
from jax.scipy.stats import norm

from . import _facade
from ._threads import with_single_threaded_blas
from .models import HHMM, LowRankEmissions, ModeSearch, Normal, StickyTransitions, emission_counts, transition_counts
from .models.priors import dirichlet_log_prob

__all__ = [
    "random_params",
    "initialize_params",
    "resample_params",
    "resample_states",
    "fit_gibbs",
    "log_params_prob",
    "log_joint_prob",
    "marginal_loglik",
    "obs_log_likelihoods",
    "get_syllable_trans_probs",
    "predicted_states",
    "smoothed_states",
    "filtered_states",
    "simulate",
]

DEFAULT_TOL = 1e-6


def _hyper(hypparams, name, default=None):
    if name in hypparams:
        return hypparams[name]
    if default is None:
        raise KeyError(f"hypparams is missing {name!r}")
    return default


def params_to_model(params: dict, hypparams: dict | None = None) -> HHMM:
    """smoseq's `HHMM` for a published-package params dict (priors from `hypparams` if given).

    Args:
        params: `{"emission_base": (S, S-1), "emission_biases": (K-1, S-1), "trans_probs": (K, K)}`.
        hypparams: optional dict; `emission_base_sigma`, `emission_biases_sigma`,
            `trans_beta` and `trans_kappa` are read from it (defaults 1, 1, 1, 0).

    Returns:
        An `HHMM` with `LowRankEmissions` and `StickyTransitions`.
    """
    hypparams = hypparams or {}
    emissions = LowRankEmissions(
        jnp.asarray(params["emission_base"]),
        jnp.asarray(params["emission_biases"]),
        Normal(hypparams.get("emission_base_sigma", 1.0)),
        Normal(hypparams.get("emission_biases_sigma", 1.0)),
    )
    transitions = StickyTransitions(
        jnp.asarray(params["trans_probs"]), hypparams.get("trans_beta", 1.0), hypparams.get("trans_kappa", 0.0)
    )
    return HHMM(emissions, transitions)


def model_to_params(model: HHMM) -> dict:
    """The published-package params dict of a low-rank `HHMM` (inverse of `params_to_model`).

    Args:
        model: an `HHMM` with `LowRankEmissions`.

    Returns:
        `{"emission_base": (S, S-1), "emission_biases": (K-1, S-1), "trans_probs": (K, K)}`.
    """
    return {
        "emission_base": model.emissions.base,
        "emission_biases": model.emissions.biases,
        "trans_probs": model.transitions.probs,
    }


def get_syllable_trans_probs(emission_base, emission_biases):
    """Per-state syllable transition tables (K, S, S) from low-rank parameters.

    Args:
        emission_base: (S, S-1) float shared logits, in the zero-sum embedding (`smoseq._embedding`).
        emission_biases: (K-1, S-1) float per-state biases, embedded along both axes.

    Returns:
        (K, S, S) float: entry `[k, i, j]` is p(x_t = j | x_{t-1} = i, z_t = k); rows sum to 1.
    """
    return LowRankEmissions(emission_base, emission_biases).transition_tables()


def obs_log_likelihoods(data: dict, params: dict):
    """log p(x_t | x_{t-1}, z_t = k), shape (N, T, K); 0 at the first and masked frames.

    Args:
        data: `{"syllables": (N, T) int, "mask": (N, T)}`.
        params: a params dict (see `resample_params`).

    Returns:
        (N, T, K) float log-likelihoods.

    Raises:
        KeyError: `data` lacks `syllables` or `mask`.
    """
    data = _facade.as_data(data)
    return params_to_model(params).log_likelihoods(data.syllables, data.mask)


def log_params_prob(params: dict, hypparams: dict):
    """log prior of params, in the published package's convention (normal densities of x/σ).

    Σ log N(base/σ_base) + Σ log N(biases/σ_bias) + Σ_k log Dir(trans row k | β + κ e_k)
    (the normal terms omit the −log σ Jacobian, as the published package does).

    Args:
        params: a params dict (see `resample_params`).
        hypparams: needs `emission_base_sigma`, `emission_biases_sigma`, `trans_beta`, `trans_kappa`.

    Returns:
        Scalar float.

    Raises:
        KeyError: a needed hyperparameter is missing.
    """
    K = params["trans_probs"].shape[0]
    base_sigma = _hyper(hypparams, "emission_base_sigma")
    bias_sigma = _hyper(hypparams, "emission_biases_sigma")
    emission_log_prob = norm.logpdf(jnp.asarray(params["emission_base"]) / base_sigma).sum() + norm.logpdf(
        jnp.asarray(params["emission_biases"]) / bias_sigma
    ).sum()
    concentration = jnp.eye(K) * _hyper(hypparams, "trans_kappa") + _hyper(hypparams, "trans_beta")
    return emission_log_prob + dirichlet_log_prob(jnp.asarray(params["trans_probs"]), concentration).sum()


@with_single_threaded_blas
def marginal_loglik(data: dict, params: dict, parallel: bool = False):
    """log p(syllables | params), hidden states summed out (sum over sequences).

    Args:
        data: `{"syllables": (N, T) int, "mask": (N, T)}`.
        params: a params dict (see `resample_params`).
        parallel: use the parallel (associative-scan) filter.

    Returns:
        Scalar float: Σ_n log p(x_n | params).
    """
    return _facade.marginal_loglik(params_to_model, data, params, parallel)


def log_joint_prob(data: dict, params: dict, hypparams: dict):
    """log p(syllables | params) + log p(params): `marginal_loglik` plus `log_params_prob`.

    Args:
        data: `{"syllables": (N, T) int, "mask": (N, T)}`.
        params: a params dict (see `resample_params`).
        hypparams: as for `log_params_prob`.

    Returns:
        Scalar float.
    """
    return marginal_loglik(data, params) + log_params_prob(params, hypparams)


def random_params(seed, hypparams: dict) -> dict:
    """A draw from the prior: base, biases ~ N(0, σ²) entrywise, trans_probs rows ~ Dir(β + κ e_k).

    Args:
        seed: a JAX key or an int.
        hypparams: needs `n_states`, `n_syllables`, the two sigmas, `trans_beta`, `trans_kappa`.

    Returns:
        A params dict: `emission_base` (S, S-1), `emission_biases` (K-1, S-1), `trans_probs` (K, K).
    """
    K, S = int(hypparams["n_states"]), int(hypparams["n_syllables"])
    k_emit, k_trans = jr.split(_facade.as_key(seed))
    emissions = LowRankEmissions.from_prior(
        k_emit, K, S, _hyper(hypparams, "emission_base_sigma"), _hyper(hypparams, "emission_biases_sigma")
    )
    transitions = StickyTransitions(
        jnp.eye(K), _hyper(hypparams, "trans_beta"), _hyper(hypparams, "trans_kappa")
    ).sample_prior(k_trans)
    return model_to_params(HHMM(emissions, transitions))


@lru_cache(maxsize=16)
def _compiled_resample(n_states: int, n_syllables: int, max_iters: int, learning_rate: float, tol: float, warm: bool):
    mode_search = ModeSearch(optax.adam(learning_rate), max_iters, tol)

    def run(key, syllables, mask, states, base, biases, trans_probs, sigmas):
        base_sigma, bias_sigma, beta, kappa = sigmas
        emissions = LowRankEmissions(base, biases, Normal(base_sigma), Normal(bias_sigma))
        counts = emission_counts(syllables, mask, states, n_states, n_syllables)
        if not warm:
            emissions = emissions.with_data_driven_start(counts)
        k_emit, k_trans = jr.split(key)
        emissions, info = emissions.resample(k_emit, counts, mode_search)
        transitions, _ = StickyTransitions(trans_probs, beta, kappa).resample(
            k_trans, transition_counts(states, mask, n_states)
        )
        return emissions.base, emissions.biases, transitions.probs, info.losses, info.n_steps

    return jax.jit(run)


@with_single_threaded_blas
def resample_params(seed, data: dict, states, hypparams: dict, params: dict | None = None):
    """Draw params | states: `(params, losses)`.

    Both published argument orders work: `(seed, data, states, hypparams, params=None)`
    (the example-data tutorial) and `(seed, data, params, states, hypparams)` (the
    simulation tutorial); they are told apart by which argument is the params dict.

    Emissions: Laplace approximation around the posterior mode found by
    `optax.adam(hypparams["emission_gd_lr"])` from `params` (warm start) or, when
    `params` is None, from the data-driven estimate; at most
    `hypparams["emission_gd_iters"]` steps (fewer once converged, tolerance
    `hypparams.get("emission_gd_tol", 1e-6)`). Transitions: exact Dirichlet draw.
    `losses` is the loss of every optimizer step taken.

    Args:
        seed: a JAX key (legacy `jr.PRNGKey` or typed) or an int.
        data: `{"syllables": (N, T) int, "mask": (N, T)}`.
        states: (N, T) int hidden states.
        hypparams: the tutorial's hyperparameter dict.
        params: the previous params dict (warm start), or None.

    Returns:
        `(params, losses)`: `{"emission_base": (S, S-1), "emission_biases": (K-1, S-1),
        "trans_probs": (K, K)}` and (n_steps,) optimizer losses.
    """
    states, hypparams, params = _facade.order_resample_arguments(states, hypparams, params)
    K, S = int(hypparams["n_states"]), int(hypparams["n_syllables"])
    learning_rate = float(_hyper(hypparams, "emission_gd_lr"))
    max_iters = int(_hyper(hypparams, "emission_gd_iters"))
    if learning_rate <= 0 or max_iters < 1:
        raise ValueError(f"emission_gd_lr must be > 0 and emission_gd_iters >= 1, got {learning_rate}, {max_iters}")
    tol = float(hypparams.get("emission_gd_tol", DEFAULT_TOL))
    run = _compiled_resample(K, S, max_iters, learning_rate, tol, params is not None)
    data = _facade.as_data(data)
    if params is None:
        base, biases, trans = jnp.zeros((S, S - 1)), jnp.zeros((K - 1, S - 1)), jnp.full((K, K), 1.0 / K)
    else:
        base, biases, trans = params["emission_base"], params["emission_biases"], params["trans_probs"]
    sigmas = tuple(
        jnp.asarray(float(_hyper(hypparams, name)))
        for name in ("emission_base_sigma", "emission_biases_sigma", "trans_beta", "trans_kappa")
    )
    base, biases, trans, losses, n_steps = run(
        _facade.as_key(seed), data.syllables, data.mask, jnp.asarray(states, jnp.int32), base, biases, trans, sigmas
    )
    new_params = {"emission_base": base, "emission_biases": biases, "trans_probs": trans}
    return new_params, np.asarray(losses)[: int(n_steps)]


@with_single_threaded_blas
def resample_states(seed, data: dict, params: dict, parallel: bool = False):
    """Exact posterior draw of states: `(states (N, T), marginal_loglik)`.

    Args:
        seed: a JAX key or an int.
        data: `{"syllables": (N, T) int, "mask": (N, T)}`.
        params: a params dict (see `resample_params`).
        parallel: use the parallel (associative-scan) kernels.

    Returns:
        `(states, marginal_loglik)`: (N, T) int32 states and the scalar log p(syllables | params)
        summed over sequences.
    """
    return _facade.resample_states(params_to_model, seed, data, params, parallel)


@with_single_threaded_blas
def initialize_params(data: dict, hypparams: dict, states=None, seed=None) -> dict:
    """Params from given initial states (one draw of params | states), else from the prior.

    Args:
        data: `{"syllables": (N, T) int, "mask": (N, T)}` (used only with `states`).
        hypparams: the tutorial's hyperparameter dict (see `random_params`, `resample_params`).
        states: optional (N, T) int initial states.
        seed: a JAX key or an int (default: key 0).

    Returns:
        A params dict: `emission_base` (S, S-1), `emission_biases` (K-1, S-1), `trans_probs` (K, K).
    """
    seed = jr.key(0) if seed is None else seed
    if states is not None:
        return resample_params(seed, data, states, hypparams)[0]
    return random_params(seed, hypparams)


class _Flavour:
    resample_states = staticmethod(resample_states)
    resample_params = staticmethod(resample_params)
    log_params_prob = staticmethod(log_params_prob)


@with_single_threaded_blas
def fit_gibbs(data, hypparams, init_params, init_states=None, seed=None, num_iters=100, parallel=False):
    """Gibbs sampling from `init_params` (and `init_states` if given): `(params, states, log_joints)`.

    Args:
        data: `{"syllables": (N, T) int, "mask": (N, T)}`.
        hypparams: the tutorial's hyperparameter dict.
        init_params: a params dict to start from.
        init_states: optional (N, T) int states to start from (default: drawn given `init_params`).
        seed: a JAX key or an int (default 0).
        num_iters: Gibbs iterations.
        parallel: use the parallel kernels.

    Returns:
        `(params, states (N, T), log_joints (num_iters,))`.
    """
    return _facade.fit_gibbs(_Flavour, data, hypparams, init_params, init_states, seed, num_iters, parallel)


@with_single_threaded_blas
def smoothed_states(data: dict, params: dict, parallel: bool = False):
    """p(z_t = k | syllables), shape (N, T, K).

    Args:
        data: `{"syllables": (N, T) int, "mask": (N, T)}`.
        params: a params dict (see `resample_params`).
        parallel: use the parallel (associative-scan) smoother.

    Returns:
        (N, T, K) float smoothed posterior probabilities.
    """
    return _facade.smoothed_states(params_to_model, data, params, parallel)


@with_single_threaded_blas
def filtered_states(data: dict, params: dict, parallel: bool = False):
    """p(z_t = k | syllables up to t), shape (N, T, K).

    Args:
        data: `{"syllables": (N, T) int, "mask": (N, T)}`.
        params: a params dict (see `resample_params`).
        parallel: use the parallel (associative-scan) filter.

    Returns:
        (N, T, K) float filtered probabilities.
    """
    return _facade.filtered_states(params_to_model, data, params, parallel)


@with_single_threaded_blas
def predicted_states(data: dict, params: dict):
    """Viterbi path per sequence, shape (N, T).

    Args:
        data: `{"syllables": (N, T) int, "mask": (N, T)}`.
        params: a params dict (see `resample_params`).

    Returns:
        (N, T) int32 most probable state path of each sequence.
    """
    return _facade.predicted_states(params_to_model, data, params)


def simulate(seed, params: dict, n_timesteps: int, n_sequences: int):
    """`(states, syllables)`, each (n_sequences, n_timesteps), simulated from params.

    Args:
        seed: a JAX key or an int.
        params: a params dict (see `resample_params`).
        n_timesteps: T.
        n_sequences: N.

    Returns:
        `(states, syllables)`, int arrays of shape (N, T).
    """
    return _facade.simulate(params_to_model, seed, params, n_timesteps, n_sequences)
