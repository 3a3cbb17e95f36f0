"""The notebook example runs end to end on tiny data in a Jupyter kernel, through the
public API only, and shows what it says it shows."""

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "examples" / "study_api.ipynb"


def execute(path: Path, cwd: Path):
    """The notebook at `path` executed in a python3 kernel started in `cwd` (nbclient)."""
    import nbclient
    import nbformat

    notebook = nbformat.read(path, as_version=4)
    nbclient.NotebookClient(
        notebook, kernel_name="python3", timeout=900, resources={"metadata": {"path": str(cwd)}}
    ).execute()
    return notebook


def outputs(notebook, kind: str) -> list[str]:
    """The `kind` outputs (a MIME type, or "stream") of every code cell."""
    found = []
    for cell in notebook.cells:
        for out in cell.get("outputs", []):
            if kind == "stream" and out["output_type"] == "stream":
                found.append(out["text"])
            elif kind in out.get("data", {}):
                found.append(out["data"][kind])
    return found


def test_the_notebook_uses_only_the_public_api():
    notebook = json.loads(NOTEBOOK.read_text())
    code = "\n".join("".join(c["source"]) for c in notebook["cells"] if c["cell_type"] == "code")
    assert "study.data" not in code and "from study." not in code and "study.api" not in code
    for name in ("s.trials", "s.best", "s.final", "s.learning_curves(", "validation_figure(",
                 "s.importances(", "s.optuna(", "s.model(", "predict("):  # fmt: skip
        assert name in code, name


@pytest.mark.slow
def test_the_api_notebook_runs_on_tiny_data(tmp_path, monkeypatch):
    monkeypatch.setenv("EXAMPLE_QUICK", "1")
    monkeypatch.setenv("EXAMPLE_RESULTS", str(tmp_path / "results"))
    notebook = execute(NOTEBOOK, tmp_path)
    assert not [o for c in notebook.cells for o in c.get("outputs", []) if o.get("ename")]
    assert len(outputs(notebook, "image/png")) >= 4  # curves, validation, importances, Optuna
    html = "\n".join(outputs(notebook, "text/html"))
    assert len(re.findall(r"trial \d+ \(exported to best/export\)", html)) == 2  # s, s.final
    assert "excess" in html and "chi2_ndf" in html
    text = "\n".join(outputs(notebook, "stream"))
    assert re.search(r"search's best: trial \d+, val_bce 0\.\d{5}", text)
    assert "3 trials, best value" in text  # the Optuna study
    assert "test particles, mean predicted acceptance" in text
    assert "  epoch   0  phase 1" not in text  # the bar replaces the epoch lines
    export = tmp_path / "results" / "notebook" / "best" / "export" / "model_card.json"
    assert json.loads(export.read_text())["training_rows"] > 0
    assert (tmp_path / "results" / "notebook" / "report" / "index.html").exists()


def test_the_api_says_what_is_not_a_study(tmp_path):
    import study
    from study.errors import ConfigError

    with pytest.raises(ConfigError, match="no such study"):
        study.open(tmp_path / "nothing")
    with pytest.raises(ConfigError, match="unknown key 'trails'"):
        study.run(trails=3)
