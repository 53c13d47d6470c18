"""Fitting: `sm.fit` and `sm.fit_models` on one loop (`loop.Chains`), `FitResult`, prediction, checkpoints."""

from .batch import fit_models as fit_models
from .durations import DurationDistributions as DurationDistributions
from .durations import duration_distributions as duration_distributions
from .loop import FitError as FitError
from .result import FitResult as FitResult
from .result import load_fit as load_fit
from .merge import merge_states as merge_states
from .names import name_states as name_states
from .prediction import heldout_loglik_per_frame as heldout_loglik_per_frame
from .prediction import predict_states as predict_states
from .reorder import permute_model as permute_model
from .reorder import reorder_states as reorder_states
from .settings import FitSettings as FitSettings
from .single import FitInterrupted as FitInterrupted
from .single import fit as fit
