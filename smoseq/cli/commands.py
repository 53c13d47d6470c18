"""Handlers of the `smoseq` commands: load, validate, call the library, write outputs.

Inputs are read and validated before any output folder is created, so bad input
leaves nothing behind.
"""

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


def _mode_search(learning_rate):
    if learning_rate is None:
        return None
    from ..fitting.optimizers import optimizer
    from ..models import ModeSearch

    if not learning_rate > 0:
        raise InputError(f"--learning-rate must be > 0, got {learning_rate}")
    return ModeSearch(optimizer("adam", learning_rate=learning_rate), max_iters=1000, tol=1e-6, name=f"adam({learning_rate:g})")


def run_fit(syllables: dict, out: Path, args, progress=True):
    from ..fitting.single import FitInterrupted, fit

    try:
        result = fit(
            syllables,
            n_states=args.n_states,
            kappa=args.kappa,
            n_iters=args.iters,
            seed=args.seed,
            emissions=args.emissions,
            transitions=getattr(args, "transitions", "sticky"),
            groups=getattr(args, "groups", None),
            covariates=getattr(args, "covariates", None),
            repeats=getattr(args, "repeats", "ignore"),
            method="parallel" if args.parallel else "auto",
            mode_search=_mode_search(getattr(args, "learning_rate", None)),
            exact_emissions=getattr(args, "exact_emissions", False),
            checkpoint_dir=out / "checkpoints" if args.checkpoint_every > 0 else None,
            checkpoint_every=args.checkpoint_every,
            resume=getattr(args, "resume", False),
            progress=progress,
        )
    except FitInterrupted as interrupt:
        raise KeyboardInterrupt(str(interrupt)) from None
    result.info["fps"] = float(args.fps)
    result.save(out, overwrite=True)
    _save_syllables(out, syllables)
    return result


def fit(args) -> None:
    from ..io.fit_folders import is_complete_fit

    recordings = _load(args.data)
    _check_fit_arguments(args)
    out = Path(args.out)
    if is_complete_fit(out) and not (args.force or args.resume):
        raise FileExistsError(f"{out}: already holds a fit; pass --force to replace it")
    if args.force and not args.resume:
        shutil.rmtree(out / "checkpoints", ignore_errors=True)
    out = prepare_output(out, True, "fit.json")
    try:
        result = run_fit(recordings.syllables, out, args)
    except KeyboardInterrupt as interrupt:
        detail = str(interrupt) or "no checkpoint was written"
        say(f"interrupted: {detail}; resume with: smoseq fit {args.data} --out {args.out} --resume")
        raise
    acceptance = "" if result.acceptance_rate is None else f", emission acceptance rate {result.acceptance_rate:.3f}"
    say(f"wrote fit to {out} (final log probability {result.log_probs[-1]:.6g}{acceptance})")
    if result.transition_samples is not None:
        say(f"wrote {write_group_dynamics(out, result, args.fps)}")
    if getattr(result, "coefficient_samples", None) is not None:
        say(f"wrote {write_covariate_effects(out, result, args.fps)}")
    if not args.no_figures:
        written = write_fit_figures(out, result, recordings.syllables, args.fps)
        say(f"wrote {len(written)} figures to {out / 'figures'}")


def _check_fit_arguments(args) -> None:
    if args.n_states < 2:
        raise InputError(f"--n-states must be at least 2, got {args.n_states}")
    if args.iters < 1:
        raise InputError(f"--iters must be at least 1, got {args.iters}")
    if args.kappa != "auto" and not args.kappa >= 0:
        raise InputError(f"--kappa must be >= 0, got {args.kappa}")
    if args.checkpoint_every < 0:
        raise InputError(f"--checkpoint-every must be >= 0, got {args.checkpoint_every}")
    if args.fps <= 0:
        raise InputError(f"--fps must be > 0, got {args.fps}")
    if getattr(args, "learning_rate", None) is not None and not args.learning_rate > 0:
        raise InputError(f"--learning-rate must be > 0, got {args.learning_rate}")


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
    from ..metrics import get_bout_transition_matrix

    figures_dir = folder / "figures"
    figures_dir.mkdir(exist_ok=True)
    n_states = result.model.n_states
    drawings = {
        "log_probs": lambda: viz.plot_log_probs(result.log_probs, tail_from=min(50, max(len(result.log_probs) // 2, 0))),
        "emission_losses": lambda: viz.plot_emission_losses(
            result.emission_losses, tail_from=min(500, max(len(result.emission_losses) // 2, 0))
        ),
        "state_history": lambda: viz.plot_state_history(result.history, fps, n_states=n_states),
        "durations": lambda: viz.plot_durations(result.states, fps),
        "frequencies": lambda: viz.plot_frequencies(result.states, n_states=n_states),
        "bout_transitions": lambda: viz.plot_transition_matrix(
            get_bout_transition_matrix(result.states, n_states), title="bout-level state transitions"
        ),

        "syllable_tables": lambda: viz.plot_syllable_tables(np.asarray(result.model.emissions.transition_tables())),
    }
    drawings |= _model_transition_drawings(result, fps)
    if syllables:
        first = sorted(result.states)[0]
        drawings["ethogram"] = lambda: viz.plot_ethogram(result.states[first], syllables.get(first), fps)
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

    if getattr(result, "coefficient_samples", None) is not None:  # input-driven: per-frame matrices, effects instead
        return {"covariate_effects": lambda: viz.plot_covariate_effects(compare_covariate_effects(result, fps=fps))}
    probs = np.asarray(result.model.transitions.probs)
    if probs.ndim == 2:
        title = "hidden-state transition matrix (model)"
        return {"model_transitions": lambda: viz.plot_transition_matrix(probs, title=title)}
    names = list(getattr(result.model.transitions, "group_names", range(len(probs))))
    drawings = {
        f"model_transitions_group{g}": (lambda g=g, name=name: viz.plot_transition_matrix(
            probs[g], title=f"hidden-state transition matrix (model, group {name})"))
        for g, name in enumerate(names)
    }  # fmt: skip
    if result.transition_samples is not None:
        drawings["group_dynamics"] = lambda: viz.plot_group_dynamics(compare_group_dynamics(result, fps=fps))
    return drawings


# ----------------------------------------------------------------------------- apply, export, plot


def apply(args) -> None:
    from ..fitting import load_fit

    result = load_fit(args.fit)
    recordings = _load(args.data)
    n_syllables = result.model.n_syllables
    for name, syllables in recordings.syllables.items():
        if syllables.max() >= n_syllables:
            raise InputError(
                f"{recordings.sources[name]}: uses syllable {int(syllables.max())} but the model in "
                f"{args.fit} knows only {n_syllables} syllables (0..{n_syllables - 1})"
            )
    given = {"groups": getattr(args, "groups", None), "covariates": getattr(args, "covariates", None)}
    states = result.predict(recordings.syllables, method="viterbi" if args.viterbi else "most_probable", **given)
    marginals = result.predict(recordings.syllables, method="marginals", **given) if args.marginals else None
    out = prepare_output(args.out, args.force, "states.npz")
    names = list(states)
    atomic_savez(out / "states.npz", names=np.array(names, dtype=str), **{f"states_{i}": states[n] for i, n in enumerate(names)})
    if marginals is not None:
        atomic_savez(
            out / "marginals.npz",
            names=np.array(names, dtype=str),
            **{f"marginals_{i}": np.asarray(marginals[n], dtype=np.float32) for i, n in enumerate(names)},
        )
    say(f"wrote states of {len(names)} recordings to {out / 'states.npz'}")


def export(args) -> None:
    import pandas as pd

    from ..fitting import load_fit

    result = load_fit(args.fit)
    syllables = _load_syllables(Path(args.fit))
    out = prepare_output(args.out or Path(args.fit) / "csv", args.force, ".exported")
    stems = unique_safe_filenames(result.states)
    for name, states in result.states.items():
        table = pd.DataFrame({"frame": np.arange(len(states)), "syllable": syllables[name], "state": states})
        atomic_write_text(out / f"{stems[name]}.csv", table.to_csv(index=False))
    atomic_write_text(out / ".exported", "complete\n")
    say(f"wrote {len(stems)} CSV files to {out}")


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


def run_movies(states: dict, recordings, out: Path, args):
    from ..viz import generate_grid_movies

    check_movie_inputs(states, recordings)
    return generate_grid_movies(
        {name: states[name] for name in states},
        {name: str(recordings.videos[name]) for name in states},
        {name: recordings.centroids[name] for name in states},
        output_dir=str(out),
        rows=args.rows,
        cols=args.cols,
        max_duration=args.max_duration,
        window_size=args.window_size,
        min_duration=args.min_duration,
        labels=args.labels,
        seed=args.seed,
    )


def movies(args) -> None:
    from ..fitting import load_fit

    result = load_fit(args.fit)
    recordings = _load(args.videos)
    unknown = [name for name in result.states if name not in recordings.syllables]
    if unknown:
        raise InputError(f"{args.videos}: has no recording {unknown[0]!r} that the fit in {args.fit} was made on")
    check_movie_inputs(result.states, recordings)
    out = prepare_output(args.out or Path(args.fit) / "grid_movies", True, ".none")
    instances = run_movies(result.states, recordings, out, args)
    say(f"wrote {len(instances)} grid movies to {out}")
