"""Statistics across experimental groups of recordings, state by state.

For each metric of `behaviour_table` and each state, the recordings' values are compared
across groups by rank tests — Mann–Whitney U for two groups; Kruskal–Wallis, then Dunn's
pairwise test, for more — from scipy.stats and scikit-posthocs. p-values are corrected by
Benjamini–Hochberg (`scipy.stats.false_discovery_control`) across the states of one
metric and one comparison. Each recording is one observation: frames and bouts are never
pooled across recordings.

Frequencies are compositional. The fractions of time in the K states sum to 1 in every
recording, so a state that gains time takes it from the others and their fractions fall
too: one state planted to last 2.5× longer in one group makes a second state's fraction
differ significantly as well. `fraction_clr` (centred log-ratio) removes that closure up
to a shift of 1/K of the change; bout durations and bout rates are not compositional and
are the cleaner evidence.
"""

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from .._errors import InputError

DEFAULT_METRICS = ("fraction", "fraction_clr", "bouts_per_minute", "median_bout_s", "mean_bout_s", "mean_speed")
"""Metrics `compare_groups` tests by default (those present in the table)."""

METRIC_NOTES = {
    "fraction": (
        "compositional: fractions sum to 1 in each recording, so a state that gains time takes it from "
        "the others and their fractions can differ too; prefer bout durations and bout rates, or fraction_clr"
    ),
    "fraction_clr": (
        "centred log-ratio of the frame fractions (pseudo-count 0.5 frames): each state's use relative to "
        "the recording's other states; a change in one state still shifts the others by 1/K of it"
    ),
}

COLUMNS = [
    "metric", "state", "test", "comparison", "group_a", "group_b", "n_a", "n_b", "median_a", "median_b",
    "higher", "medians", "n_per_group", "statistic", "effect_size", "effect_size_name", "p_value",
    "p_corrected", "significant", "note",
]  # fmt: skip


def compare_groups(
    table: pd.DataFrame,
    groups: Mapping[str, str],
    metrics: Sequence[str] | None = None,
    *,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Compare every state's metrics across groups of recordings: a tidy result table.

    Two groups: one Mann–Whitney U test (two-sided) per metric and state, effect size the
    rank-biserial correlation `2·U_b / (n_a·n_b) − 1` (from −1 to 1, positive when
    `group_b`'s recordings tend to be higher). More groups: a Kruskal–Wallis test per
    metric and state (effect size ε² = H / (n − 1)), then Dunn's test for every pair of
    groups (effect size the pair's rank-biserial correlation). `p_corrected` is the
    Benjamini–Hochberg adjustment across the states of one metric and one comparison.
    Recordings with no value (a state never used has no bout duration or speed) are left
    out of that test; a test with fewer than two values in a group is not run (NaN p,
    with a note).

    Args:
        table: one row per recording × state with columns `recording`, `state` and the
            metrics (e.g. `behaviour_table`).
        groups: dict recording -> group label (e.g. `sm.load_groups(path, recordings)`);
            every recording of the table needs one.
        metrics: columns to test (default: those of `DEFAULT_METRICS` in the table).
        alpha: level of the `significant` column (`p_corrected < alpha`).

    Returns:
        A `pandas.DataFrame`, one row per metric × state × comparison, columns: `metric`,
        `state`, `test` (`Mann-Whitney U`, `Kruskal-Wallis`, `Dunn`), `comparison`
        (`A vs B` or `all groups`), `group_a`, `group_b`, `n_a`, `n_b`, `median_a`,
        `median_b` (pairwise rows), `higher` (the group with the higher median: the
        direction), `medians` and `n_per_group` (every group, as text), `statistic`
        (U of `group_b`, H, or Dunn's z, positive when `group_b` ranks higher), `effect_size`, `effect_size_name`, `p_value`, `p_corrected`,
        `significant`, `note` (the compositional caveat on frequencies, or why no test).

    Raises:
        InputError: a missing column, a recording without a group, a group name for a
            recording not in the table, fewer than two groups, or a group of fewer than
            two recordings.
    """
    groups = _checked_groups(table, groups)
    metrics = _checked_metrics(table, metrics)
    labels = sorted(set(groups.values()))
    frames = []
    for metric in metrics:
        wide = table.pivot(index="recording", columns="state", values=metric)
        rows = [row for state in wide.columns for row in _state_rows(metric, int(state), wide[state], groups, labels)]
        frames.append(_corrected(pd.DataFrame(rows, columns=COLUMNS), alpha))
    return pd.concat(frames, ignore_index=True)


def group_summary(table: pd.DataFrame, groups: Mapping[str, str], metrics: Sequence[str] | None = None) -> pd.DataFrame:
    """Mean, SEM, median and n of every metric per group and state (NaN values left out).

    Args:
        table: one row per recording × state (e.g. `behaviour_table`).
        groups: dict recording -> group label.
        metrics: columns to summarise (default: those of `DEFAULT_METRICS` in the table).

    Returns:
        A `pandas.DataFrame` with columns `metric`, `group`, `state`, `n`, `mean`, `sem`, `median`.
    """
    groups = _checked_groups(table, groups)
    metrics = _checked_metrics(table, metrics)
    grouped = table.assign(group=table["recording"].map(groups))
    parts = []
    for metric in metrics:
        summary = grouped.groupby(["group", "state"])[metric].agg(["count", "mean", "sem", "median"]).reset_index()
        parts.append(summary.rename(columns={"count": "n"}).assign(metric=metric))
    return pd.concat(parts, ignore_index=True)[["metric", "group", "state", "n", "mean", "sem", "median"]]


def _checked_groups(table: pd.DataFrame, groups: Mapping[str, str]) -> dict[str, str]:
    return checked_groups(table, groups)


def checked_groups(
    table: pd.DataFrame, groups: Mapping[str, str], minimum: int = 2, purpose: str = "comparing groups"
) -> dict[str, str]:
    """The group (str) of every recording of `table`, in the table's order, checked.

    Args:
        table: one row per recording × state (columns `recording`, `state`).
        groups: dict recording -> group label.
        minimum: recordings each group needs.
        purpose: what the groups are for, in the error message.

    Returns:
        dict recording -> group label (str).

    Raises:
        InputError: a missing column, a recording without a group, a group for a recording
            not in the table, fewer than two groups, a group of fewer than `minimum` recordings.
    """
    missing_columns = [c for c in ("recording", "state") if c not in table.columns]
    if missing_columns:
        raise InputError(f"the table needs columns recording and state (missing: {', '.join(missing_columns)})")
    recordings = list(dict.fromkeys(table["recording"]))
    without = [r for r in recordings if r not in groups]
    if without:
        raise InputError(f"no group for recording(s) {', '.join(map(repr, without[:5]))}")
    unknown = [r for r in groups if r not in set(recordings)]
    if unknown:
        raise InputError(f"group sheet names recording(s) not in the data: {', '.join(map(repr, unknown[:5]))}")
    members: dict[str, list] = {}
    for recording in recordings:
        members.setdefault(str(groups[recording]), []).append(recording)
    if len(members) < 2:
        raise InputError(f"{purpose} needs at least two groups, found only {list(members) or 'none'}")
    for label, names in members.items():
        if len(names) < minimum:
            count = "only one recording" if len(names) == 1 else f"only {len(names)} recordings"
            needed = "two" if minimum == 2 else str(minimum)
            raise InputError(f"group {label!r} has {count} ({names[0]!r}); {purpose} needs at least {needed} per group")
    return {recording: str(groups[recording]) for recording in recordings}


def _checked_metrics(table: pd.DataFrame, metrics) -> list[str]:
    if metrics is None:
        return [m for m in DEFAULT_METRICS if m in table.columns]
    metrics = [metrics] if isinstance(metrics, str) else list(metrics)
    missing = [m for m in metrics if m not in table.columns]
    if missing:
        raise InputError(f"the table has no column(s) {', '.join(missing)} (columns: {', '.join(map(str, table.columns))})")
    return metrics


def _rank_biserial(a: np.ndarray, b: np.ndarray) -> float:
    """P(b > a) − P(b < a) over all pairs: positive when b tends to be higher."""
    u_b = stats.mannwhitneyu(b, a, alternative="two-sided").statistic
    return float(2 * u_b / (len(a) * len(b)) - 1)


def _higher(values: dict[str, np.ndarray]) -> str:
    medians = {label: np.median(v) for label, v in values.items()}
    best = max(medians.values())
    top = [label for label, median in medians.items() if median == best]
    return top[0] if len(top) == 1 else ""


def _base_row(metric, state, values: dict[str, np.ndarray], counts: dict[str, int]) -> dict:
    return {
        "metric": metric, "state": state, "group_a": "", "group_b": "", "n_a": np.nan, "n_b": np.nan,
        "median_a": np.nan, "median_b": np.nan, "statistic": np.nan, "effect_size": np.nan,
        "effect_size_name": "", "p_value": np.nan, "note": METRIC_NOTES.get(metric, ""),
        "medians": ", ".join(f"{g}={np.median(v):.4g}" if len(v) else f"{g}=nan" for g, v in values.items()),
        "n_per_group": ", ".join(f"{g}={n}" for g, n in counts.items()), "higher": "",
    }  # fmt: skip


def _pair_row(base: dict, a: str, b: str, values: dict[str, np.ndarray]) -> dict:
    row = dict(base, group_a=a, group_b=b, n_a=len(values[a]), n_b=len(values[b]), comparison=f"{a} vs {b}")
    if len(values[a]) and len(values[b]):
        row.update(median_a=float(np.median(values[a])), median_b=float(np.median(values[b])))
        row.update(higher=_higher({a: values[a], b: values[b]}))
    return row


def _state_rows(metric: str, state: int, column: pd.Series, groups: dict, labels: list[str]) -> list[dict]:
    values = {g: column[[r for r in column.index if groups[r] == g]].dropna().to_numpy(float) for g in labels}
    counts = {g: len(v) for g, v in values.items()}
    base = _base_row(metric, state, values, counts)
    too_few = [g for g in labels if counts[g] < 2]
    pooled = np.concatenate(list(values.values()))
    if too_few:
        reason = f"not tested: fewer than two recordings with a value in group(s) {', '.join(too_few)}"
    elif np.ptp(pooled) == 0:
        reason = "not tested: every recording has the same value"
    else:
        reason = ""
    pairs = [(a, b) for i, a in enumerate(labels) for b in labels[i + 1 :]]
    if len(labels) == 2:
        row = _pair_row(dict(base, test="Mann-Whitney U"), *labels, values)
        if reason:
            return [dict(row, note=_joined(reason, row["note"]))]
        a, b = values[labels[0]], values[labels[1]]
        result = stats.mannwhitneyu(b, a, alternative="two-sided")
        effect = _rank_biserial(a, b)
        return [dict(row, statistic=float(result.statistic), p_value=float(result.pvalue),
                     effect_size=effect, effect_size_name="rank-biserial r (positive: group_b higher)")]  # fmt: skip
    omnibus = dict(base, test="Kruskal-Wallis", comparison="all groups", higher=_higher(values) if not too_few else "")
    posthoc = [dict(_pair_row(dict(base, test="Dunn"), a, b, values)) for a, b in pairs]
    if reason:
        return [dict(row, note=_joined(reason, row["note"])) for row in [omnibus, *posthoc]]
    result = stats.kruskal(*values.values())
    omnibus.update(statistic=float(result.statistic), p_value=float(result.pvalue),
                   effect_size=float(result.statistic / (len(pooled) - 1)), effect_size_name="epsilon squared")  # fmt: skip
    dunn_p, dunn_z = _dunn(values)
    for row, (a, b) in zip(posthoc, pairs):
        row.update(statistic=dunn_z[(a, b)], p_value=dunn_p[(a, b)], effect_size=_rank_biserial(values[a], values[b]),
                   effect_size_name="rank-biserial r (positive: group_b higher)")  # fmt: skip
    return [omnibus, *posthoc]


def _dunn(values: dict[str, np.ndarray]) -> tuple[dict, dict]:
    """Dunn's uncorrected two-sided p-values (scikit-posthocs) and signed z (b − a) per pair."""
    import scikit_posthocs

    labels = list(values)
    long = pd.DataFrame({
        "value": np.concatenate([values[g] for g in labels]),
        "group": np.concatenate([[g] * len(values[g]) for g in labels]),
    })  # fmt: skip
    p_values = scikit_posthocs.posthoc_dunn(long, val_col="value", group_col="group", p_adjust=None)
    mean_ranks = pd.Series(stats.rankdata(long["value"]), index=long.index).groupby(long["group"]).mean()
    p, z = {}, {}
    for i, a in enumerate(labels):
        for b in labels[i + 1 :]:
            p[(a, b)] = float(p_values.loc[a, b])
            magnitude = stats.norm.isf(p[(a, b)] / 2)
            z[(a, b)] = float(np.sign(mean_ranks[b] - mean_ranks[a]) * magnitude)
    return p, z


def _joined(first: str, second: str) -> str:
    return "; ".join(text for text in (first, second) if text)


def _corrected(rows: pd.DataFrame, alpha: float) -> pd.DataFrame:
    """Benjamini–Hochberg across states within each comparison of one metric."""
    rows = rows.copy()
    rows["p_corrected"] = np.nan
    for _, family in rows.groupby("comparison", sort=False):
        tested = family["p_value"].notna()
        if tested.any():
            adjusted = stats.false_discovery_control(family.loc[tested, "p_value"].to_numpy(), method="bh")
            rows.loc[family.index[tested.to_numpy()], "p_corrected"] = adjusted
    rows["significant"] = rows["p_corrected"] < alpha
    for column in ("n_a", "n_b"):
        rows[column] = rows[column].astype("Int64")
    return rows
