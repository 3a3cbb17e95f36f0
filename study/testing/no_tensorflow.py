"""A Python without TensorFlow, for tests: `install(directory)` writes a sitecustomize.py
there that makes `import tensorflow` fail as on an image that has none (a JAX-only GPU
node), in the process and in every process it starts with `directory` on PYTHONPATH.

`importlib.util.find_spec("tensorflow")` answers None, as where it is not installed.
"""

from __future__ import annotations

from pathlib import Path

SITECUSTOMIZE = """\
import importlib.abc
import importlib.util
import sys

_BLOCKED = ("tensorflow",)


def _blocked(name):
    return name.split(".")[0] in _BLOCKED


class _NoTensorFlow(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if _blocked(name):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, _NoTensorFlow())
_find_spec = importlib.util.find_spec


def _find_spec_without(name, package=None):
    return None if _blocked(name) else _find_spec(name, package)


importlib.util.find_spec = _find_spec_without
"""


def install(directory: Path) -> Path:
    """Write the blocker into `directory` (put it first on PYTHONPATH); its path."""
    path = Path(directory) / "sitecustomize.py"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(SITECUSTOMIZE)
    return path
