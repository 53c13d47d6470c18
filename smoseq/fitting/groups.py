"""Grouped fits: the group of every segment, and the per-group transition matrices kept after a burn-in.

`sm.fit(..., groups=...)` reads the sheet (`sm.load_groups`), gives every batched segment
its recording's group index (segments of one recording share it), fits
`GroupedTransitions`, and keeps the (G, K, K) matrices of every iteration from
`burn_in(n_iters)` on, the posterior samples `sm.compare_group_dynamics` summarises.
"""

from dataclasses import dataclass, field

import equinox as eqx
import jax.numpy as jnp
import numpy as np

from .._errors import InputError
from ..io.groups import group_names, load_groups
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
        index into `names`, and recording -> group label.

    Raises:
        InputError: a recording without a group, a name in the sheet that matches no
            recording (`sm.load_groups`), or a group not among `names`.
    """
    recordings = list(dict.fromkeys(str(key) for key in prepared.keys))
    group_of = load_groups(groups, recordings)
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
    """Collects every chain's (G, K, K) transition matrices at every iteration from `first` on."""

    first: int
    samples: list = field(default_factory=list)

    def record(self, chains, iteration: int) -> None:
        """`after_iteration` hook of `Chains.run`: keeps the (M, G, K, K) matrices of the M chains."""
        if iteration >= self.first:
            self.samples.append(np.asarray(chains.state.model.transitions.probs))

    def array(self, chain: int = 0) -> np.ndarray | None:
        """(n_kept, G, K, K) float of one chain, or None when nothing was kept."""
        return np.stack([sample[chain] for sample in self.samples]) if self.samples else None
