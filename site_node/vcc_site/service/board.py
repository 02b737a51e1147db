"""The site's live wallboard: what a team leader watches, and when it changed.

The board is made from what the site already holds: the queue figures it publishes
(:func:`~vcc_site.service.figures.business_queues`), its signed-in agents, and today's
tallies of the calls that ended here, counted by the reports' own rules
(:func:`vcc_domain.stats.cdr_figures`: service level = answered within the tier's target
/ (answered + abandons that are not short + lost unanswered)). The tallies are kept in
memory from the CDRs the site writes, and read back from its database at start
(:func:`~vcc_site.service.recovery.count_today`).

:class:`BoardSignal` is bumped by every change of the site's state (each unit of work
handed to the store); :func:`watch` sends a board at once and then one after each change,
coalesced so that at most one goes out about every ``gap_s``; nothing is sent while nothing
changes.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta

from vcc_domain.province import Business
from vcc_domain.stats import Cdr, Figures, StatsConfig, cdr_figures
from vcc_site.service.figures import BusinessQueue
from vcc_site.service.live import LiveAgent
from vcc_site.store.api import CdrRecord

COALESCE_S = 0.25
UTC_OFFSET_HOURS = 8  # the province's days are China's (no daylight saving)


def local_day(at_ms: int) -> str:
    moment = datetime.fromtimestamp(at_ms / 1000, UTC) + timedelta(hours=UTC_OFFSET_HOURS)
    return moment.date().isoformat()


def day_start_ms(at_ms: int) -> int:
    """When the local day of ``at_ms`` began."""
    offset = UTC_OFFSET_HOURS * 3_600_000
    return (at_ms + offset) // 86_400_000 * 86_400_000 - offset


class BoardSignal:
    """A change counter that watchers can wait on."""

    def __init__(self) -> None:
        self.version = 0
        self._event = asyncio.Event()

    def changed(self) -> None:
        self.version += 1
        event, self._event = self._event, asyncio.Event()
        event.set()

    async def wait(self, seen: int) -> int:
        """Return the version once it is not ``seen`` any more."""
        while self.version == seen:
            await self._event.wait()
        return self.version


CDR_FIELDS = tuple(f.name for f in fields(Cdr))


def domain_cdr(record: CdrRecord) -> Cdr:
    """The fields of a written CDR (the ``Cdr`` message) that figures use."""
    return Cdr.from_mapping({name: getattr(record, name) for name in CDR_FIELDS})


class DayTally:
    """Today's figures of the calls that ended at this site, by (business, tier)."""

    def __init__(self, config: StatsConfig | None = None) -> None:
        self.config = config or StatsConfig()
        self.day = ""
        self.figures: dict[tuple[str, str], Figures] = {}

    def add(self, cdr: CdrRecord, business: Business | None) -> None:
        day = local_day(cdr.ended_at_ms or cdr.arrival_at_ms)
        if day < self.day:  # an earlier day's call: not today's
            return
        if day != self.day:
            self.day, self.figures = day, {}
        if business is None or cdr.tier not in business.service_levels:
            return
        one = cdr_figures(domain_cdr(cdr), business.service_levels[cdr.tier], self.config)
        self.figures.setdefault((cdr.business_id, cdr.tier), Figures()).add(one)

    def of(self, business_id: str, now_ms: int) -> Mapping[str, Figures]:
        """By tier; nothing once the day is over."""
        if local_day(now_ms) != self.day:
            return {}
        return {t: f for (b, t), f in self.figures.items() if b == business_id}


@dataclass(frozen=True, slots=True)
class TierLevel:
    tier: str
    answered_within: int
    sl_calls: int
    target_percent: int
    target_within_s: int


@dataclass(frozen=True, slots=True)
class BusinessBoard:
    queue: BusinessQueue
    tiers: list[TierLevel]
    abandoned: int
    answered: int
    offered: int


@dataclass(frozen=True, slots=True)
class AgentOnBoard:
    agent_id: str
    name: str
    state: str
    reason: str
    since_ms: int
    call_id: str


@dataclass(frozen=True, slots=True)
class SiteBoard:
    site_id: str
    as_of_ms: int
    day: str
    businesses: list[BusinessBoard] = field(default_factory=list)
    agents: list[AgentOnBoard] = field(default_factory=list)


def business_board(business: Business, queue: BusinessQueue, tally: DayTally) -> BusinessBoard:
    today = tally.of(business.id, queue.as_of_ms)
    tiers = [
        TierLevel(
            tier,
            today[tier].answered_within if tier in today else 0,
            today[tier].sl_calls if tier in today else 0,
            target.percent,
            target.within_s,
        )
        for tier, target in business.service_levels.items()
    ]
    total = Figures()
    for f in today.values():
        total.add(f)
    return BusinessBoard(
        queue, tiers, total.abandoned + total.short_abandoned, total.answered, total.offered
    )


def site_board(
    site_id: str,
    businesses: list[Business],
    queues: list[BusinessQueue],
    agents: Iterable[LiveAgent],
    tally: DayTally,
    now_ms: int,
) -> SiteBoard:
    by_id = {b.id: b for b in businesses}
    return SiteBoard(
        site_id,
        now_ms,
        local_day(now_ms),
        [business_board(by_id[q.business_id], q, tally) for q in queues],
        sorted(
            (
                AgentOnBoard(a.agent_id, a.name, a.state, a.reason, a.since_ms, a.call_id)
                for a in agents
            ),
            key=lambda a: a.agent_id,
        ),
    )


async def watch(
    signal: BoardSignal, make: Callable[[], SiteBoard], gap_s: float = COALESCE_S
) -> AsyncIterator[SiteBoard]:
    """A board now, then one after each change (changes within ``gap_s`` of the last
    board sent go out together in the next one)."""
    loop = asyncio.get_running_loop()
    seen = signal.version
    yield make()
    sent = loop.time()
    while True:
        seen = await signal.wait(seen)
        delay = sent + gap_s - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)  # let the changes of this moment arrive together
        seen = signal.version
        yield make()
        sent = loop.time()
