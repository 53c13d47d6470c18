"""smoseq: high-level behavioural states from syllable sequences.

    import smoseq as sm
    result = sm.fit(syllables_dict, n_states=10)
    result.states, result.log_probs, result.save("fit")
"""

from ._version import __version__

from ._errors import InputError as InputError
from ._errors import ModelFileError as ModelFileError
from .io.batching import batch as batch
from .io.batching import unbatch as unbatch
from .io.groups import load_groups as load_groups
from .io.nwb import export_nwb as export_nwb
from .io.state_tables import export_tables as export_tables
from .fitting import FitError as FitError
from .fitting import FitResult as FitResult
from .fitting import FitSettings as FitSettings
from .fitting import fit as fit
from .fitting import fit_models as fit_models
from .fitting import duration_distributions as duration_distributions
from .fitting import heldout_loglik_per_frame as heldout_loglik_per_frame
from .fitting import load_fit as load_fit
from .fitting import merge_states as merge_states
from .fitting import name_states as name_states
from .fitting import predict_states as predict_states
from .fitting import reorder_states as reorder_states
from .fitting.optimizers import optimizer as optimizer
from .models import HHMM as HHMM
from .models import FullRankEmissions as FullRankEmissions
from .models import GroupedTransitions as GroupedTransitions
from .models import HDPTransitions as HDPTransitions
from .models import InputDrivenTransitions as InputDrivenTransitions
from .models import LowRankEmissions as LowRankEmissions
from .models import ModeSearch as ModeSearch
from .models import StickyTransitions as StickyTransitions
from .models.trainable import trainable_leaves as trainable_leaves
from .models import SemiMarkovTransitions as SemiMarkovTransitions
from .metrics import behaviour_table as behaviour_table
from .metrics import bout_table as bout_table
from .metrics import compare_covariate_effects as compare_covariate_effects
from .metrics import compare_groups as compare_groups
from .metrics import compare_group_dynamics as compare_group_dynamics
from .metrics import compare_states as compare_states
from .metrics import decode_groups as decode_groups
from .metrics import get_adjusted_rand as get_adjusted_rand
from .metrics import get_bout_transition_matrix as get_bout_transition_matrix
from .metrics import get_durations as get_durations
from .metrics import get_frame_transition_counts as get_frame_transition_counts
from .metrics import get_frequencies as get_frequencies
from .metrics import group_summary as group_summary
from .metrics import lagged_mutual_information as lagged_mutual_information
from .metrics import sample_instances as sample_instances
from .metrics import state_distances as state_distances
from .metrics import state_labels as state_labels
from .metrics import state_linkage as state_linkage
from .metrics import state_summary_table as state_summary_table
from .metrics import transition_graphs as transition_graphs
from .metrics import syllable_enrichment as syllable_enrichment
from .metrics import syllable_enrichment_from_model as syllable_enrichment_from_model
from .util import center_embedding as center_embedding
from .util import count_transitions as count_transitions
from .util import cross_sequence_mutual_information as cross_sequence_mutual_information
from .util import load_hdf5 as load_hdf5
from .util import logits_to_probs as logits_to_probs
from .util import lower_dim as lower_dim
from .util import probs_to_logits as probs_to_logits
from .util import raise_dim as raise_dim
from .util import save_hdf5 as save_hdf5
from .util import simulate_markov_chain as simulate_markov_chain

_LAZY_VIZ = (
    "generate_grid_movies", "grid_movie", "crop_image", "write_video_clip", "plot_sankey", "plot_alluvial",
    "plot_group_dynamics",
    "plot_transition_graph", "plot_transition_graph_difference", "plot_state_dendrogram",
    "plot_group_dynamics", "plot_covariate_effects",
)  # fmt: skip


def __getattr__(name):
    # figures and movies import matplotlib, plotly and PyAV, so they load on first use
    if name in _LAZY_VIZ:
        from . import viz

        return getattr(viz, name)
    if name in ("run_scan", "best_seed", "suggest_kappa", "suggest_n_states", "seed_agreement"):
        from . import scan

        return getattr(scan, name)
    if name in ("viz", "datasets", "scan"):
        import importlib

        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'smoseq' has no attribute {name!r}")
