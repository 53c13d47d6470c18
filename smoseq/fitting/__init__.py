"""Fitting: `sm.fit` and `sm.fit_models` on one loop, `FitResult`, prediction, checkpoints."""

from .single import FitError as FitError
from .single import FitInterrupted as FitInterrupted
from .single import FitResult as FitResult
from .single import fit as fit
from .single import heldout_loglik_per_frame as heldout_loglik_per_frame
from .single import predict_states as predict_states
