"""Input layouts: the tutorial's CSV folder, keypoint-MoSeq's CSV export, keypoint-MoSeq's results.h5."""

import h5py
import numpy as np
import pandas as pd

from smoseq.io.recordings import load_recordings


def test_tutorial_csv_folder_with_videos(tmp_path):
    pd.DataFrame({"syllable": [3, 3, 1], "x": [1.0, 2.0, 3.0], "y": [4.0, 5.0, 6.0]}).to_csv(tmp_path / "a.csv", index=False)
    (tmp_path / "a.mp4").write_bytes(b"")
    recordings = load_recordings(tmp_path)
    np.testing.assert_array_equal(recordings.syllables["a"], [3, 3, 1])
    np.testing.assert_array_equal(recordings.centroids["a"], [[1, 4], [2, 5], [3, 6]])
    assert recordings.videos["a"] == tmp_path / "a.mp4"


def test_keypoint_moseq_csv_export(tmp_path):
    table = pd.DataFrame(
        {"name": ["m1"] * 4, "syllable": [0, 5, 5, 2], "centroid x": [1.0, 1.5, 2.0, 2.5],
         "centroid y": [0.0, 0.5, 1.0, 1.5], "heading": [0.0, 0.1, 0.2, 0.3], "latent_state 0": [0.1] * 4}
    )
    table.to_csv(tmp_path / "m1.csv", index=False)
    recordings = load_recordings(tmp_path)
    np.testing.assert_array_equal(recordings.syllables["m1"], [0, 5, 5, 2])
    np.testing.assert_allclose(recordings.centroids["m1"][:, 0], [1.0, 1.5, 2.0, 2.5])
    np.testing.assert_allclose(recordings.headings["m1"], [0.0, 0.1, 0.2, 0.3])


def test_keypoint_moseq_results_h5(tmp_path):
    path = tmp_path / "results.h5"
    with h5py.File(path, "w") as handle:
        for name, n in (("session_b", 5), ("session_a", 3)):
            group = handle.create_group(name)
            group["syllable"] = np.arange(n) % 3
            group["centroid"] = np.ones((n, 2))
            group["heading"] = np.zeros(n)
            group["latent_state"] = np.zeros((n, 4))
    recordings = load_recordings(path)
    assert list(recordings.syllables) == ["session_a", "session_b"]
    np.testing.assert_array_equal(recordings.syllables["session_b"], [0, 1, 2, 0, 1])
    assert recordings.centroids["session_a"].shape == (3, 2)
    assert recordings.headings["session_b"].shape == (5,)
    # a folder holding only results.h5 loads the same
    assert list(load_recordings(tmp_path).syllables) == ["session_a", "session_b"]
