"""The model a fit starts from: built-in components named by strings, or the caller's own.

`sm.fit(..., emissions=, transitions=, initial=)` and `sm.fit_models` accept a string for a
built-in or a component instance (its priors and shapes define the model; its parameter
values are replaced by the first Gibbs step). Hyperparameters are recorded from the
components themselves (`component_hyperparameters`).
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._errors import InputError
from ..models import (
    HHMM,
    AbstractEmissions,
    AbstractInitialState,
    AbstractTransitions,
    Dirichlet,
    FullRankEmissions,
    GroupedTransitions,
    HDPTransitions,
    InitialFromTransitions,
    InputDrivenTransitions,
    LowRankEmissions,
    Normal,
    SemiMarkovTransitions,
    StickyTransitions,
    UniformInitialState,
)

EMISSIONS = ("low_rank", "full_rank")
TRANSITIONS = ("sticky", "hdp", "semi_markov", "input_driven")
INITIAL = ("auto", "uniform", "from_transitions")


def check_hyperparameters(n_states, kappa, beta, n_iters, sigma_base, sigma_bias):
    """Raise `InputError` naming the first hyperparameter out of range (shared by every fit)."""
    if not isinstance(n_states, (int, np.integer)) or n_states < 2:
        raise InputError(f"n_states must be an integer >= 2, got {n_states!r}")
    if not isinstance(n_iters, (int, np.integer)) or n_iters < 1:
        raise InputError(f"n_iters must be an integer >= 1, got {n_iters!r}")
    if kappa != "auto" and not (np.isfinite(kappa) and kappa >= 0):
        raise InputError(f"kappa must be >= 0, got {kappa!r}")
    for name, value in (("beta", beta), ("sigma_base", sigma_base), ("sigma_bias", sigma_bias)):
        if not (np.isfinite(value) and value > 0):
            raise InputError(f"{name} must be > 0, got {value!r}")


def check_builtin_keywords(emissions, sigma_base, sigma_bias, emission_beta, mode_search, exact_emissions=None) -> None:
    """Refuse a built-in's keyword that the chosen emissions would ignore (as `kappa` next to a transitions component).

    `sigma_base`/`sigma_bias` set the built-in low-rank priors, `emission_beta` the
    built-in full-rank prior; a component holds its own priors. A `mode_search` (or
    `exact_emissions=True`) is refused for the full-rank emissions, whose update is a
    conjugate draw that searches no mode.

    Raises:
        InputError: naming the keyword and what to do instead.
    """
    sigmas_set = sigma_base != 1.0 or sigma_bias != 1.0
    if not isinstance(emissions, str) and (sigmas_set or emission_beta != 1.0):
        raise InputError(
            "sigma_base, sigma_bias and emission_beta set the built-in emissions' priors; an emissions component "
            f"holds its own (e.g. LowRankEmissions(..., bias_prior=sm.Normal(3.0))): leave them out next to {type(emissions).__name__}"
        )
    if emissions == "low_rank" and emission_beta != 1.0:
        raise InputError("emission_beta sets the full-rank emissions' Dirichlet prior; emissions='low_rank' uses sigma_base and sigma_bias")
    if emissions == "full_rank" and sigmas_set:
        raise InputError("sigma_base and sigma_bias set the low-rank emissions' priors; emissions='full_rank' uses emission_beta")
    if (emissions == "full_rank" or type(emissions) is FullRankEmissions) and (mode_search is not None or exact_emissions):
        raise InputError(
            "mode_search and exact_emissions set the low-rank emission update; the full-rank emissions are drawn "
            "from their conjugate posterior, exactly, without a mode search"
        )


EXACT_EMISSIONS_BY_DEFAULT = True  # the low-rank emission update a fit uses unless told: exact blocked (True) or Laplace


def resolve_exact_emissions(exact_emissions, emissions, mode_search) -> bool:
    """Whether a fit uses the exact blocked low-rank emission update (`ExactBlockedUpdate`).

    `exact_emissions` True or False decides. None (the default of `sm.fit`, `sm.fit_models`
    and the CLI) gives `EXACT_EMISSIONS_BY_DEFAULT` for the low-rank emissions (`"low_rank"`
    or a `LowRankEmissions`), unless a `mode_search` is given: an optimizer is a setting of
    the Laplace update, so passing one asks for it. Other emissions keep their own update.
    """
    if exact_emissions is not None:
        return bool(exact_emissions)
    low_rank = emissions == "low_rank" if isinstance(emissions, str) else isinstance(emissions, LowRankEmissions)
    return EXACT_EMISSIONS_BY_DEFAULT and low_rank and mode_search is None


def uses_mode_search(emissions) -> bool:
    """False for the built-in full-rank emissions (a conjugate draw); True otherwise (your component may use it)."""
    return type(emissions) is not FullRankEmissions


def _component(value, names: tuple, interface: type, argument: str):
    if isinstance(value, str):
        if value not in names:
            raise InputError(f"{argument} must be one of {', '.join(map(repr, names))} or an {interface.__name__}, got {value!r}")
        return None
    if not isinstance(value, interface):
        raise InputError(f"{argument} must be one of {', '.join(map(repr, names))} or an {interface.__name__}, got {type(value).__name__}")
    return value


def build_prior_model(
    n_states, n_syllables, kappa, beta, emissions="low_rank", sigma_base=1.0, sigma_bias=1.0, emission_beta=1.0,
    transitions="sticky", initial="auto", group_names=None, features=None,
) -> HHMM:  # fmt: skip
    """The model a fit starts from: the requested components with placeholder parameters.

    Args:
        n_states: K; n_syllables: S.
        kappa, beta: the sticky transitions' prior (`transitions="sticky"`); `"hdp"` uses κ
            (and refuses β ≠ 1: its rows are centred on the global weights instead).
        emissions: `"low_rank"`, `"full_rank"` or an `AbstractEmissions` instance.
        sigma_base, sigma_bias: σ of the low-rank `Normal` priors; emission_beta: β_e of the full-rank prior.
        transitions: `"sticky"`, `"hdp"` (`HDPTransitions` with the default γ and α, and
            `kappa`), `"semi_markov"` (`SemiMarkovTransitions`, 4 phases per state, the
            emissions shared across phases by `emissions_for`) or an `AbstractTransitions` instance.
        initial: `"auto"` (`"from_transitions"` for transitions that set p(z_1), such as
            the HDP, else `"uniform"`), `"uniform"`, `"from_transitions"` or an
            `AbstractInitialState` instance.
        group_names: the experimental groups of a grouped fit (`sm.fit(..., groups=)`):
            `"sticky"` becomes `GroupedTransitions` (one matrix per group, shared β and κ).
        features: `(names, means)` of the data's inputs and covariates
            (`smoseq.models.feature_summary`): one weight each of
            `transitions="input_driven"` (`InputDrivenTransitions` centred on the means, with
            the sticky baseline of `kappa` and `beta`).

    Returns:
        An `HHMM` (its parameter values are replaced by the first Gibbs step).

    Raises:
        InputError: an unknown name, an object that is not a component, or components
            whose K or S disagree with the data's.
    """
    emission_module = _component(emissions, EMISSIONS, AbstractEmissions, "emissions")
    if emissions == "low_rank":
        zeros = jnp.zeros((n_states - 1, n_syllables - 1))
        emission_module = LowRankEmissions(jnp.zeros((n_syllables, n_syllables - 1)), zeros, Normal(sigma_base), Normal(sigma_bias))
    elif emissions == "full_rank":
        tables = jnp.full((n_states, n_syllables, n_syllables), 1.0 / n_syllables)
        emission_module = FullRankEmissions(tables, Dirichlet(emission_beta))
    transition_module = _component(transitions, TRANSITIONS, AbstractTransitions, "transitions")
    if transitions == "sticky" and group_names is not None:
        transition_module = GroupedTransitions.create(group_names, n_states, beta, kappa)
    elif transitions == "sticky":
        transition_module = StickyTransitions(jnp.full((n_states, n_states), 1.0 / n_states), beta, kappa)
    elif transitions == "hdp":
        if beta != 1.0:
            raise InputError("beta sets the sticky transitions; the HDP prior's rows are centred on its global weights")
        transition_module = HDPTransitions.create(n_states, kappa=kappa)
    elif transitions == "semi_markov":
        transition_module = SemiMarkovTransitions.create(n_states)
    elif transitions == "input_driven":
        if features is None or not features[0]:
            raise InputError("transitions='input_driven' needs inputs= or covariates= (the leaving probabilities' regressors)")
        transition_module = InputDrivenTransitions.create(n_states, features[0], features[1], kappa=kappa, beta=beta)
    emission_module = transition_module.emissions_for(emission_module)
    _check_groups(transition_module, group_names)
    initial_module = _component(initial, INITIAL, AbstractInitialState, "initial")
    if initial == "auto":
        initial = "from_transitions" if transition_module.sets_initial_state else "uniform"
    if initial == "uniform":
        initial_module = UniformInitialState(transition_module.n_states)
    elif initial == "from_transitions":
        initial_module = InitialFromTransitions(transition_module.n_states)
    _check_sizes(n_states, n_syllables, emission_module, transition_module, initial_module)
    try:
        return HHMM(emission_module, transition_module, initial_module)
    except ValueError as error:
        raise InputError(str(error)) from None


def _check_groups(transitions, group_names) -> None:
    grouped = isinstance(transitions, GroupedTransitions)
    if group_names is None and grouped:
        raise InputError("GroupedTransitions needs the group of every recording: pass groups= (a dict or a name,group CSV)")
    if group_names is None:
        return
    if isinstance(transitions, HDPTransitions):
        raise InputError(
            "groups= fits one matrix per group: transitions must be 'sticky', a GroupedTransitions or a component "
            "of your own that reads data.groups; the HDP transitions have one matrix for every recording"
        )
    if not grouped:  # a component of your own that reads data.groups
        return
    empty = [name for name in transitions.group_names if name not in group_names]
    if empty:
        raise InputError(f"group(s) {', '.join(map(repr, empty))} of the transitions have no recordings")
    if tuple(transitions.group_names) != tuple(group_names):
        raise InputError(f"the transitions' groups {list(transitions.group_names)} differ from the sheet's {list(group_names)}")


def _check_sizes(n_states, n_syllables, emissions, transitions, initial) -> None:
    if transitions.n_observed_states != n_states:
        raise InputError(f"transitions {type(transitions).__name__} have {transitions.n_observed_states} states; the fit asks for {n_states}")
    for name, component in (("emissions", emissions), ("initial", initial)):
        if component.n_states != transitions.n_states:
            raise InputError(f"{name} {type(component).__name__} has {component.n_states} states; the fit asks for {transitions.n_states}")
    if emissions.n_syllables != n_syllables:
        raise InputError(
            f"emissions {type(emissions).__name__} have {emissions.n_syllables} syllables; the data need {n_syllables}"
        )


def recorded_settings(
    n_states, n_syllables, n_iters, beta, sigma_base, sigma_bias, emission_beta, emissions, seg_length, seg_overlap,
    repeats, optimizers: dict,
) -> dict:  # fmt: skip
    """The settings every fit records in its hyperparameters (each fit adds κ, seed and its components)."""
    return {
        "n_states": int(n_states), "n_syllables": int(n_syllables), "beta": float(beta),
        "sigma_base": float(sigma_base), "sigma_bias": float(sigma_bias), "emission_beta": float(emission_beta),
        "emissions": emissions if isinstance(emissions, str) else type(emissions).__name__, "n_iters": int(n_iters),
        "seg_length": None if seg_length is None else int(seg_length), "seg_overlap": int(seg_overlap),
        "repeats": repeats,
    } | optimizers  # fmt: skip


def prior_settings(model: HHMM) -> dict:
    """The built-in prior settings as the model's components hold them: what fit.json records.

    `beta` of sticky (or grouped) transitions; `sigma_base`, `sigma_bias` of the low-rank
    emissions' `Normal` priors; `emission_beta` of the full-rank emissions' `Dirichlet`
    prior. Each is None where the component has no such prior (a component of your own,
    or another prior class: its values are in `component_hyperparameters`), so a record
    never shows a keyword's default for a prior the model does not have.

    Args:
        model: an `HHMM`.

    Returns:
        `{"beta", "sigma_base", "sigma_bias", "emission_beta"}`: floats or None.
    """
    transitions, emissions = model.transitions, model.emissions
    settings = dict.fromkeys(("beta", "sigma_base", "sigma_bias", "emission_beta"))
    if isinstance(transitions, (StickyTransitions, GroupedTransitions, InputDrivenTransitions)):
        settings["beta"] = _scalar(transitions.beta)
    if isinstance(emissions, LowRankEmissions):
        settings["sigma_base"] = _scalar(emissions.base_prior.sigma) if type(emissions.base_prior) is Normal else None
        settings["sigma_bias"] = _scalar(emissions.bias_prior.sigma) if type(emissions.bias_prior) is Normal else None
    if isinstance(emissions, FullRankEmissions) and type(emissions.prior) is Dirichlet:
        settings["emission_beta"] = _scalar(emissions.prior.beta)
    return settings


def recorded_priors(model: HHMM) -> dict:
    """What a fit's record takes from its model: `prior_settings`, and no optimizer for emissions that use none."""
    unused = {} if uses_mode_search(model.emissions) else {"mode_search": None, "retry": None}
    return prior_settings(model) | unused


def _scalar(value) -> float | None:
    return float(value) if jnp.ndim(value) == 0 else None


def component_hyperparameters(model: HHMM) -> dict:
    """What a fit records of its components: each one's class, and every scalar leaf (κ, β, σ, …) by path.

    Args:
        model: an `HHMM`.

    Returns:
        `{"emissions": class name, "transitions": …, "initial": …, "values": {"transitions.kappa": 1e4, …}}`.
    """
    values = {}
    for path, leaf in jax.tree_util.tree_leaves_with_path(eqx.filter(model, eqx.is_array)):
        if jnp.ndim(leaf) == 0:
            values[jax.tree_util.keystr(path).lstrip(".")] = float(leaf)
    classes = {name: type(getattr(model, name)).__name__ for name in ("emissions", "transitions", "initial")}
    return classes | {"values": values}
