"""`smoseq stats --decode`: the decoding table, its figure and its line in the report, on the
planted-effect fit folder of `test_stats_cli`; `--decode` without a group sheet is refused."""

import pandas as pd

from smoseq.cli import main
from test_stats_cli import project  # noqa: F401  (the fixture)


def test_stats_decode_writes_table_figure_and_report(project, tmp_path):  # noqa: F811
    root, states, groups = project
    out = tmp_path / "stats"
    args = ["stats", str(root / "fit"), "--data", str(root / "data"), "--out", str(out), "--decode", "--permutations", "200"]
    assert main(args) == 0
    decoding = pd.read_csv(out / "decoding.csv")
    assert decoding.loc[0, "n_permutations"] == 200 and decoding.loc[0, "n_recordings"] == len(states)
    assert decoding.loc[0, "balanced_accuracy"] >= 0.85 and decoding.loc[0, "p_value"] <= 0.01
    features = pd.read_csv(out / "decoding_features.csv")
    assert {"feature", "weight", "state_name", "higher_in"} <= set(features.columns) and features.loc[0, "state"] == 2
    predictions = pd.read_csv(out / "decoding_predictions.csv")
    assert sorted(predictions["recording"]) == sorted(groups)
    report = (out / "index.html").read_text()
    assert "figures/decoding.png" in report and "Decoding the group from the state profile" in report


def test_decode_needs_groups(project, tmp_path, capsys):  # noqa: F811
    root, _, _ = project
    data = tmp_path / "alone" / "data"
    data.mkdir(parents=True)
    for csv in (root / "data").glob("*.csv"):
        (data / csv.name).write_text(csv.read_text())
    assert main(["stats", str(root / "fit"), "--data", str(data), "--out", str(tmp_path / "o"), "--decode"]) == 2
    assert "--decode needs a group sheet" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_decode_with_no_permutations_is_refused(project, tmp_path, capsys):  # noqa: F811
    root, _, _ = project
    args = ["stats", str(root / "fit"), "--data", str(root / "data"), "--out", str(tmp_path / "o"), "--decode", "--permutations", "0"]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "--permutations must be >= 1, got 0" in err, err
    assert not (tmp_path / "o").exists()
