"""The chief's gRPC server: keras-tuner's OracleServicer behind the study's proofs.

What it adds to keras-tuner's servicer (study/search/chief.py has the chief's oracle):
- only workers that prove the study's secret get in (study/search/auth.py);
- a bad call is an error answered: an unknown trial id is NOT_FOUND, any other failure
  INTERNAL, and the oracle's lock is released either way (kt_compat.synchronized);
- a second live process under one worker id is refused (ALREADY_EXISTS);
- an IDLE answer is held a moment (workers would spin), and the consecutive-failure
  stop is kept for the chief's main thread instead of failing the worker's call.
"""

from __future__ import annotations

import functools
import logging
import time
from concurrent import futures

from study.errors import ConfigError, UserError
from study.search import auth, kt_compat, proofs
from study.search.distributed import Role
from study.status import TrialStatus

log = logging.getLogger(__name__)


class WorkerIdInUse(UserError):
    """Another live process asks under this worker's id: the message says which."""


def _answered(method):
    """A servicer method whose failures are gRPC errors answered to the caller: an unknown
    trial id NOT_FOUND, anything else INTERNAL (logged), never a held lock or a hung call."""
    import grpc

    @functools.wraps(method)
    def call(self, request, context):
        trial_id = _trial_id_of(request)
        if trial_id is not None and trial_id not in self.oracle.trials:
            context.abort(grpc.StatusCode.NOT_FOUND, f"no trial {trial_id!r} in this study")
        try:
            return method(self, request, context)
        except Exception as err:
            if isinstance(err, grpc.RpcError) or context.code() is not None:
                raise  # an abort already answered
            log.warning("%s failed: %s: %s", method.__name__, type(err).__name__, err)
            context.abort(grpc.StatusCode.INTERNAL, f"{type(err).__name__}: {err}"[:300])

    return call


def _trial_id_of(request) -> str | None:
    if hasattr(request, "trial_id"):
        return request.trial_id
    if hasattr(request, "trial") and request.HasField("trial"):
        return request.trial.trial_id
    return None


def _create_trial(servicer, request, context):
    """CreateTrial: STOPPED after the failure stop; the trial, in one hold of the oracle's
    lock with the check that no other live process has the worker's id; IDLE held."""
    import grpc

    protos, kt_status = kt_compat.protos(), kt_compat.kt_status()
    if servicer.failure is not None:
        stopped = kt_compat.Trial(servicer.oracle.get_space(), status=TrialStatus.STOPPED)
        return protos.get_service().CreateTrialResponse(trial=stopped.to_proto())
    instance = auth.caller_instance(context)
    try:
        trial = servicer.oracle.create_trial_for(request.tuner_id, instance, servicer.window_s)
    except WorkerIdInUse as err:
        context.abort(grpc.StatusCode.ALREADY_EXISTS, str(err))
    if trial.status == kt_status.STOPPED:
        servicer.stop_triggered = True  # as keras-tuner's servicer
    if trial.status == kt_status.IDLE:
        time.sleep(servicer.poll_s)  # workers would spin
    return protos.get_service().CreateTrialResponse(trial=trial.to_proto())


def _servicer_class():
    protos = kt_compat.protos()

    class Servicer(kt_compat.oracle_servicer_class()):
        """keras-tuner's servicer: bad calls answered (`_answered`), an IDLE answer held
        `poll_s` (workers would spin), a second live process under a worker's id refused,
        and the consecutive-failure stop kept for the chief instead of failing the call."""

        def __init__(self, oracle, poll_s: float, window_s: float):
            super().__init__(oracle)
            self.poll_s, self.window_s, self.failure = poll_s, window_s, None

        @_answered
        def CreateTrial(self, request, context):
            return _create_trial(self, request, context)

        @_answered
        def UpdateTrial(self, request, context):
            self.oracle.heard_from(auth.caller_instance(context), request.trial_id)
            return super().UpdateTrial(request, context)

        @_answered
        def GetTrial(self, request, context):
            self.oracle.heard_from(auth.caller_instance(context), request.trial_id)
            return super().GetTrial(request, context)

        @_answered
        def EndTrial(self, request, context):
            try:
                return super().EndTrial(request, context)
            except RuntimeError as err:
                if not kt_compat.is_failure_stop(err):
                    raise
                self.failure = err
                return protos.get_service().EndTrialResponse()

    base = kt_compat.oracle_servicer_class()
    for name in ("GetSpace", "UpdateSpace", "GetBestTrials"):  # keras-tuner's, answered
        setattr(Servicer, name, _answered(getattr(base, name)))
    return Servicer


def bind(oracle, role: Role, credentials: auth.Credentials, poll_s: float):
    """(server, servicer): keras-tuner's service of `oracle` bound at `role.address`, not
    started, admitting only workers that prove `credentials.secret` (proofs.Gate; over TLS
    where it has a certificate). Port 0 binds a free port: `server.port`."""
    import grpc

    gate = proofs.Gate(credentials.secret)
    servicer = _servicer_class()(oracle, poll_s, role.in_use_window_s)
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=16),
        handlers=[proofs.hello_handler(gate)],
        interceptors=[proofs.server_interceptor(gate)],
        options=[("grpc.so_reuseport", 0)],  # a port another process holds is not shared
    )
    kt_compat.protos().get_service_grpc().add_OracleServicer_to_server(servicer, server)
    try:
        bound = auth.add_port(server, role.address, credentials)
    except RuntimeError:
        bound = 0
    if not bound:
        raise ConfigError(
            f"--oracle {role.address}: cannot listen there (in use? this host?"
            + (" a valid PEM certificate and key?)" if credentials.tls_cert else ")")
        )
    auth.warn_if_wildcard(role.host)
    server.port = bound
    return server, servicer


def start(oracle, role: Role, credentials: auth.Credentials, poll_s: float):
    """`bind`, then started."""
    server, servicer = bind(oracle, role, credentials, poll_s)
    server.start()
    return server, servicer


def listen(tuner, role: Role, poll_s: float):
    """(server, servicer, credentials): the chief's server bound, this run's secret written
    for the workers once the port is its own (a chief that cannot bind writes none), then
    started; the chief's tuner file saved (a restarted chief reloads the oracle from it)."""
    credentials = role.chief_credentials()
    server, servicer = bind(tuner.oracle, role, credentials, poll_s)
    role.port = role.port or server.port  # port 0 (--parallel): the free one bound
    try:
        role.publish_secret(tuner.config.study_dir, credentials)
        server.start()
        tuner.save()
    except BaseException:
        server.stop(grace=0)
        raise
    return server, servicer, credentials
