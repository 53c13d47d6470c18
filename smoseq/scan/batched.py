"""Fit many models of one shape in one program: one jitted Gibbs step advances a whole batch.

Models that share K, S and the data but differ in κ, priors or seed are one
`GibbsState` PyTree with a leading model axis; one jitted step built from
`smoseq.inference.gibbs` advances all of them at once — `jax.vmap` of the whole step
(strategy `vmap`, for GPUs), or on CPU the parameter update model by model inside the
program and the state sampling vmapped (strategy `split`, see `batched_kernel`). Each model keeps
`sm.fit`'s key schedule — iteration i of the model with seed s uses
`fold_in(fold_in(key(s), 1), i)` — so `sm.fit(..., seed=s, init_states=the same
start)` reproduces a member of a batch (states exactly, log probabilities to float
rounding: vmapped reductions may differ in the last bits).
"""

import time
from functools import lru_cache
from typing import Literal

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
from tqdm.auto import tqdm

from .._errors import InputError
from .._threads import with_single_threaded_blas
from ..io.batching import unbatch
from ..fitting.single import (
    MAX_RETRIES,
    FitError,
    FitResult,
    Prepared,
    Repeats,
    check_hyperparameters,
    is_finite_state,
    step_with_retries,
    user_init_states,
    build_prior_model,
    compiled_kernel,
    default_mode_search,
    prepare_data,
    starting_model,
)
from ..inference.gibbs import (
    GibbsInfo,
    GibbsState,
    build_kernel,
    parameter_half,
    resample_params,
    sample_states_on_host,
)
from ..inference.initialization import candidate_windows, kmeans_window_states
from ..inference.states import Method, resolve_method, sample_states
from ..models import ModeSearch
from .memory import available_memory_bytes, model_footprint_bytes

__all__ = ["fit_models", "batched_kernel", "resolve_strategy", "seed_initial_states"]


Strategy = Literal["auto", "vmap", "split"]


def resolve_strategy(strategy: Strategy) -> str:
    """`auto`: `split` on CPU, `vmap` on accelerators (see `batched_kernel`)."""
    if strategy not in ("auto", "vmap", "split"):
        raise InputError(f"strategy must be 'auto', 'vmap' or 'split', got {strategy!r}")
    if strategy == "auto":
        return "split" if jax.default_backend() == "cpu" else "vmap"
    return strategy


@lru_cache(maxsize=16)
def batched_kernel(mode_search: ModeSearch | None, method: str, strategy: str = "vmap"):
    """`step(keys (M,), state (M, ...), data) -> (state, info, finite (M,))`, compiled once per process.

    Strategies (same keys, same draws up to float rounding):
    - `vmap`: `jax.vmap` of the whole Gibbs step (`build_kernel`): one batched program,
      the right choice on GPUs.
    - `split`: the parameter update runs model by model inside the program
      (`lax.map`), the state sampling for all models at once (one native call over every
      model's sequences, made from the host after the program so that JAX's persistent
      compilation cache can keep the program; the JAX samplers are vmapped inside it).
      On CPU, vmapping the parameter update costs more than
      looping (batched scatter-adds for the counts, and a vmapped mode search runs every
      model for as many optimizer steps as the slowest needs): see benchmarks/bench_scan.py.

    `finite[m]` is False when model m's log probability or any parameter is not finite.
    """
    if strategy == "vmap":
        vmapped = eqx.filter_jit(eqx.filter_vmap(build_kernel(mode_search, method), in_axes=(0, 0, None)))
    elif method == "native":
        vmapped = _split_host_step(mode_search)
    else:
        vmapped = eqx.filter_jit(_split_step(mode_search, method))
    finite_models = eqx.filter_jit(jax.vmap(_all_finite))

    def batched_step(keys, state: GibbsState, data):
        new_state, info = vmapped(keys, state, data)
        finite = finite_models(new_state.model) & jnp.isfinite(info.log_prob)
        return new_state, info, finite

    return batched_step


def _split_step(mode_search, method):
    """The Gibbs step of `build_kernel` for a batch: parameters model by model, states vmapped."""

    def step(keys, state: GibbsState, data):
        subkeys = jax.vmap(jr.split)(keys)  # as build_kernel: k_params, k_states = jr.split(key)
        k_params, k_states = subkeys[:, 0], subkeys[:, 1]

        def update(args):
            key, model, states = args
            return resample_params(key, model, data, states, mode_search)

        model, emission_info = jax.lax.map(update, (k_params, state.model, state.states))

        def sample(key, model):
            states, logliks = sample_states(key, model, data, method)
            return states, logliks.sum(), model.log_prior()

        states, marginal, log_prior = eqx.filter_vmap(sample)(k_states, model)
        info = GibbsInfo(marginal + log_prior, marginal, log_prior, emission_info.losses, emission_info.n_steps)
        return GibbsState(model, states), info

    return step


def _split_host_step(mode_search):
    """`_split_step` with the native sampler called from the host for every model at once.

    The jitted program holds only the parameter updates (model by model, `lax.map` of
    `parameter_half`), so JAX's persistent compilation cache can keep it between scan jobs.
    """
    half = parameter_half(mode_search)

    @eqx.filter_jit
    def parameters(keys, state: GibbsState, data):
        return jax.lax.map(lambda args: half(args[0], GibbsState(args[1], args[2]), data), (keys, state.model, state.states))

    def step(keys, state: GibbsState, data):
        return sample_states_on_host(*parameters(keys, state, data), data)

    return step


def _all_finite(model) -> jax.Array:
    leaves = jax.tree_util.tree_leaves(eqx.filter(model, eqx.is_inexact_array))
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(leaf)) for leaf in leaves]))


@jax.jit
def _iteration_keys(fit_keys, iteration):
    return jax.vmap(jr.fold_in, in_axes=(0, None))(fit_keys, iteration)


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
    n_states: int,
    kappas,
    seeds,
    n_iters: int = 100,
    *,
    init_states=None,
    emissions: str = "low_rank",
    beta: float = 1.0,
    sigma_base: float = 1.0,
    sigma_bias: float = 1.0,
    emission_beta: float = 1.0,
    mode_search: ModeSearch | None = None,
    method: Method = "auto",
    seg_length=None,
    seg_overlap: int = 30,
    repeats: Repeats = "ignore",
    n_syllables: int | None = None,
    history_segment: int = 0,
    max_batch: int | None = None,
    memory_budget: float | None = None,
    strategy: Strategy = "auto",
    on_failure: str = "raise",
    progress: bool = True,
    on_iteration=None,
) -> list[FitResult]:
    """Fit one model per `(kappa, seed)` pair, advancing a batch of them with one jitted, batched Gibbs step.

    Models are fitted in chunks of at most `max_batch` models that fit in
    `memory_budget` bytes (see `smoseq.scan.memory.model_footprint_bytes`); each chunk
    is one compiled program. Every model keeps `sm.fit`'s key schedule, so its result does
    not depend on which models share its chunk beyond float rounding of vmapped reductions.

    Args:
        recordings: as for `sm.fit` (dict name -> syllables, or batched arrays).
        n_states: K, shared by every model.
        kappas: stickiness per model; broadcast against `seeds` (a scalar serves all).
        seeds: integer seed per model; broadcast against `kappas`.
        n_iters: Gibbs iterations per model.
        init_states: `None` (data-driven per seed, `seed_initial_states`), one start for
            every model (an (N, T) array or dict per recording), or a list of them, one per model.
        emissions, beta, sigma_base, sigma_bias, emission_beta, mode_search, method, seg_length, seg_overlap, repeats, history_segment: as
            for `sm.fit`.
        n_syllables: S (default: largest syllable in the data + 1); give it when models
            fitted on part of the recordings must score the rest.
        max_batch: most models per compiled batch (default: all that fit in memory).
        memory_budget: bytes a chunk may use (default: half the available RAM).
        strategy: how the step is batched, `vmap` or `split` (see `batched_kernel`);
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
    kappas, seeds = _model_grid(kappas, seeds)
    if on_failure not in ("raise", "report"):
        raise InputError(f"on_failure must be 'raise' or 'report', got {on_failure!r}")
    for kappa in kappas:
        check_hyperparameters(n_states, kappa, beta, n_iters, sigma_base, sigma_bias)
    prepared = prepare_data(
        recordings, seg_length=seg_length, seg_overlap=seg_overlap, n_syllables=n_syllables, repeats=repeats
    )
    mode_search = default_mode_search() if mode_search is None else mode_search
    method = resolve_method(method)
    strategy = resolve_strategy(strategy)
    hyperparameters = {
        "n_states": int(n_states), "n_syllables": int(prepared.n_syllables), "beta": float(beta),
        "sigma_base": float(sigma_base), "sigma_bias": float(sigma_bias), "emission_beta": float(emission_beta),
        "emissions": emissions if isinstance(emissions, str) else type(emissions).__name__, "n_iters": int(n_iters),
        "seg_length": None if seg_length is None else int(seg_length), "seg_overlap": int(seg_overlap),
        "repeats": repeats,
    }  # fmt: skip
    starts = _initial_states(init_states, prepared, n_states, seeds)
    priors = dict(beta=beta, emissions=emissions, sigma_base=sigma_base, sigma_bias=sigma_bias, emission_beta=emission_beta)
    chunk = chunk_size(len(kappas), prepared, n_states, n_iters, method, max_batch, memory_budget)
    results = []
    for first in range(0, len(kappas), chunk):
        members = range(first, min(first + chunk, len(kappas)))
        run = _BatchRun(prepared, n_states, [kappas[m] for m in members], [seeds[m] for m in members],
                        [starts[m] for m in members], priors, mode_search, method, strategy, history_segment)  # fmt: skip
        run.iterate(n_iters, on_failure, progress, on_iteration)
        results += run.results({**hyperparameters})
    return results


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


def _take(tree, index: int):
    return jax.tree.map(lambda leaf: leaf[index], tree)


def _put(tree, index: int, value):
    return jax.tree.map(lambda leaf, new: leaf.at[index].set(new), tree, value)


class _BatchRun:
    """One chunk of models: their batched state, and what is recorded per iteration."""

    def __init__(self, prepared, n_states, kappas, seeds, starts, priors, mode_search, method, strategy, history_segment):
        self.prepared, self.kappas, self.seeds = prepared, kappas, seeds
        self.mode_search, self.method, self.strategy = mode_search, method, strategy
        data = prepared.data
        states = []
        for kappa, (_, start) in zip(kappas, starts):
            model = build_prior_model(n_states, prepared.n_syllables, kappa, **priors)
            states.append(GibbsState(starting_model(model, data, start), jnp.asarray(start)))
        self.state = jax.tree.map(lambda *leaves: jnp.stack(leaves), *states)
        self.init_names = [name for name, _ in starts]
        self.fit_keys = jnp.stack([jr.fold_in(jr.key(seed), 1) for seed in seeds])
        self.history_row = min(history_segment, data.syllables.shape[0] - 1)
        self.valid = np.asarray(data.mask[self.history_row]) > 0
        size = len(kappas)
        self.log_probs = [[] for _ in range(size)]
        self.history = [[] for _ in range(size)]
        self.losses = [np.zeros(0)] * size
        self.faults = [[] for _ in range(size)]
        self.errors = [None] * size
        self.seconds = 0.0

    def iterate(self, n_iters, on_failure, progress, on_iteration):
        step = batched_kernel(self.mode_search, self.method, self.strategy)
        data = self.prepared.data
        started = time.perf_counter()
        bar = tqdm(range(n_iters), desc=f"Fitting {len(self.kappas)} models", disable=not progress)
        for iteration in bar:
            keys = _iteration_keys(self.fit_keys, iteration)
            new_state, info, finite = step(keys, self.state, data)
            finite = np.asarray(finite)
            log_probs = np.asarray(info.log_prob, dtype=float)
            all_losses, steps = np.asarray(info.emission_losses), np.asarray(info.emission_steps)
            losses = [all_losses[m, : steps[m]] for m in range(len(finite))]
            for m in np.flatnonzero(~finite):
                new_state = self._repair(m, keys, iteration, new_state, log_probs, losses, on_failure)
            self.state = new_state
            self._record(iteration, log_probs, losses)
            alive = [self.log_probs[m][-1] for m in range(len(finite)) if self.errors[m] is None]
            bar.set_postfix(best_log_prob=f"{max(alive):.6g}" if alive else "none")
            if on_iteration is not None:
                on_iteration(iteration, n_iters, log_probs)
        self.seconds = time.perf_counter() - started

    def _repair(self, m, keys, iteration, new_state, log_probs, losses, on_failure):
        """Model m went non-finite: redo its step alone with `sm.fit`'s retries, or freeze it."""
        previous = _take(self.state, m)
        if self.errors[m] is None:
            single = compiled_kernel(self.mode_search, self.method)
            retried, info = step_with_retries(
                single, keys[m], previous, self.prepared.data, self.mode_search, self.method, iteration, self.faults[m]
            )
            if is_finite_state(info, retried):
                log_probs[m] = float(info.log_prob)
                losses[m] = np.asarray(info.emission_losses)[: int(info.emission_steps)]
                return _put(new_state, m, retried)
            message = (
                f"model kappa={self.kappas[m]:.6g} seed={self.seeds[m]}: log probability is not finite at "
                f"iteration {iteration} even after {MAX_RETRIES} retries with smaller optimizer steps: try larger "
                "sigma_base/sigma_bias, a smaller kappa, or check the data for syllables that never occur"
            )
            if on_failure == "raise":
                raise FitError(message)
            self.errors[m] = message
        return _put(new_state, m, previous)

    def _record(self, iteration, log_probs, losses):
        rows = np.asarray(self.state.states[:, self.history_row])[:, self.valid].astype(np.int16)
        for m in range(len(self.kappas)):
            if self.errors[m] is None:
                self.log_probs[m].append(float(log_probs[m]))
                self.history[m].append(rows[m])
                self.losses[m] = losses[m]

    def results(self, hyperparameters: dict) -> list[FitResult]:
        prepared, size = self.prepared, len(self.kappas)
        segment_states = np.asarray(self.state.states)
        results = []
        for m in range(size):
            info = {
                "init": self.init_names[m], "numerical_faults": self.faults[m], "fit_seconds": self.seconds / size,
                "batch_size": size, "batch_seconds": self.seconds, "batch_strategy": self.strategy,
            }  # fmt: skip
            if self.errors[m] is not None:
                info["error"] = self.errors[m]
            history = np.stack(self.history[m]) if self.history[m] else np.zeros((0, int(self.valid.sum())), np.int16)
            results.append(
                FitResult(
                    model=_take(self.state.model, m),
                    states=unbatch(segment_states[m], prepared.keys, prepared.bounds),
                    log_probs=np.asarray(self.log_probs[m]),
                    emission_losses=np.asarray(self.losses[m]),
                    history=history,
                    hyperparameters={**hyperparameters, "kappa": self.kappas[m], "seed": self.seeds[m]},
                    info=info,
                    segment_states=segment_states[m],
                    keys=prepared.keys,
                    bounds=prepared.bounds,
                )
            )
        return results
