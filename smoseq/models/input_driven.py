"""Transitions driven by per-frame inputs and per-recording covariates: logistic regressions on leaving and on where to.

On the step t-1 -> t of sequence n, from state i, with x = [inputs[n, t], covariates[n]]
(P features) centred on c:

    p(leave | i, x)            = σ(aᵢ + wᵢᵀ (x − c))
    p(z_t = j | leave, i, x)   = exp(ηᵢⱼ) / Σ_{k≠i} exp(ηᵢₖ),   ηᵢⱼ = bᵢⱼ + vᵢⱼᵀ (x − c)   (j ≠ i)

so `transition_matrices` gives (N, T, K, K): the diagonal 1 − σ(·), the rest σ(·)·softmax(η).
c (`centre`) is the features' mean over the fitted frames, so aᵢ is the log-odds of
leaving at the average frame and the sticky baseline below applies there. The inputs
change how long each state lasts (wᵢ) and where it goes (vᵢⱼ).

Priors: the sticky baseline σ(aᵢ) ~ Beta((K−1)β, κ+β), exactly the law of the leaving
probability 1 − πᵢᵢ under the sticky Dirichlet(β + κ·eᵢ) row; bᵢⱼ = log gᵢⱼ with
gᵢⱼ ~ Gamma(β), so the destination row softmax(bᵢ) is Dirichlet(β) (at zero inputs the
whole prior is the sticky model's); every weight wᵢₚ, vᵢⱼₚ ~ N(0, σ_w²). Updates, both exact
independence Metropolis–Hastings (`smoseq.models.logistic_update`): the leaving
coefficients per state, the Beta prior entering as (K−1)β pseudo-leaves and κ+β
pseudo-stays at the average frame; the destination coefficients destination by destination
(`resample_destinations`).
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
from jax.scipy.special import gammaln
from jaxtyping import Array, Float, Int, PRNGKeyArray

from .data import SyllableData
from .logistic_update import (
    DestinationEvents,
    LeaveEvents,
    gaussian_log_prior,
    log_gamma_log_prior,
    resample_coefficients,
    resample_destinations,
)
from .transitions import AbstractTransitions


def frame_features(data: SyllableData) -> Float[Array, "N T P"]:
    """Per-frame inputs followed by the recording's covariates, repeated over frames.

    Args:
        data: `SyllableData` (N, T) with optional `inputs` (N, T, D) and `covariates` (N, C).

    Returns:
        (N, T, D + C) float (P = 0 when the data carry neither).
    """
    n, t = data.mask.shape
    parts = [jnp.zeros((n, t, 0))]
    if data.inputs is not None:
        parts.append(data.inputs)
    if data.covariates is not None:
        parts.append(jnp.broadcast_to(data.covariates[:, None, :], (n, t, data.covariates.shape[1])))
    return jnp.concatenate(parts, axis=-1)


def feature_names(data: SyllableData) -> tuple[str, ...]:
    """The names of `frame_features(data)`'s columns: input names, then covariate names."""
    return tuple(data.input_names) + tuple(data.covariate_names)


def feature_summary(data: SyllableData) -> tuple[tuple[str, ...], Float[Array, " P"]]:
    """`(feature_names(data), means)`: the names and (P,) mean of every feature over the real frames."""
    if data.inputs is None and data.covariates is None:  # P = 0: no per-frame array at all
        return feature_names(data), jnp.zeros((0,))
    features = frame_features(data)
    weight = jnp.asarray(data.mask, dtype=float)[..., None]
    return feature_names(data), (features * weight).sum(axis=(0, 1)) / jnp.maximum(weight.sum(), 1.0)


class InputDrivenTransitions(AbstractTransitions):
    """Leaving each state is a logistic regression on the frame's inputs and covariates.

    Build with `InputDrivenTransitions.create(n_states, names, kappa=...)` or
    `sm.fit(..., transitions="input_driven", inputs=..., covariates=...)`.

    Args:
        coefficients: (K, P+1) float, row i = [aᵢ, wᵢ] (intercept, then one weight per feature).
        destinations: (K, K, P+1) float, [i, j] = [bᵢⱼ, vᵢⱼ], the logit of going to j when
            leaving i (the diagonal is unused and 0).
        kappa, beta: the sticky baseline: σ(aᵢ) ~ Beta((K−1)β, κ+β); β is also the
            Dirichlet(β) law of every destination row at zero inputs.
        weight_sigma: σ_w of the N(0, σ_w²) prior of every weight.
        centre: (P,) float c, the feature values of the baseline frame (their mean in the fit).
        accepted: (K,) fraction of the last leaving update's proposals accepted per state.
        destination_accepted: (K,) the same for the destination update, per destination.
        names: static, the P feature names (input names, then covariate names).
    """

    coefficients: Float[Array, "K P1"]
    destinations: Float[Array, "K K P1"]
    kappa: Float[Array, ""]
    beta: Float[Array, ""]
    weight_sigma: Float[Array, ""]
    centre: Float[Array, " P"]
    accepted: Float[Array, " K"]
    destination_accepted: Float[Array, " K"]
    names: tuple = eqx.field(static=True)

    def __check_init__(self):
        k, width = self.coefficients.shape[-2:]
        if self.destinations.shape[-3:] != (k, k, width):
            raise ValueError(f"destinations must be ({k}, {k}, {width}), got {self.destinations.shape}")
        if width != len(self.names) + 1 or self.centre.shape[-1:] != (width - 1,):
            raise ValueError(
                f"coefficients have {width - 1} weights per state, {len(self.names)} feature names, centre {self.centre.shape}"
            )

    @classmethod
    def create(cls, n_states: int, names=(), centre=None, kappa=0.0, beta=1.0, weight_sigma=1.0):
        """Transitions with the sticky baseline of (κ, β) and zero weights.

        Args:
            n_states: K.
            names: the P feature names (`feature_names(data)`).
            centre: (P,) the baseline frame's features (default 0; `feature_summary(data)`
                gives the names and means a fit uses).
            kappa, beta: the baseline: σ(aᵢ) ~ Beta((K−1)β, κ+β), the leaving probability's
                law under the sticky Dirichlet(β + κ·eᵢ) prior.
            weight_sigma: σ_w (1: an input multiplies the odds of leaving by e^±2 at 95 %
                prior probability, per unit of the input; scale continuous inputs).

        Returns:
            An `InputDrivenTransitions`.
        """
        names = tuple(str(name) for name in names)
        leave = (n_states - 1) * beta / (kappa + n_states * beta)
        mean = jnp.log(leave) - jnp.log1p(-leave)
        coefficients = jnp.zeros((n_states, len(names) + 1)).at[:, 0].set(mean)
        destinations = jnp.zeros((n_states, n_states, len(names) + 1))
        floats = (jnp.asarray(v, dtype=float) for v in (kappa, beta, weight_sigma))
        centre = jnp.zeros(len(names)) if centre is None else jnp.asarray(centre, dtype=float)
        return cls(coefficients, destinations, *floats, centre, jnp.zeros(n_states), jnp.zeros(n_states), names)

    @property
    def n_states(self) -> int:
        return self.coefficients.shape[-2]

    def weight_prior(self) -> tuple[Float[Array, " P1"], Float[Array, " P1"]]:
        """The Gaussian part of one state's coefficient prior: mean (P+1,) 0 and precision (0 on the intercept)."""
        width = self.coefficients.shape[-1]
        return jnp.zeros(width), jnp.full(width, self.weight_sigma**-2).at[0].set(0.0)

    def baseline_counts(self) -> tuple[Float[Array, ""], Float[Array, ""]]:
        """The Beta prior of σ(aᵢ) as pseudo-counts: `(leaves, stays)` = ((K−1)β, κ+β)."""
        return (self.n_states - 1) * self.beta, self.kappa + self.beta

    def leave_probabilities(self, features: Float[Array, "... P"]) -> Float[Array, "... K"]:
        """σ(aᵢ + wᵢᵀ (x − c)) for every state i at every feature row x: (..., K)."""
        return jax.nn.sigmoid(self.coefficients[:, 0] + (features - self.centre) @ self.coefficients[:, 1:].T)

    def destination_probabilities(self, features: Float[Array, "... P"]) -> Float[Array, "... K K"]:
        """softmax over j ≠ i of ηᵢⱼ = bᵢⱼ + vᵢⱼᵀ (x − c) at every feature row x: (..., K, K), zero diagonal."""
        design = jnp.concatenate([jnp.ones((*features.shape[:-1], 1)), features - self.centre], axis=-1)
        logits = jnp.einsum("...p,ijp->...ij", design, self.destinations)
        logits = jnp.where(jnp.eye(self.n_states, dtype=bool), -jnp.inf, logits)
        return jax.nn.softmax(logits, axis=-1)

    def transition_matrices(self, data: SyllableData) -> Float[Array, "N T K K"]:
        """Per-frame matrices: [n, t, i, i] = 1 − σ(aᵢ + wᵢᵀ (x_{n,t} − c)), [n, t, i, j] = σ(·)·softmax(ηᵢ(x))ⱼ.

        Raises:
            ValueError: the data carry a different number of features than the component has weights.
        """
        features = frame_features(data)
        if features.shape[-1] != len(self.names):
            raise ValueError(
                f"the transitions have {len(self.names)} weights ({', '.join(self.names) or 'none'}) but the data carry "
                f"{features.shape[-1]} inputs and covariates ({', '.join(feature_names(data)) or 'none'})"
            )
        leave = self.leave_probabilities(features)[..., None]  # (N, T, K, 1)
        return jnp.eye(self.n_states) * (1 - leave) + leave * self.destination_probabilities(features)

    def statistics(self, states: Int[Array, "N T"], data: SyllableData) -> tuple[LeaveEvents, DestinationEvents]:
        """The leave/stay events of every step t-1 -> t with the features at t, and the transition counts.

        The baseline prior enters as 2K weighted pseudo-events at zero features
        (`baseline_counts`), so the update's Gaussian prior covers the weights only.

        Returns:
            `(LeaveEvents, DestinationEvents)`: M = N·(T−1) + 2K leave/stay events and the
            N·(T−1) steps with where each went (weight 1 on the real steps that leave).
        """
        features = frame_features(data)[:, 1:] - self.centre
        n, steps = states[:, 1:].shape
        design = jnp.concatenate([jnp.ones((n, steps, 1)), features], axis=-1).reshape(n * steps, -1)
        k, width = self.coefficients.shape
        leaves, stays = self.baseline_counts()
        pseudo_design = jnp.zeros((2 * k, width)).at[:, 0].set(1.0)
        events = LeaveEvents(
            origin=jnp.concatenate([states[:, :-1].reshape(-1), jnp.arange(k), jnp.arange(k)]),
            leave=jnp.concatenate([(states[:, 1:] != states[:, :-1]).astype(float).reshape(-1), jnp.ones(k), jnp.zeros(k)]),
            weight=jnp.concatenate([data.mask[:, :-1].astype(float).reshape(-1), jnp.full(k, leaves), jnp.full(k, stays)]),
            design=jnp.concatenate([design, pseudo_design]),
        )
        previous, current = states[:, :-1].reshape(-1), states[:, 1:].reshape(-1)
        exits = data.mask[:, :-1].astype(float).reshape(-1) * (previous != current)
        return events, DestinationEvents(previous, current, exits, design)

    def log_prior(self) -> Float[Array, ""]:
        """log Beta((K−1)β, κ+β) of σ(aᵢ) (density of aᵢ), Gaussian of the weights, Dirichlet(β) of the destination rows."""
        mean, precision = self.weight_prior()
        leaves, stays = self.baseline_counts()
        intercept = self.coefficients[:, 0]
        log_beta = gammaln(leaves + stays) - gammaln(leaves) - gammaln(stays)
        baseline = log_beta - leaves * jnp.logaddexp(0.0, -intercept) - stays * jnp.logaddexp(0.0, intercept)
        weights = gaussian_log_prior(self.coefficients, mean, precision)
        return baseline.sum() + weights.sum() + self._destination_log_prior()

    def _destination_log_prior(self) -> Float[Array, ""]:
        if self.n_states == 2:  # one destination: its logits do not enter the likelihood and stay 0
            return jnp.zeros(())
        mean, precision = self.weight_prior()
        off = 1 - jnp.eye(self.n_states)
        terms = jax.vmap(lambda row: log_gamma_log_prior(row, self.beta) + gaussian_log_prior(row, mean, precision))
        return jnp.sum(terms(self.destinations) * off)

    def resample(self, key: PRNGKeyArray, statistics) -> tuple["InputDrivenTransitions", Float[Array, " K"]]:
        """Exact Metropolis–Hastings updates of the leaving and of the destination coefficients.

        Returns:
            `(transitions, accepted)`: the new component and the (K,) acceptance fraction of the leaving update.
        """
        events, exits = statistics
        k_dest, k_coef = jr.split(key)
        mean, precision = self.weight_prior()
        coefficients, accepted = resample_coefficients(k_coef, self.coefficients, events, mean, precision)
        destinations, destination_accepted = self.destinations, jnp.ones(self.n_states)
        if self.n_states > 2:
            destinations, destination_accepted = resample_destinations(
                k_dest, self.destinations, exits, mean, precision, self.beta
            )
        fields = (coefficients, destinations, accepted, destination_accepted)
        new = eqx.tree_at(lambda t: (t.coefficients, t.destinations, t.accepted, t.destination_accepted), self, fields)
        return new, accepted

    def permute_states(self, order) -> "InputDrivenTransitions":
        """The same transitions with state `i` renamed from `order[i]` (`sm.reorder_states`)."""
        order = jnp.asarray(order)
        fields = (self.coefficients[order], self.destinations[order][:, order], self.accepted[order],
                  self.destination_accepted[order])  # fmt: skip
        return eqx.tree_at(lambda t: (t.coefficients, t.destinations, t.accepted, t.destination_accepted), self, fields)

    def sample_prior(self, key: PRNGKeyArray) -> "InputDrivenTransitions":
        """σ(aᵢ) from Beta((K−1)β, κ+β), bᵢⱼ from log-Gamma(β), every weight from N(0, σ_w²)."""
        k_dest, k_base, k_coef, k_weights = jr.split(key, 4)
        leaves, stays = self.baseline_counts()
        leave = jr.beta(k_base, leaves, stays, (self.n_states,))
        weights = self.weight_sigma * jr.normal(k_coef, self.coefficients.shape)
        coefficients = weights.at[:, 0].set(jnp.log(leave) - jnp.log1p(-leave))
        if self.n_states == 2:
            return eqx.tree_at(lambda t: t.coefficients, self, coefficients)
        intercepts = jnp.log(jr.gamma(k_dest, self.beta, self.destinations.shape[:2]))
        destinations = (self.weight_sigma * jr.normal(k_weights, self.destinations.shape)).at[..., 0].set(intercepts)
        destinations = destinations * (1 - jnp.eye(self.n_states))[..., None]
        return eqx.tree_at(lambda t: (t.coefficients, t.destinations), self, (coefficients, destinations))
