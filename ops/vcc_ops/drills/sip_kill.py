"""``sip-site-kill``: a site lost under SIP traffic, as the province's phone network sees it.

On a province started with its SIP parts (the SIP edge, each site's SIP agent), SIPp
callers of the site's area dial the one-number access code through the edge from the
trunk (``sip_calls_per_s``, each staying ``stay_ms`` in the IVR and hanging up), beside
the drill's usual gRPC traffic. After ``sip_steady_s`` the site *and its SIP agent* are
SIGKILLed, as a real site failure takes both. Measured (besides the ``site-kill``
figures of the gRPC callers): ``sip_reroute_s``, from the kill to the answer of the first
new INVITE of the area at another site (scored against the ``reroute_s`` objective: a
caller on the phone network is promised the same as any other); ``sip_calls_lost``,
calls lost beyond those in flight at the killed site (scored, none allowed), the calls in
flight and how many of them were lost; after the restart, ``sip_recovery_s`` until a
new INVITE of the area is answered by the site again.

Default site: KM (the first site of the province if KM is not running).
"""

from __future__ import annotations

import asyncio
import math
import subprocess
import time
from pathlib import Path
from typing import Any

from vcc_domain.errors import ConfigError
from vcc_ops.drills.context import DrillContext
from vcc_ops.drills.kills import SiteKill
from vcc_ops.drills.sip_calls import (
    RECV_TIMEOUT_MS,
    SipCall,
    SipParts,
    finished_calls,
    restart_agent,
    sip_tools_missing,
    sipp_argv,
    start_callers,
    tally,
)
from vcc_site.store.customers import phone_for

AGENT_READY_S = 60.0
PROBE_STAY_MS = 200  # a probe call after the restart only needs answering


class SipSiteKill(SiteKill):
    name = "sip-site-kill"
    objectives = ("sip_reroute_s", "sip_calls_lost")

    def _setup(self, ctx: DrillContext) -> None:
        missing = sip_tools_missing()
        if missing:
            raise ConfigError(missing, field="sip")
        sites = ctx.launcher.site_ids
        ctx.params["site"] = str(ctx.params.get("site") or ("KM" if "KM" in sites else sites[0]))
        self.site = ctx.site()
        self.parts = SipParts.of(ctx.launcher)
        if self.site not in self.parts.agents:
            raise ConfigError(f"site {self.site} runs no SIP agent", field="site")
        self.workdir = ctx.launcher.workdir / "sip"
        province = ctx.launcher.province
        self.dialed = province.access_codes[0]
        self.caller = phone_for(ctx.areas(self.site)[0], 1)
        self.rate = float(ctx.params.get("sip_calls_per_s", 4.0))
        self.stay_ms = int(ctx.params.get("stay_ms", 2000))

    def _callers(self, tag: str, calls: int, rate: float, stay_ms: int) -> tuple[list[str], Path]:
        return sipp_argv(
            self.parts, self.workdir, tag, caller=self.caller, dialed=self.dialed,
            calls=calls, rate=rate, stay_ms=stay_ms,
        )  # fmt: skip

    async def inject(self, ctx: DrillContext) -> None:
        self._setup(ctx)
        steady_s = float(ctx.params.get("sip_steady_s", 3.0))
        calls = max(1, math.ceil(self.rate * (steady_s + ctx.hold_s())))
        argv, self.log = self._callers("kill", calls, self.rate, self.stay_ms)
        self.sipp = start_callers(argv, self.workdir)
        ctx.mark(f"SIPp: {calls} callers of {self.site}'s area at {self.rate:g}/s", "phase")
        await asyncio.sleep(steady_s)
        agent = ctx.launcher.processes[f"sip-agent-{self.site}"]
        await asyncio.to_thread(ctx.launcher.kill_node, f"site-{self.site}")
        await asyncio.to_thread(agent.kill)
        self.killed_at = ctx.mark(f"SIGKILL site-{self.site} and its SIP agent", "fault")
        await ctx.traffic.site_down(self.site)

    async def observe(self, ctx: DrillContext) -> dict[str, Any]:
        measured = await super().observe(ctx)  # the gRPC callers' site-kill figures
        calls = await self._finished(self.sipp, self.log)
        sip = tally(calls, self.site, self.killed_at)
        if sip["sip_reroute_s"] is not None:
            at = self.killed_at + sip["sip_reroute_s"]
            ctx.timeline.append(
                {
                    "t_s": round(at - ctx.t0, 3),
                    "at": at,
                    "kind": "reroute",
                    "what": f"first new SIP call of {self.site}'s area answered at "
                    f"{sip['sip_next_site']}",
                }
            )
        return {**measured, **sip}

    async def _finished(self, sipp: subprocess.Popen[bytes], log: Path) -> list[SipCall]:
        """SIPp's calls once it ended (its last calls may wait for an answer that a dead
        site never gives, up to its receive timeout)."""
        limit_s = self.stay_ms / 1000 + RECV_TIMEOUT_MS / 1000 * 2 + 30
        return await asyncio.to_thread(finished_calls, sipp, log, self.parts, limit_s)

    async def restore(self, ctx: DrillContext) -> None:
        await super().restore(ctx)  # the site, then its agent bots
        agent = ctx.launcher.processes[f"sip-agent-{self.site}"]
        await asyncio.to_thread(restart_agent, agent, AGENT_READY_S)
        ctx.mark(f"{agent.name} restarted", "restore")

    async def recovered(self, ctx: DrillContext) -> dict[str, Any]:
        measured = await super().recovered(ctx)  # routing map back
        start, deadline = self.restored_at, time.monotonic() + ctx.within_s()
        back: float | None = None
        tries = 0
        while back is None and time.monotonic() < deadline:
            tries += 1
            argv, log = self._callers(f"probe{tries}", 1, 1.0, PROBE_STAY_MS)
            calls = await self._finished(start_callers(argv, self.workdir), log)
            answered = [c for c in calls if c.answered_by == self.site and c.answered_at]
            if answered:
                back = round((answered[0].answered_at or 0.0) - start, 3)
        ctx.mark(
            f"a new SIP call of its area answered at {self.site} again"
            if back is not None
            else f"no SIP call answered at {self.site} again",
            "recover",
        )
        return {**measured, "sip_recovery_s": back}
