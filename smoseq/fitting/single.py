"""`sm.fit`: fit an HHMM to a dict of recordings and get a `FitResult` back.

The loop is small on purpose: the Gibbs step is a pure jitted function
(`smoseq.inference.gibbs`); this module prepares data, picks the initial states,
runs the step with a progress bar, checkpoints, and packages the result.
"""

import time
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import optax
from tqdm.auto import tqdm

from .._errors import InputError
from .._threads import single_threaded_blas, with_single_threaded_blas
from ..io.batching import as_recordings, batch, unbatch, validate_syllables
from ..inference.gibbs import GibbsState, build_host_kernel, build_kernel
from ..inference.initialization import candidate_windows, kmeans_window_states
from ..inference.states import (
    Method,
    SyllableData,
    marginal_logliks,
    resolve_method,
    smoothed_probs,
    viterbi_states,
    without_repeats,
)
from ..models import (
    HHMM,
    Dirichlet,
    FullRankEmissions,
    LowRankEmissions,
    ModeSearch,
    Normal,
    StickyTransitions,
    emission_counts,
)


class FitError(RuntimeError):
    """A fit that cannot continue (e.g. a non-finite log probability); the message says what to change."""


class FitInterrupted(KeyboardInterrupt):
    """Ctrl-C during a fit; a checkpoint was written first when checkpointing is on."""


@lru_cache(maxsize=1)
def default_mode_search() -> ModeSearch:
    """L-BFGS from Optax, warm-started each iteration; see `smoseq.models.laplace.find_mode`.

    One shared instance, so every fit with the default reuses one compiled Gibbs step.
    """
    return ModeSearch(optax.lbfgs(), max_iters=200, tol=1e-6)


@lru_cache(maxsize=16)
def compiled_kernel(mode_search: ModeSearch, method: str):
    """The Gibbs step for these settings, built once per process.

    With the native sampler the state update runs on the host after a jitted parameter
    update (`build_host_kernel`: that program can be kept by JAX's persistent compilation
    cache); otherwise the whole step is one jitted program.
    """
    if resolve_method(method) == "native":
        return build_host_kernel(mode_search)
    return eqx.filter_jit(build_kernel(mode_search, method))


@dataclass
class Prepared:
    """Recordings batched for the sampler."""

    data: SyllableData
    keys: np.ndarray
    bounds: np.ndarray
    n_syllables: int


Repeats = Literal["ignore", "model"]


def check_repeats(repeats) -> None:
    """Raise `InputError` unless `repeats` is `"ignore"` or `"model"`."""
    if repeats not in ("ignore", "model"):
        raise InputError(f"repeats must be 'ignore' or 'model', got {repeats!r}")


def prepare_data(recordings, seg_length=None, seg_overlap=30, n_syllables=None, repeats: Repeats = "model") -> Prepared:
    """Batch a dict of recordings, or accept `(seqs, mask, (keys, bounds))` / `{"syllables", "mask"}`.

    `repeats="ignore"` gives frames that repeat the previous syllable no emission
    evidence (`smoseq.inference.states.without_repeats`); `"model"` scores every frame.
    """
    check_repeats(repeats)
    if isinstance(recordings, tuple) and len(recordings) == 3:
        seqs, mask, (keys, bounds) = recordings
        seqs, mask = np.asarray(seqs), np.asarray(mask)
    elif isinstance(recordings, dict) and set(recordings) == {"syllables", "mask"}:
        seqs, mask = np.asarray(recordings["syllables"]), np.asarray(recordings["mask"])
        keys = np.array([f"segment{i}" for i in range(len(seqs))])
        bounds = np.stack([np.zeros(len(seqs), int), mask.sum(1).astype(int)], axis=1)
    else:
        seqs, mask, (keys, bounds) = batch(as_recordings(recordings), seg_length=seg_length, seg_overlap=seg_overlap)
    if seqs.ndim != 2 or seqs.shape != mask.shape:
        raise InputError(f"batched syllables and mask must both be (N, T), got {seqs.shape} and {mask.shape}")
    for row, name in enumerate(keys):
        validate_syllables(name, seqs[row])
    observed = int(seqs[mask > 0].max()) + 1
    if n_syllables is None:
        n_syllables = max(observed, 2)
    elif observed > n_syllables:
        raise InputError(f"the data use syllable {observed - 1} but the model has only {n_syllables} syllables")
    data = SyllableData(seqs, mask)
    data = without_repeats(data) if repeats == "ignore" else data
    return Prepared(data, np.asarray(keys), np.asarray(bounds), n_syllables)


def auto_kappa(data: SyllableData, n_states: int) -> float:
    """Default stickiness: κ = real frames / K, as many pseudo-counts of staying as a state's share of frames.

    With this κ, a state's posterior probability of leaving is about half the rate at
    which the data alone would leave it: sticky enough to suppress flicker, weak
    enough for the data to set durations. Choose κ yourself (`smoseq scan`) for analysis.
    """
    return float(np.asarray(data.mask).sum()) / n_states


def build_prior_model(
    n_states, n_syllables, kappa, beta, emissions, sigma_base, sigma_bias, emission_beta
) -> HHMM:
    """A model with the requested priors and placeholder parameters (replaced by the first Gibbs step)."""
    transitions = StickyTransitions(jnp.full((n_states, n_states), 1.0 / n_states), beta, kappa)
    if emissions == "low_rank":
        emission_module = LowRankEmissions(
            jnp.zeros((n_syllables, n_syllables - 1)),
            jnp.zeros((n_states - 1, n_syllables - 1)),
            Normal(sigma_base),
            Normal(sigma_bias),
        )
    elif emissions == "full_rank":
        emission_module = FullRankEmissions(
            jnp.full((n_states, n_syllables, n_syllables), 1.0 / n_syllables), Dirichlet(emission_beta)
        )
    elif isinstance(emissions, eqx.Module):
        emission_module = emissions
    else:
        raise InputError(f"emissions must be 'low_rank', 'full_rank' or an emission module, got {emissions!r}")
    return HHMM(emission_module, transitions)


def starting_model(model: HHMM, data: SyllableData, states) -> HHMM:
    """`model` with data-driven emission parameters for the given initial states, where supported."""
    if hasattr(model.emissions, "with_data_driven_start"):
        counts = emission_counts(data.syllables, data.emission_mask, jnp.asarray(states), model.n_states, model.n_syllables)
        return eqx.tree_at(lambda m: m.emissions, model, model.emissions.with_data_driven_start(counts))
    return model


def initial_state_candidates(data: SyllableData, n_states: int, n_syllables: int, seed: int) -> list[tuple[str, np.ndarray]]:
    """Named initial state arrays (N, T): k-means on windowed syllable usage at several window lengths."""
    syllables, mask = np.asarray(data.syllables), np.asarray(data.mask)
    windows = candidate_windows(int(mask.sum()), n_syllables, n_states)
    return [
        (f"kmeans-window-{window}", kmeans_window_states(syllables, mask, n_states, n_syllables, window, seed + i))
        for i, window in enumerate(windows)
    ]


@dataclass
class FitResult:
    """A fitted model, its states per recording, and the trace of the fit.

    Attributes:
        model: the final `HHMM` sample.
        states: recording name -> (T_i,) int hidden state per frame (original lengths).
        log_probs: (n_iters,) log p(params) + log p(x | params) after each iteration.
        emission_losses: optimizer losses of the last emission update (steps taken only).
        history: (n_iters, T_seg) states of one segment at every iteration (for the history figure).
        hyperparameters: what the fit was run with.
        info: timings and the initialisation chosen.
        segment_states: (N, T) int32 final states of the batched segments, or None.
        keys: (N,) recording name of each segment (as `sm.batch`), or None.
        bounds: (N, 2) [start, end) frames of each segment in its recording, or None.
    """

    model: HHMM
    states: dict
    log_probs: np.ndarray
    emission_losses: np.ndarray
    history: np.ndarray
    hyperparameters: dict
    info: dict = field(default_factory=dict)
    segment_states: np.ndarray | None = None
    keys: np.ndarray | None = None
    bounds: np.ndarray | None = None

    @property
    def n_states(self) -> int:
        return self.model.n_states

    def save(self, folder, overwrite: bool = False) -> None:
        """Write the fit folder (DESIGN §5); see `smoseq.io.fit_folders.save_fit`.

        Args:
            folder: path of the fit folder to write (str or `Path`).
            overwrite: replace an existing fit folder at `folder`.

        Returns:
            None; the files are written to `folder`.
        """
        from ..io.fit_folders import save_fit

        save_fit(self, folder, overwrite=overwrite)

    @property
    def repeats(self) -> str:
        """How the fit scored repeated syllables (fits saved before the option: `"model"`)."""
        return self.hyperparameters.get("repeats", "model")

    def predict(self, recordings, method: str = "most_probable", kernel: Method = "auto", seg_length=None) -> dict:
        """Hidden states of (new) recordings under this model, scored as the fit scored its data.

        Args:
            recordings: recording name -> syllables (T_i,) int.
            method: `most_probable`, `viterbi` or `marginals`; see `predict_states`.
            kernel: `auto`, `native`, `serial` or `parallel`.
            seg_length: optional batching of long recordings.

        Returns:
            recording name -> (T_i,) int states, or (T_i, K) float probabilities for
            `marginals`. Uses the fit's `repeats` setting (`FitResult.repeats`).
        """
        return predict_states(
            self.model, recordings, method=method, kernel=kernel, seg_length=seg_length, repeats=self.repeats
        )


PREDICT_METHODS = ("most_probable", "viterbi", "marginals")


def predict_states(
    model: HHMM,
    recordings,
    method: str = "most_probable",
    kernel: Method = "auto",
    seg_length=None,
    repeats: Repeats = "ignore",
) -> dict:
    """States of recordings under a fitted model.

    Args:
        model: a fitted `HHMM`.
        recordings: recording name -> syllables (T_i,).
        method: `most_probable` (default): the state of highest posterior probability
            at each frame, which maximises the expected number of correctly labelled
            frames; `viterbi`: the single most probable path (it can drop a short bout
            whose boundaries are uncertain); `marginals`: the posterior probabilities
            themselves, (T_i, K) per recording.
        kernel: `auto`, `native`, `serial` or `parallel`.
        seg_length: optional batching of long recordings.
        repeats: as in `sm.fit` (use the fit's: `FitResult.predict` does).

    Returns:
        recording name -> (T_i,) int states, or (T_i, K) probabilities for `marginals`.
    """
    if method not in PREDICT_METHODS:
        raise InputError(f"method must be one of {', '.join(PREDICT_METHODS)}; got {method!r}")
    prepared = prepare_data(
        recordings, seg_length=seg_length, seg_overlap=0, n_syllables=model.n_syllables, repeats=repeats
    )
    with single_threaded_blas():
        values = _predicted_values(model, prepared, method, kernel)
    return unbatch(values, prepared.keys, prepared.bounds)


def _predicted_values(model, prepared, method, kernel):
    if method == "viterbi":
        return np.asarray(viterbi_states(model, prepared.data, kernel))
    marginals = np.asarray(smoothed_probs(model, prepared.data, kernel))
    return marginals if method == "marginals" else marginals.argmax(axis=-1).astype(np.int32)


def heldout_loglik_per_frame(model: HHMM, recordings, kernel: Method = "auto", repeats: Repeats = "ignore") -> float:
    """Marginal log-likelihood per frame of recordings under `model` (states summed out exactly).

    `repeats` must be the fit's (`FitResult.repeats`): the likelihoods of the two
    settings score different evidence and are not comparable with each other.

    Args:
        model: a fitted `HHMM` (K states, S syllables).
        recordings: recording name -> syllables (T_i,) int; also accepts `sm.batch`
            output `(seqs, mask, metadata)` or `{"syllables": (N, T), "mask": (N, T)}`.
            Each recording is one sequence (no segmenting).
        kernel: `auto`, `native`, `serial` or `parallel` filter.
        repeats: `"ignore"` (default) or `"model"`, as in `sm.fit`.

    Returns:
        Σ_n log p(x_n | model) divided by the number of real (unpadded) frames, summed
        over all recordings: a Python float.

    Raises:
        InputError: bad recordings, a syllable ≥ the model's S, or a bad `repeats`.
    """
    prepared = prepare_data(recordings, seg_overlap=0, n_syllables=model.n_syllables, repeats=repeats)
    total = float(np.asarray(marginal_logliks(model, prepared.data, kernel)).sum())
    return total / float(np.asarray(prepared.data.mask).sum())


def check_hyperparameters(n_states, kappa, beta, n_iters, sigma_base, sigma_bias):
    """Raise `InputError` naming the first hyperparameter out of range (shared with scans)."""
    if not isinstance(n_states, (int, np.integer)) or n_states < 2:
        raise InputError(f"n_states must be an integer >= 2, got {n_states!r}")
    if not isinstance(n_iters, (int, np.integer)) or n_iters < 1:
        raise InputError(f"n_iters must be an integer >= 1, got {n_iters!r}")
    if kappa != "auto" and not (np.isfinite(kappa) and kappa >= 0):
        raise InputError(f"kappa must be >= 0, got {kappa!r}")
    for name, value in (("beta", beta), ("sigma_base", sigma_base), ("sigma_bias", sigma_bias)):
        if not (np.isfinite(value) and value > 0):
            raise InputError(f"{name} must be > 0, got {value!r}")


@with_single_threaded_blas
def fit(
    recordings,
    n_states: int = 10,
    kappa="auto",
    n_iters: int = 100,
    seed: int = 0,
    *,
    emissions="low_rank",
    beta: float = 1.0,
    sigma_base: float = 1.0,
    sigma_bias: float = 1.0,
    emission_beta: float = 1.0,
    mode_search: ModeSearch | None = None,
    method: Method = "auto",
    init_states=None,
    n_init_iters: int = 10,
    seg_length=None,
    seg_overlap: int = 30,
    repeats: Repeats = "ignore",
    history_segment: int = 0,
    progress: bool = True,
    checkpoint_dir=None,
    checkpoint_every: int = 10,
    resume: bool = False,
) -> FitResult:
    """Fit an HHMM by blocked Gibbs sampling.

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
        emissions: `"low_rank"` (default), `"full_rank"`, or an emission module whose
            priors and shapes define a custom model (its parameter values are replaced).
        beta, sigma_base, sigma_bias, emission_beta: prior hyperparameters.
        mode_search: optimizer and stopping rule of the low-rank emission update
            (default: `optax.lbfgs()`, tol 1e-6, at most 200 steps).
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
        checkpoint_dir, checkpoint_every, resume: see `smoseq.fitting.checkpoints`.

    Returns:
        A `FitResult`.

    Raises:
        InputError: bad recordings or hyperparameters (the message names the problem).
        FitError: the log probability became non-finite.
    """
    check_hyperparameters(n_states, kappa, beta, n_iters, sigma_base, sigma_bias)
    started = time.perf_counter()
    prepared = prepare_data(recordings, seg_length=seg_length, seg_overlap=seg_overlap, repeats=repeats)
    data = prepared.data
    kappa_value = auto_kappa(data, n_states) if kappa == "auto" else float(kappa)
    model = build_prior_model(
        n_states, prepared.n_syllables, kappa_value, beta, emissions, sigma_base, sigma_bias, emission_beta
    )
    mode_search = default_mode_search() if mode_search is None else mode_search
    step = compiled_kernel(mode_search, method)
    root_key = jr.key(seed)
    hyperparameters = {
        "n_states": int(n_states),
        "n_syllables": int(prepared.n_syllables),
        "kappa": kappa_value,
        "beta": float(beta),
        "sigma_base": float(sigma_base),
        "sigma_bias": float(sigma_bias),
        "emission_beta": float(emission_beta),
        "emissions": emissions if isinstance(emissions, str) else type(emissions).__name__,
        "n_iters": int(n_iters),
        "seed": int(seed),
        "seg_length": None if seg_length is None else int(seg_length),
        "seg_overlap": int(seg_overlap),
        "repeats": repeats,
    }

    from .checkpoints import Checkpointer

    checkpointer = Checkpointer(checkpoint_dir, checkpoint_every, hyperparameters) if checkpoint_dir else None
    resumed = checkpointer.load(model, data) if (checkpointer and resume) else None
    if resumed is not None:
        state, trace, init_info = resumed
    else:
        state, init_info = _initialise(step, root_key, model, data, prepared, init_states, n_init_iters, seed)
        trace = {"log_probs": [], "history": [], "emission_losses": np.zeros(0)}

    history_row = min(history_segment, data.syllables.shape[0] - 1)
    valid = np.asarray(data.mask[history_row]) > 0
    fit_key = jr.fold_in(root_key, 1)
    first = len(trace["log_probs"])
    bar = tqdm(range(first, n_iters), desc="Fitting", disable=not progress, initial=first, total=n_iters)
    completed = first
    faults = list(init_info.get("numerical_faults", []))
    try:
        for iteration in bar:
            iteration_key = jr.fold_in(fit_key, iteration)
            new_state, info = step_with_retries(step, iteration_key, state, data, mode_search, method, iteration, faults)
            _record(trace, info, new_state, history_row, valid, iteration)
            state, completed = new_state, iteration + 1
            bar.set_postfix(log_prob=f"{trace['log_probs'][-1]:.5g}")
            if checkpointer and checkpointer.due(completed, n_iters):
                checkpointer.save(state, trace, init_info, completed)
    except KeyboardInterrupt:
        bar.close()
        trace["log_probs"], trace["history"] = trace["log_probs"][:completed], trace["history"][:completed]
        if checkpointer is None:
            raise FitInterrupted(f"stopped after {completed} iterations without checkpoints") from None
        checkpointer.save(state, trace, init_info, completed)
        raise FitInterrupted(f"checkpoint written after {completed} of {n_iters} iterations") from None

    segment_states = np.asarray(state.states)
    info = dict(init_info)
    info["numerical_faults"] = faults
    info["fit_seconds"] = time.perf_counter() - started
    return FitResult(
        model=state.model,
        states=unbatch(segment_states, prepared.keys, prepared.bounds),
        log_probs=np.asarray(trace["log_probs"]),
        emission_losses=np.asarray(trace["emission_losses"]),
        history=np.stack(trace["history"]) if trace["history"] else np.zeros((0, int(valid.sum())), np.int16),
        hyperparameters=hyperparameters,
        info=info,
        segment_states=segment_states,
        keys=prepared.keys,
        bounds=prepared.bounds,
    )


MAX_RETRIES = 3


def retry_mode_search(mode_search: ModeSearch, attempt: int) -> ModeSearch:
    """The optimizer used to retry an iteration that went non-finite: Adam with a step halved each attempt."""
    return ModeSearch(_retry_optimizer(attempt), max_iters=max(mode_search.max_iters, 1000), tol=mode_search.tol)


@lru_cache(maxsize=MAX_RETRIES)
def _retry_optimizer(attempt: int):
    return optax.adam(1e-2 * 0.5**attempt)


def is_finite_state(info, state: GibbsState) -> bool:
    """True when an iteration's log probability and every model parameter are finite."""
    leaves = jax.tree_util.tree_leaves(eqx.filter(state.model, eqx.is_inexact_array))
    return bool(np.isfinite(float(info.log_prob))) and all(bool(jnp.isfinite(leaf).all()) for leaf in leaves)


def step_with_retries(step, key, state, data, mode_search, method, iteration, faults):
    """One Gibbs step; on a non-finite result, roll back and retry with smaller optimizer steps.

    Each retry starts again from the last good `state` with the same key. What happened
    is appended to `faults` (saved in fit.json). After `MAX_RETRIES` failures the last
    (non-finite) result is returned and `_record` stops the fit with a message.
    """
    new_state, info = step(key, state, data)
    attempt = 0
    while not is_finite_state(info, new_state) and attempt < MAX_RETRIES and mode_search is not None:
        fallback = retry_mode_search(mode_search, attempt)
        new_state, info = compiled_kernel(fallback, method)(key, state, data)
        faults.append(
            {"iteration": int(iteration), "attempt": attempt + 1, "optimizer": f"adam({1e-2 * 0.5**attempt:g})",
             "recovered": is_finite_state(info, new_state)}
        )
        attempt += 1
    return new_state, info


def _record(trace: dict, info, state: GibbsState, history_row: int, valid, iteration: int) -> None:
    """Append one iteration's log probability and history row; stop on a non-finite value."""
    log_prob = float(info.log_prob)
    if not np.isfinite(log_prob):
        raise FitError(
            f"log probability is {log_prob} at iteration {iteration} even after {MAX_RETRIES} retries with "
            "smaller optimizer steps: try larger sigma_base/sigma_bias, a smaller kappa, or check the data "
            "for syllables that never occur"
        )
    trace["log_probs"].append(log_prob)
    trace["history"].append(np.asarray(state.states[history_row])[valid].astype(np.int16))
    trace["emission_losses"] = np.asarray(info.emission_losses)[: int(info.emission_steps)]


def user_init_states(init_states, prepared: Prepared) -> np.ndarray:
    """User-given initial states (dict recording -> (T_i,), or (N, T)) laid out like `prepared`: (N, T) int32."""
    if isinstance(init_states, dict):
        per_recording = {k: np.asarray(v) for k, v in init_states.items()}
        rows = []
        width = prepared.data.syllables.shape[1]
        for key, (start, end) in zip(prepared.keys, prepared.bounds):
            segment = per_recording[key][start:end]
            rows.append(np.concatenate([segment, np.repeat(segment[-1:], width - len(segment))]))
        return np.stack(rows).astype(np.int32)
    states = np.asarray(init_states, dtype=np.int32)
    if states.shape != prepared.data.syllables.shape:
        raise InputError(f"init_states must have shape {prepared.data.syllables.shape}, got {states.shape}")
    return states


def _initialise(step, root_key, model, data, prepared, init_states, n_init_iters, seed):
    """The starting GibbsState: user states, or the best of several short data-driven chains."""
    if init_states is not None:
        states = user_init_states(init_states, prepared)
        return GibbsState(starting_model(model, data, states), jnp.asarray(states)), {"init": "user"}
    candidates = initial_state_candidates(data, model.n_states, model.n_syllables, seed)
    init_key = jr.fold_in(root_key, 0)
    best = None
    scores = {}
    for index, (name, states) in enumerate(candidates):
        state = GibbsState(starting_model(model, data, states), jnp.asarray(states))
        log_prob = -np.inf
        for iteration in range(n_init_iters):
            state, info = step(jr.fold_in(jr.fold_in(init_key, index), iteration), state, data)
            log_prob = float(info.log_prob)
        scores[name] = log_prob
        if best is None or (np.isfinite(log_prob) and log_prob > best[0]):
            best = (log_prob, name, state)
    return best[2], {"init": best[1], "init_scores": scores, "n_init_iters": int(n_init_iters)}
