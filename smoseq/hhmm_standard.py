"""Seed-compatible API of the full-rank ("standard") HHMM, as in the published `state_moseq.hhmm_standard`.

Same dict shapes as the published package::

    params    = {"emissions": (K, S, S), "trans_probs": (K, K)}
    data      = {"syllables": (N, T) int, "mask": (N, T)}
    hypparams = {"n_states", "n_syllables", "emissions_beta", "trans_beta", "trans_kappa"}

Every update here is an exact conjugate draw. Unlike the published package, every
random draw has its own key and `fit_gibbs` works.
"""

from functools import lru_cache

import jax
import jax.numpy as jnp
import jax.random as jr

from . import _facade
from ._threads import with_single_threaded_blas
from .models import HHMM, Dirichlet, FullRankEmissions, StickyTransitions, emission_counts, transition_counts
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
    "predicted_states",
    "smoothed_states",
    "filtered_states",
    "simulate",
]


def _emission_beta(hypparams: dict) -> float:
    for name in ("emissions_beta", "emission_beta"):
        if name in hypparams:
            return hypparams[name]
    raise KeyError("hypparams is missing 'emissions_beta'")


def params_to_model(params: dict, hypparams: dict | None = None) -> HHMM:
    """smoseq's `HHMM` for a published-package params dict (priors from `hypparams` if given).

    Args:
        params: `{"emissions": (K, S, S), "trans_probs": (K, K)}`.
        hypparams: optional dict; `emissions_beta` (or `emission_beta`), `trans_beta` and
            `trans_kappa` are read from it (defaults 1, 1, 0).

    Returns:
        An `HHMM` with `FullRankEmissions` and `StickyTransitions`.
    """
    hypparams = hypparams or {}
    beta = hypparams.get("emissions_beta", hypparams.get("emission_beta", 1.0))
    emissions = FullRankEmissions(jnp.asarray(params["emissions"]), Dirichlet(beta))
    transitions = StickyTransitions(
        jnp.asarray(params["trans_probs"]), hypparams.get("trans_beta", 1.0), hypparams.get("trans_kappa", 0.0)
    )
    return HHMM(emissions, transitions)


def obs_log_likelihoods(data: dict, params: dict):
    """log p(x_t | x_{t-1}, z_t = k); 0 at the first and masked frames.

    Args:
        data: `{"syllables": (N, T) int, "mask": (N, T)}`.
        params: `{"emissions": (K, S, S), "trans_probs": (K, K)}`.

    Returns:
        (N, T, K) float log-likelihoods.

    Raises:
        KeyError: `data` lacks `syllables` or `mask`.
    """
    data = _facade.as_data(data)
    return params_to_model(params).log_likelihoods(data.syllables, data.mask)


def log_params_prob(params: dict, hypparams: dict):
    """log Dir(each emission row | β_e) + Σ_k log Dir(trans row k | β + κ e_k).

    Args:
        params: `{"emissions": (K, S, S), "trans_probs": (K, K)}`.
        hypparams: needs `emissions_beta` (or `emission_beta`), `trans_beta`, `trans_kappa`.

    Returns:
        Scalar float.

    Raises:
        KeyError: a needed hyperparameter is missing.
    """
    K = params["trans_probs"].shape[0]
    emissions = jnp.asarray(params["emissions"])
    emission_log_prob = dirichlet_log_prob(emissions, jnp.full(emissions.shape, _emission_beta(hypparams))).sum()
    concentration = jnp.eye(K) * hypparams["trans_kappa"] + hypparams["trans_beta"]
    return emission_log_prob + dirichlet_log_prob(jnp.asarray(params["trans_probs"]), concentration).sum()


@with_single_threaded_blas
def marginal_loglik(data: dict, params: dict, parallel: bool = False):
    """log p(syllables | params), hidden states summed out (sum over sequences).

    Args:
        data: `{"syllables": (N, T) int, "mask": (N, T)}`.
        params: `{"emissions": (K, S, S), "trans_probs": (K, K)}`.
        parallel: use the parallel (associative-scan) filter.

    Returns:
        Scalar float: Σ_n log p(x_n | params).
    """
    return _facade.marginal_loglik(params_to_model, data, params, parallel)


def log_joint_prob(data: dict, params: dict, hypparams: dict):
    """log p(syllables | params) + log p(params): `marginal_loglik` plus `log_params_prob`.

    Args:
        data: `{"syllables": (N, T) int, "mask": (N, T)}`.
        params: `{"emissions": (K, S, S), "trans_probs": (K, K)}`.
        hypparams: as for `log_params_prob`.

    Returns:
        Scalar float.
    """
    return marginal_loglik(data, params) + log_params_prob(params, hypparams)


def random_params(seed, hypparams: dict) -> dict:
    """A draw from the prior: emissions rows ~ Dir(β_e), trans_probs rows ~ Dir(β + κ e_k).

    Args:
        seed: a JAX key (legacy `jr.PRNGKey` or typed) or an int.
        hypparams: needs `n_states`, `n_syllables`, `emissions_beta` (or
            `emission_beta`), `trans_beta`, `trans_kappa`.

    Returns:
        `{"emissions": (K, S, S), "trans_probs": (K, K)}`.
    """
    K, S = int(hypparams["n_states"]), int(hypparams["n_syllables"])
    k_emit, k_trans = jr.split(_facade.as_key(seed))
    emissions = FullRankEmissions.from_prior(k_emit, K, S, _emission_beta(hypparams))
    transitions = StickyTransitions(jnp.eye(K), hypparams["trans_beta"], hypparams["trans_kappa"]).sample_prior(k_trans)
    return {"emissions": emissions.tables, "trans_probs": transitions.probs}


@lru_cache(maxsize=16)
def _compiled_resample(n_states: int, n_syllables: int):
    def run(key, syllables, mask, states, betas):
        emission_beta, beta, kappa = betas
        k_emit, k_trans = jr.split(key)
        counts = emission_counts(syllables, mask, states, n_states, n_syllables)
        emissions = jr.dirichlet(k_emit, counts + emission_beta)
        transitions, _ = StickyTransitions(jnp.eye(n_states), beta, kappa).resample(
            k_trans, transition_counts(states, mask, n_states)
        )
        return emissions, transitions.probs

    return jax.jit(run)


@with_single_threaded_blas
def resample_params(seed, data: dict, states, hypparams: dict, params: dict | None = None) -> dict:
    """Exact conjugate draw of params | states (`params` is accepted for symmetry and unused).

    Accepts `(seed, data, states, hypparams, params=None)` and `(seed, data, params, states, hypparams)`;
    they are told apart by which argument is the params dict. Emission rows are drawn
    from Dir(counts + β_e), transition rows from Dir(counts + β + κ e_k).

    Args:
        seed: a JAX key (legacy `jr.PRNGKey` or typed) or an int.
        data: `{"syllables": (N, T) int, "mask": (N, T)}`.
        states: (N, T) int hidden states.
        hypparams: needs `n_states`, `n_syllables`, `emissions_beta` (or
            `emission_beta`), `trans_beta`, `trans_kappa`.
        params: the previous params dict, or None (unused).

    Returns:
        `{"emissions": (K, S, S), "trans_probs": (K, K)}` (a dict only, unlike
        `hhmm_efficient.resample_params`, which also returns losses).
    """
    states, hypparams, params = _facade.order_resample_arguments(states, hypparams, params)
    data = _facade.as_data(data)
    K, S = int(hypparams["n_states"]), int(hypparams["n_syllables"])
    betas = tuple(jnp.asarray(float(v)) for v in (_emission_beta(hypparams), hypparams["trans_beta"], hypparams["trans_kappa"]))
    emissions, trans = _compiled_resample(K, S)(
        _facade.as_key(seed), data.syllables, data.mask, jnp.asarray(states, jnp.int32), betas
    )
    return {"emissions": emissions, "trans_probs": trans}


@with_single_threaded_blas
def resample_states(seed, data: dict, params: dict, parallel: bool = False):
    """Exact posterior draw of states: `(states (N, T), marginal_loglik)`.

    Args:
        seed: a JAX key or an int.
        data: `{"syllables": (N, T) int, "mask": (N, T)}`.
        params: `{"emissions": (K, S, S), "trans_probs": (K, K)}`.
        parallel: use the parallel (associative-scan) kernels.

    Returns:
        `(states, marginal_loglik)`: (N, T) int32 states and the scalar
        log p(syllables | params) summed over sequences.
    """
    return _facade.resample_states(params_to_model, seed, data, params, parallel)


@with_single_threaded_blas
def initialize_params(data: dict, hypparams: dict, states=None, seed=None) -> dict:
    """Params from given initial states (one draw of params | states), else from the prior.

    Args:
        data: `{"syllables": (N, T) int, "mask": (N, T)}` (used only with `states`).
        hypparams: as for `random_params`.
        states: optional (N, T) int initial states.
        seed: a JAX key or an int (default: key 0).

    Returns:
        `{"emissions": (K, S, S), "trans_probs": (K, K)}`.
    """
    seed = jr.key(0) if seed is None else seed
    if states is not None:
        return resample_params(seed, data, states, hypparams)
    return random_params(seed, hypparams)


class _Flavour:
    resample_states = staticmethod(resample_states)
    resample_params = staticmethod(resample_params)
    log_params_prob = staticmethod(log_params_prob)


@with_single_threaded_blas
def fit_gibbs(data, hypparams, init_params, init_states=None, seed=None, num_iters=100, parallel=False):
    """Gibbs sampling from `init_params` (and `init_states` if given): `(params, states, log_joints)`.

    Each iteration draws params | states (`resample_params`), then states | params
    (`resample_states`), and records log p(syllables | params) + log p(params).

    Args:
        data: `{"syllables": (N, T) int, "mask": (N, T)}`.
        hypparams: as for `resample_params`.
        init_params: a params dict to start from.
        init_states: optional (N, T) int states to start from (default: drawn given `init_params`).
        seed: a JAX key or an int (default: key 0).
        num_iters: Gibbs iterations.
        parallel: use the parallel kernels.

    Returns:
        `(params, states, log_joints)`: the last params dict, (N, T) int32 states and
        (num_iters,) float log joint probabilities.
    """
    return _facade.fit_gibbs(_Flavour, data, hypparams, init_params, init_states, seed, num_iters, parallel)


@with_single_threaded_blas
def smoothed_states(data: dict, params: dict, parallel: bool = False):
    """p(z_t = k | syllables) of every frame.

    Args:
        data: `{"syllables": (N, T) int, "mask": (N, T)}`.
        params: `{"emissions": (K, S, S), "trans_probs": (K, K)}`.
        parallel: use the parallel (associative-scan) smoother.

    Returns:
        (N, T, K) float smoothed posterior probabilities.
    """
    return _facade.smoothed_states(params_to_model, data, params, parallel)


@with_single_threaded_blas
def filtered_states(data: dict, params: dict, parallel: bool = False):
    """p(z_t = k | syllables up to t) of every frame.

    Args:
        data: `{"syllables": (N, T) int, "mask": (N, T)}`.
        params: `{"emissions": (K, S, S), "trans_probs": (K, K)}`.
        parallel: use the parallel (associative-scan) filter.

    Returns:
        (N, T, K) float filtered probabilities.
    """
    return _facade.filtered_states(params_to_model, data, params, parallel)


@with_single_threaded_blas
def predicted_states(data: dict, params: dict):
    """Viterbi path per sequence.

    Args:
        data: `{"syllables": (N, T) int, "mask": (N, T)}`.
        params: `{"emissions": (K, S, S), "trans_probs": (K, K)}`.

    Returns:
        (N, T) int32 most probable state path of each sequence.
    """
    return _facade.predicted_states(params_to_model, data, params)


def simulate(seed, params: dict, n_timesteps: int, n_sequences: int):
    """`(states, syllables)` simulated from params (z_1 and x_1 uniform).

    Args:
        seed: a JAX key or an int.
        params: `{"emissions": (K, S, S), "trans_probs": (K, K)}`.
        n_timesteps: T.
        n_sequences: N.

    Returns:
        `(states, syllables)`, int32 arrays of shape (N, T).
    """
    return _facade.simulate(params_to_model, seed, params, n_timesteps, n_sequences)
