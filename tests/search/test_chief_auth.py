"""Issue 35, part 4: the attacks on --parallel and the chief/worker mode, each performed
and shown refused or harmless. The secret never travels: a fake chief on the port learns
nothing that authenticates; a second chief run has a new secret, written only once it
holds its port; no worker of --parallel outlives its chief's server; worker logs are
private and never follow a symlink."""

from __future__ import annotations

import os
import socket
import subprocess
import threading
import time
from concurrent import futures
from pathlib import Path
from types import SimpleNamespace

import grpc
import pytest
from test_chief_trust import Served, calls, code_of, service

from study.cli import parallel
from study.errors import ConfigError
from study.search import auth, chief, chief_server, distributed, kt_compat, proofs

ROOT = Path(__file__).resolve().parents[2]


class FakeChief:
    """Another user's server on a port: records every call's metadata; answers `Hello`
    with `hello` (bytes; None: UNIMPLEMENTED) and any other method with an empty answer
    (a valid, empty keras-tuner response)."""

    def __init__(self, port: int = 0, hello: bytes | None = None):
        self.seen: list[tuple[str, dict]] = []
        fake = self

        class Everything(grpc.GenericRpcHandler):
            def service(self, details):
                fake.seen.append((details.method, dict(details.invocation_metadata or ())))
                if details.method == auth.HELLO and hello is None:
                    return None
                return grpc.unary_unary_rpc_method_handler(
                    lambda request, context: hello if details.method == auth.HELLO else b""
                )

        self.server = grpc.server(futures.ThreadPoolExecutor(4), handlers=[Everything()])
        self.port = self.server.add_insecure_port(f"127.0.0.1:{port}")
        assert self.port, "the fake chief could not bind"
        self.server.start()

    def values(self) -> str:
        return " ".join(str(v) for _, metadata in self.seen for v in metadata.values())

    def stop(self):
        self.server.stop(grace=0)


def _stub(address: str, credentials: auth.Credentials):
    return kt_compat.protos().get_service_grpc().OracleStub(proofs.channel(address, credentials))


@pytest.mark.parametrize("hello", [None, b"f" * 64 + b" " + b"0" * 64])
def test_a_fake_chief_gets_nothing_keyed_and_is_not_believed(hello):
    """A worker calling a port another user bound: no secret, no proof; one-line refusal."""
    secret = auth.chief_secret(None)
    fake = FakeChief(hello=hello)
    try:
        begin = time.monotonic()
        stub = _stub(f"127.0.0.1:{fake.port}", auth.Credentials(secret))
        with pytest.raises(auth.ChiefImpostor, match="could not prove the study's secret"):
            stub.GetSpace(service().GetSpaceRequest(), timeout=5)
        assert time.monotonic() - begin < 3  # no secret file to re-read: at once
        assert [method for method, _ in fake.seen] == [auth.HELLO]  # only the hello
        assert secret not in fake.values()
        assert not any(auth.PROOF_KEY in metadata for _, metadata in fake.seen)
    finally:
        fake.stop()


def test_a_port_freed_by_a_stopped_chief_yields_nothing_for_a_later_chief(tmp_path):
    """The HIGH finding replayed in-process: chief A stops, another user binds its port and
    gets the worker's next calls; nothing in them admits a caller at chief B, even one run
    with the same secret (--auth-token-file), and the fake's answer is not used."""
    first = Served(tmp_path / "a")
    worker = _stub(first.address, auth.Credentials(first.secret))
    svc = service()
    trial = worker.CreateTrial(svc.CreateTrialRequest(tuner_id="w1"), timeout=5).trial
    assert trial.trial_id == "0"
    first.stop()
    fake = FakeChief(port=first.server.port)  # the freed port, bound by the attacker
    try:
        with pytest.raises(auth.ChiefImpostor, match="without the chief's proof"):
            worker.GetTrial(svc.GetTrialRequest(trial_id="0"), timeout=10)
    finally:
        fake.stop()
    assert first.secret not in fake.values()
    overheard = [metadata for method, metadata in fake.seen if method != auth.HELLO]
    assert overheard and all(auth.PROOF_KEY in m for m in overheard)
    second = Served(tmp_path / "b", credentials=auth.Credentials(first.secret))
    try:
        keys = (auth.SESSION_KEY, auth.CALL_KEY, auth.PROOF_KEY, auth.INSTANCE_KEY)
        for metadata in overheard:  # replayed, for every method
            replay = tuple((k, metadata[k]) for k in keys if k in metadata)
            stub = _forging(second.address, replay)
            found = {name: code_of(call) for name, call in calls(stub).items()}
            assert found == dict.fromkeys(found, grpc.StatusCode.UNAUTHENTICATED)
        assert second.oracle.trials == {}
    finally:
        second.stop()


def _forging(address: str, metadata: tuple):
    from test_chief_trust import forging_stub

    return forging_stub(address, metadata)


def test_a_proof_holds_for_its_own_call_only(served_pair):
    """A proof overheard for one method admits no other method, and that method once."""
    served, proofs = served_pair
    stub = _forging(served.address, proofs)  # proofs made for GetSpace
    found = {name: code_of(call) for name, call in calls(stub).items() if name != "GetSpace"}
    assert found == dict.fromkeys(found, grpc.StatusCode.UNAUTHENTICATED)
    get_space = lambda: stub.GetSpace(service().GetSpaceRequest(), timeout=5)  # noqa: E731
    assert code_of(get_space) is None  # the call it was made for, once
    assert code_of(get_space) == grpc.StatusCode.UNAUTHENTICATED  # replayed


@pytest.fixture
def served_pair(tmp_path):
    from test_chief_trust import session_proofs

    served = Served(tmp_path)
    method = "/" + service().DESCRIPTOR.services_by_name["Oracle"].full_name + "/GetSpace"
    yield served, session_proofs(served.address, served.secret, method)
    served.stop()


def test_a_restarted_chief_new_secret_is_read_again_by_its_worker(tmp_path):
    """A chief run again (a new secret, the same port): its worker re-reads chief.secret."""
    study = tmp_path / "study"
    first = Served(tmp_path / "a")
    auth.publish_secret(study, first.secret)
    role = distributed.Role("worker", "127.0.0.1", first.server.port)
    worker = _stub(first.address, role.read_credentials(study))
    worker.GetSpace(service().GetSpaceRequest(), timeout=5)
    first.stop()
    second = Served(tmp_path / "b", port=first.server.port)
    auth.publish_secret(study, second.secret)
    try:
        assert second.secret != first.secret
        worker.GetSpace(service().GetSpaceRequest(), timeout=10)  # admitted again
        assert role.credentials.secret == second.secret
    finally:
        second.stop()


# -- the secret: new every run, written once the port is the chief's ---------------------
def _tuner(tmp_path, trials: int = 1):
    served = Served(tmp_path, trials=trials)
    served.stop()  # its oracle only; the chief under test serves it
    config = SimpleNamespace(study_dir=tmp_path / "study")
    return SimpleNamespace(oracle=served.oracle, budget=None, config=config, save=lambda: None)


def test_each_chief_run_writes_a_new_private_secret_after_its_bind(tmp_path):
    tuner = _tuner(tmp_path)
    secret_file = tmp_path / "study" / auth.SECRET_FILE
    found = []
    for _ in range(2):
        role = distributed.Role("chief", "127.0.0.1", 0)
        server, _, credentials = chief_server.listen(tuner, role, 0.1)
        server.stop(grace=0)
        assert secret_file.read_text().strip() == credentials.secret
        assert oct(secret_file.stat().st_mode & 0o777) == "0o600"
        found.append(credentials.secret)
    assert found[0] != found[1]
    assert not [p for p in secret_file.parent.iterdir() if p.name != auth.SECRET_FILE]


def test_a_chief_that_cannot_bind_writes_no_secret(tmp_path):
    """The examples' fixed port held by another process: the chief stops, and the secret
    file stays as it was (no worker is handed a secret that the port's holder could use)."""
    tuner = _tuner(tmp_path)
    secret_file = tmp_path / "study" / auth.SECRET_FILE
    secret_file.parent.mkdir()
    secret_file.write_text("old\n")
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        role = distributed.Role("chief", "127.0.0.1", squatter.getsockname()[1])
        with pytest.raises(ConfigError, match="cannot listen there"):
            chief_server.listen(tuner, role, 0.1)
    assert secret_file.read_text() == "old\n"


def test_a_planted_symlink_is_never_followed_for_the_secret(tmp_path):
    study, target = tmp_path / "study", tmp_path / "attacker.txt"
    study.mkdir()
    target.write_text("a" * 64 + "\n")
    (study / auth.SECRET_FILE).symlink_to(target)
    with pytest.raises(ConfigError, match="cannot read the chief's secret"):
        auth.worker_secret(study, None)  # the worker does not read through it
    secret = auth.chief_secret(None)
    path = auth.publish_secret(study, secret)  # the link is replaced, its target untouched
    assert not path.is_symlink() and path.read_text().strip() == secret
    assert target.read_text() == "a" * 64 + "\n"


# -- no worker outlives its chief's server ------------------------------------------------
def _one_trial(address: str, study_dir: Path) -> None:
    """The study's one trial, run by a worker that proves the chief's secret; then it asks
    again and hears STOPPED."""
    credentials = distributed.Role("worker").read_credentials(study_dir)
    stub, svc = _stub(address, credentials), service()
    trial = stub.CreateTrial(svc.CreateTrialRequest(tuner_id="w1"), timeout=5).trial
    stub.UpdateTrial(
        svc.UpdateTrialRequest(trial_id=trial.trial_id, metrics={"val_bce": 0.2}), timeout=5
    )
    trial.status = kt_compat.protos().get_proto().TrialStatus.COMPLETED
    stub.EndTrial(svc.EndTrialRequest(trial=trial), timeout=5)
    stub.CreateTrial(svc.CreateTrialRequest(tuner_id="w1"), timeout=5)


def test_parallel_workers_stop_before_the_chief_server_does(tmp_path, monkeypatch):
    """Real worker processes of --parallel (a sleeping stand-in for the study's worker): all
    stopped while the chief's server still answers, none alive once serve() returns."""
    monkeypatch.setattr(parallel, "ENTRY", "import time; time.sleep(120)")
    tuner = _tuner(tmp_path)
    workers = parallel.Workers(parallel.plan(2, None, cores=2), tmp_path / "r", "s", [])
    role = distributed.Role("chief", "127.0.0.1", 0, handover_s=2.5)
    seen = {}

    def on_serving(address):
        stop = workers.start(address)
        seen["pids"] = [p.pid for p, _, _ in workers.started]
        player = threading.Thread(target=_one_trial, args=(address, tuner.config.study_dir))
        player.start()

        def stop_then_note():
            seen["alive"] = [p.pid for p, _, _ in workers.started if p.poll() is None]
            credentials = distributed.Role("worker").read_credentials(tuner.config.study_dir)
            stub = _stub(address, credentials)
            seen["server_up"] = stub.GetSpace(service().GetSpaceRequest(), timeout=5) is not None
            stop()

        return stop_then_note

    role.on_serving = on_serving
    begin = time.monotonic()
    chief.serve(tuner, role)
    assert time.monotonic() - begin < 15
    assert len(seen["pids"]) == 2 and seen["alive"] == seen["pids"] and seen["server_up"]
    for pid in seen["pids"]:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)  # stopped and reaped
    assert workers.started == []
    workers.stop()  # the CLI's own stop, at the end: harmless
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", role.port), timeout=2).close()


def test_no_worker_is_started_when_nothing_is_left_to_run(tmp_path):
    tuner = _tuner(tmp_path, trials=1)
    oracle = tuner.oracle
    trial = oracle.create_trial("w1")
    oracle.update_trial(trial.trial_id, {"val_bce": 0.2})
    trial.status = "COMPLETED"
    oracle.end_trial(trial)
    assert oracle.finished()
    started = []
    role = distributed.Role("chief", "127.0.0.1", 0, handover_s=2.5)
    role.on_serving = started.append
    begin = time.monotonic()
    chief.serve(tuner, role)
    assert started == [] and time.monotonic() - begin < 5


# -- worker logs ---------------------------------------------------------------------------
def test_a_symlinked_worker_log_is_refused_and_logs_are_private(tmp_path):
    logs = parallel.log_dir(tmp_path / "r", "s")
    logs.mkdir(parents=True)
    victim = tmp_path / "victim.txt"
    victim.write_text("mine\n")
    (logs / "local0.log").symlink_to(victim)
    workers = parallel.Workers(parallel.plan(1, None, cores=1), tmp_path / "r", "s", [])
    with pytest.raises(ConfigError, match="local0.log: cannot open the worker's log \\(a symlink"):
        workers.start("127.0.0.1:9")
    assert workers.started == [] and victim.read_text() == "mine\n"
    fresh = logs / "local1.log"
    with parallel.open_log(fresh):
        assert oct(fresh.stat().st_mode & 0o777) == "0o600"
    loose = logs / "local2.log"
    loose.write_text("before\n")
    loose.chmod(0o644)
    with parallel.open_log(loose) as f:
        f.write(b"after\n")
    assert oct(loose.stat().st_mode & 0o777) == "0o600"
    assert loose.read_text() == "before\nafter\n"


def test_the_examples_bind_no_fixed_port_that_would_leak_the_secret():
    single = (ROOT / "examples" / "single_node_study.sh").read_text()
    assert "--parallel" in single and "--role" not in single and "8470" not in single
    slurm = (ROOT / "examples" / "slurm_study.sh").read_text()
    assert "8470" not in slurm
    result = subprocess.run(["bash", "-n", str(ROOT / "examples" / "slurm_study.sh")])
    assert result.returncode == 0
    assert os.access(ROOT / "examples" / "single_node_study.sh", os.R_OK)


@pytest.mark.slow
def test_a_finished_parallel_study_run_again_starts_no_worker_and_has_a_new_secret(
    tiny_dataset, tmp_path
):
    from test_parallel import _alive_workers, _command

    command = _command(tiny_dataset, tmp_path, 2)
    secret_file, logs = tmp_path / "s" / auth.SECRET_FILE, parallel.log_dir(tmp_path, "s")
    first = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, (first.stdout + first.stderr)[-3000:]
    assert not _alive_workers(tmp_path)
    secret = secret_file.read_text()
    sizes = {p.name: p.stat().st_size for p in logs.glob("*.log")}
    assert sorted(sizes) == ["local0.log", "local1.log"]
    assert {oct(p.stat().st_mode & 0o777) for p in logs.glob("*.log")} == {"0o600"}
    again = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, (again.stdout + again.stderr)[-3000:]
    assert secret_file.read_text() != secret  # rotated
    assert {p.name: p.stat().st_size for p in logs.glob("*.log")} == sizes  # none started
    assert secret.strip() not in first.stdout + first.stderr + again.stdout + again.stderr
