"""State instances (runs) and their reproducible sampling."""

import jax
import numpy as np
import pytest

from smoseq.metrics.instances import find_runs, sample_instances


def test_find_runs():
    starts, ends, values = find_runs(np.array([4, 4, 1, 1, 1, 4, 2]))
    assert starts.tolist() == [0, 2, 5, 6] and ends.tolist() == [2, 5, 6, 7] and values.tolist() == [4, 1, 4, 2]
    assert [a.size for a in find_runs(np.array([], int))] == [0, 0, 0]


@pytest.fixture
def states():
    rng = np.random.default_rng(0)
    return {f"r{i}": np.repeat(rng.integers(0, 4, 200), rng.integers(1, 20, 200))[:1000] for i in range(3)}


def all_runs(states):
    runs = {}
    for recording, seq in states.items():
        for start, end, state in zip(*find_runs(seq)):
            runs.setdefault(int(state), []).append((recording, int(start), int(end)))
    return runs


def test_every_run_when_asking_for_more_than_exist(states):
    assert sample_instances(states, 10_000) == {s: sorted(r) for s, r in all_runs(states).items()}


def test_subset_is_reproducible_sorted_and_seed_dependent(states):
    first = sample_instances(states, 12, seed=3)
    assert first == sample_instances(dict(reversed(states.items())), 12, seed=3)  # order of keys irrelevant
    assert first != sample_instances(states, 12, seed=4)
    runs = all_runs(states)
    for state, instances in first.items():
        assert len(instances) == 12 and instances == sorted(instances)
        assert set(instances) <= set(runs[state])


def test_jax_keys_and_min_duration(states):
    typed = sample_instances(states, 5, seed=jax.random.key(7))
    assert typed == sample_instances(states, 5, seed=jax.random.PRNGKey(7))
    long_only = sample_instances(states, 10_000, min_duration=15)
    assert all(end - start >= 15 for runs in long_only.values() for _, start, end in runs)


def test_one_state_does_not_disturb_another(states):
    changed = dict(states, r0=np.where(states["r0"] == 3, 0, states["r0"]))  # removes state 3 from r0
    assert sample_instances(states, 6, seed=1)[1] == sample_instances(changed, 6, seed=1)[1]


def test_negative_labels_are_not_instances():
    assert sample_instances({"a": np.array([-1, -1, 0, 0, -1])}, 5) == {0: [("a", 2, 4)]}
