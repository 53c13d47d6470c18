"""Full-rank emission tables with a Dirichlet prior on every row (the reference's "standard" model)."""

import equinox as eqx
import jax.numpy as jnp

from jaxtyping import Array, Float

from .emissions import AbstractTableEmissions
from .laplace.mode import ModeSearch
from .priors import Dirichlet
from .updates import ConjugateTablesUpdate


class FullRankEmissions(AbstractTableEmissions):
    """Unconstrained tables, each row with a Dirichlet prior (the reference's "standard" model).

    The conditional update is an exact conjugate draw: the prior must be conjugate to the
    counts, i.e. have a `posterior_concentration(counts)` method giving the Dirichlet
    concentration of every row's posterior (`Dirichlet` has it, with a scalar β_e or an
    array of concentrations broadcasting against (K, S, S)). A prior without one (e.g.
    `StudentT`) is refused: it has no conjugate update; write an emission component of
    your own for it.

    Args:
        tables: (K, S, S) float tables, every row a probability vector.
        prior: prior on every row (default `Dirichlet(1.0)`): an object with `log_prob`,
            `sample` and `posterior_concentration`.

    Raises:
        ValueError: `tables` is not (K, S, S).
        TypeError: `prior` has no conjugate Dirichlet update.
    """

    tables: Float[Array, "K S S"]
    prior: Dirichlet
    n_syllables: int = eqx.field(static=True)
    n_states: int = eqx.field(static=True)

    def __init__(self, tables, prior=None):
        self.tables = jnp.asarray(tables, dtype=float)
        self.prior = Dirichlet(1.0) if prior is None else prior
        self.n_states, self.n_syllables = self.tables.shape[-3], self.tables.shape[-1]

    def __check_init__(self):
        if self.tables.shape[-2] != self.tables.shape[-1]:
            raise ValueError(f"tables must be (K, S, S), got {self.tables.shape}")
        if not callable(getattr(self.prior, "posterior_concentration", None)):
            raise TypeError(
                f"FullRankEmissions draws its tables from their conjugate Dirichlet posterior, so its prior needs "
                f"a posterior_concentration(counts) method (as smoseq.models.Dirichlet has); "
                f"{type(self.prior).__name__} has none. For a non-conjugate prior, write an emission component "
                "of your own (docs/custom-variants.md)"
            )

    @classmethod
    def from_prior(cls, key, n_states: int, n_syllables: int, beta=1.0):
        """A random draw from a symmetric Dirichlet(β) prior on every row.

        Args:
            key: a JAX PRNG key.
            n_states: K.
            n_syllables: S.
            beta: concentration β_e.

        Returns:
            `FullRankEmissions` with (K, S, S) tables and prior `Dirichlet(beta)`.
        """
        prior = Dirichlet(beta)
        return cls(prior.sample(key, (n_states, n_syllables, n_syllables)), prior)

    def transition_tables(self):
        """The tables themselves.

        Returns:
            (K, S, S) float `tables`.
        """
        return self.tables

    def log_tables(self):
        """log of the tables.

        Returns:
            (K, S, S) float.
        """
        return jnp.log(self.tables)

    def log_prior(self):
        """`prior.log_prob(tables)`: the sum over all K·S rows.

        Returns:
            Scalar float.
        """
        return self.prior.log_prob(self.tables)

    def update_kernel(self, mode_search: ModeSearch | None = None) -> ConjugateTablesUpdate:
        """`ConjugateTablesUpdate()`: every row from its Dirichlet posterior (`prior.posterior_concentration(counts)`).

        Args:
            mode_search: ignored.

        Returns:
            A `ConjugateTablesUpdate`.
        """
        return ConjugateTablesUpdate()

    def sample_prior(self, key):
        """These emissions with tables drawn from the prior.

        Args:
            key: a JAX PRNG key.

        Returns:
            `FullRankEmissions` with new (K, S, S) tables.
        """
        return eqx.tree_at(lambda e: e.tables, self, self.prior.sample(key, self.tables.shape))
