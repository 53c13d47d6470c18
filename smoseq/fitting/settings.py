"""`sm.FitSettings`: every setting `sm.fit`, `sm.fit_models`, scans and the command line share, in one object.

The keyword arguments of `sm.fit` and `sm.fit_models` are a friendly front that builds a
`FitSettings`; `settings=` passes one directly, and a keyword given next to it must agree
with it. Each default is defined here, once. A scan stores its settings in scan.json and
every fit records them in fit.json (`info["settings"]`), as JSON: `to_json` / `from_json`,
`write` / `read` (never pickle).
"""

import dataclasses
import json
import math
import numbers
from pathlib import Path

from .._errors import InputError
from ..io.files import atomic_write_json
from ..models import (
    AbstractEmissions,
    AbstractInitialState,
    AbstractTransitions,
    FullRankEmissions,
    LowRankEmissions,
    ModeSearch,
)
from .budget import parse_bytes
from .components import EMISSIONS, INITIAL, TRANSITIONS
from .loop import describe_mode_search
from .optimizers import optimizer

__all__ = ["FitSettings", "DEFAULT", "resolve_settings"]

METHODS = ("auto", "native", "serial", "parallel")
REPEATS = ("ignore", "model")


class _Default:
    """The default of a keyword of `sm.fit` / `sm.fit_models`: the value `FitSettings` defines."""

    _instance = None

    def __new__(cls):
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "DEFAULT"

    def __reduce__(self):
        return (_Default, ())


DEFAULT = _Default()


@dataclasses.dataclass(frozen=True, eq=False)
class FitSettings:
    """Every setting of a fit, validated once, shared by `sm.fit`, `sm.fit_models`, scans and the CLI.

    Build one and pass it as `settings=` wherever a fit is made; `replace` gives a changed
    copy. The keyword arguments of `sm.fit` and `sm.fit_models` build the same object, so
    `sm.fit(recordings, n_iters=50)` is `sm.fit(recordings, settings=sm.FitSettings(n_iters=50))`.
    A scan (`sm.scan.ScanSettings(fit=...)`) and `sm.fit_models(..., kappas=, seeds=)` set
    `n_states`, `kappa` and `seed` of each model from their grid.

    Attributes:
        n_states: K, the number of hidden states (an upper bound on those used).
        kappa: stickiness κ; `"auto"` is real frames / K (`smoseq.fitting.single.auto_kappa`).
        n_iters: Gibbs iterations after initialisation.
        seed: integer seed; the whole fit is reproducible from it.
        emissions: `"low_rank"`, `"full_rank"` or an `AbstractEmissions` (see `sm.fit`).
        transitions: `"sticky"`, `"hdp"`, `"semi_markov"`, `"input_driven"` or an `AbstractTransitions`.
        initial: `"auto"`, `"uniform"`, `"from_transitions"` or an `AbstractInitialState`.
        beta: β of the built-in sticky transitions' prior.
        sigma_base, sigma_bias: σ of the built-in low-rank emissions' `Normal` priors.
        emission_beta: β_e of the built-in full-rank emissions' Dirichlet prior.
        mode_search: optimizer and stopping rule of the low-rank emission update (None: L-BFGS,
            tol 1e-6, at most 200 steps). Stored in JSON when built by `sm.optimizer`.
        retry: the optimizer that redoes a non-finite iteration (None: Adam(1e-2), 1000 steps).
        exact_emissions: which low-rank emission update runs: True the exact blocked
            Metropolis-Hastings update, False the Laplace approximation, None (default) the
            exact one unless a `mode_search` is given (an optimizer is a setting of the
            Laplace update, so giving one asks for it). See `uses_exact_emissions`.
        method: state-sampling kernel (`auto`, `native`, `serial`, `parallel`).
        n_init_iters: Gibbs iterations of each data-driven start of `sm.fit` before the best
            is chosen. Single fits only: a batched fit starts each seed from its own start.
        seg_length, seg_overlap: batching of the recordings (None: one segment per recording).
        repeats: `"ignore"` or `"model"`: how frames repeating the previous syllable are scored.
        history_segment: which segment's states to record at every iteration.
        checkpoint_every: iterations between checkpoints of `sm.fit(..., checkpoint_dir=)`
            (0: none). Single fits only.
        devices: None (every local device), an int n (the first n) or a list of `jax.Device`
            to shard the sequences over. Single fits only.
        memory_limit: peak memory of `sm.fit`, bytes or a string such as `"8GB"` (None: none
            on a CPU, the device's free memory on an accelerator). Single fits only: batched
            fits are sized by `memory_budget`.

    Raises:
        InputError: a setting out of range, of the wrong type, or a built-in's keyword next
            to a component that does not use it (one line naming it).
    """

    n_states: int = 10
    kappa: float | str = "auto"
    n_iters: int = 100
    seed: int = 0
    emissions: str | AbstractEmissions = "low_rank"
    transitions: str | AbstractTransitions = "sticky"
    initial: str | AbstractInitialState = "auto"
    beta: float = 1.0
    sigma_base: float = 1.0
    sigma_bias: float = 1.0
    emission_beta: float = 1.0
    mode_search: ModeSearch | None = None
    retry: ModeSearch | None = None
    exact_emissions: bool | None = None
    method: str = "auto"
    n_init_iters: int = 10
    seg_length: int | None = None
    seg_overlap: int = 30
    repeats: str = "ignore"
    history_segment: int = 0
    checkpoint_every: int = 10
    devices: int | list | None = None
    memory_limit: float | str | None = None

    GRID = ("n_states", "kappa", "seed")
    SINGLE_FIT_ONLY = ("n_init_iters", "checkpoint_every", "devices", "memory_limit")

    def __post_init__(self):
        _check_numbers(self)
        _check_choices(self)
        _check_builtin_keywords(self)

    def __eq__(self, other) -> bool:
        if not isinstance(other, FitSettings):
            return NotImplemented
        return all(same_value(getattr(self, name), getattr(other, name)) for name in field_names())

    __hash__ = None

    @property
    def uses_exact_emissions(self) -> bool:
        """Whether the fit runs the exact blocked low-rank emission update (`ExactBlockedUpdate`).

        `exact_emissions` True or False decides; None gives the exact update to the low-rank
        emissions (`"low_rank"` or a `LowRankEmissions`) unless `mode_search` is set. Other
        emissions keep their own update.
        """
        if self.exact_emissions is not None:
            return self.exact_emissions
        if isinstance(self.emissions, str):
            low_rank = self.emissions == "low_rank"
        else:
            low_rank = isinstance(self.emissions, LowRankEmissions)
        return low_rank and self.mode_search is None

    def replace(self, **changes) -> "FitSettings":
        """A copy with `changes` (validated like a new one)."""
        unknown = sorted(set(changes) - set(field_names()))
        if unknown:
            raise InputError(f"FitSettings has no setting {unknown[0]!r}")
        return dataclasses.replace(self, **changes)

    def to_json(self, only=None) -> dict:
        """The settings as JSON values (what fit.json and scan.json hold).

        Components of your own are written as `{"component": class name}` and optimizers
        built directly with optax as their description (`optax: null`): a record, which
        `from_json` refuses to turn back into settings.

        Args:
            only: the names to write (default: every setting).
        """
        return {name: _to_json(name, getattr(self, name)) for name in (only or field_names())}

    @classmethod
    def from_json(cls, data: dict, source: str = "settings") -> "FitSettings":
        """The settings of `to_json`; settings missing from `data` take their defaults.

        Raises:
            InputError: `data` is not an object, names an unknown setting, or holds a value
                that is out of range or cannot be restored (a component of your own, an
                optimizer built without `sm.optimizer`); the message starts with `source`.
        """
        if not isinstance(data, dict):
            raise InputError(f"{source}: settings must be a JSON object, got {type(data).__name__}")
        unknown = sorted(set(data) - set(field_names()))
        if unknown:
            raise InputError(f"{source}: unknown setting {unknown[0]!r} (settings: {', '.join(field_names())})")
        try:
            return cls(**{name: _from_json(name, value) for name, value in data.items()})
        except InputError as error:
            raise InputError(f"{source}: {error}") from None

    def write(self, path) -> None:
        """Write the settings to a JSON file (atomically); refuses settings that `read` could not restore."""
        data = self.to_json()
        FitSettings.from_json(data, source=str(path))
        atomic_write_json(Path(path), data)

    @classmethod
    def read(cls, path) -> "FitSettings":
        """Settings from a JSON file written by `write` (or by hand: an object of settings, the rest default).

        Raises:
            InputError: one line naming the file and the problem (missing, not JSON, unknown
                or bad setting).
        """
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise InputError(f"{path}: no such settings file") from None
        except (OSError, UnicodeDecodeError) as error:
            raise InputError(f"{path}: unreadable settings file ({type(error).__name__})") from None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise InputError(f"{path}: not valid JSON ({error.msg}, line {error.lineno})") from None
        except RecursionError:
            raise InputError(f"{path}: JSON nested too deeply") from None
        return cls.from_json(data, source=str(path))


def field_names() -> tuple[str, ...]:
    """The names of every setting, in order."""
    return tuple(field.name for field in dataclasses.fields(FitSettings))


def default_of(name: str):
    """The default value of a setting (defined once, by `FitSettings`)."""
    return {field.name: field.default for field in dataclasses.fields(FitSettings)}[name]


def same_value(a, b) -> bool:
    """Whether two setting values are the same: equal plain values, or the very same object (components, optimizers)."""
    if a is b:
        return True
    plain = (str, numbers.Number, type(None))
    if isinstance(a, plain) and isinstance(b, plain):
        return type(a) is type(b) and a == b or (_is_number(a) and _is_number(b) and float(a) == float(b))
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b))
    return False


def resolve_settings(settings: FitSettings | None, keywords: dict) -> FitSettings:
    """The settings of a fit from `settings=` and its keyword arguments (those not `DEFAULT`).

    Without `settings`, the keywords build one. With it, every keyword given must agree
    with it: a keyword that contradicts the settings is refused rather than silently winning or losing.

    Raises:
        InputError: a contradiction (naming the keyword and both values), or a bad setting.
    """
    given = {name: value for name, value in keywords.items() if value is not DEFAULT}
    if settings is None:
        return FitSettings(**given)
    if not isinstance(settings, FitSettings):
        raise InputError(f"settings must be a FitSettings, got {type(settings).__name__}")
    for name, value in given.items():
        if not same_value(value, getattr(settings, name)):
            raise InputError(
                f"{name}={_short(value)} contradicts settings.{name}={_short(getattr(settings, name))}: "
                f"leave the keyword out, or pass settings.replace({name}=...)"
            )
    return settings


def _short(value) -> str:
    text = repr(value) if isinstance(value, (str, numbers.Number, type(None), list, tuple)) else type(value).__name__
    return text if len(text) <= 60 else text[:57] + "..."


def _is_number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _integer(name: str, value, minimum: int) -> None:
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < minimum:
        raise InputError(f"{name} must be an integer >= {minimum}, got {value!r}")


def _check_numbers(settings: FitSettings) -> None:
    for name, minimum in (("n_states", 2), ("n_iters", 1), ("seed", 0), ("n_init_iters", 1), ("seg_overlap", 0),
                          ("history_segment", 0), ("checkpoint_every", 0)):  # fmt: skip
        _integer(name, getattr(settings, name), minimum)
    if settings.seg_length is not None:
        _integer("seg_length", settings.seg_length, 1)
    kappa = settings.kappa
    if kappa != "auto" and not (_is_number(kappa) and math.isfinite(kappa) and kappa >= 0):
        raise InputError(f"kappa must be 'auto' or a number >= 0, got {kappa!r}")
    for name in ("beta", "sigma_base", "sigma_bias", "emission_beta"):
        value = getattr(settings, name)
        if not (_is_number(value) and math.isfinite(value) and value > 0):
            raise InputError(f"{name} must be > 0, got {value!r}")
    if settings.memory_limit is not None:
        parse_bytes(settings.memory_limit)
    devices = settings.devices
    if devices is not None and not isinstance(devices, (list, tuple)):
        _integer("devices", devices, 1)


def _check_choices(settings: FitSettings) -> None:
    for name, names, interface in (("emissions", EMISSIONS, AbstractEmissions),
                                   ("transitions", TRANSITIONS, AbstractTransitions),
                                   ("initial", INITIAL, AbstractInitialState)):  # fmt: skip
        value = getattr(settings, name)
        if isinstance(value, str) and value in names or isinstance(value, interface):
            continue
        shown = repr(value) if isinstance(value, str) else type(value).__name__
        raise InputError(f"{name} must be one of {', '.join(map(repr, names))} or an {interface.__name__}, got {shown}")
    for name, value, choices in (("method", settings.method, METHODS), ("repeats", settings.repeats, REPEATS)):
        if value not in choices:
            raise InputError(f"{name} must be one of {', '.join(map(repr, choices))}, got {value!r}")
    for name in ("mode_search", "retry"):
        value = getattr(settings, name)
        if value is not None and not isinstance(value, ModeSearch):
            raise InputError(f"{name} must be a ModeSearch (e.g. sm.ModeSearch(sm.optimizer('adam', learning_rate=1e-2))), got {type(value).__name__}")
    if settings.exact_emissions is not None and not isinstance(settings.exact_emissions, bool):
        raise InputError(f"exact_emissions must be True, False or None (the default update), got {settings.exact_emissions!r}")


def _check_builtin_keywords(settings: FitSettings) -> None:
    """Refuse a built-in's keyword that the chosen components would ignore (e.g. `kappa` next to a transitions component).

    `sigma_base`/`sigma_bias` set the built-in low-rank priors, `emission_beta` the
    built-in full-rank prior, `kappa`/`beta` the built-in transitions; a component holds
    its own priors. A `mode_search` (or `exact_emissions`) is refused for the full-rank
    emissions, whose update is a conjugate draw that searches no mode.
    """
    emissions = settings.emissions
    changed = {name for name in ("kappa", "beta", "sigma_base", "sigma_bias", "emission_beta")
               if not same_value(getattr(settings, name), default_of(name))}  # fmt: skip
    if not isinstance(settings.transitions, str) and changed & {"kappa", "beta"}:
        raise InputError("kappa and beta set the built-in sticky transitions; a transitions component holds its own prior")
    sigmas_set = bool(changed & {"sigma_base", "sigma_bias"})
    if not isinstance(emissions, str) and (sigmas_set or "emission_beta" in changed):
        raise InputError(
            "sigma_base, sigma_bias and emission_beta set the built-in emissions' priors; an emissions component "
            f"holds its own (e.g. LowRankEmissions(..., bias_prior=sm.Normal(3.0))): leave them out next to {type(emissions).__name__}"
        )
    if emissions == "low_rank" and "emission_beta" in changed:
        raise InputError("emission_beta sets the full-rank emissions' Dirichlet prior; emissions='low_rank' uses sigma_base and sigma_bias")
    if emissions == "full_rank" and sigmas_set:
        raise InputError("sigma_base and sigma_bias set the low-rank emissions' priors; emissions='full_rank' uses emission_beta")
    full_rank = emissions == "full_rank" or type(emissions) is FullRankEmissions
    if full_rank and (settings.mode_search is not None or settings.exact_emissions):
        raise InputError(
            "mode_search and exact_emissions set the low-rank emission update; the full-rank emissions are drawn "
            "from their conjugate posterior, exactly, without a mode search"
        )


def _to_json(name: str, value):
    if name in ("mode_search", "retry"):
        return describe_mode_search(value)
    if isinstance(value, (AbstractEmissions, AbstractTransitions, AbstractInitialState)):
        return {"component": type(value).__name__}
    if name == "devices" and isinstance(value, (list, tuple)):
        return [str(device) for device in value]
    if _is_number(value) and not isinstance(value, numbers.Integral):
        return float(value)
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return int(value)
    return value


def _from_json(name: str, value):
    if name in ("mode_search", "retry") and value is not None:
        return _mode_search_from_json(name, value)
    if isinstance(value, dict) and "component" in value:
        raise InputError(
            f"{name} is a component of your own ({value['component']}), which a settings file cannot hold: "
            f"build the settings in Python with FitSettings({name}=...)"
        )
    if name == "devices" and isinstance(value, list):
        raise InputError("devices lists particular devices, which a settings file cannot hold: give their number")
    return value


def _mode_search_from_json(name: str, value) -> ModeSearch:
    if not isinstance(value, dict) or not isinstance(value.get("max_iters"), int) or not _is_number(value.get("tol")):
        raise InputError(f"{name} must be an object with optimizer, optax, settings, max_iters and tol (or null)")
    if not value.get("optax"):
        raise InputError(
            f"{name} uses an optimizer built directly with optax, whose settings are unknown: build it with "
            "sm.optimizer(name, **settings) to store it"
        )
    known = {"optimizer", "optax", "settings", "max_iters", "tol", "metropolis", "emission_update"}
    unknown = sorted(set(value) - known)
    if unknown:
        raise InputError(f"{name}: unknown entry {unknown[0]!r}")
    label = value.get("optimizer", "")
    return ModeSearch(
        optimizer(value["optax"], **(value.get("settings") or {})),
        max_iters=value["max_iters"],
        tol=float(value["tol"]),
        name="" if label == "custom" else str(label),
        metropolis=bool(value.get("metropolis", False)),
        emission_update=str(value.get("emission_update", "laplace")),
    )
