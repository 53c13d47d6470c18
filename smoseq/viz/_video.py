"""Frame-accurate random access to videos with PyAV.

A seek in a compressed video lands on a keyframe, and containers disagree on which one (and
some seeks silently land elsewhere), so a frame is never taken on trust:

1. `index_video` demuxes the file once, without decoding, and records the presentation
   timestamp (pts) of every packet and which packets are keyframes. Frame `i` is the frame
   with the `i`-th smallest pts, which is also the `i`-th frame a sequential decode returns.
2. `VideoReader.read` takes wanted frame indices in increasing order. For each it either
   decodes forward from where it is, or - when a keyframe lies between the current position
   and the wanted frame - seeks to the keyframe at or before the wanted frame and decodes
   forward from there. Every decoded frame's pts is looked up in the index; a seek that lands
   after the wanted frame is retried from an earlier keyframe and, as a last resort, from the
   start of the file.

Streams without timestamps (e.g. raw H.264) are read sequentially, counting frames.
"""

from collections.abc import Iterable, Iterator
from fractions import Fraction
from pathlib import Path
from typing import NamedTuple

import av
import numpy as np

_SEEK_RETRIES = 3


class VideoIndex(NamedTuple):
    """Timestamps and keyframes of a video's first video stream.

    Attributes:
        path: the video file.
        n_frames: number of frames.
        fps: average frame rate.
        width: frame width in pixels.
        height: frame height in pixels.
        pts: presentation timestamps in stream time base, sorted, shape (n_frames,);
            None when the stream has no timestamps (it is then read sequentially).
        keyframes: indices of the keyframes, sorted, shape (n_keyframes,).
    """

    path: str
    n_frames: int
    fps: Fraction
    width: int
    height: int
    pts: np.ndarray | None
    keyframes: np.ndarray


def _open(path: str):
    if not Path(path).is_file():
        raise FileNotFoundError(f"video not found: {path}")
    try:
        container = av.open(str(path))
    except av.FFmpegError as error:
        raise ValueError(f"{path}: not a readable video ({error})") from error
    if not container.streams.video:
        container.close()
        raise ValueError(f"{path}: the file has no video stream")
    return container


def index_video(path: str | Path) -> VideoIndex:
    """Demux a video once (no decoding) and index its frames' timestamps and keyframes.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: the file is not a readable video, or has no frames.
    """
    path = str(path)
    container = _open(path)
    try:
        stream = container.streams.video[0]
        pts, is_key = [], []
        for packet in container.demux(stream):
            if packet.size == 0:  # the empty packet that signals end of stream
                continue
            pts.append(packet.pts)
            is_key.append(packet.is_keyframe)
        fps = stream.average_rate or stream.guessed_rate or Fraction(30)
        width, height = stream.codec_context.width, stream.codec_context.height
    except av.FFmpegError as error:
        raise ValueError(f"{path}: not a readable video ({error})") from error
    finally:
        container.close()
    if not pts:
        raise ValueError(f"{path}: the video has no frames")

    if any(p is None for p in pts):
        return VideoIndex(path, len(pts), fps, width, height, None, np.zeros(1, np.int64))
    pts = np.asarray(pts, dtype=np.int64)
    order = np.argsort(pts, kind="stable")
    sorted_pts = pts[order]
    if np.any(np.diff(sorted_pts) <= 0):  # repeated timestamps cannot identify frames
        return VideoIndex(path, len(pts), fps, width, height, None, np.zeros(1, np.int64))
    keyframes = np.sort(np.searchsorted(sorted_pts, pts[np.asarray(is_key, bool)]))
    if keyframes.size == 0 or keyframes[0] != 0:
        keyframes = np.concatenate([[0], keyframes])
    return VideoIndex(path, len(pts), fps, width, height, sorted_pts, keyframes)


class VideoReader:
    """Reads chosen frames of one video, in increasing order, with one open container.

    Use as a context manager:

        with VideoReader(index_video(path)) as reader:
            for frame_index, frame in reader.read([10, 11, 500]):
                rgb = frame.to_ndarray(format="rgb24")  # uint8 (height, width, 3)
    """

    def __init__(self, index: VideoIndex):
        self.index = index
        self._container = None
        self._open_at_start()

    def __enter__(self) -> "VideoReader":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        if self._container is not None:
            self._container.close()
            self._container = None

    def read(self, frame_indices: Iterable[int]) -> Iterator[tuple[int, av.VideoFrame]]:
        """Yield `(i, frame)` for each wanted frame `i`; indices must strictly increase.

        `frame` is the decoder's `av.VideoFrame` (e.g. `frame.to_ndarray(format="rgb24")`),
        valid until the next one is requested.
        """
        previous = -1
        for wanted in frame_indices:
            wanted = int(wanted)
            if wanted <= previous:
                raise ValueError(f"frame indices must strictly increase ({previous} then {wanted})")
            if not 0 <= wanted < self.index.n_frames:
                raise IndexError(f"{self.index.path}: frame {wanted} outside 0..{self.index.n_frames - 1}")
            yield wanted, self._frame_at(wanted)
            previous = wanted

    # -- positioning ---------------------------------------------------------------------

    def _open_at_start(self) -> None:
        self.close()
        self._container = _open(self.index.path)
        self._stream = self._container.streams.video[0]
        self._stream.thread_type = "AUTO"
        self._frames = self._container.decode(self._stream)
        self._position = -1  # index of the last decoded frame

    def _seek_container(self, pts: int) -> None:
        """Ask the demuxer for the keyframe at or before `pts` (a hint: the result is checked)."""
        self._container.seek(int(pts), stream=self._stream, backward=True, any_frame=False)

    def _seek_to_keyframe(self, keyframe: int) -> None:
        if keyframe == 0:
            self._open_at_start()
            return
        self._seek_container(self.index.pts[keyframe])
        self._frames = self._container.decode(self._stream)
        self._position = None  # unknown until a frame is decoded

    def _frame_at(self, wanted: int) -> av.VideoFrame:
        keyframes = self.index.keyframes
        if self.index.pts is None:
            if self._position >= wanted:
                self._open_at_start()
            return self._decode_until(wanted)
        position = -1 if self._position is None else self._position
        k = int(np.searchsorted(keyframes, wanted, side="right")) - 1
        if position >= wanted or keyframes[k] > position + 1:
            for attempt in range(_SEEK_RETRIES):
                self._seek_to_keyframe(int(keyframes[max(k - attempt, 0)]))
                frame = self._decode_until(wanted, overshoot_ok=True)
                if frame is not None:
                    return frame
            self._open_at_start()
        return self._decode_until(wanted)

    def _decode_until(self, wanted: int, overshoot_ok: bool = False) -> av.VideoFrame | None:
        """Decode forward to frame `wanted`. If decoding starts past it, return None
        (when `overshoot_ok`, i.e. right after a seek) or raise."""
        while True:
            try:
                frame = next(self._frames)
            except StopIteration:
                raise RuntimeError(
                    f"{self.index.path}: frame {wanted} could not be decoded (the decoder "
                    f"stopped after frame {self._position}); the file may be truncated or corrupt"
                ) from None
            except av.FFmpegError as error:
                raise RuntimeError(f"{self.index.path}: decoding failed near frame {wanted}: {error}") from error
            first_after_seek = self._position is None
            self._position = self._frame_index(frame)
            if self._position == wanted:
                return frame
            if self._position > wanted:
                if first_after_seek and overshoot_ok:
                    return None
                raise RuntimeError(
                    f"{self.index.path}: frame {wanted} was never decoded (the decoder went "
                    f"from before it to frame {self._position}); the file may be corrupt"
                )

    def _frame_index(self, frame: av.VideoFrame) -> int:
        if self.index.pts is None:  # sequential reading: count frames
            return self._position + 1
        pts = self.index.pts
        i = int(np.searchsorted(pts, frame.pts)) if frame.pts is not None else len(pts)
        if i >= len(pts) or pts[i] != frame.pts:
            raise RuntimeError(
                f"{self.index.path}: decoded a frame with timestamp {frame.pts}, which the "
                "file's packets do not list; cannot tell which frame it is"
            )
        return i
