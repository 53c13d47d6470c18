"""Render and encode the example dataset's videos: a top view of a mouse in an open field.

The mouse is drawn once per syllable and heading (a sprite atlas of premultiplied
colour and transmittance, four quadrants by exact 90° rotations); each frame is then
the static arena with one sprite composited at the centroid, computed for a chunk of
frames at a time directly in YUV 4:2:0, the encoder's own pixel format. Frames are
streamed to PyAV one at a time, so memory does not grow with the recording's length.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

_CHUNK = 128  # frames composed per array operation
_ANGLES_PER_QUADRANT = 16  # headings are drawn in steps of 90° / 16
_ENCODER_OPTIONS = {"preset": "ultrafast", "threads": "1", "qp": "20"}  # libx264, one thread per video


@dataclass(frozen=True)
class Arena:
    """Geometry, in pixels, of the square frame, the circular arena and the object in it."""

    size: int
    radius: float
    object_xy: tuple[float, float]
    object_radius: float
    mouse_length: float  # the unit of `MouseLooks` lengths

    @property
    def centre(self) -> float:
        return (self.size - 1) / 2


@dataclass(frozen=True)
class MouseLooks:
    """How the mouse looks during each syllable (arrays indexed by syllable).

    Lengths are in units of `Arena.mouse_length`, angles in radians, colours RGB 0..255.
    """

    body_length: np.ndarray
    body_width: np.ndarray
    head_length: np.ndarray
    head_angle: np.ndarray  # head turned away from the body axis
    colour: np.ndarray  # (S, 3)


@dataclass(frozen=True)
class Sprites:
    """The mouse drawn per syllable and heading bin: transmittance and premultiplied colour.

    All arrays are uint8 and indexed by `syllable * n_angles + angle_bin`. Full resolution:
    `luma_transmittance`, `luma` (·, p, p), the centroid at pixel (p // 2, p // 2). Chroma,
    averaged over 2×2 blocks for each parity `(row % 2) * 2 + column % 2` of the tile's
    top-left frame pixel: `chroma_transmittance` (·, 4, h, h) and `chroma` (·, 4, 2, h, h)
    (U, V), h = (p + 1) // 2. Transmittance is scaled to 0..255.
    """

    n_angles: int
    luma_transmittance: np.ndarray
    luma: np.ndarray
    chroma_transmittance: np.ndarray
    chroma: np.ndarray

    @property
    def size(self) -> int:
        return self.luma.shape[-1]

    def index(self, syllables: np.ndarray, headings: np.ndarray) -> np.ndarray:
        angle_bins = np.round(np.asarray(headings) / (2 * np.pi) * self.n_angles).astype(np.int64)
        return np.asarray(syllables, np.int64) * self.n_angles + angle_bins % self.n_angles


def rgb_to_yuv(rgb) -> np.ndarray:
    """BT.601 limited-range YUV of RGB values in 0..255 (float32, same leading shape)."""
    rgb = np.asarray(rgb, dtype=np.float32) / 255.0
    matrix = np.array(
        [[65.481, 128.553, 24.966], [-37.797, -74.203, 112.0], [112.0, -93.786, -18.214]],
        dtype=np.float32,
    )
    return rgb @ matrix.T + np.array([16.0, 128.0, 128.0], dtype=np.float32)


def draw_background(arena: Arena) -> np.ndarray:
    """The empty arena as an RGB float32 image (size, size, 3): floor, wall, object."""
    coords = np.arange(arena.size, dtype=np.float32)
    dx, dy = coords[None, :] - arena.centre, coords[:, None] - arena.centre
    radius = np.hypot(dx, dy)
    vignette = 1 - 0.12 * (radius / arena.radius) ** 2
    texture = np.random.default_rng(1234).normal(0.0, 3.0, (arena.size, arena.size, 1))
    image = np.array([196, 194, 184], np.float32) * vignette[..., None] + texture
    image *= 1 - 0.35 * np.clip((radius - arena.radius + 6) / 6, 0, 1)[..., None]  # wall shadow
    wall = max(2.0, arena.size / 60)
    outside = np.clip(radius - arena.radius + 0.5, 0, 1)[..., None]
    rim = np.clip(1 + wall / 2 - np.abs(radius - arena.radius - wall / 2), 0, 1)[..., None]
    image = _over(image, [52, 54, 60], outside)
    image = _over(image, [150, 156, 168], rim)
    ox, oy = arena.object_xy
    half = arena.object_radius / np.sqrt(2)
    box = np.maximum(np.abs(coords[None, :] - ox), np.abs(coords[:, None] - oy))  # a square block
    shine = np.clip(1 - np.hypot(dx + arena.centre - ox + half / 3, dy + arena.centre - oy + half / 3) / half, 0, 1)
    block = np.array([225, 140, 40], np.float32) + 40 * shine[..., None]
    image = _over(image, block, np.clip(half + 0.5 - box, 0, 1)[..., None])
    image = _over(image, [120, 70, 20], np.clip(1 - np.abs(box - half + 1), 0, 1)[..., None])
    return np.clip(image, 0, 255).astype(np.float32)


def build_sprites(looks: MouseLooks, arena: Arena) -> Sprites:
    """Draw every syllable's mouse at every heading bin."""
    scale = float(arena.mouse_length)
    size = 2 * int(np.ceil(1.3 * scale)) + 1  # odd, so 90° rotations keep the centre pixel
    base_angles = np.arange(_ANGLES_PER_QUADRANT) * (np.pi / 2) / _ANGLES_PER_QUADRANT
    offsets = np.arange(size, dtype=np.float32) - size // 2
    dx, dy = offsets[None, None, :], offsets[None, :, None]
    cos_t = np.cos(base_angles).astype(np.float32)[:, None, None]
    sin_t = np.sin(base_angles).astype(np.float32)[:, None, None]
    u, v = dx * cos_t + dy * sin_t, dy * cos_t - dx * sin_t  # body frame: u forward, v right
    n_angles, half = 4 * _ANGLES_PER_QUADRANT, (size + 1) // 2
    n_tiles = len(looks.body_length) * n_angles
    luma_transmittance = np.empty((n_tiles, size, size), np.uint8)
    luma = np.empty((n_tiles, size, size), np.uint8)
    chroma_transmittance = np.empty((n_tiles, 4, half, half), np.uint8)
    chroma = np.empty((n_tiles, 4, 2, half, half), np.uint8)
    padded = np.zeros((n_angles, 3, size + 2, size + 2), np.float32)
    padded[:, 0] = 255  # transparent border
    for syllable in range(len(looks.body_length)):
        quadrant = np.moveaxis(_draw_mouse(u, v, scale, looks, syllable), 0, 1)  # (A/4, 4, p, p)
        tiles = np.concatenate([np.rot90(quadrant, k=-turn, axes=(2, 3)) for turn in range(4)])
        rows = slice(syllable * n_angles, (syllable + 1) * n_angles)
        luma_transmittance[rows], luma[rows] = _to_uint8(tiles[:, 0]), _to_uint8(tiles[:, 1])
        # Sums of 2×2 blocks at every offset; a tile whose top-left pixel has row parity r
        # covers chroma blocks starting at padded rows 1 - r, 3 - r, ... (likewise columns).
        padded[:, :, 1:-1, 1:-1] = tiles[:, [0, 2, 3]]
        boxes = padded[..., :-1, :-1] + padded[..., 1:, :-1] + padded[..., :-1, 1:] + padded[..., 1:, 1:]
        for parity in range(4):
            row, col = divmod(parity, 2)
            blocks = _to_uint8(boxes[..., 1 - row::2, 1 - col::2] / 4)
            chroma_transmittance[rows, parity], chroma[rows, parity] = blocks[:, 0], blocks[:, 1:]
    return Sprites(n_angles, luma_transmittance, luma, chroma_transmittance, chroma)


def write_video(
    path: Path,
    centroids: np.ndarray,
    headings: np.ndarray,
    syllables: np.ndarray,
    sprites: Sprites,
    arena: Arena,
    fps: float,
    on_frames: Callable[[int], None] | None = None,
) -> None:
    """Encode one recording (H.264, yuv420p, one frame per row) to `path` via a temporary file.

    `centroids` (T, 2) are pixel coordinates (x, y), `headings` (T,) radians in image
    coordinates (x right, y down), `syllables` (T,) the sprites to draw.
    """
    path = Path(path)
    temporary = path.with_name(f".{path.name}.partial")
    tile = sprites.size
    margin = 2 * (tile // 4 + 2)  # even, so chroma blocks line up; tiles never leave the canvas
    background = [np.pad(plane, margin // scale, mode="edge")
                  for plane, scale in zip(_background_planes(arena), (1, 2, 2))]
    canvas = [plane.copy() for plane in background]
    limit = background[0].shape[0] - tile - 1
    corners = np.clip(np.round(centroids).astype(np.int64) - tile // 2 + margin, 0, limit)  # (T, 2): x, y
    sprite_index = sprites.index(syllables, headings)
    try:
        with av.open(str(temporary), mode="w", format="mp4") as container:
            stream = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(100_000))
            stream.width = stream.height = arena.size
            stream.pix_fmt = "yuv420p"
            stream.options = dict(_ENCODER_OPTIONS)
            for start in range(0, len(sprite_index), _CHUNK):
                chunk = slice(start, start + _CHUNK)
                tiles = _composite(background, sprites, corners[chunk], sprite_index[chunk])
                for corner, frame_tiles in zip(corners[chunk], zip(*tiles)):
                    windows = _windows(corner, tile)
                    for plane, window, frame_tile in zip(canvas, windows, frame_tiles):
                        plane[window] = frame_tile
                    for packet in stream.encode(_video_frame(canvas, margin, arena.size)):
                        container.mux(packet)
                    for plane, window, plane_background in zip(canvas, windows, background):
                        plane[window] = plane_background[window]
                if on_frames is not None:
                    on_frames(len(tiles[0]))
            for packet in stream.encode():
                container.mux(packet)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def _video_frame(canvas: list[np.ndarray], margin: int, size: int) -> av.VideoFrame:
    """A new frame holding the visible part of the (Y, U, V) canvas."""
    frame = av.VideoFrame(size, size, "yuv420p")
    for plane, array, scale in zip(frame.planes, canvas, (1, 2, 2)):
        visible = slice(margin // scale, (margin + size) // scale)
        rows = np.frombuffer(plane, np.uint8).reshape(-1, plane.line_size)
        rows[:, : size // scale] = array[visible, visible]
    return frame


def _to_uint8(values: np.ndarray) -> np.ndarray:
    return np.clip(np.round(values), 0, 255).astype(np.uint8)


def _over(image: np.ndarray, colour, alpha: np.ndarray) -> np.ndarray:
    return image + alpha * (np.asarray(colour, np.float32) - image)


def _background_planes(arena: Arena) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The empty arena as uint8 Y (H, W), U and V (H/2, W/2) planes."""
    yuv = rgb_to_yuv(draw_background(arena))
    half = arena.size // 2
    chroma = yuv[..., 1:].reshape(half, 2, half, 2, 2).mean(axis=(1, 3))
    return _to_uint8(yuv[..., 0]), _to_uint8(chroma[..., 0]), _to_uint8(chroma[..., 1])


def _ellipse(u, v, centre_u, centre_v, cos_a, sin_a, semi_u, semi_v) -> np.ndarray:
    """Anti-aliased coverage of an ellipse centred at (centre_u, centre_v), axes rotated by a."""
    du, dv = u - centre_u, v - centre_v
    along, across = du * cos_a + dv * sin_a, dv * cos_a - du * sin_a
    q = np.sqrt((along / semi_u) ** 2 + (across / semi_v) ** 2)
    return np.clip(0.5 - (q - 1) * semi_v, 0.0, 1.0)


def _draw_mouse(u, v, scale: float, looks: MouseLooks, syllable: int) -> np.ndarray:
    """Transmittance and premultiplied Y, U, V (4, ...) of tail, body, head and ears, in order."""
    length = scale * float(looks.body_length[syllable])
    width = scale * float(looks.body_width[syllable])
    head = scale * float(looks.head_length[syllable])
    cos_h, sin_h = np.cos(looks.head_angle[syllable]), np.sin(looks.head_angle[syllable])
    neck = length / 2 - 0.15 * scale
    tail_length = 0.6 * scale
    rgb = np.asarray(looks.colour[syllable], np.float32)
    layers = [
        (_ellipse(u, v, -(length + tail_length) / 2 + 1, 0, 1, 0, tail_length / 2, max(0.7, 0.045 * scale)),
         0.5 * rgb + 0.5 * np.array([205, 160, 160], np.float32)),
        (_ellipse(u, v, 0, 0, 1, 0, length / 2, width / 2), rgb),
        (_ellipse(u, v, neck + cos_h * head / 2, sin_h * head / 2, cos_h, sin_h, head / 2, 0.36 * width),
         0.85 * rgb),
    ]
    for side in (-1.0, 1.0):
        ear_u = neck + 0.1 * scale * cos_h - side * 0.17 * scale * sin_h
        ear_v = 0.1 * scale * sin_h + side * 0.17 * scale * cos_h
        layers.append((_ellipse(u, v, ear_u, ear_v, 1, 0, 0.1 * scale, 0.1 * scale),
                       0.6 * rgb + 0.4 * np.array([230, 150, 160], np.float32)))
    spine = 1.1 - 0.3 * np.clip(np.abs(v) / (0.5 * width), 0, 1)  # a rounded back, lit from above
    out = np.zeros((4, *u.shape), np.float32)
    out[0] = 255
    for index, (alpha, layer_rgb) in enumerate(layers):
        yuv = rgb_to_yuv(layer_rgb)
        out[0] *= 1 - alpha
        for channel in range(3):
            colour = yuv[channel] * spine if (index, channel) == (1, 0) else yuv[channel]
            out[1 + channel] += alpha * (colour - out[1 + channel])
    return out


def _windows(corner: np.ndarray, tile: int) -> tuple[tuple[slice, slice], ...]:
    """Slices of the Y, U and V planes covered by a tile with top-left pixel `corner` (x, y)."""
    x, y = corner
    half = (tile + 1) // 2
    chroma = (slice(y // 2, y // 2 + half), slice(x // 2, x // 2 + half))
    return (slice(y, y + tile), slice(x, x + tile)), chroma, chroma


def _composite(background, sprites: Sprites, corners: np.ndarray, sprite_index: np.ndarray):
    """Each frame's (Y, U, V) tiles, sprite over arena, in 8-bit integer arithmetic.

    `corners` (n, 2) are the tiles' top-left pixels (x, y); returns arrays (n, p, p),
    (n, h, h), (n, h, h).
    """
    luma_bg, u_bg, v_bg = background
    p, half = sprites.size, (sprites.size + 1) // 2
    x, y = corners[:, 0], corners[:, 1]
    parity = (y % 2) * 2 + x % 2

    def over(plane, size, row, col, transmittance, colour):
        behind = sliding_window_view(plane, (size, size))[row, col].astype(np.uint16)
        mixed = ((behind * transmittance + behind) >> 8) + colour
        return np.minimum(mixed, 255).astype(np.uint8)

    luma = over(luma_bg, p, y, x, sprites.luma_transmittance[sprite_index], sprites.luma[sprite_index])
    transmittance = sprites.chroma_transmittance[sprite_index, parity]
    chroma = sprites.chroma[sprite_index, parity]  # (n, 2, h, h)
    u = over(u_bg, half, y // 2, x // 2, transmittance, chroma[:, 0])
    v = over(v_bg, half, y // 2, x // 2, transmittance, chroma[:, 1])
    return luma, u, v
