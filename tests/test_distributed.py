"""One fit over two processes (`jax.distributed`, gloo collectives on CPU), started the way a SLURM job starts them."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import smoseq as sm
from smoseq.fitting import distributed
from smoseq.io.recordings import load_recordings

ROOT = Path(__file__).resolve().parents[1]
OPTIONS = {"n_states": 3, "n_iters": 3, "seed": 3, "n_init_iters": 1, "emissions": "full_rank"}

_TASK = """
import json, sys
from smoseq.cli import enable_compilation_cache
from smoseq.fitting.distributed import slurm_fit_task
enable_compilation_cache()
print(json.dumps(slurm_fit_task(sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), int(sys.argv[4]))))
"""


def _recordings(folder):
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(7):
        pd.DataFrame({"syllable": rng.integers(0, 6, int(rng.integers(150, 300)))}).to_csv(folder / f"r{i}.csv", index=False)
    return folder


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_submit_fit_submits_the_slurm_task_with_the_fit_options():
    class Executor:
        def submit(self, function, *args):
            self.call = (function, args)
            return "job"

    executor = Executor()
    assert distributed.submit_fit(executor, Path("data"), Path("fit"), port=4000, n_states=5) == "job"
    assert executor.call == (distributed.slurm_fit_task, ("data", "fit", {"n_states": 5}, 4000))


@pytest.mark.slow
def test_two_processes_of_a_slurm_job_fit_as_one_process_does(tmp_path):
    """Two processes × two CPU devices each, wired from SLURM's variables; the fit equals the one-device fit.

    Run with `pytest -m slow tests/test_distributed.py` (about a minute: two processes compile).
    """
    data = _recordings(tmp_path / "data")
    port = _free_port()
    processes = []
    for rank in range(2):
        environment = dict(
            os.environ, PYTHONPATH=str(ROOT), JAX_PLATFORMS="cpu",
            XLA_FLAGS=f"{os.environ['XLA_FLAGS']} --xla_force_host_platform_device_count=2",
            SUBMITIT_EXECUTOR="slurm", SLURM_JOB_ID="1", SLURM_NTASKS="2", SLURM_PROCID=str(rank), SLURM_LOCALID=str(rank),
            SLURM_JOB_NODELIST="localhost", SLURM_JOB_NUM_NODES="1", SLURM_NODEID="0",
        )  # fmt: skip
        command = [sys.executable, "-c", _TASK, str(data), str(tmp_path / "fit"), json.dumps(OPTIONS), str(port)]
        processes.append(subprocess.Popen(command, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    outputs = [process.communicate(timeout=600) for process in processes]
    for process, (stdout, stderr) in zip(processes, outputs):
        assert process.returncode == 0, stderr[-3000:]
    summaries = [json.loads(stdout.strip().splitlines()[-1]) for stdout, _ in outputs]
    assert [s["process"] for s in summaries] == [0, 1] and all(s["devices"] == 4 and s["local_devices"] == 2 for s in summaries)
    distributed_fit = sm.load_fit(tmp_path / "fit")
    assert distributed_fit.info["memory"]["devices"] == 4
    single = sm.fit(load_recordings(data).syllables, progress=False, devices=1, **OPTIONS)
    for name, states in single.states.items():
        np.testing.assert_array_equal(distributed_fit.states[name], states)
    np.testing.assert_allclose(distributed_fit.log_probs, single.log_probs, rtol=1e-5)
