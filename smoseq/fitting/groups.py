"""Grouped fits: the group of every segment, and the per-group transition matrices kept after a burn-in.

`sm.fit(..., groups=...)` reads the sheet (`sm.load_groups`), gives every batched segment
its recording's group index (segments of one recording share it), fits
`GroupedTransitions`, and keeps, at every iteration from `burn_in(n_iters)` on, the
(G, K, K) matrices and every recording's (K, K) transition counts of the sampled
states: those counts are what `sm.compare_group_dynamics` estimates from.
"""

from dataclasses import dataclass, field

import equinox as eqx
import jax.numpy as jnp
import numpy as np

from .._errors import InputError
from ..io.batching import unbatch
from ..io.groups import group_names, load_groups
from ..metrics.group_dynamics import transition_counts
from .data import Prepared


def burn_in(n_iters: int) -> int:
    """Iterations discarded before per-group matrices are kept: the first half (`n_iters // 2`).

    Gibbs chains of this model settle within tens of iterations from the data-driven
    start; discarding half is the usual conservative rule and leaves n_iters − n_iters // 2
    samples for the credible intervals.
    """
    return n_iters // 2


def with_groups(prepared: Prepared, groups, names=None) -> tuple[Prepared, dict[str, str], tuple[str, ...]]:
    """The batched data with every segment's group index, the group of every recording, and the group names.

    Args:
        prepared: batched recordings (`prepare_data`); `keys` (N,) name each segment's recording.
        groups: a `name,group` CSV path or a dict recording -> group (`sm.load_groups`).
        names: the group labels the indices refer to (a fitted model's `group_names`);
            default: the sorted labels of `groups`.

    Returns:
        `(prepared, group_of, names)`: `prepared` whose `data.groups` (N,) is each segment's
        index into `names`, and recording -> group label (in the order of the recordings).

    Raises:
        InputError: a recording without a group, a name in the sheet that matches no
            recording (`sm.load_groups`), or a group not among `names`.
    """
    recordings = list(dict.fromkeys(str(key) for key in prepared.keys))
    sheet = load_groups(groups, recordings)
    group_of = {recording: sheet[recording] for recording in recordings}
    if names is None:
        names = tuple(group_names(group_of))
    unknown = sorted(set(group_of.values()) - set(names))
    if unknown:
        raise InputError(f"group(s) {', '.join(map(repr, unknown))} are not among the model's groups {list(names)}")
    names = tuple(names)
    index = np.array([names.index(group_of[str(key)]) for key in prepared.keys], dtype=np.int32)
    data = prepared.data
    grouped = eqx.tree_at(lambda d: d.groups, data, jnp.asarray(index), is_leaf=lambda x: x is None)
    return Prepared(grouped, prepared.keys, prepared.bounds, prepared.n_syllables), group_of, names


@dataclass
class TransitionSamples:
    """Collects, for every chain at every iteration from `first` on, the (G, K, K) transition matrices
    and the (R, K, K) transition counts of each recording's sampled states (recordings in the
    order of `prepared.keys`, as `with_groups` lists them)."""

    first: int
    prepared: Prepared
    samples: list = field(default_factory=list)
    counts: list = field(default_factory=list)

    def record(self, chains, iteration: int) -> None:
        """`after_iteration` hook of `Chains.run`: keeps the (M, G, K, K) matrices and (M, R, K, K) counts."""
        if iteration < self.first:
            return
        transitions = chains.state.model.transitions
        self.samples.append(np.asarray(transitions.probs))
        states = np.asarray(chains.state.states)  # (M, N, T) segment states
        keys, bounds = self.prepared.keys, self.prepared.bounds
        self.counts.append(np.stack([
            transition_counts(unbatch(chain, keys, bounds).values(), transitions.n_states) for chain in states
        ]).astype(np.float32))  # fmt: skip

    def array(self, chain: int = 0) -> np.ndarray | None:
        """(n_kept, G, K, K) float matrices of one chain, or None when nothing was kept."""
        return np.stack([sample[chain] for sample in self.samples]) if self.samples else None

    def counts_array(self, chain: int = 0) -> np.ndarray | None:
        """(n_kept, R, K, K) float32 per-recording transition counts of one chain, or None when nothing was kept."""
        return np.stack([counts[chain] for counts in self.counts]) if self.counts else None
