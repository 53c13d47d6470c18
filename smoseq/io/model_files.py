"""Saving and loading models and fits without ever executing code from a file (DESIGN §5).

A model is two files: `model.json` (what to build: emission kind, K, S, prior types)
and `model.eqx` (the array leaves, `equinox.tree_serialise_leaves`). Loading validates
the JSON against the structure it describes, builds an empty skeleton of that
structure with `equinox.filter_eval_shape`, and only then reads the leaves into it.
"""

import io
import json
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._version import __version__
from .._errors import ModelFileError
from .files import atomic_write_bytes, atomic_write_json
from ..models import (
    HHMM,
    Dirichlet,
    FullRankEmissions,
    LowRankEmissions,
    Normal,
    StickyTransitions,
    StudentT,
)

FORMAT_NAME = "smoseq-model"
FORMAT_VERSION = 1
_PRIORS = {"Normal": Normal, "StudentT": StudentT, "Dirichlet": Dirichlet}
_EMISSIONS = {"low_rank": LowRankEmissions, "full_rank": FullRankEmissions}


def _prior_name(prior) -> str:
    for name, cls in _PRIORS.items():
        if type(prior) is cls:
            return name
    raise TypeError(f"cannot save a model with prior {type(prior).__name__}; save it with eqx.tree_serialise_leaves")


def _emission_kind(emissions) -> str:
    for name, cls in _EMISSIONS.items():
        if type(emissions) is cls:
            return name
    raise TypeError(
        f"cannot describe emissions {type(emissions).__name__} in model.json; "
        "save custom modules with eqx.tree_serialise_leaves and your own skeleton"
    )


def describe_model(model: HHMM) -> dict:
    """The JSON description of a model's structure (no array values)."""
    emissions = model.emissions
    kind = _emission_kind(emissions)
    description = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "package_version": __version__,
        "emissions": kind,
        "n_states": int(model.n_states),
        "n_syllables": int(model.n_syllables),
    }
    if kind == "low_rank":
        description["priors"] = {"base": _prior_name(emissions.base_prior), "biases": _prior_name(emissions.bias_prior)}
    else:
        description["priors"] = {"tables": _prior_name(emissions.prior)}
    return description


def _skeleton_prior(name: str):
    cls = _PRIORS[name]
    return cls()


def model_skeleton(description: dict) -> HHMM:
    """An HHMM of the described structure whose leaves are shape placeholders."""
    K, S = description["n_states"], description["n_syllables"]

    def build():
        transitions = StickyTransitions(jnp.zeros((K, K)), 0.0, 0.0)
        if description["emissions"] == "low_rank":
            priors = description["priors"]
            emissions = LowRankEmissions(
                jnp.zeros((S, S - 1)),
                jnp.zeros((K - 1, S - 1)),
                _skeleton_prior(priors["base"]),
                _skeleton_prior(priors["biases"]),
            )
        else:
            emissions = FullRankEmissions(jnp.zeros((K, S, S)), _skeleton_prior(description["priors"]["tables"]))
        return HHMM(emissions, transitions)

    return eqx.filter_eval_shape(build)


def validate_description(description, source: str) -> dict:
    """Check a parsed model.json; raise ModelFileError naming `source` and the problem."""
    if not isinstance(description, dict):
        raise ModelFileError(f"{source}: expected a JSON object")
    if description.get("format") != FORMAT_NAME:
        raise ModelFileError(f"{source}: not a smoseq model description (format={description.get('format')!r})")
    version = description.get("format_version")
    if version != FORMAT_VERSION:
        raise ModelFileError(
            f"{source}: model format version {version!r} is not supported by smoseq {__version__} "
            f"(expects {FORMAT_VERSION}); refit or load it with the smoseq version that wrote it"
        )
    if description.get("emissions") not in _EMISSIONS:
        raise ModelFileError(f"{source}: unknown emissions {description.get('emissions')!r}")
    for field in ("n_states", "n_syllables"):
        value = description.get(field)
        if not isinstance(value, int) or isinstance(value, bool) or not 2 <= value <= 100_000:
            raise ModelFileError(f"{source}: {field} must be an integer >= 2, got {value!r}")
    priors = description.get("priors")
    expected = {"base", "biases"} if description["emissions"] == "low_rank" else {"tables"}
    if not isinstance(priors, dict) or set(priors) != expected or any(p not in _PRIORS for p in priors.values()):
        raise ModelFileError(f"{source}: priors must name {sorted(expected)} with one of {sorted(_PRIORS)}")
    return description


def model_to_bytes(model: HHMM) -> bytes:
    buffer = io.BytesIO()
    eqx.tree_serialise_leaves(buffer, model)
    return buffer.getvalue()


def model_from_bytes(data: bytes, description: dict, source: str) -> HHMM:
    skeleton = model_skeleton(description)
    try:
        model = eqx.tree_deserialise_leaves(io.BytesIO(data), skeleton)
    except Exception as error:  # numpy raises several types for truncated or foreign files
        raise ModelFileError(f"{source}: cannot read the model parameters ({type(error).__name__}: {error})") from None
    leaves = jax.tree_util.tree_leaves(model)
    if any(not isinstance(leaf, (np.ndarray, jax.Array)) for leaf in leaves):
        raise ModelFileError(f"{source}: incomplete model parameters")
    return jax.tree_util.tree_map(jnp.asarray, model)


def save_model(model: HHMM, folder, extra: dict | None = None) -> None:
    """Write `model.eqx` and then `model.json` into `folder` (created if missing).

    Each file is written atomically; `model.json` comes last, so a folder with a
    `model.json` has its parameters.

    Args:
        model: an `HHMM` with `LowRankEmissions` or `FullRankEmissions` and priors
            `Normal`, `StudentT` or `Dirichlet`.
        folder: destination folder (str or `Path`).
        extra: optional JSON-serialisable entries merged into `model.json` (e.g.
            hyperparameters).

    Returns:
        None; writes `folder/model.eqx` (array leaves) and `folder/model.json` (structure).

    Raises:
        TypeError: a custom emission module or prior that `model.json` cannot describe.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    description = describe_model(model) | (extra or {})
    atomic_write_bytes(folder / "model.eqx", model_to_bytes(model))
    atomic_write_json(folder / "model.json", description)


def read_json(path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path}: missing")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ModelFileError(f"{path}: not valid JSON ({error.msg if hasattr(error, 'msg') else error})") from None


def load_model(folder) -> tuple[HHMM, dict]:
    """The model saved in `folder` and its description (validated before any array is read).

    Args:
        folder: a folder written by `save_model` (or a fit folder), str or `Path`.

    Returns:
        `(model, description)`: the `HHMM` with its arrays as JAX arrays — low-rank
        `base` (S, S-1) and `biases` (K-1, S-1), or full-rank `tables` (K, S, S);
        `transitions.probs` (K, K) — and the parsed `model.json` dict.

    Raises:
        ModelFileError: the folder, `model.json` or `model.eqx` is missing, invalid,
            of an unsupported format version, or truncated (the message names the file).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ModelFileError(f"{folder}: no such model folder")
    description = validate_description(read_json(folder / "model.json"), str(folder / "model.json"))
    leaves_path = folder / "model.eqx"
    if not leaves_path.is_file():
        raise ModelFileError(f"{leaves_path}: missing")
    return model_from_bytes(leaves_path.read_bytes(), description, str(leaves_path)), description
