"""The desk's questions beside its calls as messages (``AgentDesk.GetMyDay``,
``GetReadyWhere``, ``GetRecentCalls``; see :mod:`vcc_site.service.desk_info`)."""

from __future__ import annotations

from dataclasses import asdict

from vcc_proto.v1 import common_pb2 as c
from vcc_proto.v1 import site_pb2 as s
from vcc_site.adapters import grpc_board
from vcc_site.service import desk_info
from vcc_site.service.desk import DeskService


async def my_day(desk: DeskService, token: str) -> s.AgentDay:
    agent = desk.session(token)
    return s.AgentDay(**asdict(await desk_info.my_day(desk.core, agent.agent_id)))


async def ready_where(desk: DeskService, token: str) -> s.ReadyWhereReply:
    desk.session(token)
    core = desk.core

    def own() -> list[c.QueueFigures]:
        return [grpc_board.queue_figures(core.site_id, f) for f in core.queue_figures()]

    figures, stale, province = await desk_info.ready_where(core, desk.board, own)
    return s.ReadyWhereReply(figures=figures, stale_site_ids=stale, province=province)


async def recent_calls(desk: DeskService, token: str, call_id: str) -> s.RecentCallsReply:
    agent = desk.session(token)
    found = await desk_info.recent_calls(desk.core, agent.agent_id, call_id)
    return s.RecentCallsReply(
        calls=[
            s.RecentCall(
                call_id=r.call_id,
                arrival_at_ms=r.arrival_at_ms,
                business_id=r.business_id,
                state=r.state,
                end_reason=r.end_reason,
                agent_id=r.agent_id,
                disposition=r.disposition,
                notes=r.notes,
            )
            for r in found
        ]
    )
