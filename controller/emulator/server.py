"""Start, control and stop the local AWS emulator: moto plus the project's extensions.

One werkzeug server on loopback, in a background thread of the calling process, serves
`EmulatorApp` (control endpoints, request counting, fault injection, the latency and rate
model when it is on, the check of every request against its service model, the SageMaker
Studio and EFS extensions, then moto's own DomainDispatcherApplication), one thread per
connection, so that calls made at once are served at once. A daemon
thread mirrors replicated EFS folders, another publishes EFS ClientConnections.
Everything lives in memory except the EFS folders under data_dir/efs. This module must
not implement AWS behaviour; it wires the pieces together and exposes the Python API the
tests and the CLI use.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import BaseWSGIServer, make_server

from controller.emulator.cloudtrail import CloudTrail
from controller.emulator.control import ControlApp
from controller.emulator.datasync import DataSync
from controller.emulator.ecs_tasks import EcsTasks
from controller.emulator.ecs_workers import WorkerLauncher
from controller.emulator.efs_filesystems import ElasticFileSystem
from controller.emulator.efs_metrics import ConnectionMetrics
from controller.emulator.efs_mounts import MountTable
from controller.emulator.efs_store import EfsFolders, EfsStore
from controller.emulator.faults import FaultInjector, RequestCounter
from controller.emulator.lifecycle import EmulatorConfig
from controller.emulator.moto_gateway import DEFAULT_ACCOUNT, MotoGateway
from controller.emulator.notebook_runtime import NotebookRuntime
from controller.emulator.pacing import Pacer, PacingPlan, plan_from
from controller.emulator.replicator import Replicator
from controller.emulator.router import EmulatorApp, ServiceExtension
from controller.emulator.s3_uploads import S3MultipartDates
from controller.emulator.sagemaker import SageMakerStudio
from controller.emulator.server_workers import WorkerControls
from controller.emulator.service_quotas import ServiceQuotas
from controller.emulator.validation import ModelValidator


class _QuietHandler(MotoRequestHandler):
    """moto's handler (keeps underscored S3 metadata headers), without a log line per call."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


class Emulator(WorkerControls):
    """A running emulator. Use `start_emulator`; stop it with `stop()` or `with`."""

    def __init__(
        self,
        data_dir: Path,
        host: str,
        port: int,
        transition_seconds: float,
        replication_interval_seconds: float,
        latency_model: PacingPlan | None = None,
    ):
        self.data_dir = Path(data_dir)
        self.efs_root = self.data_dir / "efs"
        self._initial = (transition_seconds, replication_interval_seconds)
        self.config = EmulatorConfig(transition_seconds, replication_interval_seconds)
        self._moto = DomainDispatcherApplication(create_backend_app)
        self._faults = FaultInjector()
        self._counter = RequestCounter()
        # Rate limits are per account: the account moto gives the request's credentials.
        self._pacer = Pacer(lambda request: self._gateway.account_of(
            request.access_key, request.headers.get("x-moto-account-id")))
        self._initial_pacing = latency_model
        self._pacer.set(latency_model)
        self._efs_store = EfsStore(EfsFolders(self.efs_root), clock=lambda: self.config.clock())
        self._replicator = Replicator(self._efs_store, self.config, self._faults.region_down)
        self._model_check = ModelValidator()
        # Read by EmulatorApp on every request; emptied only by set_model_checks(False).
        self._checks: list[ModelValidator] = [self._model_check]
        # The extensions need the bound port (for their in-process calls), so the list is
        # filled in once the server socket exists.
        extensions: list[ServiceExtension] = []
        self._app = app = EmulatorApp(
            self._moto,
            extensions,
            self._faults,
            self._counter,
            ControlApp(self),
            self._reset_state,
            checks=self._checks,
            pacer=self._pacer,
        )
        self._server: BaseWSGIServer = make_server(
            host, port, app, threaded=True, request_handler=_QuietHandler
        )
        self.host = host
        self.port = int(self._server.server_port)
        self.endpoint_url = f"http://{host}:{self.port}"
        self._gateway = MotoGateway(self._moto, f"{host}:{self.port}")
        self._mounts = MountTable(self._efs_store, self._gateway, self.config)
        self._metrics = ConnectionMetrics(self._mounts, self._gateway, self.config)
        self.notebook_root = self.data_dir / "notebook-instances"
        self._notebooks = NotebookRuntime(self.notebook_root, self.endpoint_url)
        self._studio = SageMakerStudio(self.config, self._gateway, self._efs_store.folders,
                                       self._mounts, self._notebooks)
        self._efs = ElasticFileSystem(
            self.config, self._gateway, self._efs_store, self._replicator, self._faults.region_down
        )
        self._quotas = ServiceQuotas(self._gateway)
        self._s3_dates = S3MultipartDates(self._gateway)
        self._ecs = EcsTasks(self.config, self._gateway, lambda task: self._workers.launch(task))
        self._workers = WorkerLauncher(self.config, self._gateway, self._efs_store.folders,
                                       self._mounts, self.data_dir / "ecs-logs",
                                       self.endpoint_url, self._ecs.state.lock)
        self._datasync = DataSync(self.config, self._gateway, self._efs_store.folders,
                                  self._faults.region_down)
        extensions.extend([self._studio, self._efs, self._quotas, self._s3_dates, self._ecs,
                           self._datasync])
        self._cloudtrail = CloudTrail(self._gateway,
                                      lambda: self.config.cloudtrail_delay_seconds)
        app.set_trail(self._cloudtrail)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="aws-emulator",
            daemon=True,
        )
        self._stopped = False

    def _start(self) -> None:
        self._thread.start()
        self._cloudtrail.start()
        self._replicator.start()
        self._metrics.start()

    # -- state ---------------------------------------------------------------------------
    def reset(self) -> None:
        """Forget everything: moto's state, the emulator's, the EFS folders, faults, counts."""
        self._faults.clear()
        self._counter.reset()
        self._pacer.set(self._initial_pacing)
        self.config.update(*self._initial, client_connections_interval_seconds=60.0)
        self.config.cloudtrail_delay_seconds = 0.0
        self._gateway.raw("POST", "/moto-api/reset")
        self._reset_state()

    def _reset_state(self) -> None:
        with self._replicator.paused():  # never wipe folders under a running mirror pass
            self._workers.stop_all(self._ecs.reset())  # no worker outlives its state
            self._datasync.reset()
            self._studio.reset()
            self._efs_store.reset()
            self._mounts.reset()
            self._metrics.reset()
            self._quotas.reset()
            self._s3_dates.reset()
            self._gateway.forget()

    # -- knobs -----------------------------------------------------------------------------
    @property
    def transition_seconds(self) -> float:
        return self.config.transition_seconds

    def configure(
        self,
        transition_seconds: float | None = None,
        replication_interval_seconds: float | None = None,
        client_connections_interval_seconds: float | None = None,
    ) -> None:
        self.config.update(transition_seconds, replication_interval_seconds,
                           client_connections_interval_seconds)
        self._replicator.wake()  # a shorter interval applies now, not after the old one

    def set_transition_seconds(self, seconds: float) -> None:
        self.configure(transition_seconds=seconds)

    def set_replication_interval(self, seconds: float) -> None:
        self.configure(replication_interval_seconds=seconds)

    def set_cloudtrail_delay(self, seconds: float) -> None:
        """How long after a SageMaker or EFS call its CloudTrail event reaches
        EventBridge (default 0; CloudTrail's own delivery takes seconds on AWS)."""
        if seconds < 0:
            raise ValueError("the CloudTrail delay must be >= 0")
        self.config.cloudtrail_delay_seconds = float(seconds)

    def drain_cloudtrail(self, timeout: float = 5.0) -> None:
        """Wait until the CloudTrail events of the calls made so far are delivered."""
        self._cloudtrail.drain(timeout)
    def set_notebook_script_timeout(self, seconds: float) -> None:
        """How long a notebook lifecycle script may run (AWS: 5 minutes); reset restores it."""
        if seconds <= 0:
            raise ValueError("a lifecycle script's time limit must be positive")
        self._notebooks.script_timeout_seconds = float(seconds)

    def notebook_folder(self, name: str, region: str = "us-east-1",
                        account: str = DEFAULT_ACCOUNT) -> Path:
        """A notebook instance's local folder: SageMaker/ is its volume (see notebook_runtime)."""
        return self._notebooks.folder(account, region, name)

    def config_snapshot(self) -> dict[str, Any]:
        return {
            "endpoint_url": self.endpoint_url,
            "efs_root": str(self.efs_root),
            "transition_seconds": self.config.transition_seconds,
            "replication_interval_seconds": self.config.replication_interval_seconds,
            "client_connections_interval_seconds":
                self.config.client_connections_interval_seconds,
        }

    @contextmanager
    def replication_paused(self) -> Iterator[None]:
        """No replication pass runs meanwhile (API calls still do): for staging a replica."""
        with self._replicator.paused():
            yield

    def sync_replication(self) -> int:
        """Mirror every active replication once, now, in this thread (no waiting on the timer)."""
        return self._replicator.sync_now()

    # -- mounts and ClientConnections --------------------------------------------------------
    def mount(
        self,
        file_system_id: str,
        region: str = "us-east-1",
        *,
        client_id: str | None = None,
        principal: str | None = None,
        read_only: bool = False,
        subnet_ids: Sequence[str] = (),
        security_groups: Iterable[str] = (),
        account: str = DEFAULT_ACCOUNT,
    ) -> str:
        """Connect a client (a worker task) as EFS would: raises MountRefused when no
        available mount target is reachable or the file system policy refuses it now.
        `principal` is an IAM principal ARN (an IAM-authorized mount); None: anonymous."""
        client = self._mounts.mount(region, file_system_id, client_id=client_id,
                                    principal=principal, read_only=read_only,
                                    account=account, subnet_ids=subnet_ids,
                                    security_groups=security_groups)
        self._metrics.publish_now()
        return client

    def unmount(self, client_id: str) -> int:
        """Disconnect the client from everything it mounted; returns how many mounts."""
        ended = self._mounts.unmount(client_id)
        self._metrics.publish_now()
        return ended

    def mounts(self) -> list[dict[str, Any]]:
        """The mounts active now: client id, account, region, file system, principal, ..."""
        return [m.describe() for m in self._mounts.mounts()]

    def publish_client_connections(self) -> int:
        """Publish AWS/EFS ClientConnections now (changes since the last pass, and what is
        due); returns how many data points."""
        return self._metrics.publish_now()

    def set_client_connections_interval(self, seconds: float) -> None:
        self.configure(client_connections_interval_seconds=seconds)

    def set_service_quota(self, service_code: str, quota_code: str, value: float,
                          region: str = "us-east-1", account: str = DEFAULT_ACCOUNT) -> None:
        """The applied value GetServiceQuota answers for an EFS quota the emulator knows
        (service_quotas.KNOWN): an account whose quota is nearly used up."""
        self._quotas.set_applied(account, region, service_code, quota_code, value)

    # -- faults and counts -----------------------------------------------------------------
    def set_faults(
        self,
        rate: float,
        kinds: Iterable[str] = ("throttle", "5xx"),
        services: Iterable[str] | None = None,
        operations: Iterable[str] | None = None,
        seed: int = 0,
        timeout_seconds: float = 1.0,
        regions: Iterable[str] | None = None,
    ) -> None:
        self._faults.set(rate, kinds, services, operations, seed, timeout_seconds, regions)

    def clear_faults(self) -> None:
        self._faults.clear()

    # -- AWS's speed -------------------------------------------------------------------------
    def set_latency_model(
        self,
        latency: bool = True,
        rate_limits: bool = True,
        scale: float = 1.0,
        jitter: float = 0.2,
        seed: int = 0,
        latencies: Mapping[str, float] | None = None,
        rates: Mapping[str, Iterable[float] | None] | None = None,
    ) -> None:
        """Answer as slowly as AWS and throttle as AWS would (pacing.py). `latencies`
        ({"sagemaker:Create*": 0.3}) and `rates` ({"sagemaker:CreateUserProfile":
        [capacity, per_second]}, None for no limit) override the default tables; `scale`
        multiplies every latency. Buckets start full."""
        self._pacer.set(plan_from(latency, rate_limits, scale, jitter, seed, latencies, rates))

    def clear_latency_model(self) -> None:
        """Back to the emulator's own speed, no rate limits."""
        self._pacer.set(None)

    def latency_model_snapshot(self) -> dict[str, Any]:
        """The model in force and how many calls it throttled, by "service:Operation"."""
        return self._pacer.describe()

    def faults_snapshot(self) -> dict[str, Any]:
        return self._faults.describe()

    def request_counts(self) -> dict[str, int]:
        return self._counter.snapshot()

    def reset_request_counts(self) -> None:
        self._counter.reset()

    def set_model_checks(self, enabled: bool) -> None:
        """Turn the model check (validation.py) off or back on: only to measure what it
        costs (bench/model_validation.py). AWS always checks; tests never turn it off."""
        self._checks[:] = [self._model_check] if enabled else []

    # -- lifetime ------------------------------------------------------------------------
    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self._workers.stop_all(self._ecs.tasks())
        self._notebooks.stop_all()  # no notebook instance's script outlives the emulator
        self._replicator.stop()
        self._metrics.stop()
        self._cloudtrail.stop()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def __enter__(self) -> Emulator:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()


def start_emulator(
    data_dir: Path,
    port: int = 0,
    host: str = "127.0.0.1",
    transition_seconds: float = 0.0,
    replication_interval_seconds: float = 1.0,
    latency_model: bool | PacingPlan = False,
) -> Emulator:
    """Start moto and the extensions on host:port (0 = a free port) and return at once.
    `latency_model` True (AWS's latencies and rate limits, pacing.py) or a PacingPlan
    puts the model on from the start and after every reset."""
    # moto otherwise loads ~1,300 EC2 AMIs per region on every reset (0.2-0.4 s each);
    # nothing the operator does launches instances. Set it to "true" first to keep them.
    os.environ.setdefault("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
    plan = latency_model if isinstance(latency_model, PacingPlan) else (
        PacingPlan() if latency_model else None)
    emulator = Emulator(
        Path(data_dir), host, port, transition_seconds, replication_interval_seconds, plan
    )
    emulator._start()
    # moto keeps its state per process, not per server: a new emulator must not see what
    # an earlier one in the same process (a test, a drill) left behind.
    emulator.reset()
    return emulator
