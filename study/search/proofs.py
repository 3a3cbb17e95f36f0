"""The proofs of the study's secret between chief and worker (the secret never travels).

The rule and why: study/search/auth.py. A worker's `Hello` (its nonce as metadata) gets
the chief's nonce and the chief's HMAC of both under the secret; the worker checks it
before it sends anything keyed (`Session`). Each call then carries the session, a fresh
call nonce, its time and the worker's HMAC of the method, nonce and time under the
session key; the chief checks it, admits each nonce once (`server_interceptor`,
`Gate.answer`, `Replays`) and sends its own HMAC of them with its answer, which the
worker checks before keras-tuner reads the answer (`channel`).
"""

from __future__ import annotations

import collections
import hashlib
import hmac
import logging
import re
import secrets
import threading
import time
from pathlib import Path

from study.errors import ConfigError
from study.search import auth
from study.search.auth import (
    ANSWER_KEY,
    CALL_KEY,
    HELLO,
    INSTANCE_KEY,
    PROOF_KEY,
    RELOAD_S,
    SESSION_KEY,
    TIME_KEY,
    WINDOW_S,
    ChiefImpostor,
    Credentials,
    raw_channel,
    read_secret,
)
from study.search.replays import Replays

log = logging.getLogger(__name__)

_NONCE = re.compile(r"[0-9a-f]{64}")  # 32 random bytes in hex
_CALL = re.compile(r"[0-9a-f]{32}")  # 16
_TIME = re.compile(r"[0-9]{1,12}")  # Unix seconds
SEEN_LIMIT = 1 << 16  # call nonces the chief remembers (of proven calls only)


def mac(key: bytes, *parts: str) -> str:
    """HMAC-SHA256 of `parts` (labels, method names, hex nonces: no NUL in any) in hex."""
    return hmac.new(key, "\0".join(parts).encode(), hashlib.sha256).hexdigest()


def session_key(secret: bytes, worker_nonce: str, chief_nonce: str) -> bytes:
    """The key of one session: both nonces under the secret."""
    return bytes.fromhex(mac(secret, "session", worker_nonce, chief_nonce))


def call_proof(key: bytes, method: str, call: str, stamp: str) -> str:
    """The worker's proof of one call: the method, its nonce and its time under `key`."""
    return mac(key, "call", method, call, stamp)


def _same(given, expected: str) -> bool:
    return hmac.compare_digest(str(given).encode(), expected.encode())


class Gate:
    """The chief's side: opens sessions (`hello`) and checks each call (`answer`)."""

    def __init__(self, secret: str, window_s: float = WINDOW_S, limit: int = SEEN_LIMIT):
        self._secret = secret.encode()
        self._run = secrets.token_bytes(32)  # this chief run's: its sessions end with it
        self._seen = Replays(window_s, limit)

    def hello(self, worker_nonce: str) -> tuple[str, str]:
        """(the chief's nonce, its proof of the secret over both nonces)."""
        r = secrets.token_hex(16)
        chief_nonce = r + mac(self._run, "nonce", r)[:32]
        return chief_nonce, mac(self._secret, "hello", worker_nonce, chief_nonce)

    def answer(self, method: str, metadata: dict) -> str | None:
        """The chief's proof for its answer to a call whose worker proof holds, else None."""
        worker_nonce, _, chief_nonce = str(metadata.get(SESSION_KEY, "")).partition(".")
        call, stamp = str(metadata.get(CALL_KEY, "")), str(metadata.get(TIME_KEY, ""))
        if not (_NONCE.fullmatch(worker_nonce) and _NONCE.fullmatch(chief_nonce)):
            return None
        if not (_CALL.fullmatch(call) and _TIME.fullmatch(stamp)):
            return None
        r, tag = chief_nonce[:32], chief_nonce[32:]
        if not _same(tag, mac(self._run, "nonce", r)[:32]):
            return None  # a session another chief (or no chief) opened
        key = session_key(self._secret, worker_nonce, chief_nonce)
        if not _same(metadata.get(PROOF_KEY, ""), call_proof(key, method, call, stamp)):
            return None
        if not self._seen.first(call, int(stamp)):
            return None  # a replay, or a call too far off the chief's clock
        return mac(key, "answer", method, call)


def _method_handler_deny(refused: set, lock: threading.Lock):
    """The answer to a call without a valid proof: UNAUTHENTICATED at once. A streaming
    handler, so that gRPC does not wait for a request body first: a unary handler's
    thread blocks reading it, and a few half-open calls took every thread of the pool."""
    import grpc

    def deny(requests, context):
        host = context.peer().rsplit(":", 1)[0]
        with lock:
            first = host not in refused
            refused.add(host)
        if first:
            log.warning("refused a call from %s: no valid proof of the study's secret", host)
        context.abort(grpc.StatusCode.UNAUTHENTICATED, "no valid proof of the study's secret")

    return grpc.stream_stream_rpc_method_handler(deny)


def _answering(handler, proof: str):
    """`handler` with the chief's proof sent (initial metadata) before its answer."""
    import grpc

    if handler is None or handler.unary_unary is None:
        return handler

    def answer(request, context):
        context.send_initial_metadata(((ANSWER_KEY, proof),))
        return handler.unary_unary(request, context)

    return grpc.unary_unary_rpc_method_handler(
        answer, handler.request_deserializer, handler.response_serializer
    )


def hello_handler(gate: Gate):
    """The `Hello` service: the worker's nonce in, the chief's nonce and proof out. Streaming
    and reading no request (the nonce comes as metadata): half-open calls hold no thread."""
    import grpc

    def hello(requests, context):
        nonce = str(dict(context.invocation_metadata() or ()).get(SESSION_KEY, ""))
        if not _NONCE.fullmatch(nonce):
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "expected a nonce of 64 hex digits")
        yield " ".join(gate.hello(nonce)).encode()

    handler = grpc.stream_stream_rpc_method_handler(hello)
    service, method = HELLO.strip("/").split("/")
    return grpc.method_handlers_generic_handler(service, {method: handler})


def server_interceptor(gate: Gate):
    """A gRPC server interceptor that admits `Hello` and calls proving a session of `gate`."""
    import grpc

    class ProofCheck(grpc.ServerInterceptor):
        def __init__(self):
            self.refused: set[str] = set()
            self._deny = _method_handler_deny(self.refused, threading.Lock())

        def intercept_service(self, continuation, details):
            if details.method == HELLO:
                return continuation(details)
            metadata = dict(details.invocation_metadata or ())
            proof = gate.answer(details.method, metadata)
            if proof is None:
                return self._deny
            return _answering(continuation(details), proof)

    return ProofCheck()


# -- the worker's side -----------------------------------------------------------------
class _Details(
    collections.namedtuple(
        "_Details",
        ("method", "timeout", "metadata", "credentials", "wait_for_ready", "compression"),
    ),
):
    """A call's details with metadata added (grpc.ClientCallDetails is abstract)."""


class Session:
    """A worker's session with its chief, opened once the chief has proved the secret."""

    def __init__(self, raw, address: str, credentials: Credentials):
        self._hello = raw.unary_unary(HELLO)  # bytes in, bytes out
        self.address, self.credentials = address, credentials
        self._lock, self._open = threading.Lock(), None  # (session id, key)

    def current(self, timeout: float | None) -> tuple[str, bytes]:
        with self._lock:
            if self._open is None:
                self._open = self._opened(timeout)
            return self._open

    def forget(self, session_id: str) -> None:
        """Drop `session_id` (the chief refused it: restarted); the next call opens anew."""
        with self._lock:
            if self._open is not None and self._open[0] == session_id:
                self._open = None

    def _opened(self, timeout: float | None) -> tuple[str, bytes]:
        deadline = time.monotonic() + RELOAD_S
        while True:
            worker_nonce = secrets.token_hex(32)
            chief_nonce, proof = self._ask(worker_nonce, timeout)
            secret = self.credentials.secret.encode()
            if _same(proof, mac(secret, "hello", worker_nonce, chief_nonce)):
                return f"{worker_nonce}.{chief_nonce}", session_key(
                    secret, worker_nonce, chief_nonce
                )
            if self.credentials.secret_path is None or time.monotonic() > deadline:
                raise ChiefImpostor(
                    f"the server at {self.address} could not prove the study's secret: not "
                    "this study's chief (another user's?) or a secret this worker cannot read; "
                    "nothing of the secret was sent"
                )
            self._reread()

    def _ask(self, worker_nonce: str, timeout: float | None) -> tuple[str, str]:
        import grpc

        try:
            answer = self._hello(
                b"", metadata=((SESSION_KEY, worker_nonce),), timeout=timeout, wait_for_ready=True
            )
        except grpc.RpcError as err:
            if err.code() != grpc.StatusCode.UNIMPLEMENTED:
                raise  # the chief unreachable: PatientClient retries
            answer = b""
        chief_nonce, _, proof = answer.decode("ascii", "replace").partition(" ")
        return chief_nonce, proof

    def _reread(self) -> None:
        """The secret's file read again (a restarted chief's new secret); a second's wait
        where it has not changed (a shared filesystem may show the new file late)."""
        try:
            secret = read_secret(Path(self.credentials.secret_path), follow=False)
        except ConfigError:
            secret = self.credentials.secret
        if secret == self.credentials.secret:
            time.sleep(1.0)
        self.credentials.secret = secret

    def check(self, outcome, key: bytes, method: str, call: str) -> None:
        """A successful answer must carry the chief's proof for this call."""
        answer = dict(outcome.initial_metadata() or ()).get(ANSWER_KEY, "")
        if not _same(answer, mac(key, "answer", method, call)):
            raise ChiefImpostor(
                f"the server at {self.address} answered {method} without the chief's proof: "
                "not this study's chief; its answer was not used"
            )


def channel(address: str, credentials: Credentials, instance: str | None = None):
    """A channel to the chief whose every call proves a session (opened once the chief has
    proved the secret) and carries this process's instance id (or `instance`); answers
    without the chief's proof raise ChiefImpostor."""
    import grpc

    raw = raw_channel(address, credentials)
    session = Session(raw, address, credentials)

    class Prove(grpc.UnaryUnaryClientInterceptor):
        def intercept_unary_unary(self, continuation, details, request):
            for attempt in range(2):
                session_id, key = session.current(details.timeout)
                call, stamp = secrets.token_hex(16), str(int(time.time()))
                proof = call_proof(key, details.method, call, stamp)
                metadata = (
                    (SESSION_KEY, session_id), (CALL_KEY, call), (TIME_KEY, stamp),
                    (PROOF_KEY, proof), (INSTANCE_KEY, instance or auth.INSTANCE),
                )  # fmt: skip
                outcome = continuation(_with(details, metadata), request)
                code = outcome.code()
                if code == grpc.StatusCode.UNAUTHENTICATED and attempt == 0:
                    session.forget(session_id)  # a restarted chief: a new session
                    continue
                if code == grpc.StatusCode.OK:
                    session.check(outcome, key, details.method, call)
                return outcome

    return grpc.intercept_channel(raw, Prove())


def _with(details, metadata) -> _Details:
    return _Details(
        details.method,
        details.timeout,
        (*(details.metadata or ()), *metadata),
        details.credentials,
        details.wait_for_ready,
        details.compression,
    )
