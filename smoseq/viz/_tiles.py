"""One tile of a grid movie: a window of a video frame around the animal, dimmed, bordered
and labelled - built directly in YUV 4:2:0, the pixel format of the decoder and the encoder,
so no frame is ever converted to RGB and back.

Coordinates are pixels, x to the right and y down. A window of size `w` around a centroid
`(x, y)` covers columns `floor(x) - w//2 .. floor(x) - w//2 + w - 1` (rows likewise) of
the luma plane; chroma is taken from the same window at half resolution. Parts of the
window outside the video frame are black.
"""

import math
from dataclasses import dataclass, field

import numpy as np

# limited-range ("TV") YUV levels
BLACK_Y, WHITE_Y, NEUTRAL_C = 16, 235, 128
BORDER_Y = 102  # grey: RGB (100, 100, 100)


class YuvTile:
    """A tile's pixels in one contiguous buffer: Y (w, w), then U and V (w/2, w/2)."""

    def __init__(self, window_size: int):
        half = window_size // 2
        self.buffer = np.empty(window_size * window_size + 2 * half * half, np.uint8)
        n_luma = window_size * window_size
        self.y = self.buffer[:n_luma].reshape(window_size, window_size)
        self.u = self.buffer[n_luma : n_luma + half * half].reshape(half, half)
        self.v = self.buffer[n_luma + half * half :].reshape(half, half)

    @staticmethod
    def black_buffer(window_size: int) -> np.ndarray:
        tile = YuvTile(window_size)
        tile.y[...] = BLACK_Y
        tile.u[...] = tile.v[...] = NEUTRAL_C
        return tile.buffer


def yuv420_planes(frame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Views (no copy) of the Y, U, V planes of a decoded `av.VideoFrame`, converted to
    limited-range yuv420p first if it is in another pixel format."""
    if frame.format.name != "yuv420p":
        frame = frame.reformat(format="yuv420p")
    planes = []
    for plane in frame.planes:
        rows = np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)
        planes.append(rows[:, : plane.width])
    return tuple(planes)


@dataclass(frozen=True)
class LabelMasks:
    """Pixels of a text label: white `text` over a black `outline` (luma, (w, w) bool), and the
    chroma pixels they touch (`chroma`, (w/2, w/2) bool)."""

    text: np.ndarray
    outline: np.ndarray
    chroma: np.ndarray


@dataclass(frozen=True)
class TileStyle:
    """How tiles look: window size in pixels (even), brightness after the instance ends."""

    window_size: int
    dimming_factor: float
    _luma_table: np.ndarray = field(init=False, repr=False, compare=False)
    _chroma_table: np.ndarray = field(init=False, repr=False, compare=False)
    _offsets: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        if not 0.0 <= self.dimming_factor <= 1.0:
            raise ValueError(f"dimming_factor must be in [0, 1], got {self.dimming_factor}")
        levels = np.arange(256, dtype=np.float64)
        luma = np.rint(BLACK_Y + (levels - BLACK_Y) * self.dimming_factor)  # RGB x f, in YUV
        chroma = np.rint(NEUTRAL_C + (levels - NEUTRAL_C) * self.dimming_factor)
        object.__setattr__(self, "_luma_table", np.clip(luma, 0, 255).astype(np.uint8))
        object.__setattr__(self, "_chroma_table", np.clip(chroma, 0, 255).astype(np.uint8))
        object.__setattr__(self, "_offsets", np.arange(self.window_size, dtype=np.float64) - self.window_size // 2)

    def render(
        self, planes, centroid, heading: float | None, dimmed: bool, label: LabelMasks | None, out: YuvTile
    ) -> YuvTile:
        """Fill `out` with the finished tile for one decoded frame (its Y, U, V planes)."""
        y_plane, u_plane, v_plane = planes
        cx, cy = math.floor(centroid[0]), math.floor(centroid[1])
        half = self.window_size // 2
        if heading is None:
            x0, y0 = cx - half, cy - half
            crop_plane(y_plane, x0, y0, BLACK_Y, out.y)
            crop_plane(u_plane, x0 >> 1, y0 >> 1, NEUTRAL_C, out.u)
            crop_plane(v_plane, x0 >> 1, y0 >> 1, NEUTRAL_C, out.v)
        else:
            src_x, src_y = rotated_sources(cx, cy, heading, self._offsets)
            gather(y_plane, src_x, src_y, BLACK_Y, out.y)
            gather(u_plane, src_x[::2, ::2] >> 1, src_y[::2, ::2] >> 1, NEUTRAL_C, out.u)
            gather(v_plane, src_x[::2, ::2] >> 1, src_y[::2, ::2] >> 1, NEUTRAL_C, out.v)
        if dimmed:
            np.take(self._luma_table, out.y, out=out.y)
            np.take(self._chroma_table, out.u, out=out.u)
            np.take(self._chroma_table, out.v, out=out.v)
        if label is not None:
            out.y[label.outline] = BLACK_Y
            out.y[label.text] = WHITE_Y
            out.u[label.chroma] = out.v[label.chroma] = NEUTRAL_C
        draw_border(out)
        return out


def crop_plane(plane: np.ndarray, x0: int, y0: int, fill: int, out: np.ndarray) -> np.ndarray:
    """`out[r, c] = plane[y0 + r, x0 + c]`, or `fill` where that lies outside the plane."""
    height, width = plane.shape[:2]
    size_y, size_x = out.shape[:2]
    src_x = slice(max(x0, 0), min(x0 + size_x, width))
    src_y = slice(max(y0, 0), min(y0 + size_y, height))
    out[...] = fill
    if src_x.start < src_x.stop and src_y.start < src_y.stop:
        out[src_y.start - y0 : src_y.stop - y0, src_x.start - x0 : src_x.stop - x0] = plane[src_y, src_x]
    return out


def rotated_sources(cx: int, cy: int, heading: float, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Source pixel of every window pixel when the window is turned so `heading` points right.

    `heading` is keypoint-MoSeq's: the angle in radians of the animal's body axis in image
    coordinates (`arctan2(dy, dx)` of a tail-to-nose vector, y down). The window pixel at
    offset `o` from its centre shows the frame at `(cx, cy) + round(Rᵀ o)`, where
    `R = [[cos h, sin h], [-sin h, cos h]]`; `heading = 0` gives the unrotated window.
    """
    cos, sin = math.cos(heading), math.sin(heading)
    ox, oy = offsets[None, :], offsets[:, None]
    src_x = np.rint(cos * ox - sin * oy).astype(np.int64) + cx
    src_y = np.rint(sin * ox + cos * oy).astype(np.int64) + cy
    return src_x, src_y


def gather(plane: np.ndarray, src_x: np.ndarray, src_y: np.ndarray, fill: int, out: np.ndarray) -> np.ndarray:
    """`out = plane[src_y, src_x]` (nearest neighbour), `fill` where the source is outside."""
    height, width = plane.shape[:2]
    inside = (src_x >= 0) & (src_x < width) & (src_y >= 0) & (src_y < height)
    out[...] = fill
    out[inside] = plane[src_y[inside], src_x[inside]]
    return out


def draw_border(tile: YuvTile) -> None:
    """A thin grey frame around the tile (1 luma pixel, 1 chroma pixel), in place."""
    for plane, value in ((tile.y, BORDER_Y), (tile.u, NEUTRAL_C), (tile.v, NEUTRAL_C)):
        plane[0, :] = plane[-1, :] = value
        plane[:, 0] = plane[:, -1] = value


def render_label(text: str, window_size: int) -> LabelMasks:
    """Rasterise `text` in the tile's top-left corner (Pillow's default font)."""
    from PIL import Image, ImageDraw, ImageFont

    size = max(8, window_size // 18)
    try:
        font = ImageFont.load_default(size=size)
    except (TypeError, OSError):  # Pillow without FreeType: the fixed bitmap font
        font = ImageFont.load_default()
    masks = []
    for stroke in (1, 0):
        image = Image.new("L", (window_size, window_size), 0)
        ImageDraw.Draw(image).text((4, 3), text, fill=255, font=font, stroke_width=stroke, stroke_fill=255)
        masks.append(np.asarray(image) > 127)
    outline, text_mask = masks
    half = window_size // 2
    chroma = outline.reshape(half, 2, half, 2).any(axis=(1, 3))
    return LabelMasks(text=text_mask, outline=outline & ~text_mask, chroma=chroma)
