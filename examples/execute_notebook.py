"""Execute examples/study_api.ipynb on tiny data and save it with its outputs.

    python examples/execute_notebook.py [OUTPUT]      (default: the notebook itself)

The notebook runs with EXAMPLE_QUICK=1 (tiny data and networks, about a minute) in a
fresh temporary directory, so its results and paths are relative ("results/notebook");
the saved outputs are what a frontend shows: consecutive stream outputs merged, a
progress bar's carriage-return updates reduced to their last state, the temporary
directory's path removed, no timing metadata.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

NOTEBOOK = Path(__file__).resolve().parent / "study_api.ipynb"


def collapse(text: str) -> str:
    """Each line as its last carriage-return overwrite left it."""
    lines = []
    for line in text.split("\n"):
        parts = [p for p in line.split("\r") if p]
        lines.append(parts[-1] if parts else "")
    return "\n".join(lines)


def coalesce(outputs: list) -> list:
    """Consecutive stream outputs of one stream as one."""
    merged = []
    for out in outputs:
        previous = merged[-1] if merged else {}
        if out.get("output_type") == previous.get("output_type") == "stream" and (
            out["name"] == previous["name"]
        ):
            previous["text"] += out["text"]
        else:
            merged.append(out)
    return merged


def clean(notebook, work: str) -> None:
    """The outputs of `notebook` as a frontend shows them, `work`'s path removed."""

    def text(value: str) -> str:
        return collapse(value.replace(work + "/", "").replace(work, "."))

    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        cell.outputs = coalesce(cell.outputs)
        for out in cell.outputs:
            if "text" in out:
                out["text"] = text(out["text"])
            for kind, value in out.get("data", {}).items():
                if kind.startswith("text/") and isinstance(value, str):
                    out["data"][kind] = text(value)


def main(output: Path) -> None:
    import nbclient
    import nbformat

    notebook = nbformat.read(NOTEBOOK, as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
            cell.metadata.pop("execution", None)
    work = tempfile.mkdtemp(prefix="notebook-")
    os.environ["EXAMPLE_QUICK"] = "1"
    os.environ.pop("EXAMPLE_RESULTS", None)
    start = time.monotonic()
    nbclient.NotebookClient(
        notebook, kernel_name="python3", timeout=900, record_timing=False,
        resources={"metadata": {"path": work}},
    ).execute()  # fmt: skip
    print(f"executed in {time.monotonic() - start:.1f} s (in {work})")
    clean(notebook, work)
    nbformat.validate(notebook)
    nbformat.write(notebook, output)
    print(f"saved {output} ({output.stat().st_size:,} bytes)")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else NOTEBOOK)
