"""Who owns a call after a crash: only the owner writes the call's final CDR.

A site that took a call over from another site (a transfer, an overflow, a completed
consultation) and then died may have accepted it while the origin never heard so: the
broker's timer ran out, the origin kept the caller and ended the call with its own CDR.
So on restart such a call is not simply ``lost`` here: this site first asks the origin
(``Remote.GetCallOwnership``), which answers from memory and its database:

* ``kept``: the origin has the call or ended it itself; the record here ends with NO CDR
  (end reason ``origin_kept``);
* ``released`` to this site: the call was ours; it was lost with us (CDR outcome ``lost``);
  released to a third site: that site owns it; no CDR here;
* ``unknown``: the origin has no trace of it, so nobody else will account for it: lost here.

An origin that cannot be reached is asked again (with backoff) until it answers; the
record stays open meanwhile and a further restart asks again.
"""

from __future__ import annotations

import asyncio
import logging

from vcc_site.domain.call import CallState
from vcc_site.service.core import SiteCore
from vcc_site.service.recovery import close_lost, close_without_cdr
from vcc_site.service.transfer import KEPT, RELEASED, UNKNOWN, Ownership, SitePeers
from vcc_site.store.api import CallRecord, UnitOfWork

log = logging.getLogger(__name__)

RETRY_INITIAL_S = 0.5
RETRY_MAX_S = 10.0


async def ownership_of(core: SiteCore, call_id: str) -> Ownership:
    """This site's answer to ``Remote.GetCallOwnership`` about ``call_id``."""
    live = core.calls.get(call_id)
    if live is not None and not live.consult_for:
        return Ownership(KEPT, state=live.state)
    record = await core.store.call(call_id)
    if record is None or record.attached.get("consult_for"):
        return Ownership(UNKNOWN)  # never had it, or only served a consult leg of it
    if record.state != CallState.ENDED.stored:  # open, not live: recovering it itself
        return Ownership(KEPT, state=record.state)
    to_site = (
        record.attached.get("transferred_to_site")
        if record.end_reason == "transferred_out"
        else record.attached.get("overflowed_to_site")
        if record.end_reason == "overflowed"
        else None
    )
    if to_site:
        return Ownership(RELEASED, to_site=to_site, state=CallState.ENDED.stored)
    return Ownership(KEPT, state=CallState.ENDED.stored)


def decide(core: SiteCore, call: CallRecord, answer: Ownership, uow: UnitOfWork) -> None:
    """Close a call taken over from another site, as the origin's answer says."""
    now = core.now_ms()
    origin = call.attached.get("transferred_from_site", "")
    mine = answer.answer == UNKNOWN or (
        answer.answer == RELEASED and answer.to_site == core.site_id
    )
    if mine:
        close_lost(uow, call, now)
    else:
        close_without_cdr(uow, call, now, "origin_kept" if answer.answer == KEPT else "moved_on")
    log.warning(
        "call %s taken over from %s before the stop: %s says %s%s; %s",
        call.call_id,
        origin,
        origin,
        answer.answer,
        f" to {answer.to_site}" if answer.to_site else "",
        "lost here (CDR written)" if mine else "no CDR here",
    )


async def settle_taken_over(
    core: SiteCore, peers: SitePeers | None, calls: list[CallRecord]
) -> None:
    """Ask each call's origin who owns it, until every call is decided (see above)."""
    waiting = list(calls)
    delay = RETRY_INITIAL_S
    while waiting:
        later: list[CallRecord] = []
        uow = UnitOfWork()
        for call in waiting:
            origin = call.attached.get("transferred_from_site", "")
            answer = await peers.ownership(origin, call.call_id) if peers is not None else None
            if answer is None:
                later.append(call)
            else:
                decide(core, call, answer, uow)
        if uow:
            await core.submit(uow)
        waiting = later
        if waiting:
            log.warning(
                "%d calls taken over before the stop wait for their origin; asking again in %.1f s",
                len(waiting),
                delay,
            )
            await asyncio.sleep(delay)
            delay = min(RETRY_MAX_S, delay * 2)


def start_settling(
    core: SiteCore, peers: SitePeers | None, calls: list[CallRecord]
) -> asyncio.Task[None]:
    """:func:`settle_taken_over` as a task (failures logged, never raised)."""

    async def guarded() -> None:
        try:
            await settle_taken_over(core, peers, calls)
        except Exception:
            log.exception("settling the calls taken over before the stop failed")

    return asyncio.ensure_future(guarded())
