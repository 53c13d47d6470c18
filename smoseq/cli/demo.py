"""`smoseq demo`: the published tutorial's whole pipeline on the generated example dataset.

Steps (each printed as it finishes): write the example dataset (two groups of
recordings, with one behaviour's bouts planted to last longer in the second, and their
group sheet `index.csv` beside the data folder); lagged mutual information; fit (the
tutorial's hyperparameters, κ scaled to the dataset's size), states reordered so that
state 0 is the most used; fit diagnostics, durations, frequencies and the other fit
figures; agreement with the ground truth, and each state named after the true behaviour
it holds most of (`sm.name_states`); grid movies; states as CSV; behaviour per state,
statistics across the groups, transition graphs per group, the dendrogram of states and
the decoding of the group from each recording's state profile (`smoseq stats --decode`);
an `index.html` that shows it all.
"""

import time
from pathlib import Path

import numpy as np

from ..io.files import atomic_write_text
from . import commands, stats_commands
from .output import save_figure, say, write_index

TUTORIAL_KAPPA = 6e5
TUTORIAL_FRAMES = 9_072_000  # 21 recordings of one hour at 120 fps
DEMO_N_STATES = 10
DEMO_ITERS = 100
DEMO_RECORDINGS = 16
DEMO_DURATION_S = 180.0
DEMO_SMOOTH_S = 0.25  # the example's centroids carry tracking noise, as real ones do


def scaled_kappa(n_frames: int) -> float:
    """The tutorial's κ = 6·10⁵ for 9.07 M frames, scaled to `n_frames` (κ acts like a count)."""
    return TUTORIAL_KAPPA * n_frames / TUTORIAL_FRAMES


def run_demo(directory: Path, seed: int = 0, force: bool = False, say=print) -> Path:
    """Run every step into `directory`; returns the path of `index.html`."""
    from ..datasets.example import BEHAVIOURS, GroupEffect, load_ground_truth, make_example
    from ..fitting import FitSettings, name_states, reorder_states
    from ..io.recordings import load_recordings

    directory = Path(directory)
    if (directory / "index.html").exists() and not force:
        raise FileExistsError(f"{directory}: already holds a demo; pass --force to run it again")
    started = time.perf_counter()
    directory.mkdir(parents=True, exist_ok=True)
    data_dir = directory / "example_data"

    effect = GroupEffect()
    dataset = make_example(
        data_dir, n_recordings=DEMO_RECORDINGS, duration_s=DEMO_DURATION_S, seed=seed, group_effect=effect
    )
    group_sheet = directory / stats_commands.GROUP_SHEET
    atomic_write_text(group_sheet, "name,group\n" + "".join(f"{n},{g}\n" for n, g in dataset.groups.items()))
    recordings = load_recordings(data_dir)
    fps = dataset.fps
    n_frames = sum(len(s) for s in recordings.syllables.values())
    say(f"[1/7] example dataset: {len(recordings.syllables)} recordings, {n_frames} frames at {fps:g} fps -> {data_dir}; "
        f"groups -> {group_sheet}")

    mi_dir = directory / "mi"
    mi_dir.mkdir(exist_ok=True)
    longest_s = max(len(s) for s in recordings.syllables.values()) / fps
    mi_figure = commands.run_mutual_information(recordings.syllables, fps, mi_dir, 40, 1.0, min(300.0, longest_s / 2), seed)
    say(f"[2/7] lagged mutual information -> {mi_figure}")

    fit_dir = directory / "fit"
    fit_dir.mkdir(exist_ok=True)
    kappa = scaled_kappa(n_frames)
    settings = FitSettings(n_states=DEMO_N_STATES, kappa=kappa, n_iters=DEMO_ITERS, seed=seed, checkpoint_every=0)
    result = reorder_states(commands.write_fit(recordings.syllables, fit_dir, settings, fps), by="frequency")
    result.save(fit_dir, overwrite=True)
    say(f"[3/7] fit: K={DEMO_N_STATES}, kappa={kappa:.4g}, {DEMO_ITERS} iterations -> {fit_dir}")

    truth = load_ground_truth(data_dir)
    result = name_states(result, names_from_ground_truth(result.states, truth, BEHAVIOURS), folder=fit_dir)
    figures = commands.write_fit_figures(fit_dir, result, recordings.syllables, fps)  # named states
    comparison_figures, accuracy = _ground_truth_figures(fit_dir, result.states, truth)
    say(f"[4/7] {len(figures) + len(comparison_figures)} figures -> {fit_dir / 'figures'} "
        f"(accuracy against the ground truth: {accuracy:.3f})")

    movie_dir = fit_dir / "grid_movies"
    movie_dir.mkdir(exist_ok=True)
    commands.run_movies(result.states, recordings, movie_dir, names=result.state_names, rows=3, cols=4,
                        max_duration=int(5 * fps), window_size=96, min_duration=int(fps), labels=True, seed=seed)  # fmt: skip
    movies = sorted(movie_dir.glob("*.mp4"))
    say(f"[5/7] {len(movies)} grid movies -> {movie_dir}")

    csv_dir = commands.write_state_csvs(result, recordings.syllables, fit_dir / "csv", force=True)
    stats_dir = directory / "stats"
    stats_dir.mkdir(exist_ok=True)
    computed = stats_commands.compute_stats(
        result.states, recordings, data_dir, fps, group_sheet, n_states=DEMO_N_STATES, smooth_s=DEMO_SMOOTH_S,
        decode={"n_permutations": 1000, "seed": seed},
    )
    computed.fit = result  # names, transition graphs per group, the dendrogram of states
    stats_figures, stats_notes = stats_commands.write_stats(computed, stats_dir)
    state, share = _state_of_behaviour(result.states, truth, BEHAVIOURS.index(effect.behaviour))
    planted = (f"Planted: {effect.behaviour} bouts last {effect.bout_scale:g}× longer in group {effect.groups[1]!r} "
               f"(recordings 2, 4, 6, ...); fitted state {state} holds {share:.0%} of the {effect.behaviour} frames; "
               f"group sheet {group_sheet.name} beside {data_dir.name}/.")  # fmt: skip
    say(f"[6/7] behaviour per state and group statistics -> {stats_dir} ({planted})")
    for line in stats_notes[2:-1]:
        say(f"      {line}")
    notes = [
        f"{len(recordings.syllables)} recordings, {n_frames} frames at {fps:g} fps; "
        f"fit with K = {DEMO_N_STATES}, kappa = {kappa:.4g}, {DEMO_ITERS} Gibbs iterations; states reordered by "
        "frequency (state 0 is the most used).",
        f"Hungarian accuracy of the fitted states against the generator's ground truth: {accuracy:.3f}.",
        "States are named after the true behaviour most of their frames belong to (sm.name_states; "
        "smoseq label does it on the command line): " + ", ".join(result.state_labels()) + ".",
        f"States per recording: {csv_dir.relative_to(directory)}/ (CSV) and fit/states.npz.",
        f"Total time {time.perf_counter() - started:.0f} s.",
    ]
    index = write_index(
        directory,
        "smoseq demo",
        [
            ("Timescales", [mi_figure]),
            ("Fit", figures),
            ("Against the ground truth", comparison_figures),
            ("Behaviour per state and groups (smoseq stats)", stats_figures),
        ],
        movies,
        notes + [planted, *stats_notes],
    )
    say(f"[7/7] states -> {csv_dir}; everything shown in {index} ({time.perf_counter() - started:.0f} s)")
    return index


def names_from_ground_truth(states: dict, truth: dict, behaviours) -> dict[int, str]:
    """Each fitted state named after the true behaviour most of its frames belong to ("grooming 2" for a second one)."""
    names_in_order = sorted(states)
    fitted = np.concatenate([states[n] for n in names_in_order])
    true = np.concatenate([truth[n] for n in names_in_order])
    names, used = {}, {}
    for state in np.unique(fitted[fitted >= 0]):
        behaviour = behaviours[int(np.bincount(true[fitted == state]).argmax())]
        used[behaviour] = used.get(behaviour, 0) + 1
        names[int(state)] = behaviour if used[behaviour] == 1 else f"{behaviour} {used[behaviour]}"
    return names


def _state_of_behaviour(states: dict, truth: dict, behaviour: int) -> tuple[int, float]:
    """The fitted state holding most frames of a true behaviour, and the share of them it holds."""
    names = sorted(states)
    fitted = np.concatenate([states[n] for n in names])
    frames = fitted[np.concatenate([truth[n] for n in names]) == behaviour]
    counts = np.bincount(frames, minlength=1)
    return int(counts.argmax()), float(counts.max() / max(len(frames), 1))


def _ground_truth_figures(fit_dir: Path, states: dict, truth: dict):
    from ..metrics import compare_states
    from ..viz import plot_alluvial, plot_confusion

    names = sorted(states)
    fitted = np.concatenate([states[n] for n in names])
    true = np.concatenate([truth[n] for n in names])
    _, _, accuracy = compare_states(true, fitted)
    figures_dir = fit_dir / "figures"
    written = [
        save_figure(plot_confusion(true, fitted, labels=("ground truth", "fitted")), figures_dir / "confusion_vs_ground_truth.png"),
        save_figure(plot_alluvial(true, fitted, labels=("ground truth", "fitted")), figures_dir / "alluvial_vs_ground_truth.png"),
    ]
    return written, float(accuracy)


def example_data(args) -> None:
    """`smoseq example-data`: write the generated example dataset."""
    from ..datasets.example import make_example

    directory = Path(args.directory)
    if directory.exists() and any(directory.iterdir()) and not args.force:
        raise FileExistsError(f"{directory}: not empty; pass --force to write into it")
    kwargs = {"fps": args.fps, "seed": args.seed, "video": not args.no_video}
    if args.recordings is not None:
        kwargs["n_recordings"] = args.recordings
    if args.minutes is not None:
        kwargs["duration_s"] = args.minutes * 60
    dataset = make_example(directory, **kwargs)
    say(f"wrote the example dataset to {directory} ({len(dataset.csv_paths)} recordings)")


def demo(args) -> None:
    """`smoseq demo`: the whole tutorial pipeline."""
    run_demo(Path(args.directory), seed=args.seed, force=args.force, say=say)
