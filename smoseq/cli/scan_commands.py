"""`smoseq scan` and `smoseq select` (parameter scans); registered by `smoseq.cli`."""

import math
from pathlib import Path

import numpy as np

from .._errors import InputError
from .output import say

SELECTION_DIR = "selection"
TABLE_COLUMNS = ["n_states", "kappa", "seed", "final_log_prob", "median_duration_s", "n_states_used",
                 "heldout_loglik_per_frame", "seconds"]  # fmt: skip


def add_commands(subparsers, add_command) -> None:
    """Register the scan commands on the `smoseq` parser."""
    from .settings_options import add_fit_options

    scan = add_command(
        subparsers, "scan", "fit a grid of κ × seeds (× n_states) models, batched, locally or on SLURM",
        "smoseq scan example_data --out scan --kappas 1e3:1e7:20 --seeds 5 --executor submitit-local", run_scan_command,
    )  # fmt: skip
    scan.add_argument("data", help="folder of recording CSVs or a results.h5")
    scan.add_argument("--out", required=True, help="scan folder (re-run the same command to finish an interrupted scan)")
    scan.add_argument("--kappas", required=True, help="LOW:HIGH:COUNT (log-spaced) or a comma list, e.g. 1e3:1e7:20")
    scan.add_argument("--seeds", default="5", help="number of seeds (0..N-1) or a comma list (default: 5)")
    scan.add_argument("--n-states", default="10", help="K values: a comma list, or A:B for A..B (default: 10)")
    scan.add_argument("--heldout-folds", type=int, default=0,
                      help="cross-validate: the model with seed s leaves out fold s mod F of the recordings")  # fmt: skip
    scan.add_argument("--fps", type=float, default=120.0, help="frame rate, for durations in seconds")
    add_fit_options(scan, single=False, transitions=("sticky", "hdp"),
                    transitions_help="prior of the hidden-state transitions (hdp: sticky HDP, unused states empty)")  # fmt: skip
    scan.add_argument("--groups", metavar="CSV",
                      help="name,group sheet (e.g. keypoint-MoSeq's index.csv): one transition matrix per group in every model")  # fmt: skip
    scan.add_argument("--max-batch", type=int, default=None, help="most models per vmapped batch (default 20)")
    scan.add_argument("--memory-gb", type=float, default=None, help="memory a batch may use (default: half the free RAM)")
    scan.add_argument("--executor", choices=["inline", "processes", "submitit-local", "slurm"], default="inline")
    scan.add_argument("--workers", type=int, default=None, help="concurrent local jobs (default: one per two cores)")
    scan.add_argument("--slurm-partition", default=None)
    scan.add_argument("--slurm-gpus", type=int, default=0, help="GPUs per job")
    scan.add_argument("--slurm-mem-gb", type=float, default=None, help="memory per job")
    scan.add_argument("--slurm-time-min", type=int, default=24 * 60, help="time limit per job (also for submitit-local)")
    scan.add_argument("--slurm-array-parallelism", type=int, default=None, help="jobs running at once")
    scan.add_argument("--slurm-cpus", type=int, default=None, help="CPUs per job")
    scan.add_argument("--no-wait", action="store_true", help="submit SLURM jobs and return (then: smoseq select SCAN)")

    select = add_command(
        subparsers, "select", "summary table and figures of a scan: best seed, agreement across seeds, κ suggestion",
        "smoseq select scan --kappa 1e5 --mi mi", select_command,
    )  # fmt: skip
    select.add_argument("scan", help="scan folder")
    select.add_argument("--kappa", type=float, default=None, help="report the best seed and seed agreement at this κ")
    select.add_argument("--n-states", type=int, default=None, help="restrict to this K")
    select.add_argument(
        "--mi", default=None,
        help="folder written by `smoseq mi` (mi.npz) to suggest a κ from (default: computed from the scan's "
        "recordings with `smoseq mi`'s defaults and written to the figure folder)",
    )
    select.add_argument("--no-suggestion", action="store_true", help="skip the MI curves and the κ suggestion")
    select.add_argument("--fps", type=float, default=None, help="frame rate (default: the scan's)")
    select.add_argument("--out", default=None, help=f"figure folder (default: SCAN/{SELECTION_DIR})")


def _integers(text: str, what: str, count_means_range: bool) -> list[int]:
    """A comma list of integers, `A:B` for A..B inclusive (e.g. `--n-states 2:10`), or a count of seeds."""
    try:
        if ":" in str(text):
            first, last = (int(v) for v in str(text).split(":"))
            if last < first:
                raise ValueError
            return list(range(first, last + 1))
        values = [int(v) for v in str(text).split(",")]
    except ValueError:
        raise InputError(f"--{what} must be an integer, a comma list of integers or a range A:B, got {text!r}") from None
    if count_means_range and "," not in str(text):
        if values[0] < 1:
            raise InputError(f"--{what} must be at least 1, got {values[0]}")
        return list(range(values[0]))
    return values


def run_scan_command(args) -> None:
    from ..io.recordings import load_recordings
    from ..scan import ExecutorOptions, ScanSettings, kappa_grid, run_scan
    from .settings_options import settings_from_args

    kappas = kappa_grid(args.kappas)
    seeds = _integers(args.seeds, "seeds", count_means_range=True)
    n_states = _integers(args.n_states, "n-states", count_means_range=False)
    if args.memory_gb is not None and not args.memory_gb > 0:
        raise InputError(f"--memory-gb must be > 0, got {args.memory_gb}")
    executor = ExecutorOptions(
        kind=args.executor, workers=args.workers, slurm_partition=args.slurm_partition, slurm_gpus=args.slurm_gpus,
        slurm_mem_gb=args.slurm_mem_gb, slurm_time_min=args.slurm_time_min,
        slurm_array_parallelism=args.slurm_array_parallelism, slurm_cpus=args.slurm_cpus, wait=not args.no_wait,
    )  # fmt: skip
    settings = ScanSettings(settings_from_args(args), heldout_folds=args.heldout_folds, fps=args.fps, groups=args.groups)
    recordings = load_recordings(args.data).syllables
    try:
        summary = run_scan(
            recordings, Path(args.out), n_states=n_states, kappas=kappas, seeds=seeds, settings=settings,
            executor=executor, max_batch=args.max_batch,
            memory_budget=None if args.memory_gb is None else args.memory_gb * 1e9, say=say,
        )  # fmt: skip
    except KeyboardInterrupt:
        say("interrupted: complete models are kept; run the same command again to fit the rest")
        raise
    if summary is None:
        say(f"jobs submitted; when they finish: smoseq select {args.out} (or re-run this command to fit what is missing)")
        return
    say(f"wrote {Path(args.out) / 'summary.csv'} ({len(summary)} models); next: smoseq select {args.out}")


def _format_table(summary) -> str:
    table = summary[[c for c in TABLE_COLUMNS if c in summary]].copy()
    if table["heldout_loglik_per_frame"].isna().all():
        table = table.drop(columns="heldout_loglik_per_frame")
    formats = {"kappa": "{:.4g}".format, "final_log_prob": "{:.6g}".format, "median_duration_s": "{:.3g}".format,
               "heldout_loglik_per_frame": "{:.5g}".format, "seconds": "{:.1f}".format}  # fmt: skip
    return table.to_string(index=False, formatters={k: v for k, v in formats.items() if k in table})


def _read_mi(folder) -> dict:
    from ..io.files import load_npz

    path = Path(folder) / "mi.npz" if Path(folder).is_dir() else Path(folder)
    if not path.is_file():
        raise InputError(f"{path}: no MI results (run `smoseq mi DATA --out {folder}` first)")
    try:
        arrays = load_npz(path)
    except Exception as error:
        raise InputError(f"{path}: unreadable MI results ({type(error).__name__})") from None
    missing = [k for k in ("lags", "real", "markov", "shuffle") if k not in arrays]
    if missing:
        raise InputError(f"{path}: lacks {', '.join(missing)}; was it written by `smoseq mi`?")
    return arrays


def select_command(args) -> None:
    from .output import prepare_output, save_figure
    from ..scan import load_summary
    from ..scan.layout import read_scan_file, settings_from
    from ..viz import plot_scan

    description = read_scan_file(args.scan)
    if description is None:
        raise InputError(f"{args.scan}: not a scan folder (no scan.json); run `smoseq scan` first")
    fps = args.fps if args.fps is not None else settings_from(description).fps
    if not fps > 0:
        raise InputError(f"--fps must be > 0, got {fps}")
    summary = load_summary(args.scan)
    if args.n_states is not None:
        summary = summary[summary["n_states"] == args.n_states]
    fitted = summary[summary["error"].fillna("") == ""]
    if len(fitted) == 0:
        raise InputError(f"{args.scan}: no fitted models" + (f" with {args.n_states} states" if args.n_states else "") + " yet")
    fitted = fitted.assign(median_duration_s=fitted["median_duration_frames"] / fps)
    out = prepare_output(args.out or Path(args.scan) / SELECTION_DIR, True, ".none")
    say(_format_table(fitted))
    for row in summary[summary["error"].fillna("") != ""].itertuples():
        say(f"failed: K={row.n_states} kappa={row.kappa:.4g} seed={row.seed}: {row.error}")
    written = [save_figure(plot_scan(fitted), out / "scan.png")]
    written += _agreement(args, fitted, out, save_figure)
    if not args.no_suggestion:
        written += _suggestion(args, fitted, fps, out, save_figure)
        written += _n_states_suggestion(args, fitted, out)
    say("wrote " + ", ".join(str(p) for p in written))


def _n_states_suggestion(args, fitted, out: Path) -> list[Path]:
    """With several n_states: the most reproducible one across seeds, and the states its seeds use."""
    from ..io.files import atomic_write_text
    from ..scan import plot_n_states_selection, suggest_n_states
    from .output import save_figure

    if fitted["n_states"].nunique() < 2:
        return []
    if args.kappa is None and fitted.groupby("n_states")["kappa"].nunique().max() > 1:
        say("n_states suggestion: pass --kappa (the scan has several κ per n_states; choose κ first)")
        return []
    suggestion = suggest_n_states(args.scan, kappa=args.kappa)
    say(suggestion.table.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    say(f"suggested {suggestion.rule}")
    path = out / "n_states.csv"
    atomic_write_text(path, suggestion.table.to_csv(index=False))
    return [path, save_figure(plot_n_states_selection(suggestion), out / "n_states.png")]


def _agreement(args, fitted, out: Path, save) -> list[Path]:
    from ..scan import agreement_by_kappa, best_seed, pairwise_agreement, plot_agreement_by_kappa, plot_seed_agreement, seed_states
    from ..scan.layout import kappa_text

    if args.kappa is not None:
        best = best_seed(fitted, args.kappa, args.n_states)
        say(f"best seed at kappa {best['kappa']:.4g} (K={best['n_states']}): seed {best['seed']} "
             f"({best['ranked_by']} {best[best['ranked_by']]:.6g}), fit folder {Path(args.scan) / best['fit_folder']}")  # fmt: skip
        if (np.isclose(fitted["kappa"], best["kappa"], rtol=1e-6) & (fitted["n_states"] == best["n_states"])).sum() < 2:
            return []
        states = seed_states(args.scan, best["kappa"], int(best["n_states"]))
        pairs = pairwise_agreement(states)
        say(f"agreement across seeds ({pairs.attrs['basis']}): mean accuracy {pairs['accuracy'].mean():.3f}, "
             f"mean adjusted Rand {pairs['adjusted_rand'].mean():.3f}")  # fmt: skip
        suffix = f"K{best['n_states']}_kappa{kappa_text(best['kappa'])}"
        title = f"K={best['n_states']}, κ={best['kappa']:.4g}"
        written = [save(plot_seed_agreement(pairs, title), out / f"agreement_{suffix}.png")]
        return written + _seed_comparisons(states, int(best["seed"]), pairs, out, suffix, title)
    table = agreement_by_kappa(args.scan, fitted)
    if len(table) == 0:
        say("agreement across seeds: needs at least two seeds per kappa")
        return []
    from ..io.files import atomic_write_text

    atomic_write_text(out / "agreement.csv", table.to_csv(index=False))
    say("agreement across seeds (mean of pairs):\n" + table.to_string(index=False, float_format="{:.3g}".format))
    return [out / "agreement.csv", save(plot_agreement_by_kappa(table), out / "agreement_by_kappa.png")]


def _seed_comparisons(states, reference: int, pairs, out: Path, suffix: str, title: str) -> list[Path]:
    """The best seed's confusion with every other seed, and Sankey diagrams with the seed that agrees least."""
    from ..io.files import atomic_write_text
    from ..scan import plot_seed_confusions, seed_confusions
    from ..viz import plot_alluvial, plot_sankey
    from .output import save_figure

    confusions = save_figure(
        plot_seed_confusions(seed_confusions(states, reference), reference, title), out / f"seed_confusions_{suffix}.png"
    )
    with_reference = pairs[(pairs["seed_a"] == reference) | (pairs["seed_b"] == reference)]
    least = with_reference.loc[with_reference["adjusted_rand"].idxmin()]
    other = int(least["seed_b"] if least["seed_a"] == reference else least["seed_a"])
    labels = (f"seed {reference}", f"seed {other}")
    alluvial = save_figure(
        plot_alluvial(states[reference], states[other], states.attrs["n_states"], states.attrs["n_states"], labels=labels),
        out / f"sankey_seed{reference}_seed{other}_{suffix}.png",
    )
    html = out / f"sankey_seed{reference}_seed{other}_{suffix}.html"
    atomic_write_text(html, plot_sankey(states[reference], states[other], labels=labels).to_html(include_plotlyjs=True))
    say(f"seed {reference} against seed {other} (lowest adjusted Rand, {least['adjusted_rand']:.3f}): {html.name}")
    return [confusions, alluvial, html]


def _suggestion(args, fitted, fps: float, out: Path, save) -> list[Path]:
    from ..scan import plot_kappa_suggestion, suggest_kappa

    if args.mi is None:
        written = _scan_mutual_information(args.scan, fps, out)
        mi = _read_mi(out)
    else:
        written, mi = [], _read_mi(args.mi)
    mi_fps = float(mi["fps"]) if "fps" in mi else fps
    if not math.isclose(mi_fps, fps, rel_tol=1e-6):
        raise InputError(f"{args.mi}: MI was computed at {mi_fps:g} fps but the scan uses {fps:g} fps")
    suggestions = {
        int(n_states): suggest_kappa(fitted, mi["lags"], mi["real"], mi["markov"], mi["shuffle"], fps, n_states=int(n_states))
        for n_states in sorted(fitted["n_states"].unique())
    }
    _say_evidence(next(iter(suggestions.values())), fps)  # the MI curves do not depend on K
    several = len(suggestions) > 1
    for n_states, suggestion in suggestions.items():
        say((f"K={n_states}: " if several else "") + suggestion.message)
        name = f"kappa_suggestion_K{n_states}.png" if several else "kappa_suggestion.png"
        written.append(save(plot_kappa_suggestion(suggestion, fps), out / name))
    return written


def _say_evidence(suggestion, fps: float) -> None:
    if suggestion.timescale_s is None:
        return
    say("evidence (lag s, real excess, its standard error across recordings, Markov excess, ratio):")
    for row in suggestion.mi.itertuples():
        marker = "  <- separation" if row.lag == suggestion.timescale_frames else ""
        say(f"  {row.lag / fps:8.3g}  {row.real_excess:9.4f}  {row.real_excess_se:7.4f}  {row.markov_excess:9.4f}  "
             f"{row.ratio:7.3g}{marker}")  # fmt: skip


def _scan_mutual_information(scan, fps: float, out: Path) -> list[Path]:
    """`smoseq mi` with its defaults on the recordings the scan was fitted to, written to `out`."""
    from .commands import run_mutual_information
    from ..scan.layout import read_recordings

    figure = run_mutual_information(read_recordings(scan), fps, out)
    say(f"lagged MI of the scan's recordings (as `smoseq mi` with its defaults): {out / 'mi.npz'}")
    return [out / "mi.npz", figure]

