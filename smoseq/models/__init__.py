"""What the model is: the three component interfaces, the built-in components, priors, and `HHMM`.

An `HHMM` composes an initial state (`AbstractInitialState`), transitions
(`AbstractTransitions`) and emissions (`AbstractEmissions`); each component owns its
parameters, prior, statistics and conditional update. Nothing here runs a sampler.
"""

from .data import SyllableData as SyllableData
from .data import without_repeats as without_repeats
from .emissions import AbstractEmissions as AbstractEmissions
from .emissions import AbstractTableEmissions as AbstractTableEmissions
from .emissions import EmissionInfo as EmissionInfo
from .emissions import FullRankEmissions as FullRankEmissions
from .emissions import LowRankEmissions as LowRankEmissions
from .emissions import ModeSearch as ModeSearch
from .emissions import emission_counts as emission_counts
from .emissions import lookup_tables as lookup_tables
from .emissions import no_optimizer_info as no_optimizer_info
from .grouped import GroupedTransitions as GroupedTransitions
from .hdp import HDPInfo as HDPInfo
from .hdp import HDPStatistics as HDPStatistics
from .hdp import HDPTransitions as HDPTransitions
from .hdp import table_counts as table_counts
from .hhmm import HHMM as HHMM
from .hhmm import full_rank_hhmm as full_rank_hhmm
from .hhmm import low_rank_hhmm as low_rank_hhmm
from .initial import AbstractInitialState as AbstractInitialState
from .initial import InitialFromTransitions as InitialFromTransitions
from .initial import UniformInitialState as UniformInitialState
from .priors import Dirichlet as Dirichlet
from .priors import Normal as Normal
from .priors import StudentT as StudentT
from .transitions import AbstractTransitions as AbstractTransitions
from .transitions import StickyTransitions as StickyTransitions
from .transitions import transition_counts as transition_counts
from .input_driven import InputDrivenTransitions as InputDrivenTransitions
from .input_driven import feature_names as feature_names
from .input_driven import feature_summary as feature_summary
from .input_driven import frame_features as frame_features
from .logistic_update import LeaveEvents as LeaveEvents
from .logistic_update import resample_coefficients as resample_coefficients
