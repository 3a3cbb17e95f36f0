"""The package's shape: dependencies one way (down LAYERS), small modules and functions,
one door to keras-tuner's private surface, which is checked at the start of a study."""

import ast
import re
from pathlib import Path

import pytest

from study.errors import ConfigError
from study.search import kt_compat

PACKAGE = Path(__file__).resolve().parents[1] / "study"
MODULES = sorted(PACKAGE.rglob("*.py"))
MAX_MODULE_LINES, MAX_FUNCTION_LINES = 300, 60


# Lowest first (../shared/DESIGN.md): a module imports (at the top or inside a function)
# only from its own layer or a lower tier; layers of one tier (search and best) are
# siblings and import neither each other. Each top-level module and each subpackage is a
# layer; "__init__" is study/__init__.py (the Python API) and "testing" the tests' and
# benches' shared code.
TIERS = (
    ("errors",), ("status",), ("names",), ("seeds",), ("faults",), ("durations",),
    ("space",), ("backend",), ("signals",), ("binning",), ("training",), ("config",),
    ("store",), ("budget",), ("choice",), ("data",), ("search", "best"), ("report",),
    ("runner",), ("cli",), ("api",), ("__init__",), ("testing",),
)  # fmt: skip
LAYERS = tuple(layer for tier in TIERS for layer in tier)
RANK = {layer: k for k, tier in enumerate(TIERS) for layer in tier}


def _against(importer: str, imported: str) -> bool:
    """Whether a module of layer `importer` may not import one of layer `imported`."""
    return importer != imported and RANK[imported] >= RANK[importer]


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _layer(module: str) -> str:
    """study.store.atomic -> store, study.config -> config, study -> __init__."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


KNOWN = {_module_name(p) for p in MODULES}


def _imports(path: Path, module: str | None = None):
    """(line, module) of every import of the package in `path` (the module `module`,
    default the one at `path`), lazy ones included."""
    here = (module or _module_name(path)).split(".")
    package = here if path.name == "__init__.py" else here[:-1]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative (none today): resolved against the package
                up = package[: len(package) - node.level + 1]
                base = ".".join([*up, base] if base else up)
            # `from study import faults` imports the module study.faults
            names = [
                f"{base}.{a.name}" if f"{base}.{a.name}" in KNOWN else base for a in node.names
            ]
        else:
            continue
        yield from ((node.lineno, n) for n in names if n.split(".")[0] == "study")


def test_every_module_has_a_declared_layer():
    layers = {_layer(_module_name(p)) for p in MODULES}
    assert sorted(layers - set(LAYERS)) == []
    assert sorted(set(LAYERS) - layers) == []  # no stale names in LAYERS


def test_imports_point_down_the_layers():
    against = sorted(
        f"{p.relative_to(PACKAGE)}:{line} -> {name}"
        for p in MODULES
        for line, name in _imports(p)
        if _against(_layer(_module_name(p)), _layer(name))
    )
    assert against == []


def test_the_layer_check_sees_a_lazy_import_against_the_order(tmp_path):
    source = (
        PACKAGE / "store" / "atomic.py"
    ).read_text() + "\n\ndef _f():\n    from study.best import retrain\n"
    fake = tmp_path / "atomic.py"
    fake.write_text(source)
    found = [n for _, n in _imports(fake, "study.store.atomic")]
    assert "study.best.retrain" in found
    assert any(_against("store", _layer(n)) for n in found)
    assert _against("best", "search") and _against("search", "best")  # siblings
    assert not _against("best", "data") and not _against("best", "best")


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


def _keras_tuner_private_names() -> set[str]:
    """Private names (methods, properties, attributes set on self) of the keras-tuner classes
    the study subclasses or holds: its oracles, Tuner, Trial, HyperParameters,
    MetricsTracker, OracleClient and OracleServicer, with their keras-tuner bases."""
    import inspect

    import keras_tuner
    from keras_tuner.src.distribute import oracle_chief, oracle_client
    from keras_tuner.src.engine import hyperparameters, metrics_tracking, trial

    classes = [
        keras_tuner.oracles.RandomSearchOracle, keras_tuner.oracles.BayesianOptimizationOracle,
        keras_tuner.oracles.HyperbandOracle, keras_tuner.Tuner, trial.Trial,
        hyperparameters.HyperParameters, metrics_tracking.MetricsTracker,
        oracle_client.OracleClient, oracle_chief.OracleServicer,
    ]  # fmt: skip
    names = set()
    for cls in classes:
        for base in cls.__mro__:
            if base.__module__.startswith("keras_tuner"):
                names.update(n for n in vars(base) if n.startswith("_") and n[1] != "_")
                names.update(re.findall(r"self\.(_[a-z]\w*)", inspect.getsource(base)))
    return names


def _private_uses(path: Path, private: set[str]) -> list[str]:
    """Lines of `path` that read or set a name in `private` as an attribute, or define one
    as a method of a class (an override)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Attribute) and node.attr in private:
            found.append(f"{node.lineno} .{node.attr}")
        if isinstance(node, ast.ClassDef):
            found += [
                f"{f.lineno} def {f.name}"
                for f in node.body
                if isinstance(f, ast.FunctionDef) and f.name in private
            ]
    return found


def test_only_kt_compat_touches_keras_tuner_private_names():
    private = re.compile(r"keras_tuner\.src|oracle_client|utils\.save_json|consecutive failures")
    outside = [
        f"{p.relative_to(PACKAGE)}:{k + 1}"
        for p in MODULES
        if p.name != "kt_compat.py"
        for k, line in enumerate(p.read_text().splitlines())
        if private.search(line) and not line.lstrip().startswith(('"""', "#"))
    ]
    assert outside == []
    names = _keras_tuner_private_names()
    assert {"_retry_queue", "_save_trial", "_project_dir", "_check_objective_found"} <= names
    uses = [
        f"{p.relative_to(PACKAGE)}:{use}"
        for p in MODULES
        if p.name != "kt_compat.py"
        for use in _private_uses(p, names)
    ]
    assert uses == []


def test_the_private_name_check_sees_an_attribute_and_an_override(tmp_path):
    fake = tmp_path / "oracle.py"
    fake.write_text(
        "class O:\n    def _check_objective_found(self, m):\n        pass\n\n"
        "def f(oracle):\n    return oracle._project_dir\n"
    )
    found = sorted(_private_uses(fake, _keras_tuner_private_names()))
    assert found == ["2 def _check_objective_found", "6 ._project_dir"]


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
