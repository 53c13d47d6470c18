"""`FitResult`: a fitted model, its states per recording, the trace; saved as a fit folder."""

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .._errors import InputError
from ..inference.states import Method
from ..io.fit_folders import read_fit, save_fit, update_diagnostics
from ..metrics.labels import state_labels
from ..models import HHMM
from .prediction import predict_states


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
        transition_samples: (n_kept, G, K, K) float per-group transition matrices of every
            iteration after the burn-in (a grouped fit: `sm.fit(..., groups=...)`; see
            `hyperparameters["burn_in"]`), else None.
        group_counts: (n_kept, R, K, K) float32 transition counts c[s, r, k, j] of the states
            sampled at the same iterations, per recording (in the order of
            `hyperparameters["groups"]`): what `sm.compare_group_dynamics` estimates from.
        coefficient_samples: (n_kept, K, P+1) float [intercept, weights] of every state at every
            iteration after the burn-in (`transitions="input_driven"`; read by
            `sm.compare_covariate_effects`), else None.
        feature_counts: (R, U, K, K) float32 transition counts c[r, u, i, j] of each recording's
            sampled states on frames whose features are `feature_rows[u]`, averaged over the
            same iterations (input-driven fits): what `sm.compare_covariate_effects` estimates from.
        feature_rows: (U, P) float the distinct feature rows of `feature_counts`.
        feature_draws: (D, R, U, K, K) float32 the same counts at D ≤ 20 kept iterations evenly
            spaced (each one sampled set of states): `sm.compare_covariate_effects` combines
            one estimate per draw by Rubin's rules.
        emission_accepted: (n_iters,) bool, whether each iteration's exact (Metropolis–Hastings)
            emission update took its proposal (the blocked update, the low-rank default:
            whether its bias block moved); empty unless the emission update was exact.
        emission_acceptance: (n_iters,) float acceptance probability of those updates (same rule;
            the blocked update: the mean over its blocks; NaN at iteration 0 of a
            `ModeSearch(..., metropolis=True)` chain, which starts with a plain Laplace draw).
        state_names: state -> name given with `sm.name_states` (empty when none); saved as
            `state_names.json` in the fit folder.
        folder: the fit folder this result was loaded from (`sm.load_fit`), else None;
            `sm.name_states` writes the names there. Results derived from it
            (`sm.reorder_states`, `sm.merge_states`) no longer match the folder and have None.
        update_converged: (n_iters,) bool, whether every mode search of each iteration's
            parameter update converged (empty when the updates report none, e.g. conjugate ones).
        update_factor_ok: (n_iters,) bool, whether each iteration's factorisations were finite (same rule).
        last_updates: the last iteration's update infos (`ModelInfo`), path -> array (e.g.
            `"emissions.n_steps"`, `"transitions.tables"` for the HDP).
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
    transition_samples: np.ndarray | None = None
    group_counts: np.ndarray | None = None
    coefficient_samples: np.ndarray | None = None
    feature_counts: np.ndarray | None = None
    feature_rows: np.ndarray | None = None
    feature_draws: np.ndarray | None = None
    emission_accepted: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    emission_acceptance: np.ndarray = field(default_factory=lambda: np.zeros(0))
    state_names: dict = field(default_factory=dict)
    folder: Path | None = field(default=None, repr=False, compare=False)
    update_converged: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    update_factor_ok: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    last_updates: dict = field(default_factory=dict)

    def state_labels(self) -> list[str]:
        """The K labels figures and tables show: a state's name where given, else its number ("0", "1", ...)."""
        return state_labels(self.n_states, self.state_names)

    @property
    def update_diagnostics(self) -> dict:
        """How many iterations' mode searches did not converge and factorisations failed (None: not reported).

        A mode search that stops at `max_iters` still yields a draw, around a point that may
        be far from the mode; a failed factorisation gives a non-finite draw (then retried).
        """
        return update_diagnostics(self.update_converged, self.update_factor_ok)

    @property
    def acceptance_rate(self) -> float | None:
        """Fraction of exact emission updates that accepted their proposal (None without an exact update).

        Iterations whose acceptance probability is NaN (the plain draw that starts the chain) are left out.
        """
        exact = np.isfinite(np.asarray(self.emission_acceptance, dtype=float))
        return float(np.mean(np.asarray(self.emission_accepted)[exact])) if exact.any() else None

    @property
    def n_states(self) -> int:
        return self.model.transitions.n_observed_states

    def save(self, folder, overwrite: bool = False) -> None:
        """Write the fit folder (DESIGN §5); see `smoseq.io.fit_folders.save_fit`.

        Args:
            folder: path of the fit folder to write (str or `Path`).
            overwrite: replace an existing fit folder at `folder`.

        Returns:
            None; the files are written to `folder`.
        """
        save_fit(self, folder, overwrite=overwrite)

    @property
    def repeats(self) -> str:
        """How the fit scored repeated syllables (fits saved before the option: `"model"`)."""
        return self.hyperparameters.get("repeats", "model")

    def predict(
        self, recordings, method: str = "most_probable", kernel: Method = "auto", seg_length=None, groups=None,
        covariates=None, inputs=None,
    ) -> dict:  # fmt: skip
        """Hidden states of (new) recordings under this model, scored as the fit scored its data.

        Args:
            recordings: recording name -> syllables (T_i,) int.
            method: `most_probable`, `viterbi` or `marginals`; see `predict_states`.
            kernel: `auto`, `native`, `serial` or `parallel`.
            seg_length: optional batching of long recordings.
            groups: for a grouped fit, the group of every recording (default: the fit's
                groups of the recordings it was fitted to).
            covariates, inputs: what the fit's components read (`sm.fit`); required when
                the fit used them, categorical covariates encoded with the fit's levels.

        Returns:
            recording name -> (T_i,) int states, or (T_i, K) float probabilities for
            `marginals`. Uses the fit's `repeats` setting (`FitResult.repeats`).
        """
        fitted_groups = self.hyperparameters.get("groups")
        if groups is None and fitted_groups and isinstance(recordings, dict):
            groups = {name: fitted_groups[name] for name in recordings if name in fitted_groups} or None
        used = {"covariates": covariates, "inputs": inputs}
        for name, label in (("covariates", "a per-recording covariate table"), ("inputs", "per-frame inputs")):
            recorded = self.hyperparameters.get(name)
            if recorded and used[name] is None:
                raise InputError(f"this fit used {label} ({', '.join(recorded['names'])}): pass {name}=")
        levels = (self.hyperparameters.get("covariates") or {}).get("levels")
        return predict_states(
            self.model, recordings, method=method, kernel=kernel, seg_length=seg_length, repeats=self.repeats,
            groups=groups, covariates=covariates, inputs=inputs, covariate_levels=levels,
        )  # fmt: skip


def load_fit(folder, components=()) -> FitResult:
    """The `FitResult` saved in `folder` (validated; nothing is unpickled, nothing named in a file imported).

    Args:
        folder: a fit folder written by `FitResult.save` or `smoseq fit`.
        components: the classes of your own components the model holds, e.g.
            `[MyTransitions]`; built-ins need none. A folder naming a class not passed
            is refused with a message naming the class.

    Returns:
        A `FitResult`: `model`, `states` (name -> (T_i,) int), `log_probs` (n_iters,),
        `emission_losses`, `history` (n_iters, T_seg), `hyperparameters`, `info`,
        `state_names` (from `state_names.json`), `folder` (this folder).

    Raises:
        ModelFileError: a missing, incomplete, truncated or foreign file, or a component
            class not passed in `components` (the message names the file and the class).
    """
    return FitResult(**read_fit(folder, components), folder=Path(folder))
