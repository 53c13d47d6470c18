"""Compiled CPU kernels (numba) for HMM inference, callable from jitted JAX code.

Two kinds of evidence:

- **tables** (the syllable HHMM): the likelihood of hidden state k at frame t >= 1 is a
  table lookup, `tables[k, x[t-1], x[t]]` (a probability), when `mask[t]` is nonzero,
  and 1 otherwise; frame 0 always contributes 1. The hidden chain runs through masked
  frames. The lookup happens inside the compiled loop, instead of materialising the
  (N, T, K) log-likelihoods.
- **dense log-likelihoods** (`log_likelihoods=`, any HMM): `log_likelihoods[n, t, k]` on
  every frame, as the JAX kernels take them; `syllables` and `mask` then only give
  shapes. The forward pass uses per-frame scaled likelihoods `exp(ll[t] - max_k ll[t])`
  (float64, computed on the host before the loop) and adds the log scales back.

The transition matrix is shared, (K, K), one per sequence, (N, K, K), or one per frame of
every sequence, (N, T, K, K) with `trans[n, t]` the step t-1 -> t (`trans[n, 0]` unused,
as in `smoseq.inference.kernels`). The first two keep one (K, K) matrix per sequence in
the loops; only the third reads a matrix per frame.
Each kernel runs one compiled loop per sequence (float64 accumulators, a normalisation
every step, sequences spread over cores with `numba.prange`). The loops are cached on
disk and each signature's first call in a process compiles under an inter-process lock
(`smoseq._numba_cache`): parallel processes on a fresh install would otherwise race on
numba's cache and crash.

Equivalence with the JAX kernels (`smoseq.inference.kernels`), for the same inputs,
`trans[n]` the matrix of sequence n (the shared one when (K, K)) and, on the table
path, `log_likelihoods = syllable_log_likelihoods(tables, syllables, mask)`:

- `filter_native(...)[n] == hmm_filter(log_init, trans[n], log_likelihoods[n]).marginal_loglik`;
- `viterbi_native(...)[n] == hmm_viterbi(log_init, trans[n], log_likelihoods[n])`;
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

import functools
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
from jaxtyping import Array, Float, Int, PRNGKeyArray

from .._numba_cache import call_compiled
from .expected import hmm_expected_statistics
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
# Compiled loops. A job is one (parameter set, sequence) pair; `jobs[j, column]` is the
# row job j reads in each array, one column per array family:
_JOB_PARAMETERS = 0  # init, tables_t: the parameter set (flattened vmap batch index)
_JOB_TRANS = 1  # trans_t: the sequence's (K, K) transition matrix
_JOB_SYLLABLES = 2  # syllables
_JOB_MASK = 3  # mask
_JOB_UNIFORMS = 4  # uniforms (sampling only)
_JOB_FRAMES = 5  # frames (dense path only)
_JOB_TRANS_FRAMES = 6  # trans_frames: the sequence's (T, K, K) per-frame matrices (time-varying only)
_NUM_JOB_COLUMNS = 7
# Columns of arrays a call does not use are 0.
#
# Layouts: `trans_t[r] = trans[n].T`; `trans_frames[r, t] = trans[n, t].T` for per-frame
# matrices (None otherwise, which prunes the per-frame branches: the (K, K) paths compile
# to the same machine code as before; with per-frame matrices `trans_t` is a stand-in); `tables_t[p, i, j, k] = tables[k, i, j]` padded with
# a row and column S of ones (zeros for log tables), looked up on frames that carry no
# evidence (t = 0, masked); `frames[r, t, k]` the dense path's per-frame scaled
# likelihoods (forward pass) or log-likelihoods (Viterbi). `frames is None` is the
# loop-invariant branch between the per-frame table lookup and the dense row. The table
# path passes `frames=None`: numba then prunes the dense branch when it compiles that
# specialisation, so the table path runs the same machine code as without a dense path
# (a runtime flag cost it ~5%). The dense path passes one-element stand-ins for
# `tables_t`, `syllables` and `mask` (typed, never read) and branches at run time.
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


@_parallel
def _scale_frames(log_likelihoods, scaled, log_scales):
    """`scaled[r, t] = exp(log_likelihoods[r, t] - m)` with `m` the frame's maximum, 0 when not
    finite (as `kernels.scaled_likelihoods`); `log_scales[r]` is the sum of the row's `m`."""
    num_rows, num_timesteps, num_states = log_likelihoods.shape
    for r in _prange(num_rows):
        total = 0.0
        for t in range(num_timesteps):
            top = -math.inf
            for k in range(num_states):
                top = max(top, log_likelihoods[r, t, k])
            if not np.isfinite(top):
                top = 0.0
            total += top
            for k in range(num_states):
                scaled[r, t, k] = math.exp(log_likelihoods[r, t, k] - top)
        log_scales[r] = total


@_fast
def _forward_two(init, trans_t, trans_frames, tables_t, frames, syllables, mask, jobs, a, b, filtered_a, filtered_b, logliks):
    """Normalised forward passes of jobs `a` and `b` (may be equal), interleaved.

    Two independent dependency chains in one loop keep the core busy: ~1.7x the
    throughput of one chain. `filtered_*` are (T, K) to keep every filtered vector or
    (1, K) to keep only the last. Writes `logliks[a]` and `logliks[b]` (without the
    dense path's frame scales).
    """
    num_states = init.shape[1]
    trans_a, trans_b = trans_t[jobs[a, _JOB_TRANS]], trans_t[jobs[b, _JOB_TRANS]]
    if frames is None:  # table path
        num_timesteps, padding = syllables.shape[1], tables_t.shape[1] - 1
        tables_a, tables_b = tables_t[jobs[a, _JOB_PARAMETERS]], tables_t[jobs[b, _JOB_PARAMETERS]]
        syllables_a, mask_a = syllables[jobs[a, _JOB_SYLLABLES]], mask[jobs[a, _JOB_MASK]]
        syllables_b, mask_b = syllables[jobs[b, _JOB_SYLLABLES]], mask[jobs[b, _JOB_MASK]]
    else:
        num_timesteps = frames.shape[1]
        frames_a, frames_b = frames[jobs[a, _JOB_FRAMES]], frames[jobs[b, _JOB_FRAMES]]
    stride_a = 1 if filtered_a.shape[0] == num_timesteps else 0
    stride_b = 1 if filtered_b.shape[0] == num_timesteps else 0
    predicted_a = init[jobs[a, _JOB_PARAMETERS]].copy()
    predicted_b = init[jobs[b, _JOB_PARAMETERS]].copy()
    joint_a, joint_b = np.empty(num_states), np.empty(num_states)
    scale_a, scale_b, log_total_a, log_total_b = 1.0, 1.0, 0.0, 0.0
    for t in range(num_timesteps):
        if frames is None:
            evidence_a, evidence_b = t > 0 and mask_a[t], t > 0 and mask_b[t]
            likelihoods_a = tables_a[syllables_a[t - 1], syllables_a[t]] if evidence_a else tables_a[padding, padding]
            likelihoods_b = tables_b[syllables_b[t - 1], syllables_b[t]] if evidence_b else tables_b[padding, padding]
        else:
            likelihoods_a, likelihoods_b = frames_a[t], frames_b[t]
        if trans_frames is not None:  # the prediction of frame t+1 uses trans[t+1]
            following = min(t + 1, num_timesteps - 1)
            trans_a = trans_frames[jobs[a, _JOB_TRANS_FRAMES], following]
            trans_b = trans_frames[jobs[b, _JOB_TRANS_FRAMES], following]
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
def _sample_two(trans_t, trans_frames, uniforms, jobs, a, b, filtered_a, filtered_b, states):
    """Backward sampling of jobs `a` and `b`, interleaved; writes `states[a]`, `states[b]`.

    Inverse CDF exactly as `kernels.inverse_cdf_index`: the state is the number of
    prefix sums below `uniform * total`. Strict IEEE arithmetic, so the second pass
    reproduces the first pass's prefix sums bit for bit.
    """
    num_timesteps, num_states = filtered_a.shape
    trans_row_a, draws_a = jobs[a, _JOB_TRANS], jobs[a, _JOB_UNIFORMS]
    trans_row_b, draws_b = jobs[b, _JOB_TRANS], jobs[b, _JOB_UNIFORMS]
    frames_row_a, frames_row_b = jobs[a, _JOB_TRANS_FRAMES], jobs[b, _JOB_TRANS_FRAMES]
    state_a, state_b = -1, -1  # -1: no next state yet, weights are the filtered probabilities
    if trans_frames is None:  # placeholders, replaced before they are read
        column_a, column_b = trans_t[trans_row_a, 0], trans_t[trans_row_b, 0]
    else:
        column_a, column_b = trans_frames[frames_row_a, 0, 0], trans_frames[frames_row_b, 0, 0]
    for t in range(num_timesteps - 1, -1, -1):
        if trans_frames is not None and state_a >= 0:  # the step t -> t+1 uses trans[t+1]
            column_a, column_b = trans_frames[frames_row_a, t + 1, state_a], trans_frames[frames_row_b, t + 1, state_b]
        elif state_a >= 0:
            column_a, column_b = trans_t[trans_row_a, state_a], trans_t[trans_row_b, state_b]
        total_a, total_b = 0.0, 0.0
        for k in range(num_states):
            total_a += filtered_a[t, k] * (column_a[k] if state_a >= 0 else 1.0)
            total_b += filtered_b[t, k] * (column_b[k] if state_b >= 0 else 1.0)
        threshold_a = uniforms[draws_a, t] * total_a
        threshold_b = uniforms[draws_b, t] * total_b
        running_a, running_b, index_a, index_b = 0.0, 0.0, 0, 0
        for k in range(num_states):
            running_a += filtered_a[t, k] * (column_a[k] if state_a >= 0 else 1.0)
            running_b += filtered_b[t, k] * (column_b[k] if state_b >= 0 else 1.0)
            index_a += running_a < threshold_a
            index_b += running_b < threshold_b
        state_a, state_b = index_a, index_b
        states[a, t] = state_a
        states[b, t] = state_b


@_strict
def _viterbi_one(log_init, log_trans_t, log_trans_frames, log_tables_t, frames, syllables, mask, jobs, j, deltas, states):
    """Log-space max-product of job `j` (as `kernels.hmm_viterbi`) in the (T, K) buffer `deltas`; writes `states[j]`."""
    num_timesteps, num_states = states.shape[1], log_init.shape[1]
    params, trans_row, frames_row = jobs[j, _JOB_PARAMETERS], jobs[j, _JOB_TRANS], jobs[j, _JOB_TRANS_FRAMES]
    sequence, mask_row, frame_row = jobs[j, _JOB_SYLLABLES], jobs[j, _JOB_MASK], jobs[j, _JOB_FRAMES]
    padding = log_tables_t.shape[1] - 1
    matrix = log_trans_t[trans_row] if log_trans_frames is None else log_trans_frames[frames_row, 0]
    top = -math.inf
    for k in range(num_states):
        deltas[0, k] = log_init[params, k] + (0.0 if frames is None else frames[frame_row, 0, k])
        top = max(top, deltas[0, k])
    if np.isfinite(top):
        for k in range(num_states):
            deltas[0, k] -= top
    for t in range(1, num_timesteps):
        if frames is None:
            previous = syllables[sequence, t - 1] if mask[mask_row, t] else padding
            current = syllables[sequence, t] if mask[mask_row, t] else padding
        else:
            previous, current = padding, padding
        top = -math.inf
        matrix = log_trans_t[trans_row] if log_trans_frames is None else log_trans_frames[frames_row, t]
        for k in range(num_states):
            best = -math.inf
            for i in range(num_states):
                best = max(best, deltas[t - 1, i] + matrix[k, i])
            if frames is None:  # scalar lookups: a per-frame view costs the table path ~10%
                deltas[t, k] = best + log_tables_t[params, previous, current, k]
            else:
                deltas[t, k] = best + frames[frame_row, t, k]
            top = max(top, deltas[t, k])
        if np.isfinite(top):
            for k in range(num_states):
                deltas[t, k] -= top
    state = -1
    for t in range(num_timesteps - 1, -1, -1):
        best, best_index = -math.inf, 0
        if state >= 0:  # the step t -> t+1 uses trans[t+1]
            matrix = log_trans_t[trans_row] if log_trans_frames is None else log_trans_frames[frames_row, t + 1]
        for i in range(num_states):
            score = deltas[t, i] + (matrix[state, i] if state >= 0 else 0.0)
            if score > best:
                best, best_index = score, i
        state = best_index
        states[j, t] = state


@_parallel
def _sample_jobs(init, trans_t, trans_frames, tables_t, frames, syllables, mask, uniforms, jobs, num_workers, states, logliks):
    """Pairs of jobs dealt round-robin to `num_workers` workers (one per thread).

    Each worker reuses one pair of filtered buffers: on long sequences fresh pages cost
    more than the arithmetic (1.7x slower at 432,000 frames with a buffer per pair).
    """
    num_timesteps, num_states, num_jobs = states.shape[1], init.shape[1], jobs.shape[0]
    num_pairs = (num_jobs + 1) // 2
    for worker in _prange(num_workers):
        filtered = np.empty((2, num_timesteps, num_states))
        for pair in range(worker, num_pairs, num_workers):
            a, b = 2 * pair, min(2 * pair + 1, num_jobs - 1)
            _forward_two(
                init, trans_t, trans_frames, tables_t, frames, syllables, mask, jobs, a, b, filtered[0], filtered[1],
                logliks,
            )
            _sample_two(trans_t, trans_frames, uniforms, jobs, a, b, filtered[0], filtered[1], states)


@_parallel
def _filter_jobs(init, trans_t, trans_frames, tables_t, frames, syllables, mask, jobs, logliks):
    num_states, num_jobs = init.shape[1], jobs.shape[0]
    for pair in _prange((num_jobs + 1) // 2):
        a, b = 2 * pair, min(2 * pair + 1, num_jobs - 1)
        last_a, last_b = np.empty((1, num_states)), np.empty((1, num_states))
        _forward_two(init, trans_t, trans_frames, tables_t, frames, syllables, mask, jobs, a, b, last_a, last_b, logliks)


@_parallel
def _viterbi_jobs(log_init, log_trans_t, log_trans_frames, log_tables_t, frames, syllables, mask, jobs, num_workers, states):
    """Jobs dealt round-robin to `num_workers` workers, each reusing one (T, K) buffer."""
    num_jobs = jobs.shape[0]
    for worker in _prange(num_workers):
        deltas = np.empty((states.shape[1], log_init.shape[1]))
        for j in range(worker, num_jobs, num_workers):
            _viterbi_one(log_init, log_trans_t, log_trans_frames, log_tables_t, frames, syllables, mask, jobs, j, deltas, states)


# ----------------------------------------------------------------------------------
# Host side: vmapped batches -> flat jobs.

# Base (unbatched) ndim of each callback array, and the job column of each sequence array.
_PARAMETER_NDIMS = {"init": 1, "tables_t": 3}
_SEQUENCE_NDIMS = {"trans_t": 3, "trans_frames": 4, "syllables": 2, "mask": 2, "uniforms": 2, "frames": 3}
_SEQUENCE_COLUMNS = {
    "trans_t": _JOB_TRANS,
    "trans_frames": _JOB_TRANS_FRAMES,
    "syllables": _JOB_SYLLABLES,
    "mask": _JOB_MASK,
    "uniforms": _JOB_UNIFORMS,
    "frames": _JOB_FRAMES,
}


class _Batch:
    """Flattens the leading (vmap) axes of callback arguments into per-sequence jobs.

    Under `vmap_method="expand_dims"` every argument gains one leading axis per vmap
    level, of size 1 when that argument is not batched. Parameters (one per model) are
    broadcast over the batch (they are small); sequence arrays, (*batch, N, ...) with
    any trailing shape, are flattened to (rows, ...) and indexed through their own job
    column, not copied.
    """

    def __init__(self, parameters: dict, sequences: dict, base_ndims: dict):
        arrays = {**parameters, **sequences}
        num_batch_axes = {arrays[name].ndim - base_ndims[name] for name in arrays}
        if len(num_batch_axes) != 1:
            raise ValueError(f"inconsistent batch axes in native kernel inputs: {num_batch_axes}")
        (self.num_axes,) = num_batch_axes
        self.shape = np.broadcast_shapes(*(a.shape[: self.num_axes] for a in arrays.values()))
        self.size = math.prod(self.shape)
        lengths = {name: value.shape[self.num_axes] for name, value in sequences.items()}
        if len(set(lengths.values())) != 1:
            raise ValueError(f"native kernel inputs disagree on the number of sequences: {lengths}")
        (self.num_sequences,) = set(lengths.values())
        self.parameters = {
            name: _readonly(
                np.broadcast_to(value, self.shape + value.shape[self.num_axes :]).reshape(
                    (self.size,) + value.shape[self.num_axes :]
                )
            )
            for name, value in parameters.items()
        }
        self.sequences = {
            name: _readonly(value.reshape((-1,) + value.shape[self.num_axes + 1 :]))
            for name, value in sequences.items()
        }
        self.jobs = self._jobs({name: value.shape[: self.num_axes] for name, value in sequences.items()})

    def _jobs(self, sequence_batch_shapes: dict) -> np.ndarray:
        """(B*N, _NUM_JOB_COLUMNS) int64: the parameter set, then a row of each sequence array (0 if absent)."""
        within = np.arange(self.num_sequences)
        jobs = np.zeros((self.size * self.num_sequences, _NUM_JOB_COLUMNS), dtype=np.int64)
        jobs[:, _JOB_PARAMETERS] = np.repeat(np.arange(self.size), self.num_sequences)
        for name, batch_shape in sequence_batch_shapes.items():
            rows = np.broadcast_to(np.arange(math.prod(batch_shape)).reshape(batch_shape), self.shape).reshape(-1)
            jobs[:, _SEQUENCE_COLUMNS[name]] = (rows[:, None] * self.num_sequences + within[None, :]).reshape(-1)
        return _readonly(jobs)

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


# Stand-ins for the table path's arrays on the dense path: typed like the real ones, never read.
_NO_TABLES = _readonly(np.ones((1, 1, 1, 1)))
_NO_SYLLABLES = _readonly(np.zeros((1, 1), dtype=np.int32))
_NO_MASK = _readonly(np.zeros((1, 1), dtype=bool))
_NO_TRANS = _readonly(np.ones((1, 1, 1)))


class _Inputs(NamedTuple):
    """The compiled loops' arguments for one callback, batched into jobs."""

    batch: _Batch
    init: np.ndarray
    trans_t: np.ndarray  # (a stand-in with per-frame matrices)
    trans_frames: np.ndarray | None  # per-frame matrices (None selects one matrix per sequence)
    tables_t: np.ndarray  # table path (a stand-in on the dense path)
    frames: np.ndarray | None  # dense path (None selects the table path)
    syllables: np.ndarray  # table path (a stand-in on the dense path)
    mask: np.ndarray  # table path (a stand-in on the dense path)
    uniforms: np.ndarray | None  # sampling
    log_scales: np.ndarray | None  # dense forward path: per frames row, the sum of the frame scales

    def loops_arguments(self) -> tuple:
        """`(init, trans_t, trans_frames, tables_t, frames, syllables, mask)`, the leading arguments of every loop."""
        return self.init, self.trans_t, self.trans_frames, self.tables_t, self.frames, self.syllables, self.mask

    def add_log_scales(self, logliks: np.ndarray) -> np.ndarray:
        """Per-job marginals of the scaled forward pass -> true marginals (no-op on the table path)."""
        if self.log_scales is not None:
            logliks += self.log_scales[self.batch.jobs[:, _JOB_FRAMES]]
        return logliks


def _prepare(log_init, trans, tables, syllables, mask, log_likelihoods, uniforms=None, *, log_space: bool) -> _Inputs:
    """Callback arguments -> `_Inputs`: probabilities for the forward pass, logs for Viterbi.

    `trans` is (*batch, N, K, K) or, per frame, (*batch, N, T, K, K); `tables` (*batch, K, S, S) with `syllables`, `mask`
    (*batch, N, T) on the table path, `log_likelihoods` (*batch, N, T, K) on the dense
    path (then `tables`, `syllables` and `mask` are None).
    """
    dense = log_likelihoods is not None
    with np.errstate(divide="ignore"):
        trans_t = np.ascontiguousarray(np.swapaxes(np.asarray(trans), -1, -2), dtype=np.float64)  # one copy
        init = np.asarray(log_init, dtype=np.float64)
        per_frame = trans_t.ndim - (init.ndim - 1) == 4  # (*batch, N, T, K, K)
        parameters = {"init": init if log_space else np.exp(init)}
        sequences = {"trans_frames" if per_frame else "trans_t": np.log(trans_t) if log_space else trans_t}
        if dense:
            sequences["frames"] = np.asarray(log_likelihoods)
        else:
            tables_t = _padded_tables_t(tables, 1.0)
            parameters["tables_t"] = np.log(tables_t) if log_space else tables_t
            sequences["syllables"] = _as_syllables(syllables, np.shape(tables)[-1])
            sequences["mask"] = np.asarray(mask) != 0
    if uniforms is not None:
        sequences["uniforms"] = np.asarray(uniforms, dtype=np.float64)
    ndims = {**_PARAMETER_NDIMS, **_SEQUENCE_NDIMS}
    batch = _Batch(parameters, sequences, {name: ndims[name] for name in {**parameters, **sequences}})
    p, s = batch.parameters, batch.sequences
    frames, log_scales = None, None  # `frames=None` selects the table path in the compiled loops
    if dense and log_space:
        frames = _readonly(s["frames"].astype(np.float64, copy=False))
    elif dense:
        log_likelihoods = s["frames"]
        if log_likelihoods.dtype not in (np.float32, np.float64):  # e.g. bfloat16: one of numba's floats
            log_likelihoods = _readonly(log_likelihoods.astype(np.float64))
        frames = np.empty(log_likelihoods.shape)
        log_scales = np.empty(log_likelihoods.shape[0])
        call_compiled(_scale_frames, log_likelihoods, frames, log_scales)
        frames = _readonly(frames)
    return _Inputs(
        batch=batch,
        init=p["init"],
        trans_t=s.get("trans_t", _NO_TRANS),
        trans_frames=s.get("trans_frames"),
        tables_t=p.get("tables_t", _NO_TABLES),
        frames=frames,
        syllables=s.get("syllables", _NO_SYLLABLES),
        mask=s.get("mask", _NO_MASK),
        uniforms=s.get("uniforms"),
        log_scales=log_scales,
    )


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


def _sample_callback(log_init, trans, tables, syllables, mask, log_likelihoods, uniforms):
    inputs = _prepare(log_init, trans, tables, syllables, mask, log_likelihoods, uniforms, log_space=False)
    jobs = inputs.batch.jobs
    states = np.empty((jobs.shape[0], inputs.uniforms.shape[-1]), dtype=np.int32)
    logliks = np.empty(jobs.shape[0], dtype=np.float64)
    num_workers = min(numba.get_num_threads(), (jobs.shape[0] + 1) // 2)
    call_compiled(_sample_jobs, *inputs.loops_arguments(), inputs.uniforms, jobs, num_workers, states, logliks)
    logliks = inputs.add_log_scales(logliks)
    return (inputs.batch.unflatten(states), *_float32_pair(inputs.batch.unflatten(logliks)))


def _filter_callback(log_init, trans, tables, syllables, mask, log_likelihoods):
    inputs = _prepare(log_init, trans, tables, syllables, mask, log_likelihoods, log_space=False)
    logliks = np.empty(inputs.batch.jobs.shape[0], dtype=np.float64)
    call_compiled(_filter_jobs, *inputs.loops_arguments(), inputs.batch.jobs, logliks)
    logliks = inputs.add_log_scales(logliks)
    return _float32_pair(inputs.batch.unflatten(logliks))


def _viterbi_callback(log_init, trans, tables, syllables, mask, log_likelihoods):
    inputs = _prepare(log_init, trans, tables, syllables, mask, log_likelihoods, log_space=True)
    jobs = inputs.batch.jobs
    num_timesteps = inputs.syllables.shape[1] if inputs.frames is None else inputs.frames.shape[1]
    states = np.empty((jobs.shape[0], num_timesteps), dtype=np.int32)
    num_workers = min(numba.get_num_threads(), jobs.shape[0])
    call_compiled(_viterbi_jobs, *inputs.loops_arguments(), jobs, num_workers, states)
    return inputs.batch.unflatten(states)


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


def _check_evidence(tables, log_likelihoods, sequence_shape: tuple, num_states: int, max_batch_axes: int = 0) -> None:
    """Exactly one of `tables` and `log_likelihoods`; the latter (N, T, K) after at most `max_batch_axes` axes."""
    if (tables is None) == (log_likelihoods is None):
        given = "both were given" if tables is not None else "neither was given"
        raise ValueError(
            "the native kernels take exactly one of `tables` ((K, S, S) syllable transition tables) and "
            f"`log_likelihoods` ((N, T, K) per-frame log-likelihoods, with tables=None); {given}"
        )
    shape = tuple(np.shape(log_likelihoods))
    if log_likelihoods is not None and (shape[-3:] != (*sequence_shape, num_states) or len(shape) > 3 + max_batch_axes):
        raise ValueError(
            f"log_likelihoods must have shape (N, T, K) = {(*sequence_shape, num_states)} "
            f"(syllables/uniforms give N, T; log_init gives K); got {shape}"
        )


def _check_trans(trans_shape: tuple, num_sequences: int, num_timesteps: int, num_states: int) -> bool:
    """True for one matrix per sequence, (N, K, K), or per frame, (N, T, K, K); False for a shared (K, K) one."""
    if tuple(trans_shape) == (num_states, num_states):
        return False
    if tuple(trans_shape) in ((num_sequences, num_states, num_states), (num_sequences, num_timesteps, num_states, num_states)):
        return True
    raise ValueError(
        f"trans must be (K, K) = {(num_states, num_states)} (shared), (N, K, K) = "
        f"{(num_sequences, num_states, num_states)} (one per sequence) or (N, T, K, K) = "
        f"{(num_sequences, num_timesteps, num_states, num_states)} (one per frame); got {tuple(trans_shape)}"
    )


def _from_words(words) -> np.ndarray:
    """(..., 2) uint32 words of `jax.lax.bitcast_convert_type(x, uint32)` -> float64 `x`."""
    return np.ascontiguousarray(words).view(np.float64)[..., 0]


@functools.cache
def _decoding(callback, wide: tuple[bool, ...]):
    """`callback` taking float64 arguments back from uint32 words where `wide` says so (one stable object per key)."""
    if not any(wide):
        return callback

    def decoded(*args):
        return callback(*(_from_words(arg) if is_wide else arg for arg, is_wide in zip(args, wide)))

    return decoded


def _pure_callback(callback, result_types, *args):
    """`jax.pure_callback(..., vmap_method="expand_dims")` that delivers float64 arguments intact.

    JAX places callback arguments on the CPU device from the thread that runs the
    callback, where the caller's thread-local `jax.enable_x64` context does not hold:
    float64 arguments would arrive rounded to float32. They travel as uint32 words.
    """
    wide = tuple(arg is not None and jnp.result_type(arg) == jnp.float64 for arg in args)
    args = tuple(jax.lax.bitcast_convert_type(arg, jnp.uint32) if is_wide else arg for arg, is_wide in zip(args, wide))
    return jax.pure_callback(_decoding(callback, wide), result_types, *args, vmap_method="expand_dims")


def _inputs_for_callback(log_init, trans, tables, syllables, mask, log_likelihoods):
    """Checks, and the callback's (log_init, trans (N, K, K), tables, syllables, mask, log_likelihoods)."""
    (num_sequences, num_timesteps), num_states = np.shape(syllables), np.shape(log_init)[-1]
    _check_evidence(tables, log_likelihoods, tuple(np.shape(syllables)), num_states)
    if not _check_trans(np.shape(trans), num_sequences, num_timesteps, num_states):
        trans = jnp.broadcast_to(trans, (num_sequences, num_states, num_states))
    if log_likelihoods is not None:
        return log_init, trans, None, None, None, log_likelihoods
    return log_init, trans, tables, syllables, mask, None


def sample_states_native(
    key: PRNGKeyArray,
    log_init: Float[Array, " K"],
    trans: Float[Array, "*N K K"],
    tables: Float[Array, "K S S"] | None,
    syllables: Int[Array, "N T"],
    mask: Float[Array, "N T"],
    *,
    log_likelihoods: Float[Array, "N T K"] | None = None,
) -> tuple[Int[Array, "N T"], Float[Array, " N"]]:
    """Forward-filter backward-sample the hidden states of every sequence (numba).

    Equal, path for path, to `vmap(kernels.hmm_posterior_sample)(jr.split(key, N), ...)`
    on `log_likelihoods` (or `syllable_log_likelihoods(tables, syllables, mask)`), with
    `trans` shared or mapped over sequences.

    Args:
        key: a JAX PRNG key; split into one key per sequence.
        log_init: log initial state probabilities, shape (K,).
        trans: hidden-state transition matrix, shape (K, K), one per sequence, (N, K, K), or
            one per frame, (N, T, K, K) (`trans[n, t]`: t-1 -> t; `trans[n, 0]` unused).
        tables: syllable transition probabilities per state, `tables[k, i, j] = P_k[i, j]`,
            shape (K, S, S); None when `log_likelihoods` is given.
        syllables: ints in [0, S), shape (N, T) (only its shape is used with `log_likelihoods`).
        mask: 1 for real frames, 0 for padding, shape (N, T) (unused with `log_likelihoods`).
        log_likelihoods: per-frame `log p(obs_t | z_t = k)`, shape (N, T, K), used on every
            frame (put 0 where a frame carries no evidence); instead of `tables`.

    Returns:
        `(states (N, T) int32, marginal_logliks (N,))`; a sequence of probability zero
        has marginal log-likelihood `-inf`.

    Raises:
        ValueError: both or neither of `tables` and `log_likelihoods`, or inconsistent shapes.
    """
    _require_native()
    num_sequences, num_timesteps = syllables.shape
    arguments = _inputs_for_callback(log_init, trans, tables, syllables, mask, log_likelihoods)
    dtype = _float_dtype(log_init, trans, tables if log_likelihoods is None else log_likelihoods)
    keys = jr.split(key, num_sequences)
    uniforms = jax.vmap(lambda k: posterior_uniforms(k, num_timesteps, dtype))(keys)
    loglik_type = jax.ShapeDtypeStruct((num_sequences,), jnp.float32)
    result_types = (jax.ShapeDtypeStruct((num_sequences, num_timesteps), jnp.int32), loglik_type, loglik_type)
    states, high, low = _pure_callback(_sample_callback, result_types, *arguments, uniforms)
    return states, _join_float32_pair(high, low, dtype)


def sample_states_host(
    log_init: Float[np.ndarray, "*M K"],
    trans: Float[np.ndarray, "*MN K K"],
    tables: Float[np.ndarray, "*M K S S"] | None,
    syllables: Int[np.ndarray, "N T"],
    mask: Float[np.ndarray, "N T"],
    uniforms: Float[np.ndarray, "*M N T"],
    *,
    log_likelihoods: Float[np.ndarray, "*M N T K"] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """`sample_states_native` called from the host, outside any jitted program.

    The same compiled loop and the same inverse-CDF rule: given the uniforms that
    `sample_states_native(key, ...)` draws from `key` (`posterior_uniforms` of
    `jr.split(key, N)`), it returns the same paths. Keeping the host call out of the
    jitted parameter update lets JAX's persistent compilation cache store that program
    (programs holding a host callback are never cached). Parameters may carry a leading
    model axis `M` (when `log_init` is (M, K); the sequences are shared by every model,
    `uniforms` and `log_likelihoods` may be per model).

    Args:
        log_init: (K,) or (M, K) log initial state probabilities.
        trans: (K, K), (N, K, K), (N, T, K, K), or with a leading M axis, transition
            matrices: shared, one per sequence or one per frame, per model when `log_init` is (M, K).
        tables: (K, S, S) (shared) or (M, K, S, S) syllable transition tables; None when
            `log_likelihoods` is given.
        syllables: (N, T) ints in [0, S) (unused with `log_likelihoods`).
        mask: (N, T), nonzero on frames whose emission is scored (unused with `log_likelihoods`).
        uniforms: (N, T) or (M, N, T) in (0, 1].
        log_likelihoods: (N, T, K) or (M, N, T, K) per-frame log-likelihoods, instead of `tables`.

    Returns:
        `(states, logliks)`: int32 (*M, N, T) and float64 (*M, N) (`-inf` for a sequence of
        probability zero).

    Raises:
        ValueError: both or neither of `tables` and `log_likelihoods`, or inconsistent shapes.
    """
    _require_native()
    batched = np.ndim(log_init) == 2
    log_init, trans, uniforms = np.asarray(log_init), np.asarray(trans), np.asarray(uniforms)
    num_sequences, num_timesteps = uniforms.shape[-2:]
    num_states = log_init.shape[-1]
    _check_evidence(tables, log_likelihoods, (num_sequences, num_timesteps), num_states, max_batch_axes=int(batched))
    if not _check_trans(trans.shape[int(batched):], num_sequences, num_timesteps, num_states):
        trans = np.broadcast_to(trans[..., None, :, :], trans.shape[:-2] + (num_sequences, num_states, num_states))
    if batched and uniforms.ndim == 2:
        uniforms = uniforms[None]
    if log_likelihoods is not None:
        log_likelihoods = np.asarray(log_likelihoods)
        if batched and log_likelihoods.ndim == 3:
            log_likelihoods = log_likelihoods[None]
        arguments = (None, None, None, log_likelihoods)
    else:
        syllables, mask = np.asarray(syllables), np.asarray(mask)
        tables = np.asarray(tables)
        if batched:
            syllables, mask = syllables[None], mask[None]
            tables = tables[None] if tables.ndim == 3 else tables
        arguments = (tables, syllables, mask, None)
    states, high, low = _sample_callback(log_init, trans, *arguments, uniforms)
    return states, high.astype(np.float64) + low.astype(np.float64)


def filter_native(
    log_init: Float[Array, " K"],
    trans: Float[Array, "*N K K"],
    tables: Float[Array, "K S S"] | None,
    syllables: Int[Array, "N T"],
    mask: Float[Array, "N T"],
    *,
    log_likelihoods: Float[Array, "N T K"] | None = None,
) -> Float[Array, " N"]:
    """Marginal log-likelihood `log p(x_n | params)` of every sequence (numba forward filter).

    Differentiable (reverse mode): a custom VJP returns the smoothed expected statistics
    (`smoseq.inference.expected.hmm_expected_statistics`) with respect to `log_init`,
    `trans` (any form) and `log_likelihoods`, or, on the table path, the expected counts
    of (state, previous syllable, syllable) divided by the tables, so `jax.grad` agrees
    with the serial and parallel kernels. The backward pass runs the JAX serial scans
    (it builds the (N, T, K) log-likelihoods on the table path). Forward mode
    (`jax.jvp`) is not supported.

    Args:
        log_init: shape (K,).
        trans: shape (K, K), (N, K, K) for one matrix per sequence, or (N, T, K, K) per frame.
        tables: shape (K, S, S); None when `log_likelihoods` is given.
        syllables: shape (N, T) (only its shape is used with `log_likelihoods`).
        mask: shape (N, T) (unused with `log_likelihoods`).
        log_likelihoods: shape (N, T, K), instead of `tables` (see `sample_states_native`).

    Returns:
        Shape (N,); `-inf` for a sequence of probability zero.

    Raises:
        ValueError: both or neither of `tables` and `log_likelihoods`, or inconsistent shapes.
    """
    _require_native()
    _inputs_for_callback(log_init, trans, tables, syllables, mask, log_likelihoods)  # checks shapes
    return _differentiable_filter(log_init, trans, tables, log_likelihoods, syllables, mask)


@jax.custom_vjp
def _differentiable_filter(log_init, trans, tables, log_likelihoods, syllables, mask):
    arguments = _inputs_for_callback(log_init, trans, tables, syllables, mask, log_likelihoods)
    dtype = _float_dtype(log_init, trans, tables if log_likelihoods is None else log_likelihoods)
    loglik_type = jax.ShapeDtypeStruct((syllables.shape[0],), jnp.float32)
    high, low = _pure_callback(_filter_callback, (loglik_type, loglik_type), *arguments)
    return _join_float32_pair(high, low, dtype)


def _filter_forward(log_init, trans, tables, log_likelihoods, syllables, mask):
    residuals = (log_init, trans, tables, log_likelihoods, syllables, mask)
    return _differentiable_filter(log_init, trans, tables, log_likelihoods, syllables, mask), residuals


def _filter_backward(residuals, cotangent):
    """The cotangents of every input: the cotangent of each sequence times its expected statistics."""
    log_init, trans, tables, log_likelihoods, syllables, mask = residuals
    if tables is not None:
        log_likelihoods, tables_vjp = jax.vjp(lambda t: syllable_log_likelihoods(t, syllables, mask), tables)
    trans_axis = None if jnp.ndim(trans) == 2 else 0
    statistics = jax.vmap(hmm_expected_statistics, in_axes=(None, trans_axis, 0))(log_init, trans, log_likelihoods)
    weights = jnp.asarray(cotangent)
    frames = weights[:, None, None] * statistics.log_likelihoods
    trans_cotangent = jnp.expand_dims(weights, tuple(range(1, statistics.trans.ndim))) * statistics.trans
    if trans_axis is None:
        trans_cotangent = trans_cotangent.sum(axis=0)
    init_cotangent = weights @ statistics.log_init
    if tables is not None:
        (tables_cotangent,) = tables_vjp(frames.astype(log_likelihoods.dtype))
        evidence = (tables_cotangent.astype(jnp.result_type(tables)), None)
    else:
        evidence = (None, frames.astype(jnp.result_type(log_likelihoods)))
    return (
        init_cotangent.astype(jnp.result_type(log_init)), trans_cotangent.astype(jnp.result_type(trans)),
        *evidence, None, None,
    )  # fmt: skip


_differentiable_filter.defvjp(_filter_forward, _filter_backward)


def viterbi_native(
    log_init: Float[Array, " K"],
    trans: Float[Array, "*N K K"],
    tables: Float[Array, "K S S"] | None,
    syllables: Int[Array, "N T"],
    mask: Float[Array, "N T"],
    *,
    log_likelihoods: Float[Array, "N T K"] | None = None,
) -> Int[Array, "N T"]:
    """Most probable hidden-state path of every sequence (numba, log-space max-product).

    Args:
        log_init: shape (K,).
        trans: shape (K, K), (N, K, K) for one matrix per sequence, or (N, T, K, K) per frame.
        tables: shape (K, S, S); None when `log_likelihoods` is given.
        syllables: shape (N, T) (only its shape is used with `log_likelihoods`).
        mask: shape (N, T) (unused with `log_likelihoods`).
        log_likelihoods: shape (N, T, K), instead of `tables` (see `sample_states_native`).

    Returns:
        int32 states, shape (N, T); ties go to the lowest state index, as in
        `kernels.hmm_viterbi`.

    Raises:
        ValueError: both or neither of `tables` and `log_likelihoods`, or inconsistent shapes.
    """
    _require_native()
    arguments = _inputs_for_callback(log_init, trans, tables, syllables, mask, log_likelihoods)
    result_type = jax.ShapeDtypeStruct(syllables.shape, jnp.int32)
    return _pure_callback(_viterbi_callback, result_type, *arguments)


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
