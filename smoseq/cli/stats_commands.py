"""`smoseq stats`: behaviour per state and statistics across groups, as CSV tables, figures and a report.

Everything is read, checked and computed before the output folder is created, so bad
input (an unknown recording, a group of one recording, missing centroid columns,
fps ≤ 0) ends with one line naming the file and leaves nothing behind.
"""

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .._errors import InputError
from ..io.files import atomic_write_text
from .output import prepare_output, save_figure, say, write_index

GROUP_SHEET = "index.csv"
GROUP_METRICS = ("fraction", "fraction_clr", "bouts_per_minute", "median_bout_s", "mean_bout_s", "mean_speed")


def add_commands(subparsers, add_command) -> None:
    """Register `smoseq stats` on the `smoseq` parser."""
    stats = add_command(
        subparsers, "stats", "behaviour per state (time, bouts, speed, place) and statistics across groups of recordings",
        "smoseq stats fit --data example_data --groups index.csv --out stats", stats_command,
    )  # fmt: skip
    stats.add_argument("fit", help="fit folder")
    stats.add_argument("--data", required=True, help="folder of recording CSVs or a results.h5 (centroids: x, y columns)")
    stats.add_argument(
        "--groups", default=None,
        help=f"name,group CSV (default: {GROUP_SHEET} in DATA's folder or beside it, as keypoint-MoSeq keeps it)",
    )  # fmt: skip
    stats.add_argument("--out", required=True, help="output folder")
    stats.add_argument("--fps", type=float, default=None, help="frame rate (default: the fit's)")
    stats.add_argument("--alpha", type=float, default=0.05, help="level after Benjamini-Hochberg correction (default 0.05)")
    stats.add_argument("--reference", default=None, help="group the transition differences are taken from (default: first)")
    stats.add_argument("--smooth-s", type=float, default=0.0,
                       help="average the centroid over this many seconds before speeds (default 0: raw steps)")  # fmt: skip
    stats.add_argument("--no-place", action="store_true", help="recordings without centroids: time and bouts only")
    stats.add_argument("--force", action="store_true", help="replace earlier results in --out")
    stats.add_argument("--decode", action="store_true",
                       help="also predict each recording's group from its state profile (cross-validated, permutation p-value)")
    stats.add_argument("--classifier", choices=("lda", "logistic"), default="lda",
                       help="decoder for --decode: shrinkage LDA (default) or logistic regression")
    stats.add_argument("--permutations", type=int, default=1000, help="label permutations for --decode's p-value (default 1000)")


@dataclass
class StatsResult:
    """What `compute_stats` found: the tables, and the inputs the figures are drawn from."""

    behaviour: pd.DataFrame
    bouts: pd.DataFrame
    states: dict
    centroids: dict
    fps: float
    n_states: int
    groups: dict = field(default_factory=dict)
    group_sheet: Path | None = None
    statistics: pd.DataFrame | None = None
    summary: pd.DataFrame | None = None
    alpha: float = 0.05
    reference: str | None = None
    smooth_s: float = 0.0
    decoding: object | None = None
    fit: object = None  # the FitResult: state names, emission tables (dendrogram), a grouped fit's samples

    def labels(self) -> list[str]:
        """Every state's label: its name where the fit gives one, else its number."""
        from ..metrics import state_labels

        return state_labels(self.n_states, getattr(self.fit, "state_names", None))


def find_group_sheet(data_path) -> Path | None:
    """`index.csv` in the data folder (beside a `results.h5`) or beside the data folder, if there is one."""
    data_path = Path(data_path)
    folder = data_path if data_path.is_dir() else data_path.parent
    for candidate in (folder / GROUP_SHEET, folder.parent / GROUP_SHEET):
        if candidate.is_file():
            return candidate
    return None


def _checked_inputs(states: dict, recordings, data_path, place: bool) -> dict:
    """Centroids per recording of the fit, after checking that the data match the fit."""
    for name, array in states.items():
        if name not in recordings.syllables:
            raise InputError(f"{data_path}: has no recording {name!r} that the fit was made on")
        if len(recordings.syllables[name]) != len(array):
            raise InputError(
                f"{recordings.sources.get(name, name)}: has {len(recordings.syllables[name])} frames "
                f"but the fit's states of {name!r} have {len(array)}"
            )
    if not place:
        return {}
    for name in states:
        if name not in recordings.centroids:
            raise InputError(
                f"{recordings.sources.get(name, data_path)}: no centroid columns (x, y or 'centroid x', 'centroid y'); "
                "pass --no-place for time and bout statistics only"
            )
    return {name: recordings.centroids[name] for name in states}


def compute_stats(
    states, recordings, data_path, fps, group_sheet=None, alpha=0.05, reference=None, place=True, n_states=None, smooth_s=0.0,
    decode=None,
) -> StatsResult:
    """Behaviour table, bouts and (with a group sheet) statistics, all checked before anything is written.

    Args:
        states: dict recording -> (T,) int states of the fit.
        recordings: `Recordings` of the data the fit was made on (syllables, centroids).
        data_path: where `recordings` came from, for messages.
        fps: frames per second (> 0).
        group_sheet: a `name,group` CSV (or None: no statistics across groups).
        alpha: level after Benjamini-Hochberg correction.
        reference: the group the transition differences are taken from (default: first).
        place: compute speed and place from the centroids (every recording needs them).
        n_states: K (default: largest state + 1).
        smooth_s: centroid smoothing window for speeds, seconds.
        decode: None, or a dict of `sm.decode_groups` options (`classifier`,
            `n_permutations`, `seed`): also decode the groups (needs the group sheet).

    Returns:
        `StatsResult`.

    Raises:
        InputError: fps ≤ 0, alpha outside (0, 1), a recording of the fit missing from the
            data or of another length, a recording without centroids, a bad group sheet
            (one recording in a group, unknown names), an unknown reference group.
    """
    from ..metrics import behaviour_table, bout_table

    if not (fps is not None and np.isfinite(fps) and fps > 0):
        raise InputError(f"--fps must be > 0, got {fps}")
    if not 0 < alpha < 1:
        raise InputError(f"--alpha must be between 0 and 1, got {alpha}")
    if not (np.isfinite(smooth_s) and smooth_s >= 0):
        raise InputError(f"--smooth-s must be >= 0 seconds, got {smooth_s}")
    centroids = _checked_inputs(states, recordings, data_path, place)
    with_headings = place and all(n in recordings.headings for n in states)
    headings = {n: recordings.headings[n] for n in states} if with_headings else None
    table = behaviour_table(states, fps, centroids or None, headings, num_states=n_states, smooth_s=smooth_s)
    n_states = int(table["state"].max()) + 1
    result = StatsResult(table, bout_table(states, fps), states, centroids, float(fps), n_states, alpha=alpha, smooth_s=smooth_s)
    if decode is not None and group_sheet is None:
        raise InputError(f"--decode needs a group sheet: pass --groups, or keep {GROUP_SHEET} (name,group) beside the data folder")
    if group_sheet is not None:
        _add_group_statistics(result, Path(group_sheet), reference)
    if decode is not None:
        _add_decoding(result, Path(group_sheet), decode)
    return result


def _add_decoding(result: StatsResult, group_sheet: Path, options: dict) -> None:
    from ..metrics import decode_groups

    if int(options.get("n_permutations", 1000)) < 1:
        raise InputError(f"--permutations must be >= 1, got {options['n_permutations']}")
    try:
        result.decoding = decode_groups(result.behaviour, result.groups, result.states, **options)
    except InputError as error:
        raise InputError(f"{group_sheet}: {error}") from None


def _add_group_statistics(result: StatsResult, group_sheet: Path, reference) -> None:
    from ..io.groups import load_groups
    from ..metrics import compare_groups, group_summary

    groups = load_groups(group_sheet, recordings=list(result.states))
    metrics = [m for m in GROUP_METRICS if m in result.behaviour.columns]
    try:
        result.statistics = compare_groups(result.behaviour, groups, metrics, alpha=result.alpha)
    except InputError as error:
        raise InputError(f"{group_sheet}: {error}") from None
    labels = sorted(set(groups.values()))
    if reference is not None and str(reference) not in labels:
        raise InputError(f"{group_sheet}: --reference {reference!r} is not one of its groups ({', '.join(labels)})")
    result.reference = labels[0] if reference is None else str(reference)
    result.summary = group_summary(result.behaviour, groups, metrics)
    result.groups, result.group_sheet = groups, group_sheet
    result.behaviour = result.behaviour.assign(group=result.behaviour["recording"].map(groups))


def write_stats(result: StatsResult, out: Path) -> tuple[list[Path], list[str]]:
    """The CSV tables and the figures in `out`; returns the figures and the report's notes."""
    from .. import viz

    atomic_write_text(out / "behaviour.csv", _named(result, result.behaviour).to_csv(index=False))
    atomic_write_text(out / "bouts.csv", _named(result, result.bouts).to_csv(index=False))
    figures_dir = out / "figures"
    figures_dir.mkdir(exist_ok=True)
    K, labels = result.n_states, result.labels()
    drawings = {"bout_durations": lambda: viz.plot_bout_durations(result.states, result.fps, K, labels=labels)}
    if result.centroids:
        drawings["speeds"] = lambda: viz.plot_state_speeds(
            result.states, result.centroids, result.fps, K, smooth_s=result.smooth_s, labels=labels
        )
        drawings["occupancy"] = lambda: viz.plot_occupancy(result.states, result.centroids, K, labels=labels)
    if result.statistics is not None:
        atomic_write_text(out / "group_statistics.csv", _named(result, result.statistics).to_csv(index=False))
        atomic_write_text(out / "group_summary.csv", result.summary.to_csv(index=False))
        for metric in result.statistics["metric"].unique():
            drawings[f"groups_{metric}"] = _metric_drawing(result, metric)
        drawings["groups_transitions"] = lambda: viz.plot_group_transitions(
            result.states, result.groups, K, result.reference, labels=labels
        )
    drawings |= state_drawings(result)
    if result.decoding is not None:
        _write_decoding(result, out)
        drawings["decoding"] = lambda: viz.plot_group_decoding(result.decoding, result.labels())
    figures = [save_figure(draw(), figures_dir / f"{name}.png") for name, draw in drawings.items()]
    return figures, report_notes(result)


def _write_decoding(result: StatsResult, out: Path) -> None:
    """`decoding.csv` (the result), `decoding_features.csv` (weights), `decoding_predictions.csv`."""
    decoding = result.decoding
    labels = result.labels()
    features = decoding.features.assign(
        state_name=[labels[k] if 0 <= k < len(labels) else "" for k in decoding.features["state"]],
        to_state_name=[labels[k] if 0 <= k < len(labels) else "" for k in decoding.features["to_state"]],
    )
    atomic_write_text(out / "decoding.csv", decoding.summary().to_csv(index=False))
    atomic_write_text(out / "decoding_features.csv", features.to_csv(index=False))
    atomic_write_text(out / "decoding_predictions.csv", decoding.predictions.to_csv(index=False))


def decoding_note(decoding) -> str:
    """One report line: how well the state profile predicts the group, and what carries it."""
    top = ", ".join(decoding.features["feature"].head(3))
    return (
        f"Decoding the group from the state profile ({decoding.classifier}, {decoding.cv}): balanced accuracy "
        f"{decoding.accuracy:.2f} (chance {decoding.chance:.2f}), permutation p = {decoding.p_value:.3g} "
        f"({decoding.n_permutations} permutations); strongest features: {top}."
    )


def _named(result: StatsResult, table: pd.DataFrame) -> pd.DataFrame:
    """`table` with a `state_name` column after `state` when the fit's states have names."""
    if not getattr(result.fit, "state_names", None) or "state" not in table.columns:
        return table
    labels = np.array(result.labels(), dtype=object)
    named = table.copy()
    named.insert(named.columns.get_loc("state") + 1, "state_name", labels[named["state"].to_numpy(dtype=int)])
    return named


def state_drawings(result: StatsResult) -> dict:
    """The transition graphs (per group, and each group against the reference) and the dendrogram of states."""
    from .. import viz

    labels, K = result.labels(), result.n_states
    grouped_fit = getattr(result.fit, "transition_samples", None) is not None
    if grouped_fit:  # the fit's own groups: graphs from its posterior samples, credible edges solid
        source, groups = result.fit, None
        names = [str(g) for g in result.fit.hyperparameters.get("group_names", [])]
        reference = result.reference if result.reference in names else (names[0] if names else None)
    else:
        source = result.fit if result.fit is not None else result.states
        groups, reference = result.groups or None, result.reference
        names = sorted(set(result.groups.values())) if result.groups else []
    drawings = {"transition_graph": lambda: viz.plot_transition_graph(source, groups, names=labels, num_states=K)}
    for other in [g for g in names if g != reference]:
        drawings[f"transition_graph_{other}_vs_{reference}"] = (
            lambda a=reference, b=other: viz.plot_transition_graph_difference(
                a, b, source=source, groups=groups, names=labels, num_states=K
            )
        )
    emissions = getattr(getattr(result.fit, "model", None), "emissions", None)
    if hasattr(emissions, "transition_tables") and K > 1:
        drawings["state_dendrogram"] = lambda: viz.plot_state_dendrogram(result.fit, names=labels)
    return drawings


def _metric_drawing(result: StatsResult, metric: str):
    from .. import viz

    return lambda: viz.plot_group_metric(
        result.behaviour, result.groups, metric, result.statistics, result.alpha, result.n_states, labels=result.labels()
    )


def report_notes(result: StatsResult) -> list[str]:
    """Lines for the report: what was compared, what was found, the compositional caveat."""
    notes = [f"{len(result.states)} recordings, {result.n_states} states, {len(result.bouts)} bouts at {result.fps:g} fps."]
    if getattr(result.fit, "state_names", None):  # in the first line, so the lines after it keep their places
        notes[0] += " State names: " + ", ".join(f"{k} {name}" for k, name in sorted(result.fit.state_names.items())) + "."
    if result.statistics is None:
        return notes + [f"No group sheet: pass --groups, or keep {GROUP_SHEET} (name,group) beside the data folder."]
    counts = pd.Series(result.groups).value_counts().sort_index()
    notes.append("Groups (" + str(result.group_sheet) + "): " + ", ".join(f"{g} ({n} recordings)" for g, n in counts.items()) + ".")
    flagged = result.statistics[result.statistics["significant"]]
    if flagged.empty:
        notes.append(f"No state differs between groups at {result.alpha:g} after Benjamini-Hochberg correction.")
    for _, row in flagged.iterrows():
        where = row["comparison"] if row["test"] != "Kruskal-Wallis" else "across groups"
        notes.append(
            f"{row['metric']}, state {_state_text(result, row['state'])} ({row['test']}, {where}): higher in {row['higher'] or '?'} "
            f"(medians {row['medians']}; p = {row['p_value']:.2g}, corrected {row['p_corrected']:.2g})."
        )
    if result.decoding is not None:
        notes.append(decoding_note(result.decoding))
    notes.append(
        "Frequencies are compositional: a state that gains time takes it from the others, so their fractions can "
        "differ too. Bout durations and bout rates are the cleaner evidence; fraction_clr shows each state's use "
        "relative to the recording's other states."
    )
    return notes


def _state_text(result: StatsResult, state) -> str:
    label = result.labels()[int(state)]
    return str(state) if label == str(state) else f"{state} ({label})"


def stats_command(args) -> None:
    from ..fitting import load_fit
    from ..io.recordings import check_centroids, load_recordings

    result = load_fit(args.fit)
    recordings = load_recordings(args.data)
    check_centroids(recordings)
    fps = args.fps if args.fps is not None else float(result.info.get("fps", 120.0))
    sheet = args.groups if args.groups is not None else find_group_sheet(args.data)
    decode = {"classifier": args.classifier, "n_permutations": args.permutations} if args.decode else None
    computed = compute_stats(
        result.states, recordings, args.data, fps, sheet, args.alpha, args.reference, not args.no_place, result.n_states,
        args.smooth_s, decode,
    )
    computed.fit = result
    out = prepare_output(args.out, args.force, "behaviour.csv")
    figures, notes = write_stats(computed, out)
    index = write_index(out, "smoseq stats", [("Behaviour per state and groups", figures)], [], notes)
    for line in notes[1:]:
        say(line)
    say(f"wrote tables and {len(figures)} figures to {out} (report: {index})")
