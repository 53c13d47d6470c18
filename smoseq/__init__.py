"""smoseq: high-level behavioural states from syllable sequences.

    import smoseq as sm
    result = sm.fit(syllables_dict, n_states=10)
    result.states, result.log_probs, result.save("fit")
"""

__version__ = "0.1.0"

from ._errors import InputError as InputError
from ._errors import ModelFileError as ModelFileError
from .data import batch as batch
from .data import unbatch as unbatch
from .fitting import FitError as FitError
from .fitting import FitResult as FitResult
from .fitting import fit as fit
from .fitting import heldout_loglik_per_frame as heldout_loglik_per_frame
from .fitting import predict_states as predict_states
from .fitio import load_fit as load_fit
from .models import HHMM as HHMM
from .models import FullRankEmissions as FullRankEmissions
from .models import LowRankEmissions as LowRankEmissions
from .models import ModeSearch as ModeSearch
from .models import StickyTransitions as StickyTransitions
