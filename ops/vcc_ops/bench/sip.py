"""``vcc bench sip``: SIPp callers through the SIP edge to one site, SIPp agent phones.

A local province of one site (etcd, NATS, the hub, the site), its SIP agent serving
``agents`` general agents' phones, and the SIP edge (Kamailio). One SIPp process is every
phone (each agent registers its extension with that process's address). The callers come
in steps: for each rate of the ramp, one SIPp caller process offers ``rate * step_s``
calls at that rate from the trunk, each keying 0 at the main menu (to an agent) by SIP
INFO; the phone answers, talks 0.3 s and hangs up. The ramp stops at the first step that
was not sustained (:mod:`vcc_ops.bench.sip_ramp` says when one is).

Reported per step and, as the headline, for the highest sustained one:
``sip_calls_per_s`` (completions per second), the post-dial delay (INVITE -> 180) and
setup (INVITE -> 200, the site answering) p50/p99 from SIPp's per-call response times,
and the CPU milliseconds per completed call of the site, its SIP agent, the SIP edge's
Python process, Kamailio (all its processes), the hub and NATS (the site's events
replicated) and SIPp (callers and phones: the load's own
share of the machine).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import resource
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

from vcc_domain.errors import ConfigError
from vcc_ops.bench.sip_ramp import Row, parse_rtt, step_figures, summary
from vcc_ops.infra import free_port
from vcc_ops.infra.ports import HOST
from vcc_ops.launcher import ProvinceLauncher
from vcc_ops.sip_launch import start_sip
from vcc_ops.sipp import INSTALL, caller_scenario, missing_tools, scenario
from vcc_ops.traffic.seat import open_seat
from vcc_proto.channels import open_channel
from vcc_proto.v1 import people_pb2_grpc as pg
from vcc_proto.v1 import site_pb2 as s
from vcc_proto.v1 import site_pb2_grpc as sg

SIPP_SLACK_S = 60
IDLE_S = 5.0  # CPU measured without calls before the ramp


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


def _step(
    workdir: Path, xml: Path, trunk_port: int, edge: str, number: int, rate: float, step_s: float
) -> tuple[int, list[Row]]:
    """One caller run of ``rate * step_s`` calls at ``rate``: SIPp's exit and its rows
    (its output and unexpected messages stay in the step's folder)."""
    calls = max(1, round(rate * step_s))
    into = workdir / f"step-{number:02d}"
    into.mkdir(parents=True, exist_ok=True)
    for old in into.glob("*_rtt.csv"):
        old.unlink()
    argv = _sipp(
        xml, trunk_port, edge,
        "-s", "1000", "-key", "caller", "19871435075",
        "-r", f"{rate:g}", "-l", str(calls), "-m", str(calls),
        "-trace_rtt", "-rtt_freq", "1", "-trace_err",
        "-timeout", f"{int(step_s) + SIPP_SLACK_S}s",
    )  # fmt: skip
    done = subprocess.run(
        argv,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=step_s + SIPP_SLACK_S + 30,
        cwd=into,
    )
    (into / "sipp.out").write_bytes(done.stdout[-20000:] + done.stderr[-20000:])
    rows = [
        row for path in into.glob("*_rtt.csv") for row in parse_rtt(path.read_text().splitlines())
    ]
    return done.returncode, rows


def _sipp_cpu_s(phones: subprocess.Popen[bytes]) -> float:
    """CPU seconds of the SIPp processes: the phones' and the finished callers'."""
    finished = resource.getrusage(resource.RUSAGE_CHILDREN)
    return finished.ru_utime + finished.ru_stime + _cpu_s([phones.pid])


def _cpu_ms_per_call(
    before: dict[str, float], after: dict[str, float], calls: int
) -> dict[str, float]:
    cpu = {k: (after[k] - before[k]) * 1000 / calls for k in before}
    # the SIP edge's Python process includes Kamailio (its child): take Kamailio out
    cpu["sip_edge"] -= cpu["kamailio"]
    cpu["total"] = sum(cpu.values())
    return {k: round(v, 2) for k, v in cpu.items()}


async def _phone_passwords(target: str, initial: dict[str, str]) -> dict[str, str]:
    """Each agent's password once the initial one is changed, as a person does at the
    first sign-in (a checked site opens no seat with an initial password); the seat is
    closed again, the phone's SIP agent opens its own."""
    out = {}
    async with open_channel(target) as channel:
        desk, people = sg.AgentDeskStub(channel), pg.PeopleStub(channel)
        for agent_id, secret in initial.items():
            reply, used = await open_seat(desk, people, agent_id, secret, "bench-sip", 60)
            await desk.Logout(s.SessionRef(session_token=reply.session_token), timeout=30)
            out[agent_id] = used
    return out


def run_sip_bench(
    workdir: Path,
    rates: list[float],
    step_s: float,
    agents: int,
    site: str = "KM",
    progress: Callable[[str], None] = lambda _m: None,
    insecure: bool = False,
) -> dict[str, Any]:
    """Offer calls at each of ``rates`` for ``step_s`` seconds, one step after the other,
    until a step is not sustained (see :mod:`vcc_ops.bench.sip_ramp`); the province over
    mutual TLS with identities unless ``insecure``."""
    missing = missing_tools()
    if missing:
        raise ConfigError(f"{' and '.join(missing)} not installed: {INSTALL}", field="sip")
    from vcc_ops.cli import example_province_path

    workdir.mkdir(parents=True, exist_ok=True)
    launcher = ProvinceLauncher(
        example_province_path(), workdir, sites=[site], insecure=insecure,
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
        target = launcher.node(f"site-{site}").grpc
        passwords = asyncio.run(_phone_passwords(target, {a: secrets[a] for a in chosen}))
        phones_file.write_text("".join(f"{a} {passwords[a]}\n" for a in chosen))
        phones_file.chmod(0o600)
        trunk_port = free_port()
        edge = start_sip(launcher, f"{HOST}:{trunk_port}", phones={site: phones_file})
        phone_port = free_port()
        phones = subprocess.Popen(
            _sipp(scenario("phone.xml"), phone_port),
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
            "kamailio": int((workdir / "sip" / "kamailio.pid").read_text().strip()),
        }
        # and the rest of the province each call costs: the hub applying the site's
        # events, NATS carrying them
        hubs = [p.pid for n, p in launcher.processes.items() if n.startswith("hub")]
        nats = [n.pid for n in launcher.infra.nats_servers] if launcher.infra else []
        listed: dict[str, list[int | None]] = {k: [p] for k, p in pids.items()}
        listed.update(hub=hubs, nats=nats)
        groups = {k: [p for p in v if p is not None] for k, v in listed.items()}
        xml = caller_scenario(workdir, "0")
        # what each part costs with no call at all (its timers, the phones' sessions), so
        # that the per-call figures of a slow step can be read for what they include
        idle_before = {k: _cpu_s(v) for k, v in groups.items()}
        time.sleep(IDLE_S)
        idle = {
            k: round((_cpu_s(v) - idle_before[k]) * 1000 / IDLE_S, 1) for k, v in groups.items()
        }
        idle["sip_edge"] = round(idle["sip_edge"] - idle["kamailio"], 1)
        progress(f"CPU ms per second without calls: {idle}")
        steps: list[dict[str, Any]] = []
        for number, rate in enumerate(rates):
            progress(
                f"step {number}: {rate:g} calls/s for {step_s:g} s to {site} ({len(chosen)} phones)"
            )
            before = {k: _cpu_s(v) for k, v in groups.items()}
            before["sipp"] = _sipp_cpu_s(phones)
            exit_code, rows = _step(workdir, xml, trunk_port, edge, number, rate, step_s)
            after = {k: _cpu_s(v) for k, v in groups.items()}
            after["sipp"] = _sipp_cpu_s(phones)
            figures = step_figures(rows, max(1, round(rate * step_s)), rate)
            figures["sipp_exit"] = exit_code
            cpu = _cpu_ms_per_call(before, after, max(figures["completed"], 1))
            figures["cpu_ms_per_call"] = cpu
            # what the machine's cores could carry if this province and SIPp had them all
            cores = os.cpu_count() or 1
            figures["cpu_bound_calls_per_s"] = round(cores * 1000 / max(cpu["total"], 0.01), 1)
            steps.append(figures)
            progress(f"step {number}: {json.dumps(figures)}")
            if not figures["sustained"]:
                break
        return {
            "site": site,
            "phones": len(chosen),
            "step_s": step_s,
            **summary(steps),
            "idle_cpu_ms_per_s": idle,
            "steps": steps,
        }
    finally:
        if phones is not None and phones.poll() is None:
            phones.kill()
            phones.wait()
        launcher.stop()
