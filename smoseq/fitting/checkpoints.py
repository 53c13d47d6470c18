"""Checkpoints of a running fit, so a killed fit resumes bit-identically.

Each checkpoint is a folder `ckpt-<iteration>` holding the Gibbs state's leaves
(`state.eqx`), the trace so far (`trace.npz`) and `checkpoint.json`; it is written
under a temporary name and renamed into place, then `LATEST` (a one-line file) is
replaced atomically to point at it. The random stream needs no saving: iteration i
always uses `fold_in(key, i)` of the fit's seed.
"""

import io
import json
import os
import shutil
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._errors import ModelFileError
from ..io.files import atomic_savez, atomic_write_json, atomic_write_text, load_npz
from ..inference.gibbs import GibbsState
from .loop import ChainTrace


class Checkpointer:
    """Writes and reads checkpoints of one fit in `directory` every `every` iterations."""

    def __init__(self, directory, every: int, hyperparameters: dict, keep: int = 2):
        self.directory = Path(directory)
        self.every = int(every)
        self.hyperparameters = hyperparameters
        self.keep = keep

    def due(self, completed: int, total: int) -> bool:
        return self.every > 0 and (completed % self.every == 0 or completed == total)

    def save(self, state: GibbsState, trace: ChainTrace, init_info: dict, completed: int) -> Path:
        self.directory.mkdir(parents=True, exist_ok=True)
        final = self.directory / f"ckpt-{completed:06d}"
        staging = self.directory / f".ckpt-{completed:06d}.tmp"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
        buffer = io.BytesIO()
        eqx.tree_serialise_leaves(buffer, state)
        (staging / "state.eqx").write_bytes(buffer.getvalue())
        atomic_savez(
            staging / "trace.npz",
            log_probs=np.asarray(trace.log_probs[:completed], dtype=float),
            emission_losses=np.asarray(trace.emission_losses, dtype=float),
            history=trace.history_array(0)[:completed],
            **trace.acceptance_arrays(),
        )
        atomic_write_json(
            staging / "checkpoint.json",
            {"iteration": completed, "hyperparameters": self.hyperparameters, "init_info": init_info,
             "numerical_faults": trace.faults},
        )  # fmt: skip
        _fsync_directory(staging)
        shutil.rmtree(final, ignore_errors=True)
        os.replace(staging, final)
        atomic_write_text(self.directory / "LATEST", final.name + "\n")
        self._prune(final)
        return final

    def _prune(self, newest: Path) -> None:
        folders = sorted(p for p in self.directory.glob("ckpt-*") if p.is_dir())
        for old in folders[: -self.keep]:
            if old != newest:
                shutil.rmtree(old, ignore_errors=True)

    def latest(self) -> Path | None:
        pointer = self.directory / "LATEST"
        if not pointer.is_file():
            return None
        name = pointer.read_text().strip()
        if not name.startswith("ckpt-") or "/" in name or "\\" in name:
            raise ModelFileError(f"{pointer}: does not name a checkpoint")
        return self.directory / name

    def load(self, model, data):
        """`(state, ChainTrace, init_info)` from the latest checkpoint, or None if there is none."""
        folder = self.latest()
        if folder is None:
            return None
        meta_path = folder / "checkpoint.json"
        try:
            meta = json.loads(meta_path.read_text())
        except (OSError, json.JSONDecodeError):
            raise ModelFileError(f"{meta_path}: missing or unreadable") from None
        written, ours = _without_length(meta.get("hyperparameters")), _without_length(self.hyperparameters)
        if isinstance(written, dict) and "emission_update" not in written:
            written["emission_update"] = "laplace"  # written before fits recorded it: the Laplace update was the only one
        if written != ours:
            raise ModelFileError(
                f"{meta_path}: written with other settings than this fit ({_differences(written, ours)}); resume "
                "with the same data and options (a checkpoint of the Laplace emission update resumes with "
                "exact_emissions=False, --laplace-emissions), or start over without --resume"
            )
        try:
            state = _read_state((folder / "state.eqx").read_bytes(), model, data.syllables.shape)
            arrays = load_npz(folder / "trace.npz")
        except Exception as error:
            raise ModelFileError(f"{folder}: checkpoint unreadable ({type(error).__name__})") from None
        trace = ChainTrace(
            log_probs=arrays["log_probs"].tolist(),
            history=list(arrays["history"]),
            emission_losses=arrays["emission_losses"],
            faults=list(meta.get("numerical_faults", [])),
            emission_accepted=arrays.get("emission_accepted", np.zeros(0, bool)).tolist(),
            emission_acceptance=arrays.get("emission_acceptance", np.zeros(0)).tolist(),
            update_converged=arrays.get("update_converged", np.zeros(0, bool)).tolist(),
            update_factor_ok=arrays.get("update_factor_ok", np.zeros(0, bool)).tolist(),
        )
        return state, trace, meta.get("init_info", {})


def _read_state(saved: bytes, model, shape) -> GibbsState:
    """The saved `GibbsState`: states int32, or compact (uint8 / uint16) as a fit under a memory limit holds them."""
    *compact, last = (jnp.int32, jnp.uint8, jnp.uint16)
    for dtype in compact:
        try:
            return eqx.tree_deserialise_leaves(io.BytesIO(saved), GibbsState(model, jax.ShapeDtypeStruct(shape, dtype)))
        except RuntimeError:  # the saved states have another dtype
            continue
    return eqx.tree_deserialise_leaves(io.BytesIO(saved), GibbsState(model, jax.ShapeDtypeStruct(shape, last)))


def _without_length(hyperparameters):
    """Settings that must match to resume (the number of iterations may grow)."""
    if not isinstance(hyperparameters, dict):
        return hyperparameters
    return {k: v for k, v in hyperparameters.items() if k != "n_iters"}


def _differences(written, ours) -> str:
    """The settings that differ, `name: checkpoint X, this fit Y` (at most three)."""
    if not isinstance(written, dict):
        return "no settings recorded"
    names = sorted(name for name in written.keys() | ours.keys() if written.get(name) != ours.get(name))
    shown = [f"{name}: checkpoint {written.get(name)!r:.60}, this fit {ours.get(name)!r:.60}" for name in names[:3]]
    return "; ".join(shown) + ("; ..." if len(names) > 3 else "")


def _fsync_directory(path: Path) -> None:
    try:
        descriptor = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
