"""Distributed studies on keras-tuner's chief/worker mode.

One chief process serves the study's oracle over gRPC with keras-tuner's own
service (OracleServicer, OracleClient, reached through kt_compat; the
KERASTUNER_* environment variables); any number of worker processes ask it for
trials and run them. All of them share the results directory: the chief alone
holds the study's lock and writes the oracle's state and `trials.csv`; each
worker writes its own trials' records (`trials/<id>/`) and its own tuner file
(`tuner/<worker id>.json`).

This module: a process's role (ids, address, the environment keras-tuner and
the backend read) and the worker's side (waiting for the chief, heartbeats).
The chief's oracle and server are in study/search/chief.py.

A worker killed and restarted with the same id gets back the trial it was
running (keras-tuner keeps `ongoing_trials` by worker id); a chief killed and
restarted reloads its state, and the workers' calls wait for it (gRPC
`wait_for_ready`, up to `connect_timeout_s`) and re-read its new secret.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from study.errors import ChiefUnreachable, ConfigError
from study.search import auth, kt_compat, proofs

log = logging.getLogger(__name__)

CHIEF_ID = "chief"  # keras-tuner tells the chief by "chief" in KERASTUNER_TUNER_ID
SINGLE_ID = "tuner0"  # keras-tuner's id of a study run in one process
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclass
class Role:
    """This process's part in a distributed study (none: `Role(None)`)."""

    kind: str | None = None  # None (one process), "chief" or "worker"
    host: str = ""
    port: int = 0
    worker_id: str = SINGLE_ID  # keras-tuner's tuner id: tuner0, chief, or the worker's
    handover_s: float = 600.0  # chief: a trial silent this long goes to another worker
    connect_timeout_s: float = 600.0  # worker: how long to wait for the chief
    gpu: str | None = None  # worker: the one GPU it may use
    token_file: str | None = None  # the study's secret (None: the chief run's chief.secret)
    tls_cert: str | None = None  # chief: TLS certificate and key (PEM); None: plaintext
    tls_key: str | None = None
    tls_ca: str | None = None  # worker: the certificate it trusts for the chief
    credentials: auth.Credentials | None = None  # a worker's, once it has read the secret
    local: bool = False  # chief: of --parallel (its workers on this machine, the budget kept)
    watch: object = None  # chief of --parallel: () -> why its workers cannot go on, or None
    # chief of --parallel: (address) -> a callable that stops its workers, called once it
    # listens (not at all when nothing is left to run); the stop runs before the server stops
    on_serving: object = None

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def heartbeat_s(self) -> float:
        """How often a worker says its trial is alive (a fifth of the hand-over time)."""
        return min(30.0, max(0.5, self.handover_s / 5))

    @property
    def in_use_window_s(self) -> float:
        """A worker id heard from this recently by another process is in use (3 beats)."""
        return min(self.handover_s, 3 * self.heartbeat_s)

    def chief_credentials(self) -> auth.Credentials:
        """The chief's secret (new for this run unless --auth-token-file) and TLS files;
        `publish_secret` writes it for the workers once the chief has bound its port."""
        secret = auth.chief_secret(self.token_file)
        return auth.Credentials(secret, tls_cert=self.tls_cert, tls_key=self.tls_key)

    def publish_secret(self, study_dir: Path, credentials: auth.Credentials) -> None:
        """The chief's: its new secret written in `study_dir` (none with --auth-token-file)."""
        if not self.token_file:
            auth.publish_secret(study_dir, credentials.secret)

    def read_credentials(self, study_dir: Path) -> auth.Credentials:
        """A worker's: the secret its chief wrote (or --auth-token-file) and the TLS CA."""
        secret, path = auth.worker_secret(study_dir, self.token_file)
        reread = None if self.token_file else str(path)  # a restarted chief writes anew
        self.credentials = auth.Credentials(secret, tls_ca=self.tls_ca, secret_path=reread)
        return self.credentials


def parse_address(text: str) -> tuple[str, int]:
    """HOST:PORT -> (host, port); ConfigError otherwise."""
    host, sep, port = (text or "").rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"--oracle: expected HOST:PORT (e.g. node01:8000), found {text!r}")
    return host.strip("[]"), int(port)


def default_worker_id(gpu: str | None, environ=os.environ) -> str:
    """An id stable per process slot: the batch system's task, else the host and its GPU."""
    if "SLURM_PROCID" in environ:
        job = environ.get("SLURM_ARRAY_JOB_ID") or environ.get("SLURM_JOB_ID", "job")
        task = environ.get("SLURM_ARRAY_TASK_ID")
        slot = f"{task}-{environ['SLURM_PROCID']}" if task else environ["SLURM_PROCID"]
        return f"slurm{job}-task{slot}"
    host = socket.gethostname().split(".")[0] or "host"
    visible = gpu if gpu is not None else environ.get("CUDA_VISIBLE_DEVICES", "")
    device = visible.split(",")[0].strip()
    return f"{host}-gpu{device}" if device and device != "-1" else f"{host}-cpu"


def check_worker_id(worker_id: str) -> str:
    if not _ID.match(worker_id or "") or CHIEF_ID in worker_id or worker_id == SINGLE_ID:
        raise ConfigError(
            f"--worker-id: expected letters, digits, '.', '_' or '-' (not containing "
            f"'{CHIEF_ID}', not '{SINGLE_ID}'), found {worker_id!r}"
        )
    return worker_id


def role_environment(role: Role, environ=os.environ) -> dict[str, str]:
    """keras-tuner's variables for `role`, and a worker's GPU placement (none alone)."""
    if role.kind is None:
        return {}
    out = {
        "KERASTUNER_TUNER_ID": role.worker_id,
        "KERASTUNER_ORACLE_IP": role.host,
        "KERASTUNER_ORACLE_PORT": str(role.port),
    }
    if role.kind == "worker":
        if role.gpu is not None:
            out["CUDA_VISIBLE_DEVICES"] = role.gpu
        out["TF_FORCE_GPU_ALLOW_GROWTH"] = environ.get("TF_FORCE_GPU_ALLOW_GROWTH", "true")
        out["XLA_PYTHON_CLIENT_PREALLOCATE"] = environ.get("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    return out


@contextlib.contextmanager
def environment(role: Role, environ=os.environ):
    """Inside: keras-tuner's variables set for `role` (read by its Tuner and inherited by
    the trial processes, before they import the backend); after: as they were."""
    values = role_environment(role, environ)
    saved = {name: environ.get(name) for name in values}
    environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                environ.pop(name, None)
            else:
                environ[name] = value


# -- the worker ------------------------------------------------------------------------
def wait_for_chief(role: Role) -> None:
    """Block until the chief answers at `role.address`; ChiefUnreachable after the timeout."""
    import grpc

    channel = auth.raw_channel(role.address, auth.Credentials("", tls_ca=role.tls_ca))
    try:
        grpc.channel_ready_future(channel).result(timeout=role.connect_timeout_s)
    except grpc.FutureTimeoutError:
        tls = " (with --tls-ca: the chief's certificate, for the name in --oracle?)"
        raise ChiefUnreachable(
            f"no chief answered at {role.address} within {role.connect_timeout_s:.0f} s "
            "(start it with --role chief --oracle HOST:PORT, or raise --connect-timeout)"
            + (tls if role.tls_ca else "")
        ) from None
    finally:
        channel.close()
    kt_compat.set_client_timeout(role.connect_timeout_s)  # each call waits this long


def wait_for_study(study_json: Path, timeout_s: float) -> None:
    """Wait for the chief's study record (the worker runs the study it describes)."""
    deadline = time.monotonic() + timeout_s
    while not study_json.exists():
        if time.monotonic() > deadline:
            raise ChiefUnreachable(
                f"{study_json}: not written by a chief within {timeout_s:.0f} s; "
                "workers need the chief's --results directory (a shared filesystem)"
            )
        time.sleep(0.5)


def worker_client(client, role: Role) -> PatientClient:
    """keras-tuner's OracleClient of a worker, proving the study's secret (and over TLS)
    and patient with the chief (PatientClient)."""
    kt_compat.set_client_channel(client, proofs.channel(role.address, role.credentials))
    return PatientClient(client, role.connect_timeout_s, 4 * role.in_use_window_s)


class PatientClient:
    """keras-tuner's OracleClient with its calls retried while the chief is unreachable:
    a call in flight when the chief dies fails at once (gRPC's wait_for_ready covers
    only connecting), and a retried call is safe: the restarted chief answers a worker's
    create_trial with the trial it already gave it, and ignores a second end_trial."""

    def __init__(self, client, timeout_s: float, in_use_wait_s: float = 0.0):
        self._client, self._timeout_s, self._in_use_wait_s = client, timeout_s, in_use_wait_s
        self._warned = False

    def __getattr__(self, name):
        attr = getattr(self._client, name)
        return self._patient(attr) if callable(attr) else attr

    def _patient(self, method):
        import grpc

        def call(*args, **kwargs):
            begin = time.monotonic()
            while True:
                try:
                    return method(*args, **kwargs)
                except grpc.RpcError as err:
                    waited = time.monotonic() - begin
                    if err.code() == grpc.StatusCode.ALREADY_EXISTS:
                        self._in_use(err, waited)
                    elif err.code() == grpc.StatusCode.UNAUTHENTICATED:
                        raise ConfigError(
                            f"the chief refused this worker: {err.details()} (another "
                            "--auth-token-file than the chief's? this node's clock more than "
                            f"{auth.WINDOW_S} s off the chief's?)"
                        ) from None
                    elif err.code() != grpc.StatusCode.UNAVAILABLE or waited > self._timeout_s:
                        raise
                    else:
                        log.warning("the chief is unreachable (%s); retrying", method.__name__)
                    time.sleep(1.0)

        return call

    def _in_use(self, err, waited: float) -> None:
        """Another live process has this worker's id: wait a little in case it is this
        worker's previous process (killed: its beats stop), else stop in one line."""
        if waited > self._in_use_wait_s:
            raise ConfigError(f"the chief refused this worker: {err.details()}") from None
        if not self._warned:
            log.warning("%s; waiting up to %.0f s", err.details(), self._in_use_wait_s)
            self._warned = True


class Heartbeat:
    """While a worker's trial runs, tell the chief every `every_s` seconds that it lives."""

    def __init__(self, oracle, trial_id: str, every_s: float):
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._beat, args=(oracle, trial_id, every_s), daemon=True
        )

    def _beat(self, oracle, trial_id: str, every_s: float) -> None:
        while not self._stop.wait(every_s):
            try:
                oracle.get_trial(trial_id)
            except Exception as err:  # the chief restarting: the next beat retries
                log.debug("heartbeat of trial %s: %s", trial_id, err)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()


def requeue_foreign(oracle, tuner_id: str = SINGLE_ID) -> list[str]:
    """Running trials of other tuner ids (a distributed run resumed in one process) are
    queued to run again here; returns their ids."""
    foreign = [w for w in oracle.ongoing_trials if w != tuner_id]
    ids = []
    for worker in foreign:
        trial = oracle.ongoing_trials.pop(worker)
        kt_compat.retry_queue(oracle).append(trial.trial_id)
        ids.append(trial.trial_id)
    if ids:
        log.info("trials %s were running on other workers; they run again here", ", ".join(ids))
        oracle.save()
    return ids
