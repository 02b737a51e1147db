"""SIPp callers of one area through the province's SIP edge, for the ``sip-site-kill``
drill: where the SIP parts run (from the edge's command line), the SIPp runs, and what
each call did (read back from SIPp's log, wall-clock stamped by the scenario
``sip_caller.xml``), tallied against the moment a site was lost."""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vcc_domain.errors import ConfigError, Unavailable
from vcc_ops.infra import ManagedProcess, free_port
from vcc_ops.infra.ports import HOST
from vcc_ops.launcher import ProvinceLauncher
from vcc_ops.sipp import missing_tools

CALLER_XML = Path(__file__).with_name("sip_caller.xml")
INSTALL = "apt-get install -y kamailio kamailio-utils-modules sip-tester rtpengine-daemon"
RECV_TIMEOUT_MS = 8_000  # a call waiting longer for an answer is failed by SIPp


def sip_tools_missing() -> str:
    """Why SIP drills cannot run here ("" when they can), naming what to install."""
    missing = missing_tools()
    return f"{' and '.join(missing)} not installed: {INSTALL}" if missing else ""


def _flag(argv: list[str], flag: str) -> str:
    try:
        return argv[argv.index(flag) + 1]
    except (ValueError, IndexError):
        raise ConfigError(f"the SIP edge runs without {flag}", field="sip") from None


@dataclass(frozen=True)
class SipParts:
    """Where a started province's SIP parts listen (``vcc up --sip``, ``start_sip``)."""

    edge: str  # Kamailio host:port, where the trunk sends INVITEs
    trunk_port: int  # the port the edge accepts the trunk from (our SIPp binds it)
    agents: dict[str, str]  # site -> its SIP agent's host:port

    @classmethod
    def of(cls, launcher: ProvinceLauncher) -> SipParts:
        edge = launcher.processes.get("sip-edge")
        if edge is None:
            raise ConfigError(
                "this drill needs the province's SIP parts: start it with them "
                "(vcc up --sip, or a plan's drill list that names a SIP drill)",
                field="sip",
            )
        argv = edge.argv
        ready = Path(_flag(argv, "--workdir")) / "sip-edge.ready"
        agents = dict(pair.split("=", 1) for pair in _flag(argv, "--site-sip").split(","))
        trunk = _flag(argv, "--trunk")
        return cls(ready.read_text().strip(), int(trunk.rpartition(":")[2]), agents)

    def site_at(self, address: str) -> str:
        """The site whose SIP agent answers at ``address`` ("" if none)."""
        return next((s for s, a in self.agents.items() if a == address), "")


def sipp_argv(
    parts: SipParts, workdir: Path, tag: str, *, caller: str, dialed: str,
    calls: int, rate: float, stay_ms: int,
) -> tuple[list[str], Path]:  # fmt: skip
    """The SIPp caller command offering ``calls`` calls at ``rate``/s from the trunk, and
    its log file."""
    log = workdir / f"sip-callers-{tag}.log"
    log.unlink(missing_ok=True)
    argv = [
        "sipp", "-sf", str(CALLER_XML), "-i", HOST, "-p", str(parts.trunk_port),
        "-s", dialed, "-key", "caller", caller,
        "-m", str(calls), "-r", f"{rate:g}", "-d", str(stay_ms),
        "-recv_timeout", str(RECV_TIMEOUT_MS), "-nostdin",
        "-trace_logs", "-log_file", str(log),
        # the media port of SIPp's own echo (unused): a free one, not SIPp's fixed 6000
        "-mp", str(free_port()),
        parts.edge,
    ]  # fmt: skip
    return argv, log


def start_callers(argv: list[str], workdir: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        cwd=workdir,
    )  # fmt: skip


def finished_calls(
    sipp: subprocess.Popen[bytes], log: Path, parts: SipParts, limit_s: float
) -> list[SipCall]:
    """The calls of a SIPp caller run once it ended (killed after ``limit_s``)."""
    try:
        sipp.wait(limit_s)
    except subprocess.TimeoutExpired:
        sipp.kill()
        sipp.wait()
    return read_calls(log.read_text() if log.exists() else "", parts)


def restart_agent(agent: ManagedProcess, timeout_s: float) -> None:
    """Start a killed SIP agent again (same port and phones); wait until it is ready."""
    ready = Path(agent.argv[agent.argv.index("--ready-file") + 1])
    ready.unlink(missing_ok=True)
    agent.start()
    deadline = time.monotonic() + timeout_s
    while not ready.exists():
        if not agent.alive or time.monotonic() > deadline:
            raise Unavailable(f"{agent.name} did not come back; see {agent.log_path}")
        time.sleep(0.1)


@dataclass
class SipCall:
    """One SIPp call as its log tells it (wall-clock seconds)."""

    number: int
    invited_at: float
    answered_at: float | None = None
    answered_by: str = ""  # the site whose SIP agent answered
    released_at: float | None = None  # the caller's BYE was answered: the call completed


def read_calls(log_text: str, parts: SipParts) -> list[SipCall]:
    """The calls of a SIPp caller log (lines of ``sip_caller.xml``), by call number."""
    calls: dict[int, SipCall] = {}
    for line in log_text.splitlines():
        words = line.split()
        try:  # SIPp prints its variables as decimals: "1796480830.000000 402651.000000"
            what, number = words[0], int(words[1])
            at = float(words[2]) + float(words[3]) / 1e6
        except (IndexError, ValueError):
            continue
        if what == "invite":
            calls[number] = SipCall(number, at)
        elif number in calls and what == "answered":
            calls[number].answered_at = at
            calls[number].answered_by = parts.site_at(words[4]) if len(words) > 4 else ""
        elif number in calls and what == "released":
            calls[number].released_at = at
    return [calls[n] for n in sorted(calls)]


def tally(calls: list[SipCall], site: str, killed_at: float) -> dict[str, Any]:
    """What the callers saw of ``site`` lost at ``killed_at``.

    A call in flight at the kill (offered before it, not completed before it) was at the
    lost site (every call of its area went there before): losing it is the failure's
    cost. Any other call that did not complete is a call lost beyond it. The reroute time
    runs from the kill to the answer of the first call offered after it that another site
    answered; the slowest setup of the calls offered after it is reported beside."""
    in_flight = [
        c
        for c in calls
        if c.invited_at < killed_at and (c.released_at is None or c.released_at >= killed_at)
    ]
    flight_ids = {c.number for c in in_flight}
    lost = [c for c in calls if c.released_at is None]
    new = [c for c in calls if c.invited_at >= killed_at]
    elsewhere = sorted(
        (c for c in new if c.answered_at is not None and c.answered_by not in ("", site)),
        key=lambda c: c.answered_at or 0.0,
    )
    first = elsewhere[0] if elsewhere else None
    setups = [(c.answered_at or 0.0) - c.invited_at for c in new if c.answered_at is not None]
    answered: dict[str, int] = {}
    for call in calls:
        if call.answered_at is not None:
            who = call.answered_by or "?"
            answered[who] = answered.get(who, 0) + 1
    return {
        "sip_calls": len(calls),
        "sip_answered_by_site": dict(sorted(answered.items())),
        "sip_answered_at_site_before_kill": sum(
            1 for c in calls if c.answered_by == site and (c.answered_at or 0.0) < killed_at
        ),
        "sip_calls_in_flight_at_kill": len(in_flight),
        "sip_calls_lost_in_flight": sum(1 for c in lost if c.number in flight_ids),
        "sip_calls_lost": sum(1 for c in lost if c.number not in flight_ids),
        "sip_new_calls": len(new),
        "sip_reroute_s": None
        if first is None
        else round((first.answered_at or 0.0) - killed_at, 3),
        "sip_first_rerouted_setup_s": None
        if first is None
        else round((first.answered_at or 0.0) - first.invited_at, 3),
        "sip_next_site": "" if first is None else first.answered_by,
        # every new call's INVITE -> 200, the slowest (a call the dead site held longest)
        "sip_new_calls_setup_max_s": round(max(setups), 3) if setups else None,
    }
