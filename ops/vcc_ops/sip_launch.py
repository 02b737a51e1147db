"""``vcc up --sip``: the SIP access beside a started province (README, "SIP edge").

One ``vcc sip-agent`` per site (on a free loopback port, talking to its site's gRPC
port) and one ``vcc sip-edge`` (Kamailio) routing the trunk's callers by the province's
etcd routing map, with the access edge's etcd user. Under the launcher's mutual TLS each
gets a certificate from its PKI: a site's agent offers callers' calls as an access edge
(``edge/sip-<SITE>``: the site trusts a caller's number only from an edge) and signs its
phones in as an operator gateway (``ops/sip-<SITE>``, as the web desk does); the SIP edge
reads etcd as ``edge/sip-edge``. With ``--insecure`` they run plaintext, as the rest.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from vcc_domain.errors import ConfigError, Unavailable
from vcc_ops.infra import ManagedProcess, free_port
from vcc_ops.infra.ports import HOST
from vcc_ops.launch_tls import CHILD_VARIABLES
from vcc_ops.launcher import ProvinceLauncher
from vcc_proto import pki

READY_TIMEOUT_S = 60.0


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "vcc_ops.cli", *args]


def _wait_ready(path: Path, proc: ManagedProcess) -> str:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while not path.exists():
        if not proc.alive or time.monotonic() > deadline:
            raise Unavailable(f"{proc.name} did not start; see {proc.log_path}")
        time.sleep(0.1)
    return path.read_text().strip()


def _tls_args(launcher: ProvinceLauncher, who: pki.Identity) -> list[str]:
    if launcher.tls is None:
        return ["--insecure"]
    return ["--tls-dir", str(launcher.tls.certificate(who))]


def agent_tls_args(launcher: ProvinceLauncher, site: str) -> list[str]:
    """A site's SIP agent's certificates: an access edge for its callers, an operator
    gateway for its phones' desk sessions."""
    args = _tls_args(launcher, pki.identity("edge", f"sip-{site}"))
    if launcher.tls is not None:
        desk = launcher.tls.certificate(pki.identity("ops", f"sip-{site}"))
        args += ["--desk-tls-dir", str(desk)]
    return args


def start_sip(launcher: ProvinceLauncher, trunk: str, phones: dict[str, Path] | None = None) -> str:
    """Start every site's SIP agent (with the site's phones file from ``phones``, if any)
    and the SIP edge; returns the edge's ``host:port`` (where the trunk sends its
    INVITEs). The processes join the launcher's, so ``launcher.stop()`` stops them."""
    if launcher.state is None or not launcher.edge_names:
        raise ConfigError("start the province, with its access edge, first", field="--sip")
    edge_user = launcher.edge_names[0]  # reads the routing map and site registrations
    sip_dir = launcher.workdir / "sip"
    sip_dir.mkdir(parents=True, exist_ok=True)
    logs = launcher.workdir / "logs"
    edge_port = free_port()
    site_sip: dict[str, str] = {}
    agents: list[tuple[Path, ManagedProcess]] = []
    env = {k: v for k, v in os.environ.items() if k not in CHILD_VARIABLES}  # given as flags
    env["SIPLOG_BEND"] = "none"
    for site in launcher.site_ids:
        port, name = free_port(), f"sip-agent-{site}"
        ready = sip_dir / f"{name}.ready"
        ready.unlink(missing_ok=True)
        argv = _cli(
            "sip-agent",
            "--site-grpc", launcher.node(f"site-{site}").grpc,
            "--port", str(port),
            "--edge", f"{HOST}:{edge_port}",
            "--ready-file", str(ready),
            "--log-file", str(logs / f"{name}.log"),
            "--etcd", ",".join(launcher.etcd_endpoints),
        )  # fmt: skip
        argv += agent_tls_args(launcher, site)
        if phones and site in phones:
            argv += ["--phones", str(phones[site])]
        proc = ManagedProcess(
            name, argv, logs / f"{name}.out", env={**env, **launcher.access.env_for(edge_user)}
        )
        proc.start()
        launcher.processes[name] = proc
        agents.append((ready, proc))
        site_sip[site] = f"{HOST}:{port}"
    for ready, proc in agents:
        _wait_ready(ready, proc)
    ready = sip_dir / "sip-edge.ready"
    ready.unlink(missing_ok=True)
    argv = _cli(
        "sip-edge",
        "--province", str(launcher.province_file),
        "--etcd", ",".join(launcher.etcd_endpoints),
        "--site-sip", ",".join(f"{s}={a}" for s, a in site_sip.items()),
        "--trunk", trunk,
        "--sip-port", str(edge_port),
        "--workdir", str(sip_dir),
        "--log-file", str(logs / "sip-edge.log"),
        *_tls_args(launcher, pki.identity("edge", "sip-edge")),
    )  # fmt: skip
    edge = ManagedProcess(
        "sip-edge",
        argv,
        logs / "sip-edge.out",
        env={**env, **launcher.access.env_for(edge_user)},
    )
    edge.start()
    launcher.processes["sip-edge"] = edge
    return _wait_ready(ready, edge)
