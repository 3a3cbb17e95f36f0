"""Who may talk to the chief: a per-study secret on every call, optional TLS.

keras-tuner's gRPC server and client are plaintext and admit anyone who reaches the
port: on a shared cluster any user could read the search space, create trials under
made-up worker ids and report forged scores. The chief therefore admits only callers
that send the study's secret as gRPC metadata (`x-study-secret`), checked on every
method by a server interceptor (UNAUTHENTICATED otherwise; each refused host logged
once). The secret is 32 random bytes in hex, created by the chief in the study
folder (`chief.secret`, mode 0600: the workers run as the same user on the shared
filesystem they already read) or read from `--auth-token-file`. Workers send it, and
their process's instance id (`x-worker-instance`, a random id a process, which
tells a second live worker under the same id from a restarted one).

The secret does not hide the traffic: where the network between nodes is not private,
`--tls-cert/--tls-key` on the chief and `--tls-ca` on the workers encrypt it and let
the workers check the chief's certificate.
"""

from __future__ import annotations

import collections
import hmac
import logging
import os
import re
import secrets
import stat
import threading
from dataclasses import dataclass
from pathlib import Path

from study.errors import ConfigError

log = logging.getLogger(__name__)

_SECRET = re.compile(r"[!-~]+")  # gRPC metadata values: printable ASCII
SECRET_FILE = "chief.secret"  # in the study folder, mode 0600
SECRET_KEY = "x-study-secret"  # gRPC metadata keys (lower case, as gRPC requires)
INSTANCE_KEY = "x-worker-instance"
WILDCARDS = ("0.0.0.0", "::", "*", "")


@dataclass
class Credentials:
    """What a chief or a worker needs to authenticate: the secret, and TLS files if any."""

    secret: str
    tls_cert: str | None = None  # chief: its certificate (PEM)
    tls_key: str | None = None  # chief: its private key (PEM)
    tls_ca: str | None = None  # worker: the certificate (or CA) it trusts for the chief

    @property
    def tls(self) -> bool:
        return bool(self.tls_cert or self.tls_ca)


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as err:
        raise ConfigError(f"{path}: cannot read the {what} ({err.strerror})") from None


def read_secret(path: Path) -> str:
    """The secret in `path` (one line of at least 32 characters); ConfigError otherwise."""
    text = _read(path, "chief's secret").decode("utf-8", "replace").strip()
    if len(text) < 32 or not _SECRET.fullmatch(text):
        raise ConfigError(
            f"{path}: expected a secret of at least 32 printable ASCII characters, no spaces"
        )
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning("%s: readable by other users (mode %o); chmod 600 it", path, mode & 0o777)
    return text


def chief_secret(study_dir: Path, token_file: str | None) -> str:
    """The chief's secret: from `token_file`, else the study's own (created, mode 0600)."""
    if token_file:
        return read_secret(Path(token_file))
    path = Path(study_dir) / SECRET_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{SECRET_FILE}.{os.getpid()}")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32) + "\n")
        os.replace(temporary, path)  # atomic: a worker never reads half a secret
    return read_secret(path)


def worker_secret(study_dir: Path, token_file: str | None) -> str:
    """The secret a worker sends: `token_file`, else the one its chief wrote."""
    path = Path(token_file) if token_file else Path(study_dir) / SECRET_FILE
    if not path.exists():
        raise ConfigError(
            f"{path}: no chief's secret (the chief writes it in its study folder; "
            "workers need that folder, or --auth-token-file with the chief's)"
        )
    return read_secret(path)


def check_tls(cert: str | None, key: str | None, ca: str | None, role: str) -> None:
    """--tls-cert and --tls-key go together and on the chief; --tls-ca on the workers."""
    if role == "chief" and bool(cert) != bool(key):
        raise ConfigError("--tls-cert and --tls-key: give both (the chief's certificate and key)")
    if role == "chief" and ca:
        raise ConfigError("--tls-ca: a worker's flag (the certificate it trusts for the chief)")
    if role == "worker" and (cert or key):
        raise ConfigError("--tls-cert/--tls-key: the chief's flags; a worker takes --tls-ca")
    for flag, path in (("--tls-cert", cert), ("--tls-key", key), ("--tls-ca", ca)):
        if path and not Path(path).is_file():
            raise ConfigError(f"{flag}: no such file {path}")


def warn_if_wildcard(host: str) -> None:
    if host in WILDCARDS:
        log.warning(
            "the chief listens on every interface (%r): anyone who reaches this node can "
            "knock; only holders of the study's secret are admitted",
            host,
        )


# -- the chief's side ------------------------------------------------------------------
def _method_handler_deny(refused: set, lock: threading.Lock):
    """The answer to a call without the secret: UNAUTHENTICATED at once. A streaming
    handler, so that gRPC does not wait for a request body first: a unary handler's
    thread blocks reading it, and a few half-open calls took every thread of the pool."""
    import grpc

    def deny(requests, context):
        host = context.peer().rsplit(":", 1)[0]
        with lock:
            first = host not in refused
            refused.add(host)
        if first:
            log.warning("refused a call from %s: no or wrong study secret", host)
        context.abort(grpc.StatusCode.UNAUTHENTICATED, "the study's secret is missing or wrong")

    return grpc.stream_stream_rpc_method_handler(deny)


def server_interceptor(secret: str):
    """A gRPC server interceptor that admits only calls carrying `secret`."""
    import grpc

    expected = secret.encode()

    class SecretCheck(grpc.ServerInterceptor):
        def __init__(self):
            self.refused: set[str] = set()
            self._deny = _method_handler_deny(self.refused, threading.Lock())

        def intercept_service(self, continuation, details):
            given = dict(details.invocation_metadata or ()).get(SECRET_KEY, "")
            if hmac.compare_digest(str(given).encode(), expected):
                return continuation(details)
            return self._deny

    return SecretCheck()


def add_port(server, address: str, credentials: Credentials) -> int:
    """Bind `address` on `server`, with TLS where the chief has a certificate."""
    import grpc

    if credentials.tls_cert:
        pair = (
            _read(Path(credentials.tls_key), "TLS key"),
            _read(Path(credentials.tls_cert), "TLS certificate"),
        )
        return server.add_secure_port(address, grpc.ssl_server_credentials([pair]))
    return server.add_insecure_port(address)


def caller_instance(context) -> str:
    """The instance id a worker's process sends (empty for none)."""
    return dict(context.invocation_metadata() or ()).get(INSTANCE_KEY, "")


# -- the worker's side -----------------------------------------------------------------
INSTANCE = secrets.token_hex(8)  # this process's instance id


class _Details(
    collections.namedtuple(
        "_Details",
        ("method", "timeout", "metadata", "credentials", "wait_for_ready", "compression"),
    ),
):
    """A call's details with metadata added (grpc.ClientCallDetails is abstract)."""


def raw_channel(address: str, credentials: Credentials):
    """A channel to `address`, over TLS where the worker trusts a certificate."""
    import grpc

    if credentials.tls_ca:
        trusted = grpc.ssl_channel_credentials(_read(Path(credentials.tls_ca), "TLS CA"))
        return grpc.secure_channel(address, trusted)
    return grpc.insecure_channel(address)


def channel(address: str, credentials: Credentials):
    """A channel to the chief whose every call carries the secret and this instance's id."""
    import grpc

    metadata = ((SECRET_KEY, credentials.secret), (INSTANCE_KEY, INSTANCE))

    class AddSecret(grpc.UnaryUnaryClientInterceptor):
        def intercept_unary_unary(self, continuation, details, request):
            added = _Details(
                details.method,
                details.timeout,
                (*(details.metadata or ()), *metadata),
                details.credentials,
                details.wait_for_ready,
                details.compression,
            )
            return continuation(added, request)

    return grpc.intercept_channel(raw_channel(address, credentials), AddSecret())
