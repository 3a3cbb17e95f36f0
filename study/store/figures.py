"""Figures as files: matplotlib without a display, and a PNG written atomically."""

from __future__ import annotations

from pathlib import Path

from study.store.atomic import write_atomic


def pyplot():
    """matplotlib.pyplot on the Agg backend (no display needed); in a Jupyter kernel on
    the backend it has (inline: no display either), so that the notebook still shows
    its figures after a study has drawn its own."""
    import sys

    import matplotlib

    if "ipykernel" not in sys.modules:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_png(fig, path: Path, dpi: int = 80, tight: bool = True) -> Path:
    """Lay out `fig` (`tight`: matplotlib's tight layout; else as its grid placed it),
    write it to `path` through a temporary file, close it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if tight:
        fig.tight_layout()
    write_atomic(path, lambda tmp: fig.savefig(tmp, format="png", dpi=dpi))
    pyplot().close(fig)
    return path
