"""model.json format 2: any Equinox components saved and loaded back, nothing named in a file imported."""

import io
import json
import os
import sys

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest
from custom_components import Beta, CategoricalEmissions, SymmetricStickyTransitions

from smoseq._errors import ModelFileError
from smoseq.io.model_files import (
    FORMAT_NAME,
    FORMAT_VERSION,
    describe_model,
    load_model,
    model_from_bytes,
    model_to_bytes,
    save_model,
    validate_description,
)
from smoseq.models import (
    HHMM,
    Dirichlet,
    FullRankEmissions,
    LowRankEmissions,
    Normal,
    StickyTransitions,
    StudentT,
    full_rank_hhmm,
    low_rank_hhmm,
)

K, S = 3, 5


# ----------------------------------------------------------------------------------------
# Test-only components


class LoggedStickyTransitions(StickyTransitions):
    """A subclass of a built-in: saved under its own name, never as StickyTransitions."""


def custom_model(seed=3):
    k_emit, k_trans = jr.split(jr.PRNGKey(seed))
    emissions = CategoricalEmissions(jnp.full((K, S), 1.0 / S), Dirichlet(2.0), 0.5, ("x", "y", "z"))
    transitions = SymmetricStickyTransitions(K, prior=Beta(5.0, 2.0))
    return HHMM(emissions.sample_prior(k_emit), transitions.sample_prior(k_trans))


CUSTOM = [CategoricalEmissions, SymmetricStickyTransitions, Beta]


def assert_same_model(a, b):
    leaves_a, tree_a = jax.tree_util.tree_flatten(a)
    leaves_b, tree_b = jax.tree_util.tree_flatten(b)
    assert tree_a == tree_b
    assert len(leaves_a) == len(leaves_b)
    for x, y in zip(leaves_a, leaves_b):
        assert type(x) is type(y) or isinstance(y, jax.Array)
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
        assert np.asarray(x).dtype == np.asarray(y).dtype


def assert_one_line(error, *parts):
    message = str(error.value)
    assert "\n" not in message, message
    for part in parts:
        assert str(part) in message, message


def edit_json(folder, change):
    path = folder / "model.json"
    description = json.loads(path.read_text())
    change(description)
    path.write_text(json.dumps(description))


# ----------------------------------------------------------------------------------------
# Built-ins


@pytest.mark.parametrize("prior", ["normal", "student", "full_rank"])
def test_built_in_models_round_trip(tmp_path, prior):
    key = jr.PRNGKey(0)
    if prior == "full_rank":
        model = full_rank_hhmm(key, K, S, emission_beta=0.7)
    else:
        model = low_rank_hhmm(key, K, S, kappa=50.0)
        if prior == "student":
            model = eqx.tree_at(lambda m: (m.emissions.base_prior, m.emissions.bias_prior), model, (StudentT(2.0, 4.0), Normal(0.5)))
    save_model(model, tmp_path, extra={"hyperparameters": {"kappa": 50.0}})
    loaded, description = load_model(tmp_path)
    assert_same_model(model, loaded)
    assert type(loaded.emissions) is type(model.emissions)
    assert description["format"] == FORMAT_NAME and description["format_version"] == FORMAT_VERSION == 2
    assert description["components"] == [] and description["hyperparameters"] == {"kappa": 50.0}
    assert (description["n_states"], description["n_syllables"]) == (K, S)
    assert description["model"]["class"] == "smoseq:HHMM"
    assert description["model"]["fields"]["transitions"]["class"] == "smoseq:StickyTransitions"
    if prior == "student":
        assert description["model"]["fields"]["emissions"]["fields"]["base_prior"]["class"] == "smoseq:StudentT"
    np.testing.assert_allclose(loaded.log_prior(), model.log_prior())


def test_description_has_no_array_values():
    model = low_rank_hhmm(jr.PRNGKey(0), K, S)
    tree = describe_model(model)["model"]
    emissions = tree["fields"]["emissions"]["fields"]
    assert emissions["base"] == {"array": {"shape": [S, S - 1], "dtype": "float32"}}
    assert emissions["n_states"] == {"value": K}
    assert tree["fields"]["initial"] == {"class": "smoseq:UniformInitialState", "fields": {"n_states": {"value": K}}}
    json.dumps(tree)


# ----------------------------------------------------------------------------------------
# Custom components


def test_custom_components_round_trip(tmp_path):
    model = custom_model()
    save_model(model, tmp_path)
    description = json.loads((tmp_path / "model.json").read_text())
    names = [f"{cls.__module__}.{cls.__qualname__}" for cls in (CategoricalEmissions, Beta, SymmetricStickyTransitions)]
    assert sorted(description["components"]) == sorted(names)
    fields = description["model"]["fields"]
    assert fields["transitions"]["class"] == names[2]
    assert fields["emissions"]["fields"]["prior"]["class"] == "smoseq:Dirichlet"
    assert fields["emissions"]["fields"]["labels"] == {"sequence": [{"value": "x"}, {"value": "y"}, {"value": "z"}]}
    assert fields["emissions"]["fields"]["temperature"] == {"value": 0.5}

    loaded, _ = load_model(tmp_path, components=CUSTOM)
    assert_same_model(model, loaded)
    assert type(loaded.transitions) is SymmetricStickyTransitions and type(loaded.emissions) is CategoricalEmissions
    assert loaded.emissions.labels == ("x", "y", "z") and loaded.emissions.temperature == 0.5
    np.testing.assert_allclose(loaded.log_prior(), model.log_prior())
    syllables = jnp.array([[0, 1, 4, 2]])
    np.testing.assert_allclose(loaded.log_likelihoods(syllables, jnp.ones((1, 4))), model.log_likelihoods(syllables, jnp.ones((1, 4))))

    # the same through model_from_bytes
    again = model_from_bytes(model_to_bytes(model), validate_description(description, "x"), "x", components=CUSTOM)
    assert_same_model(model, again)


def test_custom_components_are_refused_unless_passed(tmp_path):
    save_model(custom_model(), tmp_path)
    with pytest.raises(ModelFileError) as error:
        load_model(tmp_path, components=[CategoricalEmissions, Beta])
    assert_one_line(error, tmp_path / "model.json", f"{SymmetricStickyTransitions.__module__}.SymmetricStickyTransitions", "pass the class")
    assert "Beta.," not in str(error.value) and "CategoricalEmissions." not in str(error.value)  # passed: not missing
    suggested = str(error.value).split("components=[")[1].rstrip("])").split(", ")
    assert sorted(suggested) == sorted(cls.__name__ for cls in CUSTOM)  # the fix keeps the classes already passed
    with pytest.raises(ModelFileError) as error:
        load_model(tmp_path)
    assert_one_line(error, tmp_path / "model.json", "pass every class", *(f"{cls.__module__}.{cls.__name__}" for cls in CUSTOM))
    suggested = str(error.value).split("components=[")[1].rstrip("])").split(", ")
    assert sorted(suggested) == sorted(cls.__name__ for cls in CUSTOM)
    assert load_model(tmp_path, components=CUSTOM)[0] is not None  # the suggested fix works


def test_subclass_of_a_built_in_is_saved_under_its_own_name(tmp_path):
    model = low_rank_hhmm(jr.PRNGKey(0), K, S)
    sticky = model.transitions
    model = HHMM(model.emissions, LoggedStickyTransitions(sticky.probs, sticky.beta, sticky.kappa))
    save_model(model, tmp_path)
    description = json.loads((tmp_path / "model.json").read_text())
    assert description["model"]["fields"]["transitions"]["class"] == f"{__name__}.LoggedStickyTransitions"
    with pytest.raises(ModelFileError, match="LoggedStickyTransitions"):
        load_model(tmp_path)
    loaded, _ = load_model(tmp_path, components=[LoggedStickyTransitions])
    assert type(loaded.transitions) is LoggedStickyTransitions
    assert_same_model(model, loaded)


def test_components_must_be_module_classes(tmp_path):
    save_model(custom_model(), tmp_path)
    for bad in (dict, "my_lab.models.MyTransitions", SymmetricStickyTransitions(K)):
        with pytest.raises(TypeError, match="Equinox module"):
            load_model(tmp_path, components=[bad])


def test_a_tampered_class_name_is_never_imported(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(os, "system", lambda *args: calls.append(args))
    save_model(custom_model(), tmp_path)

    def tamper(description):
        description["model"]["fields"]["transitions"]["class"] = "os.system"
        description["components"] = [name for name in description["components"] if "Transitions" not in name]
        description["components"].append("os.system")

    edit_json(tmp_path, tamper)
    with pytest.raises(ModelFileError) as error:
        load_model(tmp_path, components=CUSTOM)
    assert_one_line(error, tmp_path / "model.json", "os.system", "does not import", "system]")
    assert calls == []

    save_model(custom_model(), tmp_path)
    edit_json(tmp_path, lambda d: d["model"]["fields"].__setitem__("initial", {"class": "evil_module_xyz.Payload", "fields": {}}))
    edit_json(tmp_path, lambda d: d.__setitem__("components", d["components"] + ["evil_module_xyz.Payload"]))
    with pytest.raises(ModelFileError, match="evil_module_xyz.Payload"):
        load_model(tmp_path, components=CUSTOM)
    assert "evil_module_xyz" not in sys.modules


# ----------------------------------------------------------------------------------------
# Format version 1 (smoseq 0.1.0)


@pytest.mark.parametrize("kind", ["low_rank", "low_rank_student", "full_rank"])
def test_version_1_folders_load(tmp_path, kind):
    key = jr.PRNGKey(1)
    if kind == "full_rank":
        model = full_rank_hhmm(key, K, S, emission_beta=0.5)
        priors = {"tables": "Dirichlet"}
    else:
        model = low_rank_hhmm(key, K, S, kappa=20.0)
        priors = {"base": "Normal", "biases": "Normal"}
        if kind == "low_rank_student":
            model = eqx.tree_at(lambda m: m.emissions.base_prior, model, StudentT(0.5, 3.0))
            priors["base"] = "StudentT"
    description = {
        "format": "smoseq-model",
        "format_version": 1,
        "package_version": "0.1.0",
        "emissions": "full_rank" if kind == "full_rank" else "low_rank",
        "n_states": K,
        "n_syllables": S,
        "priors": priors,
        "hyperparameters": {"kappa": 20.0},
    }
    (tmp_path / "model.json").write_text(json.dumps(description))
    buffer = io.BytesIO()
    eqx.tree_serialise_leaves(buffer, (model.emissions, model.transitions))  # 0.1.0's HHMM: these two fields
    (tmp_path / "model.eqx").write_bytes(buffer.getvalue())

    loaded, loaded_description = load_model(tmp_path)
    assert loaded_description["hyperparameters"] == {"kappa": 20.0}
    assert_same_model(model, loaded)
    assert type(loaded.transitions) is StickyTransitions
    assert type(loaded.emissions) is (FullRankEmissions if kind == "full_rank" else LowRankEmissions)


def test_other_versions_are_not_supported(tmp_path):
    save_model(low_rank_hhmm(jr.PRNGKey(0), K, S), tmp_path)
    edit_json(tmp_path, lambda d: d.__setitem__("format_version", 3))
    with pytest.raises(ModelFileError) as error:
        load_model(tmp_path)
    assert_one_line(error, tmp_path / "model.json", "version 3 is not supported")


# ----------------------------------------------------------------------------------------
# Damaged files


def test_truncated_parameters(tmp_path):
    save_model(custom_model(), tmp_path)
    data = (tmp_path / "model.eqx").read_bytes()
    (tmp_path / "model.eqx").write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFileError) as error:
        load_model(tmp_path, components=CUSTOM)
    assert_one_line(error, tmp_path / "model.eqx")


def test_parameters_of_another_model(tmp_path):
    save_model(low_rank_hhmm(jr.PRNGKey(0), K, S), tmp_path / "a")
    save_model(low_rank_hhmm(jr.PRNGKey(0), K + 1, S), tmp_path / "b")
    (tmp_path / "a" / "model.eqx").write_bytes((tmp_path / "b" / "model.eqx").read_bytes())
    with pytest.raises(ModelFileError) as error:
        load_model(tmp_path / "a")
    assert_one_line(error, tmp_path / "a" / "model.eqx")


def _node(path):
    def get(description):
        node = description["model"]
        for name in path:
            node = node["fields"][name]
        return node

    return get


@pytest.mark.parametrize(
    "damage, expected",
    [
        (lambda d: _node(["emissions", "base"])(d)["array"].__setitem__("shape", [-1, 4]), "shape"),
        (lambda d: _node(["emissions", "base"])(d)["array"].__setitem__("dtype", "object"), "dtype"),
        (lambda d: _node(["emissions", "base"])(d)["array"].__setitem__("shape", [S, S]), "model.eqx"),
        (lambda d: _node(["emissions"])(d)["fields"].__setitem__("base", {"pickle": "x"}), "model.emissions.base"),
        (lambda d: _node(["emissions"])(d)["fields"].__setitem__("base", [1, 2]), "model.emissions.base"),
        (lambda d: _node(["emissions", "n_states"])(d).__setitem__("value", [1]), "value"),
        (lambda d: d.__setitem__("model", _node(["emissions"])(d)), "root"),
        (lambda d: d.__setitem__("model", None), "root"),
        (lambda d: d.__setitem__("components", ["my_lab.Extra"]), "components"),
        (lambda d: d.__setitem__("n_states", 1), "n_states"),
        (lambda d: d.__setitem__("n_states", K + 1), "n_states"),
        (lambda d: _node(["emissions"])(d).__setitem__("class", "smoseq:Nothing"), "smoseq:Nothing"),
        (lambda d: _node(["emissions"])(d).__setitem__("class", "bad name;"), "class name"),
        (lambda d: _node(["initial"])(d).__setitem__("class", "smoseq:StickyTransitions"), "StickyTransitions"),
        (lambda d: _node(["initial", "n_states"])(d).__setitem__("value", K + 1), "disagree"),
        (lambda d: _node(["emissions", "n_syllables"])(d).__setitem__("value", S + 1), "S-1"),
        (lambda d: _node(["emissions"])(d).__setitem__("class", "smoseq:AbstractEmissions"), "AbstractEmissions"),
    ],
)
def test_malformed_tree(tmp_path, damage, expected):
    save_model(low_rank_hhmm(jr.PRNGKey(0), K, S), tmp_path)
    edit_json(tmp_path, damage)
    with pytest.raises(ModelFileError) as error:
        load_model(tmp_path)
    assert_one_line(error, tmp_path, expected)


@pytest.mark.parametrize("change", ["missing", "extra"])
def test_wrong_field_set(tmp_path, change):
    save_model(custom_model(), tmp_path)

    def damage(description):
        fields = _node(["transitions"])(description)["fields"]
        if change == "missing":
            del fields["stay"]
        else:
            fields["damping"] = {"value": 0.5}

    edit_json(tmp_path, damage)
    with pytest.raises(ModelFileError) as error:
        load_model(tmp_path, components=CUSTOM)
    assert_one_line(error, tmp_path / "model.json", "SymmetricStickyTransitions", "another version of that class")


def test_deeply_nested_json(tmp_path):
    save_model(low_rank_hhmm(jr.PRNGKey(0), K, S), tmp_path)
    nested = None
    for _ in range(200):
        nested = {"sequence": [nested]}
    edit_json(tmp_path, lambda d: _node(["emissions"])(d)["fields"].__setitem__("base", nested))
    with pytest.raises(ModelFileError) as error:
        load_model(tmp_path)
    assert_one_line(error, tmp_path / "model.json", "deeper")


# ----------------------------------------------------------------------------------------
# Saving what cannot be described


@pytest.mark.parametrize("value, expected", [(lambda x: x, "a function"), (object(), "builtins.object")])
def test_saving_an_undescribable_field_writes_nothing(tmp_path, value, expected):
    model = custom_model()
    model = eqx.tree_at(lambda m: m.emissions.temperature, model, value)
    folder = tmp_path / "out"
    with pytest.raises(TypeError) as error:
        save_model(model, folder)
    assert "CategoricalEmissions.temperature" in str(error.value) and expected in str(error.value)
    assert not folder.exists()


def test_extra_must_not_replace_reserved_keys(tmp_path):
    for key in ("model", "components", "format_version", "n_states"):
        with pytest.raises(ValueError, match=key):
            save_model(low_rank_hhmm(jr.PRNGKey(0), K, S), tmp_path / "out", extra={key: 1})
    assert not (tmp_path / "out").exists()


def test_only_an_hhmm_is_saved(tmp_path):
    with pytest.raises(TypeError, match="HHMM"):
        save_model(SymmetricStickyTransitions(K), tmp_path / "out")
