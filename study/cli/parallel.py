"""`--parallel N [--gpus LIST]`: N trials at once on this machine (N per GPU with --gpus).

The study process becomes the chief of a distributed study on loopback (127.0.0.1, a
free port; its workers and the chief prove this run's secret to each other, which never
travels: study/search/auth.py, docs/security.md) and starts
N worker processes, each with its own share of the machine:
- on CPU, `cores // N` threads each (TensorFlow's intra-op pool, OpenMP; JAX's XLA on
  one thread where the share is one core);
- on a GPU, one GPU each (`CUDA_VISIBLE_DEVICES`) and 0.9 / N of its memory: JAX
  preallocates that fraction (`XLA_PYTHON_CLIENT_MEM_FRACTION`), TensorFlow gets a
  logical device of that many MiB (`STUDY_GPU_MEMORY_MB`, study/backend.py).

Resume, Hyperband, the report and the final fit are the chief/worker mode's, unchanged;
the time budget stays the study's: the chief hands out no trial that would not leave
the final fit and the final stages their time (study/search/chief.py; trials already
running finish). The chief binds a free port first and starts the workers once it
listens (`Role.on_serving`), so no worker reads a study.json the chief is replacing and
no other process can take the port in between. The workers' ids
are `local0`, `local1`, ... (`local-gpu<G>-<k>` on GPUs), the same on every run, so a
killed study run again gives each its running trial back; their output goes to
`<results>/logs/<study>/<id>.log` (outside the study's directory, which the chief
creates; created 0600, a symlink there refused). A worker is killed (SIGKILL) when the
study dies (PR_SET_PDEATHSIG on Linux, set by the worker itself as it starts: no Python
code runs between fork and exec in a process whose gRPC threads may hold locks): a SIGTERM
would be deferred while the worker waits in a call to its chief, and such a call waits up
to the connect timeout (600 s) for a chief that restarts; this chief will not. Its trial's
process dies with it (study/search/trial_process.py), and every write of the study is
atomic, so a resume finds what a kill -9 of the whole study leaves. A worker is stopped
before the chief's server stops (before the final fit): none calls a port that another
user could bind by then. None is started when the study has no trial left to run.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import signal
import stat
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from study.errors import ConfigError

MEMORY_SHARE = 0.9  # of a GPU's memory, split between the workers on it
LOOPBACK = "127.0.0.1"
ENTRY = (
    "from study.cli.parallel import die_with_parent; die_with_parent(); "
    "from study.cli import main; raise SystemExit(main())"
)
PARENT = "ACCEPTANCE_STUDY_PARENT"  # the pid of the study that started the worker


@dataclass
class Slot:
    """One worker process: its id, GPU (None: CPU) and environment."""

    worker_id: str
    gpu: str | None = None
    env: dict[str, str] = field(default_factory=dict)


def plan(
    n: int, gpus: list[str] | None, cores: int | None = None, gpu_memory_mb: dict | None = None
) -> list[Slot]:
    """The workers of `--parallel n` on `gpus` (None: CPU only, `cores` shared)."""
    if not isinstance(n, int) or n < 1:
        raise ConfigError(f"--parallel: expected a positive number of trials, found {n!r}")
    if gpus:
        share = MEMORY_SHARE / n
        slots = []
        for gpu in gpus:
            env = {  # JAX: its share preallocated (unless the caller set otherwise)
                "XLA_PYTHON_CLIENT_PREALLOCATE": os.environ.get(
                    "XLA_PYTHON_CLIENT_PREALLOCATE", "true"
                ),
                "XLA_PYTHON_CLIENT_MEM_FRACTION": f"{share:.3f}",
            }
            total = (gpu_memory_mb or {}).get(gpu)
            if total:  # TensorFlow: a logical device of its share instead of growth
                env["STUDY_GPU_MEMORY_MB"] = str(int(total * share))
                env["TF_FORCE_GPU_ALLOW_GROWTH"] = "false"
            slots += [Slot(f"local-gpu{gpu}-{k}", gpu, dict(env)) for k in range(n)]
        return slots
    threads = max(1, (cores or usable_cores()) // n)
    env = {
        "TF_NUM_INTRAOP_THREADS": str(threads),
        "TF_NUM_INTEROP_THREADS": "1",
        "OMP_NUM_THREADS": str(threads),
        "CUDA_VISIBLE_DEVICES": "-1",  # a CPU study: no worker takes a GPU by accident
    }
    if threads == 1:
        flags = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
        env["XLA_FLAGS"] = " ".join(filter(None, [os.environ.get("XLA_FLAGS"), flags]))
    return [Slot(f"local{k}", None, dict(env)) for k in range(n)]


def gpu_memory() -> dict[str, int]:
    """MiB of each GPU nvidia-smi lists (empty without one)."""
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=index,memory.total", "--format=csv,noheader,nounits"],
            capture_output=True, text=True, timeout=30, check=True,
        ).stdout  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return {}
    pairs = (line.split(",") for line in out.splitlines() if "," in line)
    return {index.strip(): int(float(total)) for index, total in pairs}


def usable_cores() -> int:
    """The cores this process may run on (its affinity, as a batch system sets it)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def check_gpus(gpus: list[str], known: dict) -> None:
    """Refuse GPUs nvidia-smi does not list (a worker on a missing GPU trains on the CPU)."""
    if not known:
        raise ConfigError("--gpus: nvidia-smi lists no GPU on this machine")
    unknown = [g for g in gpus if g not in known]
    if unknown:
        raise ConfigError(
            f"--gpus: no GPU {', '.join(unknown)} here (nvidia-smi lists {', '.join(known)})"
        )


def die_with_parent() -> None:
    """In a --parallel worker, first thing: SIGKILL when the study's process dies (Linux),
    and an exit if it died already (before the signal was asked for)."""
    parent = os.environ.pop(PARENT, "")
    if not parent or not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if str(os.getppid()) != parent:
        print("the study that started this worker has exited", flush=True)
        raise SystemExit(0)


def log_dir(results, study: str) -> Path:
    return Path(results) / "logs" / study


def open_log(path: Path):
    """`path` opened to append (and read back), created 0600; a symlink there, or a file of
    another user, is refused (ConfigError): the worker's output never lands elsewhere."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    flags = os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags, 0o600)
    except OSError as err:
        why = "a symlink" if err.errno == errno.ELOOP else err.strerror
        raise ConfigError(f"{path}: cannot open the worker's log ({why})") from None
    info = os.fstat(fd)
    if info.st_uid != os.getuid() or not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise ConfigError(f"{path}: the worker's log is not a file of this user")
    os.fchmod(fd, 0o600)
    return os.fdopen(fd, "ab+")


class Workers:
    """The worker processes of `slots`, started once the chief listens (`start`, its
    `Role.on_serving`, which returns `stop`), watched (`why_stopped`, its `Role.watch`),
    stopped by `stop` (before the chief's server stops, and again, harmless, at the end)."""

    def __init__(self, slots: list[Slot], results, study: str, extra: list[str]):
        self.slots, self.results, self.study, self.extra = slots, str(results), study, extra
        self.logs = log_dir(results, study)
        self.started: list[tuple[subprocess.Popen, object, int]] = []  # process, log, offset

    def start(self, address: str):
        """Start a worker per slot calling the chief at `address`; returns `stop`."""
        root = str(Path(__file__).resolve().parents[2])  # this copy of the package
        path = os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))
        for slot in self.slots:
            command = [sys.executable, "-c", ENTRY, "--role", "worker", "--oracle", address]
            command += ["--worker-id", slot.worker_id, "--results", self.results]
            command += ["--study", self.study, *(["--gpu", slot.gpu] if slot.gpu else [])]
            log = open_log(self.logs / f"{slot.worker_id}.log")
            try:
                process = subprocess.Popen(
                    [*command, *self.extra],
                    env={**os.environ, **slot.env, "PYTHONPATH": path, PARENT: str(os.getpid())},
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            except BaseException:
                log.close()
                raise
            self.started.append((process, log, log.seek(0, os.SEEK_END)))
        return self.stop

    def why_stopped(self) -> str | None:
        """Why the study cannot go on (every worker has exited), or None."""
        if not self.started or any(p.poll() is None for p, _, _ in self.started):
            return None
        last = []
        for slot, (process, log, offset) in zip(self.slots, self.started, strict=True):
            size = os.fstat(log.fileno()).st_size
            text = os.pread(log.fileno(), max(0, size - offset), offset)  # this run's lines
            lines = text.decode(errors="replace").splitlines()
            tail = lines[-1] if lines else "(no output)"
            last.append(f"{slot.worker_id} (exit {process.returncode}): {tail}")
        return "every worker of --parallel has exited before the search ended: " + "; ".join(last)

    def stop(self) -> None:
        started, self.started = self.started, []
        for process, _, _ in started:
            if process.poll() is None:
                process.terminate()
        deadline = time.monotonic() + 30
        for process, log, _ in started:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            if process.poll() is None:
                process.kill()
                process.wait()
            log.close()
