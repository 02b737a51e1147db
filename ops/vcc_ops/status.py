"""``vcc status``: what is running in a local province, and is it healthy."""

from __future__ import annotations

import asyncio
import urllib.request
from pathlib import Path
from typing import Any

import psutil
from rich.console import Console
from rich.table import Table

from vcc_ops.launcher import SERVICE_KINDS, STATE_FILE, RunState
from vcc_ops.target import ops_tls
from vcc_proto.pki import PkiError
from vcc_proto.server import check_health
from vcc_proto.tls import ClientTls


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False


def _node_health(
    kind: str, grpc: str, metrics: str, alive: bool, tls: ClientTls | None = None
) -> str:
    if not alive:
        return "down"
    if kind in SERVICE_KINDS:
        ok = asyncio.run(check_health(grpc, timeout_s=2.0, tls=tls))
        return "healthy" if ok else "unhealthy"
    if metrics:
        return "healthy" if _http_ok(metrics) else "unhealthy"
    return "running"


def collect_status(workdir: Path) -> dict[str, Any]:
    """Read the state file and probe every process; never raises for a dead province."""
    path = workdir / STATE_FILE
    if not path.exists():
        return {"running": False, "reason": f"no province running in {workdir}", "nodes": []}
    state = RunState.read(path)
    launcher_alive = psutil.pid_exists(state.launcher_pid)
    try:
        tls = ops_tls(workdir)
    except PkiError:  # its certificate is gone: the nodes show as unhealthy
        tls = None
    nodes = []
    for node in state.nodes:
        alive = node.pid is not None and psutil.pid_exists(node.pid)
        nodes.append(
            {
                "name": node.name,
                "kind": node.kind,
                "pid": node.pid,
                "health": _node_health(node.kind, node.grpc, node.metrics, alive, tls),
                "grpc": node.grpc,
                "metrics": node.metrics,
                "log": node.log,
            }
        )
    return {
        "running": launcher_alive,
        "reason": "" if launcher_alive else "launcher is not running (stale state file)",
        "launcher_pid": state.launcher_pid,
        "province": state.province,
        "nats_url": state.nats_url,
        "etcd_endpoints": state.etcd_endpoints,
        "grpc_security": "mutual TLS" if state.tls else "PLAINTEXT (--insecure)",
        "nodes": nodes,
    }


def render_status(report: dict[str, Any]) -> None:
    console = Console()
    if not report["nodes"]:
        console.print(report["reason"])
        return
    table = Table(title=f"vcc province ({'running' if report['running'] else 'NOT running'})")
    for col in ("name", "kind", "pid", "health", "grpc", "metrics"):
        table.add_column(col)
    for n in report["nodes"]:
        colour = {"healthy": "green", "down": "red"}.get(n["health"], "yellow")
        table.add_row(
            n["name"],
            n["kind"],
            str(n["pid"]),
            f"[{colour}]{n['health']}[/]",
            n["grpc"],
            n["metrics"],
        )
    console.print(table)
    if report["reason"]:
        console.print(report["reason"])
