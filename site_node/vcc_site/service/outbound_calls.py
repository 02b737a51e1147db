"""Outbound campaign calls handed to the site's agents (issue 9).

The network's outbound dialer (the paced runner, :mod:`vcc_ops.outbound`) rings a
campaign's customer; once the customer picks up, :meth:`OutboundCalls.connect` makes the
call a live call of this site for the campaign's business (the province's ``outbound``
business unless named) and gives it to the ACD like any other call: a ready agent with
the business's skill gets the offer at the desk (screen pop with the campaign, entry and
notice attached), answers, talks, hangs up and wraps up; the customer's hang-up is the
ordinary ``Access.HangUp``. A call that finds no ready agent waits in the business's
queue (the dialer paces so that this is rare, see :func:`vcc_domain.outbound.pace`).

Only pending entries are connected, and the caller is looked up in this site's
customers (tier and screen pop), so the call gets the customer's queue priority.
"""

from __future__ import annotations

from vcc_domain.errors import Conflict, InvalidInput, NotFound
from vcc_domain.ids import new_id
from vcc_domain.outbound import PENDING, CampaignEntry
from vcc_domain.province import Business, BusinessKind
from vcc_site.domain.queue import Priority
from vcc_site.domain.results import Assignment, Queued
from vcc_site.service.access import StepView
from vcc_site.service.callers import PRIORITY_OF_TIER, caller_home
from vcc_site.service.campaigns import CampaignService
from vcc_site.service.core import SiteCore
from vcc_site.service.live import LiveCall
from vcc_site.store.api import UnitOfWork


class OutboundCalls:
    def __init__(self, core: SiteCore, campaigns: CampaignService) -> None:
        self.core = core
        self.campaigns = campaigns

    def business(self, business_id: str = "") -> Business:
        """The named business, or the province's first business of kind ``outbound``."""
        if business_id:
            return self.core.business(business_id)
        for business in self.core.province.businesses:
            if business.kind == BusinessKind.OUTBOUND:
                return business
        raise NotFound("the province has no outbound business", field="business_id")

    async def entry(self, campaign_id: str, entry_no: int) -> CampaignEntry:
        found = [e for e in await self.campaigns.entries(campaign_id) if e.entry_no == entry_no]
        if not found:
            raise NotFound(f"no entry {entry_no} in {campaign_id}", field="entry_no")
        if found[0].state != PENDING:
            raise Conflict(
                f"entry {entry_no} of {campaign_id} is {found[0].state}", field="entry_no"
            )
        return found[0]

    async def connect(self, campaign_id: str, entry_no: int, business_id: str = "") -> StepView:
        """The entry's customer answered the network's call: queue it for an agent."""
        core = self.core
        business = self.business(business_id)
        if business.kind != BusinessKind.OUTBOUND:
            raise InvalidInput(f"{business.id} is not an outbound business", field="business_id")
        entry = await self.entry(campaign_id, entry_no)
        customer = await core.store.customer_by_phone(entry.phone)
        tier = customer.tier if customer else entry.tier
        now = core.now_ms()
        call = LiveCall(
            call_id=new_id("call"),
            site_id=core.site_id,
            entry_site=core.site_id,
            caller_number=entry.phone,
            dialed_code="",
            business_id=business.id,
            customer=customer,
            tier=tier,
            priority=PRIORITY_OF_TIER[tier].name.lower(),
            arrival_at_ms=now,
            caller_home=caller_home(core, entry.phone),
            attached={
                "direction": "outbound",
                "campaign_id": campaign_id,
                "entry_no": str(entry_no),
                "campaign_kind": entry.kind,
                "notice": entry.notice,
            },
        )
        core.metrics.offered(business.id)
        uow = UnitOfWork().emit(
            call.event(
                "call.arrived",
                now,
                dialed_code="",
                direction="outbound",
                campaign_id=campaign_id,
                entry_no=entry_no,
            )
        )
        decision = core.admit(call, business, Priority[call.priority.upper()], uow)
        await core.submit(uow)
        if isinstance(decision, Assignment):
            leg = call.leg.leg_id if call.leg else ""
            return StepView(
                call.call_id,
                (),
                "",
                "connected",
                business_id=business.id,
                agent_id=decision.agent_id,
                leg_id=leg,
            )
        assert isinstance(decision, Queued)
        return StepView(
            call.call_id,
            (),
            "",
            "queued",
            business_id=business.id,
            position=decision.waiting,
            expected_wait_ms=int(decision.ewt_s * 1000),
        )
