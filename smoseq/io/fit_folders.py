"""The fit folder (DESIGN §5): write a fit and read its parts back, never unpickling.

    model.eqx     array leaves of the model (equinox.tree_serialise_leaves)
    model.json    structure, hyperparameters, package version, data fingerprint
    states.npz    `names` (recording names) and `states_<i>` (T_i,) int per recording
    trace.npz     log_probs, emission_losses, history, segment_states, keys, bounds,
                  transition_samples (grouped fits: (n_kept, G, K, K) matrices after the burn-in),
                  group_counts (grouped fits: (n_kept, R, K, K) per-recording state-transition counts)
                  emission_accepted, emission_acceptance (exact emission updates only),
                  update_converged, update_factor_ok (updates that report them, per iteration),
                  last_updates.<path> (the last iteration's update infos, e.g. transitions.tables)
    state_names.json  names given to states (`smoseq.io.state_names`), when there are any
    fit.json      hyperparameters, info (timings, initialisation), update_diagnostics
                  (counts of unconverged mode searches and failed factorisations), written last: its
                  presence with "complete": true marks the folder complete
"""

import hashlib
from pathlib import Path

import numpy as np

from .._version import __version__
from .._errors import ModelFileError
from .files import atomic_savez, atomic_write_json, load_npz
from .model_files import load_model, read_json, save_model
from .state_names import read_state_names, write_state_names


def data_fingerprint(states_or_syllables: dict) -> str:
    """A short hash of recording names and lengths (identifies which data a fit saw)."""
    digest = hashlib.sha256()
    for name in sorted(states_or_syllables):
        digest.update(str(name).encode())
        digest.update(str(len(states_or_syllables[name])).encode())
    return digest.hexdigest()[:16]


def is_complete_fit(folder) -> bool:
    """True when `folder` holds a fit whose every file was written."""
    path = Path(folder) / "fit.json"
    try:
        return bool(read_json(path).get("complete"))
    except ModelFileError:
        return False


def save_fit(result, folder, overwrite: bool = False) -> None:
    """Write `result` into `folder`; refuses to replace a complete fit unless `overwrite`.

    Writes `model.eqx`, `model.json`, `states.npz`, `trace.npz` and, last, `fit.json`
    (whose `"complete": true` marks the folder complete); see the module docstring.

    Args:
        result: a `FitResult`: `states` name -> (T_i,) int, `log_probs` (n_iters,),
            `emission_losses`, `history` (n_iters, T_seg).
        folder: destination folder (str or `Path`), created if missing.
        overwrite: replace a complete fit already in `folder`.

    Returns:
        None.

    Raises:
        FileExistsError: `folder` holds a complete fit and `overwrite` is False.
    """
    folder = Path(folder)
    if is_complete_fit(folder) and not overwrite:
        raise FileExistsError(f"{folder}: already holds a fit; pass overwrite=True (CLI: --force) to replace it")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "fit.json").unlink(missing_ok=True)
    names = list(result.states)
    save_model(
        result.model,
        folder,
        extra={"hyperparameters": result.hyperparameters, "data_fingerprint": data_fingerprint(result.states)},
    )
    atomic_savez(
        folder / "states.npz",
        names=np.array(names, dtype=str),
        **{f"states_{i}": np.asarray(result.states[name]) for i, name in enumerate(names)},
    )
    trace = {
        "log_probs": np.asarray(result.log_probs, dtype=float),
        "emission_losses": np.asarray(result.emission_losses, dtype=float),
        "history": np.asarray(result.history),
        "emission_accepted": np.asarray(result.emission_accepted, dtype=bool),
        "emission_acceptance": np.asarray(result.emission_acceptance, dtype=float),
        "update_converged": np.asarray(getattr(result, "update_converged", ()), dtype=bool),
        "update_factor_ok": np.asarray(getattr(result, "update_factor_ok", ()), dtype=bool),
    }
    trace |= {f"last_updates.{path}": np.asarray(value) for path, value in getattr(result, "last_updates", {}).items()}
    if result.segment_states is not None:
        trace |= {"segment_states": result.segment_states, "keys": np.asarray(result.keys, dtype=str), "bounds": result.bounds}
    if getattr(result, "transition_samples", None) is not None:
        trace["transition_samples"] = np.asarray(result.transition_samples)
    if getattr(result, "group_counts", None) is not None:
        trace["group_counts"] = np.asarray(result.group_counts)
    if getattr(result, "coefficient_samples", None) is not None:
        trace["coefficient_samples"] = np.asarray(result.coefficient_samples)
    for name in ("feature_counts", "feature_rows", "feature_draws"):
        if getattr(result, name, None) is not None:
            trace[name] = np.asarray(getattr(result, name))
    atomic_savez(folder / "trace.npz", **trace)
    write_state_names(folder, getattr(result, "state_names", None) or {}, result.model.n_states)
    atomic_write_json(
        folder / "fit.json",
        {
            "complete": True,
            "package_version": __version__,
            "hyperparameters": result.hyperparameters,
            "info": _jsonable(result.info),
            "log_probs": [float(v) for v in result.log_probs],
            "emission_acceptance_rate": _acceptance_rate(result.emission_accepted, result.emission_acceptance),
            "update_diagnostics": update_diagnostics(
                getattr(result, "update_converged", ()), getattr(result, "update_factor_ok", ())
            ),
        },
    )


def update_diagnostics(converged, factor_ok) -> dict:
    """Counts of the iterations whose update did not converge or whose factorisation failed.

    Args:
        converged: (n,) bool per iteration (empty when the updates report no convergence).
        factor_ok: (n,) bool per iteration (empty when they report no factorisation).

    Returns:
        `{"mode_search_unconverged": int | None, "factorisation_failed": int | None}`
        (None when the updates do not report it).
    """
    converged, factor_ok = np.asarray(converged, dtype=bool), np.asarray(factor_ok, dtype=bool)
    return {
        "mode_search_unconverged": int((~converged).sum()) if converged.size else None,
        "factorisation_failed": int((~factor_ok).sum()) if factor_ok.size else None,
    }


def _acceptance_rate(accepted, acceptance) -> float | None:
    """Fraction of exact emission updates (finite acceptance probability) that accepted; None if there were none."""
    exact = np.isfinite(np.asarray(acceptance, dtype=float))
    return float(np.asarray(accepted, dtype=bool)[exact].mean()) if exact.any() else None


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        return float(value)
    return value


def read_npz(path: Path) -> dict:
    """`load_npz` with a `ModelFileError` naming the file when it is missing, refused or truncated."""
    if not path.is_file():
        raise ModelFileError(f"{path}: missing")
    try:
        return load_npz(path)
    except ValueError as error:
        raise ModelFileError(f"{path}: refused ({error})") from None
    except Exception as error:  # zipfile / numpy format errors on truncated files
        raise ModelFileError(f"{path}: unreadable or truncated ({type(error).__name__})") from None


def load_states(folder) -> dict:
    """recording name -> (T_i,) int states from `states.npz`.

    Args:
        folder: a fit folder (str or `Path`).

    Returns:
        dict recording name -> (T_i,) int states, in the saved order.

    Raises:
        ModelFileError: `states.npz` is missing, truncated, or lacks names or states.
    """
    path = Path(folder) / "states.npz"
    arrays = read_npz(path)
    if "names" not in arrays or arrays["names"].dtype.kind != "U":
        raise ModelFileError(f"{path}: no recording names")
    names = arrays["names"].tolist()
    missing = [i for i in range(len(names)) if f"states_{i}" not in arrays]
    if missing:
        raise ModelFileError(f"{path}: missing states for {len(missing)} recordings")
    return {name: arrays[f"states_{i}"] for i, name in enumerate(names)}


def read_fit(folder, components=()) -> dict:
    """Every part of the fit saved in `folder`, validated; nothing is unpickled or imported.

    Args:
        folder: a fit folder written by `FitResult.save` or `smoseq fit`.
        components: classes of user components the model holds (see
            `smoseq.io.model_files.load_model`).

    Returns:
        A dict of `FitResult`'s fields: `model`, `states` (name -> (T_i,) int),
        `log_probs` (n_iters,), `emission_losses`, `history` (n_iters, T_seg),
        `hyperparameters`, `info`, `segment_states`, `keys`, `bounds`,
        `transition_samples`, `group_counts` (None unless the fit kept them, e.g. a grouped fit),
        `emission_accepted`, `emission_acceptance` (empty unless the fit used exact emission
        updates), `update_converged`, `update_factor_ok` (empty when not reported),
        `last_updates` (path -> array), `state_names` (state -> name, {} when none were given).

    Raises:
        ModelFileError: a missing, incomplete, truncated or foreign file, or a component
            class that was not passed (the message names the file and the class).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ModelFileError(f"{folder}: no such fit folder")
    fit_json = read_json(folder / "fit.json")
    if not fit_json.get("complete"):
        raise ModelFileError(f"{folder / 'fit.json'}: the fit was not completely written")
    model, description = load_model(folder, components)
    trace = read_npz(folder / "trace.npz")
    return {
        "model": model,
        "states": load_states(folder),
        "log_probs": trace.get("log_probs", np.zeros(0)),
        "emission_losses": trace.get("emission_losses", np.zeros(0)),
        "history": trace.get("history", np.zeros((0, 0), np.int16)),
        "hyperparameters": fit_json.get("hyperparameters", description.get("hyperparameters", {})),
        "info": fit_json.get("info", {}),
        "segment_states": trace.get("segment_states"),
        "keys": trace.get("keys"),
        "bounds": trace.get("bounds"),
        "transition_samples": trace.get("transition_samples"),
        "group_counts": trace.get("group_counts"),
        "coefficient_samples": trace.get("coefficient_samples"),
        "feature_counts": trace.get("feature_counts"),
        "feature_rows": trace.get("feature_rows"),
        "feature_draws": trace.get("feature_draws"),
        "emission_accepted": trace.get("emission_accepted", np.zeros(0, bool)),
        "emission_acceptance": trace.get("emission_acceptance", np.zeros(0)),
        "state_names": read_state_names(folder, model.n_states),
        "update_converged": trace.get("update_converged", np.zeros(0, bool)),
        "update_factor_ok": trace.get("update_factor_ok", np.zeros(0, bool)),
        "last_updates": {name.removeprefix("last_updates."): value for name, value in trace.items()
                         if name.startswith("last_updates.")},  # fmt: skip
    }
