"""A call for a business this site does not accept: served at the nearest site that does.

The province decides which sites accept each business (业务生成平台). When the IVR (or the
dialed code) leads a call here to a business this site does not accept, the call does
not queue here: it is handed, under its lock and before it ever reaches this ACD, to the
sites that accept the business, nearest first (:func:`vcc_domain.assignment.placement`),
through the hub's broker exactly as an overflow is: the same call ID, the caller's own
priority class and the ORIGINAL arrival (``kind="overflow"``). The first site that
ACCEPTED owns the call; a site that is down, unreachable or has nobody logged in for the
skill refuses, and the next one is asked.

* moved: the call ends here with end reason ``overflowed`` (so a restarted target asking
  who owns it is told it moved, ``overflowed_to_site``) and CDR outcome ``assigned_out``
  (not final: the final CDR is written where it is served); it carries
  ``assigned_from`` = this site in its attached data;
* no site took it: the call ends here with end reason and CDR outcome ``not_accepted``
  (the access edge gets ``Ended`` with reason REFUSED, detail ``not_accepted``) and the
  caller hears :data:`NOT_SERVED_PROMPT`.

The asking is bounded by the caller's deadline (:mod:`vcc_site.service.deadline`): a
site that accepts the business but is down with its lease not yet lapsed does not answer,
and the caller's step must be answered before the access edge gives up on it; when the
time is up, no site took the call.

Both are counted in ``vcc_site_calls_by_assignment_total{outcome}``.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from vcc_domain.assignment import ASSIGNED_FROM, ASSIGNED_OUT, NOT_ACCEPTED
from vcc_domain.ids import new_id
from vcc_domain.province import Text
from vcc_site.domain.queue import EndReason
from vcc_site.service.core import SiteCore
from vcc_site.service.deadline import time_left
from vcc_site.service.live import LiveCall
from vcc_site.service.moves.outgoing import send_overflow
from vcc_site.service.transfer import REFUSED, RemoteTransfer, TransferAnswer
from vcc_site.store.api import UnitOfWork

log = logging.getLogger(__name__)

MIN_ASK_S = 0.1  # less time than this before the caller's deadline: the next site is not asked

NOT_SERVED_PROMPT = Text(
    zh="抱歉，此项业务暂时无法受理，请稍后再拨。",
    en="Sorry, this service cannot be taken right now. Please call again later.",
)


@dataclass(frozen=True, slots=True)
class Assigned:
    """How the move went: ``answer`` of the site that took the call (None: none did),
    and why each site tried before refused."""

    answer: TransferAnswer | None
    refusals: tuple[str, ...] = ()


async def serve_elsewhere(
    core: SiteCore,
    remote_transfer: RemoteTransfer | None,
    call: LiveCall,
    candidates: tuple[str, ...],
    uow: UnitOfWork,
) -> Assigned:
    """Hand ``call`` (in the IVR here, its business decided, under its lock) to the first
    of ``candidates`` that takes it; end it here either way (fills ``uow``; the caller
    submits it)."""
    settled = asyncio.Event()
    call.transfer_settled = settled
    call.attached[ASSIGNED_FROM] = core.site_id
    refusals: list[str] = []
    answer: TransferAnswer | None = None
    try:
        for site_id in candidates:
            left = time_left()
            if left is not None and left < MIN_ASK_S:  # the caller's deadline: tell them now
                refusals.append(f"{site_id}: not asked, no time left before the caller's deadline")
                continue
            request_id = new_id("req")
            call.transferring = request_id
            try:
                tried = await send_overflow(
                    core, remote_transfer, call, site_id, request_id, limit_s=left
                )
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # bad input is not expected here: the next site
                tried = TransferAnswer(REFUSED, call.call_id, site_id, reason=str(exc))
            log.info(
                "by assignment %s: call %s (business %s) -> %s: %s%s",
                request_id,
                call.call_id,
                call.business_id,
                site_id,
                tried.outcome,
                f" ({tried.reason})" if tried.reason else "",
            )
            if tried.accepted:
                answer = tried
                break
            refusals.append(f"{site_id}: {tried.outcome} {tried.reason}".strip())
    finally:  # also when cancelled: the call never stays half moved
        if answer is not None:
            _moved_out(core, call, answer.site_id, uow)
        else:
            call.attached.pop(ASSIGNED_FROM, None)
            core.end_in_ivr(call, NOT_ACCEPTED, NOT_ACCEPTED, uow)
        call.transferring, call.transfer_settled = "", None
        settled.set()
    return Assigned(answer, tuple(refusals))


def _moved_out(core: SiteCore, call: LiveCall, to_site: str, uow: UnitOfWork) -> None:
    call.overflowed = True
    call.attached["overflowed_to_site"] = to_site
    uow.emit(call.event("call.overflowed", core.now_ms(), to_site=to_site))
    core.end_in_ivr(call, EndReason.OVERFLOWED.value, ASSIGNED_OUT, uow)
