"""Durations as the study writes and reads them: "45s", "30m", "2h", "1h30m"."""

from __future__ import annotations

import math
import re

from study.errors import ConfigError

_PART = re.compile(r"(\d+(?:\.\d+)?)([smh])")
_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str, name: str = "time_budget") -> float:
    """Seconds of "45s", "30m", "2h", "1h30m" or a plain number of seconds (ConfigError else,
    naming the setting `name`)."""
    raw = str(text).strip().lower()
    try:
        seconds = float(raw)
    except ValueError:
        parts = _PART.findall(raw)
        if not parts or "".join(n + u for n, u in parts) != raw:
            raise ConfigError(
                f"{name}: expected a duration such as 45s, 30m, 2h or 1h30m, found {text!r}"
            ) from None
        seconds = sum(float(n) * _UNITS[u] for n, u in parts)
    if not seconds > 0 or not math.isfinite(seconds):
        raise ConfigError(f"{name}: expected a positive duration, found {text!r}")
    return seconds


def duration_text(seconds: float) -> str:
    seconds = max(int(seconds), 0)
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 60}m{seconds % 60:02d}s"
