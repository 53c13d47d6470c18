"""Input-driven transitions: matrices by hand, the exact coefficient update against a grid posterior, a small fit.

The acceptance fit (a binary input doubles one state's leaving rate; null inputs flag
nothing; states recovered as well as by the sticky model) is slow:
`pytest -m slow tests/test_input_driven.py`.
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest
from scipy import stats
from scipy.special import expit

import smoseq as sm
from smoseq.datasets import simulate_input_driven
from smoseq.models import InputDrivenTransitions, LeaveEvents, SyllableData, resample_coefficients


@pytest.fixture
def x64():
    jax.config.update("jax_enable_x64", True)
    yield
    jax.config.update("jax_enable_x64", False)


def test_transition_matrices_by_hand():
    names = ("light", "dose")
    transitions = InputDrivenTransitions.create(3, names, centre=[0.5, 0.0])
    coefficients = jnp.array([[-2.0, 1.0, 0.0], [-3.0, 0.0, 0.5], [-1.0, -1.0, 2.0]])
    destinations = jnp.array([[0.0, 0.25, 0.75], [0.5, 0.0, 0.5], [0.9, 0.1, 0.0]])
    transitions = transitions.__class__(
        coefficients, destinations, transitions.kappa, transitions.beta, transitions.weight_sigma,
        transitions.centre, transitions.accepted, names,
    )  # fmt: skip
    inputs = jnp.array([[[0.0], [1.0]]])  # (N=1, T=2, D=1)
    data = SyllableData(jnp.zeros((1, 2), int), jnp.ones((1, 2)), inputs=inputs, covariates=jnp.array([[2.0]]),
                        input_names=("light",), covariate_names=("dose",))  # fmt: skip
    trans = np.asarray(transitions.transition_matrices(data))
    assert trans.shape == (1, 2, 3, 3)
    for t, light in enumerate((0.0, 1.0)):
        x = np.array([light - 0.5, 2.0])
        for i in range(3):
            leave = expit(coefficients[i, 0] + x @ np.asarray(coefficients[i, 1:]))
            expected = leave * np.asarray(destinations[i])
            expected[i] = 1 - leave
            np.testing.assert_allclose(trans[0, t, i], expected, rtol=1e-6)


def test_statistics_count_leaves_and_prior_pseudo_events():
    transitions = InputDrivenTransitions.create(2, ("u",), kappa=3.0, beta=1.0)
    states = jnp.array([[0, 0, 1, 1, 0]])
    data = SyllableData(jnp.zeros((1, 5), int), jnp.array([[1, 1, 1, 1, 0.0]]), inputs=jnp.ones((1, 5, 1)), input_names=("u",))
    events, counts = transitions.statistics(states, data)
    np.testing.assert_array_equal(np.asarray(events.origin), [0, 0, 1, 1, 0, 1, 0, 1])
    np.testing.assert_array_equal(np.asarray(events.leave), [0, 1, 0, 1, 1, 1, 0, 0])
    np.testing.assert_array_equal(np.asarray(events.weight), [1, 1, 1, 1, 1, 1, 4, 4])  # mask[t-1] (as sticky counts), (K-1)β leaves, κ+β stays
    np.testing.assert_array_equal(np.asarray(counts), [[1, 1], [1, 1]])


def test_coefficient_update_matches_grid_posterior(x64):
    """One state, an intercept and one binary input: chain moments against the posterior on a grid."""
    rng = np.random.default_rng(0)
    m = 60
    x = rng.integers(0, 2, m).astype(float)
    y = (rng.random(m) < expit(-1 + 0.7 * x)).astype(float)
    events = LeaveEvents(jnp.zeros(m, int), jnp.asarray(y), jnp.ones(m), jnp.stack([jnp.ones(m), jnp.asarray(x)], 1))
    mean, precision = jnp.zeros(2), jnp.array([0.25, 1.0])

    def step(coefficients, key):
        coefficients, accepted = resample_coefficients(key, coefficients, events, mean, precision)
        return coefficients, (coefficients[0], accepted[0])

    _, (chain, accepted) = jax.lax.scan(step, jnp.zeros((1, 2)), jr.split(jr.key(0), 3000))
    chain = np.asarray(chain)
    grid = np.linspace(-6, 4, 401)
    a, w = np.meshgrid(grid, grid, indexing="ij")
    psi = a[..., None] + w[..., None] * x
    log_post = (y * psi - np.logaddexp(0, psi)).sum(-1) - 0.5 * 0.25 * a**2 - 0.5 * w**2
    p = np.exp(log_post - log_post.max())
    p /= p.sum()
    means = np.array([(p * a).sum(), (p * w).sum()])
    sds = np.sqrt(np.array([(p * a**2).sum(), (p * w**2).sum()]) - means**2)
    # 3000 nearly independent draws (acceptance > 0.8): standard error of a mean ≈ sd / 50
    np.testing.assert_allclose(chain.mean(0), means, atol=4 * sds.max() / np.sqrt(3000 * 0.5))
    np.testing.assert_allclose(chain.std(0), sds, rtol=0.08)
    assert float(np.mean(accepted)) > 0.8


def test_log_prior_matches_sample_prior(x64):
    """The sticky baseline's density: Beta((K−1)β, κ+β) on σ(a); sample_prior's draws follow it."""
    transitions = InputDrivenTransitions.create(3, ("u",), kappa=20.0, beta=1.0)
    draws = jax.vmap(transitions.sample_prior)(jr.split(jr.key(1), 4000))
    leave = np.asarray(jax.nn.sigmoid(draws.coefficients[:, :, 0])).ravel()
    np.testing.assert_allclose(leave.mean(), 2.0 / 23.0, rtol=0.05)  # Beta(2, 21) mean
    weights = np.asarray(draws.coefficients[:, :, 1]).ravel()
    np.testing.assert_allclose(weights.std(), 1.0, rtol=0.05)
    # log_prior's intercept term is the Beta((K−1)β, κ+β) density of σ(a) times the Jacobian σ(a)(1 − σ(a))
    def log_prior_at(a):
        return float(eqx.tree_at(lambda t: t.coefficients, transitions, transitions.coefficients.at[0, 0].set(a)).log_prior())

    for a in (-4.0, -1.0, 1.5):
        p = expit(a)
        expected = stats.beta.logpdf(p, 2.0, 21.0) + np.log(p * (1 - p))
        reference = stats.beta.logpdf(0.5, 2.0, 21.0) + np.log(0.25)
        assert log_prior_at(a) - log_prior_at(0.0) == pytest.approx(expected - reference, rel=1e-9)


def test_fit_keeps_coefficient_samples_and_reports_effects(tmp_path):
    example = simulate_input_driven(n_recordings=2, n_frames=400, n_states=2, n_syllables=5, leave=0.05, seed=3)
    result = sm.fit(example.syllables, n_states=2, n_iters=6, transitions="input_driven", inputs=example.inputs,
                    emissions="full_rank", kappa=10.0, seed=0, progress=False, n_init_iters=2)  # fmt: skip
    assert result.coefficient_samples.shape == (3, 2, 2)
    assert result.hyperparameters["components"]["transitions"] == "InputDrivenTransitions"
    table = sm.compare_covariate_effects(result)
    assert list(table["feature"]) == ["light", "light"]
    assert (table["leave_rate_ratio_lower"] <= table["leave_rate_ratio"]).all()
    assert (table["leave_rate_ratio"] <= table["leave_rate_ratio_upper"]).all()
    np.testing.assert_allclose(table["duration_ratio"] * table["leave_rate_ratio"], 1.0, rtol=0.2)
    figure = sm.plot_covariate_effects(table)
    figure.savefig(tmp_path / "effects.png")


def test_input_driven_needs_inputs():
    with pytest.raises(sm.InputError, match="needs inputs= or covariates="):
        sm.fit({"a": np.arange(50) % 4}, n_states=2, n_iters=1, transitions="input_driven", progress=False)


def test_compare_covariate_effects_refuses_other_fits():
    class Result:
        coefficient_samples = None

    with pytest.raises(ValueError, match="no coefficient samples"):
        sm.compare_covariate_effects(Result())


@pytest.mark.slow
@pytest.mark.parametrize("rate_ratio", [2.0, 1.0])
def test_doubled_leaving_rate_is_recovered(rate_ratio):
    example = simulate_input_driven(n_recordings=6, n_frames=4000, rate_ratio=rate_ratio, seed=11)
    truth = np.concatenate(list(example.states.values()))
    fits = {}
    for name, transitions in (("input_driven", "input_driven"), ("sticky", "sticky")):
        inputs = example.inputs if name == "input_driven" else None
        fits[name] = sm.fit(example.syllables, n_states=3, n_iters=200, transitions=transitions, inputs=inputs,
                            emissions="full_rank", kappa=100.0, seed=0, progress=False)  # fmt: skip
    found = {name: np.concatenate([fit.states[key] for key in example.states]) for name, fit in fits.items()}
    ari = {name: sm.get_adjusted_rand(truth, states) for name, states in found.items()}
    assert ari["input_driven"] >= ari["sticky"] - 0.02
    table = sm.compare_covariate_effects(fits["input_driven"])
    # the fitted state that overlaps true state 0 the most carries the effect
    affected = np.bincount(found["input_driven"][truth == 0], minlength=3).argmax()
    row = table[table["state"] == affected].iloc[0]
    assert row["leave_rate_ratio_lower"] <= rate_ratio <= row["leave_rate_ratio_upper"], row
    # no unaffected state is flagged (family-wise); the affected one is when the effect is real
    assert set(table["state"][table["flagged"]]) == ({affected} if rate_ratio != 1.0 else set())


@pytest.mark.slow
def test_coefficient_update_is_calibrated(x64):
    """SBC of the coefficient update: 300 simulations, uniform ranks of the truth (χ², 10 bins)."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).parents[1] / "benchmarks" / "bench_input_driven.py"
    spec = importlib.util.spec_from_file_location("bench_input_driven", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    report = bench.sbc(n_sims=300, n_events=100, n_draws=99, thin=3, seed=1)
    assert report["p_intercept"] > 0.001 and report["p_weight"] > 0.001, report


def test_cli_fit_writes_covariate_effects(tmp_path):
    import pandas as pd

    from smoseq.cli import main

    data = tmp_path / "data"
    data.mkdir()
    for name, syllables in {"m1": np.arange(120) % 4, "m2": (np.arange(150) // 2) % 4}.items():
        pd.DataFrame({"syllable": syllables}).to_csv(data / f"{name}.csv", index=False)
    sheet = tmp_path / "sheet.csv"
    sheet.write_text("name,age\nm1,3\nm2,5\n")
    out = tmp_path / "fit"
    assert main(["fit", str(data), "--out", str(out), "--n-states", "2", "--iters", "4", "--emissions", "full_rank",
                 "--transitions", "input_driven", "--covariates", str(sheet)]) == 0  # fmt: skip
    table = pd.read_csv(out / "covariate_effects.csv")
    assert list(table["feature"]) == ["age", "age"] and set(table["state"]) == {0, 1}
    assert (out / "figures" / "covariate_effects.png").exists()
    loaded = sm.load_fit(out)
    assert loaded.coefficient_samples.shape == (2, 2, 2)
    assert loaded.model.transitions.names == ("age",)
    assert main(["fit", str(data), "--out", str(tmp_path / "fit2"), "--transitions", "input_driven"]) == 2
