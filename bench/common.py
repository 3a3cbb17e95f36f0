"""What every benchmark does at its end: print the figures, write them as flat JSON."""

from __future__ import annotations

import json
from pathlib import Path


def emit(figures: dict, json_path: Path | None) -> None:
    width = max(len(k) for k in figures) + 2
    for key, value in figures.items():
        text = f"{value:,.2f}" if isinstance(value, float) else str(value)
        print(f"{key:<{width}} {text}")
    if json_path:
        Path(json_path).write_text(json.dumps(figures, indent=2) + "\n")
