"""What the model is: the three component interfaces, the built-in components, priors, updates, and `HHMM`.

An `HHMM` composes an initial state (`AbstractInitialState`), transitions
(`AbstractTransitions`) and emissions (`AbstractEmissions`); each component owns its
parameters, prior, statistics and conditional update (a kernel object, `AbstractUpdate`).
Nothing here runs a sampler.
"""

from .data import SyllableData as SyllableData
from .data import compact_data as compact_data
from .data import compact_dtype as compact_dtype
from .data import compacted as compacted
from .data import possible_transitions as possible_transitions
from .data import widened as widened
from .data import without_repeats as without_repeats
from .emissions import AbstractEmissions as AbstractEmissions
from .emissions import AbstractTableEmissions as AbstractTableEmissions
from .emissions import TableStatistics as TableStatistics
from .emissions import emission_counts as emission_counts
from .emissions import lookup_tables as lookup_tables
from .emissions import no_optimizer_info as no_optimizer_info
from .exact_update import ExactBlockedInfo as ExactBlockedInfo
from .exact_update import ExactBlockedUpdate as ExactBlockedUpdate
from .full_rank import FullRankEmissions as FullRankEmissions
from .grouped import GroupedTransitions as GroupedTransitions
from .hdp import HDPInfo as HDPInfo
from .hdp import HDPStatistics as HDPStatistics
from .hdp import HDPTransitions as HDPTransitions
from .hdp import HDPUpdate as HDPUpdate
from .hdp import table_counts as table_counts
from .hhmm import HHMM as HHMM
from .hhmm import ModelInfo as ModelInfo
from .hhmm import full_rank_hhmm as full_rank_hhmm
from .hhmm import low_rank_hhmm as low_rank_hhmm
from .initial import AbstractInitialState as AbstractInitialState
from .initial import InitialFromTransitions as InitialFromTransitions
from .initial import UniformInitialState as UniformInitialState
from .laplace import LaplaceInfo as LaplaceInfo
from .laplace import LaplaceUpdate as LaplaceUpdate
from .laplace import ModeSearch as ModeSearch
from .low_rank import LowRankEmissions as LowRankEmissions
from .metropolis import MetropolisInfo as MetropolisInfo
from .phases import PhaseEmissions as PhaseEmissions
from .phases import PhaseTableEmissions as PhaseTableEmissions
from .phases import phase_emissions as phase_emissions
from .priors import Dirichlet as Dirichlet
from .priors import DirichletRows as DirichletRows
from .priors import Normal as Normal
from .priors import StudentT as StudentT
from .priors import elementwise_curvature as elementwise_curvature
from .semi_markov import SemiMarkovInfo as SemiMarkovInfo
from .semi_markov import SemiMarkovStatistics as SemiMarkovStatistics
from .semi_markov import SemiMarkovTransitions as SemiMarkovTransitions
from .semi_markov import SemiMarkovUpdate as SemiMarkovUpdate
from .semi_markov import reduce_phase_counts as reduce_phase_counts
from .transitions import AbstractTransitions as AbstractTransitions
from .transitions import StickyTransitions as StickyTransitions
from .transitions import transition_counts as transition_counts
from .updates import AbstractUpdate as AbstractUpdate
from .updates import ConjugateInfo as ConjugateInfo
from .updates import ConjugateTablesUpdate as ConjugateTablesUpdate
from .updates import DirichletRowsUpdate as DirichletRowsUpdate
from .input_driven import InputDrivenTransitions as InputDrivenTransitions
from .input_driven import feature_names as feature_names
from .input_driven import feature_summary as feature_summary
from .input_driven import frame_features as frame_features
from .logistic_update import DestinationEvents as DestinationEvents
from .logistic_update import LeaveEvents as LeaveEvents
from .logistic_update import resample_coefficients as resample_coefficients
from .logistic_update import resample_destinations as resample_destinations
