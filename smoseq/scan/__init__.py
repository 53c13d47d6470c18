"""Parameter scans: many models in one program, many machines through submitit, and model selection.

    import smoseq as sm
    results = sm.scan.fit_models(recordings, 10, kappas=[1e3, 1e4, 1e5], seeds=0)
    summary = sm.scan.run_scan(recordings, "scan", kappas=np.logspace(3, 7, 20), seeds=range(5))
    sm.scan.best_seed(summary, kappa=1e5)

`fit_models` (many models in one program) and its memory estimate live in `smoseq.fitting`;
here: `layout` (the scan folder), `jobs` and `executors` (running the grid), `run`
(`run_scan`) and `selection` (choosing κ and a seed); the figures live in `smoseq.viz`.
"""

from ..fitting.batch import fit_models as fit_models
from ..fitting.batch import seed_initial_states as seed_initial_states
from .executors import EXECUTORS as EXECUTORS
from .executors import ExecutorOptions as ExecutorOptions
from .executors import ScanJobError as ScanJobError
from ..viz._kappa_selection import plot_agreement_by_kappa as plot_agreement_by_kappa
from ..viz._kappa_selection import plot_kappa_suggestion as plot_kappa_suggestion
from ..viz._kappa_selection import plot_n_states_selection as plot_n_states_selection
from ..viz._kappa_selection import plot_seed_agreement as plot_seed_agreement
from ..viz._kappa_selection import plot_seed_confusions as plot_seed_confusions
from .jobs import run_scan_job as run_scan_job
from .layout import ScanSettings as ScanSettings
from .layout import model_name as model_name
from .layout import read_recordings as read_recordings
from ..fitting.memory import model_footprint_bytes as model_footprint_bytes
from .run import kappa_grid as kappa_grid
from .run import run_scan as run_scan
from .selection import KappaSuggestion as KappaSuggestion
from .selection import MITimescale as MITimescale
from .selection import agreement_by_kappa as agreement_by_kappa
from .selection import best_seed as best_seed
from .selection import load_summary as load_summary
from .selection import mi_separation_lag as mi_separation_lag
from .selection import seed_agreement as seed_agreement
from .selection import pairwise_agreement as pairwise_agreement
from .selection import SeedStates as SeedStates
from .selection import seed_confusions as seed_confusions
from .selection import seed_states as seed_states
from .selection import suggest_kappa as suggest_kappa
from .selection import NStatesSuggestion as NStatesSuggestion
from .selection import suggest_n_states as suggest_n_states
