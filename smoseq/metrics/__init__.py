"""Metrics: lagged mutual information and statistics of fitted state sequences."""

from .behaviour import behaviour_table as behaviour_table
from .behaviour import bout_table as bout_table
from .behaviour import frame_speeds as frame_speeds
from .comparison import StateComparison as StateComparison
from .covariate_effects import compare_covariate_effects as compare_covariate_effects
from .comparison import adjusted_rand_index as adjusted_rand_index
from .comparison import compare_states as compare_states
from .comparison import get_adjusted_rand as get_adjusted_rand
from .group_dynamics import compare_group_dynamics as compare_group_dynamics
from .group_dynamics import stationary_distribution as stationary_distribution
from .enrichment import SyllableEnrichment as SyllableEnrichment
from .enrichment import syllable_enrichment as syllable_enrichment
from .enrichment import syllable_enrichment_from_model as syllable_enrichment_from_model
from .group_statistics import compare_groups as compare_groups
from .group_statistics import group_summary as group_summary
from .instances import sample_instances as sample_instances
from .mutual_information import LaggedMI as LaggedMI
from .mutual_information import lagged_mutual_information as lagged_mutual_information
from .mutual_information import markov_surrogates as markov_surrogates
from .state_statistics import get_bout_transition_matrix as get_bout_transition_matrix
from .state_statistics import get_durations as get_durations
from .state_statistics import get_frame_transition_counts as get_frame_transition_counts
from .state_statistics import get_frequencies as get_frequencies
from .state_statistics import run_lengths as run_lengths
from .state_statistics import state_summary_table as state_summary_table
