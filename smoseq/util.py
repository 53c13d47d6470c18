"""The published `state_moseq.util` names, so lab scripts run with the package renamed.

    from smoseq.util import get_frequencies, get_adjusted_rand, count_transitions, sample_instances

Most are smoseq's own functions under their published names (and `import smoseq as sm`
gives them too, as the published star import did). Left out: the published numerical
helpers that only its samplers used (`normal_inverse_gamma_posterior`,
`sample_multinomial`, `sample_gamma`, `sample_inv_gamma`, `sample_hmc`, `sample_laplace`,
`symmetrize`, `psd_solve`, `psd_inv`): smoseq's samplers live in `smoseq.models` and
`smoseq.inference`, and a script has no reason to call these.
"""

import jax
import jax.numpy as jnp
import jax.random as jr
from jaxtyping import Array, Float, Int

from ._embedding import center_embedding as center_embedding
from ._embedding import lower_dim as lower_dim
from ._embedding import raise_dim as raise_dim
from .io.batching import batch as batch
from .io.batching import unbatch as unbatch
from .io.hdf5 import load_hdf5 as load_hdf5
from .io.hdf5 import save_hdf5 as save_hdf5
from .metrics import compare_states as compare_states
from .metrics import get_adjusted_rand as get_adjusted_rand
from .metrics import get_durations as get_durations
from .metrics import get_frequencies as get_frequencies
from .metrics import lagged_mutual_information as lagged_mutual_information
from .metrics import sample_instances as sample_instances
from .metrics.mutual_information import cross_sequence_mutual_information as cross_sequence_mutual_information
from .models import transition_counts


def count_transitions(states: Int[Array, " T"], mask: Int[Array, " T"], n_states: int) -> Float[Array, "K K"]:
    """Transition counts of one state sequence: `C[i, j] = Σ_t mask[t]·1[z_t = i, z_{t+1} = j]`.

    Args:
        states: (T,) int states.
        mask: (T,) weights of the frames a transition leaves from (1 real, 0 padding).
        n_states: K.

    Returns:
        (K, K) float counts.
    """
    return transition_counts(jnp.asarray(states)[None], jnp.asarray(mask)[None], n_states)


def simulate_markov_chain(
    seed, trans_probs: Float[Array, "K K"] | Float[Array, "T K K"], n_timesteps: int, init_probs=None
) -> Int[Array, " T"]:
    """A state sequence from a Markov chain, as the published function draws it.

    An initial state is drawn from `init_probs` (uniform when None), then `n_timesteps`
    transitions; the `n_timesteps` states after the initial one are returned.

    Args:
        seed: a JAX PRNG key.
        trans_probs: (K, K) transition matrix, or (n_timesteps, K, K) one per step.
        n_timesteps: number of states returned.
        init_probs: (K,) initial state probabilities, or None.

    Returns:
        (n_timesteps,) int states.
    """
    keys = jr.split(seed, n_timesteps + 1)
    log_trans = jnp.log(jnp.asarray(trans_probs))
    n_states = log_trans.shape[-1]
    log_init = jnp.zeros(n_states) if init_probs is None else jnp.log(jnp.asarray(init_probs))
    first = jr.categorical(keys[0], log_init)
    per_step = log_trans if log_trans.ndim == 3 else jnp.broadcast_to(log_trans, (n_timesteps, n_states, n_states))

    def step(state, inputs):
        key, log_matrix = inputs
        following = jr.categorical(key, log_matrix[state])
        return following, following

    _, states = jax.lax.scan(step, first, (keys[1:], per_step))
    return states


def logits_to_probs(logits: Float[Array, "... n-1"]) -> Float[Array, "... n"]:
    """Probabilities from n-1 logits against a last category fixed at 0 (softmax of `[logits, 0]`)."""
    logits = jnp.asarray(logits)
    return jax.nn.softmax(jnp.concatenate([logits, jnp.zeros(logits.shape[:-1] + (1,))], axis=-1), axis=-1)


def probs_to_logits(probs: Float[Array, "M n"], pseudo_count: float = 1e-8) -> Float[Array, "M n-1"]:
    """Logits of every row against its last category: `log(p + c)[:-1] − log(p + c)[-1]` (rows of a 2-D array)."""
    log_probs = jnp.log(jnp.asarray(probs) + pseudo_count)
    return log_probs[..., :-1] - log_probs[..., -1:]
