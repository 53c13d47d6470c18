"""Handlers of the `smoseq` commands: load, validate, call the library, write outputs.

Inputs are read and validated before any output folder is created, so bad input
leaves nothing behind.
"""

import contextlib
import itertools
import shutil
from pathlib import Path

import numpy as np

from .._errors import InputError, ModelFileError
from ..io.files import atomic_savez, atomic_write_text, unique_safe_filenames
from .output import prepare_output, save_figure, say


def _load(data_path):
    from ..io.recordings import check_centroids, load_recordings

    recordings = load_recordings(data_path)
    check_centroids(recordings)
    return recordings


def _save_syllables(folder: Path, syllables: dict) -> None:
    names = list(syllables)
    atomic_savez(
        folder / "syllables.npz",
        names=np.array(names, dtype=str),
        **{f"syllables_{i}": np.asarray(syllables[name]) for i, name in enumerate(names)},
    )


def _load_syllables(folder: Path) -> dict:
    from ..io.fit_folders import read_npz

    arrays = read_npz(folder / "syllables.npz")
    return {name: arrays[f"syllables_{i}"] for i, name in enumerate(arrays["names"].tolist())}


# ----------------------------------------------------------------------------- mi


def lag_frames(fps: float, min_lag_s: float, max_lag_s: float, n_lags: int) -> np.ndarray:
    """Log-spaced integer lags in frames, as in the tutorial."""
    if not (fps > 0 and 0 < min_lag_s < max_lag_s and n_lags >= 1):
        raise InputError(f"need fps > 0, 0 < min-lag < max-lag and n-lags >= 1 (got {fps}, {min_lag_s}, {max_lag_s}, {n_lags})")
    lags = np.logspace(np.log10(min_lag_s * fps), np.log10(max_lag_s * fps), n_lags).astype(int)
    return np.maximum(lags, 1)


def run_mutual_information(syllables: dict, fps, out: Path, n_lags=40, min_lag=1.0, max_lag=300.0, seed=0, bias_correction=None):
    from .. import batch
    from ..metrics import lagged_mutual_information
    from ..viz import plot_lagged_mi

    seqs, mask, _ = batch(syllables)
    longest = int(mask.sum(1).max())
    lags = lag_frames(fps, min_lag, max_lag, n_lags)
    lags = lags[lags < longest]
    if len(lags) == 0:
        raise InputError(f"recordings are too short ({longest} frames) for lags of {min_lag} s or more")
    real, markov, shuffle = lagged_mutual_information(seqs, mask, lags, key=seed, bias_correction=bias_correction)
    atomic_savez(out / "mi.npz", lags=lags, fps=np.array(fps), real=np.asarray(real), markov=np.asarray(markov), shuffle=np.asarray(shuffle))
    figure_path = save_figure(plot_lagged_mi(lags, real, markov, shuffle, fps), out / "lagged_mi.png")
    return figure_path


def mutual_information(args) -> None:
    recordings = _load(args.data)
    out = prepare_output(args.out, args.force, "mi.npz")
    figure = run_mutual_information(
        recordings.syllables, args.fps, out, args.n_lags, args.min_lag, args.max_lag, args.seed, args.bias_correction
    )
    say(f"wrote {out / 'mi.npz'} and {figure}")


# ----------------------------------------------------------------------------- fit


def run_fit(syllables: dict, out: Path, args, progress=True):
    """`smoseq fit`'s fit: the settings of the command line (`settings_from_args`) written to `out` by `write_fit`."""
    from .settings_options import settings_from_args

    return write_fit(
        syllables, out, settings_from_args(args), args.fps, groups=getattr(args, "groups", None),
        covariates=getattr(args, "covariates", None), resume=getattr(args, "resume", False), progress=progress,
    )  # fmt: skip


def write_fit(syllables: dict, out: Path, settings, fps: float, *, groups=None, covariates=None, resume=False, progress=True):
    """Fit `syllables` with `settings` (`sm.FitSettings`) and write the fit folder `out` (checkpoints inside it).

    Returns:
        The `FitResult`, also saved in `out` with the syllables it was fitted to.
    """
    from ..fitting.single import FitInterrupted, fit

    try:
        result = fit(
            syllables, settings=settings, groups=groups, covariates=covariates, progress=progress, resume=resume,
            checkpoint_dir=out / "checkpoints" if settings.checkpoint_every > 0 else None,
        )  # fmt: skip
    except FitInterrupted as interrupt:
        raise KeyboardInterrupt(str(interrupt)) from None
    result.info["fps"] = float(fps)
    result.save(out, overwrite=True)
    _save_syllables(out, syllables)
    return result


def fit(args) -> None:
    from ..io.fit_folders import is_complete_fit

    from .settings_options import settings_from_args

    recordings = _load(args.data)
    _check_fit_arguments(args)
    settings = settings_from_args(args)
    out = Path(args.out)
    if is_complete_fit(out) and not (args.force or args.resume):
        raise FileExistsError(f"{out}: already holds a fit; pass --force to replace it")
    if args.force and not args.resume:
        shutil.rmtree(out / "checkpoints", ignore_errors=True)
    out = prepare_output(out, True, "fit.json")
    try:
        result = write_fit(recordings.syllables, out, settings, args.fps, groups=args.groups, covariates=args.covariates,
                           resume=args.resume)  # fmt: skip
    except KeyboardInterrupt as interrupt:
        detail = str(interrupt) or "no checkpoint was written"
        say(f"interrupted: {detail}; resume with: smoseq fit {args.data} --out {args.out} --resume")
        raise
    acceptance = "" if result.acceptance_rate is None else f", emission acceptance rate {result.acceptance_rate:.3f}"
    say(f"wrote fit to {out} (final log probability {result.log_probs[-1]:.6g}{acceptance})")
    warning = update_warning(result.update_diagnostics, len(result.log_probs))
    if warning:
        say(warning)
    if result.transition_samples is not None:
        say(f"wrote {write_group_dynamics(out, result, args.fps)}")
    if getattr(result, "feature_counts", None) is not None:
        say(f"wrote {write_covariate_effects(out, result, args.fps)}")
    if not args.no_figures:
        written = write_fit_figures(out, result, recordings.syllables, args.fps)
        say(f"wrote {len(written)} figures to {out / 'figures'}")


def update_warning(diagnostics: dict, n_iters: int) -> str:
    """One line naming the iterations whose mode search did not converge or whose factorisation failed ("" if none)."""
    problems = []
    if diagnostics.get("mode_search_unconverged"):
        problems.append(f"the emission mode search did not converge in {diagnostics['mode_search_unconverged']}")
    if diagnostics.get("factorisation_failed"):
        problems.append(f"the Laplace factorisation failed in {diagnostics['factorisation_failed']}")
    if not problems:
        return ""
    return (f"warning: {' and '.join(problems)} of {n_iters} iterations (fit.json: update_diagnostics); "
            "raise the optimizer's max_iters or check the data")  # fmt: skip


def _check_fit_arguments(args) -> None:
    """The options of `smoseq fit` that are not fit settings (those are checked by `sm.FitSettings`)."""
    if args.fps <= 0:
        raise InputError(f"--fps must be > 0, got {args.fps}")


def write_group_dynamics(folder: Path, result, fps: float) -> Path:
    """`group_dynamics.csv` of a grouped fit (`sm.compare_group_dynamics`); returns its path."""
    from ..metrics import compare_group_dynamics

    path = folder / "group_dynamics.csv"
    atomic_write_text(path, compare_group_dynamics(result, fps=fps).to_csv(index=False))
    return path


def write_covariate_effects(folder: Path, result, fps: float) -> Path:
    """`covariate_effects.csv` of an input-driven fit (`sm.compare_covariate_effects`); returns its path."""
    from ..metrics import compare_covariate_effects

    path = folder / "covariate_effects.csv"
    atomic_write_text(path, compare_covariate_effects(result, fps=fps).to_csv(index=False))
    return path


def write_fit_figures(folder: Path, result, syllables: dict | None, fps: float) -> list[Path]:
    """Every figure of a fit, as PNGs in `folder/figures`."""
    from .. import viz
    from ..fitting.durations import fitted_duration_curve
    from ..metrics import get_bout_transition_matrix

    figures_dir = folder / "figures"
    figures_dir.mkdir(exist_ok=True)
    n_states, labels = result.n_states, result.state_labels()
    drawings = {
        "log_probs": lambda: viz.plot_log_probs(result.log_probs, tail_from=min(50, max(len(result.log_probs) // 2, 0))),
        "emission_losses": lambda: viz.plot_emission_losses(
            result.emission_losses, tail_from=min(500, max(len(result.emission_losses) // 2, 0))
        ),
        "state_history": lambda: viz.plot_state_history(result.history, fps, n_states=n_states, labels=labels),
        "durations": lambda: viz.plot_durations(result.states, fps, fitted=fitted_duration_curve(result)),
        "frequencies": lambda: viz.plot_frequencies(result.states, n_states=n_states, labels=labels),
        "bout_transitions": lambda: viz.plot_transition_matrix(
            get_bout_transition_matrix(result.states, n_states), title="bout-level state transitions", labels=labels
        ),
        "syllable_tables": lambda: viz.plot_syllable_tables(
            np.asarray(getattr(result.model.emissions, "inner", result.model.emissions).transition_tables()),
            labels=labels,
        ),
    }
    drawings |= _model_transition_drawings(result, fps)
    if syllables:
        first = sorted(result.states)[0]
        drawings["ethogram"] = lambda: viz.plot_ethogram(
            result.states[first], syllables.get(first), fps, n_states=n_states, labels=labels
        )
    written = []
    for name, draw in drawings.items():
        if name == "emission_losses" and len(result.emission_losses) == 0:
            continue
        written.append(save_figure(draw(), figures_dir / f"{name}.png"))
    return written


def _model_transition_drawings(result, fps: float) -> dict:
    """The model's transition matrix figure; one per group and the group comparison for a grouped fit."""
    from .. import viz
    from ..metrics import compare_covariate_effects, compare_group_dynamics

    if getattr(result, "feature_counts", None) is not None:  # input-driven: per-frame matrices, effects instead
        return {"covariate_effects": lambda: viz.plot_covariate_effects(compare_covariate_effects(result, fps=fps))}
    transitions = result.model.transitions
    if not hasattr(transitions, "probs"):  # e.g. semi-Markov: the bout-to-bout matrix, if the component has one
        switch = getattr(transitions, "switch", None)
        title = "bout-to-bout transition matrix (model)"
        return {} if switch is None else {"model_transitions": lambda: viz.plot_transition_matrix(np.asarray(switch), title=title)}
    probs = np.asarray(transitions.probs)
    if probs.ndim == 2:
        title = "hidden-state transition matrix (model)"
        return {"model_transitions": lambda: viz.plot_transition_matrix(probs, title=title, labels=result.state_labels())}
    names = list(getattr(result.model.transitions, "group_names", range(len(probs))))
    drawings = {
        f"model_transitions_group{g}": (lambda g=g, name=name: viz.plot_transition_matrix(
            probs[g], title=f"hidden-state transition matrix (model, group {name})", labels=result.state_labels()))
        for g, name in enumerate(names)
    }  # fmt: skip
    if result.transition_samples is not None:
        drawings["group_dynamics"] = lambda: viz.plot_group_dynamics(compare_group_dynamics(result, fps=fps))
    return drawings


# ----------------------------------------------------------------------------- apply, export, plot


def apply(args) -> None:
    from ..fitting import load_fit
    from ..fitting.streaming import DEFAULT_CHUNK_FRAMES, recording_batches, recordings_from
    from ..io.npz_stream import NpzWriter

    result = load_fit(args.fit)
    given = {"groups": getattr(args, "groups", None), "covariates": getattr(args, "covariates", None)}
    chunk_frames = getattr(args, "chunk_frames", None) or DEFAULT_CHUNK_FRAMES
    batches = recording_batches(recordings_from(args.data, result.model.n_syllables), chunk_frames)
    first = next(batches)  # read and check the first recordings before anything is written
    out = prepare_output(args.out, args.force, "states.npz")
    names = []
    with NpzWriter(out / "states.npz") as states_file, (
        NpzWriter(out / "marginals.npz") if args.marginals else contextlib.nullcontext()
    ) as marginals_file:
        for batch in itertools.chain([first], batches):
            states = result.predict(batch, method="viterbi" if args.viterbi else "most_probable", **given)
            marginals = result.predict(batch, method="marginals", **given) if args.marginals else None
            for name in batch:
                states_file.write(f"states_{len(names)}", states[name])
                if marginals is not None:
                    marginals_file.write(f"marginals_{len(names)}", np.asarray(marginals[name], dtype=np.float32))
                names.append(name)
        states_file.write("names", np.array(names, dtype=str))
        if marginals_file is not None:
            marginals_file.write("names", np.array(names, dtype=str))
    say(f"wrote states of {len(names)} recordings to {out / 'states.npz'}")


def export(args) -> None:
    """`smoseq export`: everything is read and checked before the first file is written."""
    from ..fitting import load_fit
    from ..io.state_tables import checked_states, fit_fps, table_paths

    nwb, table, csv = getattr(args, "nwb", None), getattr(args, "table", None), args.csv
    if not (csv or nwb or table):
        raise InputError("choose what to write: --csv, --nwb OUT.nwb and/or --table OUT.parquet")
    result = load_fit(args.fit)
    checked_states(result.states, f"{args.fit}/states.npz")
    fps = fit_fps(result, getattr(args, "fps", None)) if (nwb or table) else None
    if nwb is not None and Path(nwb).suffix.lower() != ".nwb":
        raise InputError(f"{nwb}: the NWB file must end in .nwb")
    targets = ([Path(nwb)] if nwb else []) + (list(table_paths(table)) if table else [])
    existing = [str(t) for t in targets if t.exists()]
    if existing and not args.force:
        raise FileExistsError(f"{existing[0]}: already exists; pass --force to replace it")
    syllables = _fit_syllables(Path(args.fit), result.states, required=csv)
    if csv:
        write_state_csvs(result, syllables, args.out or Path(args.fit) / "csv", args.force)
    if nwb:
        from ..io.nwb import export_nwb

        say(f"wrote {export_nwb(result, nwb, fps, syllables=syllables, overwrite=True)}")
    if table:
        from ..io.state_tables import export_tables

        frames, bouts = export_tables(result, table, fps, syllables, overwrite=True)
        say(f"wrote {frames} and {bouts}")


def _fit_syllables(folder: Path, states: dict, required: bool) -> dict | None:
    """The syllables `smoseq fit` keeps in the fit folder, checked against the states; None if absent."""
    if not (folder / "syllables.npz").is_file() and not required:
        return None
    syllables = _load_syllables(folder)
    for name, array in states.items():
        if name not in syllables or len(syllables[name]) != len(array):
            raise InputError(f"{folder / 'syllables.npz'}: does not match the states of recording {name!r}")
    return syllables


def write_state_csvs(result, syllables: dict, out, force: bool = False) -> Path:
    """One CSV per recording (frame, syllable, state, and state_name for named states) in `out`; returns `out`."""
    import pandas as pd

    out = prepare_output(out, force, ".exported")
    stems = unique_safe_filenames(result.states)
    labels = np.array(result.state_labels(), dtype=object)
    for name, states in result.states.items():
        table = pd.DataFrame({"frame": np.arange(len(states)), "syllable": syllables[name], "state": states})
        if result.state_names:  # names given with `smoseq label`
            table["state_name"] = np.where(states >= 0, labels[np.maximum(states, 0)], "")
        atomic_write_text(out / f"{stems[name]}.csv", table.to_csv(index=False))
    atomic_write_text(out / ".exported", "complete\n")
    say(f"wrote {len(stems)} CSV files to {out}")
    return out


def plot(args) -> None:
    from ..fitting import load_fit

    folder = Path(args.fit)
    result = load_fit(folder)
    fps = args.fps or float(result.info.get("fps", 120.0))
    try:
        syllables = _load_syllables(folder)
    except ModelFileError:
        syllables = None
    written = write_fit_figures(folder, result, syllables, fps)
    if args.out:
        out = prepare_output(args.out, True, ".none")
        for path in written:
            shutil.copy2(path, out / path.name)
        written = [out / p.name for p in written]
    say(f"wrote {len(written)} figures: " + ", ".join(str(p) for p in written))


# ----------------------------------------------------------------------------- movies


def check_movie_inputs(states: dict, recordings) -> None:
    """Every recording has a decodable video and a centroid track, before anything is written."""
    from ..viz import index_video

    for name in states:
        source = recordings.sources.get(name, name)
        if name not in recordings.videos:
            raise InputError(f"{source}: no video found beside it (looked for {name}.mp4, .avi, .mov, .mkv)")
        if name not in recordings.centroids:
            raise InputError(f"{source}: no centroid columns (x, y or 'centroid x', 'centroid y')")
        index_video(recordings.videos[name])


def run_movies(states: dict, recordings, out: Path, *, names: dict | None = None, rows=3, cols=4, max_duration=1200,
               window_size=256, min_duration=1, labels=False, seed=0):  # fmt: skip
    """Grid movies of `states` (`sm.generate_grid_movies`'s options); with `names` (state -> name), a named
    state's file is `state{k}_{name}.mp4`, and a movie of the same state under another name is removed."""
    from ..viz import generate_grid_movies

    check_movie_inputs(states, recordings)
    instances = generate_grid_movies(
        {name: states[name] for name in states},
        {name: str(recordings.videos[name]) for name in states},
        {name: recordings.centroids[name] for name in states},
        output_dir=str(out),
        rows=rows,
        cols=cols,
        max_duration=max_duration,
        window_size=window_size,
        min_duration=min_duration,
        labels=labels,
        seed=seed,
        names=names,
    )
    _remove_stale_movies(out, instances, names)
    return instances


def _remove_stale_movies(out: Path, states, names: dict | None) -> None:
    """Remove a state's movie written under another name (before it was named or renamed)."""
    from ..viz import movie_file_name

    for state in states:
        current = movie_file_name(state, names)
        for path in [*Path(out).glob(f"state{state}.mp4"), *Path(out).glob(f"state{state}_*.mp4")]:
            if path.name != current:
                path.unlink()


def movies(args) -> None:
    from ..fitting import load_fit

    result = load_fit(args.fit)
    recordings = _load(args.videos)
    unknown = [name for name in result.states if name not in recordings.syllables]
    if unknown:
        raise InputError(f"{args.videos}: has no recording {unknown[0]!r} that the fit in {args.fit} was made on")
    check_movie_inputs(result.states, recordings)
    out = prepare_output(args.out or Path(args.fit) / "grid_movies", True, ".none")
    options = {name: getattr(args, name) for name in ("rows", "cols", "max_duration", "window_size", "min_duration", "labels", "seed")}
    instances = run_movies(result.states, recordings, out, names=result.state_names, **options)
    say(f"wrote {len(instances)} grid movies to {out}")
