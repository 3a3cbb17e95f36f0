"""The command line as a user meets it: one source of defaults (StudyConfig), --version, the
usage line naming the command as invoked, choices, durations, the generated references."""

import argparse
import re
import shutil
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pytest

from study.cli import build_parser, main
from study.cli.defaults import config_default, shown
from study.cli.reference import field_comments, pages
from study.config import StudyConfig

ROOT = Path(__file__).resolve().parents[2]
FIELDS = {f.name for f in fields(StudyConfig)}


def _parsers():
    parser = build_parser("acceptance-study")
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return [("", parser), *sub.choices.items()]


def test_every_default_in_help_is_studyconfigs():
    checked = 0
    for name, parser in _parsers():
        formatter = parser._get_formatter()
        for action in parser._actions:
            if action.dest not in FIELDS or not action.help or action.required:
                continue
            text = formatter._expand_help(action)
            value = config_default(action.dest)
            found = re.findall(r"\(default: ([^)]*)\)$", text)
            assert found, f"{name} {action.option_strings}: no default in {text!r}"
            if value not in (None, {}):  # None is explained in words (the embedded sample, ...)
                assert found[0].endswith(shown(value)) or f"; {shown(value)} unless" in found[0], (
                    f"{name} {action.option_strings}: help says {found[0]!r}, StudyConfig "
                    f"{shown(value)!r}"
                )
            checked += 1
    assert checked >= 30  # the study's flags and retrain's


def test_a_changed_default_shows_in_help(monkeypatch):
    """The help reads StudyConfig at build time: a new default shows without editing help."""
    field = next(f for f in fields(StudyConfig) if f.name == "max_epochs")
    monkeypatch.setattr(field, "default", 17)
    action = next(a for a in build_parser()._actions if a.dest == "max_epochs")
    assert action.help.endswith("(default: 17)")


def test_version_and_usage_name_the_invoked_command(capsys):
    with pytest.raises(SystemExit) as stop:
        build_parser("acceptance-study").parse_args(["--version"])
    assert stop.value.code == 0
    assert re.fullmatch(r"acceptance-study \d+\.\d+\.\d+\n", capsys.readouterr().out)
    console = shutil.which("acceptance-study")  # the package's console script
    assert console, "acceptance-study is not installed (pip install -e .)"
    done = subprocess.run([console, "--help"], capture_output=True, text=True)
    assert done.stdout.startswith("usage: acceptance-study "), done.stdout[:80]
    script = ROOT / "run_study.py"
    done = subprocess.run([sys.executable, str(script), "--help"], capture_output=True, text=True)
    assert done.stdout.startswith("usage: run_study.py "), done.stdout[:80]


@pytest.mark.parametrize(
    "flag, value", [("--tuner", "hyperbnd"), ("--prune", "meidan"), ("--objectives", "cost")]
)
def test_enumerated_flags_refuse_other_values(flag, value, capsys):
    with pytest.raises(SystemExit) as stop:
        main([flag, value])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {flag}: invalid choice: '{value}'" in err


def test_every_duration_flag_takes_the_same_syntax():
    parser = build_parser()
    args = parser.parse_args(
        ["--handover-after", "10m", "--connect-timeout", "90s", "--time-budget", "1h30m"]
    )
    assert (args.handover_s, args.connect_timeout_s, args.time_budget) == (600.0, 90.0, "1h30m")
    assert parser.parse_args(["--handover-after", "45"]).handover_s == 45.0
    assert parser.parse_args([]).handover_s == 600.0


@pytest.mark.parametrize(
    "value, message",
    [("10 minutes", "expected a duration such as 45s"), ("0", "expected a positive duration")],
)
def test_a_bad_duration_is_one_line(value, message, capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--role", "chief", "--oracle", "h:1", "--handover-after", value])
    assert stop.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert f"error: argument --handover-after: duration: {message}" in err[0]


def test_the_references_are_current():
    """docs/reference/{cli,config}.md are what the code generates (python -m
    study.cli.reference rewrites them)."""
    for path, text in pages().items():
        assert path.read_text() == text, f"{path} is stale: run python -m study.cli.reference"


def test_the_references_name_every_command_flag_and_field():
    cli, config = (text for _, text in sorted(pages().items()))
    for name, parser in _parsers():
        assert f"## acceptance-study {name}".rstrip() in cli or not name
        for action in parser._actions:
            for option in action.option_strings:
                assert f"`{option}`" in cli, option
    for name in FIELDS:
        assert f"| `{name}` |" in config, name
    comments = field_comments()
    assert comments["max_epochs"] == "cap on the epochs of each phase of a trial"
    assert all(comments[name] for name in FIELDS), [n for n in FIELDS if not comments[n]]
