"""The Laplace update of the low-rank emissions, one idea per module (DESIGN §2).

- `posterior`: the low-rank tables, log-likelihood and log posterior (the one copy).
- `mode`: `ModeSearch` and `find_mode` (any Optax optimizer in a `lax.while_loop`).
- `precision`: `Q = −H + prior curvature + boost` as a structured block operator.
- `factor`: its block Cholesky factor (Schur complement) and the solves it gives.
- `gaussian`: draws from and the density of `N(mode, Q⁻¹)`.
- `proposal`: the Laplace proposal (search, factor, Newton step), its plain draw and its
  Metropolis–Hastings correction.
- `update`: `LaplaceUpdate`, the kernel object `LowRankEmissions` uses.
"""

from .factor import LaplaceFactor as LaplaceFactor
from .factor import dense_covariance as dense_covariance
from .factor import factor_is_finite as factor_is_finite
from .factor import factorize_precision as factorize_precision
from .factor import solve_precision as solve_precision
from .gaussian import laplace_log_density as laplace_log_density
from .gaussian import sample_laplace as sample_laplace
from .mode import ModeResult as ModeResult
from .mode import ModeSearch as ModeSearch
from .mode import find_mode as find_mode
from .posterior import emission_log_likelihood as emission_log_likelihood
from .posterior import emission_log_likelihood_ratio as emission_log_likelihood_ratio
from .posterior import emission_log_posterior as emission_log_posterior
from .posterior import initial_emission_params as initial_emission_params
from .posterior import low_rank_log_tables as low_rank_log_tables
from .posterior import transition_probs as transition_probs
from .precision import LaplacePrecision as LaplacePrecision
from .precision import cross_blocks as cross_blocks
from .precision import laplace_precision as laplace_precision
from .proposal import LaplaceInfo as LaplaceInfo
from .proposal import LaplaceProposal as LaplaceProposal
from .proposal import defensive_log_density as defensive_log_density
from .proposal import laplace_draw as laplace_draw
from .proposal import laplace_proposal as laplace_proposal
from .proposal import metropolis_laplace_draw as metropolis_laplace_draw
from .update import LaplaceUpdate as LaplaceUpdate
from .update import low_rank_laplace_step as low_rank_laplace_step
from .update import sample_low_rank_emissions as sample_low_rank_emissions
