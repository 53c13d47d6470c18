"""An Equinox module tree as JSON and back, with no array values and no code run or imported from the file.

A node is one of:

    {"class": "smoseq:LowRankEmissions", "fields": {name: node, ...}}   an Equinox module
    {"array": {"shape": [3, 2], "dtype": "float32"}}                      an array leaf
    {"value": 3}                                                          an int, float, bool or str
    {"sequence": [node, ...]}  ({"sequence": [...], "list": true} for a list)   a tuple
    null                                                                  None

Built-in classes (the Equinox modules `smoseq.models` exports) are named
`"smoseq:<ClassName>"`, any other class `"<module>.<qualname>"` of its exact type. Reading
resolves names against the built-ins and the classes a caller passes; a skeleton is made
without calling any `__init__` (arrays as `jax.ShapeDtypeStruct`), and `run_checks` runs
every module's `__check_init__` once the leaves are in.
"""

import dataclasses
import inspect
import re

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .. import models as _models
from .._errors import ModelFileError
from .._version import __version__

BUILTIN_PREFIX = "smoseq:"
DTYPES = frozenset(
    {
        "bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
        "float16", "bfloat16", "float32", "float64", "complex64", "complex128",
    }
)  # fmt: skip
_MAX_DEPTH = 64
_CLASS_NAME = re.compile(r"^(smoseq:[A-Za-z_][A-Za-z0-9_]*|[A-Za-z_<>][A-Za-z0-9_.<>]*)$")


def builtin_classes() -> dict[str, type]:
    """`"smoseq:<Name>"` -> class, for every Equinox module class `smoseq.models` exports."""
    builtins = {}
    for name, value in vars(_models).items():
        if (
            not name.startswith("_")
            and isinstance(value, type)
            and issubclass(value, eqx.Module)
            and value.__name__ == name
        ):
            builtins[BUILTIN_PREFIX + name] = value
    return builtins


def _component_name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _class_name(cls: type) -> str:
    """The name a class is recorded under in `model.json`: `"smoseq:<Name>"` for built-ins, else `"<module>.<qualname>"`."""
    for name, builtin in builtin_classes().items():
        if builtin is cls:
            return name
    return _component_name(cls)


def component_registry(components) -> dict[str, type]:
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


def describe_tree(value, where: str, static: bool, names: list):
    """The JSON node of `value`; TypeError naming `where` (class and field) for anything else."""
    if value is None:
        return None
    if isinstance(value, eqx.Module):
        cls = type(value)
        name = _class_name(cls)
        if not name.startswith(BUILTIN_PREFIX) and name not in names:
            names.append(name)
        fields = {}
        for field in dataclasses.fields(value):
            try:
                child = getattr(value, field.name)
            except AttributeError:
                raise TypeError(f"cannot save {cls.__name__}.{field.name}: the field is not set") from None
            fields[field.name] = describe_tree(
                child, f"{cls.__name__}.{field.name}", static or bool(field.metadata.get("static", False)), names
            )
        return {"class": name, "fields": fields}
    if type(value) in (bool, int, float, str):
        return {"value": value}
    if isinstance(value, np.generic) and static:
        return describe_tree(value.item(), where, static, names)
    if isinstance(value, (jax.Array, np.ndarray, np.generic)):
        if static:
            raise TypeError(
                f"cannot save {where}: an array in a static field is not a leaf, so model.eqx would not hold it"
            )
        dtype = str(jnp.dtype(value.dtype)) if not jax.dtypes.issubdtype(value.dtype, jax.dtypes.prng_key) else "key"
        if dtype == "key":
            raise TypeError(f"cannot save {where}: a typed PRNG key array; hold jax.random.key_data(key) instead")
        if dtype not in DTYPES:
            raise TypeError(f"cannot save {where}: arrays of dtype {dtype} are not supported (use one of {sorted(DTYPES)})")
        return {"array": {"shape": [int(n) for n in np.shape(value)], "dtype": dtype}}
    if type(value) in (tuple, list):
        node = {"sequence": [describe_tree(item, f"{where}[{i}]", static, names) for i, item in enumerate(value)]}
        if type(value) is list:
            node["list"] = True
        return node
    kind = "a function" if callable(value) else f"a {type(value).__module__}.{type(value).__qualname__}"
    raise TypeError(
        f"cannot save {where}: it holds {kind}, which model.json cannot describe (fields may hold arrays, Equinox "
        "modules, None, numbers, strings, or tuples and lists of these)"
    )


def check_tree(node, path: str, depth: int, source: str, classes: list) -> None:
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
            check_tree(child, f"{path}.{field}", depth + 1, source, classes)
    elif keys == {"array"}:
        array = node["array"]
        if not isinstance(array, dict) or set(array) != {"shape", "dtype"}:
            raise ModelFileError(f"{source}: {path} array must hold exactly shape and dtype")
        shape, dtype = array["shape"], array["dtype"]
        if not isinstance(shape, list) or len(shape) > 32 or any(
            not isinstance(n, int) or isinstance(n, bool) or n < 0 for n in shape
        ):
            raise ModelFileError(f"{source}: {path} shape must be a list of integers >= 0, got {shape!r}")
        if dtype not in DTYPES:
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
            check_tree(child, f"{path}[{i}]", depth + 1, source, classes)
    else:
        raise ModelFileError(f"{source}: {path} is not a class, array, value, sequence or null node (keys {sorted(keys)})")


def _short_name(name: str) -> str:
    return name.rsplit(".", 1)[-1].rsplit(":", 1)[-1]


def _resolve(name: str, path: str, source: str, registry: dict) -> type:
    if name in registry:
        return registry[name]
    if name.startswith(BUILTIN_PREFIX):
        raise ModelFileError(f"{source}: {path} names {name}, which smoseq {__version__} does not have")
    raise ModelFileError(
        f"{source}: the model uses {name}, which smoseq does not import from a file; pass the class: "
        f"sm.load_fit(folder, components=[{_short_name(name)}])"
    )


def build_skeleton(node, path: str, source: str, registry: dict, static: bool):
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
        items = [build_skeleton(child, f"{path}[{i}]", source, registry, static) for i, child in enumerate(node["sequence"])]
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
        child = build_skeleton(node["fields"][field.name], f"{path}.{field.name}", source, registry, child_static)
        object.__setattr__(instance, field.name, child)
    return instance


def run_checks(instance, path: str, source: str) -> None:
    """Run the `__check_init__` of every module below the root (their `__init__` never ran)."""
    if isinstance(instance, (tuple, list)):
        for i, item in enumerate(instance):
            run_checks(item, f"{path}[{i}]", source)
        return
    if not isinstance(instance, eqx.Module):
        return
    for field in dataclasses.fields(instance):
        run_checks(getattr(instance, field.name), f"{path}.{field.name}", source)
    for cls in type(instance).__mro__:
        check = cls.__dict__.get("__check_init__")
        if check is not None:
            try:
                check(instance)
            except Exception as error:  # noqa: BLE001 -- a component's own checks may raise anything
                message = " ".join(str(error).split())
                raise ModelFileError(f"{source}: {path} ({type(instance).__name__}) fails its checks: {message}") from None
