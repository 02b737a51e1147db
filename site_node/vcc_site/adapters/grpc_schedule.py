"""gRPC side of the published week's schedule (``Quality.PublishSchedule`` and
``Quality.GetSchedule``): messages to and from :mod:`vcc_domain.published_schedule`.

The publisher recorded is the checked identity (:func:`actor_of`); a signed-in agent
reads only their own shifts, whatever the request names.
"""

from __future__ import annotations

from vcc_domain import published_schedule as ps
from vcc_proto.authz_interceptor import actor_of, current_caller
from vcc_proto.v1 import quality_pb2 as pb
from vcc_site.service.schedules import ScheduleService

AGENT_ROLE = "agent"


def schedule_record(m: pb.Schedule) -> ps.PublishedSchedule:
    shifts = tuple(
        ps.PublishedShift(s.agent_id, s.start_ms, s.end_ms, s.break_start_ms, s.break_end_ms)
        for s in m.shifts
    )
    return ps.PublishedSchedule(
        m.site_id, m.week_start_ms, shifts, tuple(m.on_phone), tuple(m.predicted_sl_bp)
    )


def schedule_msg(s: ps.PublishedSchedule) -> pb.Schedule:
    return pb.Schedule(
        week_start_ms=s.week_start_ms,
        shifts=[
            pb.ScheduleShift(
                agent_id=x.agent_id,
                start_ms=x.start_ms,
                end_ms=x.end_ms,
                break_start_ms=x.break_start_ms,
                break_end_ms=x.break_end_ms,
            )
            for x in s.shifts
        ],
        on_phone=list(s.on_phone),
        predicted_sl_bp=list(s.predicted_sl_bp),
        published_by=s.published_by,
        published_at_ms=s.published_at_ms,
        site_id=s.site_id,
    )


async def publish(service: ScheduleService, request: pb.Schedule) -> pb.Schedule:
    stored = await service.publish(schedule_record(request), actor_of(request.published_by))
    return schedule_msg(stored)


async def get(service: ScheduleService, request: pb.GetScheduleRequest) -> pb.Schedule:
    agent_id = request.agent_id
    caller = current_caller()
    if caller is not None and caller.person is not None and caller.person.role == AGENT_ROLE:
        agent_id = caller.person.id  # an agent sees their own shifts only
    return schedule_msg(await service.get(request.week_start_ms, agent_id))
