"""Issue 35, part 4: a call's proof admits that call once, near the chief's clock.

A call overheard (on the wire, or by whoever held a port the worker called) is replayed
to the live chief: refused. So is a proven call whose time is far off, and a call with
no time at all. `Replays` keeps a bounded memory and refuses what it has forgotten."""

from __future__ import annotations

import time

import grpc
import pytest
from test_chief_trust import Served, code_of, forging_stub, service

from study.search import auth, proofs, replays

SECRET = "a" * 64


def _metadata(gate: proofs.Gate, method: str, stamp: int, call: str = "3" * 32) -> dict:
    """A worker's metadata for one call of `method` at `stamp`, in a session of `gate`."""
    worker_nonce = "4" * 64
    chief_nonce, _ = gate.hello(worker_nonce)
    key = proofs.session_key(SECRET.encode(), worker_nonce, chief_nonce)
    return {
        auth.SESSION_KEY: f"{worker_nonce}.{chief_nonce}",
        auth.CALL_KEY: call,
        auth.TIME_KEY: str(stamp),
        auth.PROOF_KEY: proofs.call_proof(key, method, call, str(stamp)),
    }


def test_a_proven_call_is_admitted_once():
    gate = proofs.Gate(SECRET)
    metadata = _metadata(gate, "/m", int(time.time()))
    assert gate.answer("/m", metadata) is not None
    assert gate.answer("/m", metadata) is None  # the same call again: a replay


@pytest.mark.parametrize("offset", [-301, 301])
def test_a_call_more_than_the_window_off_the_clock_is_refused(offset):
    gate = proofs.Gate(SECRET)
    assert gate.answer("/m", _metadata(gate, "/m", int(time.time()) + offset)) is None
    assert gate.answer("/m", _metadata(gate, "/m", int(time.time()) + offset // 2)) is not None


def test_a_call_without_its_time_or_with_another_time_is_refused():
    gate = proofs.Gate(SECRET)
    metadata = _metadata(gate, "/m", int(time.time()))
    without = {k: v for k, v in metadata.items() if k != auth.TIME_KEY}
    moved = {**metadata, auth.TIME_KEY: str(int(metadata[auth.TIME_KEY]) + 1)}
    assert gate.answer("/m", without) is None
    assert gate.answer("/m", moved) is None  # the proof covers the time
    assert gate.answer("/m", metadata) is not None  # neither refusal used up the nonce


def test_replays_forget_the_oldest_at_their_limit_and_refuse_older():
    seen = replays.Replays(window_s=300, limit=2)
    assert seen.first("a", 1000, now=1000) and seen.first("b", 1001, now=1001)
    assert seen.first("c", 1002, now=1002)  # "a" forgotten for room: times <= 1000 refused
    assert not seen.first("a", 1000, now=1002)
    assert not seen.first("d", 999, now=1002)
    assert not seen.first("b", 1001, now=1002)  # still remembered
    assert len(seen._seen) == 2


def test_replays_drop_nonces_out_of_the_window():
    seen = replays.Replays(window_s=10, limit=100)
    assert seen.first("a", 100, now=100)
    assert seen.first("b", 200, now=200)  # "a" is out of the window: dropped
    assert list(seen._seen) == ["b"]
    assert not seen.first("a", 100, now=200)  # refused by its time


def test_a_worker_call_replayed_to_the_live_chief_is_refused(tmp_path, monkeypatch):
    """A call overheard from a worker, sent again to the same chief: UNAUTHENTICATED."""
    heard: list[tuple] = []

    class Record(grpc.UnaryUnaryClientInterceptor):  # what goes on the wire
        def intercept_unary_unary(self, continuation, details, request):
            heard.append(tuple(details.metadata or ()))
            return continuation(details, request)

    raw_channel = proofs.raw_channel
    monkeypatch.setattr(
        proofs, "raw_channel", lambda *a: grpc.intercept_channel(raw_channel(*a), Record())
    )
    served = Served(tmp_path)
    try:
        worker = served.stub()
        svc = service()
        worker.CreateTrial(svc.CreateTrialRequest(tuner_id="w1"), timeout=5)
        assert len(served.oracle.trials) == 1
        assert auth.PROOF_KEY in dict(heard[-1])
        replayed = forging_stub(served.address, heard[-1])
        request = svc.CreateTrialRequest(tuner_id="w2")
        found = code_of(lambda: replayed.CreateTrial(request, timeout=5))
        assert found == grpc.StatusCode.UNAUTHENTICATED
        assert len(served.oracle.trials) == 1
        assert served.secret not in " ".join(str(v) for m in heard for _, v in m)
    finally:
        served.stop()
