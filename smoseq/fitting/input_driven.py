"""Input-driven fits: the per-state logistic coefficients kept after the burn-in.

`sm.fit(..., transitions="input_driven", inputs=..., covariates=...)` keeps the (K, P+1)
coefficients of `InputDrivenTransitions` at every iteration from `burn_in(n_iters)` on,
the posterior samples `sm.compare_covariate_effects` summarises.
"""

from dataclasses import dataclass, field

import numpy as np


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
