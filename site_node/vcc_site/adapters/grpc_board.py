"""The site's live wallboard as ``SiteBoard`` messages (``Remote.WatchBoard``)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from vcc_proto.v1 import common_pb2 as c
from vcc_proto.v1 import site_pb2 as s
from vcc_site.service import board as b
from vcc_site.service.core import SiteCore
from vcc_site.service.figures import BusinessQueue


def queue_figures(site_id: str, f: BusinessQueue) -> c.QueueFigures:
    return c.QueueFigures(
        site_id=site_id,
        business_id=f.business_id,
        waiting=f.waiting,
        longest_wait_ms=f.longest_wait_ms,
        ewt_ms=f.ewt_ms,
        agents_ready=f.agents_ready,
        agents_busy=f.agents_busy,
        agents_not_ready=f.agents_not_ready,
        agents_wrap_up=f.agents_wrap_up,
        aht_ms=f.aht_ms,
        as_of_ms=f.as_of_ms,
    )


def site_board(board: b.SiteBoard) -> s.SiteBoard:
    return s.SiteBoard(
        site_id=board.site_id,
        as_of_ms=board.as_of_ms,
        day=board.day,
        businesses=[
            s.BusinessBoard(
                figures=queue_figures(board.site_id, row.queue),
                tiers=[
                    s.TierLevel(
                        tier=t.tier,
                        answered_within=t.answered_within,
                        sl_calls=t.sl_calls,
                        target_percent=t.target_percent,
                        target_within_s=t.target_within_s,
                    )
                    for t in row.tiers
                ],
                abandoned_today=row.abandoned,
                answered_today=row.answered,
                offered_today=row.offered,
            )
            for row in board.businesses
        ],
        agents=[
            s.AgentOnBoard(
                agent_id=a.agent_id,
                name=a.name,
                state=a.state,
                reason=a.reason,
                since_ms=a.since_ms,
                call_id=a.call_id,
            )
            for a in board.agents
        ],
    )


async def watch_board(core: SiteCore, business_id: str) -> AsyncIterator[s.SiteBoard]:
    """Boards of the site (of one business if given) as it changes."""
    if business_id:
        core.business(business_id)  # NotFound before the stream starts

    def make() -> b.SiteBoard:
        return b.site_board(
            core.site_id,
            list(core.province.businesses),
            core.queue_figures(business_id or None),
            core.agents.values(),
            core.today,
            core.now_ms(),
        )

    async for board in b.watch(core.board_signal, make):
        yield site_board(board)
