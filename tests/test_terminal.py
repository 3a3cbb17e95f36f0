"""The terminal of a study: its own lines, none of TensorFlow's start-up chatter (issue 19)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from study.testing.presets import study_argv, tiny

ROOT = Path(__file__).resolve().parents[1]
CHATTER = ("oneDNN", "cuda drivers", "absl::InitializeLog", "cuInit", "Assets written to")


def _run(data, results, *extra) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TF_CPP", "STUDY_"))}
    done = subprocess.run(
        [sys.executable, "run_study.py", *study_argv(data, results, 2, *extra, flags=tiny(2))],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout + done.stderr


def test_a_study_prints_its_own_lines_and_no_tensorflow_chatter(tiny_dataset, tmp_path):
    text = _run(tiny_dataset, tmp_path, "--retrain-max-epochs", "2")
    assert [c for c in CHATTER if c in text] == []
    assert "trial 0 completed" in text and "trial 1 completed" in text  # the study's own lines
    assert "C export checked" in text and "report:" in text


def test_verbose_lets_tensorflow_speak(tiny_dataset, tmp_path):
    text = _run(tiny_dataset, tmp_path, "--no-retrain", "--no-report", "--verbose")
    assert "oneDNN" in text or "absl::InitializeLog" in text or "cuda drivers" in text


def test_a_command_reads_its_own_flags_that_prefix_a_study_flag():
    """`retrain --trial 4`: Python 3.11's argparse took --trial for an ambiguous
    abbreviation of the study's --trials / --trial-timeout (exit 2) before the retrain
    parser saw it."""
    from study.cli.arguments import build_parser

    args = build_parser().parse_args(["retrain", "--study", "s", "--trial", "46"])
    assert (args.command, args.study, args.trial) == ("retrain", "s", "46")
    with pytest.raises(SystemExit) as stop:
        build_parser().parse_args(["--trial", "3"])  # no abbreviations of the study's flags
    assert stop.value.code == 2
