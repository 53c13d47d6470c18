"""`run_scan`: plan a κ × seeds × K grid into batches and jobs, run them, and collect summary.csv.

Re-running the same call skips every model whose fit folder is complete; batches are
fixed in scan.json when first planned, so an interrupted scan finished by a re-run gives
exactly the results of an uninterrupted one.
"""

import math

import numpy as np

from .._errors import InputError, ModelFileError
from ..io.fit_folders import is_complete_fit
from ..io.groups import load_groups
from ..fitting.data import prepare_data
from ..inference.states import resolve_method
from ..fitting.batch import chunk_size
from .executors import ExecutorOptions, check_executor, group_jobs, run_jobs
from .layout import ModelSpec, ScanSettings, fold_of, fold_recordings, model_folder, plan_batches, start_scan_folder
from ..fitting.memory import available_memory_bytes
from .selection import load_summary

DEFAULT_MAX_BATCH = 20


def kappa_grid(text: str) -> np.ndarray:
    """`"1e3:1e7:20"` → 20 log-spaced values from 1e3 to 1e7; `"1e3,1e4"` → those values.

    Args:
        text: `LOW:HIGH:COUNT` (log-spaced, 0 < LOW ≤ HIGH, COUNT ≥ 1) or a comma list.

    Returns:
        (n_kappas,) float array of κ values.

    Raises:
        InputError: malformed text, or a value that is not a positive finite number.
    """
    try:
        if ":" in text:
            low, high, count = text.split(":")
            low, high, count = float(low), float(high), int(count)
            if not (0 < low <= high and count >= 1):
                raise ValueError
            return np.logspace(np.log10(low), np.log10(high), count)
        values = np.array([float(v) for v in text.split(",")])
    except ValueError:
        raise InputError(f"--kappas must be LOW:HIGH:COUNT (log-spaced, 0 < LOW <= HIGH) or a comma list, got {text!r}") from None
    if not (np.isfinite(values).all() and (values > 0).all()):
        raise InputError(f"--kappas must be positive numbers, got {text!r}")
    return values


def model_specs(n_states, kappas, seeds, heldout_folds: int) -> list[ModelSpec]:
    """Every (K, κ, seed) of the grid, checked: K ≥ 2, κ > 0, seeds distinct non-negative ints."""
    n_states, seeds = [int(k) for k in np.atleast_1d(n_states)], [int(s) for s in np.atleast_1d(seeds)]
    kappas = [float(k) for k in np.atleast_1d(kappas)]
    if not n_states or min(n_states) < 2:
        raise InputError(f"n_states must be integers >= 2, got {n_states}")
    if not kappas or not all(math.isfinite(k) and k > 0 for k in kappas):
        raise InputError(f"kappas must be positive numbers, got {kappas}")
    if not seeds or min(seeds) < 0 or len(set(seeds)) != len(seeds):
        raise InputError(f"seeds must be distinct non-negative integers, got {seeds}")
    specs = [ModelSpec(k, kappa, seed, fold_of(seed, heldout_folds)) for k in dict.fromkeys(n_states)
             for kappa in kappas for seed in seeds]  # fmt: skip
    names = [spec.name for spec in specs]
    if len(set(names)) != len(names):
        raise InputError("two kappas are equal to 4 significant digits (model names would collide); space them further apart")
    return specs


def _check_folds(recordings: dict, heldout_folds: int) -> None:
    if heldout_folds == 0:
        return
    if int(heldout_folds) != heldout_folds or heldout_folds < 2:
        raise InputError(f"--heldout-folds must be an integer >= 2 (or 0 for none), got {heldout_folds}")
    if len(recordings) < heldout_folds:
        raise InputError(
            f"--heldout-folds {heldout_folds} needs at least {heldout_folds} recordings (one per fold); "
            f"the data have {len(recordings)}"
        )


def _checked_groups(recordings: dict, settings: ScanSettings) -> ScanSettings:
    """The settings with `groups` matched to the recordings (`sm.load_groups`); grouped scans without folds or HDP."""
    if settings.groups is None:
        return settings
    if settings.heldout_folds:
        raise InputError("--groups and --heldout-folds cannot be combined: held-out recordings would need their group's matrix")
    if settings.fit.transitions != "sticky":
        raise InputError(f"--groups fits sticky transitions per group; it cannot be combined with --transitions {settings.fit.transitions}")
    return settings.replace(groups=load_groups(settings.groups, list(recordings)))


def run_scan(
    recordings: dict,
    out,
    *,
    n_states=(10,),
    kappas,
    seeds=range(5),
    settings: ScanSettings = ScanSettings(),
    executor: ExecutorOptions = ExecutorOptions(),
    max_batch: int | None = None,
    memory_budget: float | None = None,
    say=print,
):
    """Fit every model of the grid not yet complete in `out`, then write and return the summary.

    Held-out scheme (`settings.heldout_folds = F ≥ 2`): recordings, sorted by name, are dealt
    into F folds (position i goes to fold i mod F); the model with seed s is fitted on every
    recording outside fold s mod F and scored on fold s mod F by
    `heldout_loglik_per_frame`. With seeds ≥ F every κ is thus cross-validated over all
    folds; fit the chosen κ on all recordings afterwards.

    Args:
        recordings: recording name -> syllables (T_i,).
        out: scan folder (created; re-opened when it holds the same scan).
        n_states, kappas, seeds: the grid (every combination is one model).
        settings: what every model shares: its `sm.FitSettings` (iterations, components, priors,
            optimizers; the grid sets n_states, κ and seed), folds, fps and groups.
        executor: where the jobs run.
        max_batch: most models per vmapped batch (default 20).
        memory_budget: bytes a batch may use (default: half the available RAM of this
            machine, divided among local workers; on SLURM 70 % of `slurm_mem_gb`).
        say: function called with each progress message (default `print`).

    Returns:
        The summary DataFrame, or None when SLURM jobs were submitted without waiting.
    """
    if not isinstance(settings, ScanSettings):
        raise InputError(f"settings must be a ScanSettings (e.g. ScanSettings(fit=sm.FitSettings(...))), got {type(settings).__name__}")
    try:
        ScanSettings.from_json(settings.to_json(), source="settings")  # scan.json must restore them for every job
    except ModelFileError as error:
        raise InputError(f"a scan's settings are stored in scan.json: {error}") from None
    if not settings.fps > 0:
        raise InputError(f"fps must be > 0, got {settings.fps}")
    _check_folds(recordings, settings.heldout_folds)
    settings = _checked_groups(recordings, settings)
    check_executor(executor)
    specs = model_specs(n_states, kappas, seeds, settings.heldout_folds)
    prepare_data(recordings)  # validates every recording before anything is written
    description = start_scan_folder(out, recordings, settings)
    sizer = _batch_sizer(recordings, settings, executor, max_batch, memory_budget)
    batches = plan_batches(out, description, specs, sizer)
    pending = [b for b in batches if not all(is_complete_fit(model_folder(out, name)) for name in b["models"])]
    n_complete = sum(is_complete_fit(model_folder(out, spec.name)) for spec in specs)
    jobs = group_jobs(pending, executor)
    say(f"{len(specs)} models: {n_complete} complete, {len(specs) - n_complete} to fit in {len(pending)} batches, {len(jobs)} jobs ({executor.kind})")
    finished = run_jobs(out, jobs, executor, say) if jobs else True
    return load_summary(out) if finished else None


def _batch_sizer(recordings, settings: ScanSettings, executor: ExecutorOptions, max_batch, memory_budget):
    if max_batch is not None and (int(max_batch) != max_batch or max_batch < 1):
        raise InputError(f"max batch must be a positive integer, got {max_batch}")
    if memory_budget is None:
        if executor.kind == "slurm" and executor.slurm_mem_gb:
            memory_budget = 0.7 * executor.slurm_mem_gb * 1e9
        else:
            workers = executor.n_workers() if executor.kind in ("processes", "submitit-local") else 1
            memory_budget = available_memory_bytes() / 2 / workers
    method = resolve_method(settings.fit.method) if executor.kind != "slurm" or not executor.slurm_gpus else "parallel"

    def batch_size(n_states: int, fold) -> int:
        training, _ = fold_recordings(recordings, settings.heldout_folds, fold)
        prepared = prepare_data({name: recordings[name] for name in training}, settings.fit.seg_length, settings.fit.seg_overlap)
        return chunk_size(10**9, prepared, n_states, settings.fit.n_iters, method, int(max_batch or DEFAULT_MAX_BATCH), memory_budget)

    return batch_size
