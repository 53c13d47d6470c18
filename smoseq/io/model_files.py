"""Saving and loading models without ever executing or importing code named in a file (DESIGN §5).

A model is two files:

    model.json   what to build: the whole Equinox tree of the `HHMM` (every module's
                 class and fields, every array's shape and dtype, static values), with
                 no array values
    model.eqx    the array leaves, in tree order (`equinox.tree_serialise_leaves`)

Format version 2 (this one) describes the model's whole tree of Equinox modules
(`smoseq.io.module_tree`), so custom components can be saved: built-in classes are named
`"smoseq:<ClassName>"`, any other class `"<module>.<qualname>"` of its exact type and is
listed in `"components"`. Loading resolves every name against the built-ins and the
classes the caller passes in `components=`; nothing named in a file is ever imported. The
skeleton is built without calling any `__init__`, filled from `model.eqx`, and the `HHMM`
is rebuilt through its constructor so its checks run. Format version 1 (smoseq 0.1.0:
built-in structure only) still loads.
"""

import io
import json
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._errors import ModelFileError
from .._version import __version__
from ..models import (
    HHMM,
    Dirichlet,
    FullRankEmissions,
    LowRankEmissions,
    Normal,
    StickyTransitions,
    StudentT,
)
from . import module_tree
from .files import atomic_write_bytes, atomic_write_text

FORMAT_NAME = "smoseq-model"
FORMAT_VERSION = 2
_SUPPORTED_VERSIONS = (1, 2)
_RESERVED_KEYS = frozenset(
    {"format", "format_version", "package_version", "n_states", "n_syllables", "model", "components"}
)
_MAX_SIZE = 100_000

# Format version 1 (smoseq 0.1.0): built-in structure only.
_V1_PRIORS = {"Normal": Normal, "StudentT": StudentT, "Dirichlet": Dirichlet}
_V1_EMISSIONS = {"low_rank": LowRankEmissions, "full_rank": FullRankEmissions}


# ---------------------------------------------------------------------------------------
# Describing a model (format version 2)


def describe_model(model: HHMM) -> dict:
    """The JSON description of a model's whole structure (format version 2; no array values).

    Args:
        model: an `HHMM` with any components (Equinox modules whose fields hold arrays,
            Equinox modules, None, numbers, strings, or tuples and lists of these).

    Returns:
        A dict: `format`, `format_version` (2), `package_version`, `n_states`,
        `n_syllables`, `model` (the tree, see the module docstring) and `components`
        (the names of the classes in the tree that are not built-in).

    Raises:
        TypeError: `model` is not an `HHMM`, or a field holds something the description
            cannot hold (a function, an object that is not an Equinox module); the
            message names the class and field.
    """
    if not isinstance(model, HHMM):
        raise TypeError(f"save_model saves an HHMM, got {type(model).__name__}")
    names: list[str] = []
    tree = module_tree.describe_tree(model, "HHMM", False, names)
    return {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "package_version": __version__,
        "n_states": int(model.n_states),
        "n_syllables": int(model.n_syllables),
        "model": tree,
        "components": names,
    }


# ---------------------------------------------------------------------------------------
# Validating a description


def _check_size(description: dict, source: str) -> None:
    for field in ("n_states", "n_syllables"):
        value = description.get(field)
        if not isinstance(value, int) or isinstance(value, bool) or not 2 <= value <= _MAX_SIZE:
            raise ModelFileError(f"{source}: {field} must be an integer >= 2, got {value!r}")


def _validate_v1(description: dict, source: str) -> dict:
    if description.get("emissions") not in _V1_EMISSIONS:
        raise ModelFileError(f"{source}: unknown emissions {description.get('emissions')!r}")
    _check_size(description, source)
    priors = description.get("priors")
    expected = {"base", "biases"} if description["emissions"] == "low_rank" else {"tables"}
    if not isinstance(priors, dict) or set(priors) != expected or any(p not in _V1_PRIORS for p in priors.values()):
        raise ModelFileError(f"{source}: priors must name {sorted(expected)} with one of {sorted(_V1_PRIORS)}")
    return description


def _validate_v2(description: dict, source: str) -> dict:
    _check_size(description, source)
    if not isinstance(description.get("package_version"), str):
        raise ModelFileError(f"{source}: package_version must be a string")
    tree = description.get("model")
    if not isinstance(tree, dict) or tree.get("class") != module_tree.BUILTIN_PREFIX + "HHMM":
        raise ModelFileError(f"{source}: the model tree's root must be a {module_tree.BUILTIN_PREFIX}HHMM class node")
    classes: list[str] = []
    module_tree.check_tree(tree, "model", 0, source, classes)
    components = description.get("components")
    if not isinstance(components, list) or any(not isinstance(name, str) for name in components):
        raise ModelFileError(f"{source}: components must be a list of class names")
    custom = {name for name in classes if not name.startswith(module_tree.BUILTIN_PREFIX)}
    if set(components) != custom:
        raise ModelFileError(
            f"{source}: components {sorted(components)} do not list the tree's non-built-in classes {sorted(custom)}"
        )
    return description


def validate_description(description, source: str) -> dict:
    """Check a parsed model.json; raise ModelFileError naming `source` and the problem.

    Args:
        description: the parsed JSON.
        source: the file name to put in messages.

    Returns:
        `description`, unchanged.

    Raises:
        ModelFileError: not a smoseq model description, an unsupported format version, or
            a malformed structure (bad node kinds, negative shapes, unknown dtypes, a root
            that is not the `HHMM`, ...).
    """
    if not isinstance(description, dict):
        raise ModelFileError(f"{source}: expected a JSON object")
    if description.get("format") != FORMAT_NAME:
        raise ModelFileError(f"{source}: not a smoseq model description (format={description.get('format')!r})")
    version = description.get("format_version")
    if isinstance(version, bool) or version not in _SUPPORTED_VERSIONS:
        raise ModelFileError(
            f"{source}: model format version {version!r} is not supported by smoseq {__version__} "
            f"(expects {FORMAT_VERSION}, or 1); refit or load it with the smoseq version that wrote it"
        )
    if version == 1:
        return _validate_v1(description, source)
    return _validate_v2(description, source)


# ---------------------------------------------------------------------------------------
# Skeletons


def _v1_skeleton(description: dict) -> HHMM:
    """The HHMM a format-1 description stands for, with shape placeholders (0.1.0's leaf order)."""
    K, S = description["n_states"], description["n_syllables"]

    def build():
        transitions = StickyTransitions(jnp.zeros((K, K)), 0.0, 0.0)
        if description["emissions"] == "low_rank":
            priors = description["priors"]
            emissions = LowRankEmissions(
                jnp.zeros((S, S - 1)),
                jnp.zeros((K - 1, S - 1)),
                _V1_PRIORS[priors["base"]](),
                _V1_PRIORS[priors["biases"]](),
            )
        else:
            emissions = FullRankEmissions(jnp.zeros((K, S, S)), _V1_PRIORS[description["priors"]["tables"]]())
        return HHMM(emissions, transitions)  # UniformInitialState: no leaves, same leaf order as 0.1.0

    return eqx.filter_eval_shape(build)


def _v2_skeleton(description: dict, source: str, registry: dict) -> HHMM:
    return module_tree.build_skeleton(description["model"], "model", source, registry, False)


def model_skeleton(description: dict, components=()) -> HHMM:
    """An HHMM of the described structure whose leaves are shape placeholders (no `__init__` runs).

    Args:
        description: a validated description (format version 1 or 2).
        components: classes of the non-built-in components the description names.

    Returns:
        The skeleton (array leaves are `jax.ShapeDtypeStruct`).

    Raises:
        ModelFileError: a class that is neither built-in nor passed, or a field set that
            differs from the class's.
    """
    return _skeleton(description, "model.json", components)


# ---------------------------------------------------------------------------------------
# Reading leaves


def _read_leaves(data: bytes, skeleton, source: str):
    """`skeleton` filled from `data` (model.eqx), every array leaf a JAX array."""
    buffer = io.BytesIO(data)
    try:
        model = eqx.tree_deserialise_leaves(buffer, skeleton)
    except Exception as error:  # noqa: BLE001 -- numpy/equinox raise several types for truncated or foreign files
        message = " ".join(str(error).split())
        raise ModelFileError(f"{source}: cannot read the model parameters ({type(error).__name__}: {message})") from None
    if buffer.tell() != len(data):
        raise ModelFileError(
            f"{source}: {len(data) - buffer.tell()} bytes beyond the parameters model.json describes "
            "(the two files belong to different models)"
        )
    leaves = jax.tree_util.tree_leaves(model)
    if any(isinstance(leaf, jax.ShapeDtypeStruct) for leaf in leaves):
        raise ModelFileError(f"{source}: incomplete model parameters")
    return jax.tree_util.tree_map(lambda x: jnp.asarray(x) if isinstance(x, (np.ndarray, jax.Array)) else x, model)


def _finish(loaded, description: dict, source: str) -> HHMM:
    """The `HHMM` rebuilt through its constructor from the loaded tree's components."""
    if not isinstance(loaded, HHMM):
        raise ModelFileError(f"{source}: the model tree's root is not an HHMM")
    for name in ("emissions", "transitions", "initial"):
        module_tree.run_checks(getattr(loaded, name), f"model.{name}", source)
    try:
        model = HHMM(loaded.emissions, loaded.transitions, loaded.initial)
    except Exception as error:  # noqa: BLE001 -- the constructor's checks, or a component missing what they read
        raise ModelFileError(f"{source}: not a valid HHMM ({' '.join(str(error).split())})") from None
    try:
        sizes = (int(model.n_states), int(model.n_syllables))
    except Exception as error:  # noqa: BLE001 -- a component's own properties may raise anything
        raise ModelFileError(f"{source}: the components do not report their sizes ({type(error).__name__})") from None
    if sizes != (description["n_states"], description["n_syllables"]):
        raise ModelFileError(
            f"{source}: the model has n_states={sizes[0]}, n_syllables={sizes[1]} but model.json says "
            f"n_states={description['n_states']}, n_syllables={description['n_syllables']}"
        )
    return model


def _skeleton(description: dict, source: str, components):
    """The skeleton of a validated description; every class resolved before any array is read."""
    if description["format_version"] == 1:
        return _v1_skeleton(description)
    passed = module_tree.component_registry(components)
    _check_components_passed(description, source, passed)
    return _v2_skeleton(description, source, module_tree.builtin_classes() | passed)


def _check_components_passed(description: dict, source: str, passed: dict) -> None:
    """Raise `ModelFileError` naming every non-built-in class of the file not among `passed`, at once."""
    missing = [name for name in description.get("components", []) if name not in passed]
    if not missing:
        return
    suggested = ", ".join(dict.fromkeys(name.rsplit(".", 1)[-1] for name in description["components"]))
    raise ModelFileError(
        f"{source}: the model uses {', '.join(missing)}, which smoseq does not import from a file; pass "
        f"{'every class' if len(missing) > 1 else 'the class'}: sm.load_fit(folder, components=[{suggested}])"
    )


def _load(data: bytes, skeleton, description: dict, json_source: str, leaves_source: str) -> HHMM:
    loaded = _read_leaves(data, skeleton, leaves_source)
    if description["format_version"] == 1:
        return loaded
    return _finish(loaded, description, json_source)


# ---------------------------------------------------------------------------------------
# Public API


def model_to_bytes(model: HHMM) -> bytes:
    """The array leaves of `model` in tree order (`equinox.tree_serialise_leaves`)."""
    buffer = io.BytesIO()
    eqx.tree_serialise_leaves(buffer, model)
    return buffer.getvalue()


def model_from_bytes(data: bytes, description: dict, source: str, components=()) -> HHMM:
    """The model `description` describes, its leaves read from `data`; nothing named in it is imported.

    Args:
        data: the bytes of `model.eqx`.
        description: the validated `model.json` (`validate_description`).
        source: the file name to put in messages.
        components: the classes of the non-built-in components the description names
            (matched by `"<module>.<qualname>"`).

    Returns:
        The `HHMM`, every array leaf a JAX array.

    Raises:
        ModelFileError: a class neither built-in nor passed, a field set that differs from
            the class's, truncated or foreign leaves, or components that do not make an HHMM.
        TypeError: an entry of `components` that is not an `eqx.Module` subclass.
    """
    skeleton = _skeleton(description, source, components)
    return _load(data, skeleton, description, source, source)


def save_model(model: HHMM, folder, extra: dict | None = None) -> None:
    """Write `model.eqx` and then `model.json` into `folder` (created if missing).

    Each file is written atomically; `model.json` comes last, so a folder with a
    `model.json` has its parameters. The model is described before anything is written.

    Args:
        model: an `HHMM` with any components: built-in or your own Equinox modules (load
            those back with `load_model(folder, components=[YourClass, ...])`).
        folder: destination folder (str or `Path`).
        extra: optional JSON-serialisable entries merged into `model.json` (e.g.
            hyperparameters); they must not use the reserved keys (format,
            format_version, package_version, n_states, n_syllables, model, components).

    Returns:
        None; writes `folder/model.eqx` (array leaves) and `folder/model.json` (structure).

    Raises:
        TypeError: a field `model.json` cannot describe (a function, a non-module object);
            the message names the class and field. Nothing is written.
        ValueError: `extra` uses a reserved key, or is not JSON-serialisable. Nothing is written.
    """
    description = describe_model(model)
    extra = dict(extra or {})
    clashes = sorted(set(extra) & _RESERVED_KEYS)
    if clashes:
        raise ValueError(f"extra entries {clashes} would replace model.json's own keys; rename them")
    try:
        text = json.dumps(description | extra, indent=2, sort_keys=False) + "\n"
    except (TypeError, ValueError) as error:
        raise ValueError(f"extra entries must be JSON-serialisable ({error})") from None
    data = model_to_bytes(model)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(folder / "model.eqx", data)
    atomic_write_text(folder / "model.json", text)


def read_json(path) -> dict:
    """The parsed JSON of `path`; ModelFileError naming it when missing or not JSON."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path}: missing")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ModelFileError(f"{path}: not valid JSON ({error.msg if hasattr(error, 'msg') else error})") from None
    except RecursionError:
        raise ModelFileError(f"{path}: JSON nested too deeply") from None


def load_model(folder, components=()) -> tuple[HHMM, dict]:
    """The model saved in `folder` and its description (validated before any array is read).

    Nothing named in the files is imported: every class is resolved against the built-ins
    and `components`.

    Args:
        folder: a folder written by `save_model` (or a fit folder), str or `Path`.
        components: the classes of the model's non-built-in components (e.g.
            `[MyTransitions]`), matched by `"<module>.<qualname>"`; `model.json` lists
            them under `"components"`.

    Returns:
        `(model, description)`: the `HHMM` with its arrays as JAX arrays, and the parsed
        `model.json` dict.

    Raises:
        ModelFileError: the folder, `model.json` or `model.eqx` is missing, invalid, of an
            unsupported format version, truncated, or names a class that is neither
            built-in nor passed in `components` (the message names the file).
        TypeError: an entry of `components` that is not an `eqx.Module` subclass.
    """
    module_tree.component_registry(components)  # TypeError before touching any file
    folder = Path(folder)
    if not folder.is_dir():
        raise ModelFileError(f"{folder}: no such model folder")
    json_path = folder / "model.json"
    description = validate_description(read_json(json_path), str(json_path))
    leaves_path = folder / "model.eqx"
    if not leaves_path.is_file():
        raise ModelFileError(f"{leaves_path}: missing")
    skeleton = _skeleton(description, str(json_path), components)
    model = _load(leaves_path.read_bytes(), skeleton, description, str(json_path), str(leaves_path))
    return model, description
