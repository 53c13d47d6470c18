"""The observed data as every component sees it: padded syllables, the frame mask, the evidence mask."""

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Float, Int


class SyllableData(eqx.Module):
    """Padded syllables and their mask, as the sampler and the components consume them.

    Attributes:
        syllables: (N, T) int32 syllable per frame.
        mask: (N, T) float, 1 for real frames and 0 for padding. The hidden chain's
            frames: transition counts and per-frame normalisations use it.
        evidence: (N, T) float or None, which frames' syllable transitions are scored
            by the emissions (None: every real frame, i.e. `mask`); see `without_repeats`.
        groups: (N,) int32 or None, the experimental group (0 … G−1) of each sequence's
            recording, for transitions with one matrix per group (`GroupedTransitions`).
    """

    syllables: Int[Array, "N T"]
    mask: Float[Array, "N T"]
    evidence: Float[Array, "N T"] | None
    groups: Int[Array, " N"] | None

    def __init__(self, syllables, mask, evidence=None, groups=None):
        self.syllables = jnp.asarray(syllables, dtype=jnp.int32)
        self.mask = jnp.asarray(mask, dtype=float)
        self.evidence = None if evidence is None else jnp.asarray(evidence, dtype=float)
        self.groups = None if groups is None else jnp.asarray(groups, dtype=jnp.int32)

    def __check_init__(self):
        if self.syllables.shape != self.mask.shape or self.syllables.ndim != 2:
            raise ValueError(f"syllables and mask must both be (N, T); got {self.syllables.shape}, {self.mask.shape}")
        if self.evidence is not None and self.evidence.shape != self.mask.shape:
            raise ValueError(f"evidence must be (N, T) like the mask; got {self.evidence.shape}")
        if self.groups is not None and self.groups.shape != self.mask.shape[:1]:
            raise ValueError(f"groups must be (N,), one per sequence; got {self.groups.shape} for {self.mask.shape[0]} sequences")

    @property
    def n_sequences(self) -> int:
        return self.syllables.shape[0]

    @property
    def emission_mask(self) -> Float[Array, "N T"]:
        """(N, T) weight of each frame's emission term: `evidence`, or `mask` when None."""
        return self.mask if self.evidence is None else self.evidence


def without_repeats(data: SyllableData) -> SyllableData:
    """The same data with frames that repeat the previous frame's syllable carrying no evidence.

    Keypoint-MoSeq syllables last several frames, and how long a syllable lasts says
    little about the high-level state; scored frame by frame, the self-transitions
    swamp the informative syllable changes. With this evidence mask a state is judged
    by which syllable follows which, while the hidden chain still runs through every
    frame (durations in frames, κ per frame). Frame 0 never carries evidence anyway.

    Args:
        data: `SyllableData` (N, T).

    Returns:
        `SyllableData` with `evidence = mask · 1[x_t ≠ x_{t-1}]` (frame 0 keeps `mask`).
    """
    changed = jnp.concatenate(
        [jnp.ones_like(data.syllables[:, :1], dtype=bool), data.syllables[:, 1:] != data.syllables[:, :-1]], axis=1
    )
    return SyllableData(data.syllables, data.mask, data.mask * changed, data.groups)
