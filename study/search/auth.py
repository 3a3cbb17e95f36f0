"""Who may talk to the chief: both sides prove the study's secret, which never travels.

keras-tuner's gRPC server and client are plaintext and admit anyone who reaches the
port: on a shared cluster any user could read the search space, create trials under
made-up worker ids and report forged scores. A secret sent as a bearer token is no
better: after the chief stops, another user may bind its freed port and read the
secret from the calls its workers keep making. So the secret is never sent (the
handshake: study/search/proofs.py):
- a worker opens a session with `Hello` (`/study.Auth/Hello`, its nonce); the chief
  answers with its own nonce and an HMAC of both under the secret. The worker checks
  it before it sends anything keyed: a server that cannot prove the secret is not the
  study's chief (`ChiefImpostor`), and learns nothing from the worker;
- every call then carries the session, a fresh call nonce, its time and the worker's HMAC
  of the method, nonce and time under the session's key (refused: UNAUTHENTICATED, each
  host logged once; so is a call whose time is more than `WINDOW_S` off the chief's
  clock, or whose nonce the chief has seen: a call overheard is not replayed); the
  chief's answer carries its own HMAC of them, which the worker
  checks before keras-tuner reads the answer;
- the chief's nonces are tagged with a key of this chief run alone, so a session (and
  anything overheard in it) is worthless to any later chief, even one that reuses an
  `--auth-token-file`.

The secret is 32 random bytes in hex, new for every chief run, written after the chief
has bound its port into the study folder (`chief.secret`, mode 0600, never through a
symlink; workers run as the same user on the shared filesystem), or read from
`--auth-token-file`. Workers also send their process's instance id
(`x-worker-instance`, which tells a second live worker under one id from a restarted one).

The proofs do not hide the traffic: where the network between nodes is not private,
`--tls-cert/--tls-key` on the chief and `--tls-ca` on the workers encrypt it (the proofs
cover a call's method, nonce and time, not its body: someone on the wire could read the
trials, or alter a call in flight, but not replay one).
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path

from study.errors import ChiefUnreachable, ConfigError

log = logging.getLogger(__name__)

_SECRET = re.compile(r"[!-~]+")  # gRPC metadata values: printable ASCII
SECRET_FILE = "chief.secret"  # in the study folder, mode 0600
HELLO = "/study.Auth/Hello"  # the one method called without a session
SESSION_KEY = "x-study-session"  # gRPC metadata keys (lower case, as gRPC requires)
CALL_KEY = "x-study-call"
TIME_KEY = "x-study-time"  # the call's Unix time in whole seconds
PROOF_KEY = "x-study-proof"
ANSWER_KEY = "x-study-answer"
INSTANCE_KEY = "x-worker-instance"
WILDCARDS = ("0.0.0.0", "::", "*", "")
WINDOW_S = 300  # a call's time may be this far off the chief's clock (nodes' skew)
RELOAD_S = 10.0  # a worker re-reads a changed secret this long (a restarted chief's)


class ChiefImpostor(ChiefUnreachable):
    """The server at the chief's address could not prove the study's secret."""


@dataclass
class Credentials:
    """What a chief or a worker needs to authenticate: the secret, and TLS files if any."""

    secret: str
    tls_cert: str | None = None  # chief: its certificate (PEM)
    tls_key: str | None = None  # chief: its private key (PEM)
    tls_ca: str | None = None  # worker: the certificate (or CA) it trusts for the chief
    secret_path: str | None = None  # worker: where to re-read a restarted chief's secret

    @property
    def tls(self) -> bool:
        return bool(self.tls_cert or self.tls_ca)


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as err:
        raise ConfigError(f"{path}: cannot read the {what} ({err.strerror})") from None


def _read_nofollow(path: Path) -> bytes:
    """The bytes of `path`, refusing a symlink there (another user's planted file)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError as err:
        raise ConfigError(f"{path}: cannot read the chief's secret ({err.strerror})") from None
    with os.fdopen(fd, "rb") as f:
        return f.read()


def read_secret(path: Path, follow: bool = True) -> str:
    """The secret in `path` (one line of at least 32 characters); ConfigError otherwise."""
    raw = _read(path, "chief's secret") if follow else _read_nofollow(path)
    text = raw.decode("utf-8", "replace").strip()
    if len(text) < 32 or not _SECRET.fullmatch(text):
        raise ConfigError(
            f"{path}: expected a secret of at least 32 printable ASCII characters, no spaces"
        )
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning("%s: readable by other users (mode %o); chmod 600 it", path, mode & 0o777)
    return text


def chief_secret(token_file: str | None) -> str:
    """The chief's secret: `token_file`'s, else a new one for this run (in memory until
    `publish_secret`, once the chief has bound its port)."""
    return read_secret(Path(token_file)) if token_file else secrets.token_hex(32)


def publish_secret(study_dir: Path, secret: str) -> Path:
    """Write `secret` as the study's `chief.secret`: created 0600 under a random name
    (O_EXCL, O_NOFOLLOW: nothing planted there is followed), then renamed over the old."""
    path = Path(study_dir) / SECRET_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{SECRET_FILE}.{secrets.token_hex(8)}")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
    fd = os.open(temporary, flags, 0o600)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(secret + "\n")
        os.replace(temporary, path)  # atomic: a worker never reads half a secret
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return path


def worker_secret(study_dir: Path, token_file: str | None) -> tuple[str, Path]:
    """(the secret a worker proves, its file): `token_file`, else its chief's."""
    path = Path(token_file) if token_file else Path(study_dir) / SECRET_FILE
    if not path.exists():
        raise ConfigError(
            f"{path}: no chief's secret (the chief writes it in its study folder; "
            "workers need that folder, or --auth-token-file with the chief's)"
        )
    return read_secret(path, follow=bool(token_file)), path


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
            "knock; only workers that prove the study's secret are admitted",
            host,
        )


# -- the chief's side ------------------------------------------------------------------
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


def raw_channel(address: str, credentials: Credentials):
    """A channel to `address`, over TLS where the worker trusts a certificate."""
    import grpc

    if credentials.tls_ca:
        trusted = grpc.ssl_channel_credentials(_read(Path(credentials.tls_ca), "TLS CA"))
        return grpc.secure_channel(address, trusted)
    return grpc.insecure_channel(address)
