"""The scan folder: what it holds, how models are named, and the plan of batches.

    SCAN/recordings.npz          names + syllables of every recording (written once, no pickle)
    SCAN/scan.json               settings shared by every model, and the batches (see below)
    SCAN/models/<name>/          one fit folder per model (DESIGN §5) + summary.json (its row)
    SCAN/summary.csv             every model's row, rebuilt after each run and by `smoseq select`

A model is named `K{K}_kappa{κ}_seed{s}` (κ to 4 significant digits, e.g. `K10_kappa2.637e5_seed3`).
A batch (models fitted by one vmapped program) is fixed the first time it is planned and
stored in scan.json, so a re-run fits an interrupted batch with exactly the same members
and gets bit-identical results; models added to the grid later form new batches.
"""

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .._errors import InputError, ModelFileError
from ..io.files import atomic_savez, atomic_write_json
from ..io.model_files import read_json
from ..fitting.settings import FitSettings, field_names

RECORDINGS_FILE = "recordings.npz"
SCAN_FILE = "scan.json"
SUMMARY_FILE = "summary.csv"
MODELS_DIR = "models"
ROW_FILE = "summary.json"
FORMAT_NAME = "smoseq-scan"
FORMAT_VERSION = 1


class ScanSettings:
    """What every model of a scan shares; a re-run must use the same settings.

    `ScanSettings(fit=sm.FitSettings(...), heldout_folds=2)` reuses the settings of a fit;
    `ScanSettings(n_iters=50, emissions="full_rank", ...)` builds them from the keywords of
    `sm.FitSettings` (not both). The grid sets `n_states`, `kappa` and `seed` of each model,
    and a batched fit uses neither `n_init_iters`, `checkpoint_every`, `devices` nor
    `memory_limit`: scan.json holds the other settings (`to_json`).

    Attributes:
        fit: the `sm.FitSettings` of every model (iterations, components, priors, optimizers,
            segmentation, `repeats`, …).
        heldout_folds: F ≥ 2 to cross-validate (the model with seed s leaves out fold
            s mod F of the recordings, see `run_scan`), 0 for none.
        fps: frame rate, for durations in seconds.
        groups: recording -> experimental group, or a `name,group` CSV (`sm.load_groups`;
            `run_scan` stores the matched dict): every model gets one transition matrix per
            group, as `sm.fit(..., groups=...)`; None for one matrix.
    """

    __slots__ = ("fit", "heldout_folds", "fps", "groups")
    SCAN_ONLY = ("heldout_folds", "fps", "groups")

    def __init__(self, fit: FitSettings | None = None, heldout_folds: int = 0, fps: float = 120.0,
                 groups: dict | str | None = None, **fit_keywords):  # fmt: skip
        if fit is not None and fit_keywords:
            raise InputError(f"ScanSettings: pass fit=FitSettings(...) or {sorted(fit_keywords)[0]}=..., not both")
        if fit is None:
            unknown = sorted(set(fit_keywords) - set(field_names()))
            if unknown:
                raise InputError(f"ScanSettings has no setting {unknown[0]!r}")
            fit = FitSettings(**fit_keywords)
        if not isinstance(fit, FitSettings):
            raise InputError(f"ScanSettings: fit must be a FitSettings, got {type(fit).__name__}")
        for name, value in (("fit", fit), ("heldout_folds", heldout_folds), ("fps", fps), ("groups", groups)):
            object.__setattr__(self, name, value)

    def __setattr__(self, name, value):
        raise AttributeError("ScanSettings is immutable: use replace(...)")

    def __eq__(self, other) -> bool:
        if not isinstance(other, ScanSettings):
            return NotImplemented
        return self.fit == other.fit and (self.heldout_folds, self.fps, self.groups) == (other.heldout_folds, other.fps, other.groups)

    __hash__ = None

    def __repr__(self) -> str:
        return f"ScanSettings(fit={self.fit!r}, heldout_folds={self.heldout_folds!r}, fps={self.fps!r}, groups={self.groups!r})"

    def replace(self, **changes) -> "ScanSettings":
        """A copy with `changes` (scan settings, or settings of `fit`)."""
        scan = {name: changes.pop(name, getattr(self, name)) for name in self.SCAN_ONLY}
        fit = changes.pop("fit", self.fit)
        return ScanSettings(fit.replace(**changes) if changes else fit, **scan)

    def to_json(self) -> dict:
        """What scan.json stores: the scan's own settings and the fit settings a batched fit uses."""
        used = [name for name in field_names() if name not in FitSettings.GRID + FitSettings.SINGLE_FIT_ONLY]
        return {"heldout_folds": self.heldout_folds, "fps": self.fps, "groups": self.groups} | self.fit.to_json(only=used)

    @classmethod
    def from_json(cls, data: dict, source: str = SCAN_FILE) -> "ScanSettings":
        """The settings of `to_json`; a setting missing from an older scan.json takes the value such scans used."""
        if not isinstance(data, dict):
            raise ModelFileError(f"{source}: settings must be a JSON object")
        data = LEGACY_SETTINGS | data
        scan = {name: data.pop(name) for name in cls.SCAN_ONLY if name in data}
        try:
            return cls(FitSettings.from_json(data, source=source), **scan)
        except InputError as error:
            raise ModelFileError(str(error)) from None


# Settings that scans written before they were stored always used (not necessarily today's defaults).
LEGACY_SETTINGS = {"exact_emissions": False, "mode_search": None, "retry": None}


@dataclass(frozen=True)
class ModelSpec:
    """One model of the grid; `fold` is the held-out fold (None: fitted on every recording)."""

    n_states: int
    kappa: float
    seed: int
    fold: int | None = None

    @property
    def name(self) -> str:
        return model_name(self.n_states, self.kappa, self.seed)


def kappa_text(kappa: float) -> str:
    """κ to 4 significant digits without `+` or leading exponent zeros: 1000, 2.637e5, 1e7."""
    text = f"{kappa:.4g}"
    mantissa, _, exponent = text.partition("e")
    return mantissa if not exponent else f"{mantissa}e{int(exponent)}"


def model_name(n_states: int, kappa: float, seed: int) -> str:
    """The folder name of a scan's model: `K{K}_kappa{κ}_seed{s}`.

    Args:
        n_states: K.
        kappa: κ, written to 4 significant digits (e.g. `2.637e5`, `1000`).
        seed: the model's seed.

    Returns:
        A string such as `K10_kappa2.637e5_seed3`.
    """
    return f"K{n_states}_kappa{kappa_text(kappa)}_seed{seed}"


def fold_of(seed: int, heldout_folds: int) -> int | None:
    """Held-out scheme: the model with seed s leaves out fold `s mod F` (None without folds)."""
    return seed % heldout_folds if heldout_folds else None


def fold_recordings(names, heldout_folds: int, fold: int | None) -> tuple[list[str], list[str]]:
    """`(training, held_out)` names: fold f holds the recordings at sorted positions i with i mod F == f."""
    names = sorted(names)
    if fold is None:
        return names, []
    held_out = [name for i, name in enumerate(names) if i % heldout_folds == fold]
    return [name for name in names if name not in held_out], held_out


def model_folder(scan_dir, name: str) -> Path:
    return Path(scan_dir) / MODELS_DIR / name


def data_fingerprint(recordings: dict) -> str:
    """sha256 (16 hex digits) of recording names and syllables."""
    digest = hashlib.sha256()
    for name in sorted(recordings):
        digest.update(name.encode())
        digest.update(np.ascontiguousarray(recordings[name], dtype=np.int64).tobytes())
    return digest.hexdigest()[:16]


def write_recordings(scan_dir, recordings: dict) -> None:
    names = sorted(recordings)
    atomic_savez(
        Path(scan_dir) / RECORDINGS_FILE,
        names=np.array(names, dtype=str),
        **{f"syllables_{i}": np.asarray(recordings[name], dtype=np.int32) for i, name in enumerate(names)},
    )


def read_recordings(scan_dir) -> dict:
    """The recordings a scan was started with (loaded without pickle).

    Args:
        scan_dir: a scan folder (holds recordings.npz).

    Returns:
        dict recording name -> (T_i,) int32 syllables, in sorted name order.

    Raises:
        ModelFileError: recordings.npz is missing, truncated, or has no names.
    """
    from ..io.fit_folders import read_npz

    arrays = read_npz(Path(scan_dir) / RECORDINGS_FILE)
    if "names" not in arrays or arrays["names"].dtype.kind != "U":
        raise ModelFileError(f"{Path(scan_dir) / RECORDINGS_FILE}: no recording names")
    return {name: arrays[f"syllables_{i}"] for i, name in enumerate(arrays["names"].tolist())}


def read_scan_file(scan_dir) -> dict | None:
    path = Path(scan_dir) / SCAN_FILE
    if not path.exists():
        return None
    description = read_json(path)
    if description.get("format") != FORMAT_NAME:
        raise ModelFileError(f"{path}: not a smoseq scan file")
    return description


def settings_from(description: dict, source: str = SCAN_FILE) -> ScanSettings:
    """The `ScanSettings` stored in a scan.json description."""
    return ScanSettings.from_json(dict(description["settings"]), source=source)


def start_scan_folder(scan_dir, recordings: dict, settings: ScanSettings) -> dict:
    """Create or re-open a scan folder; refuse one started on other data or with other settings."""
    scan_dir = Path(scan_dir)
    if scan_dir.exists() and not scan_dir.is_dir():
        raise InputError(f"{scan_dir}: exists and is not a folder")
    fingerprint = data_fingerprint(recordings)
    description = read_scan_file(scan_dir)
    if description is None:
        if scan_dir.exists() and any(p.name != RECORDINGS_FILE and not p.name.startswith(".") for p in scan_dir.iterdir()):
            raise InputError(f"{scan_dir}: not empty and not a scan folder; choose another --out")
        scan_dir.mkdir(parents=True, exist_ok=True)
        write_recordings(scan_dir, recordings)
        description = {"format": FORMAT_NAME, "format_version": FORMAT_VERSION, "data_fingerprint": fingerprint,
                       "settings": settings.to_json(), "batches": []}  # fmt: skip
        atomic_write_json(scan_dir / SCAN_FILE, description)
        return description
    if description.get("data_fingerprint") != fingerprint:
        raise InputError(f"{scan_dir}: holds a scan of different recordings; choose another --out")
    stored = settings_from(description, source=str(scan_dir / SCAN_FILE)).to_json()
    changed = [f"{key} {stored[key]!r} -> {value!r}" for key, value in settings.to_json().items() if stored[key] != value]
    if changed:
        raise InputError(f"{scan_dir}: was started with other settings ({'; '.join(changed)}); choose another --out")
    return description


def plan_batches(scan_dir, description: dict, specs: list[ModelSpec], batch_size) -> list[dict]:
    """Every batch holding a model of `specs`, planning new batches for models not yet in one.

    New models are grouped by (K, fold), ordered by κ then seed, and cut into batches of
    `batch_size(n_states, fold)` models. The updated plan is written to scan.json.
    """
    batches = description["batches"]
    planned = {name for batch in batches for name in batch["models"]}
    new = [spec for spec in specs if spec.name not in planned]
    groups: dict = {}
    for spec in sorted(new, key=lambda s: (s.n_states, -1 if s.fold is None else s.fold, s.kappa, s.seed)):
        groups.setdefault((spec.n_states, spec.fold), []).append(spec)
    for (n_states, fold), members in groups.items():
        size = batch_size(n_states, fold)
        for first in range(0, len(members), size):
            chunk = members[first : first + size]
            batches.append({"n_states": n_states, "fold": fold,
                            "models": [m.name for m in chunk], "kappas": [m.kappa for m in chunk],
                            "seeds": [m.seed for m in chunk]})  # fmt: skip
    if new:
        atomic_write_json(Path(scan_dir) / SCAN_FILE, description)
    wanted = {spec.name for spec in specs}
    return [batch for batch in batches if wanted.intersection(batch["models"])]
