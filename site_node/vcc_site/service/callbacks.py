"""Callbacks as agents' work: offered to ready agents like calls, recorded at wrap-up.

Every scan (:meth:`CallbackWork.offer_due`, run every second by the site's work-order
component) takes the callbacks that may be made now (:func:`vcc_domain.callbacks.
next_callbacks`: the earliest deadline first, inside the customer's window) and, while a
READY agent of the province's outbound business's skill (a specialist, else a general
agent) is idle, makes each one a live call of that business given to the ACD: the agent
gets an ordinary offer at the desk (screen pop attached ``direction = callback``, the
order, its kind and deadline), answers (the network dials the customer), talks, hangs up
and wraps up. Because a READY agent never has a call waiting for it (the ACD's
invariant) and a ringing or busy agent is offered nothing else, an agent never holds a
callback and a call at once, and callbacks never overtake a waiting caller.

The wrap-up's disposition is the callback's outcome: :meth:`outcome` adds the order's
``callback_done`` to the wrap-up's unit of work. A callback offered and not wrapped up
(the agent let it ring, the wrap-up limit ran out) is offered again on a later scan.

The middle-tier callback of a caller who hung up unanswered (:meth:`abandoned`) is
created in the same unit of work as the call's end, by :class:`SiteCore`'s hook.
"""

from __future__ import annotations

import logging

from vcc_domain import callbacks as cb
from vcc_domain import workorders as wo
from vcc_domain.ids import new_id
from vcc_domain.province import Business, BusinessKind
from vcc_domain.workorders import WorkOrder
from vcc_proto.v1 import events_pb2 as pb
from vcc_proto.workorders import order_msg
from vcc_site.domain.queue import Priority
from vcc_site.domain.results import Assignment
from vcc_site.service.callers import PRIORITY_OF_TIER, caller_home
from vcc_site.service.core import SiteCore
from vcc_site.service.live import LiveCall
from vcc_site.store.api import CallRecord, Event, UnitOfWork
from vcc_site.store.wo_reads import work_order_reads

log = logging.getLogger(__name__)

DIRECTION = "callback"


def _order_event(order: WorkOrder, action: str, at_ms: int, actor: str) -> Event:
    body = pb.WorkOrderChanged(order=order_msg(order), action=action, actor=actor)
    return Event(new_id("evt"), f"work_order.{action}", order.order_id, body, at_ms)


class CallbackWork:
    def __init__(self, core: SiteCore) -> None:
        self.core = core
        self.reads = work_order_reads(core.store)
        self.offered: dict[str, str] = {}  # order id -> the call id offering it
        self.made = 0  # callbacks offered since the start (for logs and tests)
        core.on_abandoned = self.abandoned

    def business(self) -> Business | None:
        """The province's outbound business (callbacks are its calls), if any."""
        for business in self.core.province.businesses:
            if business.kind == BusinessKind.OUTBOUND:
                return business
        return None

    def _busy(self, call_id: str) -> bool:
        """The callback's call is still live, or an agent still wraps it up."""
        if call_id in self.core.calls:
            return True
        return any(a.wrap_call_id == call_id for a in self.core.agents.values())

    async def offer_due(self) -> list[str]:
        """Offer the due callbacks to idle agents; returns the orders offered."""
        core, business = self.core, self.business()
        self.offered = {o: c for o, c in self.offered.items() if self._busy(c)}
        if business is None or core.acd.idle_agent(business.skill) is None:
            return []
        due = cb.next_callbacks(
            await self.reads.orders(state=wo.REPLIED), core.now_ms(), self.offered
        )
        done: list[str] = []
        for order in due:
            customer = await core.store.customer_by_phone(order.caller_number)
            if order.order_id in self.offered or core.acd.idle_agent(business.skill) is None:
                break  # checked again after the read: nothing awaits from here on
            call = self._call(order, business, customer.tier if customer else "")
            call.customer = customer
            uow = UnitOfWork().emit(
                call.event("call.arrived", call.arrival_at_ms, dialed_code="", direction=DIRECTION)
            )
            core.metrics.offered(business.id)
            decision = core.admit(call, business, Priority[call.priority.upper()], uow)
            self.offered[order.order_id] = call.call_id
            await core.submit(uow)
            done.append(order.order_id)
            self.made += 1
            if not isinstance(decision, Assignment):
                log.warning("callback %s queued: no agent took it at once", order.order_id)
        return done

    def _call(self, order: WorkOrder, business: Business, tier: str) -> LiveCall:
        tier = tier or order.fields.get("tier", "") or "ordinary"
        now = self.core.now_ms()
        return LiveCall(
            call_id=new_id("call"),
            site_id=self.core.site_id,
            entry_site=self.core.site_id,
            caller_number=order.caller_number,
            dialed_code="",
            business_id=business.id,
            customer=None,
            tier=tier,
            priority=PRIORITY_OF_TIER.get(tier, Priority.ORDINARY).name.lower(),
            arrival_at_ms=now,
            caller_home=caller_home(self.core, order.caller_number),
            attached={
                "direction": DIRECTION,
                "order_id": order.order_id,
                "order_kind": order.order_type,
                "callback_due_ms": str(order.callback_due_ms),
                "result": order.result,
            },
        )

    async def outcome(
        self, record: CallRecord, disposition: str, agent_id: str, uow: UnitOfWork
    ) -> None:
        """A callback's wrap-up: its disposition is recorded as the callback's outcome."""
        if record.attached.get("direction") != DIRECTION:
            return
        order_id = record.attached.get("order_id", "")
        order = await self.reads.order(order_id)
        if order is None or order.is_reference or order.state != wo.REPLIED:
            # recorded already (by hand, WorkOrders.CallbackDone) or gone: the wrap-up
            # itself must not fail for it
            log.info("callback %s not recorded at wrap-up: %s", order_id, order and order.state)
            return
        now = self.core.now_ms()
        done = wo.callback_done(order, now, cb.check_outcome(disposition))
        uow.add(done).emit(_order_event(done, "callback_done", now, agent_id))

    def abandoned(self, call: LiveCall, uow: UnitOfWork, now_ms: int) -> None:
        """A caller hung up unanswered: the tier's callback, if the province asks one."""
        if call.attached.get("direction") or call.consult_for:
            return  # an outbound call or a callback itself, or a consult leg
        order = cb.abandoned_callback(
            self.core.province.tiers.callback_within_hours,
            order_id=new_id("wo"),
            site_id=self.core.site_id,
            call_id=call.call_id,
            business_id=call.business_id,
            tier=call.tier,
            caller_number=call.caller_number,
            customer_id=call.customer.customer_id if call.customer else "",
            abandoned_at_ms=now_ms,
        )
        if order is not None:
            uow.add(order).emit(_order_event(order, "created", now_ms, "abandoned"))
