"""The tutorial notebooks in docs/tutorials run from top to bottom (nbclient, a real Jupyter kernel).

Each runs in an empty temporary folder. A cell tagged `parameters` sets the sizes of the
run; the scan notebook's is replaced by smaller values here (as papermill would), so the
test checks every call on a scan small enough for the test suite.

The notebooks are committed with their outputs, so that GitHub and the documentation
site (`mkdocs-jupyter` with `execute: false`) show the figures. After editing one, execute
it in a scratch folder (`jupyter nbconvert --to notebook --execute --output-dir /tmp/nb
docs/tutorials/NAME.ipynb`) and commit the executed copy; the last test here checks that.
"""

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

TUTORIALS = Path(__file__).parents[1] / "docs" / "tutorials"
SMALL_SCAN = """n_recordings = 3
kappa_grid = "3e1:3e3:2"
n_states_grid = (3, 4)
seeds = range(2)
n_iters = 4"""


def run_notebook(name: str, folder: Path, parameters: str | None = None):
    notebook = nbformat.read(TUTORIALS / name, as_version=4)
    tagged = [cell for cell in notebook.cells if "parameters" in cell.metadata.get("tags", [])]
    assert len(tagged) == 1, f"{name} needs one cell tagged 'parameters'"
    if parameters is not None:
        tagged[0].source = parameters
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs = []
    NotebookClient(notebook, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(folder)}}).execute()
    return notebook


def printed(notebook) -> str:
    return "".join(
        output.get("text", "") for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs
    )


def test_example_data_notebook(tmp_path):
    notebook = run_notebook("example_data_tutorial.ipynb", tmp_path)
    text = printed(notebook)
    assert "accuracy against the ground truth" in text
    images = [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 6  # MI, convergence (3), the facade's, durations, frequencies
    assert sorted(p.name for p in (tmp_path / "grid_movies").glob("*.mp4"))
    assert (tmp_path / "example_fit" / "fit.json").is_file()


def test_parameter_scan_notebook(tmp_path):
    notebook = run_notebook("parameter_scan_tutorial.ipynb", tmp_path, SMALL_SCAN)
    text = printed(notebook)
    assert "median pairwise adjusted Rand" in text and "permutation:" in text
    assert any(rule in text for rule in ("log_prob_peak", "mi_timescale", "none"))
    html = "".join(o["data"]["text/html"] for o in notebook.cells[-2].outputs if "text/html" in o.get("data", {}))
    assert '"type":"sankey"' in html.replace(" ", "")
    assert (tmp_path / "kappa_scan" / "summary.csv").is_file() and (tmp_path / "n_states_scan" / "summary.csv").is_file()


@pytest.mark.parametrize("name", ["example_data_tutorial.ipynb", "parameter_scan_tutorial.ipynb"])
def test_committed_notebooks_hold_their_outputs_and_no_errors(name):
    notebook = nbformat.read(TUTORIALS / name, as_version=4)
    nbformat.validate(notebook)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert all(cell.execution_count for cell in code), f"{name}: commit it executed (see this module's docstring)"
    assert not any(o.output_type == "error" for cell in code for o in cell.outputs)
