"""Applying a model a batch of recordings at a time: the same states, a bounded number of frames in memory."""

import jax.random as jr
import numpy as np
import pandas as pd
import pytest

import smoseq as sm
from smoseq._errors import InputError
from smoseq.fitting import prediction
from smoseq.fitting.streaming import recording_batches
from smoseq.io.npz_stream import NpzWriter
from smoseq.io.recordings import iter_recordings, load_recordings
from smoseq.models import low_rank_hhmm


def _folder(tmp_path, lengths=(300, 500, 200, 400, 350), n_syllables=6):
    rng = np.random.default_rng(0)
    folder = tmp_path / "recordings"
    folder.mkdir()
    for i, length in enumerate(lengths):
        pd.DataFrame({"syllable": rng.integers(0, n_syllables, length)}).to_csv(folder / f"rec{i}.csv", index=False)
    return folder


def test_batches_hold_at_most_chunk_frames_unless_one_recording_is_longer():
    recordings = [(f"r{i}", np.zeros(length, int)) for i, length in enumerate((300, 500, 200, 400, 1200, 100))]
    batches = list(recording_batches(recordings, chunk_frames=700))
    assert [list(batch) for batch in batches] == [["r0"], ["r1", "r2"], ["r3"], ["r4"], ["r5"]]
    assert [name for batch in batches for name in batch] == [name for name, _ in recordings]
    with pytest.raises(InputError, match="chunk_frames"):
        list(recording_batches(recordings, chunk_frames=0))


def test_recordings_are_read_one_at_a_time(tmp_path):
    folder = _folder(tmp_path)
    first = next(iter_recordings(folder))
    assert list(first.syllables) == ["rec0"] and len(first.syllables["rec0"]) == 300
    assert [name for batch in iter_recordings(folder) for name in batch.syllables] == [f"rec{i}" for i in range(5)]


def test_predict_states_from_a_folder_in_chunks_equals_the_whole(tmp_path, monkeypatch):
    folder = _folder(tmp_path)
    model = low_rank_hhmm(jr.key(0), 3, 6)
    whole = sm.predict_states(model, load_recordings(folder).syllables, kernel="serial")
    frames_per_call = []
    original = prediction.prepare_data

    def counting(recordings, *args, **kwargs):
        frames_per_call.append(sum(len(syllables) for syllables in recordings.values()))
        return original(recordings, *args, **kwargs)

    monkeypatch.setattr(prediction, "prepare_data", counting)
    streamed = sm.predict_states(model, folder, kernel="serial", chunk_frames=700)
    assert list(streamed) == list(whole)
    for name in whole:
        np.testing.assert_array_equal(streamed[name], whole[name])
    assert frames_per_call == [300, 700, 400, 350] and max(frames_per_call) <= 700


def test_a_syllable_the_model_does_not_know_names_the_file(tmp_path):
    folder = _folder(tmp_path, lengths=(100, 100), n_syllables=9)
    with pytest.raises(InputError, match=r"rec\d\.csv: uses syllable 8 but the model knows only 6"):
        sm.predict_states(low_rank_hhmm(jr.key(0), 3, 6), folder)


def test_npz_writer_writes_arrays_one_by_one_and_leaves_nothing_on_error(tmp_path):
    with NpzWriter(tmp_path / "out.npz") as writer:
        writer.write("a", np.arange(5))
        writer.write("names", np.array(["x", "y"]))
    with np.load(tmp_path / "out.npz", allow_pickle=False) as archive:
        assert archive["a"].tolist() == [0, 1, 2, 3, 4] and archive["names"].tolist() == ["x", "y"]
    with pytest.raises(RuntimeError):
        with NpzWriter(tmp_path / "broken.npz") as writer:
            writer.write("a", np.arange(5))
            raise RuntimeError("interrupted")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["out.npz"]


def test_cli_apply_in_chunks_writes_the_same_states(tmp_path):
    from smoseq.cli import main

    folder = _folder(tmp_path)
    fit = sm.fit(load_recordings(folder).syllables, n_states=2, n_iters=2, emissions="full_rank", progress=False,
                 n_init_iters=1)  # fmt: skip
    fit.save(tmp_path / "fit")
    assert main(["apply", str(tmp_path / "fit"), str(folder), "--out", str(tmp_path / "whole"), "--marginals"]) == 0
    assert main(["apply", str(tmp_path / "fit"), str(folder), "--out", str(tmp_path / "chunks"), "--marginals",
                 "--chunk-frames", "600"]) == 0  # fmt: skip
    for file in ("states.npz", "marginals.npz"):
        with np.load(tmp_path / "whole" / file) as whole, np.load(tmp_path / "chunks" / file) as chunks:
            assert sorted(whole.files) == sorted(chunks.files)
            for name in whole.files:  # marginals: padding to another batch length changes float rounding only
                np.testing.assert_allclose(whole[name], chunks[name], atol=1e-5) if name.startswith("marginals_") else (
                    np.testing.assert_array_equal(whole[name], chunks[name])
                )
