"""`sm.fit`: fit an HHMM to a dict of recordings and get a `FitResult` back.

The loop is small on purpose: the Gibbs step is a pure jitted function
(`smoseq.inference.gibbs`) and the loop around it is `smoseq.fitting.loop.Chains`, which
`sm.fit_models` runs too; this module picks the initial states, checkpoints, and
packages the result.
"""

import time

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np

from .._threads import with_single_threaded_blas
from ..inference import gibbs
from ..inference.initialization import candidate_windows, kmeans_window_states
from ..inference.sharding import gather
from ..inference.states import Method, resolve_method
from ..io.batching import unbatch
from ..models import (
    HHMM, GroupedTransitions, InputDrivenTransitions, ModeSearch, SyllableData, compact_dtype, compacted, feature_summary,
    widened,
)
from .budget import plan_memory
from .checkpoints import Checkpointer
from .components import build_prior_model, component_hyperparameters, recorded_priors, recorded_settings
from .covariates import with_experiment
from .data import Prepared, Repeats, prepare_data, user_init_states
from .groups import TransitionSamples, burn_in, with_groups
from .input_driven import CoefficientSamples, FeatureCounts
from .loop import ChainTrace, Chains, Sampler, stack_chains, take_chain
from .result import FitResult
from .settings import DEFAULT, FitSettings, resolve_settings


class FitInterrupted(KeyboardInterrupt):
    """Ctrl-C during a fit; a checkpoint was written first when checkpointing is on."""


def auto_kappa(data: SyllableData, n_states: int) -> float:
    """Default stickiness: κ = real frames / K, as many pseudo-counts of staying as a state's share of frames.

    With this κ, a state's posterior probability of leaving is about half the rate at
    which the data alone would leave it: sticky enough to suppress flicker, weak
    enough for the data to set durations. Choose κ yourself (`smoseq scan`) for analysis.
    """
    return float(np.asarray(data.mask).sum()) / n_states


def initial_state_candidates(data: SyllableData, n_states: int, n_syllables: int, seed: int, dtype=np.int32):
    """Named initial state arrays (N, T) in `dtype`, one at a time: k-means on windowed syllable usage at several
    window lengths (a generator, so that only the start being tried is held)."""
    syllables, mask = np.asarray(data.syllables), np.asarray(data.mask)
    windows = candidate_windows(int(mask.sum()), n_syllables, n_states)
    for i, window in enumerate(windows):
        yield f"kmeans-window-{window}", kmeans_window_states(syllables, mask, n_states, n_syllables, window, seed + i,
                                                              dtype)  # fmt: skip


@with_single_threaded_blas
def fit(
    recordings,
    n_states: int = DEFAULT,
    kappa=DEFAULT,
    n_iters: int = DEFAULT,
    seed: int = DEFAULT,
    *,
    settings: FitSettings | None = None,
    emissions=DEFAULT,
    transitions=DEFAULT,
    initial=DEFAULT,
    groups=None,
    covariates=None,
    inputs=None,
    beta: float = DEFAULT,
    sigma_base: float = DEFAULT,
    sigma_bias: float = DEFAULT,
    emission_beta: float = DEFAULT,
    mode_search: ModeSearch | None = DEFAULT,
    retry: ModeSearch | None = DEFAULT,
    exact_emissions: bool | None = DEFAULT,
    method: Method = DEFAULT,
    init_states=None,
    n_init_iters: int = DEFAULT,
    seg_length=DEFAULT,
    seg_overlap: int = DEFAULT,
    repeats: Repeats = DEFAULT,
    history_segment: int = DEFAULT,
    progress: bool = True,
    checkpoint_dir=None,
    checkpoint_every: int = DEFAULT,
    resume: bool = False,
    devices=DEFAULT,
    memory_limit=DEFAULT,
) -> FitResult:
    """Fit an HHMM by blocked Gibbs sampling.

    Every setting (the keywords marked `DEFAULT`) is a field of `sm.FitSettings`, which
    defines its default: pass `settings=sm.FitSettings(...)` to reuse one object across
    fits, `sm.fit_models` and scans; a keyword given next to `settings` must agree with it.
    The settings are recorded in fit.json (`info["settings"]`).

    Initialisation: unless `init_states` is given, several data-driven starts are
    made (k-means of windowed syllable usage at a few window lengths, see
    `smoseq.inference.initialization`); each runs `n_init_iters` Gibbs iterations and
    the start with the highest log probability is continued for `n_iters` iterations.

    Args:
        recordings: recording name -> syllables (T_i,) ints; or `sm.batch` output
            `(seqs, mask, metadata)`; or `{"syllables": (N,T), "mask": (N,T)}`.
        n_states: K, the number of hidden states (an upper bound on those used).
        kappa: stickiness κ; `"auto"` is real frames / K (see `auto_kappa`).
        n_iters: Gibbs iterations after initialisation.
        seed: integer seed; the whole fit is reproducible from it.
        settings: a `sm.FitSettings` holding every setting (default: built from the keywords).
        emissions: `"low_rank"` (default), `"full_rank"`, or an `AbstractEmissions` whose
            priors and shapes define a custom model (its parameter values are replaced).
        transitions: `"sticky"` (default: `StickyTransitions` with `kappa` and `beta`),
            `"hdp"` (`HDPTransitions`: a sticky HDP prior with `kappa` and the default γ and
            α, under which unneeded states empty, so `n_states` is an upper bound), or an
            `AbstractTransitions` of your own, e.g. `sm.HDPTransitions.create(K, gamma=...,
            alpha=..., kappa=...)` (then leave `kappa` and `beta` at their defaults: its
            own fields hold its prior).
        initial: `"auto"` (default: p(z_1) from the transitions when they set it, as the
            HDP does, else uniform), `"uniform"`, `"from_transitions"`, or an
            `AbstractInitialState`.
        groups: experimental groups, a dict recording -> group or a `name,group` CSV
            (`sm.load_groups`): the transitions become `GroupedTransitions`, one matrix per
            group with shared emissions, β and κ, and the result keeps every group's
            matrices and every recording's state-transition counts from iteration
            `n_iters // 2` on (`transition_samples`, `group_counts`; the counts are what
            `sm.compare_group_dynamics` estimates from; a resumed fit keeps those drawn
            after resuming).
        covariates: a per-recording table (CSV with a `name` column, DataFrame, or dict
            recording -> {column: value}; categorical columns one-hot, see
            `smoseq.io.covariates`): `data.covariates` (N, C) for your components.
        inputs: per-frame inputs, recording -> (T_i, D) array or {name: (T_i,)}: segmented
            like the syllables into `data.inputs` (N, T, D). A custom transitions
            component reads either in `transition_matrices(data)` and may return
            (N, T, K, K) matrices. fit.json records the columns used.
        beta, sigma_base, sigma_bias, emission_beta: prior hyperparameters of the built-ins.
        mode_search: optimizer and stopping rule of the low-rank emission update
            (default: `optax.lbfgs()`, tol 1e-6, at most 200 steps).
        retry: the optimizer that redoes an iteration whose log probability or parameters
            are not finite, up to 3 attempts from the last good state, its steps scaled by
            0.5 at each attempt (default: `optax.adam(1e-2)`, at most 1000 steps); recorded
            in fit.json with every fault.
        exact_emissions: which low-rank emission update runs. None (default): the exact
            blocked update (`smoseq.models.ExactBlockedUpdate`, fit.json `"emission_update":
            "exact_blocked"`) for the low-rank emissions, unless a `mode_search` is given (an
            optimizer asks for the Laplace update). It draws every row of `base` given the
            biases, then the biases given `base`, each an independence Metropolis–Hastings
            step whose proposal mixes a Gaussian fit with 5% of the prior, so the chain is
            exact from any start; no mode search. The acceptance per iteration is in
            `FitResult.emission_accepted` / `emission_acceptance`, see
            `FitResult.acceptance_rate`. True: that update (refused for the full-rank
            emissions). False: the Laplace-approximate draw around the posterior mode found
            by `mode_search` (`"emission_update": "laplace"` in fit.json), the published
            package's update. Costs per iteration are in the README.
        method: state-sampling kernel (`auto`, `native`, `serial`, `parallel`).
        init_states: (N, T) initial states for batched input, or a dict per recording.
        n_init_iters: Gibbs iterations run from each data-driven start before the best is
            chosen (unused when `init_states` is given).
        seg_length, seg_overlap: batching (default: one segment per recording).
        repeats: `"ignore"` (default): a frame whose syllable repeats the previous
            frame's carries no evidence about the hidden state — keypoint-MoSeq
            syllables last several frames, and scoring every repeated frame lets
            syllable durations swamp which syllable follows which (measured in
            `benchmarks/bench_accuracy.py`: +4 to +33 points of held-out accuracy on
            multi-frame syllables, none lost on text). The hidden chain still runs
            through every frame. `"model"`: score every frame's syllable transition,
            self-transitions included, as the published package does.
        history_segment: which segment's states to record at every iteration.
        progress: show a progress bar.
        checkpoint_dir, checkpoint_every, resume: see `smoseq.fitting.checkpoints`
            (checkpoints hold the real sequences only, whatever `devices` and `memory_limit`).
        devices: the devices the sequences are sharded over (docs/scaling.md): None (default:
            every local device of the default backend — one on a plain CPU), an int n (the
            first n), or a list of `jax.Device`. The same seed gives the same fit on any
            number of devices (log probabilities up to float rounding).
        memory_limit: peak memory the fit may use, bytes or a string such as `"8GB"`: the
            peak is estimated before compiling (`smoseq.fitting.budget`; recorded in
            fit.json, printed with `progress` when there is a limit or several devices) and the Gibbs step runs over chunks of
            sequences small enough to stay under it, with the same draws. None: no limit on
            a CPU, the free memory of the device on an accelerator.

    Returns:
        A `FitResult`.

    Raises:
        InputError: bad recordings or hyperparameters (the message names the problem).
        FitError: the log probability became non-finite.
    """
    keywords = dict(
        n_states=n_states, kappa=kappa, n_iters=n_iters, seed=seed, emissions=emissions, transitions=transitions,
        initial=initial, beta=beta, sigma_base=sigma_base, sigma_bias=sigma_bias, emission_beta=emission_beta,
        mode_search=mode_search, retry=retry, exact_emissions=exact_emissions, method=method, n_init_iters=n_init_iters,
        seg_length=seg_length, seg_overlap=seg_overlap, repeats=repeats, history_segment=history_segment,
        checkpoint_every=checkpoint_every, devices=devices, memory_limit=memory_limit,
    )  # fmt: skip
    settings = resolve_settings(settings, keywords)
    return _fit(recordings, settings, groups, covariates, inputs, init_states, progress, checkpoint_dir, resume)


def _fit(recordings, settings: FitSettings, groups, covariates, inputs, init_states, progress, checkpoint_dir, resume):
    """`sm.fit` with its settings resolved."""
    n_states, n_iters, seed, transitions = settings.n_states, settings.n_iters, settings.seed, settings.transitions
    started = time.perf_counter()
    prepared = prepare_data(
        recordings, seg_length=settings.seg_length, seg_overlap=settings.seg_overlap, repeats=settings.repeats,
        compact=True,
    )
    group_of, names = None, None
    if groups is not None:
        prepared, group_of, names = with_groups(prepared, groups)
    prepared, experiment = with_experiment(prepared, covariates, inputs)
    data = prepared.data
    kappa_value = auto_kappa(data, n_states) if settings.kappa == "auto" else float(settings.kappa)
    model = build_prior_model(
        n_states, prepared.n_syllables, kappa_value, settings.beta, settings.emissions, settings.sigma_base,
        settings.sigma_bias, settings.emission_beta, transitions, settings.initial, names, feature_summary(data),
    )  # fmt: skip
    plan = plan_memory(
        data, model, n_iters, resolve_method(settings.method), settings.devices, settings.memory_limit,
        _input_bytes(recordings),
    )
    if progress and (plan.limit is not None or plan.placement.n_devices > 1):
        print(plan.describe(), flush=True)
    placement = plan.placement
    if isinstance(model.transitions, InputDrivenTransitions) and (placement.chunk_size or placement.n_devices > 1):
        raise InputError("transitions='input_driven' keeps per-frame events, which cannot be summed over chunks or "
                         "devices: fit on one device (devices=1) with a larger memory_limit")  # fmt: skip
    # a chunked fit holds the data compact on the host (chunks are widened as they are cut); otherwise widen it once
    data = compacted(data) if placement.chunk_size is not None else widened(data)
    prepared = Prepared(data, prepared.keys, prepared.bounds, prepared.n_syllables)
    sampler = Sampler.create(settings.mode_search, settings.method, settings.retry, settings.uses_exact_emissions, placement)
    placed = placement.place_data(data)
    hyperparameters = recorded_settings(settings, prepared.n_syllables, sampler.describe()) | {
        "kappa": kappa_value if transitions in ("sticky", "hdp") else None,
        "seed": int(seed),
        "components": component_hyperparameters(model),
    } | recorded_priors(model)  # fmt: skip
    hyperparameters |= experiment
    if group_of is not None:
        hyperparameters |= {"groups": group_of, "group_names": list(names), "burn_in": burn_in(n_iters)}
    root_key = jr.key(seed)
    checkpointer = Checkpointer(checkpoint_dir, settings.checkpoint_every, hyperparameters) if checkpoint_dir else None
    resumed = checkpointer.load(model, data) if (checkpointer and resume) else None
    if resumed is not None:
        state, trace, init_info = resumed
        state = placement.adopt(state, placed)
    else:
        state, init_info, init_faults = _initialise(sampler, root_key, model, prepared, init_states,
                                                    settings.n_init_iters, seed, placed)  # fmt: skip
        trace = ChainTrace(faults=init_faults)

    history_row = min(settings.history_segment, data.syllables.shape[0] - 1)
    chains = Chains(stack_chains([state]), jr.fold_in(root_key, 1)[None], placed, sampler, "single", [""], history_row,
                    [trace])  # fmt: skip
    n_real = data.syllables.shape[0]

    keeps_samples = group_of is not None and isinstance(model.transitions, GroupedTransitions)
    samples = TransitionSamples(burn_in(n_iters), prepared) if keeps_samples else None
    coefficients = CoefficientSamples(burn_in(n_iters)) if isinstance(model.transitions, InputDrivenTransitions) else None
    feature_counts = None
    if coefficients is not None:
        hyperparameters["burn_in"] = burn_in(n_iters)
        feature_counts = FeatureCounts(burn_in(n_iters), prepared, model.n_states, n_iters)

    def checkpoint(chains, iteration):
        if samples is not None:
            samples.record(chains, iteration)
        if coefficients is not None:
            coefficients.record(chains, iteration)
            feature_counts.record(chains, iteration)
        if checkpointer and checkpointer.due(iteration + 1, n_iters):
            checkpointer.save(_real_sequences(take_chain(chains.state, 0), n_real), trace, init_info, iteration + 1)

    try:
        chains.run(range(len(trace.log_probs), n_iters), progress=progress, after_iteration=checkpoint)
    except KeyboardInterrupt:
        completed = len(trace.log_probs)
        if checkpointer is None:
            raise FitInterrupted(f"stopped after {completed} iterations without checkpoints") from None
        checkpointer.save(_real_sequences(take_chain(chains.state, 0), n_real), trace, init_info, completed)
        raise FitInterrupted(f"checkpoint written after {completed} of {n_iters} iterations") from None

    state = _real_sequences(take_chain(chains.state, 0), n_real)
    history_width = int(chains.valid.sum())
    del chains, placed, data  # the batch is not needed for the result; free it before the states' copy
    prepared.data = None
    segment_states = np.asarray(state.states)
    info = dict(init_info) | {"numerical_faults": trace.faults, "fit_seconds": time.perf_counter() - started}
    info["memory"] = plan.record()
    info["settings"] = settings.to_json()
    return FitResult(
        model=state.model,
        states=unbatch(np.asarray(state.model.transitions.observed_states(segment_states)), prepared.keys, prepared.bounds,
                       dtype=np.int32),  # fmt: skip
        log_probs=np.asarray(trace.log_probs),
        emission_losses=np.asarray(trace.emission_losses),
        history=np.asarray(state.model.transitions.observed_states(trace.history_array(history_width))),
        hyperparameters=hyperparameters,
        info=info,
        segment_states=segment_states,
        keys=prepared.keys,
        bounds=prepared.bounds,
        transition_samples=None if samples is None else samples.array(),
        group_counts=None if samples is None else samples.counts_array(),
        coefficient_samples=None if coefficients is None else coefficients.array(),
        feature_counts=None if feature_counts is None else feature_counts.mean(),
        feature_rows=None if feature_counts is None else feature_counts.rows,
        feature_draws=None if feature_counts is None else feature_counts.draws_array(),
        **trace.result_fields(),
    )


def _real_sequences(state: gibbs.GibbsState, n_real: int) -> gibbs.GibbsState:
    """A state without the padding sequences of a sharded or chunked fit, its arrays on this process's default device."""
    model = jax.tree.map(lambda leaf: jnp.asarray(gather(leaf)) if isinstance(leaf, jax.Array) else leaf, state.model)
    states = gather(state.states)[:n_real]
    return gibbs.GibbsState(model, states if isinstance(state.states, np.ndarray) else jnp.asarray(states))


def _input_bytes(recordings) -> int:
    """Bytes of the recordings as passed (a dict of arrays, or `(seqs, mask, metadata)`), held by the caller for the fit."""
    arrays = recordings.values() if isinstance(recordings, dict) else recordings[:2] if isinstance(recordings, tuple) else ()
    return int(sum(np.asarray(array).nbytes for array in arrays if hasattr(array, "nbytes")))


def _initialise(sampler: Sampler, root_key, model: HHMM, prepared: Prepared, init_states, n_init_iters, seed, placed):
    """The starting state: the user's states, or the best of several short data-driven chains.

    `placed`: the data as the fit holds it (padded and placed by `sampler.placement`).

    Returns:
        `(state, init_info, faults)`: a `GibbsState`, what fit.json records of the choice,
        and the retries made by the short chains.
    """
    data = prepared.data
    placement = sampler.placement
    if init_states is not None:
        states = model.transitions.hidden_states(user_init_states(init_states, prepared), data.mask)
        return placement.init(model, states, placed), {"init": "user"}, []
    init_key = jr.fold_in(root_key, 0)
    best, scores, faults = None, {}, []
    n_observed = model.transitions.n_observed_states
    dtype = compact_dtype(model.n_states) if placement.chunk_size is not None else np.int32
    for index, (name, states) in enumerate(initial_state_candidates(data, n_observed, model.n_syllables, seed, dtype)):
        states = model.transitions.hidden_states(states, data.mask)
        trace = ChainTrace(faults=faults)
        chains = Chains(stack_chains([placement.init(model, states, placed)]), jr.fold_in(init_key, index)[None], placed,
                        sampler, "single", [f"start {name}"], traces=[trace])  # fmt: skip
        chains.run(range(n_init_iters), on_failure="report")
        log_prob = trace.log_probs[-1] if trace.log_probs and trace.error is None else -np.inf
        scores[name] = log_prob
        if best is None or (np.isfinite(log_prob) and log_prob > best[0]):
            best = (log_prob, name, take_chain(chains.state, 0))
    return best[2], {"init": best[1], "init_scores": scores, "n_init_iters": int(n_init_iters)}, faults
