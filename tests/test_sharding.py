"""Fits across devices and under a memory limit: the same draws as the plain fit.

The device-count tests run in a subprocess with `XLA_FLAGS=--xla_force_host_platform_device_count=4`,
so the main test process keeps its single CPU device.
"""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

import smoseq as sm
from smoseq._errors import InputError
from smoseq.fitting import budget
from smoseq.fitting.data import prepare_data
from smoseq.fitting.loop import default_mode_search
from smoseq.inference import gibbs
from smoseq.inference.chunked import chunked_kernel, model_statistics, resample_from_statistics
from smoseq.inference.sharding import pad_sequences
from smoseq.models import HHMM, FullRankEmissions, StickyTransitions, SyllableData, low_rank_hhmm

ROOT = Path(__file__).resolve().parents[1]


def _recordings(n=7, seed=0, n_syllables=6):
    rng = np.random.default_rng(seed)
    return {f"r{i}": rng.integers(0, n_syllables, size=int(rng.integers(150, 300))) for i in range(n)}


def _leaves(model):
    return [np.asarray(leaf) for leaf in jax.tree.leaves(eqx.filter(model, eqx.is_inexact_array))]


_DEVICES_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import jax, equinox as eqx
    import smoseq as sm
    from smoseq.cli import enable_compilation_cache
    from smoseq.fitting.budget import fit_peak_bytes

    enable_compilation_cache()  # the test session's cache folder ($SMOSEQ_CACHE_DIR)
    assert len(jax.devices()) == 4, jax.devices()
    rng = np.random.default_rng(0)
    recordings = {f"r{i}": rng.integers(0, 6, size=int(rng.integers(150, 300))) for i in range(7)}
    out = {}
    emissions = sys.argv[1]
    for run in sys.argv[2:]:
        method, name = run.split(":")
        devices = int(name[0])
        options = dict(devices=devices)
        if name.endswith("chunked"):  # room for 4 of the 8 (padded) sequences at a time
            input_bytes = sum(r.nbytes for r in recordings.values())
            options["memory_limit"] = fit_peak_bytes(8, 330, 3, 6, 4, method, chunk_size=4, n_devices=4,
                                                     input_bytes=input_bytes)  # fmt: skip
        result = sm.fit(recordings, n_states=3, n_iters=4, seed=3, n_init_iters=1, progress=False, method=method,
                        emissions=emissions, **options)
        leaves = jax.tree.leaves(eqx.filter(result.model, eqx.is_inexact_array))
        out[run] = {
            "states": {k: v.tolist() for k, v in result.states.items()},
            "log_probs": result.log_probs.tolist(),
            "params": [np.asarray(leaf).ravel().tolist() for leaf in leaves],
            "memory": result.info["memory"],
        }
    print(json.dumps(out))
    """
)


def _fits_on_four_cpu_devices(emissions, runs):
    flags = f"{os.environ['XLA_FLAGS']} --xla_force_host_platform_device_count=4"
    environment = dict(os.environ, XLA_FLAGS=flags, PYTHONPATH=str(ROOT), JAX_PLATFORMS="cpu")
    completed = subprocess.run([sys.executable, "-c", _DEVICES_SCRIPT, emissions, *runs], env=environment,
                               capture_output=True, text=True, timeout=900)  # fmt: skip
    assert completed.returncode == 0, completed.stderr[-3000:]
    return json.loads(completed.stdout.strip().splitlines()[-1])


def _check_same_fits(fits, method, names):
    reference = fits[f"{method}:1"]
    assert reference["memory"]["devices"] == 1 and reference["memory"]["chunk_size"] is None
    for name in names:
        other = fits[f"{method}:{name}"]
        assert other["memory"]["devices"] == int(name[0])
        assert (other["memory"]["chunk_size"] is not None) == name.endswith("chunked")
        assert other["states"] == reference["states"], (method, name)
        np.testing.assert_allclose(other["log_probs"], reference["log_probs"], rtol=1e-5)
        for mine, theirs in zip(other["params"], reference["params"]):
            np.testing.assert_allclose(mine, theirs, rtol=1e-4, atol=1e-5)


def test_same_fit_on_one_and_four_devices_and_in_chunks():
    """Same seed (7 recordings, padded to 8) → same states on 1 and 4 devices, and on 4 in chunks of 4 sequences;
    parameters and log probabilities equal to float32 rounding (the order of the sums). Full-rank emissions: the
    same partitioning as low-rank ones (the slow test), without compiling a mode search per device count."""
    fits = _fits_on_four_cpu_devices("full_rank", ["native:1", "native:4", "native:4-chunked"])
    _check_same_fits(fits, "native", ["4", "4-chunked"])


@pytest.mark.slow
def test_same_fit_on_one_two_and_four_devices_every_kernel():
    """The same with low-rank emissions (L-BFGS mode search), on 2 devices too, and with the serial (lax.scan) kernel.

    Run with `pytest -m slow` (a few minutes: one compilation per device count and kernel).
    """
    runs = [f"{method}:{name}" for method in ("native", "serial") for name in ("1", "2", "4", "4-chunked")]
    fits = _fits_on_four_cpu_devices("low_rank", runs)
    for method in ("native", "serial"):
        _check_same_fits(fits, method, ["2", "4", "4-chunked"])


def test_padding_sequences_adds_nothing_to_any_statistic():
    rng = np.random.default_rng(1)
    K, S, N, T = 3, 5, 5, 40
    data = SyllableData(rng.integers(0, S, (N, T)), (rng.random((N, T)) < 0.9), groups=rng.integers(0, 2, N))
    states = rng.integers(0, K, (N, T))
    padded = pad_sequences(data, 4)
    assert padded.syllables.shape == (8, T)
    padded_states = np.concatenate([states, rng.integers(0, K, (3, T))])  # whatever states padding holds
    sticky = StickyTransitions(np.full((K, K), 1.0 / K), beta=1.0, kappa=10.0)
    for transitions in (sticky, sm.HDPTransitions.create(K, kappa=10.0), sm.GroupedTransitions.create(("a", "b"), K, kappa=10.0)):
        model = HHMM(FullRankEmissions(rng.dirichlet(np.ones(S), size=(K, S))), transitions)
        for mine, theirs in zip(jax.tree.leaves(model_statistics(model, padded_states, padded)),
                                jax.tree.leaves(model_statistics(model, states, data))):  # fmt: skip
            np.testing.assert_array_equal(np.asarray(mine), np.asarray(theirs))


def _full_rank_model(rng, K, S, transitions=None):
    transitions = transitions or StickyTransitions(np.full((K, K), 1.0 / K), beta=1.0, kappa=10.0)
    return HHMM(FullRankEmissions(rng.dirichlet(np.ones(S), size=(K, S))), transitions)


def test_resample_from_statistics_is_hhmm_resample():
    """The components' keys and draws as in `HHMM.resample`."""
    rng = np.random.default_rng(2)
    data = SyllableData(rng.integers(0, 6, (4, 50)), np.ones((4, 50)))
    model = _full_rank_model(rng, 3, 6)
    states = jnp.asarray(rng.integers(0, 3, (4, 50)))
    expected, _ = eqx.filter_jit(lambda m, s: m.resample(jr.key(5), s, data))(model, states)
    got, _ = eqx.filter_jit(lambda m, s: resample_from_statistics(m, jr.key(5), model_statistics(m, s, data), None))(
        model, states
    )
    for mine, theirs in zip(_leaves(got), _leaves(expected)):
        np.testing.assert_allclose(mine, theirs, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("method", ["native", "serial"])
def test_chunked_step_draws_what_the_whole_step_draws(method):
    """Chunks of 2 of 6 sequences: the same states and parameters as the whole step (low-rank: the slow subprocess test)."""
    rng = np.random.default_rng(4)
    N, T, K, S = 6, 80, 3, 6
    data = SyllableData(rng.integers(0, S, (N, T)), np.ones((N, T)))
    model = _full_rank_model(rng, K, S)
    state = gibbs.init(model, rng.integers(0, K, (N, T)), data)
    whole = gibbs.compiled_kernel(default_mode_search(), method, gibbs.single_chain_strategy(method))
    chunked = chunked_kernel(default_mode_search(), method, 2)
    state_a, state_b = state, state
    for iteration in range(3):
        key = jr.fold_in(jr.key(7), iteration)
        state_a, info_a = whole(key, state_a, data)
        state_b, info_b = chunked(key, state_b, data)
        np.testing.assert_array_equal(np.asarray(state_a.states), np.asarray(state_b.states))
        np.testing.assert_allclose(float(info_a.log_prob), float(info_b.log_prob), rtol=1e-6)
    for mine, theirs in zip(_leaves(state_b.model), _leaves(state_a.model)):
        np.testing.assert_allclose(mine, theirs, rtol=1e-5, atol=1e-6)


def test_memory_estimate_grows_with_frames_and_chunks_and_plan_stays_under_the_limit():
    estimate = budget.fit_peak_bytes
    assert estimate(10, 1000, 10, 50, 10, "native") < estimate(20, 1000, 10, 50, 10, "native") < estimate(20, 2000, 10, 50, 10, "native")
    assert estimate(20, 1000, 10, 50, 10, "native", chunk_size=2) < estimate(20, 1000, 10, 50, 10, "native", chunk_size=10)
    assert estimate(20, 1000, 10, 50, 10, "native") < estimate(20, 1000, 10, 50, 10, "serial") < estimate(20, 1000, 10, 50, 10, "parallel")
    data = SyllableData(np.zeros((100, 10_000), np.int32), np.ones((100, 10_000)))
    model = low_rank_hhmm(jr.key(0), 10, 50)
    whole = budget.plan_memory(data, model, 10, "native")
    assert whole.placement.chunk_size is None and whole.limit is None
    limit = budget.fit_peak_bytes(100, 10_000, 10, 50, 10, "native", chunk_size=50)
    plan = budget.plan_memory(data, model, 10, "native", memory_limit=limit)
    assert plan.placement.chunk_size == 50 and plan.estimate <= limit < plan.whole
    assert budget.plan_memory(data, model, 10, "native", memory_limit=limit * 0.99).placement.chunk_size <= plan.placement.chunk_size


def test_parse_bytes():
    assert budget.parse_bytes("8GB") == 8e9
    assert budget.parse_bytes("512 MiB") == 512 * 2**20
    assert budget.parse_bytes(1.5e9) == 1.5e9
    for bad in ("eight", "-1GB", "0", "3 parsecs"):
        with pytest.raises(InputError, match="memory_limit"):
            budget.parse_bytes(bad)


def test_a_limit_too_small_is_one_line_error_before_any_work(monkeypatch):
    import smoseq.fitting.single as single

    def no_work(*args, **kwargs):
        raise AssertionError("the fit started")

    monkeypatch.setattr(single, "_initialise", no_work)
    with pytest.raises(InputError) as error:
        sm.fit(_recordings(), n_states=3, n_iters=2, progress=False, memory_limit="100MB")
    message = str(error.value)
    assert "\n" not in message and "100.0 MB" in message and "estimated peak" in message
    with pytest.raises(InputError, match="devices=3"):
        sm.fit(_recordings(), n_states=3, n_iters=2, progress=False, devices=3)


def test_fit_under_a_limit_equals_the_plain_fit_and_records_the_plan(capsys):
    recordings = _recordings(n=9, seed=5)
    options = dict(n_states=3, n_iters=3, seed=2, n_init_iters=2, emissions="full_rank")
    plain = sm.fit(recordings, progress=False, **options)
    n_sequences, n_timesteps = prepare_data(recordings, repeats="ignore").data.syllables.shape
    input_bytes = sum(r.nbytes for r in recordings.values())  # the recordings as passed count too
    limit = budget.fit_peak_bytes(n_sequences, n_timesteps, 3, 6, 3, "native", chunk_size=3, input_bytes=input_bytes)
    limited = sm.fit(recordings, progress=True, memory_limit=limit, **options)
    assert "memory: estimated peak" in capsys.readouterr().out
    assert limited.info["memory"]["chunk_size"] == 3 and plain.info["memory"]["chunk_size"] is None
    for name in recordings:
        np.testing.assert_array_equal(limited.states[name], plain.states[name])
    np.testing.assert_allclose(limited.log_probs, plain.log_probs, rtol=1e-6)


def test_cli_fit_flags(tmp_path, capsys):
    from smoseq.cli import main
    from test_cli import _write_recordings

    data = _write_recordings(tmp_path / "data", n_recordings=2, n_frames=400)
    assert main(["fit", str(data), "--out", str(tmp_path / "tiny"), "--n-states", "2", "--iters", "2",
                 "--memory-limit", "1MB", "--no-figures"]) == 2  # fmt: skip
    error = capsys.readouterr().err.strip()
    assert "memory_limit 1.0 MB is below the estimated peak" in error and "\n" not in error
    assert not (tmp_path / "tiny" / "fit.json").exists()
    assert main(["fit", str(data), "--out", str(tmp_path / "bad"), "--memory-limit", "lots"]) == 2
    assert "--memory-limit must be bytes" in capsys.readouterr().err and not (tmp_path / "bad").exists()
    assert main(["fit", str(data), "--out", str(tmp_path / "fit"), "--n-states", "2", "--iters", "2", "--devices", "1",
                 "--memory-limit", "2GB", "--no-figures", "--checkpoint-every", "0"]) == 0  # fmt: skip
    memory = json.loads((tmp_path / "fit" / "fit.json").read_text())["info"]["memory"]
    assert memory["devices"] == 1 and memory["limit_bytes"] == 2e9
