"""One tile of a grid movie: a window of a video frame around the animal, dimmed, bordered
and labelled.

Coordinates are pixels, x to the right and y down. A window of size `w` around a centroid
`(x, y)` covers columns `floor(x) - w//2 .. floor(x) - w//2 + w - 1` (and rows likewise);
the parts outside the video frame are black.
"""

import math
from dataclasses import dataclass, field

import numpy as np

BORDER_GREY = 100


@dataclass(frozen=True)
class TileStyle:
    """How tiles look: window size in pixels, brightness after the instance ends."""

    window_size: int
    dimming_factor: float
    _dim_table: np.ndarray = field(init=False, repr=False, compare=False)
    _offsets: tuple[np.ndarray, np.ndarray] = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        if not 0.0 <= self.dimming_factor <= 1.0:
            raise ValueError(f"dimming_factor must be in [0, 1], got {self.dimming_factor}")
        table = np.floor(np.arange(256) * self.dimming_factor).astype(np.uint8)
        offsets = np.arange(self.window_size, dtype=np.float64) - self.window_size // 2
        object.__setattr__(self, "_dim_table", table)
        object.__setattr__(self, "_offsets", (offsets[None, :], offsets[:, None]))

    def render(
        self,
        frame: np.ndarray,
        centroid: tuple[float, float],
        heading: float | None,
        dimmed: bool,
        label: "LabelMasks | None",
        out: np.ndarray,
    ) -> np.ndarray:
        """Fill `out` (window, window, 3) uint8 with the finished tile for one video frame."""
        if heading is None:
            crop_window(frame, centroid, self.window_size, out=out)
        else:
            crop_rotated_window(frame, centroid, heading, self.window_size, self._offsets, out=out)
        if dimmed:
            np.take(self._dim_table, out, out=out)
        if label is not None:
            out[label.outline] = 0
            out[label.text] = 255
        draw_border(out)
        return out


def crop_window(frame: np.ndarray, centroid, window_size: int, out: np.ndarray | None = None) -> np.ndarray:
    """The `window_size`² window of `frame` (H, W, C) centred on `centroid` (x, y), zero-padded."""
    height, width = frame.shape[:2]
    if out is None:
        out = np.empty((window_size, window_size, *frame.shape[2:]), frame.dtype)
    x0 = math.floor(centroid[0]) - window_size // 2
    y0 = math.floor(centroid[1]) - window_size // 2
    src_x = slice(max(x0, 0), min(x0 + window_size, width))
    src_y = slice(max(y0, 0), min(y0 + window_size, height))
    out[...] = 0
    if src_x.start < src_x.stop and src_y.start < src_y.stop:
        out[src_y.start - y0 : src_y.stop - y0, src_x.start - x0 : src_x.stop - x0] = frame[src_y, src_x]
    return out


def crop_rotated_window(
    frame: np.ndarray,
    centroid,
    heading: float,
    window_size: int,
    offsets: tuple[np.ndarray, np.ndarray] | None = None,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Like `crop_window`, rotated so that `heading` points right (keypoint-MoSeq's convention).

    `heading` is the angle in radians of the animal's body axis in image coordinates
    (`arctan2(dy, dx)` of a tail-to-nose vector, y down). The output pixel at offset `o` from
    the window centre shows the frame at `floor(centroid) + round(Rᵀ o)`, where
    `R = [[cos h, sin h], [-sin h, cos h]]`, so the heading direction maps to +x.
    Nearest-neighbour sampling; with `heading = 0` this equals `crop_window`.
    """
    height, width = frame.shape[:2]
    if offsets is None:
        grid = np.arange(window_size, dtype=np.float64) - window_size // 2
        offsets = (grid[None, :], grid[:, None])
    ox, oy = offsets
    cos, sin = math.cos(heading), math.sin(heading)
    src_x = np.rint(cos * ox - sin * oy).astype(np.int64) + math.floor(centroid[0])
    src_y = np.rint(sin * ox + cos * oy).astype(np.int64) + math.floor(centroid[1])
    inside = (src_x >= 0) & (src_x < width) & (src_y >= 0) & (src_y < height)
    if out is None:
        out = np.empty((window_size, window_size, *frame.shape[2:]), frame.dtype)
    out[...] = 0
    out[inside] = frame[src_y[inside], src_x[inside]]
    return out


def draw_border(tile: np.ndarray, value: int = BORDER_GREY) -> None:
    """A one-pixel grey frame around the tile, in place."""
    tile[0, :] = tile[-1, :] = value
    tile[:, 0] = tile[:, -1] = value


@dataclass(frozen=True)
class LabelMasks:
    """Pixels of a text label: white `text` over a black `outline`, both (window, window) bool."""

    text: np.ndarray
    outline: np.ndarray


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
    outline, body = masks
    return LabelMasks(text=body, outline=outline & ~body)
