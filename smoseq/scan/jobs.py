"""One scan job: fit its batches of models and write a fit folder and a summary row per model.

`run_scan_job` is the callable every executor runs (in this process, a worker process,
or a submitit job), so it is a top-level function of plain arguments that reads
everything else from the scan folder.
"""

import math
import time
from pathlib import Path

import numpy as np

from ..io.files import atomic_write_json
from .._threads import with_single_threaded_blas
from ..io.fit_folders import is_complete_fit, save_fit
from ..fitting import heldout_loglik_per_frame
from ..metrics import get_durations, get_frequencies
from ..fitting.batch import fit_models
from .layout import (
    ROW_FILE,
    ScanSettings,
    fold_recordings,
    model_folder,
    read_recordings,
    read_scan_file,
    settings_from,
)

USED_STATE_FRACTION = 0.01


def _say(message: str) -> None:
    print(message, flush=True)


@with_single_threaded_blas
def run_scan_job(scan_dir: str, batches: list, label: str = "job", say=_say) -> list:
    """Fit every batch of one job (skipping batches whose models are all complete); returns the new rows.

    Args:
        scan_dir: the scan folder (holds recordings.npz and scan.json).
        batches: batch descriptions from scan.json (`n_states`, `fold`, `models`, `kappas`, `seeds`).
        label: how progress lines name this job.
        say: called with each progress line (default: printed, the log of a job that
            runs as its own process).

    Returns:
        The summary rows (dicts with the keys of `SUMMARY_COLUMNS`) of the models this
        call fitted, failed ones included (with `error`); each is also written to its
        model folder, with the fit folder of every successful model.
    """
    scan_dir = Path(scan_dir)
    settings = settings_from(read_scan_file(scan_dir))
    recordings = read_recordings(scan_dir)
    rows = []
    for index, batch in enumerate(batches):
        rows += _run_batch(scan_dir, recordings, settings, batch, f"{label}, batch {index + 1}/{len(batches)}", say)
    return rows


def _run_batch(scan_dir: Path, recordings: dict, settings: ScanSettings, batch: dict, label: str, say) -> list:
    names = batch["models"]
    todo = {name for name in names if not is_complete_fit(model_folder(scan_dir, name))}
    if not todo:
        say(f"[{label}] {len(names)} models already complete, skipped")
        return []
    training, held_out = fold_recordings(recordings, settings.heldout_folds, batch["fold"])
    fold_text = "" if batch["fold"] is None else f", held-out fold {batch['fold']}"
    say(
        f"[{label}] K={batch['n_states']}{fold_text}: fitting {len(names)} models "
        f"({len(names) - len(todo)} already complete) on {len(training)} recordings"
    )
    started = time.perf_counter()
    results = fit_models(
        {name: recordings[name] for name in training},
        kappas=batch["kappas"],
        seeds=batch["seeds"],
        settings=settings.fit.replace(n_states=batch["n_states"]),
        groups=settings.groups,
        n_syllables=max(int(max(np.max(x) for x in recordings.values())) + 1, 2),
        max_batch=len(names),
        memory_budget=math.inf,  # the batch was sized when it was planned
        on_failure="report",
        progress=False,
        on_iteration=_progress_printer(label, started, say),
    )
    scored = {name: recordings[name] for name in held_out}
    rows = []
    for name, result in zip(names, results):
        if name in todo:
            rows.append(_write_model(scan_dir, name, result, batch["fold"], scored, settings.fps, say))
    return rows


def _progress_printer(label: str, started: float, say):
    def report(iteration: int, n_iters: int, log_probs: np.ndarray) -> None:
        done = iteration + 1
        if done == 1 or done == n_iters or done % max(n_iters // 10, 1) == 0:
            rate = (time.perf_counter() - started) / done
            finite = log_probs[np.isfinite(log_probs)]
            median = f"{np.median(finite):.6g}" if finite.size else "nan"
            say(f"[{label}] iteration {done}/{n_iters}: median log prob {median} ({rate:.2f} s/iteration)")

    return report


def summary_row(result, name: str, fold, heldout_score: float, fps: float) -> dict:
    """One model's row of summary.csv (see `smoseq.scan.selection.SUMMARY_COLUMNS`)."""
    failed = "error" in result.info
    durations = get_durations(result.states) if not failed else np.zeros(0)
    median_frames = float(np.median(durations)) if durations.size else math.nan
    frequencies = get_frequencies(result.states, result.n_states) if not failed else np.zeros(0)
    return {
        "kappa": float(result.hyperparameters["kappa"]),
        "n_states": int(result.n_states),
        "seed": int(result.hyperparameters["seed"]),
        "final_log_prob": float(result.log_probs[-1]) if len(result.log_probs) and not failed else math.nan,
        "median_duration_frames": median_frames,
        "median_duration_s": median_frames / fps,
        "n_states_used": int((frequencies > USED_STATE_FRACTION).sum()) if not failed else -1,
        "heldout_loglik_per_frame": heldout_score,
        "seconds": float(result.info.get("fit_seconds", math.nan)),
        "fit_folder": f"models/{name}",
        "fold": -1 if fold is None else int(fold),
        "n_iters": len(result.log_probs),
        "error": result.info.get("error", ""),
    }


def _write_model(scan_dir: Path, name: str, result, fold, scored: dict, fps: float, say) -> dict:
    """Write the summary row, then the fit folder (its fit.json, written last, marks it complete)."""
    folder = model_folder(scan_dir, name)
    folder.mkdir(parents=True, exist_ok=True)
    failed = "error" in result.info
    heldout = heldout_loglik_per_frame(result.model, scored, repeats=result.repeats) if scored and not failed else math.nan
    row = summary_row(result, name, fold, heldout, fps)
    atomic_write_json(folder / ROW_FILE, row)
    if failed:
        say(f"[{name}] failed: {row['error']}")
        return row
    result.info["fps"] = float(fps)
    save_fit(result, folder, overwrite=True)
    heldout_text = "" if math.isnan(heldout) else f", held-out {heldout:.4g}/frame"
    say(
        f"[{name}] log prob {row['final_log_prob']:.6g}, median duration {row['median_duration_s']:.3g} s, "
        f"{row['n_states_used']} states used{heldout_text}"
    )
    return row
