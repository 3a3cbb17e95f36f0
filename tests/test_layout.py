"""The package's shape: dependencies one way, small modules and functions, one door to
keras-tuner's private surface, which is checked at the start of a study."""

import ast
import re
from pathlib import Path

import pytest

from study.errors import ConfigError
from study.search import kt_compat

PACKAGE = Path(__file__).resolve().parents[1] / "study"
MODULES = sorted(PACKAGE.rglob("*.py"))
MAX_MODULE_LINES, MAX_FUNCTION_LINES = 300, 60


def test_modules_and_functions_stay_small():
    long_modules = {
        str(p.relative_to(PACKAGE)): n
        for p in MODULES
        if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES
    }
    assert long_modules == {}
    long_functions = []
    for path in MODULES:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long_functions.append(f"{path.relative_to(PACKAGE)}:{node.name} {lines}")
    assert long_functions == []


def test_only_kt_compat_touches_keras_tuner_private_names():
    private = re.compile(
        r"keras_tuner\.src|\._retry_queue|\._run_times|\._seed_state|\._record_values"
        r"|oracle_client|utils\.save_json"
    )
    outside = [
        f"{p.relative_to(PACKAGE)}:{k + 1}"
        for p in MODULES
        if p.name != "kt_compat.py"
        for k, line in enumerate(p.read_text().splitlines())
        if private.search(line)
    ]
    assert outside == []


def test_kt_compat_names_the_version_it_needs_when_a_name_is_gone(monkeypatch):
    kt_compat.check()  # the installed keras-tuner passes
    monkeypatch.setattr(kt_compat, "_checked", False)
    monkeypatch.setattr(kt_compat, "_ORACLE_ATTRIBUTES", ("_retry_queue", "_gone_in_1_5"))
    with pytest.raises(ConfigError) as err:
        kt_compat.check()
    assert "lacks Oracle._gone_in_1_5" in str(err.value)
    assert kt_compat.REQUIRED in str(err.value)


def test_pyproject_pins_the_keras_tuner_range_kt_compat_names():
    pyproject = (PACKAGE.parent / "pyproject.toml").read_text()
    assert f'"{kt_compat.REQUIRED}"' in pyproject
