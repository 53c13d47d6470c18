"""Parameter scans: many models in one program, many machines through submitit, and model selection.

    import smoseq as sm
    results = sm.scan.fit_models(recordings, 10, kappas=[1e3, 1e4, 1e5], seeds=0)
    summary = sm.scan.run_scan(recordings, "scan", kappas=np.logspace(3, 7, 20), seeds=range(5))
    sm.scan.best_seed(summary, kappa=1e5)

The pieces live in `smoseq.scans`: `batched` (vmapped fitting), `memory` (batch
footprint), `layout` (the scan folder), `jobs` and `executors` (running the grid),
`run` (`run_scan`), `selection` and `figures` (choosing κ and a seed).
"""

from .scans.batched import fit_models as fit_models
from .scans.batched import seed_initial_states as seed_initial_states
from .scans.executors import EXECUTORS as EXECUTORS
from .scans.executors import ExecutorOptions as ExecutorOptions
from .scans.executors import ScanJobError as ScanJobError
from .scans.figures import plot_agreement_by_kappa as plot_agreement_by_kappa
from .scans.figures import plot_kappa_suggestion as plot_kappa_suggestion
from .scans.figures import plot_seed_agreement as plot_seed_agreement
from .scans.jobs import run_scan_job as run_scan_job
from .scans.layout import ScanSettings as ScanSettings
from .scans.layout import model_name as model_name
from .scans.layout import read_recordings as read_recordings
from .scans.memory import model_footprint_bytes as model_footprint_bytes
from .scans.run import kappa_grid as kappa_grid
from .scans.run import run_scan as run_scan
from .scans.selection import KappaSuggestion as KappaSuggestion
from .scans.selection import MITimescale as MITimescale
from .scans.selection import agreement_by_kappa as agreement_by_kappa
from .scans.selection import best_seed as best_seed
from .scans.selection import load_summary as load_summary
from .scans.selection import mi_separation_lag as mi_separation_lag
from .scans.selection import seed_agreement as seed_agreement
from .scans.selection import suggest_kappa as suggest_kappa
