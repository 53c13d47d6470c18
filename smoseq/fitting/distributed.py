"""One fit across several machines: `jax.distributed` processes, one per task of a SLURM job (submitit).

Every process runs the same program (single-program multiple-data, as JAX requires):
it joins the others with `jax.distributed.initialize`, reads the same recordings, and
calls `sm.fit`, whose device mesh then spans every device of every process
(`smoseq.inference.sharding`). Each process holds the data of its own devices' sequences
on them, draws their states with its own host threads (native kernel), and the
statistics are summed across processes once per iteration (XLA collectives: NCCL on
GPUs, gloo on CPUs). Process 0 writes the fit folder.

    executor = submitit.AutoExecutor(folder="logs")
    executor.update_parameters(nodes=2, tasks_per_node=1, gpus_per_node=4, timeout_min=600)
    job = submit_fit(executor, "recordings/", "fit/", n_states=10, n_iters=500)
    job.results()  # one summary per task

`fit_process` is what each task runs once it knows the coordinator, the number of
processes and its own index; `slurm_fit_task` reads those from the SLURM job
(`submitit.JobEnvironment`: first host of the job, `SLURM_NTASKS`, `SLURM_PROCID`).
"""

from pathlib import Path

import jax

__all__ = ["initialize", "fit_process", "slurm_fit_task", "submit_fit", "DEFAULT_PORT"]

DEFAULT_PORT = 12_355


def initialize(coordinator_address: str, num_processes: int, process_id: int) -> None:
    """`jax.distributed.initialize`, with gloo collectives between CPU processes.

    Call before anything else touches JAX's devices.

    Args:
        coordinator_address: `host:port` of process 0.
        num_processes: processes in the job.
        process_id: this process's index, 0 … num_processes − 1.
    """
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(coordinator_address=coordinator_address, num_processes=num_processes, process_id=process_id)


def fit_process(data, out, fit_options: dict, coordinator_address: str, num_processes: int, process_id: int) -> dict:
    """One process of a multi-process fit: join the job, fit on every process's devices, process 0 saves.

    Args:
        data: recordings (a folder of CSVs, a CSV or a `results.h5`), read by every process.
        out: the fit folder process 0 writes.
        fit_options: keyword arguments of `sm.fit` (e.g. `n_states`, `n_iters`, `seed`).
        coordinator_address, num_processes, process_id: as for `initialize`.

    Returns:
        A summary: process index, local and global device counts, final log probability.
    """
    from ..io.recordings import load_recordings
    from .single import fit

    initialize(coordinator_address, num_processes, process_id)
    recordings = load_recordings(data).syllables
    result = fit(recordings, **({"progress": False} | dict(fit_options)))
    if jax.process_index() == 0:
        result.save(Path(out), overwrite=True)
    return {
        "process": jax.process_index(),
        "local_devices": jax.local_device_count(),
        "devices": jax.device_count(),
        "log_prob": float(result.log_probs[-1]),
    }


def slurm_fit_task(data, out, fit_options: dict, port: int = DEFAULT_PORT) -> dict:
    """`fit_process` for the current task of a SLURM job (what `submit_fit` runs on every task).

    The coordinator is the job's first host at `port`; the process count and index are
    the job's `SLURM_NTASKS` and `SLURM_PROCID`.
    """
    import submitit

    environment = submitit.JobEnvironment()
    coordinator = f"{environment.hostnames[0]}:{port}"
    return fit_process(data, out, fit_options, coordinator, environment.num_tasks, environment.global_rank)


def submit_fit(executor, data, out, port: int = DEFAULT_PORT, **fit_options):
    """Submit one fit spanning every task of a submitit executor's job (one process per task).

    Args:
        executor: a `submitit.AutoExecutor` (or `SlurmExecutor`) whose parameters give the
            job's nodes and tasks: one task per node, each seeing its node's GPUs, or one
            task per GPU.
        data, out: recordings and the fit folder (on a file system every node sees).
        port: the coordinator's port on the first node.
        **fit_options: keyword arguments of `sm.fit`.

    Returns:
        The submitit job; `job.results()` holds one summary per task.
    """
    return executor.submit(slurm_fit_task, str(data), str(out), dict(fit_options), port)
