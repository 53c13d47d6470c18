"""Do experimental groups differ in how long states last and how they follow each other?

Estimated from the **hidden states** a grouped fit sampled after its burn-in, not from
its transition matrices: the sticky prior (κ pseudo-counts of staying, "auto" = frames/K)
is what makes the sampled states clean, but it would also dominate each group's matrix
and pull every group's durations towards the prior's. So every reported value is a ratio
of two sums of per-recording counts from the sampled states, with a weak reference
prior (Jeffreys, Dirichlet(½) per transition row):

    duration_k   = (Σ_r n_rk + K/2) / (Σ_r e_rk + (K−1)/2)   frames per bout
    occupancy_k  = (Σ_r n_rk + 1/2) / (Σ_r f_r + K/2)
    π_kj         = (Σ_r c_rkj + 1/2) / (Σ_r n_rk + K/2)

where c_rkj counts the frames of recording r in state k followed by state j, n_rk = Σ_j c_rkj,
e_rk = n_rk − c_rkk (bouts of k that end inside the recording) and f_r = Σ_k n_rk, the sums
running over the recordings of one group. The duration is the frames spent in k per exit
from k, which estimates the mean bout duration of any stationary semi-Markov process
(not only a Markov one), censored bouts at the recording edges included.

The counts of each recording are averaged over the kept samples first (its posterior
mean counts), which removes the noise of any one sample of the states. What remains —
how recordings differ, how many bouts each holds, and how its states were decoded — is
independent from recording to recording, so the interval comes from the recording-level
(cluster-robust) variance of the log ratio, U = n_g/(n_g − 1) · Σ_r (d_r − d̄)²,
d_r = y_r/Y − x_r/X (Y, X the sums with the pseudo-counts), and a t quantile with
n_g − 1 degrees of freedom (the usual small-sample rule for a variance estimated from n_g
clusters). Recordings that differ from each
other widen the interval, as they should when the question is about the groups, not about
these animals. Adding the spread of the estimate across kept samples to U (Rubin's rules)
would count the state noise twice: it is already in the recording-level variance.

Group contrasts are differences of log estimates (U adds over groups, Welch–Satterthwaite
degrees of freedom from the groups' n_g − 1). `p_greater` is the probability under that t
distribution that the later group's value exceeds the earlier one's. A group with a
single recording has no recording-level variance: its values get an estimate but no
interval (NaN).
"""

import itertools

import numpy as np
import pandas as pd
from scipy import stats

from .._errors import InputError
from .labels import with_state_names

COLUMNS = ["kind", "quantity", "state", "to_state", "group", "reference", "median", "lower", "upper", "p_greater"]


def compare_group_dynamics(result, fps: float | None = None, level: float = 0.95) -> pd.DataFrame:
    """Per-group durations, occupancies and transition probabilities, with intervals, and group contrasts.

    Args:
        result: a grouped `FitResult` (`sm.fit(..., groups=...)`): its `group_counts`
            (per-recording transition counts of the states sampled after the burn-in) and
            `hyperparameters["groups"]`, `["group_names"]`.
        fps: frames per second; adds `duration_seconds` rows.
        level: coverage of the intervals (0.95 by default).

    Returns:
        The table of `group_dynamics_table`; when the fit's states have names
        (`result.state_names`), with `state_name` and `to_state_name` columns at the end.

    Raises:
        InputError: a fit that kept no per-recording counts (not grouped, or saved by an
            older smoseq: refit it), or a bad `level`.
    """
    counts = getattr(result, "group_counts", None)
    if counts is None:
        raise InputError("the fit kept no per-recording state counts: fit with sm.fit(..., groups=...) "
                         "(a fit folder saved without group_counts must be refitted)")  # fmt: skip
    group_of = result.hyperparameters["groups"]
    names = [str(name) for name in result.hyperparameters["group_names"]]
    index = np.array([names.index(str(group_of[recording])) for recording in group_of])
    table = group_dynamics_table(counts, index, names, fps, level)
    state_names = getattr(result, "state_names", None)
    return with_state_names(table, state_names, counts.shape[-1]) if state_names else table


def group_dynamics_table(counts, groups, group_names, fps: float | None = None, level: float = 0.95) -> pd.DataFrame:
    """The comparison table from per-recording transition counts of sampled states (see the module).

    Args:
        counts: (m, R, K, K) counts c[s, r, k, j] of frames of recording r in state k followed
            by state j in kept sample s; or (R, K, K), one set of states (e.g. true ones).
        groups: (R,) int, the group index of every recording.
        group_names: the G labels the indices refer to.
        fps: frames per second; adds `duration_seconds` rows.
        level: coverage of the intervals.

    Returns:
        A tidy `pandas.DataFrame`, one estimate per row, columns `COLUMNS`: `kind` `"group"`
        (the value in `group`) or `"ratio"` (value of `group` / value of `reference`, the later
        group over the earlier in `group_names` order); `quantity` `duration_frames`,
        `duration_seconds`, `occupancy` or `transition_probability`; `state` k; `to_state` j for
        transition probabilities (−1 otherwise); `median` the estimate (the median of the
        t distribution of its log); `lower`, `upper` the interval; `p_greater` (ratio rows) the probability that `group`'s value
        exceeds `reference`'s.

    Raises:
        InputError: counts not (m, R, K, K), groups not R indices into `group_names`, a bad
            `level`, or a group without recordings.
    """
    counts, groups, names = _checked(counts, groups, group_names, level)
    mean_counts = counts.mean(0)  # (R, K, K) each recording's posterior mean counts
    rows = []
    for quantity, (y, x, a, b) in ratio_parts(mean_counts, fps).items():
        per_group = [_log_ratio(y[groups == g], x[groups == g], a, b) for g in range(len(names))]
        for g, name in enumerate(names):
            rows += _rows("group", quantity, *per_group[g], name, "", level)
        for g_a, g_b in itertools.combinations(range(len(names)), 2):
            rows += _rows("ratio", quantity, *_contrast(per_group[g_b], per_group[g_a]), names[g_b], names[g_a], level,
                          greater=True)  # fmt: skip
    return pd.DataFrame(rows, columns=COLUMNS)


def transition_counts(states, n_states: int) -> np.ndarray:
    """(R, K, K) counts c[r, k, j] of frames in state k followed by state j, per recording.

    Args:
        states: R int arrays (T_r,) of hidden states (a dict's values, or a list).
        n_states: K.

    Returns:
        (R, K, K) float.
    """
    K = n_states
    rows = []
    for sequence in states:
        sequence = np.asarray(sequence, dtype=np.int64)
        rows.append(np.bincount(sequence[:-1] * K + sequence[1:], minlength=K * K).reshape(K, K))
    return np.stack(rows).astype(float)


def ratio_parts(counts: np.ndarray, fps: float | None = None) -> dict:
    """Numerator and denominator per recording, and the reference pseudo-counts, of every quantity.

    Args:
        counts: (R, K, K) transition counts per recording.
        fps: frames per second, or None (no `duration_seconds`).

    Returns:
        quantity -> `(y, x, a, b)`: y, x (R, K) or (R, K, K) per-recording numerator and
        denominator, a, b the pseudo-counts added to their sums (the value is
        (Σ_r y_r + a)/(Σ_r x_r + b); `duration_seconds` carries x and b scaled by fps).
    """
    K = counts.shape[-1]
    n = counts.sum(-1)  # (R, K) frames in k with a next frame
    exits = n - np.diagonal(counts, axis1=-2, axis2=-1)
    frames = np.broadcast_to(n.sum(-1, keepdims=True), n.shape)
    parts = {"duration_frames": (n, exits, K / 2, (K - 1) / 2)}
    if fps is not None:
        parts["duration_seconds"] = (n, exits * fps, K / 2, (K - 1) / 2 * fps)
    parts["occupancy"] = (n, frames, 0.5, K / 2)
    parts["transition_probability"] = (counts, np.broadcast_to(n[..., None], counts.shape), 0.5, K / 2)
    return parts


def small_sample_df(n_recordings: int) -> float:
    """Degrees of freedom of a group's interval: n − 1 for n recordings (0 for a single one).

    Checked on true semi-Markov states with an animal effect (`benchmarks/bench_group_calibration.py
    --oracle`): 95.1 % coverage with 3 recordings per group, 96.5 % with 5; Barnard and Rubin's
    small-sample value (n − 1)·n/(n + 2) gave 98.1 % and 97.5 %, wider than needed.
    """
    return float(n_recordings - 1)


def _log_ratio(y, x, a, b):
    """log((Σy + a)/(Σx + b)) over a group's recordings (R_g, ...), its cluster-robust variance, its df."""
    n_rec = y.shape[0]
    total_y, total_x = y.sum(0) + a, x.sum(0) + b
    estimate = np.log(total_y) - np.log(total_x)
    if n_rec < 2:
        return estimate, np.full(estimate.shape, np.nan), 0.0
    d = y / total_y - x / total_x
    variance = n_rec / (n_rec - 1) * ((d - d.mean(0)) ** 2).sum(0)
    return estimate, variance, small_sample_df(n_rec)


def _contrast(later, earlier):
    """Log ratio of two groups' values: estimates subtract, variances add, Welch–Satterthwaite df."""
    (e_b, u_b, df_b), (e_a, u_a, df_a) = later, earlier
    if df_a == 0 or df_b == 0:
        return e_b - e_a, np.full(e_b.shape, np.nan), 0.0
    with np.errstate(invalid="ignore", divide="ignore"):
        df = (u_a + u_b) ** 2 / (u_a**2 / df_a + u_b**2 / df_b)
    return e_b - e_a, u_a + u_b, np.where(np.isfinite(df), df, df_a + df_b)


def _rows(kind, quantity, mean, total, df, group, reference, level, greater=False) -> list:
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):  # zero or NaN variance: handled below
        half = stats.t.ppf(0.5 + level / 2, df) * np.sqrt(total)
        p_greater = stats.t.cdf(mean / np.sqrt(total), df) if greater else np.full(mean.shape, np.nan)
        if greater:
            p_greater = np.where(total == 0, (mean > 0).astype(float), p_greater)  # NaN stays NaN
        median, lower, upper = np.exp(mean), np.exp(mean - half), np.exp(mean + half)
    rows = []
    for index in np.ndindex(median.shape):
        state, to_state = (index[0], index[1]) if len(index) == 2 else (index[0], -1)
        rows.append([kind, quantity, state, to_state, group, reference, median[index], lower[index], upper[index],
                     p_greater[index]])  # fmt: skip
    return rows


def _checked(counts, groups, group_names, level):
    counts = np.asarray(counts, dtype=float)
    if counts.ndim == 3:
        counts = counts[None]
    if counts.ndim != 4 or counts.shape[-1] != counts.shape[-2] or counts.shape[0] < 1:
        raise InputError(f"state counts must be (n_samples, recordings, K, K), got {counts.shape}")
    groups = np.asarray(groups)
    names = [str(name) for name in group_names]
    if groups.shape != (counts.shape[1],) or groups.dtype.kind not in "iu" or groups.min() < 0 or groups.max() >= len(names):
        raise InputError(f"groups must be {counts.shape[1]} indices into the {len(names)} group names, got {groups.tolist()}")
    if not 0 < level < 1:
        raise InputError(f"level must be between 0 and 1, got {level}")
    empty = [name for g, name in enumerate(names) if not (groups == g).any()]
    if empty:
        raise InputError(f"group(s) {', '.join(map(repr, empty))} have no recordings")
    return counts, groups, names


def stationary_distribution(matrices: np.ndarray) -> np.ndarray:
    """The stationary distribution p (p·π = p, Σp = 1) of every transition matrix.

    Args:
        matrices: (..., K, K) float row-stochastic matrices.

    Returns:
        (..., K) float.
    """
    K = matrices.shape[-1]
    system = np.swapaxes(matrices, -1, -2) - np.eye(K)
    system[..., -1, :] = 1.0  # replace one (redundant) balance equation by Σp = 1
    right = np.zeros(matrices.shape[:-1])
    right[..., -1] = 1.0
    return np.linalg.solve(system.astype(float), right[..., None])[..., 0]
