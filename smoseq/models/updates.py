"""Parameter updates as kernel objects: `step(key, component, statistics) -> (component, info)`.

Each component draws its parameters given the hidden states with a small update object
in the BlackJAX style: the object holds the update's settings (static), `step` is a pure
function of a key, the component and the statistics the component computed, and the
info is the update's own NamedTuple (what it learned: optimizer losses, convergence,
acceptance). A component names its update in `update_kernel(...)`; its `resample` is
`self.update_kernel(...).step(key, self, statistics)`. Corrections compose: a
Metropolis–Hastings update wraps a proposal (`smoseq.models.metropolis`).

Built-ins: `DirichletRowsUpdate` (the conjugate draw of the rows of a transition table,
shared by the sticky, grouped and HDP-row priors), `ConjugateTablesUpdate` (the full-rank
emission tables), `LaplaceUpdate` (the low-rank emissions, `smoseq.models.laplace`) and
`HDPUpdate` (`smoseq.models.hdp`).
"""

import abc
from typing import NamedTuple

import equinox as eqx
import jax.numpy as jnp
import jax.random as jr
from jaxtyping import Array, Float, PRNGKeyArray

__all__ = ["AbstractUpdate", "ConjugateInfo", "ConjugateTablesUpdate", "DirichletRowsUpdate"]


class AbstractUpdate(eqx.Module):
    """Interface of a parameter update: one conditional draw of a component's parameters.

    Subclasses hold their settings as static fields and implement `step`. An update may
    require a component with particular fields (the Laplace update: `base`, `biases` and
    their priors); its docstring says which.
    """

    @abc.abstractmethod
    def step(self, key: PRNGKeyArray, component, statistics) -> tuple[object, NamedTuple]:
        """Draw the component's parameters given its statistics.

        Args:
            key: a JAX PRNG key.
            component: the component whose parameters are drawn (returned updated, out of place).
            statistics: what `component.statistics(states, data)` returned.

        Returns:
            `(component, info)`: the updated component and the update's info (a NamedTuple of arrays).
        """


class ConjugateInfo(NamedTuple):
    """What an exact conjugate draw reports: nothing (it always takes its draw, there is nothing to tune)."""


class DirichletRowsUpdate(AbstractUpdate):
    """Conjugate draw of a probability table whose rows have a `DirichletRows` prior.

    The component must hold its table in `probs` (..., K) and give its prior as
    `row_prior()` (a `smoseq.models.DirichletRows`); the statistics are the counts of each
    row's outcomes, shaped like `probs`. Each row gets its own key.
    """

    def step(self, key: PRNGKeyArray, component, counts: Float[Array, "... K"]) -> tuple[object, ConjugateInfo]:
        """Every row from its posterior `Dir(concentration + counts)`.

        Args:
            key: a JAX PRNG key (split into one per row).
            component: a component with `probs` and `row_prior()`.
            counts: float counts, the shape of `probs`.

        Returns:
            `(component, ConjugateInfo())` with new `probs`.
        """
        rows = component.row_prior().posterior(counts).sample(key)
        return eqx.tree_at(lambda c: c.probs, component, rows), ConjugateInfo()


class ConjugateTablesUpdate(AbstractUpdate):
    """Conjugate draw of emission tables whose prior has `posterior_concentration(counts)` (e.g. `Dirichlet`).

    The component must hold its (K, S, S) tables in `tables` and its prior in `prior`;
    the statistics are the (K, S, S) counts (or any NamedTuple with a `counts` field). All
    rows are drawn with one key, `jr.dirichlet(key, concentration)`.
    """

    def step(self, key: PRNGKeyArray, component, statistics) -> tuple[object, ConjugateInfo]:
        """Every row from its Dirichlet posterior.

        Args:
            key: a JAX PRNG key.
            component: a component with `tables` and `prior`.
            statistics: (K, S, S) float counts.

        Returns:
            `(component, ConjugateInfo())` with new `tables`.
        """
        counts = getattr(statistics, "counts", statistics)
        concentration = jnp.broadcast_to(component.prior.posterior_concentration(counts), counts.shape)
        return eqx.tree_at(lambda c: c.tables, component, jr.dirichlet(key, concentration)), ConjugateInfo()
