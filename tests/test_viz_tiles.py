"""Tiles of grid movies: cropping, rotation, dimming, border and label, on plain arrays."""

import math

import av
import numpy as np

from smoseq.viz._tiles import (
    BLACK_Y,
    BORDER_Y,
    NEUTRAL_C,
    TileStyle,
    YuvTile,
    crop_plane,
    gather,
    render_label,
    rotated_sources,
    yuv420_planes,
)


def ramp(height=60, width=80):
    return (np.arange(height)[:, None] * 3 + np.arange(width)[None, :]).astype(np.uint8)


def test_crop_inside_and_zero_padded_at_the_edges():
    plane = ramp()
    out = np.empty((16, 16), np.uint8)
    np.testing.assert_array_equal(crop_plane(plane, 10, 20, BLACK_Y, out), plane[20:36, 10:26])
    crop_plane(plane, -5, -3, BLACK_Y, out)  # window hangs over the top-left corner
    assert np.all(out[:3] == BLACK_Y) and np.all(out[:, :5] == BLACK_Y)
    np.testing.assert_array_equal(out[3:, 5:], plane[:13, :11])
    crop_plane(plane, 75, 55, BLACK_Y, out)  # ...and over the bottom-right corner
    np.testing.assert_array_equal(out[:5, :5], plane[55:, 75:])
    assert np.all(out[5:] == BLACK_Y) and np.all(out[:, 5:] == BLACK_Y)
    assert np.all(crop_plane(plane, 500, 500, 7, out) == 7)


def test_heading_zero_is_no_rotation():
    plane, offsets = ramp(), np.arange(16.0) - 8
    src_x, src_y = rotated_sources(30, 25, 0.0, offsets)
    np.testing.assert_array_equal(gather(plane, src_x, src_y, 0, np.empty((16, 16), np.uint8)), plane[17:33, 22:38])


def test_rotation_turns_the_heading_to_the_right():
    """keypoint-MoSeq's heading is arctan2(dy, dx) with y down; after rotation it points right."""
    offsets = np.arange(32.0) - 16
    for heading in (math.pi / 2, math.pi, -math.pi / 2, 0.7):
        plane = np.zeros((100, 100), np.uint8)
        nose = (50 + round(10 * math.cos(heading)), 50 + round(10 * math.sin(heading)))
        plane[nose[1], nose[0]] = 255
        src_x, src_y = rotated_sources(50, 50, heading, offsets)
        tile = gather(plane, src_x, src_y, 0, np.empty((32, 32), np.uint8))
        rows, cols = np.nonzero(tile)
        assert abs(rows.mean() - 16) <= 1 and abs(cols.mean() - 26) <= 1, heading


def test_render_dims_borders_and_labels():
    y, u, v = np.full((64, 64), 235, np.uint8), np.full((32, 32), 90, np.uint8), np.full((32, 32), 200, np.uint8)
    style = TileStyle(window_size=32, dimming_factor=0.25)
    tile = YuvTile(32)
    style.render((y, u, v), (32.5, 32.9), None, dimmed=False, label=None, out=tile)
    assert tile.y[5, 5] == 235 and tile.u[5, 5] == 90 and tile.v[5, 5] == 200
    assert np.all(tile.y[0] == BORDER_Y) and np.all(tile.y[:, -1] == BORDER_Y) and np.all(tile.u[0] == NEUTRAL_C)
    style.render((y, u, v), (32, 32), None, dimmed=True, label=None, out=tile)
    assert tile.y[5, 5] == round(16 + 219 * 0.25) and tile.u[5, 5] == round(128 - 38 * 0.25)
    label = render_label("rec @ 1.0 s", 32)
    assert label.text.sum() > 5 and not np.any(label.text & label.outline)
    style.render((y * 0 + 60, u, v), (32, 32), 0.0, dimmed=False, label=label, out=tile)
    assert np.all(tile.y[label.text] == 235) and np.all(tile.u[label.chroma] == NEUTRAL_C)


def test_any_pixel_format_becomes_yuv420_planes():
    frame = av.VideoFrame.from_ndarray(np.full((20, 30, 3), 255, np.uint8), format="rgb24")
    y, u, v = yuv420_planes(frame)
    assert y.shape == (20, 30) and u.shape == v.shape == (10, 15)
    assert y.min() >= 234 and abs(int(u.mean()) - 128) <= 1
