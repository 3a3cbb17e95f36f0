"""A --parallel worker asks to die with its study itself, as it starts (no Python code
between fork and exec in the chief, whose gRPC threads may hold locks), and leaves at once
if the study died before it asked."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from study.cli.parallel import PARENT

ROOT = Path(__file__).resolve().parents[2]
ASK = "from study.cli.parallel import die_with_parent; die_with_parent(); "


def run(code: str, parent: str) -> subprocess.CompletedProcess:
    env = {**os.environ, PARENT: parent}
    return subprocess.run([sys.executable, "-c", ASK + code], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)  # fmt: skip


def test_a_worker_whose_study_is_gone_leaves_at_once():
    done = run("print('trained')", parent="1")  # its parent is this test, not pid 1
    assert done.returncode == 0
    assert done.stdout.strip() == "the study that started this worker has exited"


def test_a_worker_of_a_live_study_goes_on_and_hides_the_variable():
    done = run(f"import os; print('trained', os.environ.get('{PARENT}'))", str(os.getpid()))
    assert done.returncode == 0 and done.stdout.strip() == "trained None"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG")
@pytest.mark.parametrize("sigterm", ["default", "deferred"])
def test_a_worker_dies_with_its_study(tmp_path, sigterm):
    """A study process (here a stand-in) killed with SIGKILL takes its worker with it, also
    one whose SIGTERM is only marked (a worker waiting in a call to its chief defers it, and
    the call waits up to the connect timeout for a chief that restarts)."""
    ready = tmp_path / "ready"
    defer = "import signal; signal.signal(signal.SIGTERM, lambda *a: None); "
    worker = (ASK + (defer if sigterm == "deferred" else "")
              + f"open({str(ready)!r}, 'w').write(str(__import__('os').getpid())); "
              "__import__('time').sleep(120)")  # fmt: skip
    study = (
        "import os, subprocess, sys, time; "
        f"subprocess.Popen([sys.executable, '-c', {worker!r}], "
        f"env={{**os.environ, {PARENT!r}: str(os.getpid())}}); time.sleep(120)"
    )
    parent = subprocess.Popen([sys.executable, "-c", study], cwd=ROOT)
    deadline = time.monotonic() + 60
    while not (ready.exists() and ready.read_text()):
        assert time.monotonic() < deadline and parent.poll() is None
        time.sleep(0.1)
    pid = int(ready.read_text())
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 20
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break  # gone (reaped by init)
        stat = Path(f"/proc/{pid}/stat")
        if not stat.exists() or stat.read_text().split()[2] == "Z":
            break  # dead, not yet reaped
        assert time.monotonic() < deadline, "the worker outlived its study"
        time.sleep(0.1)
