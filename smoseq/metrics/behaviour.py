"""Behaviour in each state: time, bouts, speed and place, per recording × state.

States are a dict recording → (T,) int states; centroids a dict recording → (T, 2) float
positions (any length unit: pixels, cm); headings, where given, a dict recording → (T,)
float radians. A *bout* is a maximal run of one state within one recording (the first and
last bouts are cut off by the recording's edges and counted as they are).

Per-frame quantities:

- speed at frame t ≥ 1 is `|centroid[t] − centroid[t−1]| · fps` (units per second); frame
  0 of each recording has no speed. At high frame rates tracking noise dominates these
  frame-to-frame steps (0.25 px of noise at 120 fps adds ~50 px/s); `smooth_s` first
  averages the centroid over a centred window of that many seconds;
- distance to the arena centre at frame t is `|centroid[t] − centre|`, the centre being
  the middle of the recording's centroid bounding box (the arena a mouse explores) unless
  `arena_centre` is given;
- angular speed at frame t ≥ 1 is `|wrap(heading[t] − heading[t−1])| · fps` (radians per
  second).

Frames whose centroid (or heading) is not finite count towards time and bouts but not
towards the per-frame averages.
"""

from collections.abc import Mapping

import numpy as np
import pandas as pd

from .._errors import InputError
from ._inputs import as_integer_array
from .instances import find_runs

CLR_PSEUDO_FRAMES = 0.5
"""Frames added to every state's count before the centred log-ratio, so unused states stay finite."""

TIME_COLUMNS = ["frames", "fraction", "fraction_clr", "bouts", "bouts_per_minute", "median_bout_s", "mean_bout_s"]
PLACE_COLUMNS = ["mean_speed", "median_speed", "mean_distance_to_centre"]


def check_fps(fps) -> float:
    """`fps` as a float, refused unless finite and > 0."""
    try:
        value = float(fps)
    except (TypeError, ValueError):
        raise InputError(f"fps must be a number > 0, got {fps!r}") from None
    if not (np.isfinite(value) and value > 0):
        raise InputError(f"fps must be a number > 0, got {fps!r}")
    return value


def _states_dict(states) -> dict:
    if not isinstance(states, Mapping):
        raise InputError("states must be a dict recording name -> (T,) int states")
    arrays = {}
    for name, array in states.items():
        array = as_integer_array(array, f"states[{name!r}]")
        if array.ndim != 1:
            raise InputError(f"states[{name!r}] must be 1-D, got shape {array.shape}")
        if array.size and array.min() < 0:
            raise InputError(f"states[{name!r}] holds the negative state {array.min()}")
        arrays[name] = array.astype(np.int64, copy=False)
    if not arrays:
        raise InputError("states holds no recordings")
    return arrays


def _tracks(tracks, states: dict, what: str, shape: tuple) -> dict:
    """The per-recording arrays of `tracks`, one per recording of `states`, shapes checked."""
    if tracks is None:
        return {}
    if not isinstance(tracks, Mapping):
        raise InputError(f"{what} must be a dict recording name -> array")
    checked = {}
    for name, states_array in states.items():
        if name not in tracks:
            raise InputError(f"recording {name!r} has no {what} (it has states)")
        array = np.asarray(tracks[name], dtype=float)
        expected = (len(states_array), *shape)
        if array.shape != expected:
            raise InputError(f"recording {name!r}: {what} has shape {array.shape}, expected {expected} (one per frame)")
        checked[name] = array
    return checked


def smoothed(centroid, fps: float, smooth_s: float) -> np.ndarray:
    """The centroid averaged over a centred window of `smooth_s` seconds (NaN frames skipped).

    Args:
        centroid: (T, 2) positions.
        fps: frames per second (> 0).
        smooth_s: window in seconds; windows of one frame or less leave the track as it is.

    Returns:
        (T, 2) float positions.
    """
    centroid = np.asarray(centroid, dtype=float)
    if not (np.isfinite(smooth_s) and smooth_s >= 0):
        raise InputError(f"smooth_s must be >= 0 seconds, got {smooth_s!r}")
    window = int(round(smooth_s * check_fps(fps)))
    if window <= 1:
        return centroid
    return pd.DataFrame(centroid).rolling(window, center=True, min_periods=1).mean().to_numpy()


def frame_speeds(centroid, fps: float, smooth_s: float = 0.0) -> np.ndarray:
    """Speed per frame from a centroid track.

    Args:
        centroid: (T, 2) positions.
        fps: frames per second (> 0).
        smooth_s: average the centroid over a centred window of this many seconds first
            (default 0: the raw track).

    Returns:
        (T,) float speeds in position units per second; `speeds[0]` is NaN.

    Examples:
        >>> frame_speeds(np.array([[0.0, 0.0], [3.0, 4.0], [3.0, 4.0]]), fps=10)
        array([nan, 50.,  0.])
    """
    fps = check_fps(fps)
    centroid = smoothed(centroid, fps, smooth_s)
    steps = np.linalg.norm(np.diff(centroid, axis=0), axis=1) * fps
    return np.concatenate([[np.nan], steps])


def frame_angular_speeds(heading, fps: float) -> np.ndarray:
    """Absolute turning rate per frame, (T,) radians per second; `[0]` is NaN.

    Args:
        heading: (T,) radians.
        fps: frames per second (> 0).

    Returns:
        (T,) float.
    """
    heading = np.asarray(heading, dtype=float)
    turns = np.angle(np.exp(1j * np.diff(heading)))
    return np.concatenate([[np.nan], np.abs(turns) * check_fps(fps)])


def arena_centre(centroid) -> np.ndarray:
    """The middle of a centroid track's bounding box, (2,) — the centre of the arena explored."""
    centroid = np.asarray(centroid, dtype=float)
    return (np.nanmin(centroid, axis=0) + np.nanmax(centroid, axis=0)) / 2


def _nan_statistic(values: np.ndarray, statistic) -> float:
    values = values[np.isfinite(values)]
    return float(statistic(values)) if values.size else np.nan


def _time_rows(name, states: np.ndarray, num_states: int, fps: float) -> list[dict]:
    starts, ends, labels = find_runs(states)
    lengths = (ends - starts) / fps
    counts = np.bincount(states, minlength=num_states)
    with_pseudo = np.log(counts + CLR_PSEUDO_FRAMES)
    clr = with_pseudo - with_pseudo.mean()
    minutes = len(states) / fps / 60
    rows = []
    for state in range(num_states):
        bouts = lengths[labels == state]
        rows.append({
            "recording": name, "state": state, "frames": int(counts[state]),
            "fraction": counts[state] / len(states) if len(states) else 0.0,
            "fraction_clr": float(clr[state]), "bouts": len(bouts),
            "bouts_per_minute": len(bouts) / minutes if minutes else np.nan,
            "median_bout_s": float(np.median(bouts)) if len(bouts) else np.nan,
            "mean_bout_s": float(np.mean(bouts)) if len(bouts) else np.nan,
        })  # fmt: skip
    return rows


def _place_columns(states: np.ndarray, num_states: int, centroid, heading, fps, centre, smooth_s) -> dict:
    columns: dict = {}
    if centroid is not None:
        speeds = frame_speeds(centroid, fps, smooth_s)
        distances = np.linalg.norm(centroid - (arena_centre(centroid) if centre is None else centre), axis=1)
        columns["mean_speed"] = [_nan_statistic(speeds[states == k], np.mean) for k in range(num_states)]
        columns["median_speed"] = [_nan_statistic(speeds[states == k], np.median) for k in range(num_states)]
        columns["mean_distance_to_centre"] = [_nan_statistic(distances[states == k], np.mean) for k in range(num_states)]
    if heading is not None:
        turning = frame_angular_speeds(heading, fps)
        columns["mean_angular_speed"] = [_nan_statistic(turning[states == k], np.mean) for k in range(num_states)]
    return columns


def behaviour_table(
    states,
    fps: float,
    centroids=None,
    headings=None,
    *,
    num_states: int | None = None,
    arena_centre=None,
    smooth_s: float = 0.0,
) -> pd.DataFrame:
    """Time, bouts, speed and place of every state in every recording: a tidy table.

    One row per recording × state (every state `0..num_states-1` for every recording, so
    the table joins with a per-recording sheet on `recording`). Columns:

    - `recording`, `state`;
    - `frames` (frames in the state), `fraction` (of the recording's frames),
      `fraction_clr` (the centred log-ratio `log(frames_k + 0.5) − mean_j log(frames_j + 0.5)`:
      the state's use relative to the recording's other states, see the note on
      compositional data in `compare_groups`);
    - `bouts` (runs of the state), `bouts_per_minute` (bouts / recording length),
      `median_bout_s`, `mean_bout_s` (bout durations in seconds; NaN without bouts);
    - with `centroids`: `mean_speed`, `median_speed` (position units per second, over the
      state's frames t ≥ 1), `mean_distance_to_centre` (position units);
    - with `headings`: `mean_angular_speed` (radians per second).

    Per-frame averages are NaN for states a recording never uses. See the module
    docstring for the exact per-frame definitions.

    Args:
        states: dict recording -> (T,) int states.
        fps: frames per second (> 0).
        centroids: optional dict recording -> (T, 2) float positions, one per frame of
            every recording in `states`.
        headings: optional dict recording -> (T,) float radians.
        num_states: K (default: largest state + 1).
        arena_centre: optional (2,) centre of the arena in position units (default: the
            middle of each recording's centroid bounding box).
        smooth_s: for speeds, average the centroid over a centred window of this many
            seconds first (default 0: raw frame-to-frame steps; see the module docstring).

    Returns:
        A `pandas.DataFrame` with (recordings × K) rows.

    Raises:
        InputError: fps ≤ 0, a recording without a centroid (or heading) track when
            others have one, a track whose length differs from the states', states
            above `num_states`.

    Examples:
        >>> table = behaviour_table({"a": np.array([0, 0, 1, 1, 1, 0])}, fps=2.0)
        >>> table[["state", "frames", "bouts", "median_bout_s"]].to_dict("list")
        {'state': [0, 1], 'frames': [3, 3], 'bouts': [2, 1], 'median_bout_s': [0.75, 1.5]}
    """
    fps = check_fps(fps)
    states = _states_dict(states)
    largest = max((int(a.max()) for a in states.values() if a.size), default=-1)
    if num_states is None:
        num_states = max(largest + 1, 1)
    elif largest >= num_states:
        raise InputError(f"states hold the state {largest} but num_states is {num_states}")
    centroids = _tracks(centroids, states, "centroid track", (2,))
    headings = _tracks(headings, states, "heading track", ())
    centre = None if arena_centre is None else np.asarray(arena_centre, dtype=float).reshape(2)
    tables = []
    for name, array in states.items():
        table = pd.DataFrame(_time_rows(name, array, num_states, fps))
        place = _place_columns(array, num_states, centroids.get(name), headings.get(name), fps, centre, smooth_s)
        tables.append(table.assign(**place))
    return pd.concat(tables, ignore_index=True)


def bout_table(states, fps: float) -> pd.DataFrame:
    """Every bout: `recording`, `state`, `start` (frame), `frames`, `duration_s`.

    Args:
        states: dict recording -> (T,) int states.
        fps: frames per second (> 0).

    Returns:
        A `pandas.DataFrame` with one row per bout, in recording and time order.
    """
    fps = check_fps(fps)
    parts = []
    for name, array in _states_dict(states).items():
        starts, ends, labels = find_runs(array)
        parts.append(pd.DataFrame({
            "recording": name, "state": labels.astype(np.int64), "start": starts,
            "frames": ends - starts, "duration_s": (ends - starts) / fps,
        }))  # fmt: skip
    return pd.concat(parts, ignore_index=True)


def frames_by_state(states, per_frame: Mapping, num_states: int | None = None) -> list[np.ndarray]:
    """A per-frame quantity (speed, ...) split by state, finite values only.

    Args:
        states: dict recording -> (T,) int states.
        per_frame: dict recording -> (T,) float values (e.g. `frame_speeds`).
        num_states: K (default: largest state + 1).

    Returns:
        list of K 1-D float arrays, the values of the frames in each state, pooled over
        recordings.
    """
    states = _states_dict(states)
    values = _tracks(per_frame, states, "per-frame values", ())
    num_states = num_states or max(int(a.max(initial=-1)) for a in states.values()) + 1
    pooled_states = np.concatenate(list(states.values()))
    pooled_values = np.concatenate([values[name] for name in states])
    finite = np.isfinite(pooled_values)
    return [pooled_values[finite & (pooled_states == k)] for k in range(num_states)]
