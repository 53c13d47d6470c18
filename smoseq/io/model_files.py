"""Saving and loading models without ever executing or importing code named in a file (DESIGN §5).

A model is two files:

    model.json   what to build: the whole Equinox tree of the `HHMM` (every module's
                 class and fields, every array's shape and dtype, static values), with
                 no array values
    model.eqx    the array leaves, in tree order (`equinox.tree_serialise_leaves`)

Format version 2 (this one) describes any tree of Equinox modules, so custom components
can be saved. A node of `model["model"]` is one of:

    {"class": "smoseq:LowRankEmissions", "fields": {name: node, ...}}   an Equinox module
    {"array": {"shape": [3, 2], "dtype": "float32"}}                      an array leaf
    {"value": 3}                                                          an int, float, bool or str
    {"sequence": [node, ...]}  ({"sequence": [...], "list": true} for a list)   a tuple
    null                                                                  None

Built-in classes (those `smoseq.models` exports) are named `"smoseq:<ClassName>"`; any
other class `"<module>.<qualname>"` of its exact type, and is listed in `"components"`.
Loading resolves every name against the built-ins and the classes the caller passes in
`components=`; nothing named in a file is ever imported. The skeleton is built without
calling any `__init__`, filled from `model.eqx`, and the `HHMM` is rebuilt through its
constructor so its checks run. Format version 1 (smoseq 0.1.0: built-in structure only)
still loads.
"""

import dataclasses
import inspect
import io
import json
import re
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .. import models as _models
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
from .files import atomic_write_bytes, atomic_write_text

FORMAT_NAME = "smoseq-model"
FORMAT_VERSION = 2
_SUPPORTED_VERSIONS = (1, 2)
_RESERVED_KEYS = frozenset(
    {"format", "format_version", "package_version", "n_states", "n_syllables", "model", "components"}
)
_BUILTIN_PREFIX = "smoseq:"
_DTYPES = frozenset(
    {
        "bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
        "float16", "bfloat16", "float32", "float64", "complex64", "complex128",
    }
)  # fmt: skip
_MAX_DEPTH = 64
_MAX_SIZE = 100_000
_CLASS_NAME = re.compile(r"^(smoseq:[A-Za-z_][A-Za-z0-9_]*|[A-Za-z_<>][A-Za-z0-9_.<>]*)$")

# Format version 1 (smoseq 0.1.0): built-in structure only.
_V1_PRIORS = {"Normal": Normal, "StudentT": StudentT, "Dirichlet": Dirichlet}
_V1_EMISSIONS = {"low_rank": LowRankEmissions, "full_rank": FullRankEmissions}


# ---------------------------------------------------------------------------------------
# Class names


def _builtin_classes() -> dict[str, type]:
    """`"smoseq:<Name>"` -> class, for every Equinox module class `smoseq.models` exports."""
    builtins = {}
    for name, value in vars(_models).items():
        if (
            not name.startswith("_")
            and isinstance(value, type)
            and issubclass(value, eqx.Module)
            and value.__name__ == name
        ):
            builtins[_BUILTIN_PREFIX + name] = value
    return builtins


def _component_name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _class_name(cls: type) -> str:
    """The name a class is recorded under in `model.json`: `"smoseq:<Name>"` for built-ins, else `"<module>.<qualname>"`."""
    for name, builtin in _builtin_classes().items():
        if builtin is cls:
            return name
    return _component_name(cls)


def _component_registry(components) -> dict[str, type]:
    """`"<module>.<qualname>"` -> class for the classes a caller passed; TypeError for a non-module."""
    if isinstance(components, type):
        components = [components]
    registry = {}
    for cls in components:
        if not (isinstance(cls, type) and issubclass(cls, eqx.Module)):
            shown = cls.__name__ if isinstance(cls, type) else f"{cls!r} ({type(cls).__name__})"
            raise TypeError(f"components must be Equinox module classes (eqx.Module subclasses), got {shown}")
        name = _component_name(cls)
        if registry.get(name, cls) is not cls:
            raise ValueError(f"components holds two different classes named {name}")
        registry[name] = cls
    return registry


# ---------------------------------------------------------------------------------------
# Describing a model (format version 2)


def _describe(value, where: str, static: bool, names: list):
    """The JSON node of `value`; TypeError naming `where` (class and field) for anything else."""
    if value is None:
        return None
    if isinstance(value, eqx.Module):
        cls = type(value)
        name = _class_name(cls)
        if not name.startswith(_BUILTIN_PREFIX) and name not in names:
            names.append(name)
        fields = {}
        for field in dataclasses.fields(value):
            try:
                child = getattr(value, field.name)
            except AttributeError:
                raise TypeError(f"cannot save {cls.__name__}.{field.name}: the field is not set") from None
            fields[field.name] = _describe(
                child, f"{cls.__name__}.{field.name}", static or bool(field.metadata.get("static", False)), names
            )
        return {"class": name, "fields": fields}
    if type(value) in (bool, int, float, str):
        return {"value": value}
    if isinstance(value, np.generic) and static:
        return _describe(value.item(), where, static, names)
    if isinstance(value, (jax.Array, np.ndarray, np.generic)):
        if static:
            raise TypeError(
                f"cannot save {where}: an array in a static field is not a leaf, so model.eqx would not hold it"
            )
        dtype = str(jnp.dtype(value.dtype)) if not jax.dtypes.issubdtype(value.dtype, jax.dtypes.prng_key) else "key"
        if dtype == "key":
            raise TypeError(f"cannot save {where}: a typed PRNG key array; hold jax.random.key_data(key) instead")
        if dtype not in _DTYPES:
            raise TypeError(f"cannot save {where}: arrays of dtype {dtype} are not supported (use one of {sorted(_DTYPES)})")
        return {"array": {"shape": [int(n) for n in np.shape(value)], "dtype": dtype}}
    if type(value) in (tuple, list):
        node = {"sequence": [_describe(item, f"{where}[{i}]", static, names) for i, item in enumerate(value)]}
        if type(value) is list:
            node["list"] = True
        return node
    kind = "a function" if callable(value) else f"a {type(value).__module__}.{type(value).__qualname__}"
    raise TypeError(
        f"cannot save {where}: it holds {kind}, which model.json cannot describe (fields may hold arrays, Equinox "
        "modules, None, numbers, strings, or tuples and lists of these)"
    )


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
    tree = _describe(model, "HHMM", False, names)
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


def _check_node(node, path: str, depth: int, source: str, classes: list) -> None:
    """Raise ModelFileError naming `source` and `path` unless `node` is a well-formed tree node."""
    if depth > _MAX_DEPTH:
        raise ModelFileError(f"{source}: the model tree is nested deeper than {_MAX_DEPTH} levels at {path}")
    if node is None:
        return
    if not isinstance(node, dict):
        raise ModelFileError(f"{source}: {path} must be an object or null, got {type(node).__name__}")
    keys = set(node)
    if keys == {"class", "fields"}:
        name, fields = node["class"], node["fields"]
        if not isinstance(name, str) or len(name) > 500 or not _CLASS_NAME.match(name):
            raise ModelFileError(f"{source}: {path} has an invalid class name {name!r}")
        if not isinstance(fields, dict):
            raise ModelFileError(f"{source}: {path} ({name}) fields must be an object")
        classes.append(name)
        for field, child in fields.items():
            if not field.isidentifier():
                raise ModelFileError(f"{source}: {path} ({name}) has an invalid field name {field!r}")
            _check_node(child, f"{path}.{field}", depth + 1, source, classes)
    elif keys == {"array"}:
        array = node["array"]
        if not isinstance(array, dict) or set(array) != {"shape", "dtype"}:
            raise ModelFileError(f"{source}: {path} array must hold exactly shape and dtype")
        shape, dtype = array["shape"], array["dtype"]
        if not isinstance(shape, list) or len(shape) > 32 or any(
            not isinstance(n, int) or isinstance(n, bool) or n < 0 for n in shape
        ):
            raise ModelFileError(f"{source}: {path} shape must be a list of integers >= 0, got {shape!r}")
        if dtype not in _DTYPES:
            raise ModelFileError(f"{source}: {path} has unknown dtype {dtype!r}")
    elif keys == {"value"}:
        if type(node["value"]) not in (bool, int, float, str):
            raise ModelFileError(f"{source}: {path} value must be a number, a boolean or a string")
    elif keys in ({"sequence"}, {"sequence", "list"}):
        if not isinstance(node["sequence"], list):
            raise ModelFileError(f"{source}: {path} sequence must be a list")
        if "list" in node and node["list"] is not True:
            raise ModelFileError(f"{source}: {path} list must be true when present")
        for i, child in enumerate(node["sequence"]):
            _check_node(child, f"{path}[{i}]", depth + 1, source, classes)
    else:
        raise ModelFileError(f"{source}: {path} is not a class, array, value, sequence or null node (keys {sorted(keys)})")


def _validate_v2(description: dict, source: str) -> dict:
    _check_size(description, source)
    if not isinstance(description.get("package_version"), str):
        raise ModelFileError(f"{source}: package_version must be a string")
    tree = description.get("model")
    if not isinstance(tree, dict) or tree.get("class") != _BUILTIN_PREFIX + "HHMM":
        raise ModelFileError(f"{source}: the model tree's root must be a {_BUILTIN_PREFIX}HHMM class node")
    classes: list[str] = []
    _check_node(tree, "model", 0, source, classes)
    components = description.get("components")
    if not isinstance(components, list) or any(not isinstance(name, str) for name in components):
        raise ModelFileError(f"{source}: components must be a list of class names")
    custom = {name for name in classes if not name.startswith(_BUILTIN_PREFIX)}
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


def _short_name(name: str) -> str:
    return name.rsplit(".", 1)[-1].rsplit(":", 1)[-1]


def _resolve(name: str, path: str, source: str, registry: dict) -> type:
    if name in registry:
        return registry[name]
    if name.startswith(_BUILTIN_PREFIX):
        raise ModelFileError(f"{source}: {path} names {name}, which smoseq {__version__} does not have")
    raise ModelFileError(
        f"{source}: the model uses {name}, which smoseq does not import from a file; pass the class: "
        f"sm.load_fit(folder, components=[{_short_name(name)}])"
    )


def _build(node, path: str, source: str, registry: dict, static: bool, modules: list):
    """The skeleton of `node`: modules made without `__init__`, arrays as `jax.ShapeDtypeStruct`."""
    if node is None:
        return None
    if "value" in node:
        return node["value"]
    if "array" in node:
        if static:
            raise ModelFileError(f"{source}: {path} is an array in a static field")
        shape, dtype = node["array"]["shape"], node["array"]["dtype"]
        return jax.ShapeDtypeStruct(tuple(shape), jax.dtypes.canonicalize_dtype(jnp.dtype(dtype)))
    if "sequence" in node:
        items = [_build(child, f"{path}[{i}]", source, registry, static, modules) for i, child in enumerate(node["sequence"])]
        return items if node.get("list") else tuple(items)
    name = node["class"]
    cls = _resolve(name, path, source, registry)
    if inspect.isabstract(cls):
        raise ModelFileError(f"{source}: {path} names the abstract class {name}, which has no instances")
    fields = dataclasses.fields(cls)
    expected, described = {field.name for field in fields}, set(node["fields"])
    if described != expected:
        raise ModelFileError(
            f"{source}: {path} ({name}) has fields {sorted(described)} but the class has {sorted(expected)}; "
            "the file was written by another version of that class"
        )
    instance = object.__new__(cls)
    for field in fields:
        child_static = static or bool(field.metadata.get("static", False))
        child = _build(node["fields"][field.name], f"{path}.{field.name}", source, registry, child_static, modules)
        object.__setattr__(instance, field.name, child)
    modules.append((path, name, cls))
    return instance


def _v2_skeleton(description: dict, source: str, registry: dict) -> HHMM:
    return _build(description["model"], "model", source, registry, False, [])


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


def _run_checks(instance, path: str, source: str) -> None:
    """Run the `__check_init__` of every module below the root (their `__init__` never ran)."""
    if isinstance(instance, (tuple, list)):
        for i, item in enumerate(instance):
            _run_checks(item, f"{path}[{i}]", source)
        return
    if not isinstance(instance, eqx.Module):
        return
    for field in dataclasses.fields(instance):
        _run_checks(getattr(instance, field.name), f"{path}.{field.name}", source)
    for cls in type(instance).__mro__:
        check = cls.__dict__.get("__check_init__")
        if check is not None:
            try:
                check(instance)
            except Exception as error:  # noqa: BLE001 -- a component's own checks may raise anything
                message = " ".join(str(error).split())
                raise ModelFileError(f"{source}: {path} ({type(instance).__name__}) fails its checks: {message}") from None


def _finish(loaded, description: dict, source: str) -> HHMM:
    """The `HHMM` rebuilt through its constructor from the loaded tree's components."""
    if not isinstance(loaded, HHMM):
        raise ModelFileError(f"{source}: the model tree's root is not an HHMM")
    for name in ("emissions", "transitions", "initial"):
        _run_checks(getattr(loaded, name), f"model.{name}", source)
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
    return _v2_skeleton(description, source, _builtin_classes() | _component_registry(components))


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
    _component_registry(components)  # TypeError before touching any file
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
