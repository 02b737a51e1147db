"""Start-up work of a site: seed demo data, recover from a crash.

A call in progress when the site stopped is lost with it, as on a real switch; on
restart each such call gets its final record (outcome ``lost``) so nothing stays open
and every call still ends with exactly one CDR. Sessions left open are closed: agents
log in again.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from vcc_domain.ids import new_id
from vcc_domain.privacy import mask_phone
from vcc_site.service.core import SiteCore, _cdr_payload
from vcc_site.store.api import CdrRecord, CredentialRecord, Event, UnitOfWork
from vcc_site.store.customers import synthetic_customers

log = logging.getLogger(__name__)


async def seed_site(core: SiteCore, customers: int) -> None:
    """Synthetic customers for an empty site; credentials for agents that have none."""
    store = core.store
    counts = await store.counts()
    if customers > 0 and counts.get("customers", 0) == 0:
        site = core.province.site(core.site_id)
        records = synthetic_customers(core.site_id, site.area_codes[0], customers)
        await store.seed_customers(records)  # type: ignore[attr-defined]
        log.info("seeded %d synthetic customers", len(records))
    missing = []
    for agent in core.province.agents_at(core.site_id):
        if agent.password_hash and agent.takes_calls and await store.credential(agent.id) is None:
            missing.append(CredentialRecord(agent.id, agent.password_hash))
    if missing:
        await store.upsert_credentials(missing)  # type: ignore[attr-defined]
        log.info("set initial credentials of %d agents", len(missing))


async def recover(core: SiteCore) -> None:
    """Close what a previous run left open: calls (lost) and agent sessions."""
    now = core.now_ms()
    uow = UnitOfWork()
    for call in await core.store.open_calls():
        ended = replace(call, state="ended", ended_at_ms=now, end_reason="lost",
                        updated_at_ms=now)
        cdr = CdrRecord(
            cdr_id=new_id("cdr"), call_id=call.call_id, site_id=call.site_id,
            home_site=call.home_site, entry_site=call.entry_site, business_id=call.business_id,
            tier=call.tier, caller_masked=mask_phone(call.caller_number), outcome="lost",
            arrival_at_ms=call.arrival_at_ms, answered_at_ms=call.answered_at_ms,
            ended_at_ms=now, wait_ms=0, ring_ms=0,
            talk_ms=max(0, now - call.answered_at_ms) if call.answered_at_ms else 0,
            hold_ms=call.hold_ms, agent_id=call.agent_id if call.answered_at_ms else "",
            transferred=call.transferred, overflowed=call.overflowed, ivr_path=call.ivr_path,
        )
        # the CDR goes up to the hub like any other (its ``cdr.created`` event)
        uow.add(ended, cdr).emit(
            Event(new_id("evt"), "call.ended", call.call_id,
                  {"call_id": call.call_id, "end_reason": "lost", "site_id": call.site_id}, now),
            Event(new_id("evt"), "cdr.created", call.call_id,
                  {"call_id": call.call_id, "site_id": call.site_id,
                   "cdr": _cdr_payload(cdr)}, now))
    for session in await core.store.open_sessions():
        uow.add(replace(session, logout_at_ms=now))
    if uow:
        log.warning("recovered after a stop: %d records closed", len(uow.rows))
        await core.store.commit(uow)
