"""Shared tiny fixtures: a small prepared dataset generated once per session."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import pytest  # noqa: E402

from study.data.prepare import generate_dataset  # noqa: E402


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory):
    """6,000 generated rows, files of 1,000 rows."""
    path = tmp_path_factory.mktemp("data") / "tiny"
    generate_dataset(6_000, path, seed=11, chunk_size=3_000, rows_per_file=1_000)
    return path
