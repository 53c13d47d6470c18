"""Grid movies and frame-accurate video reading, checked frame by frame.

Every test video frame shows its own index as a 4 x 4 grid of 16-pixel black/white blocks
in the middle of the frame (14 bits of the index, then one always-white and one always-black
reference block), on a grey background. Decoding a tile and reading the blocks tells exactly
which source frame it shows and how bright it is.
"""

import warnings

import av
import numpy as np
import pytest

from smoseq.metrics.instances import find_runs
from smoseq.viz import generate_grid_movies
from smoseq.viz.grid_movies import fill_short_gaps
from smoseq.viz._video import VideoReader, index_video

SIZE = 160  # test video frames are SIZE x SIZE
BLOCK = 16
CODE_ORIGIN = 48  # top-left corner of the code grid in the frame (x and y)
BACKGROUND = 90
WINDOW = 128


def coded_frame(index: int) -> np.ndarray:
    image = np.full((SIZE, SIZE, 3), BACKGROUND, np.uint8)
    bits = [(index >> b) & 1 for b in range(14)] + [1, 0]
    for b, on in enumerate(bits):
        r, c = divmod(b, 4)
        y, x = CODE_ORIGIN + r * BLOCK, CODE_ORIGIN + c * BLOCK
        image[y : y + BLOCK, x : x + BLOCK] = 255 * on
    return image


def write_coded_video(path, n_frames, fmt=None, codec="libx264", options=None, rate=30, pix_fmt="yuv420p"):
    options = {"crf": "4", "g": "10", "bf": "3"} if options is None else options
    with av.open(str(path), "w", format=fmt) as container:
        stream = container.add_stream(codec, rate=rate, options=options)
        stream.width, stream.height, stream.pix_fmt = SIZE, SIZE, pix_fmt
        for i in range(n_frames):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(coded_frame(i), format="rgb24")))
        container.mux(stream.encode(None))
    return str(path)


def read_code(image: np.ndarray, origin=(CODE_ORIGIN, CODE_ORIGIN)) -> tuple[int, float, float]:
    """(frame index, white-reference level, black-reference level) from the code grid at `origin` (x, y)."""
    means = []
    for b in range(16):
        r, c = divmod(b, 4)
        y, x = origin[1] + r * BLOCK, origin[0] + c * BLOCK
        means.append(image[y + 4 : y + BLOCK - 4, x + 4 : x + BLOCK - 4].mean())
    white, black = means[14], means[15]
    threshold = (white + black) / 2
    index = sum(1 << b for b in range(14) if means[b] > threshold)
    return index, white, black


def rgb(frame) -> np.ndarray:
    return frame.to_ndarray(format="rgb24")


def decode_all(path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]


# -- frame-accurate reading --------------------------------------------------------------------


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("videos")
    return {
        "mp4_bframes": write_coded_video(folder / "a.mp4", 240),
        "mkv": write_coded_video(folder / "b.mkv", 120, fmt="matroska"),
        "avi_mpeg4": write_coded_video(folder / "c.avi", 120, codec="mpeg4", options={"qscale": "2", "g": "12"}),
        "raw_h264": write_coded_video(folder / "d.h264", 90, fmt="h264"),
    }


@pytest.mark.parametrize("kind", ["mp4_bframes", "mkv", "avi_mpeg4", "raw_h264"])
def test_reader_returns_exactly_the_wanted_frames(videos, kind):
    index = index_video(videos[kind])
    assert (index.pts is None) == (kind == "raw_h264")  # no timestamps: sequential reading
    rng = np.random.default_rng(0)
    for _ in range(4):
        wanted = np.unique(rng.integers(0, index.n_frames, 25))
        with VideoReader(index) as reader:
            got = [(i, read_code(rgb(frame))[0]) for i, frame in reader.read(wanted)]
        assert [i for i, _ in got] == list(wanted)
        assert all(i == code for i, code in got)


def test_index_counts_frames_and_keyframes(videos):
    index = index_video(videos["mp4_bframes"])
    assert index.n_frames == 240 and index.fps == 30
    assert (index.width, index.height) == (SIZE, SIZE)
    assert list(index.keyframes[:3]) == [0, 10, 20]


def test_reader_does_not_trust_a_seek(videos, monkeypatch):
    """A demuxer that seeks to the wrong keyframe (too late) must not yield a wrong frame."""
    index = index_video(videos["mp4_bframes"])
    original = VideoReader._seek_container

    def seek_too_far(self, pts):
        original(self, pts + 25 * int(index.pts[1] - index.pts[0]))

    monkeypatch.setattr(VideoReader, "_seek_container", seek_too_far)
    wanted = [5, 47, 48, 131, 200, 239]
    with VideoReader(index) as reader:
        assert [read_code(rgb(frame))[0] for _, frame in reader.read(wanted)] == wanted


def test_reader_rejects_bad_requests(videos):
    index = index_video(videos["mp4_bframes"])
    with VideoReader(index) as reader, pytest.raises(ValueError, match="increase"):
        list(reader.read([5, 5]))
    with VideoReader(index) as reader, pytest.raises(IndexError, match="a.mp4"):
        list(reader.read([240]))


def test_missing_and_unreadable_videos_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere.mp4"):
        index_video(tmp_path / "nowhere.mp4")
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"not a video at all" * 100)
    with pytest.raises(ValueError, match="garbage.mp4"):
        index_video(garbage)


# -- grid movies -------------------------------------------------------------------------------


def jitter(frame_index):
    """Per-frame centroid offset in -24..24, so every frame has its own crop."""
    return ((frame_index * 7) % 49) - 24, ((frame_index * 11) % 49) - 24


def centroid_track(n_frames):
    offsets = np.array([jitter(t) for t in range(n_frames)], dtype=float)
    return SIZE / 2 + offsets + 0.3  # fractional part is floored


def run_states(rng, n_frames, n_states, rare_state):
    lengths = rng.integers(3, 30, n_frames)
    labels = rng.integers(0, n_states, n_frames)
    states = np.repeat(labels, lengths)[:n_frames]
    states[states == rare_state] = 0
    return states


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    folder = tmp_path_factory.mktemp("recordings")
    rng = np.random.default_rng(42)
    lengths = {"rec_a.csv": 260, "rec_b.csv": 200, "rec_c.csv": 150}
    video_frames = {"rec_a.csv": 260, "rec_b.csv": 200, "rec_c.csv": 130}  # rec_c's video is short
    states, videos, centroids = {}, {}, {}
    for name, n in lengths.items():
        states[name] = run_states(rng, n, 3, rare_state=3)
        videos[name] = write_coded_video(folder / name.replace(".csv", ".mp4"), video_frames[name])
        centroids[name] = centroid_track(n)
    states["rec_c.csv"][100:112] = 3  # the rare state: two instances only
    states["rec_c.csv"][140:150] = 3  # ...one of them running past the end of the video
    return states, videos, centroids, video_frames


def expected_tile(instance, t, video_frames):
    """(source frame, 'bright' | 'dim' | 'black') shown at output time t by a tile."""
    if instance is None:
        return None, "black"
    recording, start, end = instance
    source = start + t
    if source >= video_frames[recording]:
        return None, "black"
    return source, "bright" if source < end else "dim"


def tile_at(image, slot, cols):
    r, c = divmod(slot, cols)
    return image[r * WINDOW : (r + 1) * WINDOW, c * WINDOW : (c + 1) * WINDOW]


@pytest.fixture(scope="module")
def movies(dataset, tmp_path_factory):
    states, videos, centroids, _ = dataset
    output = tmp_path_factory.mktemp("movies")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        instances = generate_grid_movies(
            states, videos, centroids, output_dir=output, rows=2, cols=3,
            max_duration=40, window_size=WINDOW, progress=False,
        )  # fmt: skip
    return instances, output, caught


def test_every_tile_shows_exactly_its_frame_then_dims(dataset, movies):
    video_frames = dataset[3]
    instances, output, _ = movies
    assert sorted(instances) == [0, 1, 2, 3]
    for state in range(3):
        n_runs = sum(int(np.sum(find_runs(seq)[2] == state)) for seq in dataset[0].values())
        assert len(instances[state]) == min(6, n_runs)
    assert len(instances[3]) == 2  # fewer than rows x cols: the rest of the grid is black
    for state, tiles in instances.items():
        frames = decode_all(output / f"state{state}.mp4")
        assert len(frames) == min(40, max(end - start for _, start, end in tiles))
        assert frames[0].shape == (2 * WINDOW, 3 * WINDOW, 3)
        for t, image in enumerate(frames):
            for slot in range(6):
                instance = tiles[slot] if slot < len(tiles) else None
                source, look = expected_tile(instance, t, video_frames)
                tile = tile_at(image, slot, cols=3)
                if look == "black":
                    assert tile[1:-1, 1:-1].max() < 12, (state, t, slot)
                    continue
                dx, dy = jitter(source)
                origin = (CODE_ORIGIN - SIZE // 2 - dx + WINDOW // 2, CODE_ORIGIN - SIZE // 2 - dy + WINDOW // 2)
                code, white, black = read_code(tile, origin)
                assert code == source, (state, t, slot)
                assert black < 12
                if look == "bright":
                    assert white > 235, (state, t, slot)
                else:
                    assert 50 < white < 80, (state, t, slot)  # 255 x 0.25
                assert abs(int(tile[0, WINDOW // 2, 0]) - 100) < 20  # thin grey border


def test_instances_follow_the_states(dataset, movies):
    states = dataset[0]
    instances = movies[0]
    for state, tiles in instances.items():
        assert tiles == sorted(tiles)
        for recording, start, end in tiles:
            run = states[recording]
            assert np.all(run[start:end] == state)
            assert start == 0 or run[start - 1] != state
            assert end == len(run) or run[end] != state


def test_states_past_the_video_end_warn_with_the_count(movies):
    messages = [str(w.message) for w in movies[2]]
    assert any("rec_c.csv" in m and "20 frames past the end" in m for m in messages), messages


def test_seeded_sampling_is_reproducible(dataset, tmp_path):
    states, videos, centroids, _ = dataset
    kwargs = dict(rows=1, cols=2, max_duration=2, window_size=32, progress=False, seed=7)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        first = generate_grid_movies(states, videos, centroids, output_dir=tmp_path / "a", **kwargs)
        second = generate_grid_movies(states, videos, centroids, output_dir=tmp_path / "b", **kwargs)
    assert first == second
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == [f"state{s}.mp4" for s in range(4)]


def test_named_states_name_their_movies(dataset, tmp_path):
    states, videos, centroids, _ = dataset
    kwargs = dict(rows=1, cols=2, max_duration=2, window_size=32, progress=False, seed=7)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        named = generate_grid_movies(states, videos, centroids, output_dir=tmp_path, names={1: "groom", 3: "rear up"}, **kwargs)
        plain = generate_grid_movies(states, videos, centroids, output_dir=tmp_path / "plain", **kwargs)
    assert named == plain  # the same instances, only the files are named
    movies = ["state0.mp4", "state1_groom.mp4", "state2.mp4", "state3_rear_up.mp4"]
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == movies
    assert [len(decode_all(tmp_path / m)) for m in movies] == [len(decode_all(tmp_path / "plain" / f"state{s}.mp4")) for s in range(4)]


def test_heading_rotation_and_labels(tmp_path):
    video = write_coded_video(tmp_path / "v.mp4", 30)
    states = {"v": np.zeros(30, int)}
    centroids = {"v": np.full((30, 2), SIZE / 2)}
    common = dict(rows=1, cols=1, window_size=WINDOW, progress=False)
    plain = decode_all(_movie(states, {"v": video}, centroids, tmp_path / "plain", **common))
    heading_zero = {"v": np.zeros(30)}
    zero = decode_all(_movie(states, {"v": video}, centroids, tmp_path / "zero", headings=heading_zero, **common))
    assert all(np.array_equal(a, b) for a, b in zip(plain, zero))  # heading 0: no rotation

    # heading pi: the animal faces left, so the tile is turned half a turn
    heading_pi = {"v": np.full(30, np.pi)}
    flipped = decode_all(_movie(states, {"v": video}, centroids, tmp_path / "pi", headings=heading_pi, **common))
    for t, image in enumerate(flipped):
        upright = image[::-1, ::-1]
        origin = CODE_ORIGIN - SIZE // 2 + WINDOW // 2 - 1
        assert read_code(upright, (origin, origin))[0] == t

    labelled = decode_all(_movie(states, {"v": video}, centroids, tmp_path / "label", labels=True, **common))
    corner = labelled[0][2:20, 2:WINDOW // 2].astype(int)
    plain_corner = plain[0][2:20, 2:WINDOW // 2].astype(int)
    assert (corner > 200).sum() > 20 and (plain_corner > 200).sum() == 0  # white text on the grey


def _movie(states, videos, centroids, output, **kwargs):
    generate_grid_movies(states, videos, centroids, output_dir=output, **kwargs)
    return output / "state0.mp4"


def test_crop_is_zero_padded_at_the_frame_edge(tmp_path):
    video = write_coded_video(tmp_path / "v.mp4", 5)
    movie = _movie(
        {"v": np.zeros(5, int)}, {"v": video}, {"v": np.full((5, 2), 10.0)}, tmp_path / "edge",
        rows=1, cols=1, window_size=WINDOW, progress=False,
    )  # fmt: skip
    tile = decode_all(movie)[0]
    outside = 64 - 10  # the frame's first column/row lands at tile pixel 54
    assert tile[2 : outside - 2, 2:-2].max() < 12 and tile[2:-2, 2 : outside - 2].max() < 12
    assert abs(tile[outside + 4 : 100, outside + 4 : 100].mean() - BACKGROUND) < 8  # frame pixels 4..45


@pytest.mark.filterwarnings("ignore:recording 'rec_c.csv'")
def test_bad_inputs_name_the_recording_or_file(dataset, tmp_path):
    states, videos, centroids, _ = dataset
    kwargs = dict(output_dir=tmp_path, window_size=32, max_duration=2, progress=False)

    missing = dict(videos, **{"rec_a.csv": str(tmp_path / "lost.mp4")})
    with pytest.raises(FileNotFoundError, match="lost.mp4"):
        generate_grid_movies(states, missing, centroids, **kwargs)

    (tmp_path / "broken.mp4").write_bytes(b"\x00" * 4096)
    broken = dict(videos, **{"rec_b.csv": str(tmp_path / "broken.mp4")})
    with pytest.raises(ValueError, match="broken.mp4"):
        generate_grid_movies(states, broken, centroids, **kwargs)

    short = dict(centroids, **{"rec_b.csv": centroids["rec_b.csv"][:150]})
    with pytest.raises(ValueError, match=r"centroid track of recording 'rec_b.csv' has 150 frames"):
        generate_grid_movies(states, videos, short, **kwargs)

    holes = dict(centroids, **{"rec_a.csv": centroids["rec_a.csv"].copy()})
    holes["rec_a.csv"][:, 0] = np.nan  # tracking lost for the whole recording: nothing to interpolate from
    with pytest.warns(UserWarning, match="rec_a.csv.*tiles skipped.*NaN"):
        shown = generate_grid_movies(states, videos, holes, **dict(kwargs, output_dir=tmp_path / "holes"))
    assert all(recording != "rec_a.csv" for tiles in shown.values() for recording, _, _ in tiles)

    with pytest.raises(ValueError, match="no video path for recording 'rec_c.csv'"):
        generate_grid_movies(states, {k: v for k, v in videos.items() if k != "rec_c.csv"}, centroids, **kwargs)

    with pytest.raises(ValueError, match="window_size"):
        generate_grid_movies(states, videos, centroids, **dict(kwargs, window_size=33))


def test_other_codecs_pixel_formats_and_frame_rates(tmp_path):
    """A full-range MJPEG source at 25 fps, re-encoded with MPEG-4 Part 2 at a chosen rate."""
    video = write_coded_video(
        tmp_path / "v.avi", 12, fmt="avi", codec="mjpeg", options={"q:v": "2"}, rate=25, pix_fmt="yuvj420p"
    )
    states, centroids = {"v": np.zeros(12, int)}, {"v": np.full((12, 2), SIZE / 2)}
    common = dict(rows=1, cols=1, window_size=WINDOW, progress=False)
    movie = _movie(states, {"v": video}, centroids, tmp_path / "same_rate", **common)
    with av.open(str(movie)) as container:
        assert container.streams.video[0].average_rate == 25
    mpeg4 = dict(codec="mpeg4", fps=10, encoder_options={"qscale": "2"})
    movie = _movie(states, {"v": video}, centroids, tmp_path / "mpeg4", **mpeg4, **common)
    with av.open(str(movie)) as container:
        assert container.streams.video[0].average_rate == 10
        assert container.streams.video[0].codec_context.name == "mpeg4"
    origin = CODE_ORIGIN - SIZE // 2 + WINDOW // 2
    for t, image in enumerate(decode_all(movie)):
        code, white, black = read_code(image, (origin, origin))
        assert code == t and white > 235 and black < 15
    with pytest.raises(ValueError, match="no-such-codec"):
        _movie(states, {"v": video}, centroids, tmp_path / "bad", codec="no-such-codec", **common)


def test_short_gaps_are_interpolated_longer_ones_are_not():
    track = np.array([[0.0, 10], [np.nan, np.nan], [np.nan, np.nan], [3, 40], [np.nan, np.nan], [5, 60]])
    filled, count = fill_short_gaps(track, max_gap=2)
    np.testing.assert_allclose(filled, [[0, 10], [1, 20], [2, 30], [3, 40], [4, 50], [5, 60]])
    assert count == 3
    filled, count = fill_short_gaps(track, max_gap=1)  # the two-frame gap is too long
    assert count == 1 and np.isnan(filled[1:3]).all() and filled[4].tolist() == [4, 50]
    edges = np.array([[np.nan, np.nan], [1.0, 1.0], [np.nan, np.nan]])  # nothing on one side: left as is
    assert fill_short_gaps(edges, max_gap=5)[1] == 0
    angles, count = fill_short_gaps(np.array([3.0, np.nan, -3.0]), max_gap=1, angles=True)
    assert count == 1 and abs(abs(angles[1]) - np.pi) < 1e-9  # across ±π, not through 0


def test_published_signature_and_a_filled_gap(dataset, tmp_path):
    states, videos, centroids, _ = dataset
    gappy = dict(centroids, **{name: track.copy() for name, track in centroids.items()})
    for track in gappy.values():
        track[5:8] = np.nan
    # the published positional order: ..., max_duration, dimming_factor, quality, window_size
    with pytest.warns(UserWarning, match="filled 3 frames"):
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*past the end")
            shown = generate_grid_movies(states, videos, gappy, tmp_path, 1, 1, 4, 0.25, 9, 32, progress=False)
    assert sorted(p.name for p in tmp_path.glob("*.mp4")) == [f"state{s}.mp4" for s in shown]


def test_the_movies_command_replaces_a_movie_named_before(dataset, tmp_path):
    from types import SimpleNamespace

    from smoseq.cli.commands import run_movies

    states, videos, centroids, _ = dataset
    recordings = SimpleNamespace(videos=videos, centroids=centroids, sources={})
    options = dict(rows=1, cols=1, max_duration=2, window_size=32, min_duration=1, labels=False, seed=0)
    (tmp_path / "notes.mp4").write_bytes(b"")  # not a state's movie: kept
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run_movies(states, recordings, tmp_path, **options)
        run_movies(states, recordings, tmp_path, names={1: "groom"}, **options)
        names = sorted(p.name for p in tmp_path.iterdir())
        assert names == ["notes.mp4", "state0.mp4", "state1_groom.mp4", "state2.mp4", "state3.mp4"]
        run_movies(states, recordings, tmp_path, names={1: "walk"}, **options)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.mp4", "state0.mp4", "state1_walk.mp4", "state2.mp4", "state3.mp4"]
