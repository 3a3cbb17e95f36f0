"""The chief's port and its faults: only the study's workers are admitted, a bad call is an
error answered (never a held lock), a second live worker under one id is refused; then
chiefs and workers as processes (the slow part). A silent trial process: test_trial_timeout.py."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import threading
import time

import grpc
import keras_tuner
import pytest
from test_distributed import Cluster, events

from study import faults
from study.errors import ConfigError
from study.search import auth, chief, chief_server, distributed, kt_compat, proofs, recovery
from study.search.oracles import OBJECTIVE, ChiefRandomOracle
from study.store.records import TrialRecords


# -- a chief's server on loopback, with an oracle and no training ------------------------
class Served:
    """A chief oracle served on a free loopback port with the study's secret."""

    def __init__(
        self, tmp_path, trials=3, max_failures=3, handover_s=5.0, credentials=None, port=0
    ):
        oracle = ChiefRandomOracle(
            objective=OBJECTIVE, max_trials=trials, seed=1,
            max_consecutive_failed_trials=max_failures,
            handover_s=handover_s, events=tmp_path / "events.jsonl",
        )  # fmt: skip
        oracle._set_project_dir(str(tmp_path), "tuner")
        space = keras_tuner.HyperParameters()
        space.Float("learning_rate", 1e-3, 1e-1, sampling="log")
        oracle.update_space(space)
        oracle.save()
        self.oracle, self.tmp = oracle, tmp_path
        self.secret = auth.chief_secret(None)
        self.credentials = credentials or auth.Credentials(self.secret)
        role = distributed.Role("chief", "127.0.0.1", port, handover_s=handover_s)
        self.server, self.servicer = chief_server.start(oracle, role, self.credentials, 0.1)
        self.address = f"{'localhost' if self.credentials.tls else '127.0.0.1'}:{self.server.port}"

    def stub(self, credentials=None, plain=False):
        channel = (
            grpc.insecure_channel(self.address)
            if plain
            else proofs.channel(self.address, credentials or auth.Credentials(self.secret))
        )
        return kt_compat.protos().get_service_grpc().OracleStub(channel)

    def oracle_json(self) -> bytes:
        return (self.tmp / "tuner" / "oracle.json").read_bytes()

    def lock_is_free(self) -> bool:
        from keras_tuner.src.engine import oracle as oracle_module

        lock = oracle_module.LOCKS[self.oracle]
        if not lock.acquire(timeout=2):
            return False
        lock.release()
        return True

    def stop(self):
        self.server.stop(grace=0)


@pytest.fixture
def served(tmp_path):
    s = Served(tmp_path)
    yield s
    s.stop()


def service():
    return kt_compat.protos().get_service()


def calls(stub):
    """One call of each of the service's methods (what a forging client would send)."""
    svc, proto = service(), kt_compat.protos().get_proto()
    forged = proto.Trial(trial_id="00", status=proto.TrialStatus.COMPLETED)
    return {
        "GetSpace": lambda: stub.GetSpace(svc.GetSpaceRequest(), timeout=5),
        "UpdateSpace": lambda: stub.UpdateSpace(svc.UpdateSpaceRequest(), timeout=5),
        "CreateTrial": lambda: stub.CreateTrial(
            svc.CreateTrialRequest(tuner_id="forger"), timeout=5
        ),
        "UpdateTrial": lambda: stub.UpdateTrial(
            svc.UpdateTrialRequest(trial_id="00", metrics={"val_bce": -123.0}), timeout=5
        ),
        "EndTrial": lambda: stub.EndTrial(svc.EndTrialRequest(trial=forged), timeout=5),
        "GetTrial": lambda: stub.GetTrial(svc.GetTrialRequest(trial_id="00"), timeout=5),
        "GetBestTrials": lambda: stub.GetBestTrials(
            svc.GetBestTrialsRequest(num_trials=1), timeout=5
        ),
    }


LEGACY_KEY = "x-study-secret"  # the secret as a bearer token, as chiefs once took it


def session_proofs(address: str, secret: str, method: str = "") -> tuple:
    """The metadata of a forger who opens a real session but proves it with `secret`."""
    hello = grpc.insecure_channel(address).unary_unary(auth.HELLO)
    worker_nonce = "1" * 64
    answer = hello(b"", metadata=((auth.SESSION_KEY, worker_nonce),), timeout=5)
    chief_nonce = answer.decode().split()[0]
    key = proofs.session_key(secret.encode(), worker_nonce, chief_nonce)
    call, stamp = "2" * 32, str(int(time.time()))
    return (
        (auth.SESSION_KEY, f"{worker_nonce}.{chief_nonce}"),
        (auth.CALL_KEY, call),
        (auth.TIME_KEY, stamp),
        (auth.PROOF_KEY, proofs.call_proof(key, method, call, stamp)),
    )


def forging_stub(address: str, metadata: tuple):
    """A keras-tuner stub whose every call carries `metadata` as it is."""

    class Add(grpc.UnaryUnaryClientInterceptor):
        def intercept_unary_unary(self, continuation, details, request):
            return continuation(proofs._with(details, metadata), request)

    channel = grpc.intercept_channel(grpc.insecure_channel(address), Add())
    return kt_compat.protos().get_service_grpc().OracleStub(channel)


def code_of(call) -> grpc.StatusCode | None:
    try:
        call()
    except grpc.RpcError as err:
        return err.code()
    return None


def test_a_client_without_the_secret_is_refused_by_every_method(served, caplog):
    before = served.oracle_json()
    plain = served.stub(plain=True)  # a plain keras-tuner client
    bearer = forging_stub(served.address, ((LEGACY_KEY, served.secret),))  # the old token
    wrong = forging_stub(served.address, session_proofs(served.address, "0" * 64))
    for stub in (plain, bearer, wrong):
        found = {name: code_of(call) for name, call in calls(stub).items()}
        assert found == dict.fromkeys(found, grpc.StatusCode.UNAUTHENTICATED)
    assert served.oracle_json() == before
    assert served.oracle.trials == {} and served.oracle.ongoing_trials == {}
    refused = [r for r in caplog.records if "refused a call from" in r.getMessage()]
    assert len(refused) == 1  # the refused host logged once, not 14 times


def test_the_secret_is_created_private_and_a_worker_reads_it(tmp_path):
    secret = auth.chief_secret(None)
    path = auth.publish_secret(tmp_path, secret)
    assert len(secret) == 64 and oct(path.stat().st_mode & 0o777) == "0o600"
    assert auth.chief_secret(None) != secret  # a new one every chief run
    assert auth.worker_secret(tmp_path, None) == (secret, path)
    with pytest.raises(ConfigError, match="no chief's secret"):
        auth.worker_secret(tmp_path / "elsewhere", None)
    short = tmp_path / "short"
    short.write_text("abc\n")
    with pytest.raises(ConfigError, match="at least 32 printable"):
        auth.worker_secret(tmp_path, str(short))


def test_with_the_secret_a_worker_runs_a_trial(served):
    stub, svc = served.stub(), service()
    trial = stub.CreateTrial(svc.CreateTrialRequest(tuner_id="w1"), timeout=5).trial
    assert trial.trial_id == "0" and served.oracle.ongoing_trials["w1"].trial_id == "0"
    stub.UpdateTrial(
        svc.UpdateTrialRequest(trial_id="0", metrics={"val_bce": 0.3}, step=0), timeout=5
    )
    trial.status = kt_compat.protos().get_proto().TrialStatus.COMPLETED
    stub.EndTrial(svc.EndTrialRequest(trial=trial), timeout=5)
    assert served.oracle.end_order == ["0"]
    assert served.oracle.trials["0"].score == pytest.approx(0.3)


def test_an_unknown_trial_id_is_not_found_and_frees_the_oracle(served):
    stub, svc = served.stub(), service()
    for name in ("GetTrial", "UpdateTrial", "EndTrial"):
        assert code_of(calls(stub)[name]) == grpc.StatusCode.NOT_FOUND, name
    assert served.lock_is_free()
    # an exception inside an oracle method (keras-tuner's own wrapper would keep the lock)
    with pytest.raises(KeyError):
        served.oracle.get_trial("no-such-id")
    assert served.lock_is_free()
    answers = []

    def create(worker):
        answers.append(stub.CreateTrial(svc.CreateTrialRequest(tuner_id=worker), timeout=10))

    threads = [threading.Thread(target=create, args=(f"w{k}",)) for k in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(15)
    assert sorted(a.trial.trial_id for a in answers) == ["0", "1", "2"]


def test_consecutive_failures_stop_the_chief_and_release_the_lock(tmp_path):
    served = Served(tmp_path, trials=5, max_failures=2)
    try:
        stub, svc = served.stub(), service()
        failed = kt_compat.protos().get_proto().TrialStatus.FAILED
        for worker in ("w1", "w2"):
            trial = stub.CreateTrial(svc.CreateTrialRequest(tuner_id=worker), timeout=5).trial
            trial.status = failed
            stub.EndTrial(svc.EndTrialRequest(trial=trial), timeout=5)
        assert served.servicer.failure is not None
        assert "consecutive failures" in str(served.servicer.failure)
        assert served.lock_is_free()
        answer = stub.CreateTrial(svc.CreateTrialRequest(tuner_id="w3"), timeout=5)
        assert answer.trial.status == kt_compat.protos().get_proto().TrialStatus.STOPPED
    finally:
        served.stop()


def test_a_second_live_worker_under_one_id_is_refused(tmp_path, monkeypatch):
    served = Served(tmp_path, handover_s=2.5)  # heartbeat 0.5 s: in use while heard < 1.5 s
    try:
        svc = service()
        first = served.stub().CreateTrial(svc.CreateTrialRequest(tuner_id="w1"), timeout=5)
        monkeypatch.setattr(auth, "INSTANCE", "another-process")
        second = served.stub()
        with pytest.raises(grpc.RpcError) as refused:
            second.CreateTrial(svc.CreateTrialRequest(tuner_id="w1"), timeout=5)
        assert refused.value.code() == grpc.StatusCode.ALREADY_EXISTS
        assert "in use by another live worker" in refused.value.details()
        time.sleep(1.6)  # the first went silent (killed): the id is a restart's
        again = second.CreateTrial(svc.CreateTrialRequest(tuner_id="w1"), timeout=5)
        assert again.trial.trial_id == first.trial.trial_id  # its trial back, once
        assert list(served.oracle.ongoing_trials) == ["w1"]
    finally:
        served.stop()


def test_the_worker_side_refusal_is_one_line(tmp_path, monkeypatch):
    served = Served(tmp_path, handover_s=2.5)
    try:
        svc = service()
        monkeypatch.setattr(auth, "INSTANCE", "first-process")
        served.stub().CreateTrial(svc.CreateTrialRequest(tuner_id="w1"), timeout=5)

        class Client:  # keras-tuner's OracleClient, reduced to the one call
            def create_trial(self, tuner_id):
                return served.stub().CreateTrial(svc.CreateTrialRequest(tuner_id=tuner_id))

        monkeypatch.setattr(auth, "INSTANCE", "second-process")
        patient = distributed.PatientClient(Client(), 5, in_use_wait_s=2)
        begin = time.monotonic()
        # the first process's heartbeats (its own instance id) keep the id in use
        with (
            _beats(served, "first-process", "0"),
            pytest.raises(
                ConfigError, match="the chief refused this worker: worker id 'w1' is in use"
            ),
        ):
            patient.create_trial("w1")
        assert 2 <= time.monotonic() - begin < 8
    finally:
        served.stop()


class _beats:
    """While inside: the trial's heartbeats from process `instance`, every 0.3 s."""

    def __init__(self, served, instance, trial_id):
        self.stop = threading.Event()
        svc = service()
        channel = proofs.channel(served.address, auth.Credentials(served.secret), instance)
        stub = kt_compat.protos().get_service_grpc().OracleStub(channel)

        def beat():
            while not self.stop.wait(0.3):
                stub.GetTrial(svc.GetTrialRequest(trial_id=trial_id))

        self.thread = threading.Thread(target=beat, daemon=True)

    def __enter__(self):
        self.thread.start()

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(5)


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")
def test_tls_chief_and_worker(tmp_path):
    cert, key = tmp_path / "chief.pem", tmp_path / "chief.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    secret = auth.chief_secret(None)
    served = Served(tmp_path, credentials=auth.Credentials(secret, str(cert), str(key)))
    try:
        trusted = auth.Credentials(secret, tls_ca=str(cert))
        space = served.stub(trusted).GetSpace(service().GetSpaceRequest(), timeout=5)
        assert space.hyperparameters.ByteSize() > 0
        # plaintext against a TLS port: no answer
        assert code_of(calls(served.stub(auth.Credentials(secret)))["GetSpace"]) in (
            grpc.StatusCode.UNAVAILABLE,
            grpc.StatusCode.DEADLINE_EXCEEDED,
        )
    finally:
        served.stop()
    with pytest.raises(ConfigError, match="give both"):
        auth.check_tls(str(cert), None, None, "chief")
    with pytest.raises(ConfigError, match="a worker takes --tls-ca"):
        auth.check_tls(str(cert), str(key), None, "worker")


def test_a_trial_id_that_is_not_a_plain_name_never_becomes_a_path(tmp_path):
    records = TrialRecords(tmp_path)
    assert records.trial_dir("0007") == records.root / "0007"
    for bad in ("../outside", "/etc", "a/b", "..", "", "x" * 65, "a\nb"):
        with pytest.raises(ConfigError, match="trial id"):
            records.trial_dir(bad)


def test_wildcard_bind_warns(caplog):
    auth.warn_if_wildcard("0.0.0.0")
    auth.warn_if_wildcard("127.0.0.1")
    assert sum("every interface" in r.getMessage() for r in caplog.records) == 1


# -- chiefs and workers as processes ------------------------------------------------------
@pytest.mark.slow
def test_a_live_chief_admits_only_its_workers_and_survives_an_unknown_trial_id(
    tiny_dataset, tmp_path
):
    cluster = Cluster(tmp_path, tiny_dataset, 3, "--no-retrain", "--no-report")
    oracle_json = cluster.results / "s" / "tuner" / "oracle.json"
    secret_file = cluster.results / "s" / auth.SECRET_FILE
    deadline = time.monotonic() + 120
    while not secret_file.exists() or not oracle_json.exists():
        assert time.monotonic() < deadline, cluster.log("chief")
        time.sleep(0.2)
    time.sleep(1)
    before = oracle_json.read_bytes()
    plain = kt_compat.protos().get_service_grpc().OracleStub(grpc.insecure_channel(cluster.address))
    found = {name: code_of(call) for name, call in calls(plain).items()}
    assert found == dict.fromkeys(found, grpc.StatusCode.UNAUTHENTICATED)
    assert oracle_json.read_bytes() == before  # a forging client changed nothing
    other = tmp_path / "other.secret"  # a worker given another secret: one line, exit 2
    other.write_text("f" * 64 + "\n")
    other.chmod(0o600)
    cluster.workers["intruder"] = cluster._start(
        "intruder", "--role", "worker", "--worker-id", "intruder", "--auth-token-file", str(other)
    )
    assert cluster.workers.pop("intruder").wait(120) == 2
    assert "could not prove the study's secret" in cluster.log("intruder")
    assert oracle_json.read_bytes() == before
    cluster.worker("w1")
    cluster.running_with_epochs("w1")
    stub = (
        kt_compat.protos()
        .get_service_grpc()
        .OracleStub(
            proofs.channel(cluster.address, auth.Credentials(secret_file.read_text().strip()))
        )
    )
    unknown = service().GetTrialRequest(trial_id="no-such-id")
    assert code_of(lambda: stub.GetTrial(unknown, timeout=10)) == grpc.StatusCode.NOT_FOUND
    chief_code, workers = cluster.wait(timeout=240)
    assert chief_code == 0, cluster.log("chief")
    assert workers == {"w1": 0}
    assert sorted(e["trial"] for e in cluster.events() if e["event"] == "end") == ["0", "1", "2"]


@pytest.mark.slow
def test_consecutive_failures_on_workers_end_the_chief_with_exit_1(tiny_dataset, tmp_path):
    cluster = Cluster(tmp_path, tiny_dataset, 6, "--no-retrain", "--no-report",
                      "--max-failures", "2")  # fmt: skip
    os.environ[faults.VARIABLE] = "raise:child-epoch"  # every trial's first epoch fails
    try:
        cluster.worker("w1")
        cluster.worker("w2")
    finally:
        del os.environ[faults.VARIABLE]
    try:
        chief_code = cluster.chief.wait(240)
        ended = [e for e in cluster.events() if e["event"] == "end"]
        stopped_after = time.time() - ended[-1]["time"]
    finally:  # a worker between trials waits --connect-timeout for a chief to come back
        for process in cluster.workers.values():
            os.killpg(process.pid, signal.SIGKILL)
    assert chief_code == 1, cluster.log("chief")
    assert "2 consecutive trials failed" in cluster.log("chief")
    assert stopped_after < 30


@pytest.mark.slow
def test_one_sigterm_ends_the_chief_with_143_and_it_resumes(tiny_dataset, tmp_path):
    cluster = Cluster(tmp_path, tiny_dataset, 4, "--no-retrain", "--no-report")
    cluster.worker("w1")
    deadline = time.monotonic() + 180
    while sum(e["event"] == "end" for e in cluster.events()) < 1:
        assert time.monotonic() < deadline, cluster.log("chief")
        time.sleep(0.2)
    os.killpg(cluster.chief.pid, signal.SIGTERM)
    assert cluster.chief.wait(30) == 143, cluster.log("chief")
    cluster.chief = cluster._start("chief", *cluster.chief_argv)
    chief_code, workers = cluster.wait(timeout=300)
    assert chief_code == 0, cluster.log("chief")
    assert workers == {"w1": 0}
    log = [(e["event"], e["trial"]) for e in events(cluster.results / "s" / chief.EVENTS)]
    ends = [t for event, t in log if event == "end"]
    assert sorted(ends) == ["0", "1", "2", "3"]  # none lost, none twice
    reports = cluster.reports()
    assert {r["status"] for r in reports.values()} == {"COMPLETED"} and len(reports) == 4


# -- review findings: half-open calls, races, records that lie ----------------------------
def test_half_open_calls_without_the_secret_do_not_starve_the_chief(served):
    """A refused call is answered before its request is read: 40 calls that never send
    their request (more than the server's 16 threads) leave a worker's call answered."""
    channel = grpc.insecure_channel(served.address)
    service_name = next(iter(service().DESCRIPTOR.services_by_name.values())).full_name
    method = f"/{service_name}/GetSpace"
    never = threading.Event()

    def silent_requests():
        never.wait(30)
        return
        yield  # a generator that never yields a request

    calls = [channel.stream_stream(method)(silent_requests(), timeout=20) for _ in range(40)]
    time.sleep(0.5)
    begin = time.monotonic()
    served.stub().GetSpace(service().GetSpaceRequest(), timeout=5)
    assert time.monotonic() - begin < 2
    codes = set()
    for call in calls:
        with pytest.raises(grpc.RpcError) as refused:
            next(call)
        codes.add(refused.value.code())
    never.set()
    assert codes == {grpc.StatusCode.UNAUTHENTICATED}


def test_two_processes_under_one_id_at_once_get_one_trial(tmp_path):
    served = Served(tmp_path, handover_s=30)
    try:
        answers, refused = [], []

        def ask(instance):
            try:
                answers.append(served.oracle.create_trial_for("w1", instance, 10.0))
            except chief.WorkerIdInUse as err:
                refused.append(str(err))

        threads = [threading.Thread(target=ask, args=(f"p{k}",)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
        assert len(answers) == 1 and len(refused) == 3
        assert all("in use by another live worker" in r for r in refused)
        # a late beat of a process the trial was handed away from is not the owner's
        trial_id = answers[0].trial_id
        owner_process = served.oracle._instances["w1"]
        served.oracle.heard_from("p-late", trial_id)
        assert served.oracle._instances["w1"] == owner_process
    finally:
        served.stop()


def test_a_trial_id_in_the_oracle_state_that_is_a_path_stops_the_resume(tmp_path):
    from study.errors import StateError

    project = tmp_path / "tuner"
    project.mkdir()
    (project / "oracle.json").write_text(
        json.dumps({"end_order": ["0", "../../victim"], "ongoing_trials": {}})
    )
    with pytest.raises(StateError, match="not a plain name"):
        recovery.repair(tmp_path, keras_tuner.HyperParameters())
    (project / "oracle.json").write_text(json.dumps({"end_order": ["0"]}))
    (project / "trial_0").mkdir()
    (project / "trial_0" / "trial.json").write_text(json.dumps({"trial_id": "/etc"}))
    with pytest.raises(StateError, match="'/etc' is not a plain name"):
        recovery.repair(tmp_path, keras_tuner.HyperParameters())


def test_a_secret_that_grpc_cannot_send_is_refused(tmp_path):
    path = tmp_path / "secret"
    path.write_text("é" * 40 + "\n")
    with pytest.raises(ConfigError, match="printable ASCII"):
        auth.read_secret(path)
