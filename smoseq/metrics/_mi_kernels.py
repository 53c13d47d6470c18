"""Numba kernels behind `lagged_mutual_information`: counting, MI from counts, simulation.

All kernels take plain numpy arrays of fixed dtypes (sequences int32, validity bool, lags
and cumulative counts int64, uniforms float64), so each compiles once and is cached on
disk. They are serial and release the GIL; the work kernels take `(first, step)` and do
items `first, first + step, ...`, so `step` Python threads share one call evenly (see
`in_threads`). Serial kernels compile in half the time of `parallel=True` ones and do not
depend on numba's threading layer.

Pair labels are int16 with one extra label, S, meaning "not counted" (a masked later
frame, or a value outside 0..S-1); pair tables are (S+1) × (S+1) and only their S × S
block enters the mutual information.
"""

from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np

from .._numba_cache import ensure_compiled

REAL, MARKOV, SHUFFLE = 0, 1, 2  # curves; also rows of the later-frame labels
EARLIER_REAL, EARLIER_MARKOV = 3, 4  # rows of the earlier-frame labels
RUN_COST = 2  # a run-merge step costs about this many dense increments (measured)


@numba.njit(cache=True, nogil=True)
def _xlogx(value: float) -> float:
    return value * np.log(value) if value > 0.0 else 0.0


@numba.njit(cache=True, nogil=True)
def mutual_information_from_counts(table, n_categories, pseudo_count):
    """Plug-in MI (nats) of the leading `(S, S)` block of a count table, `S = n_categories`,
    after adding `pseudo_count` to every cell.

    Returns `(mi, miller_madow_bias)`, the bias being `(m_xy − m_x − m_y + 1) / (2n)` with
    `m` the number of occupied cells / rows / columns and `n` the number of pairs.
    Uses `MI = log Z + (Σ q log q − Σ r log r − Σ c log c) / Z` for pseudo-counted cells
    `q`, their row sums `r`, column sums `c` and total `Z`.
    """
    row_pseudo = n_categories * pseudo_count
    n_pairs = 0
    occupied = 0
    joint_term = 0.0
    empty_cell_term = _xlogx(pseudo_count)
    column_sums = np.zeros(n_categories, np.int64)
    row_term = 0.0
    occupied_rows = 0
    for i in range(n_categories):
        row_sum = 0
        for j in range(n_categories):
            count = table[i, j]
            row_sum += count
            column_sums[j] += count
            if count > 0:
                occupied += 1
                joint_term += _xlogx(count + pseudo_count)
            else:
                joint_term += empty_cell_term
        n_pairs += row_sum
        occupied_rows += row_sum > 0
        row_term += _xlogx(row_sum + row_pseudo)
    column_term = 0.0
    occupied_columns = 0
    for j in range(n_categories):
        occupied_columns += column_sums[j] > 0
        column_term += _xlogx(column_sums[j] + row_pseudo)
    if n_pairs == 0:
        return (0.0 if pseudo_count > 0.0 else np.nan), 0.0
    total = n_pairs + n_categories * row_pseudo
    mi = np.log(total) + (joint_term - row_term - column_term) / total
    bias = (occupied - occupied_rows - occupied_columns + 1) / (2.0 * n_pairs)
    return max(mi, 0.0), bias


@numba.njit(cache=True, nogil=True)
def _runs(labels, ends_out, labels_out):
    """Write the maximal constant runs of `labels` (their exclusive ends and labels); return
    how many there are."""
    n_runs = 0
    for t in range(1, labels.shape[0] + 1):
        if t == labels.shape[0] or labels[t] != labels[t - 1]:
            ends_out[n_runs] = t
            labels_out[n_runs] = labels[t - 1]
            n_runs += 1
    return n_runs


@numba.njit(cache=True, nogil=True)
def prepare_block(sequences, surrogates, valid, n_categories, start, dense, run_ends, run_labels, n_runs, first, step):
    """Labels of the pairs' later and earlier frames for sequences `start..start+block-1`,
    dense and run-length encoded; `n_categories` stands for "skip" (invalid or out of range).

    Later rows: REAL `sequences[n]`, MARKOV `surrogates[n]`, SHUFFLE `sequences[n − 1]`
    (cyclic), each masked by `valid[n]`. Earlier rows: REAL/SHUFFLE `sequences[n]`, MARKOV
    `surrogates[n]` (the earlier frame's validity is not checked).
    """
    n_sequences, n_frames = sequences.shape
    skip = n_categories
    for b in range(first, dense.shape[0], step):
        n = start + b
        previous = (n + n_sequences - 1) % n_sequences
        for t in range(n_frames):
            own = sequences[n, t]
            own = own if 0 <= own < n_categories else skip
            other = sequences[previous, t]
            other = other if 0 <= other < n_categories else skip
            is_valid = valid[n, t]
            dense[b, REAL, t] = own if is_valid else skip
            dense[b, MARKOV, t] = surrogates[n, t] if is_valid else skip
            dense[b, SHUFFLE, t] = other if is_valid else skip
            dense[b, EARLIER_REAL, t] = own
            dense[b, EARLIER_MARKOV, t] = surrogates[n, t]
        for row in range(5):
            changes = 0
            for t in range(1, n_frames):
                changes += dense[b, row, t] != dense[b, row, t - 1]
            if RUN_COST * (changes + 1) < n_frames:  # else no lag will count this row by runs
                n_runs[b, row] = _runs(dense[b, row], run_ends[b, row], run_labels[b, row])
            else:
                n_runs[b, row] = n_frames


@numba.njit(cache=True, nogil=True)
def _count_dense(later, earlier, lag, stride, table):
    """Pair counts from dense labels, one frame at a time."""
    for t in range(lag, later.shape[0]):
        table[later[t] * stride + earlier[t - lag]] += 1


@numba.njit(cache=True, nogil=True)
def _first_greater(sorted_values, value):
    """Index of the first element greater than `value` (binary search)."""
    low, high = 0, sorted_values.shape[0]
    while low < high:
        middle = (low + high) // 2
        if sorted_values[middle] > value:
            high = middle
        else:
            low = middle + 1
    return low


@numba.njit(cache=True, nogil=True)
def _count_runs(later_ends, later_labels, earlier_ends, earlier_labels, lag, n_frames, stride, table):
    """Pair counts by merging the runs of the later labels with the runs of the earlier
    labels shifted by `lag`: each overlap adds its length to one cell."""
    i = _first_greater(later_ends, lag)
    j = 0
    t = lag
    while t < n_frames:
        later_end = later_ends[i]
        earlier_end = earlier_ends[j] + lag
        end = min(later_end, earlier_end)
        table[later_labels[i] * stride + earlier_labels[j]] += end - t
        t = end
        if later_end == end:
            i += 1
        if earlier_end == end:
            j += 1


@numba.njit(cache=True, nogil=True)
def lagged_mi_block(
    dense, run_ends, run_labels, n_runs, lags, n_categories, pseudo_count, mi_out, bias_out, first, step
):
    """MI and Miller–Madow bias for every (sequence in block, curve, lag) of a prepared block,
    into `mi_out[curve, b, lag]`, `bias_out[curve, b, lag]`. Each pair table is counted
    densely or from runs, whichever touches fewer elements."""
    block, _, n_frames = dense.shape
    n_lags = lags.shape[0]
    stride = n_categories + 1
    for task in range(first, block * 3 * n_lags, step):
        b = task // (3 * n_lags)
        curve = (task // n_lags) % 3
        lag_index = task % n_lags
        lag = lags[lag_index]
        earlier = EARLIER_MARKOV if curve == MARKOV else EARLIER_REAL
        table = np.zeros(stride * stride, np.int32)
        n_run_steps = n_runs[b, curve] + n_runs[b, earlier]
        if lag >= n_frames:
            pass
        elif RUN_COST * n_run_steps < n_frames - lag:
            _count_runs(
                run_ends[b, curve, : n_runs[b, curve]], run_labels[b, curve],
                run_ends[b, earlier, : n_runs[b, earlier]], run_labels[b, earlier],
                lag, n_frames, stride, table,
            )
        else:
            _count_dense(dense[b, curve], dense[b, earlier], lag, stride, table)
        mi, bias = mutual_information_from_counts(table.reshape(stride, stride), n_categories, pseudo_count)
        mi_out[curve, b, lag_index] = mi
        bias_out[curve, b, lag_index] = bias


@numba.njit(cache=True, nogil=True)
def count_usage_and_transitions(sequences, valid, usage, transitions, first, step):
    """Per sequence: add usage `(N, S)` over valid frames and transition counts `(N, S, S)`
    over consecutive frames that are both valid."""
    n_sequences, n_frames = sequences.shape
    for n in range(first, n_sequences, step):
        for t in range(n_frames):
            if valid[n, t]:
                usage[n, sequences[n, t]] += 1
                if t + 1 < n_frames and valid[n, t + 1]:
                    transitions[n, sequences[n, t], sequences[n, t + 1]] += 1


@numba.njit(cache=True, nogil=True)
def _draw(cumulative_counts, uniform):
    """Index `j` with probability `counts[j] / total`, from integer cumulative counts."""
    total = cumulative_counts[-1]
    threshold = np.int64(uniform * total)
    if threshold >= total:
        threshold = total - 1
    return _first_greater(cumulative_counts, threshold)


@numba.njit(cache=True, nogil=True)
def simulate_chains(initial_cumulative, transition_cumulative, uniforms, out, first, step):
    """Simulate one chain per row of `out` (N, T): first state from `initial_cumulative[n]`
    (N, S), then rows of `transition_cumulative[n]` (N, S, S); every row has a positive total."""
    n_sequences, n_frames = out.shape
    for n in range(first, n_sequences, step):
        state = _draw(initial_cumulative[n], uniforms[n, 0])
        out[n, 0] = state
        for t in range(1, n_frames):
            state = _draw(transition_cumulative[n, state], uniforms[n, t])
            out[n, t] = state


def in_threads(pool: ThreadPoolExecutor, n_threads: int, kernel, *args) -> None:
    """Run `kernel(*args, first, n_threads)` for every `first < n_threads` on `pool`, whose
    `n_threads` workers then run concurrently (the kernels release the GIL)."""
    ensure_compiled(kernel, *args, 0, n_threads)  # once, under the inter-process lock, not racing in the threads
    if n_threads == 1:
        kernel(*args, 0, 1)
        return
    for future in [pool.submit(kernel, *args, first, n_threads) for first in range(n_threads)]:
        future.result()
