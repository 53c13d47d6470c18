"""The published package's movie helpers — `crop_image`, `write_video_clip`, `grid_movie` — on PyAV.

`generate_grid_movies` is the one to use for whole grids (bounded memory, YUV tiles);
these exist so scripts written against the published `state_moseq.viz` keep running.
`grid_movie` returns the whole movie as one array, as the published one does.
"""

import os
from collections.abc import Mapping

import av
import numpy as np

from ._video import VideoReader, index_video

BORDER_VALUE = 100  # grey tile border, as published


def crop_image(image: np.ndarray, centroid, crop_size) -> np.ndarray:
    """The `crop_size` window of `image` centred on `centroid`, zero-padded where it leaves the image.

    Args:
        image: (height, width, ...) array.
        centroid: (x, y) in pixels (truncated to integers).
        crop_size: an int, or `(width, height)`.

    Returns:
        (height, width, ...) array of `image`'s dtype.
    """
    width, height = crop_size if isinstance(crop_size, tuple) else (crop_size, crop_size)
    x, y = int(centroid[0]), int(centroid[1])
    left, top = x - width // 2, y - height // 2
    out = np.zeros((height, width, *image.shape[2:]), dtype=image.dtype)
    x0, y0 = max(left, 0), max(top, 0)
    x1, y1 = min(x + width // 2, image.shape[1]), min(y + height // 2, image.shape[0])
    if x1 > x0 and y1 > y0:
        out[y0 - top : y1 - top, x0 - left : x1 - left] = image[y0:y1, x0:x1]
    return out


def write_video_clip(frames, path, fps: float = 30, quality: int = 7) -> None:
    """Encode RGB frames (n_frames, height, width, 3) uint8 as H.264 (yuv420p) at `path`.

    Args:
        frames: (n_frames, height, width, 3) uint8 RGB; height and width even.
        path: output file (its suffix picks the container, e.g. `.mp4`).
        fps: frame rate.
        quality: 0 (smallest) .. 10 (best), mapped to `crf = round(51 - 31 * quality / 7)`.
    """
    frames = np.asarray(frames, dtype=np.uint8)
    crf = max(round(51 - 31 * min(max(quality, 0), 10) / 7), 0)
    with av.open(os.fspath(path), "w") as container:
        stream = container.add_stream("libx264", rate=round(fps) if float(fps).is_integer() else fps)
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        stream.options = {"crf": str(crf)}
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())


def _frames(video, indices: list[int]) -> dict[int, np.ndarray]:
    """RGB frames of `video` (a path, or an object with `len` and `video[t]`) at `indices`."""
    if isinstance(video, (str, os.PathLike)):
        with VideoReader(index_video(video)) as reader:
            return {t: frame.to_ndarray(format="rgb24") for t, frame in reader.read(sorted(set(indices)))}
    return {t: np.asarray(video[t]) for t in indices}


def _length(video) -> int:
    return index_video(video).n_frames if isinstance(video, (str, os.PathLike)) else len(video)


def grid_movie(instances, rows: int, cols: int, videos: Mapping, centroids: Mapping, window_size: int,
               max_duration: int = 1200, dimming_factor: float = 0.5) -> np.ndarray:  # fmt: skip
    """A grid movie of `instances` as one array, as the published `grid_movie` makes it.

    Tile i (row-major) follows instance `(recording, start, end)` from `start` for the movie's
    duration (the longest instance, at most `max_duration`): cropped around the centroid,
    dimmed by `dimming_factor` from `end` on, black past the end of the video, with a grey border.

    Args:
        instances: list of `(recording, start, end)`, at most rows × cols.
        rows, cols: grid shape.
        videos: recording -> a video path, or a reader with `len(reader)` and `reader[t]` (RGB frame).
        centroids: recording -> (T, 2) x, y in pixels.
        window_size: tile side in pixels.
        max_duration: longest movie, in frames.
        dimming_factor: brightness after an instance ends.

    Returns:
        (duration, window_size·rows, window_size·cols, 3) uint8 frames.
    """
    duration = min(max_duration, max(end - start for _, start, end in instances))
    tiles = np.zeros((rows * cols, duration, window_size, window_size, 3), np.uint8)
    for slot, (recording, start, end) in enumerate(instances):
        video = videos[recording]
        shown = [t for t in range(start, start + duration) if t < _length(video)]
        frames = _frames(video, shown)
        for t in shown:
            tile = crop_image(frames[t], centroids[recording][t], window_size)
            tile = (tile * dimming_factor).astype(np.uint8) if t >= end else tile
            tile[:, [0, -1]] = BORDER_VALUE
            tile[[0, -1], :] = BORDER_VALUE
            tiles[slot, t - start] = tile
    grid = tiles.reshape(rows, cols, duration, window_size, window_size, 3)
    return grid.transpose(2, 0, 3, 1, 4, 5).reshape(duration, rows * window_size, cols * window_size, 3)
