"""Run a whole province locally: infrastructure, the hub and one process per site.

Used by ``vcc up`` (and later ``vcc demo`` and the drills). Every service process is a
separate OS process started through :class:`~vcc_ops.infra.process.ManagedProcess`, so a
crash or a SIGKILL of the launcher takes no orphan with it. The launcher writes a state
file (``<workdir>/state.json``) that ``vcc status`` reads.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from vcc_domain.errors import ConfigError, Unavailable
from vcc_domain.province import Province, load_province_file
from vcc_ops.infra.ports import free_port
from vcc_ops.infra.process import ManagedProcess
from vcc_ops.infra.stack import Infrastructure
from vcc_proto.server import check_health

STATE_FILE = "state.json"


@dataclass
class NodeRecord:
    """One service process as recorded in the state file."""

    name: str
    kind: str  # "hub" | "site" | "nats" | "etcd" | "postgres"
    pid: int | None
    grpc: str = ""
    metrics: str = ""
    log: str = ""


@dataclass
class RunState:
    launcher_pid: int
    started_at: float
    province: str
    workdir: str
    nats_url: str
    etcd_endpoints: list[str]
    postgres_url: str | None
    nodes: list[NodeRecord] = field(default_factory=list)

    def write(self, path: Path) -> None:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2))
        tmp.replace(path)

    @classmethod
    def read(cls, path: Path) -> RunState:
        raw = json.loads(path.read_text())
        nodes = [NodeRecord(**n) for n in raw.pop("nodes")]
        return cls(nodes=nodes, **raw)


def node_argv(kind: str, args: list[str]) -> list[str]:
    """The command line that runs one hub or site process with this interpreter."""
    return [sys.executable, "-m", "vcc_ops.cli", kind, *args]


class ProvinceLauncher:
    """Starts and stops a local province. Not thread-safe; one per process."""

    def __init__(
        self,
        province_file: Path,
        workdir: Path,
        *,
        postgres: bool = False,
        nats_sync_interval: str | None = None,
        sites: list[str] | None = None,
        progress: Callable[[str], None] = lambda _msg: None,
    ) -> None:
        self.province_file = province_file.resolve()
        self.province: Province = load_province_file(self.province_file)  # validates first
        self.workdir = workdir.resolve()
        self.use_postgres = postgres
        self.nats_sync_interval = nats_sync_interval
        known = [s.id for s in self.province.sites]
        self.site_ids = sites or known
        unknown = [s for s in self.site_ids if s not in known]
        if unknown:
            raise ConfigError(f"unknown site(s) {unknown}; the province has {known}", field="--sites")
        self.progress = progress
        self.infra: Infrastructure | None = None
        self.processes: dict[str, ManagedProcess] = {}
        self.state: RunState | None = None

    @property
    def state_path(self) -> Path:
        return self.workdir / STATE_FILE

    def start(self, health_timeout_s: float = 90.0) -> RunState:
        self.workdir.mkdir(parents=True, exist_ok=True)
        (self.workdir / "logs").mkdir(exist_ok=True)
        self.progress("starting NATS JetStream and etcd" + (" and PostgreSQL" if self.use_postgres else ""))
        self.infra = Infrastructure(
            self.workdir / "infra",
            postgres=self.use_postgres,
            nats_sync_interval=self.nats_sync_interval,
        )
        self.infra.start()
        self.state = RunState(
            launcher_pid=os.getpid(),
            started_at=time.time(),
            province=str(self.province_file),
            workdir=str(self.workdir),
            nats_url=self.infra.nats_url,
            etcd_endpoints=list(self.infra.etcd_endpoints),
            postgres_url=self.infra.postgres_url,
            nodes=self._infra_records(),
        )
        self._start_node("hub", "hub-1", None)
        for site_id in self.site_ids:
            self._start_node("site", f"site-{site_id}", site_id)
        self.state.write(self.state_path)
        self.progress("waiting for the hub and every site to report healthy")
        self.wait_healthy(health_timeout_s)
        self.state.write(self.state_path)
        return self.state

    def _infra_records(self) -> list[NodeRecord]:
        assert self.infra is not None
        infra = self.infra
        records = [
            NodeRecord("nats", "nats", infra.nats.pid, metrics=f"http://127.0.0.1:{infra.nats.monitor_port}/healthz",
                       log=str(infra.nats.log_path)),
            NodeRecord("etcd", "etcd", infra.etcd.pid, metrics=f"{infra.etcd.client_url}/health",
                       log=str(infra.etcd.log_path)),
        ]
        if infra.postgres is not None:
            records.append(NodeRecord("postgres", "postgres", infra.postgres.pid))
        return records

    def _database_url(self, name: str) -> str | None:
        if self.infra is None or self.infra.postgres is None:
            return None
        return self.infra.postgres.create_database(name.replace("-", "_").lower())

    def _start_node(self, kind: str, name: str, site_id: str | None) -> None:
        assert self.infra is not None and self.state is not None
        grpc_port, metrics_port = free_port(), free_port()
        log_path = self.workdir / "logs" / f"{name}.log"
        args = [
            "--province", str(self.province_file),
            "--data-dir", str(self.workdir / "data"),
            "--nats", self.infra.nats_url,
            "--etcd", ",".join(self.infra.etcd_endpoints),
            "--grpc-port", str(grpc_port),
            "--metrics-port", str(metrics_port),
            "--log-file", str(log_path),
            "--node-id", name,
        ]  # fmt: skip
        if site_id is not None:
            args += ["--site", site_id]
        db = self._database_url(name)
        if db:
            args += ["--db", db]
        proc = ManagedProcess(name, node_argv(kind, args), log_path.with_suffix(".out"))
        proc.start()
        self.processes[name] = proc
        self.state.nodes.append(
            NodeRecord(
                name=name,
                kind=kind,
                pid=proc.pid,
                grpc=f"127.0.0.1:{grpc_port}",
                metrics=f"127.0.0.1:{metrics_port}",
                log=str(log_path),
            )
        )
        self.progress(f"started {name} (pid {proc.pid})")

    def wait_healthy(self, timeout_s: float) -> None:
        assert self.state is not None
        pending = {n.name: n for n in self.state.nodes if n.kind in ("hub", "site")}
        deadline = time.monotonic() + timeout_s
        while pending:
            for name, node in list(pending.items()):
                proc = self.processes[name]
                if not proc.alive:
                    raise Unavailable(f"{name} exited during start; see {node.log}")
                if asyncio.run(check_health(node.grpc, timeout_s=1.0)):
                    self.progress(f"{name} healthy at {node.grpc}")
                    del pending[name]
            if pending and time.monotonic() > deadline:
                raise Unavailable(f"not healthy after {timeout_s:.0f} s: {sorted(pending)}")
            if pending:
                time.sleep(0.2)

    def stop(self) -> None:
        for name in reversed(list(self.processes)):
            self.progress(f"stopping {name}")
            self.processes[name].stop(timeout=10)
        self.processes.clear()
        if self.infra is not None:
            self.progress("stopping infrastructure")
            self.infra.stop()
            self.infra = None
        if self.state_path.exists():
            self.state_path.unlink()
