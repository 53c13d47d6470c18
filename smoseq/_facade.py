"""Shared machinery of the seed-compatible modules `hhmm_efficient` and `hhmm_standard`.

These modules accept the published package's dicts (`params`, `hypparams`, `data`)
and convert them to smoseq's modules at the door; everything else is smoseq's own
inference. Each flavour supplies `params_to_model(params, hypparams=None)`.
"""

from collections.abc import Mapping
from functools import lru_cache

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
from tqdm.auto import trange

from .inference.states import SyllableData, marginal_logliks, sample_states, smoothed_probs, filtered_probs, viterbi_states


def as_data(data: dict) -> SyllableData:
    """`{"syllables": (N, T), "mask": (N, T)}` as smoseq's `SyllableData`."""
    missing = {"syllables", "mask"} - set(data)
    if missing:
        raise KeyError(f"data dict is missing {sorted(missing)}; expected keys 'syllables' and 'mask'")
    return SyllableData(jnp.asarray(data["syllables"]), jnp.asarray(data["mask"]))


def as_key(seed):
    """A JAX key from a legacy `jr.PRNGKey` array, a typed key or an int."""
    if isinstance(seed, (int, np.integer)):
        return jr.key(int(seed))
    return seed


def order_resample_arguments(second, third, fourth):
    """`(states, hypparams, params)` from either published order of `resample_params`'s arguments.

    `(states, hypparams, params)` is the example-data tutorial's order and
    `(params, states, hypparams)` the simulation tutorial's; only the latter passes a
    params dict first.
    """
    if isinstance(second, Mapping):
        return third, fourth, second
    return second, third, fourth


def kernel_method(parallel: bool) -> str:
    return "parallel" if parallel else "auto"


@lru_cache(maxsize=8)
def _jitted_state_sampler(method: str):
    def run(key, model, data):
        states, logliks = sample_states(key, model, data, method)
        return states, logliks.sum()

    return jax.jit(run)


def resample_states(params_to_model, seed, data, params, parallel=False):
    model = params_to_model(params)
    return _jitted_state_sampler(kernel_method(parallel))(as_key(seed), model, as_data(data))


def marginal_loglik(params_to_model, data, params, parallel=False):
    return marginal_logliks(params_to_model(params), as_data(data), kernel_method(parallel)).sum()


def smoothed_states(params_to_model, data, params, parallel=False):
    return smoothed_probs(params_to_model(params), as_data(data), kernel_method(parallel))


def filtered_states(params_to_model, data, params, parallel=False):
    return filtered_probs(params_to_model(params), as_data(data), kernel_method(parallel))


def predicted_states(params_to_model, data, params):
    return viterbi_states(params_to_model(params), as_data(data))


def simulate(params_to_model, seed, params, n_timesteps, n_sequences):
    return params_to_model(params).simulate(as_key(seed), int(n_sequences), int(n_timesteps))


def fit_gibbs(flavour, data, hypparams, init_params, init_states=None, seed=None, num_iters=100, parallel=False):
    """The Gibbs loop the published `fit_gibbs` meant to run: `(params, states, log_joints)`."""
    seed = jr.key(0) if seed is None else as_key(seed)
    params = init_params
    if init_states is None:
        seed, subseed = jr.split(seed)
        states, _ = flavour.resample_states(subseed, data, params, parallel)
    else:
        states = jnp.asarray(init_states)
    log_joints = []
    for _ in trange(num_iters, desc="Fitting model"):
        seed, k_params, k_states = jr.split(seed, 3)
        params = flavour.resample_params(k_params, data, states, hypparams, params)
        if isinstance(params, tuple):
            params = params[0]
        states, loglik = flavour.resample_states(k_states, data, params, parallel)
        log_joints.append(loglik + flavour.log_params_prob(params, hypparams))
    return params, states, jnp.array(log_joints)
