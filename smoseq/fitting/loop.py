"""The one fit loop: chains advanced by a Gibbs kernel, with retries, a typed trace and hooks.

`sm.fit` runs one chain with the single-chain kernel; `sm.fit_models` runs a batch with a
batched kernel; both run `Chains.run`. Chain m's iteration i uses the key
`fold_in(fit_keys[m], i)`, so a chain's path does not depend on what it was run with.
An iteration whose log probability or parameters are not finite is redone from the last
good state with the retry optimizer, its steps scaled down at each attempt; a chain that
stays non-finite raises `FitError` or, with `on_failure="report"`, is frozen and
reported.
"""

from dataclasses import dataclass, field
from functools import lru_cache

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import optax
from tqdm.auto import tqdm

from ..inference.gibbs import GibbsState, compiled_kernel, single_chain_strategy
from ..inference.placement import Placement
from ..inference.states import resolve_method
from ..models import ModeSearch
from .optimizers import optimizer, settings_of

MAX_RETRIES = 3
RETRY_STEP_SCALE = 0.5


class FitError(RuntimeError):
    """A fit that cannot continue (e.g. a non-finite log probability); the message says what to change."""


@lru_cache(maxsize=1)
def default_mode_search() -> ModeSearch:
    """L-BFGS from Optax, warm-started each iteration; see `smoseq.models.laplace.find_mode`.

    One shared instance, so every fit with the default reuses one compiled Gibbs step.
    """
    return ModeSearch(optimizer("lbfgs"), max_iters=200, tol=1e-6, name="lbfgs")


@lru_cache(maxsize=1)
def default_retry() -> ModeSearch:
    """Adam(1e-2), up to 1000 steps: the optimizer that redoes an iteration that went non-finite."""
    return ModeSearch(optimizer("adam", learning_rate=1e-2), max_iters=1000, tol=1e-6, name="adam(0.01)")


@lru_cache(maxsize=16)
def retry_mode_search(retry: ModeSearch, attempt: int) -> ModeSearch:
    """The retry optimizer of attempt `attempt` (0, 1, …): its updates scaled by `RETRY_STEP_SCALE ** attempt`."""
    if attempt == 0:
        return retry
    scaled = optax.chain(retry.optimizer, optax.scale(RETRY_STEP_SCALE**attempt))
    return retry._replace(optimizer=scaled)


def describe_mode_search(mode_search: ModeSearch | None) -> dict | None:
    """What fit.json records of an optimizer: its name (or "custom"), its optax factory and settings when
    built by `sm.optimizer` (else null: optax cannot tell them), max_iters, tol, and `metropolis` when set."""
    if mode_search is None:
        return None
    known = settings_of(mode_search.optimizer)
    described = {
        "optimizer": mode_search.name or "custom", "optax": known[0] if known else None,
        "settings": known[1] if known else None, "max_iters": int(mode_search.max_iters), "tol": float(mode_search.tol),
    }  # fmt: skip
    described |= {"metropolis": True} if mode_search.metropolis else {}
    update = mode_search.emission_update
    return described | ({"emission_update": update} if update != "laplace" else {})


@dataclass(frozen=True)
class Sampler:
    """The Gibbs settings every chain of a fit shares.

    Attributes:
        mode_search: optimizer of the emission update (None for conjugate-only models).
        method: resolved state-sampling kernel (`native`, `serial`, `parallel`).
        retry: optimizer that redoes a non-finite iteration (None: no retries).
        placement: devices and chunks of a single-chain fit (`smoseq.inference.placement`);
            None: one device, one piece.
    """

    mode_search: ModeSearch | None
    method: str
    retry: ModeSearch | None
    placement: Placement | None = None

    @classmethod
    def create(cls, mode_search: ModeSearch | None, method: str, retry: ModeSearch | None,
               exact_emissions: bool = False, placement: Placement | None = None) -> "Sampler":  # fmt: skip
        """The settings a fit asked for: None means the default optimizer or retry; `method` is resolved.

        `exact_emissions` selects the exact blocked emission update (`ExactBlockedUpdate`,
        `ModeSearch.emission_update="exact_blocked"`) in both settings, so a retried iteration
        is exact too.
        """
        mode_search = default_mode_search() if mode_search is None else mode_search
        retry = default_retry() if retry is None else retry
        if exact_emissions:
            exact = {"emission_update": "exact_blocked", "metropolis": False}
            mode_search, retry = mode_search._replace(**exact), retry._replace(**exact)
        return cls(mode_search, resolve_method(method), retry, placement)

    @property
    def metropolis(self) -> bool:
        """Whether the emission update is the Laplace Metropolis–Hastings one (its chain starts with a plain draw)."""
        return bool(self.mode_search is not None and self.mode_search.metropolis and self.emission_update == "laplace")

    @property
    def emission_update(self) -> str | None:
        """Which low-rank emission update the fit uses: "laplace" or "exact_blocked" (None without a mode search)."""
        return None if self.mode_search is None else self.mode_search.emission_update

    def describe(self) -> dict:
        """What fit.json records of the optimizers (`describe_mode_search` of each)."""
        described = {"mode_search": describe_mode_search(self.mode_search), "retry": describe_mode_search(self.retry)}
        return described | {"emission_update": self.emission_update}

    def kernel(self, strategy: str, plain: bool = False):
        """The compiled step of this fit for `strategy` (`single` picks the fastest single-chain one).

        `plain=True`: the same step with the plain Laplace emission update (no
        Metropolis–Hastings correction), which starts an exact chain (`Chains.run`).
        """
        if strategy == "single":
            strategy = single_chain_strategy(self.method)
        mode_search = self.mode_search._replace(metropolis=False) if plain else self.mode_search
        return self._compiled(mode_search, strategy)

    def _compiled(self, mode_search, strategy: str):
        if self.placement is not None and self.placement.active:
            if strategy not in ("fused", "host"):
                raise ValueError("devices and memory limits apply to single-chain fits (sm.fit)")
            return self.placement.kernel(mode_search, self.method, strategy)
        return compiled_kernel(mode_search, self.method, strategy)

    def retry_kernel(self, attempt: int, plain: bool = False):
        """The single-chain step of retry attempt `attempt`; `plain` as for `kernel`."""
        search = retry_mode_search(self.retry, attempt)
        search = search._replace(metropolis=False) if plain else search
        return self._compiled(search, single_chain_strategy(self.method))


@dataclass
class ChainTrace:
    """What one chain records, iteration by iteration.

    Attributes:
        log_probs: log p(params) + log p(x | params) after every iteration.
        history: (T_seg,) int16 states of the recorded segment after every iteration.
        emission_losses: optimizer losses of the last emission update (steps taken only).
        faults: one entry per retry: iteration, attempt, optimizer, whether it recovered.
        error: why the chain was frozen (`on_failure="report"`), else None.
        emission_accepted: whether each iteration's Metropolis–Hastings emission update took
            its proposal (recorded with `ModeSearch(..., metropolis=True)` or an emission update
            whose info has `accepted`, else empty).
        emission_acceptance: each of those updates' acceptance probability (same rule).
        update_converged: whether every mode search of each iteration's update converged
            (recorded for updates that report `converged`, e.g. `LaplaceInfo`; else empty).
        update_factor_ok: whether every factorisation of each iteration's update was finite
            (updates that report `factor_ok`; else empty).
        last_updates: the last iteration's `ModelInfo`, flattened: path (e.g.
            `"transitions.tables"` for the HDP) -> array.
    """

    log_probs: list = field(default_factory=list)
    history: list = field(default_factory=list)
    emission_losses: np.ndarray = field(default_factory=lambda: np.zeros(0))
    faults: list = field(default_factory=list)
    error: str | None = None
    emission_accepted: list = field(default_factory=list)
    emission_acceptance: list = field(default_factory=list)
    update_converged: list = field(default_factory=list)
    update_factor_ok: list = field(default_factory=list)
    last_updates: dict = field(default_factory=dict)

    def history_array(self, width: int) -> np.ndarray:
        """(n_iters, T_seg) int16 history (empty (0, width) before the first iteration)."""
        return np.stack(self.history) if self.history else np.zeros((0, width), np.int16)

    def acceptance_arrays(self) -> dict:
        """The per-iteration update records as arrays: `emission_accepted` (n,) bool, `emission_acceptance` (n,)
        float, `update_converged` and `update_factor_ok` (n,) bool (each empty when not recorded)."""
        return {
            "emission_accepted": np.asarray(self.emission_accepted, dtype=bool),
            "emission_acceptance": np.asarray(self.emission_acceptance, dtype=float),
            "update_converged": np.asarray(self.update_converged, dtype=bool),
            "update_factor_ok": np.asarray(self.update_factor_ok, dtype=bool),
        }

    def result_fields(self) -> dict:
        """What a `FitResult` takes from the trace besides the log probabilities: `acceptance_arrays` and `last_updates`."""
        return self.acceptance_arrays() | {"last_updates": dict(self.last_updates)}


def is_finite_state(info, state: GibbsState) -> bool:
    """True when an iteration's log probability and every model parameter are finite (one chain)."""
    return bool(_finite_chain(state.model, info.log_prob))


def _chain_is_finite(model, log_prob) -> jax.Array:
    leaves = jax.tree_util.tree_leaves(eqx.filter(model, eqx.is_inexact_array))
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(leaf)) for leaf in leaves] + [jnp.isfinite(log_prob)]))


_finite_chain = eqx.filter_jit(_chain_is_finite)
_finite_chains = eqx.filter_jit(eqx.filter_vmap(_chain_is_finite))


@jax.jit
def _iteration_keys(fit_keys, iteration):
    return jax.vmap(jr.fold_in, in_axes=(0, None))(fit_keys, iteration)


def take_chain(tree, index: int):
    """Chain `index` of a batched PyTree (leading chain axis)."""
    return jax.tree.map(lambda leaf: leaf[index], tree)


def stack_chains(trees):
    """A batched PyTree (leading chain axis) from one PyTree per chain.

    A NumPy leaf of a single chain (the host-held states of a chunked fit) becomes a view
    with a leading axis of one, not a copy on the device.
    """
    return jax.tree.map(_stack, *trees)


def _stack(*leaves):
    if len(leaves) == 1 and isinstance(leaves[0], np.ndarray):
        return leaves[0][None]
    return jnp.stack(leaves)


def _put_chain(tree, index: int, value):
    return jax.tree.map(lambda leaf, new: _put(leaf, index, new), tree, value)


def _put(leaf, index: int, new):
    if isinstance(leaf, np.ndarray):
        leaf = leaf.copy()
        leaf[index] = np.asarray(new)
        return leaf
    return leaf.at[index].set(new)


def _single_chain_as_batch(step):
    """A single-chain step with the batched signature (a batch of one chain)."""

    def batched(keys, state, data):
        new_state, info = step(keys[0], take_chain(state, 0), data)
        return stack_chains([new_state]), jax.tree.map(lambda leaf: jnp.asarray(leaf)[None], info)

    return batched


def non_finite_message(iteration: int) -> str:
    return (
        f"log probability is not finite at iteration {iteration} even after {MAX_RETRIES} retries with smaller "
        "optimizer steps: try larger sigma_base/sigma_bias, a smaller kappa, or check the data for syllables "
        "that never occur"
    )


class Chains:
    """M chains with one batched state, advanced together by one Gibbs kernel.

    Args:
        state: `GibbsState` with a leading chain axis M.
        fit_keys: (M,) PRNG keys; chain m's iteration i uses `fold_in(fit_keys[m], i)`.
        data: `SyllableData` (N, T) shared by every chain.
        sampler: the fit's `Sampler`.
        strategy: `single` (M = 1, the fastest single-chain kernel), `vmap` or `split`.
        labels: a name per chain for messages (e.g. "kappa=1e+04 seed=0"), "" for none.
        history_row: which segment's states to record at every iteration (None: none).
        traces: the `ChainTrace` of every chain to continue (default: empty ones).
    """

    def __init__(self, state, fit_keys, data, sampler: Sampler, strategy: str, labels, history_row=None, traces=None):
        self.state, self.fit_keys, self.data, self.sampler = state, fit_keys, data, sampler
        self.labels = list(labels)
        self.traces = traces if traces is not None else [ChainTrace() for _ in self.labels]
        self.history_row = history_row
        self.valid = None if history_row is None else np.asarray(data.mask[history_row]) > 0
        step = sampler.kernel(strategy)
        self.step = _single_chain_as_batch(step) if strategy == "single" else step
        self.start_step = None
        if sampler.metropolis:
            start = sampler.kernel(strategy, plain=True)
            self.start_step = _single_chain_as_batch(start) if strategy == "single" else start

    @property
    def size(self) -> int:
        return len(self.labels)

    def run(self, iterations: range, on_failure: str = "raise", progress: bool = False, desc: str = "Fitting",
            after_iteration=None) -> None:
        """Run `iterations` (absolute iteration numbers, for the keys); `after_iteration(self, iteration)` after each.

        With exact emission updates (`Sampler.metropolis`), iteration 0 draws the emissions
        by the plain Laplace update: an independence Metropolis–Hastings chain started at
        a point its proposal rarely reaches (the data-driven start, far in the tails of
        the posterior) would keep it for many iterations, and any start is valid. That
        iteration is recorded as accepted with acceptance probability NaN.
        """
        bar = tqdm(iterations, desc=desc, disable=not progress, initial=iterations.start, total=iterations.stop)
        for iteration in bar:
            keys = _iteration_keys(self.fit_keys, iteration)
            starting = iteration == 0 and self.start_step is not None
            new_state, info = (self.start_step if starting else self.step)(keys, self.state, self.data)
            finite = np.asarray(_finite_chains(new_state.model, info.log_prob))
            on_host = jax.tree.map(np.asarray, info)
            records = [_IterationRecord.of(take_chain(on_host, m), starting) for m in range(self.size)]
            for m in np.flatnonzero(~finite):
                new_state, retried_info = self._repair(m, keys[m], iteration, new_state, on_failure, starting)
                if retried_info is not None:
                    records[m] = _IterationRecord.of(retried_info, starting)
            self._record(new_state, records)
            self.state = new_state
            alive = [trace.log_probs[-1] for trace in self.traces if trace.error is None and trace.log_probs]
            bar.set_postfix(log_prob=f"{max(alive):.6g}" if alive else "none")
            if after_iteration is not None:
                after_iteration(self, iteration)

    def _repair(self, m, key, iteration, new_state, on_failure, plain=False):
        """Chain m went non-finite: redo its step alone with the retry optimizer, or freeze it.

        Returns:
            `(new_state, info)`: the batch with chain m repaired (or frozen at its last good
            state), and the retried step's `GibbsInfo` (None when it was frozen).
        """
        previous = take_chain(self.state, m)
        trace = self.traces[m]
        if trace.error is None:
            retried, info = self._retry(key, previous, iteration, trace.faults, plain)
            if retried is not None:
                return _put_chain(new_state, m, retried), info
            message = (f"model {self.labels[m]}: " if self.labels[m] else "") + non_finite_message(iteration)
            if on_failure == "raise":
                raise FitError(message)
            trace.error = message
        return _put_chain(new_state, m, previous), None

    def _retry(self, key, state, iteration, faults, plain=False):
        """Up to `MAX_RETRIES` redos of one chain's step; `(state, info)` of the first finite one, else `(None, None)`."""
        if self.sampler.retry is None:
            return None, None
        name = self.sampler.retry.name or "custom"
        for attempt in range(MAX_RETRIES):
            new_state, info = self.sampler.retry_kernel(attempt, plain)(key, state, self.data)
            recovered = is_finite_state(info, new_state)
            faults.append({"iteration": int(iteration), "attempt": attempt + 1,
                           "optimizer": f"{name} x {RETRY_STEP_SCALE**attempt:g}", "recovered": recovered})  # fmt: skip
            if recovered:
                return new_state, info
        return None, None

    def _record(self, new_state, records) -> None:
        rows = None
        if self.history_row is not None:
            rows = np.asarray(new_state.states[:, self.history_row])[:, self.valid].astype(np.int16)
        for m, (trace, record) in enumerate(zip(self.traces, records)):
            if trace.error is None:
                trace.log_probs.append(record.log_prob)
                if rows is not None:
                    trace.history.append(rows[m])
                trace.emission_losses = record.losses
                if self.sampler.metropolis or record.accepted is not None:
                    trace.emission_accepted.append(True if record.accepted is None else record.accepted)
                    trace.emission_acceptance.append(record.acceptance_prob)
                if record.converged is not None:
                    trace.update_converged.append(record.converged)
                if record.factor_ok is not None:
                    trace.update_factor_ok.append(record.factor_ok)
                trace.last_updates = record.updates


@dataclass(frozen=True)
class _IterationRecord:
    """What a trace keeps of one chain's `GibbsInfo` (whatever infos its components' updates report)."""

    log_prob: float
    losses: np.ndarray
    accepted: bool | None
    acceptance_prob: float
    converged: bool | None
    factor_ok: bool | None
    updates: dict

    @classmethod
    def of(cls, info, starting: bool = False) -> "_IterationRecord":
        """One chain's record; `starting`: the plain update that starts an exact chain (probability NaN).

        The emission update's optimizer losses, steps and acceptance are read from its info
        by field name (`losses`, `n_steps`, `accepted`, `acceptance_prob`, nested infos
        such as `MetropolisInfo.proposal` included); `converged` and `factor_ok` from every
        component's info (all must hold).
        """
        updates = info.updates
        emissions = updates.emissions
        losses, steps = update_fields(emissions, "losses"), update_fields(emissions, "n_steps")
        losses = np.asarray(losses[0])[: int(steps[0])] if losses and steps else np.zeros(0)
        accepted, probability = update_fields(emissions, "accepted"), update_fields(emissions, "acceptance_prob")
        probability = np.nan if starting else (float(probability[0]) if probability else 1.0)
        converged, factor_ok = update_fields(updates, "converged"), update_fields(updates, "factor_ok")
        return cls(
            float(info.log_prob), losses, bool(accepted[0]) if accepted else None, probability,
            bool(np.all(converged)) if converged else None, bool(np.all(factor_ok)) if factor_ok else None,
            flatten_info(updates),
        )  # fmt: skip


def update_fields(info, name: str) -> list:
    """Every value of the field `name` in an info PyTree of NamedTuples (depth first, outermost first).

    Args:
        info: a `ModelInfo`, a component's info, or any nesting of NamedTuples, tuples and arrays.
        name: a field name, e.g. `"converged"`.

    Returns:
        The values found (empty when no info has that field).
    """
    found = []
    if isinstance(info, tuple) and hasattr(info, "_fields"):
        if name in info._fields:
            found.append(getattr(info, name))
        for field_name in info._fields:
            if field_name != name:
                found += update_fields(getattr(info, field_name), name)
    elif isinstance(info, (tuple, list)):
        for item in info:
            found += update_fields(item, name)
    return found


def flatten_info(info) -> dict:
    """An info PyTree as `{"path.to.field": np.ndarray}` (e.g. `"transitions.tables"`), for records and files."""
    flat = {}
    for path, leaf in jax.tree_util.tree_flatten_with_path(info)[0]:
        name = ".".join(str(getattr(key, "name", getattr(key, "idx", getattr(key, "key", key)))) for key in path)
        flat[name] = np.asarray(leaf)
    return flat
