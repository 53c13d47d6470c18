"""Equinox modules of the hierarchical HMM: priors, emissions, transitions, the model."""

from .emissions import AbstractEmissions as AbstractEmissions
from .emissions import EmissionInfo as EmissionInfo
from .emissions import FullRankEmissions as FullRankEmissions
from .emissions import LowRankEmissions as LowRankEmissions
from .emissions import ModeSearch as ModeSearch
from .emissions import emission_counts as emission_counts
from .hhmm import HHMM as HHMM
from .hhmm import full_rank_hhmm as full_rank_hhmm
from .hhmm import low_rank_hhmm as low_rank_hhmm
from .priors import Dirichlet as Dirichlet
from .priors import Normal as Normal
from .priors import StudentT as StudentT
from .transitions import StickyTransitions as StickyTransitions
from .transitions import transition_counts as transition_counts
