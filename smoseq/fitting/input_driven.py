"""Input-driven fits: what is kept after the burn-in for `sm.compare_covariate_effects`.

`sm.fit(..., transitions="input_driven", inputs=..., covariates=...)` keeps, from
`burn_in(n_iters)` on,

- the (K, P+1) leaving coefficients of `InputDrivenTransitions` at every iteration
  (`CoefficientSamples`, the model's own posterior samples), and
- every recording's transition counts of the sampled states split by the features of the
  frame entered (`FeatureCounts`): c[r, u, i, j] = frames of recording r in state i
  followed by state j on a frame whose features are the row u of `rows`, averaged over
  the kept iterations, and the counts of up to `MAX_DRAWS` kept iterations evenly spaced
  (the draws). The calibrated effect estimates are computed from the draws
  (`smoseq.metrics.covariate_effects`: one estimate per draw, combined by Rubin's rules, so
  that how uncertain the states are enters the intervals).
"""

from dataclasses import dataclass, field

import numpy as np

from ..io.batching import unbatch
from ..models import frame_features
from .data import Prepared

MAX_LEVELS = 32
MAX_DRAWS = 20


@dataclass
class CoefficientSamples:
    """Collects every chain's (K, P+1) coefficients at every iteration from `first` on."""

    first: int
    samples: list = field(default_factory=list)

    def record(self, chains, iteration: int) -> None:
        """`after_iteration` hook of `Chains.run`: keeps the (M, K, P+1) coefficients of the M chains."""
        if iteration >= self.first:
            self.samples.append(np.asarray(chains.state.model.transitions.coefficients))

    def array(self, chain: int = 0) -> np.ndarray | None:
        """(n_kept, K, P+1) float of one chain, or None when nothing was kept."""
        return np.stack([sample[chain] for sample in self.samples]) if self.samples else None


def feature_levels(features: np.ndarray, max_levels: int = MAX_LEVELS) -> np.ndarray:
    """The features with every column of more than `max_levels` distinct values replaced by its bin means.

    A continuous input is cut at its quantiles into `max_levels` bins and every value
    replaced by the mean of its bin, so that frames collapse onto few distinct rows (the
    effect estimates then regress on the bin means; binary, categorical and per-recording
    columns are unchanged).

    Args:
        features: (F, P) float, the features of F frames.
        max_levels: the most distinct values a column keeps.

    Returns:
        (F, P) float.
    """
    out = np.array(features, dtype=float)
    for p in range(out.shape[1]):
        column = out[:, p]
        if np.unique(column).size > max_levels:
            edges = np.quantile(column, np.linspace(0, 1, max_levels + 1)[1:-1])
            bins = np.searchsorted(edges, column, side="right")
            means = np.bincount(bins, column, max_levels) / np.maximum(np.bincount(bins, minlength=max_levels), 1)
            out[:, p] = means[bins]
    return out


@dataclass
class FeatureCounts:
    """Sums, over the kept iterations, every chain's per-recording transition counts split by the entered frame's features.

    Recordings are in the order of `prepared.keys` (as `unbatch` lists them); `rows` (U, P)
    are the distinct feature rows (`feature_levels`) and `codes` maps every recording's
    frames to them. `total` is (M, R, U, K, K) for the M chains (`sm.fit`: one; `sm.fit_models`:
    one per model), allocated at the first kept iteration; `draws` lists the (M, R, U, K, K)
    counts of every `every`-th kept iteration (at most `MAX_DRAWS` of the `n_iters − first`).
    """

    first: int
    prepared: Prepared
    n_states: int
    n_iters: int
    rows: np.ndarray = None
    codes: list = None
    total: np.ndarray = None
    n_kept: int = 0
    draws: list = field(default_factory=list)

    def __post_init__(self):
        data = self.prepared.data
        per_recording = unbatch(np.asarray(frame_features(data)), self.prepared.keys, self.prepared.bounds)
        lengths = [len(values) for values in per_recording.values()]
        levels = feature_levels(np.concatenate(list(per_recording.values())))
        self.rows, inverse = np.unique(levels, axis=0, return_inverse=True)
        self.codes = np.split(inverse.reshape(-1), np.cumsum(lengths)[:-1])
        self.every = max(1, -(-(self.n_iters - self.first) // MAX_DRAWS))

    def record(self, chains, iteration: int) -> None:
        """`after_iteration` hook of `Chains.run`: adds every chain's counts of this iteration."""
        if iteration < self.first:
            return
        all_states = np.asarray(chains.state.states)  # (M, N, T) segment states
        K, U = self.n_states, len(self.rows)
        counts = np.zeros((len(all_states), len(self.codes), U, K, K))
        for m, chain in enumerate(all_states):
            states = unbatch(chain, self.prepared.keys, self.prepared.bounds)
            for r, sequence in enumerate(states.values()):
                sequence = np.asarray(sequence, dtype=np.int64)
                flat = (self.codes[r][1:] * K + sequence[:-1]) * K + sequence[1:]
                counts[m, r] = np.bincount(flat, minlength=U * K * K).reshape(U, K, K)
        self.total = counts if self.total is None else self.total + counts
        if (iteration - self.first) % self.every == 0:
            self.draws.append(counts.astype(np.float32))
        self.n_kept += 1

    def mean(self, chain: int = 0) -> np.ndarray | None:
        """(R, U, K, K) float32 counts of one chain averaged over the kept iterations, or None when nothing was kept."""
        return (self.total[chain] / self.n_kept).astype(np.float32) if self.n_kept else None

    def draws_array(self, chain: int = 0) -> np.ndarray | None:
        """(D, R, U, K, K) float32 counts of one chain at the D kept draws, or None when nothing was kept."""
        return np.stack([draw[chain] for draw in self.draws]) if self.draws else None
