"""``vcc bench sip``: SIPp callers through the SIP edge to one site, SIPp agent phones.

A local province of one site (etcd, NATS, the hub, the site), its SIP agent serving
``agents`` general agents' phones, and the SIP edge (Kamailio). One SIPp process is every
phone (each agent registers its extension with that process's address); one SIPp caller
process offers ``calls`` calls at ``rate`` per second from the trunk, each keying 0 at
the main menu (to an agent) by SIP INFO; the phone answers, talks 0.3 s and hangs up.

Reported: ``sip_calls_per_s`` (calls completed per wall second of the caller run), the
post-dial delay (INVITE -> 180) and setup (INVITE -> 200, the site answering) p50/p99
from SIPp's per-call response times, and the CPU milliseconds per call of the site, its
SIP agent, the SIP edge's Python process and Kamailio (all its processes).
"""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

from vcc_domain.errors import ConfigError
from vcc_ops.infra import free_port
from vcc_ops.infra.ports import HOST
from vcc_ops.launcher import ProvinceLauncher
from vcc_ops.sip_launch import start_sip
from vcc_ops.sipp import INSTALL, caller_scenario, missing_tools, scenario

SIPP_SLACK_S = 60


def _sipp(xml: Path, port: int, *rest: str) -> list[str]:
    return ["sipp", "-sf", str(xml), "-i", HOST, "-p", str(port), "-nostdin", *rest]


def _cpu_s(pids: list[int]) -> float:
    """User + system CPU seconds of ``pids`` and their children."""
    total = 0.0
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            proc = psutil.Process(pid)
            for p in [proc, *proc.children(recursive=True)]:
                with contextlib.suppress(psutil.Error):
                    times = p.cpu_times()
                    total += times.user + times.system
    return total


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _response_times(workdir: Path) -> dict[str, list[float]]:
    """SIPp's ``-trace_rtt`` files: response time (ms) lists by rtd name."""
    found: dict[str, list[float]] = {}
    for path in workdir.glob("caller-*_rtt.csv"):
        for line in path.read_text().splitlines()[1:]:
            parts = line.split(";")
            if len(parts) >= 3:
                with contextlib.suppress(ValueError):
                    found.setdefault(parts[2].strip(), []).append(float(parts[1]))
    return found


def _register(phone_port: int, edge: str, agent_id: str, workdir: Path) -> None:
    done = subprocess.run(
        _sipp(
            scenario("register.xml"),
            free_port(),
            edge,
            "-m",
            "1",
            "-timeout",
            "10s",
            "-timeout_error",
            "-key",
            "agent",
            agent_id,
            "-key",
            "contact",
            f"{HOST}:{phone_port}",
        ),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=30,
        cwd=workdir,
    )
    if done.returncode != 0:
        raise RuntimeError(f"phone of {agent_id} not registered: {done.stderr.decode()[-500:]}")


def run_sip_bench(
    workdir: Path,
    calls: int,
    rate: float,
    agents: int,
    site: str = "KM",
    progress: Callable[[str], None] = lambda _m: None,
) -> dict[str, Any]:
    missing = missing_tools()
    if missing:
        raise ConfigError(f"{' and '.join(missing)} not installed: {INSTALL}", field="sip")
    from vcc_ops.cli import example_province_path

    workdir.mkdir(parents=True, exist_ok=True)
    launcher = ProvinceLauncher(
        example_province_path(), workdir, sites=[site], insecure=True,
        progress=progress,
    )  # fmt: skip
    launcher.start()
    phones: subprocess.Popen[bytes] | None = None
    try:
        secrets = launcher.initial_secrets()
        chosen = [
            a.id for a in launcher.province.agents if a.home_site == site and a.general_level
        ][:agents]
        phones_file = workdir / "phones.txt"
        phones_file.write_text("".join(f"{a} {secrets[a]}\n" for a in chosen))
        phones_file.chmod(0o600)
        trunk_port = free_port()
        edge = start_sip(launcher, f"{HOST}:{trunk_port}", phones={site: phones_file})
        phone_port = free_port()
        phones = subprocess.Popen(
            _sipp(scenario("phone.xml"), phone_port, "-m", str(calls)),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=workdir,
        )
        for agent_id in chosen:
            _register(phone_port, edge, agent_id, workdir)
        pids = {
            "site": launcher.processes[f"site-{site}"].pid,
            "sip_agent": launcher.processes[f"sip-agent-{site}"].pid,
            "sip_edge": launcher.processes["sip-edge"].pid,
        }
        kamailio_pid = int((workdir / "sip" / "kamailio.pid").read_text().strip())
        groups = {k: [p] for k, p in pids.items() if p is not None}
        before = {k: _cpu_s(v) for k, v in groups.items()}
        kam_before = _cpu_s([kamailio_pid])
        progress(f"offering {calls} SIP calls at {rate}/s to {site} ({len(chosen)} phones)")
        xml = caller_scenario(workdir, "0")
        started = time.monotonic()
        done = subprocess.run(
            _sipp(
                xml,
                trunk_port,
                edge,
                "-s",
                "1000",
                "-key",
                "caller",
                "19871435075",
                "-r",
                str(rate),
                "-m",
                str(calls),
                "-trace_rtt",
                "-rtt_freq",
                "1",
                "-timeout",
                f"{int(calls / rate) + SIPP_SLACK_S}s",
            ),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=calls / rate + SIPP_SLACK_S + 30,
            cwd=workdir,
        )
        wall_s = time.monotonic() - started
        after = {k: _cpu_s(v) for k, v in groups.items()}
        kam_cpu = _cpu_s([kamailio_pid]) - kam_before
        failed = done.returncode != 0
        times = _response_times(workdir)
        cpu = {k: (after[k] - before[k]) * 1000 / calls for k in groups}
        # the SIP edge's Python process includes Kamailio (its child): take Kamailio out
        cpu["sip_edge"] -= kam_cpu * 1000 / calls
        cpu["kamailio"] = kam_cpu * 1000 / calls
        return {
            "site": site,
            "calls": calls,
            "rate": rate,
            "phones": len(chosen),
            "sipp_exit": done.returncode,
            "all_calls_completed": not failed,
            "wall_s": round(wall_s, 2),
            "sip_calls_per_s": round(calls / wall_s, 2) if not failed else 0.0,
            "pdd_p50_ms": _percentile(times.get("pdd", []), 0.5),
            "pdd_p99_ms": _percentile(times.get("pdd", []), 0.99),
            "setup_p50_ms": _percentile(times.get("setup", []), 0.5),
            "setup_p99_ms": _percentile(times.get("setup", []), 0.99),
            "cpu_ms_per_call": {k: round(v, 2) for k, v in cpu.items()},
        }
    finally:
        if phones is not None and phones.poll() is None:
            phones.kill()
            phones.wait()
        launcher.stop()
