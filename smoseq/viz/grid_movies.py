"""Grid movies: for each state, a grid of video clips of the animal entering that state.

Each tile follows one instance `(recording, start, end)` from `start` on: it shows the video
cropped around the animal's centroid, is dimmed from `end` on, and is black past the end of
the video. All tiles of a movie last as long as the longest instance, capped at
`max_duration` frames.

How a movie is made, in bounded memory:

1. **Extract.** Each video that the movie draws on is opened once, and the frames that
   its tiles need are read in increasing order with frame-accurate seeking (`_video.py`).
   Each decoded frame is cut into its tiles - in YUV 4:2:0, the decoder's own format, so
   no frame is converted to RGB - and the tiles go to a scratch file laid out by output time.
2. **Compose.** Rows of tiles are read back one output frame at a time, arranged into the
   grid and handed straight to the encoder.

Memory holds one decoded frame, one grid frame and the encoder's own buffers (which scale
with the grid's pixel count, `rows x cols x window_size²`), however long the movie and
whichever videos the tiles come from. The scratch file (`max_duration x rows x cols x
1.5 x window_size²` bytes: 1.4 GB for the defaults) is deleted as soon as the movie is written.
"""

import os
import re
import tempfile
import warnings
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import NamedTuple

import av
import numpy as np
from tqdm.auto import tqdm

from ..metrics.instances import Instance, sample_instances
from ._tiles import LabelMasks, TileStyle, YuvTile, render_label, yuv420_planes
from ._video import VideoIndex, VideoReader, index_video

_DATA_SUFFIXES = {".csv", ".h5", ".hdf5", ".npy", ".npz", ".parquet", ".mat", ".pkl", ".p"}
_X264_CODECS = {"libx264", "h264"}
_X265_CODECS = {"libx265", "hevc"}


@dataclass(frozen=True)
class _Tracks:
    """What one recording contributes: its video index and its per-frame position tracks."""

    index: VideoIndex
    centroids: np.ndarray  # (T, 2) x, y in pixels
    headings: np.ndarray | None  # (T,) radians, or None for no rotation

    @property
    def usable_frames(self) -> int:
        """Frames with both a video frame and a centroid; later frames are black."""
        return min(self.index.n_frames, len(self.centroids))


@dataclass(frozen=True)
class _Encoding:
    fps: Fraction
    codec: str
    options: dict[str, str]


def generate_grid_movies(
    states_dict: Mapping[Hashable, np.ndarray],
    video_paths: Mapping[Hashable, str | os.PathLike],
    centroids: Mapping[Hashable, np.ndarray],
    output_dir: str | os.PathLike = "grid_movies",
    rows: int = 3,
    cols: int = 4,
    max_duration: int = 1200,
    dimming_factor: float = 0.25,
    quality: int = 7,
    window_size: int = 256,
    headings: Mapping[Hashable, np.ndarray] | None = None,
    labels: bool = False,
    min_duration: int = 1,
    seed=0,
    fps: float | None = None,
    codec: str = "libx264",
    crf: int | None = None,
    preset: str = "veryfast",
    encoder_options: Mapping[str, str] | None = None,
    scratch_dir: str | os.PathLike | None = None,
    progress: bool = True,
    max_gap: int = 30,
    names: Mapping | None = None,
) -> dict[int, list[Instance]]:
    """Write one grid movie per state, `output_dir/state{k}.mp4`, and return the instances shown.

    The signature and file names are the published package's (`quality` before
    `window_size`); the arguments after `window_size` are smoseq's.

    Instances are drawn with `sample_instances(states_dict, rows * cols, seed, min_duration)`;
    tile `i` (row-major) shows the `i`-th instance of the state's list. Each tile starts at the
    frame the animal enters the state and is cropped around the centroid of every frame
    (zero-padded at the edge of the video); from the frame it leaves the state it is dimmed
    by `dimming_factor`; past the end of the video (or of the centroid track) it is black.
    Tiles have a thin grey border. A movie lasts as long as its longest instance, at most
    `max_duration` frames, at the frame rate of the source video.

    Args:
        states_dict: recording -> states, shape (T,) ints.
        video_paths: recording -> video file whose frame `t` matches `states[t]`.
        centroids: recording -> (T', 2) animal position (x, y) in pixels, T' >= T.
        output_dir: folder for the movies (created if needed).
        rows, cols: grid shape; states with fewer instances leave black tiles.
        max_duration: longest movie, in frames.
        dimming_factor: brightness of a tile after its instance ends (0 black .. 1 unchanged).
        quality: the published encoding quality, 0 (smallest) .. 10 (best); with x264/x265 it
            sets `crf = round(51 - 31 * quality / 7)` (7 -> crf 20), unless `crf` is given.
        window_size: tile side in pixels (even).
        headings: optional recording -> (T',) heading angle in radians (keypoint-MoSeq's
            convention, `arctan2(dy, dx)` of the body axis, y down); each frame is then
            rotated so that the heading points right.
        labels: print "recording @ start time" in each tile's corner.
        min_duration: ignore instances shorter than this many frames.
        seed: int or JAX key for `sample_instances`.
        fps: output frame rate; default the frame rate of the first video used.
        codec: PyAV/FFmpeg encoder name (H.264 by default).
        crf, preset: quality (lower crf = better, larger; default from `quality`) and speed, for x264/x265.
        encoder_options: further encoder options, passed verbatim (override crf/preset). The
            encoder's buffers grow with the grid's pixel count; for very large grids
            `{"tune": "zerolatency"}` halves them, at the cost of ~60% larger files.
        scratch_dir: folder for the temporary tile file; default `output_dir`.
        progress: show a progress bar over states.
        max_gap: centroid or heading gaps (NaN, e.g. tracking lost) of at most this many
            frames are filled by linear interpolation (headings along the circle), with a
            warning saying how many frames were filled. A tile whose frames cross a longer
            gap (or a gap at the start or end of a track) is skipped, with a warning naming
            the recording; its place in the grid stays black.
        names: optional state -> name (e.g. a fit's `state_names`); a named state's movie is
            `state{k}_{name}.mp4` (`movie_file_name`), the others keep `state{k}.mp4`.

    Returns:
        state -> list of `(recording, start, end)`: the instances shown, in tile order.

    Raises:
        FileNotFoundError: a video file does not exist.
        ValueError: a video is unreadable; a recording lacks a video path or centroids; a
            centroid or heading track is shorter than the states.

    Warns:
        UserWarning: a recording's states run past the end of its video (those frames are
            black); gaps were filled; tiles were skipped over longer gaps.
    """
    _check_layout(rows, cols, max_duration, window_size)
    style = TileStyle(window_size=window_size, dimming_factor=dimming_factor)
    instances = sample_instances(states_dict, rows * cols, seed=seed, min_duration=min_duration)
    tracks = _load_tracks(states_dict, video_paths, centroids, headings, instances, max_gap)
    durations = {s: min(max_duration, max(e - b for _, b, e in insts)) for s, insts in instances.items()}
    instances = _without_unshowable(instances, tracks, durations)
    crf = round(51 - 31 * min(max(quality, 0), 10) / 7) if crf is None else crf
    encoding = _encoding(tracks, instances, fps, codec, max(crf, 0), preset, encoder_options)

    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    scratch_dir = Path(scratch_dir) if scratch_dir is not None else output_dir
    for state in tqdm(instances, desc="Grid movies", unit="state", disable=not progress):
        tiles = instances[state]
        label_masks = [
            render_label(_label_text(recording, start, tracks[recording].index.fps), window_size) if labels else None
            for recording, start, _ in tiles
        ]
        _write_movie(
            output_dir / movie_file_name(state, names), tiles, label_masks, tracks, style,
            (rows, cols), durations[state], encoding, scratch_dir,
        )  # fmt: skip
    return instances


def movie_file_name(state: int, names: Mapping | None = None) -> str:
    """`state{k}.mp4`, or `state{k}_{name}.mp4` when `names` names state k.

    The name is made safe for any file system: characters other than letters, digits,
    `-` and `.` become `_` (e.g. {3: "head bob"} -> `state3_head_bob.mp4`).
    """
    name = {int(k): str(v) for k, v in (names or {}).items()}.get(int(state), "")
    safe = re.sub(r"[^A-Za-z0-9.-]+", "_", name).strip("_.")
    return f"state{state}_{safe}.mp4" if safe else f"state{state}.mp4"


# -- inputs ----------------------------------------------------------------------------------


def _check_layout(rows: int, cols: int, max_duration: int, window_size: int) -> None:
    if rows < 1 or cols < 1:
        raise ValueError(f"rows and cols must be >= 1, got {rows} x {cols}")
    if max_duration < 1:
        raise ValueError(f"max_duration must be >= 1 frame, got {max_duration}")
    if window_size < 8 or window_size % 2:
        raise ValueError(f"window_size must be an even number of pixels >= 8, got {window_size}")


def _load_tracks(states_dict, video_paths, centroids, headings, instances, max_gap: int) -> dict[Hashable, _Tracks]:
    """Check every recording's inputs and index the videos that the movies use."""
    for recording, states in states_dict.items():
        n_states = len(states)
        if recording not in video_paths:
            raise ValueError(f"no video path for recording {recording!r}")
        _check_track(recording, "centroid", centroids, n_states, trailing_shape=(2,))
        if headings is not None:
            _check_track(recording, "heading", headings, n_states, trailing_shape=())

    used = {recording: None for tiles in instances.values() for recording, _, _ in tiles}
    indexes: dict[str, VideoIndex] = {}
    tracks = {}
    for recording in used:
        path = str(video_paths[recording])
        if path not in indexes:
            indexes[path] = index_video(path)
        index = indexes[path]
        n_states = len(states_dict[recording])
        if n_states > index.n_frames:
            warnings.warn(
                f"recording {recording!r}: the states have {n_states} frames but the video {path} "
                f"has {index.n_frames}; {n_states - index.n_frames} frames past the end of the "
                "video are shown black",
                stacklevel=3,
            )
        centroid, filled = fill_short_gaps(np.asarray(centroids[recording], dtype=np.float64), max_gap)
        heading = None
        if headings is not None:
            heading, filled_headings = fill_short_gaps(np.asarray(headings[recording], dtype=np.float64), max_gap, angles=True)
            filled += filled_headings
        if filled:
            warnings.warn(
                f"recording {recording!r}: filled {filled} frames of missing (NaN) centroid or heading by "
                f"linear interpolation over gaps of at most {max_gap} frames",
                stacklevel=3,
            )
        tracks[recording] = _Tracks(index, centroid, heading)
    return tracks


def _gap_runs(missing: np.ndarray) -> list[tuple[int, int]]:
    """[start, stop) of every run of True in a 1-D boolean array."""
    edges = np.diff(np.concatenate([[0], missing.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)))


def fill_short_gaps(track: np.ndarray, max_gap: int, angles: bool = False) -> tuple[np.ndarray, int]:
    """A position (T, 2) or angle (T,) track with interior NaN gaps of at most `max_gap` frames interpolated.

    Gaps at the start or end of the track, and longer ones, stay NaN. Angles (radians) are
    interpolated along the circle (through their sine and cosine).

    Args:
        track: (T,) or (T, D) float.
        max_gap: the longest gap, in frames, that is filled.
        angles: `track` holds angles in radians.

    Returns:
        `(filled track, number of frames filled)`.
    """
    values = np.stack([np.cos(track), np.sin(track)], axis=-1) if angles else track.reshape(len(track), -1)
    missing = ~np.isfinite(values).all(axis=1)
    filled, count = values.copy(), 0
    for start, stop in _gap_runs(missing):
        if start == 0 or stop == len(values) or stop - start > max_gap:
            continue
        weights = (np.arange(start, stop) - (start - 1)) / (stop - start + 1)
        filled[start:stop] = (1 - weights)[:, None] * values[start - 1] + weights[:, None] * values[stop]
        count += stop - start
    if angles:
        return np.arctan2(filled[:, 1], filled[:, 0]), count
    return filled.reshape(track.shape), count


def _check_track(recording, name: str, tracks: Mapping, n_states: int, trailing_shape: tuple) -> None:
    if recording not in tracks:
        raise ValueError(f"no {name} track for recording {recording!r}")
    shape = np.shape(tracks[recording])
    if shape[1:] != trailing_shape:
        want = "(T, 2) with columns x, y" if trailing_shape else "(T,)"
        raise ValueError(f"{name} track of recording {recording!r} has shape {shape}; expected {want}")
    if shape[0] < n_states:
        raise ValueError(
            f"{name} track of recording {recording!r} has {shape[0]} frames but its states "
            f"have {n_states}; the track must cover every frame of the states"
        )


def _without_unshowable(instances, tracks, durations) -> dict:
    """The instances whose shown frames have finite positions and headings; a warning per recording for the rest."""
    kept, skipped = {}, {}
    for state, tiles in instances.items():
        kept[state] = []
        for recording, start, end in tiles:
            track = tracks[recording]
            stop = min(start + durations[state], track.usable_frames)
            shown = [values[start:stop] for values in (track.centroids, track.headings) if values is not None]
            if all(np.isfinite(values).all() for values in shown):
                kept[state].append((recording, start, end))
            else:
                skipped[recording] = skipped.get(recording, 0) + 1
    for recording, count in skipped.items():
        warnings.warn(
            f"recording {recording!r}: {count} tiles skipped, their frames cross a gap in the centroid or "
            "heading track (NaN) too long to interpolate; interpolate it, or raise max_gap",
            stacklevel=3,
        )
    return kept


def _encoding(tracks, instances, fps, codec, crf, preset, encoder_options) -> _Encoding:
    if fps is None:
        first = next((tracks[r] for tiles in instances.values() for r, _, _ in tiles), None)
        fps = first.index.fps if first is not None else Fraction(30)
    fps = Fraction(fps).limit_denominator(100_000)
    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    options = {}
    if codec in _X264_CODECS:  # a shorter lookahead: ~25% less encoder memory, same size and speed
        options = {"crf": str(crf), "preset": preset, "rc-lookahead": "5"}
    elif codec in _X265_CODECS:
        options = {"crf": str(crf), "preset": preset}
    options.update({str(k): str(v) for k, v in (encoder_options or {}).items()})
    try:
        av.codec.Codec(codec, "w")
    except (av.FFmpegError, ValueError) as error:
        raise ValueError(f"video encoder {codec!r} is not available in this FFmpeg build") from error
    return _Encoding(fps=fps, codec=codec, options=options)


def _label_text(recording, start: int, fps: Fraction) -> str:
    name = str(recording)
    if "/" in name or os.sep in name:
        name = os.path.basename(name)
    if Path(name).suffix.lower() in _DATA_SUFFIXES:
        name = Path(name).stem
    return f"{name} @ {float(start / fps):.1f} s"


# -- one movie -------------------------------------------------------------------------------


def _write_movie(path: Path, tiles, label_masks, tracks, style, grid, duration, encoding, scratch_dir) -> None:
    """Extract every tile into a scratch file, then stream the grid to the encoder."""
    with tempfile.TemporaryFile(dir=scratch_dir, prefix=".smoseq-tiles-") as scratch:
        store = _TileStore(scratch, duration, grid[0] * grid[1], style.window_size)
        by_video: dict[str, list[_SlotTile]] = {}
        for slot, ((recording, start, end), label) in enumerate(zip(tiles, label_masks)):
            track = tracks[recording]
            by_video.setdefault(track.index.path, []).append(_SlotTile(slot, start, end, label, track))
        for slot_tiles in by_video.values():
            _extract_tiles(store, slot_tiles, style)
        _encode_grid(store, path, grid, encoding)


class _SlotTile(NamedTuple):
    slot: int
    start: int
    end: int
    label: LabelMasks | None
    track: _Tracks


class _TileStore:
    """A scratch file of `duration x n_slots` YUV tiles, laid out by output time.

    Tiles never written (past the end of a video, or slots without an instance) read as black.
    """

    def __init__(self, file, duration: int, n_slots: int, window_size: int):
        self.file, self.duration, self.n_slots, self.window_size = file, duration, n_slots, window_size
        self.black = YuvTile.black_buffer(window_size)
        self.tile_bytes = self.black.size
        self.written = np.zeros((duration, n_slots), bool)
        file.truncate(duration * n_slots * self.tile_bytes)

    def write(self, time: int, slot: int, tile: YuvTile) -> None:
        self.file.seek((time * self.n_slots + slot) * self.tile_bytes)
        self.file.write(tile.buffer.data)
        self.written[time, slot] = True

    def read_row(self, time: int, out: np.ndarray) -> np.ndarray:
        """All tiles of output frame `time` into `out`, shape (n_slots, tile_bytes)."""
        self.file.seek(time * self.n_slots * self.tile_bytes)
        if self.file.readinto(out.data) != out.nbytes:
            raise OSError("the scratch file of a grid movie was truncated")
        out[~self.written[time]] = self.black
        return out


def _extract_tiles(store: _TileStore, slot_tiles: list[_SlotTile], style: TileStyle) -> None:
    """Decode the wanted frames of one video in increasing order and write their tiles."""
    frames, slots, times = [], [], []
    for tile in slot_tiles:
        n_shown = max(min(tile.start + store.duration, tile.track.usable_frames) - tile.start, 0)
        frames.append(np.arange(tile.start, tile.start + n_shown))
        slots.append(np.full(n_shown, len(slots)))  # position in slot_tiles
        times.append(np.arange(n_shown))
    frames, slots, times = (np.concatenate(a) for a in (frames, slots, times))
    if frames.size == 0:
        return
    order = np.argsort(frames, kind="stable")
    frames, slots, times = frames[order], slots[order], times[order]
    wanted, first = np.unique(frames, return_index=True)
    bounds = np.append(first, frames.size)

    pixels = YuvTile(style.window_size)
    with VideoReader(slot_tiles[0].track.index) as reader:
        for j, (frame_index, frame) in enumerate(reader.read(wanted)):
            planes = yuv420_planes(frame)
            for k in range(bounds[j], bounds[j + 1]):
                tile = slot_tiles[slots[k]]
                centroid = tile.track.centroids[frame_index]
                heading = None if tile.track.headings is None else float(tile.track.headings[frame_index])
                style.render(planes, centroid, heading, frame_index >= tile.end, tile.label, out=pixels)
                store.write(int(times[k]), tile.slot, pixels)


def _encode_grid(store: _TileStore, path: Path, grid: tuple[int, int], encoding: _Encoding) -> None:
    """Arrange each output frame's tiles into a YUV 4:2:0 grid and encode it."""
    rows, cols = grid
    size, half = store.window_size, store.window_size // 2
    n_luma = size * size
    height, width = rows * size, cols * size
    row = np.empty((store.n_slots, store.tile_bytes), np.uint8)
    image = np.empty(height * width * 3 // 2, np.uint8)  # yuv420p: Y, then U, then V
    luma = image[: height * width].reshape(rows, size, cols, size)
    chroma_u = image[height * width : height * width * 5 // 4].reshape(rows, half, cols, half)
    chroma_v = image[height * width * 5 // 4 :].reshape(rows, half, cols, half)
    partial = path.with_name(f".{path.name}.partial")
    try:
        with av.open(str(partial), mode="w", format="mp4") as container:
            stream = container.add_stream(encoding.codec, rate=encoding.fps, options=encoding.options)
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            for time in range(store.duration):
                tiles = store.read_row(time, row).reshape(rows, cols, -1)
                luma[...] = tiles[..., :n_luma].reshape(rows, cols, size, size).transpose(0, 2, 1, 3)
                u_tiles, v_tiles = tiles[..., n_luma : n_luma + half * half], tiles[..., n_luma + half * half :]
                chroma_u[...] = u_tiles.reshape(rows, cols, half, half).transpose(0, 2, 1, 3)
                chroma_v[...] = v_tiles.reshape(rows, cols, half, half).transpose(0, 2, 1, 3)
                frame = av.VideoFrame.from_ndarray(image.reshape(height * 3 // 2, width), format="yuv420p")
                frame.pts = time
                frame.time_base = 1 / encoding.fps
                container.mux(stream.encode(frame))
            container.mux(stream.encode(None))
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
