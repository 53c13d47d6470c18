"""Killing `smoseq fit` at any moment and resuming gives a byte-identical fit."""

import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest

ITERS = 150


def _data(folder):
    rng = np.random.default_rng(3)
    folder.mkdir()
    for i in range(2):
        regime = (np.arange(800) // 200) % 2
        syllables = np.where(regime == 0, rng.integers(0, 4, 800), rng.integers(3, 7, 800))
        pd.DataFrame({"syllable": syllables}).to_csv(folder / f"r{i}.csv", index=False)
    return folder


def _fit_command(data, out, *extra):
    return [sys.executable, "-m", "smoseq.cli", "fit", str(data), "--out", str(out), "--n-states", "2",
            "--iters", str(ITERS), "--checkpoint-every", "5", "--no-figures", *extra]


def _run_until_checkpoint_then(signal_number, data, out):
    process = subprocess.Popen(_fit_command(data, out), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    while not (out / "checkpoints" / "LATEST").exists():
        assert process.poll() is None, process.communicate()
        assert time.time() < deadline
        time.sleep(0.02)
    process.send_signal(signal_number)
    stdout, stderr = process.communicate(timeout=120)
    return process.returncode, stdout, stderr


def _same_fit(a, b):
    assert (a / "model.eqx").read_bytes() == (b / "model.eqx").read_bytes()
    with np.load(a / "states.npz", allow_pickle=False) as sa, np.load(b / "states.npz", allow_pickle=False) as sb:
        assert sa.files == sb.files
        for name in sa.files:
            np.testing.assert_array_equal(sa[name], sb[name])
    with np.load(a / "trace.npz", allow_pickle=False) as ta, np.load(b / "trace.npz", allow_pickle=False) as tb:
        np.testing.assert_array_equal(ta["log_probs"], tb["log_probs"])
        assert len(ta["log_probs"]) == ITERS


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    root = tmp_path_factory.mktemp("resume")
    data = _data(root / "data")
    subprocess.run(_fit_command(data, root / "reference"), check=True, capture_output=True)
    return data, root / "reference"


def test_sigkill_then_resume_is_byte_identical(reference, tmp_path):
    data, uninterrupted = reference
    out = tmp_path / "fit"
    code, _, _ = _run_until_checkpoint_then(signal.SIGKILL, data, out)
    assert code == -signal.SIGKILL
    assert not (out / "fit.json").exists()
    subprocess.run(_fit_command(data, out, "--resume"), check=True, capture_output=True)
    _same_fit(uninterrupted, out)


def test_ctrl_c_writes_a_checkpoint_and_says_how_to_resume(reference, tmp_path):
    data, uninterrupted = reference
    out = tmp_path / "fit"
    code, stdout, stderr = _run_until_checkpoint_then(signal.SIGINT, data, out)
    assert code == 130, stderr
    assert "--resume" in stdout and "Traceback" not in stderr
    subprocess.run(_fit_command(data, out, "--resume"), check=True, capture_output=True)
    _same_fit(uninterrupted, out)
