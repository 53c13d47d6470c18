"""Optax optimizers whose settings a fit can record.

An `optax.GradientTransformation` is a pair of functions: its learning rate and other
settings cannot be read back from it. `sm.optimizer("adam", learning_rate=5e-3)` builds
`optax.adam(learning_rate=5e-3)` and remembers the name and settings, so fit.json
records them (`settings_of`); an optimizer built directly with optax is recorded by
the `ModeSearch` name alone, with `settings` null. The default optimizers are built here.
"""

import numbers

import optax

from .._errors import InputError

__all__ = ["optimizer", "settings_of"]

_RECORDED: dict = {}  # GradientTransformation -> (optax name, settings)


def optimizer(name: str, **settings) -> optax.GradientTransformation:
    """`optax.<name>(**settings)`, with its name and settings recorded for fit.json.

    Args:
        name: an optax optimizer factory, e.g. `"adam"`, `"lbfgs"`, `"sgd"`.
        **settings: its keyword arguments, e.g. `learning_rate=5e-3`.

    Returns:
        The `optax.GradientTransformation`; use it in `sm.ModeSearch(optimizer, ...)`.

    Raises:
        InputError: `name` is not an optax optimizer, or it refuses the settings.

    Example:
        >>> import smoseq as sm
        >>> search = sm.ModeSearch(sm.optimizer("adam", learning_rate=5e-3), max_iters=500, name="adam")
    """
    factory = getattr(optax, name, None) if isinstance(name, str) and not name.startswith("_") else None
    if not callable(factory):
        raise InputError(f"optimizer: optax has no optimizer named {name!r}")
    try:
        transformation = factory(**settings)
    except TypeError as error:
        raise InputError(f"optimizer: optax.{name} refuses these settings ({error})") from None
    if not isinstance(transformation, optax.GradientTransformation):
        raise InputError(f"optimizer: optax.{name}(...) is not a GradientTransformation")
    _RECORDED[transformation] = (name, {key: _recordable(value) for key, value in settings.items()})
    return transformation


def settings_of(transformation) -> tuple[str, dict] | None:
    """`(optax name, settings)` of an optimizer built by `optimizer`, else None (settings unknown)."""
    try:
        return _RECORDED.get(transformation)
    except TypeError:  # an unhashable transformation
        return None


def _recordable(value):
    """A JSON value: numbers, strings, booleans and None as they are, anything else (a schedule) as its repr."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, numbers.Number):
        return float(value) if not isinstance(value, numbers.Integral) else int(value)
    return repr(value)
