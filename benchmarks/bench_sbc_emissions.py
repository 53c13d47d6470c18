"""Simulation-based calibration (SBC) of the low-rank emission updates: the update alone and the whole chain.

For each simulation: a low-rank HHMM from its prior (`low_rank_hhmm`, σ = 1, sticky
transitions), hidden states and syllables simulated from it, then a chain from a random
start (parameters from the prior; in `chain` mode also uniformly random states):

- `emissions`: the emission update alone, iterated with the TRUE states' counts fixed;
- `chain`: the whole Gibbs sampler (each iteration: states given the parameters by forward
  filtering–backward sampling, then transitions, initial state and emissions given them).

`burn_in` iterations are discarded, then `n_draws` kept one every `thin`. If the update
targets the exact (conditional) posterior, the rank of the truth's value of any statistic
among the draws is uniform on {0, …, n_draws} (Talts et al., 2018); the p-value is the
chi-square test of uniformity of the ranks in `n_bins` bins. Statistics, all label-invariant:
`col_j` = Σ_{k,i} P_k[i, j] for every syllable j (sums of table entries), `base_norm` = Σ base²,
`bias_norm` = Σ biases², `log_lik` = log p(x | z, params) (`emissions` mode, z the true
states) or log p(x | params) with the states summed out (`chain` mode).

Updates (`--kernel`): `blocked` (`smoseq.models.exact_emissions`, exact), `laplace_mh` (the
whole-parameter Laplace draw as an independence MH proposal, exact in law but see the
docstring of `exact_emissions` for why it does not mix), `laplace` (the plain Laplace draw,
an approximation). The simulations run as one `vmap`ped batch.

    python benchmarks/bench_sbc_emissions.py                      # the configuration family, blocked
    python benchmarks/bench_sbc_emissions.py --kernel laplace_mh --configs 2,4,3,80 --mode emissions
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
from smoseq.fitting.loop import default_mode_search
from smoseq.inference.states import marginal_logliks, sample_states
from smoseq.models import SyllableData, low_rank_hhmm
from smoseq.models.emissions import emission_counts
from smoseq.models.exact_emissions import conditional_log_likelihood, sample_exact_emissions
from smoseq.models.laplace import (
    emission_log_likelihood_ratio,
    factorize_precision,
    initial_emission_params,
    laplace_log_density,
    laplace_precision,
    sample_laplace,
    sample_low_rank_emissions,
)

KERNELS = ("blocked", "laplace_mh", "laplace_mh_defensive", "laplace")
# (K, S, sequences, frames): the family the acceptance criterion runs on
CONFIGS = ((2, 3, 2, 60), (2, 4, 3, 80), (3, 5, 3, 80), (4, 6, 2, 100), (2, 8, 3, 80))


def statistics(emissions, log_lik) -> dict:
    """Label-invariant statistics of one model's emission parameters."""
    tables = emissions.transition_tables()
    columns = tables.sum(axis=(0, 1))  # Σ_{k,i} P_k[i, j]
    named = {f"col_{j}": columns[j] for j in range(columns.shape[0])}
    return named | {
        "base_norm": jnp.sum(emissions.base**2),
        "bias_norm": jnp.sum(emissions.biases**2),
        "log_lik": log_lik,
    }


def emission_step(kernel: str):
    """`(key, emissions, counts) -> (emissions, acceptance)` for one kernel name."""

    def step(key, emissions, counts):
        if kernel == "blocked":
            base, biases, info = sample_exact_emissions(
                key, emissions.base, emissions.biases, counts, emissions.base_prior, emissions.bias_prior
            )
            updated = eqx.tree_at(lambda e: (e.base, e.biases), emissions, (base, biases))
            return updated, jnp.stack([info.base_accepted.mean(), info.bias_accepted])
        if kernel == "laplace_mh_defensive":
            return _defensive_laplace_step(key, emissions, counts)
        search = default_mode_search()._replace(metropolis=kernel == "laplace_mh")
        updated, info = emissions.resample(key, counts, search)
        accepted = jnp.ones(()) if info.accepted is None else info.accepted.astype(float)
        return updated, jnp.stack([accepted, accepted])

    return step


def _defensive_laplace_step(key, emissions, counts, weight=0.05):
    """`laplace_mh` with the prior mixed into its proposal, `(1 − ε) N(mode, Q⁻¹) + ε·prior`: bounded weights.

    The same whole-parameter Laplace Gaussian (centre and precision from the counts alone), so
    whether this passes where `laplace_mh` fails says whether unbounded importance weights are
    what makes it fail (`Normal` priors only).
    """
    search = default_mode_search()
    sigmas = emissions.base_prior.sigma, emissions.bias_prior.sigma
    start = initial_emission_params(counts)
    centre = sample_low_rank_emissions(key, counts, *start, *sigmas, search.optimizer, search.max_iters, search.tol)[2].mode
    factor = factorize_precision(laplace_precision(*centre, counts, *sigmas))
    current = (emissions.base, emissions.biases)
    k_choice, k_gauss, k_prior, k_accept = jr.split(key, 4)
    from_prior = jr.uniform(k_choice) < weight
    prior_draw = emissions.sample_prior(k_prior)
    proposal = jax.tree.map(lambda a, b: jnp.where(from_prior, a, b), (prior_draw.base, prior_draw.biases),
                            tuple(sample_laplace(k_gauss, centre, factor)))  # fmt: skip

    def log_prior(params):
        return emissions.base_prior.log_prob(params[0]) + emissions.bias_prior.log_prob(params[1])

    def log_proposal(params):
        gaussian = jnp.log1p(-weight) + laplace_log_density(params, centre, factor)
        return jnp.logaddexp(gaussian, jnp.log(weight) + log_prior(params))

    log_ratio = (emission_log_likelihood_ratio(proposal, current, counts) + log_prior(proposal) - log_prior(current)
                 + log_proposal(current) - log_proposal(proposal))  # fmt: skip
    accepted = jnp.log(jr.uniform(k_accept)) < jnp.where(jnp.isnan(log_ratio), -jnp.inf, log_ratio)
    base, biases = jax.tree.map(lambda a, b: jnp.where(accepted, a, b), proposal, current)
    updated = eqx.tree_at(lambda e: (e.base, e.biases), emissions, (base, biases))
    return updated, jnp.stack([accepted, accepted]).astype(float)


def _simulate(key, n_states, n_syllables, n_sequences, n_frames):
    k_truth, k_data, k_start = jr.split(key, 3)
    truth = low_rank_hhmm(k_truth, n_states, n_syllables, kappa=10.0)
    states, syllables = truth.simulate(k_data, n_sequences, n_frames)
    data = SyllableData(syllables, jnp.ones(syllables.shape))
    return truth, states, data, truth.sample_prior(k_start)


def _counts(model, states, data):
    return emission_counts(data.syllables, data.emission_mask, states, model.emissions.n_states, model.emissions.n_syllables)


def _chain_step(kernel: str, mode: str):
    update = emission_step(kernel)

    def step(key, model, states, data, true_states):
        k_states, k_trans, k_init, k_emit = jr.split(key, 4)
        if mode == "chain":
            states, _ = sample_states(k_states, model, data, "serial")
            transitions, _ = model.transitions.resample(k_trans, model.transitions.statistics(states, data))
            initial, _ = model.initial.resample(k_init, model.initial.statistics(states, data))
            model = eqx.tree_at(lambda m: (m.transitions, m.initial), model, (transitions, initial))
        else:
            states = true_states
        emissions, acceptance = update(k_emit, model.emissions, _counts(model, states, data))
        model = eqx.tree_at(lambda m: m.emissions, model, emissions)
        if mode == "chain":
            log_lik = marginal_logliks(model, data, "serial").sum()
        else:
            log_lik = conditional_log_likelihood(emissions.base, emissions.biases, _counts(model, states, data))
        return model, states, acceptance, statistics(model.emissions, log_lik)

    return step


def run_sbc(
    kernel: str, mode: str, n_states: int, n_syllables: int, n_sequences: int, n_frames: int,
    n_sims: int = 300, seed: int = 0, burn_in: int = 100, n_draws: int = 49, thin: int = 6, n_bins: int = 10,
) -> dict:  # fmt: skip
    """Chi-square p-value of the SBC ranks of every statistic, plus `acceptance` (rows, biases) and `seconds`.

    Args:
        kernel: one of `KERNELS`.
        mode: `emissions` (the update alone, true states) or `chain` (the whole sampler).
        n_states, n_syllables, n_sequences, n_frames: the simulated model and data.
        n_sims: simulations (one vmapped batch).
        seed: seeds everything.
        burn_in, n_draws, thin: the chain.
        n_bins: rank histogram bins ((n_draws + 1) a multiple of it).

    Returns:
        `{statistic: p-value, "acceptance": (2,) mean acceptance of (rows, biases), "seconds": float,
        "histograms": {statistic: (n_bins,) rank counts}}`.
    """
    started = time.perf_counter()
    keys = jr.split(jr.key(seed), n_sims)
    truth, true_states, data, model = eqx.filter_jit(
        eqx.filter_vmap(lambda k: _simulate(k, n_states, n_syllables, n_sequences, n_frames))
    )(keys)
    if mode == "chain":
        true_log_lik = eqx.filter_jit(eqx.filter_vmap(lambda m, d: marginal_logliks(m, d, "serial").sum()))(truth, data)
    else:
        true_log_lik = eqx.filter_jit(eqx.filter_vmap(
            lambda m, z, d: conditional_log_likelihood(m.emissions.base, m.emissions.biases, _counts(m, z, d))
        ))(truth, true_states, data)  # fmt: skip
    truth_stats = {name: np.asarray(v) for name, v in eqx.filter_vmap(statistics)(truth.emissions, true_log_lik).items()}
    step = eqx.filter_jit(eqx.filter_vmap(_chain_step(kernel, mode)))
    states = true_states  # replaced by the first state draw in `chain` mode
    draws, acceptance = {name: [] for name in truth_stats}, []
    with single_threaded_blas():
        for iteration in range(burn_in + n_draws * thin):
            iteration_keys = jax.vmap(lambda k: jr.fold_in(k, iteration))(keys)
            model, states, accepted, stats = step(iteration_keys, model, states, data, true_states)
            acceptance.append(np.asarray(accepted))
            if iteration >= burn_in and (iteration - burn_in) % thin == thin - 1:
                for name, value in stats.items():
                    draws[name].append(np.asarray(value))
    results, histograms = {}, {}
    for name, truth_values in truth_stats.items():
        stacked = np.stack(draws[name], axis=1)  # (sims, n_draws)
        ranks = np.sum(stacked < truth_values[:, None], axis=1)
        histograms[name] = np.bincount(ranks * n_bins // (n_draws + 1), minlength=n_bins)
        results[name] = float(chisquare(histograms[name]).pvalue)
    results["histograms"] = histograms
    results["acceptance"] = np.mean(np.stack(acceptance), axis=(0, 1))
    results["seconds"] = time.perf_counter() - started
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kernel", choices=KERNELS, default="blocked")
    parser.add_argument("--mode", choices=("emissions", "chain", "both"), default="both")
    parser.add_argument("--configs", nargs="+", default=[",".join(map(str, c)) for c in CONFIGS],
                        help="K,S,sequences,frames each")  # fmt: skip
    parser.add_argument("--sims", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--burn-in", type=int, default=100)
    parser.add_argument("--draws", type=int, default=49)
    parser.add_argument("--thin", type=int, default=6)
    args = parser.parse_args()
    modes = ("emissions", "chain") if args.mode == "both" else (args.mode,)
    print(f"SBC of the '{args.kernel}' emission update: {args.sims} simulations, burn-in {args.burn_in}, "
          f"{args.draws} draws every {args.thin}; chi-square p of the ranks per statistic")  # fmt: skip
    for config in args.configs:
        n_states, n_syllables, n_sequences, n_frames = map(int, config.split(","))
        for mode in modes:
            result = run_sbc(args.kernel, mode, n_states, n_syllables, n_sequences, n_frames, args.sims, args.seed,
                             args.burn_in, args.draws, args.thin)  # fmt: skip
            p_values = {k: v for k, v in result.items() if k not in ("acceptance", "seconds", "histograms")}
            worst = min(p_values, key=p_values.get)
            print(f"K={n_states} S={n_syllables} {n_sequences}x{n_frames} {mode:>9}: min p {p_values[worst]:.3g} ({worst}); "
                  f"acceptance rows {result['acceptance'][0]:.2f} biases {result['acceptance'][1]:.2f}; "
                  f"{result['seconds']:.0f} s", flush=True)  # fmt: skip
            print("    " + " ".join(f"{k}={v:.3g}" for k, v in p_values.items()), flush=True)
            print(f"    ranks of {worst}: {result['histograms'][worst].tolist()}", flush=True)


if __name__ == "__main__":
    main()
