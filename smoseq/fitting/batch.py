"""`sm.fit_models`: many models of one shape fitted together, one batched Gibbs step for all.

Models that share K, S and the data but differ in κ, priors or seed are one
`GibbsState` PyTree with a leading model axis, advanced by one batched kernel
(`smoseq.inference.gibbs.build_kernel`, strategy `vmap` or `split`) inside the same loop
as `sm.fit` (`smoseq.fitting.loop.Chains`). Each model keeps `sm.fit`'s key schedule —
iteration i of the model with seed s uses `fold_in(fold_in(key(s), 1), i)` — so
`sm.fit(..., seed=s, init_states=the same start)` reproduces a member of a batch (states
exactly, log probabilities to float rounding: vmapped reductions may differ in the last bits).
"""

import time
from typing import Literal

import jax.numpy as jnp
import jax.random as jr
import numpy as np

from .._errors import InputError
from .._threads import with_single_threaded_blas
from ..inference import gibbs
from ..inference.gibbs import batch_strategy
from ..inference.initialization import candidate_windows, kmeans_window_states
from ..inference.states import Method
from ..io.batching import unbatch
from ..models import GroupedTransitions, InputDrivenTransitions, ModeSearch, feature_summary
from .components import build_prior_model, component_hyperparameters, recorded_priors, recorded_settings
from .covariates import with_experiment
from .data import Prepared, Repeats, prepare_data, user_init_states
from .groups import TransitionSamples, burn_in, with_groups
from .input_driven import FeatureCounts
from .loop import Chains, Sampler, stack_chains, take_chain
from .memory import available_memory_bytes, model_footprint_bytes
from .result import FitResult
from .single import auto_kappa
from .settings import DEFAULT, FitSettings, default_of, field_names, resolve_settings, same_value

__all__ = ["fit_models", "seed_initial_states", "chunk_size"]

Strategy = Literal["auto", "vmap", "split"]


def seed_initial_states(prepared: Prepared, n_states: int, seed: int) -> tuple[str, np.ndarray]:
    """The data-driven start of the model with this seed: `(name, states (N, T) int32)`.

    k-means of windowed syllable usage (as `sm.fit`'s candidates), with window length
    `candidate_windows(...)[seed % n_candidates]` and k-means seed `seed`. There are no
    pilot chains: the seeds of a scan are its restarts, and `best_seed` picks among them.

    Args:
        prepared: batched data (`smoseq.fitting.single.prepare_data`): `data.syllables` and
            `data.mask` (N, T), and `n_syllables`.
        n_states: K, the number of k-means clusters.
        seed: the model's seed (chooses the window and seeds k-means).

    Returns:
        `(name, states)`: a label such as `"kmeans-window-30"` and (N, T) int32 initial states.
    """
    syllables, mask = np.asarray(prepared.data.syllables), np.asarray(prepared.data.mask)
    windows = candidate_windows(int(mask.sum()), prepared.n_syllables, n_states)
    window = windows[seed % len(windows)]
    return f"kmeans-window-{window}", kmeans_window_states(syllables, mask, n_states, prepared.n_syllables, window, seed)


@with_single_threaded_blas
def fit_models(
    recordings,
    n_states: int = DEFAULT,
    kappas=None,
    seeds=None,
    n_iters: int = DEFAULT,
    *,
    settings: FitSettings | None = None,
    init_states=None,
    emissions=DEFAULT,
    transitions=DEFAULT,
    initial=DEFAULT,
    beta: float = DEFAULT,
    sigma_base: float = DEFAULT,
    sigma_bias: float = DEFAULT,
    emission_beta: float = DEFAULT,
    mode_search: ModeSearch | None = DEFAULT,
    retry: ModeSearch | None = DEFAULT,
    exact_emissions: bool | None = DEFAULT,
    groups=None,
    covariates=None,
    inputs=None,
    method: Method = DEFAULT,
    seg_length=DEFAULT,
    seg_overlap: int = DEFAULT,
    repeats: Repeats = DEFAULT,
    n_syllables: int | None = None,
    history_segment: int = DEFAULT,
    max_batch: int | None = None,
    memory_budget: float | None = None,
    strategy: Strategy = "auto",
    on_failure: str = "raise",
    progress: bool = True,
    on_iteration=None,
) -> list[FitResult]:
    """Fit one model per `(kappa, seed)` pair, advancing a batch of them with one jitted, batched Gibbs step.

    Models are fitted in chunks of at most `max_batch` models that fit in
    `memory_budget` bytes (see `smoseq.fitting.memory.model_footprint_bytes`); each chunk
    is one compiled program. Every model keeps `sm.fit`'s key schedule, so its result does
    not depend on which models share its chunk beyond float rounding of vmapped reductions.

    The settings (keywords marked `DEFAULT`) are those of `sm.fit`, held by one
    `sm.FitSettings` (`settings=`; a keyword given next to it must agree with it); every
    model is those settings with its own κ and seed. `n_init_iters`, `checkpoint_every`,
    `devices` and `memory_limit` apply to single fits only and are not recorded here.

    Args:
        recordings: as for `sm.fit` (dict name -> syllables, or batched arrays).
        n_states: K, shared by every model.
        kappas: stickiness per model; broadcast against `seeds` (a scalar serves all);
            None: the settings' `kappa` (`"auto"`: real frames / K).
        seeds: integer seed per model; broadcast against `kappas`; None: the settings' `seed`.
        n_iters: Gibbs iterations per model.
        settings: a `sm.FitSettings` (default: built from the keywords).
        init_states: `None` (data-driven per seed, `seed_initial_states`), one start for
            every model (an (N, T) array or dict per recording), or a list of them, one per model.
        emissions: as for `sm.fit`.
        transitions: as for `sm.fit`, or a list of components, one per model (e.g.
            `HDPTransitions.create(K, gamma=g)` for several γ: their hyperparameters are
            array leaves, so the batch is still one program); with components, `kappas`
            only labels the models (pass one value per model; the prior is the component's).
        initial: as for `sm.fit`.
        beta: as for `sm.fit`.
        sigma_base: as for `sm.fit`.
        sigma_bias: as for `sm.fit`.
        emission_beta: as for `sm.fit`.
        mode_search: as for `sm.fit`.
        retry: as for `sm.fit`.
        exact_emissions: as for `sm.fit`.
        groups: as for `sm.fit`: one transition matrix per experimental group in every
            model, and each result keeps its per-group matrices after the burn-in.
        covariates, inputs: as for `sm.fit` (`data.covariates`, `data.inputs`).
        method: as for `sm.fit`.
        seg_length: as for `sm.fit`.
        seg_overlap: as for `sm.fit`.
        repeats: as for `sm.fit`.
        history_segment: as for `sm.fit`.
        n_syllables: S (default: largest syllable in the data + 1); give it when models
            fitted on part of the recordings must score the rest.
        max_batch: most models per compiled batch (default: all that fit in memory).
        memory_budget: bytes a chunk may use (default: half the available RAM).
        strategy: how the step is batched, `vmap` or `split` (see `smoseq.inference.gibbs`);
            `auto` is `split` on CPU and `vmap` on accelerators.
        on_failure: `"raise"` a `FitError` when a model's log probability stays non-finite
            after `sm.fit`'s retries, or `"report"`: freeze that model and return its
            result with `info["error"]` set and the log probabilities it reached.
        progress: show a progress bar per chunk.
        on_iteration: optional `callback(iteration, n_iters, log_probs (M,))` after every
            iteration of a chunk (used by scan jobs to print progress).

    Returns:
        One `FitResult` per model, in the order of the broadcast `(kappas, seeds)`.
    """
    per_model = transitions if isinstance(transitions, (list, tuple)) else None
    keywords = dict(
        n_states=n_states, n_iters=n_iters, emissions=emissions, transitions=DEFAULT if per_model else transitions,
        initial=initial, beta=beta, sigma_base=sigma_base, sigma_bias=sigma_bias, emission_beta=emission_beta,
        mode_search=mode_search, retry=retry, exact_emissions=exact_emissions, method=method, seg_length=seg_length,
        seg_overlap=seg_overlap, repeats=repeats, history_segment=history_segment,
    )  # fmt: skip
    settings = resolve_settings(settings, keywords)
    n_states, n_iters = settings.n_states, settings.n_iters
    if on_failure not in ("raise", "report"):
        raise InputError(f"on_failure must be 'raise' or 'report', got {on_failure!r}")
    prepared = prepare_data(recordings, seg_length=settings.seg_length, seg_overlap=settings.seg_overlap,
                            n_syllables=n_syllables, repeats=settings.repeats)  # fmt: skip
    auto = auto_kappa(prepared.data, n_states) if settings.kappa == "auto" else settings.kappa
    kappas, seeds = _model_grid(auto if kappas is None else kappas, settings.seed if seeds is None else seeds)
    group_of, names = None, None
    if groups is not None:
        prepared, group_of, names = with_groups(prepared, groups)
    prepared, experiment = with_experiment(prepared, covariates, inputs)
    sampler = Sampler.create(settings.mode_search, settings.method, settings.retry, settings.uses_exact_emissions)
    try:
        strategy = batch_strategy(strategy)
    except ValueError as error:
        raise InputError(str(error)) from None
    if per_model is not None and not same_value(settings.transitions, default_of("transitions")):
        raise InputError("transitions lists one component per model; settings.transitions must then be left at its default")
    if per_model is not None and len(per_model) != len(kappas):
        raise InputError(f"transitions lists {len(per_model)} components for {len(kappas)} models")
    per_model = per_model or [settings.transitions] * len(kappas)
    models = [
        build_prior_model(n_states, prepared.n_syllables, kappa, settings.beta, settings.emissions, settings.sigma_base,
                          settings.sigma_bias, settings.emission_beta, model_transitions, settings.initial, names,
                          feature_summary(prepared.data))
        for kappa, model_transitions in zip(kappas, per_model)
    ]  # fmt: skip
    hyperparameters = recorded_settings(settings, prepared.n_syllables, sampler.describe()) | recorded_priors(models[0])
    hyperparameters |= experiment
    if group_of is not None:
        hyperparameters |= {"groups": group_of, "group_names": list(names), "burn_in": burn_in(n_iters)}
    if isinstance(models[0].transitions, InputDrivenTransitions):  # feature counts are kept from the burn-in on
        hyperparameters["burn_in"] = burn_in(n_iters)
    record = settings.to_json(only=[name for name in field_names() if name not in FitSettings.SINGLE_FIT_ONLY])
    starts = _initial_states(init_states, prepared, n_states, seeds)
    chunk = chunk_size(len(kappas), prepared, n_states, n_iters, sampler.method, max_batch, memory_budget)
    results = []
    for first in range(0, len(kappas), chunk):
        members = range(first, min(first + chunk, len(kappas)))
        results += _fit_chunk(
            prepared, [models[m] for m in members], [kappas[m] for m in members], [seeds[m] for m in members],
            [starts[m] for m in members], sampler, strategy, n_iters, settings.history_segment, on_failure, progress,
            on_iteration, hyperparameters, record,
        )  # fmt: skip
    return results


def _fit_chunk(prepared, models, kappas, seeds, starts, sampler, strategy, n_iters, history_segment, on_failure,
               progress, on_iteration, hyperparameters, record) -> list[FitResult]:  # fmt: skip
    """One compiled batch of models: `Chains` run for `n_iters`, then one `FitResult` per model."""
    data = prepared.data
    state = stack_chains([gibbs.init(model, start, data) for model, (_, start) in zip(models, starts)])
    fit_keys = jnp.stack([jr.fold_in(jr.key(seed), 1) for seed in seeds])
    labels = [f"kappa={kappa:.6g} seed={seed}" for kappa, seed in zip(kappas, seeds)]
    history_row = min(history_segment, data.syllables.shape[0] - 1)
    chains = Chains(state, fit_keys, data, sampler, strategy, labels, history_row)
    grouped = "groups" in hyperparameters and isinstance(models[0].transitions, GroupedTransitions)
    samples = TransitionSamples(hyperparameters["burn_in"], prepared) if grouped else None
    driven = isinstance(models[0].transitions, InputDrivenTransitions)
    features = FeatureCounts(burn_in(n_iters), prepared, models[0].n_states, n_iters) if driven else None

    def after_iteration(chains, iteration):
        if samples is not None:
            samples.record(chains, iteration)
        if features is not None:
            features.record(chains, iteration)
        if on_iteration is not None:
            on_iteration(iteration, n_iters, _last_log_probs(chains))

    started = time.perf_counter()
    chains.run(range(n_iters), on_failure, progress, desc=f"Fitting {len(models)} models", after_iteration=after_iteration)
    seconds = time.perf_counter() - started
    segment_states = np.asarray(chains.state.states)
    results = []
    for m, trace in enumerate(chains.traces):
        info = {
            "init": starts[m][0], "numerical_faults": trace.faults, "fit_seconds": seconds / len(models),
            "batch_size": len(models), "batch_seconds": seconds, "batch_strategy": strategy,
            "settings": record | {"kappa": kappas[m], "seed": seeds[m]},
        }  # fmt: skip
        if trace.error is not None:
            info["error"] = trace.error
        model = take_chain(chains.state.model, m)
        results.append(
            FitResult(
                model=model,
                states=unbatch(segment_states[m], prepared.keys, prepared.bounds),
                log_probs=np.asarray(trace.log_probs),
                emission_losses=np.asarray(trace.emission_losses),
                history=trace.history_array(int(chains.valid.sum())),
                hyperparameters={**hyperparameters, "kappa": kappas[m], "seed": seeds[m],
                                 "components": component_hyperparameters(model)},  # fmt: skip
                info=info,
                segment_states=segment_states[m],
                keys=prepared.keys,
                bounds=prepared.bounds,
                transition_samples=None if samples is None else samples.array(m),
                group_counts=None if samples is None else samples.counts_array(m),
                feature_counts=None if features is None else features.mean(m),
                feature_rows=None if features is None else features.rows,
                feature_draws=None if features is None else features.draws_array(m),
                **trace.result_fields(),
            )
        )
    return results


def _last_log_probs(chains: Chains) -> np.ndarray:
    """(M,) the latest log probability of every chain (NaN for a frozen one)."""
    return np.array([trace.log_probs[-1] if trace.error is None else np.nan for trace in chains.traces])


def chunk_size(n_models, prepared: Prepared, n_states, n_iters, method, max_batch=None, memory_budget=None) -> int:
    """Models per compiled batch: `max_batch`, or fewer if their estimated footprint exceeds the budget."""
    if max_batch is not None and (not isinstance(max_batch, (int, np.integer)) or max_batch < 1):
        raise InputError(f"max_batch must be a positive integer, got {max_batch!r}")
    budget = available_memory_bytes() / 2 if memory_budget is None else float(memory_budget)
    n_sequences, n_timesteps = prepared.data.syllables.shape
    per_model = model_footprint_bytes(n_sequences, n_timesteps, n_states, prepared.n_syllables, n_iters, method)
    fitting = max(int(min(budget / per_model, n_models)), 1)
    return max(min(n_models, fitting, max_batch or n_models), 1)


def _model_grid(kappas, seeds) -> tuple[list[float], list[int]]:
    try:
        kappa_array, seed_array = np.broadcast_arrays(np.atleast_1d(kappas), np.atleast_1d(seeds))
    except ValueError:
        raise InputError(f"kappas and seeds must have the same length (or one be a scalar), got {np.shape(kappas)} and {np.shape(seeds)}") from None
    if kappa_array.ndim != 1 or len(kappa_array) == 0:
        raise InputError("kappas and seeds must be 1-D and non-empty")
    if seed_array.dtype.kind not in "iu" or (seed_array < 0).any():
        raise InputError(f"seeds must be non-negative integers, got {seed_array.tolist()}")
    if kappa_array.dtype.kind not in "iuf":
        raise InputError(f"kappas must be numbers, got {kappa_array.tolist()}")
    if not (np.isfinite(kappa_array) & (kappa_array >= 0)).all():
        raise InputError(f"kappa must be >= 0, got {kappa_array.tolist()}")
    return [float(k) for k in kappa_array], [int(s) for s in seed_array]


def _initial_states(init_states, prepared: Prepared, n_states: int, seeds: list[int]) -> list[tuple[str, np.ndarray]]:
    if init_states is None:
        by_seed = {seed: seed_initial_states(prepared, n_states, seed) for seed in dict.fromkeys(seeds)}
        return [by_seed[seed] for seed in seeds]
    if isinstance(init_states, (list, tuple)):
        if len(init_states) != len(seeds):
            raise InputError(f"init_states has {len(init_states)} entries for {len(seeds)} models")
        starts = [("user", user_init_states(states, prepared)) for states in init_states]
    else:
        starts = [("user", user_init_states(init_states, prepared))] * len(seeds)
    for _, states in starts:
        if states.min() < 0 or states.max() >= n_states:
            raise InputError(f"init_states must lie in [0, {n_states}), got values in [{states.min()}, {states.max()}]")
    return starts
