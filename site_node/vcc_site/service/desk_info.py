"""What an agent's desk asks about besides calls: their own day and who is ready where.

* :func:`my_day`: the agent's figures today (the site's local day, UTC+8) from the calls
  that ended here naming the agent (CDRs: answered, transferred away, ring and talk
  time) and their state history (after-call work), to compare with the agents' targets;
* :func:`recent_calls`: the earlier calls here of the caller of the agent's call;
* :func:`ready_where`: every site's queue figures per business from the hub's board, to
  choose a transfer target; this site's own when the hub cannot be reached.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace

import grpc

from vcc_domain.errors import Conflict, VccError
from vcc_domain.privacy import mask_numbers_in
from vcc_proto.v1 import common_pb2 as c
from vcc_proto.v1 import hub_pb2 as h
from vcc_site.service.board import day_start_ms, local_day
from vcc_site.service.core import SiteCore
from vcc_site.store.api import CallRecord

log = logging.getLogger(__name__)

PAGE = 1000
MAX_PAGES = 50  # a day's CDRs read at most (50,000 calls at one site)
TRANSFERRED_OUT = "transferred_out"
RECENT_CALLS = 5
MAX_NOTES = 300

BoardSource = Callable[[], Awaitable[h.Board]]


@dataclass(frozen=True, slots=True)
class AgentDay:
    day: str
    answered: int = 0
    transferred: int = 0
    ring_ms: int = 0
    talk_ms: int = 0
    wrap_ups: int = 0
    wrap_up_ms: int = 0


async def my_day(core: SiteCore, agent_id: str) -> AgentDay:
    """The agent's figures since the local day began (see the module)."""
    now = core.now_ms()
    start = day_start_ms(now)
    answered = transferred = ring = talk = 0
    seen: set[str] = set()
    after = start - 1
    for _ in range(MAX_PAGES):  # pages overlap by a millisecond, as the board's count
        rows = await core.store.cdrs(limit=PAGE, after_ended_at_ms=after)
        for cdr in rows:
            if cdr.cdr_id in seen or cdr.agent_id != agent_id or not cdr.answered_at_ms:
                continue
            seen.add(cdr.cdr_id)
            answered += 1
            transferred += cdr.outcome == TRANSFERRED_OUT
            ring += cdr.ring_ms
            talk += cdr.talk_ms
        if len(rows) < PAGE:
            break
        last = rows[-1].ended_at_ms
        after = last if after == last - 1 else last - 1
    wraps = [
        r
        for r in await core.store.state_history(agent_id)
        if r.state == "wrap_up" and r.ended_at_ms >= start
    ]
    return AgentDay(
        local_day(now),
        answered,
        transferred,
        ring,
        talk,
        len(wraps),
        sum(r.duration_ms for r in wraps),
    )


async def ready_where(
    core: SiteCore, board: BoardSource | None, own: Callable[[], list[c.QueueFigures]]
) -> tuple[list[c.QueueFigures], list[str], bool]:
    """(figures, stale sites, from the hub): the hub's board, else ``own()``."""
    if board is not None:
        try:
            read = await board()
            return [row.figures for row in read.rows], list(read.stale_site_ids), True
        except (VccError, grpc.RpcError) as err:
            log.info("who is ready where: the hub's board is out of reach (%s)", err)
    return own(), [], False


async def recent_calls(core: SiteCore, agent_id: str, call_id: str) -> list[CallRecord]:
    """Up to :data:`RECENT_CALLS` earlier calls here of the caller of ``call_id`` (a call
    offered to or held by ``agent_id``), newest first; notes shortened, numbers masked."""
    call = core.calls.get(call_id)
    agent = core.agents.get(agent_id)
    mine = agent is not None and agent.call_id == call_id  # a consult leg served here, too
    if call is None or not (mine or call.agent_id == agent_id):
        raise Conflict(f"call {call_id!r} is not offered to or held by you", field="call_id")
    found = await core.store.calls_of_caller(call.caller_number, RECENT_CALLS + 1)
    return [
        replace(r, notes=mask_numbers_in(r.notes[:MAX_NOTES]))
        for r in found
        if r.call_id != call_id
    ][:RECENT_CALLS]
