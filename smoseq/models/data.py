"""The observed data as every component sees it: padded syllables, the frame mask, the evidence mask,
and optional groups, per-recording covariates, per-frame inputs, and which repeats setting is in use."""

import dataclasses

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float, Int


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
        covariates: (N, C) float or None, each sequence's recording's row of the
            per-recording covariate table (`sm.fit(..., covariates=)`; categorical columns
            one-hot, see `smoseq.io.covariates`).
        inputs: (N, T, D) float or None, per-frame inputs segmented and padded like the
            syllables (padding frames repeat the last real frame; `mask` tells them apart).
        covariate_names: static, the C column names of `covariates` (empty when None).
        input_names: static, the D names of the input columns (empty when None).
        repeats: static, `"model"` (every syllable transition is an event, repeats included)
            or `"ignore"` (frames that repeat the previous syllable carry no evidence, and
            the emissions are the distribution of the next *different* syllable: a component
            must give the diagonal x_t = x_{t−1} no mass, see `possible_transitions`). Default:
            `"ignore"` when an `evidence` mask is given (what `without_repeats` builds), else `"model"`.

    Raises:
        ValueError: shapes that do not match, or an unknown `repeats`.
    """

    syllables: Int[Array, "N T"]
    mask: Float[Array, "N T"]
    evidence: Float[Array, "N T"] | None
    groups: Int[Array, " N"] | None
    covariates: Float[Array, "N C"] | None
    inputs: Float[Array, "N T D"] | None
    covariate_names: tuple[str, ...] = eqx.field(static=True)
    input_names: tuple[str, ...] = eqx.field(static=True)
    repeats: str = eqx.field(static=True)

    def __init__(
        self, syllables, mask, evidence=None, groups=None, covariates=None, inputs=None, covariate_names=(),
        input_names=(), repeats=None,
    ):  # fmt: skip
        self.syllables = jnp.asarray(syllables, dtype=jnp.int32)
        self.mask = jnp.asarray(mask, dtype=float)
        self.evidence = None if evidence is None else jnp.asarray(evidence, dtype=float)
        self.groups = None if groups is None else jnp.asarray(groups, dtype=jnp.int32)
        self.covariates = None if covariates is None else jnp.asarray(covariates, dtype=float)
        self.inputs = None if inputs is None else jnp.asarray(inputs, dtype=float)
        self.covariate_names = tuple(str(name) for name in covariate_names)
        self.input_names = tuple(str(name) for name in input_names)
        self.repeats = ("model" if evidence is None else "ignore") if repeats is None else repeats

    def __check_init__(self):
        if self.syllables.shape != self.mask.shape or self.syllables.ndim != 2:
            raise ValueError(f"syllables and mask must both be (N, T); got {self.syllables.shape}, {self.mask.shape}")
        if self.evidence is not None and self.evidence.shape != self.mask.shape:
            raise ValueError(f"evidence must be (N, T) like the mask; got {self.evidence.shape}")
        if self.repeats not in ("model", "ignore"):
            raise ValueError(f"repeats must be 'model' or 'ignore', got {self.repeats!r}")
        if self.groups is not None and self.groups.shape != self.mask.shape[:1]:
            raise ValueError(f"groups must be (N,), one per sequence; got {self.groups.shape} for {self.mask.shape[0]} sequences")
        _check_columns("covariates", self.covariates, self.mask.shape[:1], self.covariate_names)
        _check_columns("inputs", self.inputs, self.mask.shape, self.input_names)

    @property
    def n_sequences(self) -> int:
        return self.syllables.shape[0]

    def possible_transitions(self, n_syllables: int) -> Bool[Array, "S S"]:
        """Which syllable transitions i → j the emissions must give mass to under this setting.

        Args:
            n_syllables: S.

        Returns:
            (S, S) bool: all True with `repeats="model"`; False on the diagonal with `"ignore"`.
        """
        return possible_transitions(n_syllables, self.repeats)

    @property
    def emission_mask(self) -> Float[Array, "N T"]:
        """(N, T) weight of each frame's emission term: `evidence`, or `mask` when None."""
        return self.mask if self.evidence is None else self.evidence


def _check_columns(field: str, values, leading: tuple, names: tuple) -> None:
    """`values` is None (and `names` empty), or (*leading, len(names)) (names optional)."""
    if values is None:
        if names:
            raise ValueError(f"{field} names were given without {field}")
        return
    if values.shape[:-1] != leading or values.ndim != len(leading) + 1:
        raise ValueError(f"{field} must be {(*leading, 'columns')}; got {values.shape}")
    if names and len(names) != values.shape[-1]:
        raise ValueError(f"{field} have {values.shape[-1]} columns but {len(names)} names")


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
        `SyllableData` with `evidence = mask · 1[x_t ≠ x_{t-1}]` (frame 0 keeps `mask`) and
        `repeats="ignore"`.
    """
    changed = jnp.concatenate(
        [jnp.ones_like(data.syllables[:, :1], dtype=bool), data.syllables[:, 1:] != data.syllables[:, :-1]], axis=1
    )
    return dataclasses.replace(data, evidence=data.mask * changed, repeats="ignore")


def possible_transitions(n_syllables: int, repeats: str = "model") -> Bool[Array, "S S"]:
    """(S, S) bool: every transition with `repeats="model"`, every i → j with j ≠ i with `"ignore"`.

    Args:
        n_syllables: S.
        repeats: `"model"` or `"ignore"`.

    Returns:
        (S, S) bool array.
    """
    if repeats == "ignore":
        return ~jnp.eye(n_syllables, dtype=bool)
    return jnp.ones((n_syllables, n_syllables), bool)


def compact_dtype(n_values: int) -> np.dtype:
    """The smallest unsigned integer dtype holding 0 … `n_values` − 1: uint8 (≤ 256), uint16 (≤ 65536), else int32."""
    if n_values <= 2**8:
        return np.dtype(np.uint8)
    if n_values <= 2**16:
        return np.dtype(np.uint16)
    return np.dtype(np.int32)


def compact_data(syllables, mask, evidence=None, repeats=None) -> SyllableData:
    """A `SyllableData` as a fit holds it between steps: 1 byte per frame per array where the values allow.

    The syllables keep their unsigned dtype (`compact_dtype` of their largest value), and
    a 0/1 mask and evidence are held as bool, as NumPy arrays (no device copy). Components
    never see this form: the chunked Gibbs step cuts rows of it and rebuilds each chunk with
    `SyllableData(...)` (`dataclasses.replace`), which gives the documented int32
    syllables and float masks; `widened` does the same for the whole batch.

    Args:
        syllables: (N, T) non-negative integer syllables.
        mask: (N, T) 1 for real frames, 0 for padding.
        evidence: (N, T) or None, as for `SyllableData`.
        repeats: as for `SyllableData`.

    Returns:
        `SyllableData` whose `syllables`, `mask`, `evidence` are compact NumPy arrays.
    """
    template = SyllableData(np.zeros((0, 0), np.int32), np.zeros((0, 0)), None if evidence is None else np.zeros((0, 0)),
                            repeats=repeats)  # fmt: skip
    fields = {"syllables": syllables, "mask": mask} | ({} if evidence is None else {"evidence": evidence})
    return compacted(eqx.tree_at(lambda d: [getattr(d, name) for name in fields], template, list(fields.values())))


def compacted(data: SyllableData) -> SyllableData:
    """`data` with its syllables, mask and evidence in the compact form of `compact_data` (other fields kept)."""
    syllables = np.asarray(data.syllables)
    syllables = syllables.astype(compact_dtype(int(syllables.max(initial=0)) + 1), copy=False)
    fields = {"syllables": syllables, "mask": _as_flags(data.mask)}
    if data.evidence is not None:
        fields["evidence"] = _as_flags(data.evidence)
    held = eqx.tree_at(lambda d: [getattr(d, name) for name in fields], data, list(fields.values()))
    held.__check_init__()
    return held


def _as_flags(values):
    """`values` as a bool array when they are all 0 or 1, else as float (a mask of weights keeps its values)."""
    values = np.asarray(values)
    if values.dtype == bool:
        return values
    flags = values != 0
    return flags if np.array_equal(flags, values) else values.astype(np.float32)


def widened(data: SyllableData) -> SyllableData:
    """`data` with the dtypes components see (int32 syllables, float mask and evidence), e.g. after `compact_data`."""
    return dataclasses.replace(data)
