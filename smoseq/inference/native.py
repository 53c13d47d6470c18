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
    "sample_states_host",
    "filter_native",
    "viterbi_native",
    "syllable_log_likelihoods",
]


def native_available() -> bool:
    """True when numba imported, so the `*_native` kernels can run."""
    return numba is not None


if numba is not None:
    _strict = numba.njit(cache=True, nogil=True)
    # Reassociation only (no nnan/ninf): sums may be vectorised, zeros and infinities keep IEEE meaning.
    _fast = numba.njit(cache=True, nogil=True, fastmath={"reassoc", "contract"})
    _parallel = numba.njit(cache=True, nogil=True, parallel=True)
    _prange = numba.prange
else:  # pragma: no cover - the kernels below stay plain (and unused) Python
    def _strict(function):
        return function

    _fast = _parallel = _strict
    _prange = range


# ----------------------------------------------------------------------------------
# Compiled loops. Layouts: `jobs[j] = (parameter set, syllable row, mask row, uniform row)`;
# `tables_t[p, i, j, k] = tables[k, i, j]` padded with a row and column S of ones
# (zeros for log tables), looked up on frames that carry no evidence (t = 0, masked).
# Numba passes arrays to functions with reference counting, so per-frame work is
# written inline rather than in per-frame helper calls.


@_strict
def _add_log_normaliser(total, scale, log_total):
    """Fold a frame's normaliser into `(scale, log_total)`, taking a log only when `scale` drifts."""
    if 1e-100 < total < 1e100:
        scale *= total
        if not 1e-200 < scale < 1e200:
            return 1.0, log_total + math.log(scale)
        return scale, log_total
    if total > 0.0:
        return scale, log_total + math.log(total)
    return scale, -math.inf


@_fast
def _forward_two(init, trans_t, tables_t, syllables, mask, jobs, a, b, filtered_a, filtered_b, logliks):
    """Normalised forward passes of jobs `a` and `b` (may be equal), interleaved.

    Two independent dependency chains in one loop keep the core busy: ~1.7x the
    throughput of one chain. `filtered_*` are (T, K) to keep every filtered vector or
    (1, K) to keep only the last. Writes `logliks[a]` and `logliks[b]`.
    """
    num_timesteps, num_states = syllables.shape[1], init.shape[1]
    padding = tables_t.shape[1] - 1
    tables_a, trans_a = tables_t[jobs[a, 0]], trans_t[jobs[a, 0]]
    tables_b, trans_b = tables_t[jobs[b, 0]], trans_t[jobs[b, 0]]
    syllables_a, mask_a = syllables[jobs[a, 1]], mask[jobs[a, 2]]
    syllables_b, mask_b = syllables[jobs[b, 1]], mask[jobs[b, 2]]
    stride_a = 1 if filtered_a.shape[0] == num_timesteps else 0
    stride_b = 1 if filtered_b.shape[0] == num_timesteps else 0
    predicted_a, predicted_b = init[jobs[a, 0]].copy(), init[jobs[b, 0]].copy()
    joint_a, joint_b = np.empty(num_states), np.empty(num_states)
    scale_a, scale_b, log_total_a, log_total_b = 1.0, 1.0, 0.0, 0.0
    for t in range(num_timesteps):
        evidence_a, evidence_b = t > 0 and mask_a[t], t > 0 and mask_b[t]
        likelihoods_a = tables_a[syllables_a[t - 1], syllables_a[t]] if evidence_a else tables_a[padding, padding]
        likelihoods_b = tables_b[syllables_b[t - 1], syllables_b[t]] if evidence_b else tables_b[padding, padding]
        total_a, total_b = 0.0, 0.0
        for k in range(num_states):
            joint_a[k] = predicted_a[k] * likelihoods_a[k]
            joint_b[k] = predicted_b[k] * likelihoods_b[k]
            total_a += joint_a[k]
            total_b += joint_b[k]
        inverse_a = 1.0 / total_a if total_a > 0.0 else 1.0
        inverse_b = 1.0 / total_b if total_b > 0.0 else 1.0
        row_a, row_b = filtered_a[t * stride_a], filtered_b[t * stride_b]
        for k in range(num_states):
            dot_a, dot_b = 0.0, 0.0
            for i in range(num_states):
                dot_a += joint_a[i] * trans_a[k, i]
                dot_b += joint_b[i] * trans_b[k, i]
            predicted_a[k] = dot_a * inverse_a
            predicted_b[k] = dot_b * inverse_b
            row_a[k] = joint_a[k] * inverse_a
            row_b[k] = joint_b[k] * inverse_b
        scale_a, log_total_a = _add_log_normaliser(total_a, scale_a, log_total_a)
        scale_b, log_total_b = _add_log_normaliser(total_b, scale_b, log_total_b)
    logliks[a] = log_total_a + math.log(scale_a)
    logliks[b] = log_total_b + math.log(scale_b)


@_strict
def _sample_two(trans_t, uniforms, jobs, a, b, filtered_a, filtered_b, states):
    """Backward sampling of jobs `a` and `b`, interleaved; writes `states[a]`, `states[b]`.

    Inverse CDF exactly as `kernels.inverse_cdf_index`: the state is the number of
    prefix sums below `uniform * total`. Strict IEEE arithmetic, so the second pass
    reproduces the first pass's prefix sums bit for bit.
    """
    num_timesteps, num_states = filtered_a.shape
    params_a, draws_a = jobs[a, 0], jobs[a, 3]
    params_b, draws_b = jobs[b, 0], jobs[b, 3]
    state_a, state_b = -1, -1  # -1: no next state yet, weights are the filtered probabilities
    for t in range(num_timesteps - 1, -1, -1):
        total_a, total_b = 0.0, 0.0
        for k in range(num_states):
            total_a += filtered_a[t, k] * (trans_t[params_a, state_a, k] if state_a >= 0 else 1.0)
            total_b += filtered_b[t, k] * (trans_t[params_b, state_b, k] if state_b >= 0 else 1.0)
        threshold_a = uniforms[draws_a, t] * total_a
        threshold_b = uniforms[draws_b, t] * total_b
        running_a, running_b, index_a, index_b = 0.0, 0.0, 0, 0
        for k in range(num_states):
            running_a += filtered_a[t, k] * (trans_t[params_a, state_a, k] if state_a >= 0 else 1.0)
            running_b += filtered_b[t, k] * (trans_t[params_b, state_b, k] if state_b >= 0 else 1.0)
            index_a += running_a < threshold_a
            index_b += running_b < threshold_b
        state_a, state_b = index_a, index_b
        states[a, t] = state_a
        states[b, t] = state_b


@_strict
def _viterbi_one(log_init, log_trans_t, log_tables_t, syllables, mask, jobs, j, deltas, states):
    """Log-space max-product of job `j` (as `kernels.hmm_viterbi`) in the (T, K) buffer `deltas`; writes `states[j]`."""
    num_timesteps, num_states = syllables.shape[1], log_init.shape[1]
    padding = log_tables_t.shape[1] - 1
    params, sequence, mask_row = jobs[j, 0], jobs[j, 1], jobs[j, 2]
    top = log_init[params].max()
    for k in range(num_states):
        deltas[0, k] = log_init[params, k] - (top if np.isfinite(top) else 0.0)
    for t in range(1, num_timesteps):
        previous = syllables[sequence, t - 1] if mask[mask_row, t] else padding
        current = syllables[sequence, t] if mask[mask_row, t] else padding
        top = -math.inf
        for k in range(num_states):
            best = -math.inf
            for i in range(num_states):
                best = max(best, deltas[t - 1, i] + log_trans_t[params, k, i])
            deltas[t, k] = best + log_tables_t[params, previous, current, k]
            top = max(top, deltas[t, k])
        if np.isfinite(top):
            for k in range(num_states):
                deltas[t, k] -= top
    state = -1
    for t in range(num_timesteps - 1, -1, -1):
        best, best_index = -math.inf, 0
        for i in range(num_states):
            score = deltas[t, i] + (log_trans_t[params, state, i] if state >= 0 else 0.0)
            if score > best:
                best, best_index = score, i
        state = best_index
        states[j, t] = state


@_parallel
def _sample_jobs(init, trans_t, tables_t, syllables, mask, uniforms, jobs, num_workers, states, logliks):
    """Pairs of jobs dealt round-robin to `num_workers` workers (one per thread).

    Each worker reuses one pair of filtered buffers: on long sequences fresh pages cost
    more than the arithmetic (1.7x slower at 432,000 frames with a buffer per pair).
    """
    num_timesteps, num_states, num_jobs = syllables.shape[1], init.shape[1], jobs.shape[0]
    num_pairs = (num_jobs + 1) // 2
    for worker in _prange(num_workers):
        filtered = np.empty((2, num_timesteps, num_states))
        for pair in range(worker, num_pairs, num_workers):
            a, b = 2 * pair, min(2 * pair + 1, num_jobs - 1)
            _forward_two(init, trans_t, tables_t, syllables, mask, jobs, a, b, filtered[0], filtered[1], logliks)
            _sample_two(trans_t, uniforms, jobs, a, b, filtered[0], filtered[1], states)


@_parallel
def _filter_jobs(init, trans_t, tables_t, syllables, mask, jobs, logliks):
    num_states, num_jobs = init.shape[1], jobs.shape[0]
    for pair in _prange((num_jobs + 1) // 2):
        a, b = 2 * pair, min(2 * pair + 1, num_jobs - 1)
        last_a, last_b = np.empty((1, num_states)), np.empty((1, num_states))
        _forward_two(init, trans_t, tables_t, syllables, mask, jobs, a, b, last_a, last_b, logliks)


@_parallel
def _viterbi_jobs(log_init, log_trans_t, log_tables_t, syllables, mask, jobs, num_workers, states):
    """Jobs dealt round-robin to `num_workers` workers, each reusing one (T, K) buffer."""
    num_jobs = jobs.shape[0]
    for worker in _prange(num_workers):
        deltas = np.empty((syllables.shape[1], log_init.shape[1]))
        for j in range(worker, num_jobs, num_workers):
            _viterbi_one(log_init, log_trans_t, log_tables_t, syllables, mask, jobs, j, deltas, states)


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


def _padded_tables_t(tables: np.ndarray, pad_value: float) -> np.ndarray:
    """(..., K, S, S) -> (..., S+1, S+1, K), row and column S filled with `pad_value`."""
    tables_t = np.moveaxis(np.asarray(tables, dtype=np.float64), -3, -1)
    pad = [(0, 0)] * (tables_t.ndim - 3) + [(0, 1), (0, 1), (0, 0)]
    return np.pad(tables_t, pad, constant_values=pad_value)


def _probability_parameters(log_init, trans, tables) -> dict:
    return {
        "init": np.exp(np.asarray(log_init, dtype=np.float64)),
        "trans_t": np.swapaxes(np.asarray(trans, dtype=np.float64), -1, -2),
        "tables_t": _padded_tables_t(tables, 1.0),
    }


def _log_parameters(log_init, trans, tables) -> dict:
    with np.errstate(divide="ignore"):
        return {
            "init": np.asarray(log_init, dtype=np.float64),
            "trans_t": np.log(np.swapaxes(np.asarray(trans, dtype=np.float64), -1, -2)),
            "tables_t": np.log(_padded_tables_t(tables, 1.0)),
        }


def _sequences(syllables, mask, num_syllables: int, uniforms=None) -> dict:
    sequences = {"syllables": _as_syllables(syllables, num_syllables), "mask": np.asarray(mask) != 0}
    if uniforms is not None:
        sequences["uniforms"] = np.asarray(uniforms, dtype=np.float64)
    return sequences


_PARAMETER_NDIMS = {"init": 1, "trans_t": 2, "tables_t": 3}
_SEQUENCE_NDIMS = {"syllables": 2, "mask": 2, "uniforms": 2}


def _batch(parameters: dict, sequences: dict) -> _Batch:
    ndims = {**_PARAMETER_NDIMS, **_SEQUENCE_NDIMS}
    return _Batch(parameters, sequences, {name: ndims[name] for name in {**parameters, **sequences}})


def _float32_pair(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """float64 -> (high, low) float32 with `high + low` equal to `values` to ~1e-14.

    Callbacks return only int32 and float32: JAX canonicalises callback outputs with the
    x64 setting of the thread that runs the callback, which under the thread-local
    `jax.enable_x64` context is not the caller's, so a float64 output would be refused.
    """
    high = values.astype(np.float32)
    with np.errstate(invalid="ignore"):
        low = np.where(np.isfinite(high), values - high, 0.0).astype(np.float32)
    return high, low


def _join_float32_pair(high, low, dtype):
    return high.astype(dtype) + low.astype(dtype)


def _sample_callback(log_init, trans, tables, syllables, mask, uniforms):
    batch = _batch(
        _probability_parameters(log_init, trans, tables), _sequences(syllables, mask, tables.shape[-1], uniforms)
    )
    p, s = batch.parameters, batch.sequences
    states = np.empty((batch.jobs.shape[0], s["syllables"].shape[-1]), dtype=np.int32)
    logliks = np.empty(batch.jobs.shape[0], dtype=np.float64)
    num_workers = min(numba.get_num_threads(), (batch.jobs.shape[0] + 1) // 2)
    _sample_jobs(
        p["init"], p["trans_t"], p["tables_t"], s["syllables"], s["mask"], s["uniforms"], batch.jobs, num_workers,
        states, logliks,
    )
    return (batch.unflatten(states), *_float32_pair(batch.unflatten(logliks)))


def _filter_callback(log_init, trans, tables, syllables, mask):
    batch = _batch(_probability_parameters(log_init, trans, tables), _sequences(syllables, mask, tables.shape[-1]))
    p, s = batch.parameters, batch.sequences
    logliks = np.empty(batch.jobs.shape[0], dtype=np.float64)
    _filter_jobs(p["init"], p["trans_t"], p["tables_t"], s["syllables"], s["mask"], batch.jobs, logliks)
    return _float32_pair(batch.unflatten(logliks))


def _viterbi_callback(log_init, trans, tables, syllables, mask):
    batch = _batch(_log_parameters(log_init, trans, tables), _sequences(syllables, mask, tables.shape[-1]))
    p, s = batch.parameters, batch.sequences
    states = np.empty((batch.jobs.shape[0], s["syllables"].shape[-1]), dtype=np.int32)
    num_workers = min(numba.get_num_threads(), batch.jobs.shape[0])
    _viterbi_jobs(p["init"], p["trans_t"], p["tables_t"], s["syllables"], s["mask"], batch.jobs, num_workers, states)
    return batch.unflatten(states)


# ----------------------------------------------------------------------------------
# Public API.


def _float_dtype(*arrays):
    return jax.dtypes.canonicalize_dtype(jnp.result_type(*(jnp.asarray(a).dtype for a in arrays)))


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
    loglik_type = jax.ShapeDtypeStruct((num_sequences,), jnp.float32)
    result_types = (jax.ShapeDtypeStruct((num_sequences, num_timesteps), jnp.int32), loglik_type, loglik_type)
    states, high, low = jax.pure_callback(
        _sample_callback, result_types, log_init, trans, tables, syllables, mask, uniforms,
        vmap_method="expand_dims",
    )
    return states, _join_float32_pair(high, low, dtype)


def sample_states_host(
    log_init: Float[np.ndarray, "*M K"],
    trans: Float[np.ndarray, "*M K K"],
    tables: Float[np.ndarray, "*M K S S"],
    syllables: Int[np.ndarray, "N T"],
    mask: Float[np.ndarray, "N T"],
    uniforms: Float[np.ndarray, "*M N T"],
) -> tuple[np.ndarray, np.ndarray]:
    """`sample_states_native` called from the host, outside any jitted program.

    The same compiled loop and the same inverse-CDF rule: given the uniforms that
    `sample_states_native(key, ...)` draws from `key` (`posterior_uniforms` of
    `jr.split(key, N)`), it returns the same paths. Keeping the host call out of the
    jitted parameter update lets JAX's persistent compilation cache store that program
    (programs holding a host callback are never cached). Parameters may carry a leading
    model axis `M` (the sequences are shared by every model).

    Args:
        log_init: (K,) or (M, K) log initial state probabilities.
        trans: (K, K) or (M, K, K) transition matrices.
        tables: (K, S, S) or (M, K, S, S) syllable transition tables.
        syllables: (N, T) ints in [0, S).
        mask: (N, T), nonzero on frames whose emission is scored.
        uniforms: (N, T) or (M, N, T) in (0, 1].

    Returns:
        `(states, logliks)`: int32 (*M, N, T) and float64 (*M, N) (`-inf` for a sequence of
        probability zero).
    """
    _require_native()
    batched = np.ndim(log_init) == 2
    if batched:
        syllables, mask = np.asarray(syllables)[None], np.asarray(mask)[None]
    states, high, low = _sample_callback(
        np.asarray(log_init), np.asarray(trans), np.asarray(tables), syllables, mask, np.asarray(uniforms)
    )
    return states, high.astype(np.float64) + low.astype(np.float64)


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
    loglik_type = jax.ShapeDtypeStruct((syllables.shape[0],), jnp.float32)
    high, low = jax.pure_callback(
        _filter_callback, (loglik_type, loglik_type), log_init, trans, tables, syllables, mask,
        vmap_method="expand_dims",
    )
    return _join_float32_pair(high, low, dtype)


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
