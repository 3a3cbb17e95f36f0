"""The defaults `--help` shows, read from StudyConfig (the one source of the study's defaults),
and the duration syntax every duration flag shares."""

from __future__ import annotations

import argparse
from dataclasses import MISSING, fields

from study.config import StudyConfig
from study.errors import ConfigError


def config_default(name: str):
    """StudyConfig's default of field `name` (a default factory's value for dicts)."""
    field = {f.name: f for f in fields(StudyConfig)}[name]
    return field.default_factory() if field.default is MISSING else field.default


def shown(value) -> str:
    """A default as `--help` writes it: none for None, {} for an empty dict."""
    return "none" if value is None else str(value)


def with_default(name: str, text: str, none: str | None = None, owner: str = "") -> str:
    """`text` and "(default: X)", X being StudyConfig's default of `name`; `none` explains a
    default of None or {} (e.g. "the embedded sample"); `owner`: "the study's" on retrain."""
    value = config_default(name)
    what = none if value in (None, {}) and none else shown(value)
    if owner:
        what = f"{owner} own; {what} unless set" if value is not None else f"{owner} own"
    return f"{text} (default: {what})".replace("%", "%%")


def duration(text: str) -> float:
    """argparse type of a duration flag: "90s", "10m", "1h30m" or plain seconds."""
    from study.durations import parse_duration

    try:
        return parse_duration(text, "duration")
    except ConfigError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
