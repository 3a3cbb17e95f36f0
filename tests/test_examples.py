"""The notebook example runs end to end on tiny data, through the public API."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_the_api_notebook_runs_on_tiny_data(tmp_path):
    notebook = json.loads((ROOT / "examples" / "study_api.ipynb").read_text())
    script = "\n\n".join(
        "".join(cell["source"]) for cell in notebook["cells"] if cell["cell_type"] == "code"
    )
    env = {**os.environ, "EXAMPLE_QUICK": "1", "EXAMPLE_RESULTS": str(tmp_path / "results")}
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "best trial 0" in done.stdout
    assert "test particles, mean predicted acceptance" in done.stdout
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
