"""The published `state_moseq.util` names under `smoseq.util` and `sm.*`, on hand-worked cases."""

import h5py
import jax.random as jr
import numpy as np
import pytest

import smoseq as sm


def test_lab_script_imports_and_star_import_names():
    from smoseq.util import count_transitions, get_adjusted_rand, get_frequencies, sample_instances  # noqa: F401

    for name in ("count_transitions", "simulate_markov_chain", "cross_sequence_mutual_information", "save_hdf5",
                 "load_hdf5", "get_frequencies", "compare_states", "batch", "unbatch", "raise_dim", "lower_dim"):  # fmt: skip
        assert getattr(sm, name) is getattr(sm.util, name), name


def test_count_transitions_counts_from_unmasked_frames():
    # transitions 0->1, 1->1, 1->0, 0->0; the last frame's mask never matters, frame 2's is 0
    counts = sm.count_transitions(np.array([0, 1, 1, 0, 0]), np.array([1, 1, 0, 1, 1]), 2)
    np.testing.assert_array_equal(counts, [[1, 1], [0, 1]])


def test_simulate_markov_chain_follows_the_matrices():
    cycle = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])
    states = sm.simulate_markov_chain(jr.key(0), cycle, 7, init_probs=np.array([1.0, 0.0, 0.0]))
    assert np.asarray(states).tolist() == [1, 2, 0, 1, 2, 0, 1]  # the initial state 0 is not returned
    stay, swap = np.eye(2), np.array([[0.0, 1.0], [1.0, 0.0]])
    per_step = np.stack([swap, stay, swap, swap])
    states = sm.simulate_markov_chain(jr.key(1), per_step, 4, init_probs=np.array([0.0, 1.0]))
    assert np.asarray(states).tolist() == [0, 0, 1, 0]


def test_cross_sequence_mutual_information():
    same = np.array([0, 1, 0, 1, 1, 0])
    assert sm.cross_sequence_mutual_information(same, same, np.ones(6), 2, 0.0) == pytest.approx(np.log(2))
    # every pair once: independent -> 0
    assert sm.cross_sequence_mutual_information([0, 0, 1, 1], [0, 1, 0, 1], np.ones(4), 2, 0.0) == pytest.approx(0.0)
    # masked frames are not counted: the first four are identical pairs
    mask = np.array([1, 1, 1, 1, 0, 0])
    assert sm.cross_sequence_mutual_information([0, 1, 0, 1, 0, 1], [0, 1, 0, 1, 1, 0], mask, 2, 0.0) == pytest.approx(np.log(2))


def test_hdf5_round_trip_in_the_published_layout(tmp_path):
    path = tmp_path / "results.h5"
    tree = {"states": {"mouse 1": np.arange(5)}, "names": np.array(["a", "bb"]), "params": [np.ones(2)] * 12,
            "pair": (1, "x"), "kappa": 1e4}  # fmt: skip
    sm.save_hdf5(path, tree)
    loaded = sm.load_hdf5(path)
    np.testing.assert_array_equal(loaded["states"]["mouse 1"], np.arange(5))
    assert loaded["names"].tolist() == ["a", "bb"] and loaded["pair"] == (1, "x") and loaded["kappa"] == 1e4
    assert isinstance(loaded["params"], list) and len(loaded["params"]) == 12
    with h5py.File(path) as file:  # the published layout: typed groups, items arr0, arr1, ...
        assert file["params"].attrs["type"] == "list" and "arr11" in file["params"]
    sm.save_hdf5(path, {"a": 1}, datapath="extra")
    assert sm.load_hdf5(path, "extra") == {"a": 1}
    with pytest.raises(TypeError, match="object"):
        sm.save_hdf5(path, {"bad": object()})
    with pytest.raises(sm.ModelFileError, match="missing"):
        sm.load_hdf5(tmp_path / "none.h5")


def test_list_items_come_back_in_numeric_order(tmp_path):
    path = tmp_path / "order.h5"
    sm.save_hdf5(path, {"items": [np.array(i) for i in range(12)]})
    assert [int(x) for x in sm.load_hdf5(path)["items"]] == list(range(12))
