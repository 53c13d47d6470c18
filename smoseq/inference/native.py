"""Compiled CPU kernels (numba) for the syllable HHMM, callable from jitted JAX code.

In the syllable HHMM the likelihood of hidden state k at frame t >= 1 is a table
lookup, `tables[k, x[t-1], x[t]]` (a probability), when `mask[t]` is 1, and 1
otherwise; frame 0 always contributes 1. The hidden chain runs through masked frames.
These kernels do the lookup inside one compiled loop per sequence (float64
accumulators, a normalisation every step, sequences spread over cores with
`numba.prange`), instead of materialising the (N, T, K) log-likelihoods and scanning.

Equivalence with the JAX kernels (`smoseq.inference.kernels`), for the same inputs and
`log_likelihoods = syllable_log_likelihoods(tables, syllables, mask)`:

- `filter_native(...)[n] == hmm_filter(log_init, trans, log_likelihoods[n]).marginal_loglik`;
- `viterbi_native(...)[n] == hmm_viterbi(log_init, trans, log_likelihoods[n])`;
- `sample_states_native(key, ...)` returns, path for path,
  `vmap(hmm_posterior_sample)(jr.split(key, N), log_init, trans, log_likelihoods)`:
  the uniforms are drawn from the JAX key outside the callback exactly as the serial
  sampler draws them (`posterior_uniforms` per sequence key) and mapped to states by
  the same inverse-CDF rule. Only float rounding differs (float64 here), so paths
  agree except where a uniform falls within rounding distance of a CDF boundary.

All three work under `jax.jit` and `jax.vmap` (`pure_callback` with
`vmap_method="expand_dims"`: a vmapped batch of models or datasets is flattened into
one parallel loop over every (model, sequence) pair, without copying shared inputs).
`native_available()` is False when numba cannot be imported; callers then use the JAX
kernels.
"""

import math

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
from jaxtyping import Array, Float, Int, PRNGKeyArray

from .kernels import posterior_uniforms

try:
    import numba

    _NUMBA_IMPORT_ERROR: Exception | None = None
except Exception as error:  # pragma: no cover - depends on the environment
    numba = None
    _NUMBA_IMPORT_ERROR = error

__all__ = [
    "native_available",
    "sample_states_native",
    "filter_native",
    "viterbi_native",
    "syllable_log_likelihoods",
]


def native_available() -> bool:
    """True when numba imported, so the `*_native` kernels can run."""
    return numba is not None


if numba is not None:
    _inner = numba.njit(cache=True, nogil=True, fastmath=False)
    _outer = numba.njit(cache=True, nogil=True, parallel=True)
    _prange = numba.prange
else:  # pragma: no cover - the kernels below stay plain (and unused) Python
    def _inner(function):
        return function

    _outer = _inner
    _prange = range


# ----------------------------------------------------------------------------------
# Per-sequence loops (compiled, serial).


@_inner
def _forward_sequence(init, trans, tables_t, syllables, mask, filtered):
    """Normalised forward pass of one sequence; returns its marginal log-likelihood.

    `filtered` is (T, K) to keep every filtered vector, or (1, K) to keep only the last.
    The log normalisers are multiplied into `scale` and flushed to `log_total`
    only when `scale` leaves [1e-200, 1e200], which saves a `log` per frame.
    """
    num_timesteps, num_states = syllables.shape[0], init.shape[0]
    keep_all = filtered.shape[0] == num_timesteps
    predicted = init.copy()
    scale, log_total = 1.0, 0.0
    for t in range(num_timesteps):
        row = filtered[t] if keep_all else filtered[0]
        total = 0.0
        if t > 0 and mask[t]:
            likelihoods = tables_t[syllables[t - 1], syllables[t]]
            for k in range(num_states):
                row[k] = predicted[k] * likelihoods[k]
                total += row[k]
        else:
            for k in range(num_states):
                row[k] = predicted[k]
                total += row[k]
        if 1e-100 < total < 1e100:
            scale *= total
            if not 1e-200 < scale < 1e200:
                log_total += math.log(scale)
                scale = 1.0
        elif total > 0.0:
            log_total += math.log(total)
        else:
            log_total = -math.inf
        inverse = 1.0 / total if total > 0.0 else 1.0
        for k in range(num_states):
            row[k] *= inverse
            predicted[k] = 0.0
        for i in range(num_states):
            weight = row[i]
            for k in range(num_states):
                predicted[k] += weight * trans[i, k]
    return log_total + math.log(scale)


@_inner
def _inverse_cdf(weights_a, weights_b, uniform, cdf):
    """Index drawn from the unnormalised weights `weights_a * weights_b` (see kernels.inverse_cdf_index)."""
    running = 0.0
    for k in range(cdf.shape[0]):
        running += weights_a[k] * weights_b[k]
        cdf[k] = running
    threshold = uniform * running
    for k in range(cdf.shape[0]):
        if cdf[k] >= threshold:
            return k
    return cdf.shape[0] - 1


@_inner
def _sample_backward_sequence(filtered, trans_t, uniforms, states):
    num_timesteps, num_states = filtered.shape
    cdf = np.empty(num_states)
    ones = np.ones(num_states)
    state = _inverse_cdf(filtered[num_timesteps - 1], ones, uniforms[num_timesteps - 1], cdf)
    states[num_timesteps - 1] = state
    for t in range(num_timesteps - 2, -1, -1):
        state = _inverse_cdf(filtered[t], trans_t[state], uniforms[t], cdf)
        states[t] = state


@_inner
def _viterbi_sequence(log_init, log_trans, log_trans_t, log_tables_t, syllables, mask, states):
    num_timesteps, num_states = syllables.shape[0], log_init.shape[0]
    deltas = np.empty((num_timesteps, num_states))
    deltas[0] = log_init
    _shift_to_zero_max(deltas[0])
    for t in range(1, num_timesteps):
        delta = deltas[t]
        delta[:] = -math.inf
        for i in range(num_states):
            previous = deltas[t - 1, i]
            for k in range(num_states):
                delta[k] = max(delta[k], previous + log_trans[i, k])
        if mask[t]:
            log_likelihoods = log_tables_t[syllables[t - 1], syllables[t]]
            for k in range(num_states):
                delta[k] += log_likelihoods[k]
        _shift_to_zero_max(delta)
    state = _argmax_sum(deltas[num_timesteps - 1], np.zeros(num_states))
    states[num_timesteps - 1] = state
    for t in range(num_timesteps - 2, -1, -1):
        state = _argmax_sum(deltas[t], log_trans_t[state])
        states[t] = state


@_inner
def _shift_to_zero_max(scores):
    top = scores.max()
    if np.isfinite(top):
        scores -= top


@_inner
def _argmax_sum(scores_a, scores_b):
    """First index of the maximum of `scores_a + scores_b` (0 if all are -inf)."""
    best, best_index = -math.inf, 0
    for k in range(scores_a.shape[0]):
        value = scores_a[k] + scores_b[k]
        if value > best:
            best, best_index = value, k
    return best_index


# ----------------------------------------------------------------------------------
# Parallel loops over (parameter set, sequence) jobs.


@_outer
def _sample_jobs(init, trans, trans_t, tables_t, syllables, mask, uniforms, jobs, states, logliks):
    num_timesteps, num_states = syllables.shape[1], init.shape[1]
    for job in _prange(jobs.shape[0]):
        params, sequence, masks, draws = jobs[job, 0], jobs[job, 1], jobs[job, 2], jobs[job, 3]
        filtered = np.empty((num_timesteps, num_states))
        logliks[job] = _forward_sequence(
            init[params], trans[params], tables_t[params], syllables[sequence], mask[masks], filtered
        )
        _sample_backward_sequence(filtered, trans_t[params], uniforms[draws], states[job])


@_outer
def _filter_jobs(init, trans, tables_t, syllables, mask, jobs, logliks):
    for job in _prange(jobs.shape[0]):
        params, sequence, masks = jobs[job, 0], jobs[job, 1], jobs[job, 2]
        last_filtered = np.empty((1, init.shape[1]))
        logliks[job] = _forward_sequence(
            init[params], trans[params], tables_t[params], syllables[sequence], mask[masks], last_filtered
        )


@_outer
def _viterbi_jobs(log_init, log_trans, log_trans_t, log_tables_t, syllables, mask, jobs, states):
    for job in _prange(jobs.shape[0]):
        params, sequence, masks = jobs[job, 0], jobs[job, 1], jobs[job, 2]
        _viterbi_sequence(
            log_init[params], log_trans[params], log_trans_t[params], log_tables_t[params],
            syllables[sequence], mask[masks], states[job],
        )


# ----------------------------------------------------------------------------------
# Host side: vmapped batches -> flat jobs.


class _Batch:
    """Flattens the leading (vmap) axes of callback arguments into per-sequence jobs.

    Under `vmap_method="expand_dims"` every argument gains one leading axis per vmap
    level, of size 1 when that argument is not batched. Parameters are broadcast over
    the batch (they are small); sequence arrays are indexed, not copied.
    """

    def __init__(self, parameters: dict, sequences: dict, base_ndims: dict):
        arrays = {**parameters, **sequences}
        num_batch_axes = {arrays[name].ndim - base_ndims[name] for name in arrays}
        if len(num_batch_axes) != 1:
            raise ValueError(f"inconsistent batch axes in native kernel inputs: {num_batch_axes}")
        (self.num_axes,) = num_batch_axes
        self.shape = np.broadcast_shapes(*(a.shape[: self.num_axes] for a in arrays.values()))
        self.size = math.prod(self.shape)
        self.num_sequences = sequences["syllables"].shape[-2]
        self.parameters = {
            name: _readonly(
                np.broadcast_to(value, self.shape + value.shape[self.num_axes :]).reshape(
                    (self.size,) + value.shape[self.num_axes :]
                )
            )
            for name, value in parameters.items()
        }
        self.sequences = {name: _readonly(value.reshape((-1, value.shape[-1]))) for name, value in sequences.items()}
        self.jobs = self._jobs({name: value.shape[: self.num_axes] for name, value in sequences.items()})

    def _jobs(self, sequence_batch_shapes: dict) -> np.ndarray:
        """(B*N, 1 + len(sequences)) int64: parameter set, then a row of each sequence array."""
        batch = np.arange(self.size)
        within = np.arange(self.num_sequences)
        columns = [np.repeat(batch, self.num_sequences)]
        for batch_shape in sequence_batch_shapes.values():
            rows = np.broadcast_to(np.arange(math.prod(batch_shape)).reshape(batch_shape), self.shape).reshape(-1)
            columns.append((rows[:, None] * self.num_sequences + within[None, :]).reshape(-1))
        return _readonly(np.stack(columns, axis=1).astype(np.int64))

    def unflatten(self, per_job: np.ndarray) -> np.ndarray:
        return per_job.reshape(self.shape + (self.num_sequences,) + per_job.shape[1:])


def _readonly(array: np.ndarray) -> np.ndarray:
    """A C-contiguous read-only view (or copy): one numba signature whatever the caller passed."""
    view = np.ascontiguousarray(array).view()
    view.flags.writeable = False
    return view


def _as_syllables(syllables, num_syllables: int) -> np.ndarray:
    syllables = np.asarray(syllables)
    if syllables.size and (syllables.min() < 0 or syllables.max() >= num_syllables):
        raise ValueError(
            f"syllables must lie in [0, {num_syllables}) to index the (K, S, S) transition tables; "
            f"got values in [{syllables.min()}, {syllables.max()}]. Check that the padding value is a "
            "real syllable and that the tables were built for this dataset's syllable count."
        )
    return np.ascontiguousarray(syllables, dtype=np.int32)


def _probability_inputs(log_init, trans, tables):
    init = np.exp(np.asarray(log_init, dtype=np.float64))
    trans = np.asarray(trans, dtype=np.float64)
    tables_t = np.moveaxis(np.asarray(tables, dtype=np.float64), -3, -1)  # (..., S, S, K)
    return {"init": init, "trans": trans, "trans_t": np.swapaxes(trans, -1, -2), "tables_t": tables_t}


_PARAMETER_NDIMS = {"init": 1, "trans": 2, "trans_t": 2, "tables_t": 3}
_SEQUENCE_NDIMS = {"syllables": 2, "mask": 2, "uniforms": 2}


def _batch(parameters: dict, sequences: dict) -> _Batch:
    ndims = {**_PARAMETER_NDIMS, **_SEQUENCE_NDIMS}
    return _Batch(parameters, sequences, {name: ndims[name] for name in {**parameters, **sequences}})


def _sample_callback(log_init, trans, tables, syllables, mask, uniforms):
    parameters = _probability_inputs(log_init, trans, tables)
    sequences = {
        "syllables": _as_syllables(syllables, tables.shape[-1]),
        "mask": np.asarray(mask) != 0,
        "uniforms": np.asarray(uniforms, dtype=np.float64),
    }
    batch = _batch(parameters, sequences)
    num_jobs, num_timesteps = batch.jobs.shape[0], sequences["syllables"].shape[-1]
    states = np.empty((num_jobs, num_timesteps), dtype=np.int32)
    logliks = np.empty(num_jobs, dtype=np.float64)
    p, s = batch.parameters, batch.sequences
    _sample_jobs(
        p["init"], p["trans"], p["trans_t"], p["tables_t"],
        s["syllables"], s["mask"], s["uniforms"], batch.jobs, states, logliks,
    )
    return batch.unflatten(states), batch.unflatten(logliks)


def _filter_callback(log_init, trans, tables, syllables, mask):
    parameters = _probability_inputs(log_init, trans, tables)
    del parameters["trans_t"]
    sequences = {"syllables": _as_syllables(syllables, tables.shape[-1]), "mask": np.asarray(mask) != 0}
    batch = _batch(parameters, sequences)
    logliks = np.empty(batch.jobs.shape[0], dtype=np.float64)
    p, s = batch.parameters, batch.sequences
    _filter_jobs(p["init"], p["trans"], p["tables_t"], s["syllables"], s["mask"], batch.jobs, logliks)
    return batch.unflatten(logliks)


def _viterbi_callback(log_init, trans, tables, syllables, mask):
    with np.errstate(divide="ignore"):
        parameters = {
            name: np.log(value) if name != "init" else np.asarray(log_init, dtype=np.float64)
            for name, value in _probability_inputs(log_init, trans, tables).items()
        }
    sequences = {"syllables": _as_syllables(syllables, tables.shape[-1]), "mask": np.asarray(mask) != 0}
    batch = _batch(parameters, sequences)
    states = np.empty((batch.jobs.shape[0], sequences["syllables"].shape[-1]), dtype=np.int32)
    p, s = batch.parameters, batch.sequences
    _viterbi_jobs(p["init"], p["trans"], p["trans_t"], p["tables_t"], s["syllables"], s["mask"], batch.jobs, states)
    return batch.unflatten(states)


# ----------------------------------------------------------------------------------
# Public API.


def _float_dtype(*arrays):
    return jnp.result_type(*(a.dtype for a in arrays))


def _require_native():
    if numba is None:
        raise RuntimeError(
            f"the native kernels need numba, which failed to import ({_NUMBA_IMPORT_ERROR!r}); "
            "use the JAX kernels in smoseq.inference.kernels instead (check native_available() first)"
        )


def sample_states_native(
    key: PRNGKeyArray,
    log_init: Float[Array, " K"],
    trans: Float[Array, "K K"],
    tables: Float[Array, "K S S"],
    syllables: Int[Array, "N T"],
    mask: Float[Array, "N T"],
) -> tuple[Int[Array, "N T"], Float[Array, " N"]]:
    """Forward-filter backward-sample the hidden states of every sequence (numba).

    Equal, path for path, to `vmap(kernels.hmm_posterior_sample)(jr.split(key, N), ...)`
    on `syllable_log_likelihoods(tables, syllables, mask)`.

    Args:
        key: a JAX PRNG key; split into one key per sequence.
        log_init: log initial state probabilities, shape (K,).
        trans: hidden-state transition matrix, shape (K, K).
        tables: syllable transition probabilities per state, `tables[k, i, j] = P_k[i, j]`,
            shape (K, S, S).
        syllables: ints in [0, S), shape (N, T).
        mask: 1 for real frames, 0 for padding, shape (N, T).

    Returns:
        `(states (N, T) int32, marginal_logliks (N,))`; a sequence of probability zero
        has marginal log-likelihood `-inf`.
    """
    _require_native()
    num_sequences, num_timesteps = syllables.shape
    dtype = _float_dtype(log_init, trans, tables)
    keys = jr.split(key, num_sequences)
    uniforms = jax.vmap(lambda k: posterior_uniforms(k, num_timesteps, dtype))(keys)
    result_types = (
        jax.ShapeDtypeStruct((num_sequences, num_timesteps), jnp.int32),
        jax.ShapeDtypeStruct((num_sequences,), dtype),
    )
    states, logliks = jax.pure_callback(
        _sample_callback, result_types, log_init, trans, tables, syllables, mask, uniforms,
        vmap_method="expand_dims",
    )
    return states, logliks.astype(dtype)


def filter_native(
    log_init: Float[Array, " K"],
    trans: Float[Array, "K K"],
    tables: Float[Array, "K S S"],
    syllables: Int[Array, "N T"],
    mask: Float[Array, "N T"],
) -> Float[Array, " N"]:
    """Marginal log-likelihood `log p(x_n | params)` of every sequence (numba forward filter).

    Args:
        log_init: shape (K,).
        trans: shape (K, K).
        tables: shape (K, S, S).
        syllables: shape (N, T).
        mask: shape (N, T).

    Returns:
        Shape (N,); `-inf` for a sequence of probability zero.
    """
    _require_native()
    dtype = _float_dtype(log_init, trans, tables)
    result_type = jax.ShapeDtypeStruct((syllables.shape[0],), dtype)
    return jax.pure_callback(
        _filter_callback, result_type, log_init, trans, tables, syllables, mask, vmap_method="expand_dims"
    ).astype(dtype)


def viterbi_native(
    log_init: Float[Array, " K"],
    trans: Float[Array, "K K"],
    tables: Float[Array, "K S S"],
    syllables: Int[Array, "N T"],
    mask: Float[Array, "N T"],
) -> Int[Array, "N T"]:
    """Most probable hidden-state path of every sequence (numba, log-space max-product).

    Args:
        log_init: shape (K,).
        trans: shape (K, K).
        tables: shape (K, S, S).
        syllables: shape (N, T).
        mask: shape (N, T).

    Returns:
        int32 states, shape (N, T); ties go to the lowest state index, as in
        `kernels.hmm_viterbi`.
    """
    _require_native()
    result_type = jax.ShapeDtypeStruct(syllables.shape, jnp.int32)
    return jax.pure_callback(
        _viterbi_callback, result_type, log_init, trans, tables, syllables, mask, vmap_method="expand_dims"
    )


def syllable_log_likelihoods(
    tables: Float[Array, "K S S"],
    syllables: Int[Array, "N T"],
    mask: Float[Array, "N T"],
) -> Float[Array, "N T K"]:
    """The log-likelihoods the native kernels use implicitly, for the JAX kernels.

    `log tables[k, x[t-1], x[t]]` where `t >= 1` and `mask[t]` is nonzero, else 0.

    Args:
        tables: shape (K, S, S).
        syllables: shape (N, T).
        mask: shape (N, T).

    Returns:
        Shape (N, T, K).
    """
    previous, current = syllables[:, :-1], syllables[:, 1:]
    log_tables = jnp.log(jnp.moveaxis(tables, 0, -1))  # (S, S, K)
    transitions = jnp.where((mask[:, 1:] != 0)[..., None], log_tables[previous, current], 0.0)
    first = jnp.zeros((syllables.shape[0], 1, tables.shape[0]), dtype=transitions.dtype)
    return jnp.concatenate([first, transitions], axis=1)
