"""What a site publishes about its queues every second (and answers when asked)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from vcc_domain.province import Business
from vcc_site.domain.acd import Acd
from vcc_site.service.live import ms
from vcc_site.service.metrics import SiteMetrics


@dataclass(frozen=True, slots=True)
class BusinessQueue:
    """Queue figures of one business at this site (what sites publish every second).

    ``ewt_ms`` is the expected wait of a newly arriving ordinary caller, by the ACD's
    method: 0 if an agent who can serve the business's skill is ready, else
    (calls ahead + 1) x AHT / staffed agents who can serve it (see ``vcc_site.domain.acd``).
    """

    business_id: str
    waiting: int
    longest_wait_ms: int
    ewt_ms: int
    agents_ready: int
    agents_busy: int
    agents_not_ready: int
    agents_wrap_up: int
    aht_ms: int
    as_of_ms: int


def business_queues(acd: Acd, businesses: list[Business], now: int) -> list[BusinessQueue]:
    """The figures of ``businesses`` at this site, as of ``now``."""
    per_business = acd.business_figures()
    out = []
    for b in businesses:
        q = acd.queue_figures(b.skill)
        waiting = per_business.get(b.id)
        out.append(
            BusinessQueue(
                business_id=b.id,
                waiting=waiting.waiting if waiting else 0,
                longest_wait_ms=ms(waiting.longest_wait_s) if waiting else 0,
                ewt_ms=ms(q.ewt_s),
                agents_ready=q.agents_ready,
                agents_busy=q.agents_busy + q.agents_ringing,
                agents_not_ready=q.agents_not_ready,
                agents_wrap_up=q.agents_wrap_up,
                aht_ms=ms(q.aht_s),
                as_of_ms=now,
            )
        )
    return out


def publish_gauges(
    metrics: SiteMetrics, queues: list[BusinessQueue], agent_states: Iterable[str]
) -> None:
    """Refresh the queue gauges and the count of agents in each state."""
    for f in queues:
        metrics.queue(f.business_id, f.waiting, f.longest_wait_ms / 1000, f.ewt_ms / 1000)
    counts = dict.fromkeys(("ready", "not_ready", "ringing", "busy", "wrap_up"), 0)
    for state in agent_states:
        counts[state] = counts.get(state, 0) + 1
    metrics.agents(counts)
