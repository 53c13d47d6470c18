"""The published `state_moseq.viz` movie helpers: crop_image, write_video_clip, grid_movie."""

import av
import numpy as np

import smoseq as sm


def test_lab_script_imports():
    from smoseq.viz import crop_image, generate_grid_movies, grid_movie, plot_sankey, write_video_clip  # noqa: F401

    assert sm.grid_movie is grid_movie and sm.crop_image is crop_image and sm.write_video_clip is write_video_clip


def test_crop_image_pads_with_zeros_outside_the_image():
    image = np.arange(1, 17).reshape(4, 4)[..., None]  # value = 4*row + col + 1
    middle = sm.crop_image(image, (2, 2), 2)  # rows 1..2, cols 1..2
    np.testing.assert_array_equal(middle[..., 0], [[6, 7], [10, 11]])
    corner = sm.crop_image(image, (0, 0), 2)  # one row and column of padding above and left
    np.testing.assert_array_equal(corner[..., 0], [[0, 0], [0, 1]])
    wide = sm.crop_image(image, (3, 1), (4, 2))  # (width, height)
    np.testing.assert_array_equal(wide[..., 0], [[2, 3, 4, 0], [6, 7, 8, 0]])


def test_write_video_clip_encodes_every_frame(tmp_path):
    frames = np.zeros((5, 16, 16, 3), np.uint8)
    frames[:, :, :, 0] = np.arange(5)[:, None, None] * 50
    sm.write_video_clip(frames, tmp_path / "clip.mp4", fps=10, quality=10)
    with av.open(str(tmp_path / "clip.mp4")) as container:
        decoded = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
    assert len(decoded) == 5
    assert abs(int(decoded[4][8, 8, 0]) - 200) < 12 and abs(int(decoded[0][8, 8, 0])) < 12


def test_grid_movie_tiles_dimming_borders_and_the_end_of_the_video():
    video = [np.full((20, 20, 3), 200, np.uint8) for _ in range(6)]  # a reader: len() and video[t]
    centroids = np.full((6, 2), 10.0)
    instances = [("a", 1, 3), ("a", 3, 4)]
    frames = sm.grid_movie(instances, 1, 3, {"a": video}, {"a": centroids}, window_size=8, dimming_factor=0.5)
    assert frames.shape == (2, 8, 24, 3)  # the longest instance lasts 2 frames; 3 columns
    assert frames[0, 3, 3, 0] == 200 and frames[1, 3, 3, 0] == 200  # tile 0: frames 1, 2 inside (1, 3)
    assert frames[0, 3, 11, 0] == 200 and frames[1, 3, 11, 0] == 100  # tile 1: frame 4 is past its end: dimmed
    assert frames[0, 0, 3, 0] == 100 and frames[0, 3, 0, 0] == 100  # grey border
    assert not frames[:, :, 16:].any()  # an empty slot stays black
    late = sm.grid_movie([("a", 5, 7)], 1, 1, {"a": video}, {"a": centroids}, window_size=8)
    assert late[0, 3, 3, 0] == 200 and not late[1].any()  # frame 6 is past the end of the video
