"""A synthetic example dataset in the layout of the State-MoSeq tutorial.

`make_example` writes, deterministically from a seed, one `NAME.csv` (columns
`syllable,x,y`, one row per frame) and one `NAME.mp4` per recording, plus the true
high-level behaviour of every frame in `ground_truth.npz` (one int array per recording,
indices into the names stored under `behaviour_names`; it loads with `allow_pickle=False`).

The recordings are simulated from a process deliberately unlike smoseq's own model, so
that fitting it is a fair test:

- Behaviours (`BEHAVIOURS`) follow a semi-Markov chain: bouts of tens of seconds with
  gamma or log-normal durations (not geometric), and a structured switching matrix.
- Within a behaviour, syllables form another semi-Markov chain: each syllable lasts a
  few hundred milliseconds (gamma-distributed, per-syllable mean and shape), and the
  next syllable is drawn from a behaviour-specific transition matrix. Syllables belong
  to kinds (pause, groom, walk, turn, sniff, rear); every behaviour uses most kinds but
  in different proportions, so behaviours share syllables and are identifiable only
  statistically. Syllables are numbered by expected frequency, as keypoint-MoSeq does.
- The centroid moves with smooth speed and heading inside a circular arena: still
  while resting or grooming, roaming (and following the wall) while exploring,
  approaching and staying at an object while investigating, at the wall while rearing.
- The video shows the arena, the object and a mouse whose shape and colour depend on
  the syllable, oriented along its heading.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from . import synthetic_video as video_io

__all__ = ["BEHAVIOURS", "SMALL", "ExampleDataset", "GroupEffect", "load_ground_truth", "make_example"]

BEHAVIOURS = ("resting", "exploring", "grooming", "investigating", "rearing")
GROUND_TRUTH_FILE = "ground_truth.npz"  # not a CSV: the tutorial reads every *.csv as a recording

SMALL = {"n_recordings": 2, "duration_s": 60.0, "n_syllables": 24, "video_size": 128}
"""Parameters of a dataset written in about a second, for tests: `make_example(d, **SMALL)`."""

# --- behaviours ------------------------------------------------------------------------
# Probability of the next behaviour when a bout ends (rows: current; no self-switches).
_SWITCH = np.array([
    # rest  explore groom  invest  rear
    [0.00, 0.45, 0.40, 0.10, 0.05],  # resting
    [0.20, 0.00, 0.20, 0.35, 0.25],  # exploring
    [0.45, 0.35, 0.00, 0.10, 0.10],  # grooming
    [0.05, 0.50, 0.15, 0.00, 0.30],  # investigating
    [0.05, 0.55, 0.10, 0.30, 0.00],  # rearing
])
_FIRST_BEHAVIOUR = np.array([0.0, 0.6, 0.0, 0.2, 0.2])  # a mouse put in an arena explores
# Bout durations: (family, mean seconds, coefficient of variation); geometric would have CV ≈ 1.
_BOUTS = (("lognormal", 40.0, 0.5), ("gamma", 26.0, 0.55), ("gamma", 25.0, 0.4),
          ("gamma", 20.0, 0.5), ("gamma", 15.0, 0.45))
_MIN_BOUT_S = 3.0
_SPEED_SCALE = np.array([0.03, 1.0, 0.05, 0.7, 0.5])  # multiplies syllable speeds
_TURN_SCALE = np.array([0.15, 1.0, 0.2, 0.8, 0.6])  # multiplies syllable turning and heading noise
_TEMPO = np.array([1.4, 0.9, 1.1, 1.0, 1.2])  # multiplies syllable durations

# --- syllables -------------------------------------------------------------------------
_KINDS = ("pause", "groom", "walk", "turn", "sniff", "rear")
_KIND_SHARE = np.array([0.15, 0.17, 0.22, 0.16, 0.18, 0.12])  # of the syllable repertoire
_WITHIN_KIND_CONCENTRATION = 0.8  # Dirichlet; < 1 makes a few syllables of each kind dominate
_KIND_USAGE = np.array([
    # pause groom walk  turn  sniff rear
    [0.78, 0.08, 0.02, 0.04, 0.08, 0.00],  # resting
    [0.05, 0.01, 0.45, 0.24, 0.15, 0.10],  # exploring
    [0.15, 0.72, 0.01, 0.03, 0.09, 0.00],  # grooming
    [0.06, 0.02, 0.14, 0.22, 0.46, 0.10],  # investigating
    [0.08, 0.02, 0.10, 0.12, 0.20, 0.48],  # rearing
])
# Log-affinity of consecutive syllable kinds (rows: from), shared by all behaviours.
_KIND_AFFINITY = np.array([
    [0.0, 0.4, 0.0, 0.2, 0.2, 0.0],
    [0.4, 1.0, -0.5, 0.0, 0.0, -0.5],
    [0.0, -0.5, 0.3, 0.8, 0.2, 0.0],
    [0.2, 0.0, 0.8, 0.0, 0.3, 0.0],
    [0.0, 0.0, 0.2, 0.3, 0.0, 0.6],
    [0.0, -0.5, 0.0, 0.0, 0.6, 0.0],
])
_MEAN_DURATION_S = {"pause": (0.35, 0.8), "groom": (0.3, 0.7), "walk": (0.2, 0.45),
                    "turn": (0.2, 0.4), "sniff": (0.15, 0.4), "rear": (0.3, 0.7)}
_SPEED = {"pause": (0.0, 0.0), "groom": (0.0, 0.0), "walk": (0.45, 1.1),  # arena radii / s
          "turn": (0.15, 0.4), "sniff": (0.04, 0.15), "rear": (0.0, 0.05)}
# Appearance per kind: body length, body width, head length (body-length units), RGB.
_LOOKS = {"pause": (0.95, 0.5, 0.40, (70, 70, 74)), "groom": (0.75, 0.62, 0.30, (165, 110, 55)),
          "walk": (1.2, 0.42, 0.45, (45, 65, 155)), "turn": (1.0, 0.48, 0.42, (130, 55, 150)),
          "sniff": (1.05, 0.48, 0.52, (40, 140, 75)), "rear": (0.72, 0.66, 0.32, (190, 55, 50))}
_COLOUR_JITTER = 6.0  # RGB standard deviation between syllables of a kind

# --- arena (units of the arena radius, image orientation: y points down) ----------------
_OBJECT_XY = (0.45, -0.35)
_OBJECT_RADIUS = 0.15
_MOUSE_LENGTH = 0.3
_MAX_RADIUS = 0.88  # centroid limit: the body stays inside the wall
_ARENA_FILL = 0.45  # arena radius / frame size
_TRACKING_NOISE_PX = 0.25

# --- movement (arena radii, seconds, radians) --------------------------------------------
_RESTING, _EXPLORING, _GROOMING, _INVESTIGATING, _REARING = range(len(BEHAVIOURS))
_SPEED_TIME_S = 0.15  # time constant of speed changes
_TURN_TIME_S = 0.12  # time constant of turning-rate changes
_TURN_NOISE = 2.0  # radians / s / sqrt(s)
_WALL_ZONE = 0.3  # distance from the wall at which the mouse starts to turn away
_AT_OBJECT = _OBJECT_RADIUS + 0.2  # centroid distance to the object's centre when sniffing it


@dataclass(frozen=True)
class GroupEffect:
    """A planted difference between two groups of example recordings.

    Recordings 1, 3, 5, ... form `groups[0]`, recordings 2, 4, 6, ... `groups[1]`; in the
    second group every bout of `behaviour` lasts `bout_scale` times as long (the
    behaviours' switching is unchanged, so the behaviour also takes a larger share of the
    time and the others a smaller one).

    Attributes:
        behaviour: one of `BEHAVIOURS`.
        bout_scale: factor on that behaviour's bout durations in the second group (> 0).
        groups: the two group labels.
    """

    behaviour: str = "rearing"
    bout_scale: float = 3.0
    groups: tuple[str, str] = ("control", "treated")

    def __post_init__(self):
        if self.behaviour not in BEHAVIOURS:
            raise ValueError(f"behaviour must be one of {BEHAVIOURS}, got {self.behaviour!r}")
        if not (np.isfinite(self.bout_scale) and self.bout_scale > 0):
            raise ValueError(f"bout_scale must be > 0, got {self.bout_scale!r}")
        if len(self.groups) != 2 or self.groups[0] == self.groups[1]:
            raise ValueError(f"groups must be two different labels, got {self.groups!r}")

    def bout_scales(self, index: int) -> np.ndarray:
        """(B,) factors on each behaviour's bout durations for recording `index` (from 0)."""
        scales = np.ones(len(BEHAVIOURS))
        if index % 2 == 1:
            scales[BEHAVIOURS.index(self.behaviour)] = self.bout_scale
        return scales

    def group(self, index: int) -> str:
        """The group of recording `index` (from 0)."""
        return self.groups[index % 2]


@dataclass(frozen=True)
class ExampleDataset:
    """What `make_example` wrote. Paths are aligned with `recordings` (sorted names).

    Attributes:
        directory: the folder written.
        recordings: recording names (`recording1`, `recording2`, ...).
        csv_paths: one CSV per recording (`syllable`, `x`, `y` columns).
        video_paths: one `.mp4` per recording; empty when written with `video=False`.
        ground_truth_path: `ground_truth.npz` (read it with `load_ground_truth`).
        fps: frame rate of the CSVs and videos.
        behaviours: names of the true behaviours, indexed by the ground-truth values.
        groups: recording name -> group label when written with a `group_effect`, else empty.
    """

    directory: Path
    recordings: tuple[str, ...]
    csv_paths: tuple[Path, ...]
    video_paths: tuple[Path, ...]  # empty when written with `video=False`
    ground_truth_path: Path
    fps: float
    behaviours: tuple[str, ...]
    groups: dict = field(default_factory=dict)


@dataclass(frozen=True)
class _Library:
    """The syllable repertoire and the behaviour-specific syllable statistics."""

    kind: np.ndarray  # (S,) index into _KINDS
    mean_duration_s: np.ndarray  # (S,)
    duration_shape: np.ndarray  # (S,) gamma shape
    speed: np.ndarray  # (S,) arena radii per second
    turn_rate: np.ndarray  # (S,) radians per second, signed
    wobble: np.ndarray  # (S, 2) amplitude (rad) and frequency (Hz) of body sway
    first: np.ndarray  # (B, S) first-syllable probabilities
    transitions: np.ndarray  # (B, S, S) next-syllable probabilities, zero diagonal
    looks: video_io.MouseLooks


def make_example(
    directory: str | os.PathLike,
    n_recordings: int = 6,
    duration_s: float | Sequence[float] = 360.0,
    fps: float = 120,
    n_syllables: int = 40,
    seed: int = 0,
    video: bool = True,
    video_size: int = 160,
    progress: bool = True,
    group_effect: GroupEffect | None = None,
) -> ExampleDataset:
    """Write a synthetic example dataset to `directory` (created if needed).

    Args:
        directory: where to write `recordingN.csv`, `recordingN.mp4` and `ground_truth.npz`.
        n_recordings: number of recordings.
        duration_s: length of every recording in seconds, or one length per recording.
        fps: frame rate of the CSVs and videos.
        n_syllables: size of the syllable repertoire (at least 12).
        seed: the dataset is a deterministic function of the seed and the other arguments;
            recording i does not depend on `n_recordings`.
        video: write the videos (the slow part); `False` writes only the CSVs.
        video_size: width = height of the videos in pixels (multiple of 4, at least 64);
            the centroids are in pixels of this frame either way.
        progress: show a progress bar (on stderr) while writing the videos.
        group_effect: plant a difference between two groups of recordings (see
            `GroupEffect`); the groups are returned in `ExampleDataset.groups`. None
            (default): one population, and the dataset is unchanged.

    Returns:
        The paths written and the behaviour names (`ExampleDataset`).

    Examples:
        >>> import tempfile
        >>> data = make_example(tempfile.mkdtemp(), n_recordings=2, duration_s=30, video=False, progress=False)
        >>> [path.name for path in data.csv_paths]
        ['recording1.csv', 'recording2.csv']
        >>> {name: states.shape for name, states in load_ground_truth(data.directory).items()}
        {'recording1': (3600,), 'recording2': (3600,)}
    """
    durations = _check_arguments(n_recordings, duration_s, fps, n_syllables, video_size)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    world_seed, *recording_seeds = np.random.SeedSequence(seed).spawn(n_recordings + 1)
    library = _make_library(np.random.default_rng(world_seed), n_syllables)
    arena = _arena(video_size)
    width = len(str(n_recordings))
    names = tuple(f"recording{i + 1:0{width}d}" for i in range(n_recordings))
    scales = [np.ones(len(BEHAVIOURS)) if group_effect is None else group_effect.bout_scales(i) for i in range(n_recordings)]
    recordings = [
        _simulate_recording(np.random.default_rng(s), round(d * fps), fps, library, arena, scale)
        for s, d, scale in zip(recording_seeds, durations, scales)
    ]
    csv_paths = tuple(directory / f"{name}.csv" for name in names)
    for path, recording in zip(csv_paths, recordings):
        x, y = np.round(recording.xy, 3).T
        table = pd.DataFrame({"syllable": recording.syllables, "x": x, "y": y})
        _write_csv(table, path)
    ground_truth_path = directory / GROUND_TRUTH_FILE
    _write_ground_truth(ground_truth_path, {name: r.behaviours for name, r in zip(names, recordings)})
    video_paths = tuple(directory / f"{name}.mp4" for name in names) if video else ()
    if video:
        _write_videos(video_paths, recordings, library.looks, arena, fps, progress)
    groups = {} if group_effect is None else {name: group_effect.group(i) for i, name in enumerate(names)}
    return ExampleDataset(directory, names, csv_paths, video_paths, ground_truth_path, float(fps), BEHAVIOURS, groups)


def load_ground_truth(directory: str | os.PathLike) -> dict[str, np.ndarray]:
    """The true behaviour of every frame, per recording name (indices into `BEHAVIOURS`).

    Args:
        directory: a folder written by `make_example` (str or path-like).

    Returns:
        dict recording name -> (T_i,) int64 behaviour index per frame, into
        `BEHAVIOURS` (= `ExampleDataset.behaviours`).

    Raises:
        FileNotFoundError: `directory` has no `ground_truth.npz`.
        ValueError: the file's behaviour names are not `BEHAVIOURS`.
    """
    path = Path(directory) / GROUND_TRUTH_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no ground truth here; write an example dataset with make_example")
    with np.load(path, allow_pickle=False) as archive:
        names = tuple(str(name) for name in archive["behaviour_names"])
        if names != BEHAVIOURS:
            raise ValueError(f"{path}: behaviours {names} are not {BEHAVIOURS}")
        return {name: archive[name].astype(np.int64) for name in sorted(archive.files) if name != "behaviour_names"}


# --- checks and files -------------------------------------------------------------------


def _check_arguments(n_recordings, duration_s, fps, n_syllables, video_size) -> list[float]:
    """Validate `make_example`'s arguments; return one duration per recording."""
    if isinstance(n_recordings, bool) or int(n_recordings) != n_recordings or n_recordings < 1:
        raise ValueError(f"n_recordings must be a positive integer, got {n_recordings!r}")
    if not (np.isfinite(fps) and fps > 0):
        raise ValueError(f"fps must be a positive number, got {fps!r}")
    durations = np.atleast_1d(np.asarray(duration_s, dtype=float))
    if durations.shape == (1,):
        durations = np.repeat(durations, n_recordings)
    if durations.shape != (n_recordings,):
        raise ValueError(f"duration_s must be one number or one per recording ({n_recordings}), got {duration_s!r}")
    if not np.all(np.isfinite(durations)) or durations.min() * fps < 2:
        raise ValueError(f"duration_s must give every recording at least two frames, got {duration_s!r}")
    if int(n_syllables) != n_syllables or n_syllables < 2 * len(_KINDS):
        raise ValueError(f"n_syllables must be an integer of at least {2 * len(_KINDS)}, got {n_syllables!r}")
    if int(video_size) != video_size or video_size < 64 or video_size % 4:
        raise ValueError(f"video_size must be a multiple of 4 of at least 64 pixels, got {video_size!r}")
    return durations.tolist()


def _write_csv(table: pd.DataFrame, path: Path) -> None:
    temporary = path.with_name(f".{path.name}.partial")
    try:
        table.to_csv(temporary, index=False)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def _write_ground_truth(path: Path, states: dict[str, np.ndarray]) -> None:
    temporary = path.with_name(f".{path.name}.partial")
    try:
        with open(temporary, "wb") as file:
            np.savez_compressed(file, behaviour_names=np.array(BEHAVIOURS), **states)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


class _Cancelled(Exception):
    pass


def _write_videos(paths, recordings, looks, arena, fps, progress: bool) -> None:
    """Encode the videos, one per core at a time (PyAV and NumPy release the GIL as they work)."""
    sprites = video_io.build_sprites(looks, arena)
    bar = _progress_bar(sum(len(r.syllables) for r in recordings), progress)
    lock, cancelled = threading.Lock(), threading.Event()

    def advance(n_frames: int) -> None:
        if cancelled.is_set():  # another video failed, or the user interrupted
            raise _Cancelled
        with lock:
            bar.update(n_frames)

    def encode(path, recording) -> None:
        video_io.write_video(path, recording.true_xy, recording.body_heading, recording.syllables,
                             sprites, arena, fps, on_frames=advance)

    pool = ThreadPoolExecutor(max_workers=max(1, min(len(paths), os.cpu_count() or 1)))
    try:
        for future in [pool.submit(encode, p, r) for p, r in zip(paths, recordings)]:
            future.result()
    except BaseException:
        cancelled.set()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        bar.close()


class _NoBar:
    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


def _progress_bar(total: int, enabled: bool):
    if not enabled:
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=total, unit="frame", unit_scale=True, desc="Writing example videos")


# --- the syllable library ---------------------------------------------------------------


def _make_library(rng: np.random.Generator, n_syllables: int) -> _Library:
    """Draw the syllable repertoire and each behaviour's syllable statistics."""
    kind = _assign_kinds(n_syllables)
    n_behaviours, n_kinds = _KIND_USAGE.shape
    usage = np.zeros((n_behaviours, n_syllables))
    for k in range(n_kinds):  # how each behaviour splits a kind's share among its syllables
        members = np.flatnonzero(kind == k)
        weights = rng.dirichlet(np.full(len(members), _WITHIN_KIND_CONCENTRATION), n_behaviours)
        usage[:, members] = _KIND_USAGE[:, k, None] * weights
    usage = 0.97 * usage + 0.03 / n_syllables  # every syllable occurs in every behaviour
    grammar = rng.normal(0.0, 0.7, (n_syllables, n_syllables)) + _KIND_AFFINITY[kind[:, None], kind[None, :]]
    specific = rng.normal(0.0, 0.6, (n_behaviours, n_syllables, n_syllables))
    transitions = usage[:, None, :] * np.exp(grammar + specific)
    transitions[:, np.arange(n_syllables), np.arange(n_syllables)] = 0.0
    transitions /= transitions.sum(axis=-1, keepdims=True)
    kinds = [_KINDS[k] for k in kind]
    low, high = np.array([_MEAN_DURATION_S[k] for k in kinds]).T
    speed_low, speed_high = np.array([_SPEED[k] for k in kinds]).T
    turn_rate = _draw_turn_rates(rng, kinds)
    library = _Library(
        kind=kind,
        mean_duration_s=np.exp(rng.uniform(np.log(low), np.log(high))),
        duration_shape=rng.uniform(3.0, 8.0, n_syllables),
        speed=rng.uniform(speed_low, speed_high),
        turn_rate=turn_rate,
        wobble=_draw_wobble(rng, kinds),
        first=usage / usage.sum(axis=1, keepdims=True),
        transitions=transitions,
        looks=_draw_looks(rng, kinds, turn_rate),
    )
    return _sorted_by_frequency(library)


def _assign_kinds(n_syllables: int) -> np.ndarray:
    """The kind of each syllable, in proportion to `_KIND_SHARE` (at least two of each)."""
    counts = np.maximum(2, np.floor(_KIND_SHARE * n_syllables)).astype(int)
    while counts.sum() < n_syllables:
        counts[np.argmax(_KIND_SHARE * n_syllables - counts)] += 1
    while counts.sum() > n_syllables:
        counts[np.argmax(counts)] -= 1
    return np.repeat(np.arange(len(_KINDS)), counts)


def _draw_turn_rates(rng, kinds) -> np.ndarray:
    rates = []
    for kind in kinds:
        if kind == "turn":
            rates.append(rng.choice([-1.0, 1.0]) * rng.uniform(1.5, 3.5))
        else:
            rates.append(rng.normal(0.0, {"walk": 0.3, "sniff": 0.6}.get(kind, 0.0)))
    return np.array(rates)


def _draw_wobble(rng, kinds) -> np.ndarray:
    wobble = np.zeros((len(kinds), 2))
    for i, kind in enumerate(kinds):
        if kind == "groom":
            wobble[i] = rng.uniform(0.12, 0.3), rng.uniform(4.0, 7.0)
        elif kind == "sniff":
            wobble[i] = rng.uniform(0.03, 0.08), rng.uniform(8.0, 10.0)
    return wobble


def _draw_looks(rng, kinds, turn_rate) -> video_io.MouseLooks:
    """Each syllable's appearance: its kind's, jittered; turning syllables turn the head."""
    n = len(kinds)
    sizes = np.array([_LOOKS[k][:3] for k in kinds]) * (1 + rng.normal(0.0, 0.06, (n, 3)))
    colour = np.clip(np.array([_LOOKS[k][3] for k in kinds]) + rng.normal(0.0, _COLOUR_JITTER, (n, 3)), 0, 255)
    turning = np.array([k == "turn" for k in kinds])
    head_angle = np.where(turning, np.sign(turn_rate) * rng.uniform(0.35, 0.6, n), rng.normal(0.0, 0.08, n))
    return video_io.MouseLooks(
        body_length=sizes[:, 0].astype(np.float32), body_width=sizes[:, 1].astype(np.float32),
        head_length=sizes[:, 2].astype(np.float32), head_angle=head_angle.astype(np.float32),
        colour=colour.astype(np.float32),
    )


def _expected_frequency(library: _Library) -> np.ndarray:
    """Long-run fraction of frames per syllable (what keypoint-MoSeq sorts syllables by)."""
    switch_stationary = _stationary(_SWITCH)
    occupancy = switch_stationary * np.array([mean for _, mean, _ in _BOUTS])
    occupancy /= occupancy.sum()
    frequency = np.zeros(len(library.kind))
    for b, weight in enumerate(occupancy):
        frames = _stationary(library.transitions[b]) * library.mean_duration_s * _TEMPO[b]
        frequency += weight * frames / frames.sum()
    return frequency


def _stationary(transitions: np.ndarray) -> np.ndarray:
    values, vectors = np.linalg.eig(transitions.T)
    vector = np.real(vectors[:, np.argmin(np.abs(values - 1))])
    return vector / vector.sum()


def _sorted_by_frequency(library: _Library) -> _Library:
    order = np.argsort(-_expected_frequency(library), kind="stable")
    looks = library.looks
    return _Library(
        kind=library.kind[order],
        mean_duration_s=library.mean_duration_s[order],
        duration_shape=library.duration_shape[order],
        speed=library.speed[order],
        turn_rate=library.turn_rate[order],
        wobble=library.wobble[order],
        first=library.first[:, order],
        transitions=library.transitions[:, order][:, :, order],
        looks=video_io.MouseLooks(**{name: getattr(looks, name)[order] for name in looks.__dataclass_fields__}),
    )


# --- one recording ----------------------------------------------------------------------


def _arena(video_size: int) -> video_io.Arena:
    radius = _ARENA_FILL * video_size
    centre = (video_size - 1) / 2
    return video_io.Arena(
        size=video_size,
        radius=radius,
        object_xy=(centre + radius * _OBJECT_XY[0], centre + radius * _OBJECT_XY[1]),
        object_radius=radius * _OBJECT_RADIUS,
        mouse_length=radius * _MOUSE_LENGTH,
    )


class _Recording(NamedTuple):
    """One simulated recording, per frame."""

    behaviours: np.ndarray  # (T,) index into BEHAVIOURS
    syllables: np.ndarray  # (T,)
    true_xy: np.ndarray  # (T, 2) centroid in pixels, as drawn
    xy: np.ndarray  # (T, 2) centroid in pixels, with tracking noise, as written to the CSV
    body_heading: np.ndarray  # (T,) radians, image coordinates, including grooming sway


def _simulate_recording(rng, n_frames: int, fps: float, library: _Library, arena: video_io.Arena, bout_scales) -> _Recording:
    """Behaviours, syllables, centroid (pixels, with tracking noise) and body heading per frame."""
    behaviours = _sample_behaviours(rng, n_frames, fps, bout_scales)
    syllables = _sample_syllables(rng, behaviours, library, fps)
    xy, heading = _simulate_centroid(rng, behaviours, syllables, library, fps)
    times = np.arange(n_frames) / fps
    amplitude, frequency = library.wobble[syllables].T
    body_heading = heading + amplitude * np.sin(2 * np.pi * frequency * times)
    true_xy = arena.centre + arena.radius * xy
    noisy_xy = true_xy + rng.normal(0.0, _TRACKING_NOISE_PX, true_xy.shape)
    return _Recording(behaviours, syllables, true_xy, noisy_xy, body_heading)


def _bout_duration_s(rng, behaviour: int) -> float:
    family, mean, cv = _BOUTS[behaviour]
    if family == "gamma":
        duration = rng.gamma(1 / cv**2, mean * cv**2)
    else:
        sigma2 = math.log1p(cv**2)
        duration = rng.lognormal(math.log(mean) - sigma2 / 2, math.sqrt(sigma2))
    return max(_MIN_BOUT_S, duration)


def _sample_behaviours(rng, n_frames: int, fps: float, bout_scales: np.ndarray | None = None) -> np.ndarray:
    """Behaviour per frame from the semi-Markov bout process (the recording starts a bout);
    `bout_scales` (B,) multiplies each behaviour's bout durations (default: all 1)."""
    bout_scales = np.ones(len(BEHAVIOURS)) if bout_scales is None else bout_scales
    behaviours = np.empty(n_frames, np.int64)
    behaviour = rng.choice(len(BEHAVIOURS), p=_FIRST_BEHAVIOUR)
    start = 0
    while start < n_frames:
        stop = start + max(1, round(_bout_duration_s(rng, behaviour) * bout_scales[behaviour] * fps))
        behaviours[start:stop] = behaviour
        behaviour = rng.choice(len(BEHAVIOURS), p=_SWITCH[behaviour])
        start = stop
    return behaviours


def _sample_syllables(rng, behaviours: np.ndarray, library: _Library, fps: float) -> np.ndarray:
    """Syllable per frame: a semi-Markov chain whose statistics follow the behaviour."""
    syllables = np.empty(len(behaviours), np.int64)
    change = np.flatnonzero(np.diff(behaviours)) + 1
    starts, stops = np.r_[0, change], np.r_[change, len(behaviours)]
    cumulative_first = np.cumsum(library.first, axis=-1)
    cumulative = np.cumsum(library.transitions, axis=-1)
    scale = library.mean_duration_s / library.duration_shape
    previous = None
    for start, stop in zip(starts, stops):
        b = behaviours[start]
        t = start
        while t < stop:
            row = cumulative_first[b] if previous is None else cumulative[b, previous]
            syllable = min(int(np.searchsorted(row, rng.random() * row[-1])), len(row) - 1)
            length = rng.gamma(library.duration_shape[syllable], scale[syllable] * _TEMPO[b])
            length = max(2, round(length * fps))
            syllables[t:min(t + length, stop)] = syllable
            t += length
            previous = syllable
    return syllables


def _wrap(angle: float) -> float:
    return (angle + math.pi) % (2 * math.pi) - math.pi


def _simulate_centroid(rng, behaviours, syllables, library: _Library, fps: float):
    """Centroid (T, 2) in arena radii and heading (T,): smooth speed and turning, steered
    by the behaviour (wall avoidance, approaching the object, going to the wall to rear)."""
    n, dt = len(behaviours), 1.0 / fps
    target_speeds = (library.speed[syllables] * _SPEED_SCALE[behaviours]).tolist()
    target_turns = (library.turn_rate[syllables] * _TURN_SCALE[behaviours]).tolist()
    turn_kicks = (rng.normal(0.0, _TURN_NOISE * math.sqrt(dt), n) * _TURN_SCALE[behaviours]).tolist()
    object_x, object_y = _OBJECT_XY
    keep_out = _OBJECT_RADIUS + 0.12
    x, y = _initial_position(rng)
    heading, speed, turn = rng.uniform(-math.pi, math.pi), 0.0, 0.0
    trajectory = np.empty((n, 3))
    for t, behaviour in enumerate(behaviours.tolist()):
        target_speed, target_turn = target_speeds[t], target_turns[t]
        outward = math.atan2(y, x)
        to_wall = 1.0 - math.hypot(x, y)
        if behaviour == _REARING:
            if to_wall > 0.16:
                target_turn += 2.5 * _wrap(outward - heading)
            else:
                target_speed *= 0.1
        elif to_wall < _WALL_ZONE:
            relative = _wrap(heading - outward)
            if abs(relative) < 2.0:
                target_turn += math.copysign(6.0 * (1.0 - to_wall / _WALL_ZONE), relative)
        if behaviour == _INVESTIGATING:
            distance = math.hypot(object_x - x, object_y - y)
            target_turn += 3.0 * _wrap(math.atan2(object_y - y, object_x - x) - heading)
            target_speed *= min(1.0, max(0.15, (distance - _AT_OBJECT) / 0.2))
        speed = max(0.0, speed + (target_speed - speed) * dt / _SPEED_TIME_S)
        turn += (target_turn - turn) * dt / _TURN_TIME_S + turn_kicks[t]
        heading += turn * dt
        x += speed * math.cos(heading) * dt
        y += speed * math.sin(heading) * dt
        x, y = _constrain(x, y, object_x, object_y, keep_out)
        trajectory[t] = x, y, heading
    return trajectory[:, :2], trajectory[:, 2]


def _initial_position(rng) -> tuple[float, float]:
    while True:
        x, y = rng.uniform(-0.7, 0.7, 2)
        if math.hypot(x, y) < 0.7 and math.hypot(x - _OBJECT_XY[0], y - _OBJECT_XY[1]) > 0.4:
            return float(x), float(y)


def _constrain(x: float, y: float, object_x: float, object_y: float, keep_out: float) -> tuple[float, float]:
    """Keep the centroid inside the arena and outside the object."""
    radius = math.hypot(x, y)
    if radius > _MAX_RADIUS:
        x, y = x * _MAX_RADIUS / radius, y * _MAX_RADIUS / radius
    dx, dy = x - object_x, y - object_y
    distance = math.hypot(dx, dy)
    if distance < keep_out:
        x, y = object_x + dx * keep_out / distance, object_y + dy * keep_out / distance
    return x, y
