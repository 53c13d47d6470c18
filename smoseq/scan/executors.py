"""Where scan jobs run: this process, a local process pool, or submitit (local or SLURM).

No scheduling of our own: `inline` runs jobs one after another, `processes` hands them to
`concurrent.futures.ProcessPoolExecutor` (spawned workers), and the submitit executors
submit them as one job array (`executor.map_array`). Every job is `run_scan_job(scan_dir,
batches, label)`, a top-level function of plain arguments.
"""

import multiprocessing
import os
import shutil
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

from .._errors import InputError
from ..fitting import FitError
from .jobs import run_scan_job

EXECUTORS = ("inline", "processes", "submitit-local", "slurm")
SUBMITIT_DIR = "submitit"
DEFAULT_TIME_MIN = 24 * 60


class ScanJobError(FitError):
    """A scan job failed; the message names the job and where its log is."""


@dataclass(frozen=True)
class ExecutorOptions:
    """How to run a scan's jobs.

    Attributes:
        kind: one of `EXECUTORS`.
        workers: concurrent jobs for `processes` and `submitit-local` (default: one per
            two cores, at least one — each job already uses every core it is given).
        slurm_partition: SLURM partition per job (submitit's `slurm_partition`).
        slurm_gpus: GPUs per job (submitit's `gpus_per_node`).
        slurm_mem_gb: memory per job in GB (submitit's `mem_gb`).
        slurm_time_min: time limit per job in minutes (submitit's `timeout_min`).
        slurm_array_parallelism: jobs running at once (submitit's `slurm_array_parallelism`).
        slurm_cpus: CPUs per job (submitit's `cpus_per_task`).
        wait: wait for SLURM jobs to finish (otherwise submit and return).
    """

    kind: str = "inline"
    workers: int | None = None
    slurm_partition: str | None = None
    slurm_gpus: int = 0
    slurm_mem_gb: float | None = None
    slurm_time_min: int = DEFAULT_TIME_MIN
    slurm_array_parallelism: int | None = None
    slurm_cpus: int | None = None
    wait: bool = True

    def __post_init__(self):
        if self.kind not in EXECUTORS:
            raise InputError(f"executor must be one of {', '.join(EXECUTORS)}; got {self.kind!r}")
        checks = [("workers", self.workers, 1), ("slurm gpus", self.slurm_gpus, 0), ("slurm time (minutes)", self.slurm_time_min, 1),
                  ("slurm array parallelism", self.slurm_array_parallelism, 1), ("slurm cpus", self.slurm_cpus, 1)]  # fmt: skip
        for name, value, least in checks:
            if value is not None and (int(value) != value or value < least):
                raise InputError(f"{name} must be an integer >= {least}, got {value}")
        if self.slurm_mem_gb is not None and not self.slurm_mem_gb > 0:
            raise InputError(f"slurm memory must be > 0 GB, got {self.slurm_mem_gb}")

    def n_workers(self) -> int:
        """Concurrent local jobs.

        Returns:
            `workers`, or when None one per two cores (at least 1).
        """
        return self.workers or max((os.cpu_count() or 2) // 2, 1)


def check_executor(options: ExecutorOptions) -> None:
    """Refuse, before anything is written, an executor this machine cannot run.

    Raises:
        InputError: `slurm` where no `srun` is on the PATH (not a SLURM login node).
    """
    if options.kind == "slurm" and shutil.which("srun") is None:
        raise InputError(
            "--executor slurm: no `srun` on this machine; run the scan from a SLURM login node, "
            "or use --executor submitit-local or processes"
        )


def group_jobs(batches: list, options: ExecutorOptions) -> list[list]:
    """Batches per job: one job for `inline`, one per worker locally, one per batch on SLURM."""
    if options.kind == "inline" or not batches:
        return [batches] if batches else []
    if options.kind == "slurm":
        return [[batch] for batch in batches]
    n_jobs = min(options.n_workers(), len(batches))
    return [batches[j::n_jobs] for j in range(n_jobs)]


def run_jobs(scan_dir, jobs: list[list], options: ExecutorOptions, say=print) -> bool:
    """Run every job; True when all finished (False: SLURM jobs submitted without waiting)."""
    scan_dir = str(Path(scan_dir).resolve())
    labels = [f"job {j + 1}/{len(jobs)}" for j in range(len(jobs))]
    if options.kind == "inline":
        for job, label in zip(jobs, labels):
            run_scan_job(scan_dir, job, label, say)
        return True
    if options.kind == "processes":
        _run_processes(scan_dir, jobs, labels, options, say)
        return True
    return _run_submitit(scan_dir, jobs, labels, options, say)


def _run_processes(scan_dir, jobs, labels, options, say) -> None:
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=min(options.n_workers(), len(jobs)), mp_context=context) as pool:
        futures = {pool.submit(run_scan_job, scan_dir, job, label): label for job, label in zip(jobs, labels)}
        for future in as_completed(futures):
            try:
                rows = future.result()
            except Exception as error:
                raise ScanJobError(f"{futures[future]} failed: {type(error).__name__}: {error}") from None
            say(f"{futures[future]} finished ({len(rows)} models written)")


def slurm_parameters(options: ExecutorOptions) -> dict:
    """`AutoExecutor.update_parameters` arguments for the SLURM resources of `options` (unset ones left out)."""
    parameters = {
        "name": "smoseq-scan",
        "timeout_min": int(options.slurm_time_min),
        "gpus_per_node": int(options.slurm_gpus),
        "mem_gb": options.slurm_mem_gb,
        "cpus_per_task": options.slurm_cpus,
        "slurm_partition": options.slurm_partition,
        "slurm_array_parallelism": options.slurm_array_parallelism,
    }
    return {key: value for key, value in parameters.items() if value is not None}


def _submitit_executor(scan_dir, options: ExecutorOptions):
    import submitit

    folder = Path(scan_dir) / SUBMITIT_DIR / "%j"
    if options.kind == "submitit-local":
        executor = submitit.LocalExecutor(folder=folder)
        executor.update_parameters(timeout_min=options.slurm_time_min)
        return executor
    try:
        executor = submitit.AutoExecutor(folder=folder, cluster="slurm")
    except RuntimeError as error:  # submitit checks for srun when the executor is built
        raise InputError(f"--executor slurm: {error}") from None
    executor.update_parameters(**slurm_parameters(options))
    return executor


def _run_submitit(scan_dir, jobs, labels, options: ExecutorOptions, say) -> bool:
    executor = _submitit_executor(scan_dir, options)
    submitted = executor.map_array(run_scan_job, [scan_dir] * len(jobs), jobs, labels)
    say(f"submitted {len(submitted)} jobs ({options.kind}); logs in {Path(scan_dir) / SUBMITIT_DIR}")
    if options.kind == "slurm" and not options.wait:
        say("job ids: " + ", ".join(job.job_id for job in submitted))
        return False
    failures = []
    for job, label in zip(submitted, labels):
        try:
            rows = job.result()
            say(f"{label} finished ({len(rows)} models written)")
        except Exception as error:  # submitit re-raises the job's exception or reports a crash
            last_line = (str(error).strip().splitlines() or [type(error).__name__])[-1]
            failures.append(f"{label} (id {job.job_id}) failed: {last_line}; log: {job.paths.stderr}")
    if failures:
        raise ScanJobError(f"{len(failures)} of {len(jobs)} jobs failed; first: {failures[0]}")
    return True
