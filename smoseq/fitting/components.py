"""The model a fit starts from: built-in components named by strings, or the caller's own.

`sm.fit(..., emissions=, transitions=, initial=)` and `sm.fit_models` accept a string for a
built-in or a component instance (its priors and shapes define the model; its parameter
values are replaced by the first Gibbs step). Hyperparameters are recorded from the
components themselves (`component_hyperparameters`).
"""

import equinox as eqx
import jax
import jax.numpy as jnp

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


def recorded_settings(settings, n_syllables, optimizers: dict) -> dict:
    """The settings every fit records in its hyperparameters (each fit adds κ, seed and its components).

    Args:
        settings: the fit's `FitSettings`.
        n_syllables: S.
        optimizers: what the fit's `Sampler.describe` records of its optimizers.
    """
    emissions = settings.emissions
    return {
        "n_states": int(settings.n_states), "n_syllables": int(n_syllables), "beta": float(settings.beta),
        "sigma_base": float(settings.sigma_base), "sigma_bias": float(settings.sigma_bias),
        "emission_beta": float(settings.emission_beta),
        "emissions": emissions if isinstance(emissions, str) else type(emissions).__name__,
        "n_iters": int(settings.n_iters),
        "seg_length": None if settings.seg_length is None else int(settings.seg_length),
        "seg_overlap": int(settings.seg_overlap), "repeats": settings.repeats,
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
