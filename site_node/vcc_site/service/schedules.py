"""The week's schedule (排班) published to a site's team leaders (the rules are
:mod:`vcc_domain.published_schedule`).

Publishing is one unit of work: the schedule row (replacing the week's previous one) and
an audit row naming who published it, the week, and its size. A refused schedule writes
nothing.
"""

from __future__ import annotations

from dataclasses import replace

from vcc_domain import published_schedule as ps
from vcc_domain.errors import NotFound
from vcc_domain.ids import new_id
from vcc_site.service.core import SiteCore
from vcc_site.store.api import AuditRecord, UnitOfWork
from vcc_site.store.qa_reads import quality_reads


class ScheduleService:
    def __init__(self, core: SiteCore) -> None:
        self.core = core
        self.reads = quality_reads(core.store)

    def _agents(self) -> set[str]:
        site = self.core.site_id
        return {a.id for a in self.core.province.agents_at(site) if a.takes_calls}

    async def publish(self, schedule: ps.PublishedSchedule, actor: str) -> ps.PublishedSchedule:
        ps.check_published(schedule, self._agents())
        now = self.core.now_ms()
        stored = replace(
            schedule, site_id=self.core.site_id, published_by=actor[:64], published_at_ms=now
        )
        detail = f"week {schedule.week_start_ms}: {len(schedule.shifts)} shifts"
        audit = AuditRecord(
            new_id("req", now), now, actor[:64], "schedule_published", self.core.site_id, detail
        )
        await self.core.submit(UnitOfWork().add(ps.to_row(stored), audit))
        return stored

    async def get(self, week_start_ms: int, agent_id: str = "") -> ps.PublishedSchedule:
        row = await self.reads.schedule(self.core.site_id, week_start_ms)
        if row is None:
            raise NotFound(f"no schedule published for week {week_start_ms}", field="week_start_ms")
        found = ps.from_row(row)
        return found.of_agent(agent_id) if agent_id else found
