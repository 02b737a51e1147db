"""Start-up work of a site: seed demo data, recover from a crash.

A call in progress when the site stopped is lost with it, as on a real switch; on
restart each such call gets its final record (outcome ``lost``) so nothing stays open
and every call still ends with exactly one CDR, written by its one owner (a call taken
over from another site is first checked with that site). Sessions left open are closed:
agents log in again.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import replace

from vcc_domain.ids import new_id
from vcc_domain.privacy import mask_phone
from vcc_proto.v1 import events_pb2 as pb
from vcc_site.service.board import day_start_ms
from vcc_site.service.core import SiteCore
from vcc_site.store.api import CallRecord, CdrRecord, CredentialRecord, Event, UnitOfWork
from vcc_site.store.customers import synthetic_customers

log = logging.getLogger(__name__)


async def seed_site(
    core: SiteCore, customers: int, initial: Mapping[str, str] | None = None
) -> None:
    """Synthetic customers for an empty site; initial credentials (to be changed at the
    first sign-in) for the site's people that have none: the hash given to this site in
    ``initial`` (:mod:`vcc_proto.initial_secrets`), else the directory's."""
    store = core.store
    counts = await store.counts()
    if customers > 0 and counts.get("customers", 0) == 0:
        site = core.province.site(core.site_id)
        records = synthetic_customers(core.site_id, site.area_codes[0], customers)
        await store.seed_customers(records)  # type: ignore[attr-defined]
        log.info("seeded %d synthetic customers", len(records))
    missing = []
    for agent in core.province.agents_at(core.site_id):
        hashed = (initial or {}).get(agent.id) or agent.password_hash
        if hashed and await store.credential(agent.id) is None:
            missing.append(CredentialRecord(agent.id, hashed, must_change=True))
    if missing:
        await store.upsert_credentials(missing)  # type: ignore[attr-defined]
        log.info("set initial credentials of %d people", len(missing))


async def recover(core: SiteCore) -> list[CallRecord]:
    """Close what a previous run left open: calls and agent sessions.

    A call this site owned is lost with it (outcome ``lost``). A consult leg served here
    for a call owned elsewhere ends without a CDR (its owner writes it). A call this site
    had TAKEN OVER from another site may still be owned there (the transfer was accepted
    here, but the answer never reached the origin): those are returned, untouched, for
    :func:`vcc_site.service.moves.ownership.settle_taken_over` to ask the origin first.
    """
    now = core.now_ms()
    uow = UnitOfWork()
    pending: list[CallRecord] = []
    for call in await core.store.open_calls():
        if call.attached.get("transferred_from_site"):
            pending.append(call)
        elif call.attached.get("consult_for"):
            close_without_cdr(uow, call, now, "lost", "consult.ended")
        else:
            close_lost(uow, call, now)
    for session in await core.store.open_sessions():
        uow.add(replace(session, logout_at_ms=now))
    if uow:
        log.warning("recovered after a stop: %d records closed", len(uow.rows))
        await core.store.commit(uow)
    if pending:
        log.warning(
            "recovered after a stop: %d calls taken over from other sites wait for "
            "their origin to say who owns them",
            len(pending),
        )
    return pending


def close_lost(uow: UnitOfWork, call: CallRecord, now: int) -> None:
    """The site owned the call and lost it: it ends with its final CDR (outcome lost)."""
    ended = replace(call, state="ended", ended_at_ms=now, end_reason="lost", updated_at_ms=now)
    cdr = CdrRecord(
        cdr_id=new_id("cdr"),
        call_id=call.call_id,
        site_id=call.site_id,
        home_site=call.home_site,
        entry_site=call.entry_site,
        business_id=call.business_id,
        tier=call.tier,
        caller_masked=mask_phone(call.caller_number),
        outcome="lost",
        arrival_at_ms=call.arrival_at_ms,
        answered_at_ms=call.answered_at_ms,
        ended_at_ms=now,
        wait_ms=0,
        ring_ms=0,
        talk_ms=max(0, now - call.answered_at_ms) if call.answered_at_ms else 0,
        hold_ms=call.hold_ms,
        agent_id=call.agent_id if call.answered_at_ms else "",
        transferred=call.transferred,
        overflowed=call.overflowed,
        ivr_path=call.ivr_path,
    )
    # the CDR goes up to the hub like any other (its ``cdr.created`` event)
    info = pb.CallInfo(call_id=call.call_id, site_id=call.site_id)  # state: unchanged
    uow.add(ended, cdr).emit(
        Event(
            new_id("evt"),
            "call.ended",
            call.call_id,
            pb.CallEnded(call=info, end_reason="lost"),
            now,
        ),
        Event(new_id("evt"), "cdr.created", call.call_id, pb.CdrCreated(call=info, cdr=cdr), now),
    )


def close_without_cdr(
    uow: UnitOfWork, call: CallRecord, now: int, reason: str, kind: str = "call.ended"
) -> None:
    """The call (or leg) is not this site's to account for: its record ends, no CDR."""
    ended = replace(call, state="ended", ended_at_ms=now, end_reason=reason, updated_at_ms=now)
    info = pb.CallInfo(call_id=call.call_id, site_id=call.site_id)  # state: unchanged
    uow.add(ended).emit(
        Event(new_id("evt"), kind, call.call_id, pb.CallEnded(call=info, end_reason=reason), now)
    )


async def count_today(core: SiteCore, page: int = 1000) -> int:
    """Tally the CDRs written here since the local day began (a restart keeps the board's
    day figures); returns how many. Pages overlap by a millisecond so calls ending in the
    same one are not lost, unless more than ``page`` of them do."""
    seen: set[str] = set()
    after = day_start_ms(core.now_ms()) - 1
    while True:
        rows = await core.store.cdrs(limit=page, after_ended_at_ms=after)
        for cdr in rows:
            if cdr.cdr_id not in seen:
                seen.add(cdr.cdr_id)
                core.today.add(cdr, core.find_business(cdr.business_id))
        if len(rows) < page:
            return len(seen)
        last = rows[-1].ended_at_ms
        after = last if after == last - 1 else last - 1  # no progress: past the tie
