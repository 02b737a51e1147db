"""Run a whole province locally: infrastructure, the hub, one process per site and the
access edge (``vcc edge``, where callers come in).

Used by ``vcc up``, ``vcc demo`` and the drills. Every service process is a
separate OS process started through :class:`~vcc_ops.infra.process.ManagedProcess`, so a
crash or a SIGKILL of the launcher takes no orphan with it. The launcher writes a state
file (``<workdir>/state.json``) that ``vcc status`` reads.

``cluster=True`` runs 3 NATS servers (JetStream, the province's streams at 3 replicas)
and 3 etcd members, every node given all of them; ``hubs=2`` runs two hub processes that
elect a leader in etcd (sharing the hub database). ``faults=True`` puts a fault-injecting
proxy (:mod:`vcc_ops.drills.proxy`) in front of every server, hub and site: processes
are given (and hubs and sites advertise) the proxies' addresses, so a drill can cut or
slow any link; :meth:`ProvinceLauncher.kill_node` and :meth:`restart_node` kill and
restart one process on the same ports and data.

Every hub, site and edge serves and calls gRPC over mutual TLS with a certificate of the
province PKI the launcher keeps in the workdir (:mod:`vcc_ops.launch_tls`); the launcher
itself, and the client commands reading the state file, present the operator tool's.
``insecure=True`` runs them all in plaintext instead, with a warning.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from vcc_domain.errors import ConfigError, Unavailable
from vcc_domain.province import Province, load_province_file
from vcc_failover.etcd_auth import process_credentials, use_credentials
from vcc_ops.drills.proxy import PROXY_HOST, FaultNet
from vcc_ops.infra.access import ACCESS_FILE, OPS_USER, ProvinceAccess
from vcc_ops.infra.local import require_local_servers
from vcc_ops.infra.ports import HOST, free_port
from vcc_ops.infra.process import ManagedProcess, ServerProcess
from vcc_ops.infra.stack import Infrastructure
from vcc_ops.launch_tls import CHILD_VARIABLES, INSECURE_WARNING, LaunchTls
from vcc_ops.people_secrets import provision, read_sheet
from vcc_ops.web_links import DRILL_REPORTS, console_args, web_args
from vcc_proto.access import Credentials
from vcc_proto.channels import use_client_tls, use_trunk_tls
from vcc_proto.server import check_health
from vcc_proto.tls import ClientTls

log = logging.getLogger(__name__)

STATE_FILE = "state.json"
SERVICE_KINDS = ("hub", "site", "edge")  # our gRPC processes (health-checked)


@dataclass
class NodeRecord:
    """One service process as recorded in the state file."""

    name: str
    kind: str  # "hub" | "site" | "edge" | "nats" | "etcd" | "postgres"
    pid: int | None
    grpc: str = ""
    metrics: str = ""
    log: str = ""
    web: str = ""  # a site's agent desktop URL, a hub's province console


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
    tls: dict[str, str] = field(default_factory=dict)  # launch_tls paths; empty: plaintext

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
        node_env: dict[str, str] | None = None,
        cluster: bool = False,
        hubs: int = 1,
        faults: bool = False,
        edge: bool = True,
        log_format: str | None = None,
        insecure: bool = False,
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
            raise ConfigError(
                f"unknown site(s) {unknown}; the province has {known}", field="--sites"
            )
        self.progress = progress
        # extra environment of every hub and site process (e.g. VCC_TIME_SPEED for vcc demo)
        self.node_env = dict(node_env or {})
        self.cluster = cluster
        self.hub_names = [f"hub-{i}" for i in range(1, max(1, hubs) + 1)]
        self.faults: FaultNet | None = FaultNet() if faults else None
        self.edge_names = ["edge"] if edge else []  # the access edge process(es)
        self.log_format = log_format
        # one NATS and etcd user per node (and ops: this process's drills, vcc commands)
        self.access = ProvinceAccess.generate(self.hub_names, self.site_ids, self.edge_names)
        self._previous_etcd_user: Credentials | None = None
        self.tls = None if insecure else LaunchTls(self.workdir)
        self.client_tls: ClientTls | None = None  # the operator tool's, once started
        self._previous_tls: ClientTls | None = None
        self._previous_trunk: ClientTls | None = None
        self.infra: Infrastructure | None = None
        self.processes: dict[str, ManagedProcess] = {}
        self.state: RunState | None = None

    def initial_secrets(self) -> dict[str, str]:
        """Each person's initial secret as given at start (for the demo's agent bots)."""
        return read_sheet(self.workdir)

    @property
    def state_path(self) -> Path:
        return self.workdir / STATE_FILE

    def start(self, health_timeout_s: float = 90.0) -> RunState:
        require_local_servers(self.use_postgres)
        self.workdir.mkdir(parents=True, exist_ok=True)
        (self.workdir / "logs").mkdir(exist_ok=True)
        self._prepare_tls()
        for line in provision(self.province, self.site_ids, self.workdir / "data", self.workdir):
            self.progress(line)  # people's initial secrets (none in the province file)
        self.progress(
            "starting NATS JetStream and etcd" + (" and PostgreSQL" if self.use_postgres else "")
        )
        self.infra = Infrastructure(
            self.workdir / "infra",
            postgres=self.use_postgres,
            nats_sync_interval=self.nats_sync_interval,
            cluster=self.cluster,
            access=self.access,
            tls=self.tls.infra() if self.tls is not None else None,
        )
        self.infra.start()
        self.access.write_ops_file(self.workdir)
        self._previous_etcd_user = process_credentials()
        use_credentials(self.access.user(OPS_USER).credentials)
        self._proxy_infrastructure()
        self.state = RunState(
            launcher_pid=os.getpid(),
            started_at=time.time(),
            province=str(self.province_file),
            workdir=str(self.workdir),
            nats_url=self.nats_url,
            etcd_endpoints=self.etcd_endpoints,
            postgres_url=self.infra.postgres_url,
            nodes=self._infra_records(),
            tls=self.tls.record() if self.tls is not None else {},
        )
        for i, hub_name in enumerate(self.hub_names):
            self._start_node("hub", hub_name, None)
            if i == 0 and len(self.hub_names) > 1:  # the first hub migrates the shared
                self.wait_healthy(health_timeout_s)  # database before the others open it
        for site_id in self.site_ids:
            self._start_node("site", f"site-{site_id}", site_id)
        for edge_name in self.edge_names:
            self._start_node("edge", edge_name, None)
        self.state.write(self.state_path)
        self.progress("waiting for the hub, every site and the edge to report healthy")
        self.wait_healthy(health_timeout_s)
        self.state.write(self.state_path)
        return self.state

    def _prepare_tls(self) -> None:
        """The PKI and the operator tool's certificate, used by every call made in this
        process from here to :meth:`stop` (or the plaintext warning)."""
        if self.tls is None:
            self.progress(f"WARNING {INSECURE_WARNING}")
            log.warning(INSECURE_WARNING)
        else:
            self.client_tls = self.tls.prepare(self.province.name)
        self._previous_tls = use_client_tls(self.client_tls)
        self._previous_trunk = use_trunk_tls(None if self.tls is None else self.tls.trunk())

    def _infra_records(self) -> list[NodeRecord]:
        assert self.infra is not None
        infra = self.infra
        one = not self.cluster
        records = [
            NodeRecord(
                "nats" if one else n.server_name,
                "nats",
                n.pid,
                metrics=f"http://127.0.0.1:{n.monitor_port}/healthz",
                log=str(n.log_path),
            )
            for n in infra.nats_servers
        ] + [
            NodeRecord(
                "etcd" if one else m.name,
                "etcd",
                m.pid,
                metrics=m.health_url,
                log=str(m.log_path),
            )
            for m in infra.etcd_members
        ]
        if infra.postgres is not None:
            records.append(NodeRecord("postgres", "postgres", infra.postgres.pid))
        return records

    # -- connection paths (through the fault proxies with faults=True) -------------------

    def _proxy_infrastructure(self) -> None:
        """A proxy in front of every NATS server and etcd member, on the same port."""
        assert self.infra is not None
        if self.faults is None:
            return
        for n in self.infra.nats_servers:
            self.faults.add(n.server_name, n.port, (HOST, n.port))
            self.faults.names.register(n.pid, n.server_name)
        for m in self.infra.etcd_members:
            self.faults.add(m.name, m.client_port, (HOST, m.client_port))
            self.faults.names.register(m.pid, m.name)

    @property
    def nats_url(self) -> str:
        """The NATS URLs the nodes are given (the proxies' with faults=True)."""
        assert self.infra is not None
        return self._via_proxy(self.infra.nats_url)

    @property
    def etcd_endpoints(self) -> list[str]:
        assert self.infra is not None
        return [self._via_proxy(e) for e in self.infra.etcd_endpoints]

    def _via_proxy(self, address: str) -> str:
        return address.replace(HOST, PROXY_HOST) if self.faults is not None else address

    def _database_url(self, name: str) -> str | None:
        if self.infra is None or self.infra.postgres is None:
            return None
        if name.startswith("hub-"):
            name = "hub"  # the hubs share one database (fenced writes)
        return self.infra.postgres.create_database(name.replace("-", "_").lower())

    def _start_node(self, kind: str, name: str, site_id: str | None) -> None:
        assert self.infra is not None and self.state is not None
        grpc_port, metrics_port = free_port(), free_port()
        log_path = self.workdir / "logs" / f"{name}.log"
        args = [
            "--province", str(self.province_file),
            "--data-dir", str(self.workdir / "data"),
            "--etcd", ",".join(self.etcd_endpoints),
            "--grpc-port", str(grpc_port),
            "--metrics-port", str(metrics_port),
            "--log-file", str(log_path),
            "--node-id", name,
        ]  # fmt: skip
        if self.log_format:
            args += ["--log-format", self.log_format]
        if kind != "edge":  # the edge talks to etcd and the sites only
            args += ["--nats", self.nats_url]
        web_url = ""
        if site_id is not None:
            web, web_url = web_args(site_id, self.tls)
            args += ["--site", site_id, *web]
        elif kind == "hub":
            web, web_url = console_args(self.tls, self.workdir / DRILL_REPORTS)
            args += web
        args += self.tls.process_args(kind, name, site_id) if self.tls else ["--insecure"]
        if self.cluster and kind != "edge":
            args += ["--stream-replicas", str(len(self.infra.nats_servers))]
        if self.faults is not None:  # others reach this node through its proxy
            args += ["--advertise-host", PROXY_HOST]
            self.faults.add(name, grpc_port, (HOST, grpc_port))
        db = self._database_url(name) if kind != "edge" else None
        if db:
            args += ["--db", db]
        env = {k: v for k, v in {**os.environ, **self.node_env}.items() if k not in CHILD_VARIABLES}
        env |= self.access.env_for(name)
        proc = ManagedProcess(name, node_argv(kind, args), log_path.with_suffix(".out"), env=env)
        proc.start()
        if self.faults is not None:  # the proxies name its connections
            self.faults.names.register(proc.pid, name)
        self.processes[name] = proc
        self.state.nodes.append(
            NodeRecord(
                name=name,
                kind=kind,
                pid=proc.pid,
                grpc=f"127.0.0.1:{grpc_port}",
                metrics=f"127.0.0.1:{metrics_port}",
                log=str(log_path),
                web=web_url,
            )
        )
        self.progress(f"started {name} (pid {proc.pid})")

    @property
    def edge_endpoint(self) -> str:
        """Where callers reach the access edge process (directly, not through a proxy)."""
        if not self.edge_names:
            raise ConfigError("this province runs no access edge", field="edge")
        return self.node(self.edge_names[0]).grpc

    def wait_healthy(self, timeout_s: float) -> None:
        assert self.state is not None
        pending = {n.name: n for n in self.state.nodes if n.kind in SERVICE_KINDS}
        deadline = time.monotonic() + timeout_s
        while pending:
            for name, node in list(pending.items()):
                proc = self.processes[name]
                if not proc.alive:
                    raise Unavailable(f"{name} exited during start; see {node.log}")
                if asyncio.run(check_health(node.grpc, 1.0, tls=self.client_tls, pid=proc.pid)):
                    self.progress(f"{name} healthy at {node.grpc}")
                    del pending[name]
            if pending and time.monotonic() > deadline:
                raise Unavailable(f"not healthy after {timeout_s:.0f} s: {sorted(pending)}")
            if pending:
                time.sleep(0.2)

    # -- faults ---------------------------------------------------------------------------

    def node(self, name: str) -> NodeRecord:
        assert self.state is not None
        for record in self.state.nodes:
            if record.name == name:
                return record
        raise ConfigError(f"no process named {name!r}", field="node")

    def kill_node(self, name: str) -> None:
        """SIGKILL one hub, site or edge process (its whole process group)."""
        self.processes[name].kill()
        self.progress(f"killed {name}")

    def restart_node(self, name: str, health_timeout_s: float = 60.0) -> None:
        """Start a killed (or stopped) hub, site or edge again with the same ports and data."""
        proc = self.processes[name]
        if proc.alive:
            proc.stop(timeout=10)
        proc.start()
        self.node(name).pid = proc.pid
        if self.faults is not None:
            self.faults.names.register(proc.pid, name)
        record = self.node(name)
        deadline = time.monotonic() + health_timeout_s
        while not asyncio.run(check_health(record.grpc, 1.0, tls=self.client_tls, pid=proc.pid)):
            if not proc.alive or time.monotonic() > deadline:
                raise Unavailable(f"{name} did not come back healthy; see {record.log}")
            time.sleep(0.2)
        if self.state is not None:
            self.state.write(self.state_path)
        self.progress(f"restarted {name} (pid {proc.pid})")

    def infra_server(self, name: str) -> ServerProcess:
        """A NATS server (``nats0``...) or etcd member (``etcd0``...) or ``postgres``."""
        assert self.infra is not None
        servers: dict[str, ServerProcess] = {n.server_name: n for n in self.infra.nats_servers}
        servers.update({m.name: m for m in self.infra.etcd_members})
        if self.infra.postgres is not None:
            servers["postgres"] = self.infra.postgres
        if name not in servers:
            raise ConfigError(f"no server named {name!r}; have {sorted(servers)}", field="node")
        return servers[name]

    def reregister_infra(self, name: str) -> None:
        """After a NATS/etcd server restarted: its new pid names its connections."""
        server = self.infra_server(name)
        if self.faults is not None:
            self.faults.names.register(server.pid, name)
        for record in self.state.nodes if self.state is not None else []:
            if record.name == name:
                record.pid = server.pid

    def stop(self) -> None:
        for name in reversed(list(self.processes)):
            self.progress(f"stopping {name}")
            self.processes[name].stop(timeout=10)
        self.processes.clear()
        if self.infra is not None:
            self.progress("stopping infrastructure")
            self.infra.stop()
            self.infra = None
        if self.faults is not None:
            self.faults.stop()
        self.state_path.unlink(missing_ok=True)
        (self.workdir / ACCESS_FILE).unlink(missing_ok=True)
        use_credentials(self._previous_etcd_user)
        use_client_tls(self._previous_tls)
        use_trunk_tls(self._previous_trunk)
