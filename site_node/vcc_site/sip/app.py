"""Run a site's SIP agent: sippy's loop on the main thread, the site's side on asyncio.

The agent's phones are read from a file of ``agent_id password`` lines (its owner's eyes
only): each becomes an agent desk session whose offers ring ``sip:<agent_id>`` at the
edge. ``ready_file`` is written once the SIP port is bound and every phone is signed in.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from dataclasses import dataclass
from pathlib import Path

from vcc_failover.sites import SiteEndpoints
from vcc_proto.tls import ClientTls
from vcc_site.sip.agent import SiteSipAgent
from vcc_site.sip.media import MediaAnchor
from vcc_site.sip.ng import NgClient
from vcc_site.sip.recording_report import RecordingReporter
from vcc_site.sip.ua import SipStack

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SipAgentSettings:
    site_target: str  # the site's gRPC endpoint
    host: str  # our SIP address
    port: int
    edge: tuple[str, int]  # the province's SIP edge (Kamailio)
    phones_file: Path | None = None
    ready_file: Path | None = None
    etcd: tuple[str, ...] = ()  # to find other sites (a transferred call is followed)
    rtpengine: tuple[str, int] | None = None  # NG control: callers' media anchored, recorded
    desk_tls: ClientTls | None = None  # the phones' desk sessions (else the process's own)


def read_phones(path: Path | None) -> dict[str, str]:
    """``agent_id password`` per line; blank lines and ``#`` comments skipped."""
    if path is None:
        return {}
    phones: dict[str, str] = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        agent, _, password = line.partition(" ")
        if not agent or not password.strip():
            raise ValueError(f"{path}:{number}: expected 'agent_id password'")
        phones[agent] = password.strip()
    return phones


async def _close(agent: SiteSipAgent, reporter: RecordingReporter) -> None:
    await agent.close()
    await reporter.close()


def run_sip_agent(settings: SipAgentSettings) -> None:
    """Serve until SIGTERM or SIGINT; raises if the site refuses a phone's sign-in."""
    sites = SiteEndpoints(list(settings.etcd), {}) if settings.etcd else None
    agent = SiteSipAgent(
        settings.site_target,
        read_phones(settings.phones_file),
        None,
        sites,
        desk_tls=settings.desk_tls,
    )
    media = None
    reporter = RecordingReporter(settings.site_target)
    if settings.rtpengine is not None:
        media = MediaAnchor(NgClient(*settings.rtpengine))
        media.on_recorded = reporter.recorded
    stack = SipStack(settings.host, settings.port, settings.edge, agent, media)
    agent.stack, agent.sip_call = stack, stack.call
    loop = asyncio.new_event_loop()
    failure: list[BaseException] = []

    def serve() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(agent.start())
            reporter.loop = loop
        except Exception as exc:  # reported by the main thread, which then exits
            failure.append(exc)
            stack.stop()
            return
        if settings.ready_file is not None:
            settings.ready_file.write_text(f"{settings.host}:{settings.port}\n")
        log.info("SIP agent on %s:%s for site %s", settings.host, settings.port, agent.site_target)
        loop.run_forever()

    thread = threading.Thread(target=serve, name="site-sip-agent", daemon=True)
    thread.start()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stack.stop())
    stack.loop()
    if not failure:
        fut = asyncio.run_coroutine_threadsafe(_close(agent, reporter), loop)
        try:
            fut.result(timeout=5)
        except Exception:  # closing is best effort at exit
            log.exception("closing the SIP agent")
        loop.call_soon_threadsafe(loop.stop)
    thread.join(timeout=5)
    if failure:
        raise failure[0]
