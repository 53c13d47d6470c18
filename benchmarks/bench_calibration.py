"""Simulation-based calibration (SBC) of the low-rank Gibbs sampler, with and without the exact emission update.

For each replicate: parameters from the prior (`low_rank_hhmm`: low-rank emissions, sticky
transitions), data simulated from them (every frame scored: no repeat masking, so the
sampler's target is the model's posterior), then a Gibbs chain started from random states
(iteration 0 a plain Laplace draw, as `Chains.run` starts exact chains), `burn_in`
iterations discarded and `n_draws` kept every `thin` iterations. If the sampler targets
the exact posterior, the rank of the true value of any statistic among the draws is
uniform on {0, …, n_draws} (Talts et al., 2018). Statistics are label-invariant (the
shared `base` does not depend on the states' labels; the others are sums over states):
`base_00` (one entry of `base`), `base_norm` (Σ base²), `bias_norm` (Σ biases², the size
of the per-state biases), `self_transition` (mean of the diagonal of π), `log_lik`
(log p(x | params), hidden states summed out). Ranks are binned in `n_bins` bins; the
p-value is the chi-square test of uniformity.

Replicates run as one batch (`jax.vmap` of the fused Gibbs step over replicates, the
`serial` state sampler), so the cost is that of the slowest mode search per iteration.

    python benchmarks/bench_calibration.py                 # both updates, 500 replicates
    python benchmarks/bench_calibration.py --replicates 200 --only exact

`tests/test_exact_emissions.py` runs `run_calibration(metropolis=True, ...)` as a slow test.
"""

import argparse
import time

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
from scipy.stats import chisquare

from smoseq._threads import single_threaded_blas
from smoseq.fitting.components import build_prior_model
from smoseq.fitting.loop import default_mode_search
from smoseq.inference import gibbs
from smoseq.inference.states import marginal_logliks
from smoseq.models import SyllableData, low_rank_hhmm

STATISTICS = ("base_00", "base_norm", "bias_norm", "self_transition", "log_lik")


def statistics(model, log_lik) -> dict:
    """The label-invariant statistics of one model (a leading replicate axis is kept)."""
    emissions, probs = model.emissions, model.transitions.probs
    return {
        "base_00": emissions.base[..., 0, 0],
        "base_norm": jnp.sum(emissions.base**2, axis=(-2, -1)),
        "bias_norm": jnp.sum(emissions.biases**2, axis=(-2, -1)),
        "self_transition": jnp.mean(jnp.diagonal(probs, axis1=-2, axis2=-1), axis=-1),
        "log_lik": log_lik,
    }


def _simulate(key, n_states, n_syllables, n_sequences, n_timesteps, kappa):
    k_truth, k_data, k_init = jr.split(key, 3)
    truth = low_rank_hhmm(k_truth, n_states, n_syllables, kappa=kappa)
    _, syllables = truth.simulate(k_data, n_sequences, n_timesteps)
    data = SyllableData(syllables, jnp.ones(syllables.shape))
    init_states = jr.randint(k_init, syllables.shape, 0, n_states)
    return truth, data, init_states


def run_calibration(
    metropolis: bool, n_replicates: int = 500, seed: int = 0, n_states: int = 2, n_syllables: int = 3,
    n_sequences: int = 1, n_timesteps: int = 60, kappa: float = 10.0, burn_in: int = 50, n_draws: int = 49,
    thin: int = 5, n_bins: int = 10, verbose: bool = False,
) -> dict:  # fmt: skip
    """Chi-square p-value of the SBC ranks of every statistic in `STATISTICS`.

    Args:
        metropolis: the exact emission update (`ModeSearch(..., metropolis=True)`) or the plain Laplace draw.
        n_replicates: simulated datasets.
        seed: seeds everything.
        n_states, n_syllables, n_sequences, n_timesteps, kappa: the simulated model and data
            (κ is also the fitted model's; β = 1, σ = 1).
        burn_in, n_draws, thin: the chain: `burn_in` iterations, then `n_draws` kept, one every `thin`.
        n_bins: bins of the rank histogram ((n_draws + 1) must be a multiple).
        verbose: print progress.

    Returns:
        `{statistic: p-value}`, plus `"acceptance"`: the mean acceptance of the exact update (1 for the plain one).
    """
    keys = jr.split(jr.key(seed), n_replicates)
    simulate = eqx.filter_jit(eqx.filter_vmap(
        lambda k: _simulate(k, n_states, n_syllables, n_sequences, n_timesteps, kappa)))  # fmt: skip
    truth, data, init_states = simulate(keys)
    true_log_lik = eqx.filter_jit(eqx.filter_vmap(lambda m, d: marginal_logliks(m, d, "serial").sum()))(truth, data)
    truth_stats = {name: np.asarray(value) for name, value in statistics(truth, true_log_lik).items()}

    prior = build_prior_model(n_states, n_syllables, kappa, 1.0, "low_rank", 1.0, 1.0, 1.0)
    state = eqx.filter_jit(eqx.filter_vmap(lambda s, d: gibbs.init(prior, s, d)))(init_states, data)
    mode_search = default_mode_search()._replace(metropolis=metropolis)
    plain = default_mode_search()

    def batched(search):
        return eqx.filter_jit(eqx.filter_vmap(gibbs.build_kernel(search, "serial", "fused")))

    start_step, step = batched(plain), batched(mode_search)
    draws = {name: [] for name in STATISTICS}
    accepted = []
    n_iters = burn_in + n_draws * thin
    started = time.perf_counter()
    with single_threaded_blas():
        for iteration in range(n_iters):
            iteration_keys = jax.vmap(lambda k: jr.fold_in(k, iteration))(keys)
            state, info = (start_step if iteration == 0 else step)(iteration_keys, state, data)
            if iteration > 0:
                emission_info = info.updates.emissions  # MetropolisInfo (exact) or LaplaceInfo (plain: always taken)
                accepted.append(np.asarray(emission_info.accepted) if metropolis else np.ones(len(keys)))
            if iteration >= burn_in and (iteration - burn_in) % thin == thin - 1:
                for name, value in statistics(state.model, info.marginal_loglik).items():
                    draws[name].append(np.asarray(value))
            if verbose and iteration % 50 == 0:
                print(f"  iteration {iteration}/{n_iters} ({time.perf_counter() - started:.0f} s)", flush=True)
    results = {}
    for name in STATISTICS:
        stacked = np.stack(draws[name], axis=1)  # (replicates, n_draws)
        ranks = np.sum(stacked < truth_stats[name][:, None], axis=1)
        histogram = np.bincount(ranks * n_bins // (n_draws + 1), minlength=n_bins)
        results[name] = float(chisquare(histogram).pvalue)
    results["acceptance"] = float(np.mean(accepted))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicates", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timesteps", type=int, default=60)
    parser.add_argument("--only", choices=("plain", "exact"), default=None)
    args = parser.parse_args()
    variants = [("plain", False), ("exact", True)]
    if args.only:
        variants = [v for v in variants if v[0] == args.only]
    print(f"SBC: {args.replicates} replicates, K=2, S=3, 1 x {args.timesteps} frames, 49 draws (thin 5, burn-in 50)")
    print(f"{'update':>6} " + " ".join(f"{name:>15}" for name in STATISTICS) + f" {'acceptance':>10} {'seconds':>8}")
    for label, metropolis in variants:
        started = time.perf_counter()
        result = run_calibration(metropolis, args.replicates, args.seed, n_timesteps=args.timesteps)
        seconds = time.perf_counter() - started
        print(f"{label:>6} " + " ".join(f"{result[name]:>15.4g}" for name in STATISTICS)
              + f" {result['acceptance']:>10.3f} {seconds:>8.0f}", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
