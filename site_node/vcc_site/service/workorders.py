"""Work-order use cases of a site (issue 9): create, department feedback, reply, callback,
close, chase, the overdue scan, and forwarding to the caller's home site.

Every change is ONE unit of work: the order's row and a ``work_order.<action>`` outbox
event carrying the whole order (``payload["order"]``), so the hub keeps a province-wide
copy (``vcc_hub.store.workorders``), newest ``version`` winning.

**Where an order lives.** An order belongs to the caller's home site. An agent at KM
serving a caller homed at DL creates the order at KM's service, which mints the ID and
calls DL's ``WorkOrders.Accept`` (idempotent on the order ID); KM then keeps a
*reference* row (``owner_site = DL``, ``forward_state = "forwarded"``). If DL cannot be
reached the order lives at KM for now (``owner_site = KM``, ``forward_state =
"pending:DL"``) and is fully usable there; :meth:`WorkOrderService.retry_forwarding`
(run periodically) hands it over later with its current state, after which KM's row
becomes a reference. Department feedback and the center's steps act on the owner's row.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import replace
from typing import Protocol

from vcc_domain import workorders as wo
from vcc_domain.calendar import CN_2025, WorkCalendar
from vcc_domain.errors import Conflict, InvalidInput, NotFound, Unauthenticated, Unavailable
from vcc_domain.ids import new_id
from vcc_domain.outages import incident_for
from vcc_domain.province import WorkOrderSpec
from vcc_domain.workorder_figures import OrderFigures, order_figures
from vcc_domain.workorders import WorkOrder
from vcc_proto.v1 import events_pb2 as pb
from vcc_proto.workorders import order_msg
from vcc_site.service.callers import caller_area
from vcc_site.service.core import SiteCore
from vcc_site.service.notices import NoticeDispatcher
from vcc_site.store.api import Event, UnitOfWork
from vcc_site.store.wo_reads import work_order_reads

log = logging.getLogger(__name__)

FAULT_REPAIR = "fault_repair"  # the work-order type of fault reports

PENDING = "pending:"
FORWARDED, RECEIVED = "forwarded", "received"
ACTIONS = ("dispatch", "progress", "answer")


class WorkOrderForwarder(Protocol):
    async def forward(self, home_site: str, order: WorkOrder) -> WorkOrder:
        """Hand ``order`` to ``home_site`` (its Accept); the order as stored there.
        Raises Unavailable when the site cannot be reached."""
        ...


def order_event(order: WorkOrder, action: str, at_ms: int, actor: str = "") -> Event:
    body = pb.WorkOrderChanged(order=order_msg(order), action=action, actor=actor)
    return Event(new_id("evt"), f"work_order.{action}", order.order_id, body, at_ms)


class WorkOrderService:
    def __init__(
        self,
        core: SiteCore,
        calendar: WorkCalendar = CN_2025,
        forwarder: WorkOrderForwarder | None = None,
        *,
        seed: str = "",
    ) -> None:
        self.core = core
        self.calendar = calendar
        self.forwarder = forwarder
        self.reads = work_order_reads(core.store)
        self.seed = seed or core.site_id
        # fault-repair notices to customers, sent after each department feedback commits
        self.notices = NoticeDispatcher()

    @property
    def site_id(self) -> str:
        return self.core.site_id

    # -- helpers -------------------------------------------------------------------

    def spec(self, business_id: str) -> WorkOrderSpec:
        spec = self.core.province.business(business_id).work_order
        if spec is None:
            raise InvalidInput(
                f"business {business_id!r} has no work-order form", field="business_id"
            )
        return spec

    async def _save(self, order: WorkOrder, action: str, actor: str = "") -> WorkOrder:
        await self.core.store.commit(
            UnitOfWork().add(order).emit(order_event(order, action, self.core.now_ms(), actor))
        )
        return order

    async def get(self, order_id: str) -> WorkOrder:
        found = await self.reads.order(order_id)
        if found is None:
            raise NotFound(f"no work order {order_id!r} at site {self.site_id}", field="order_id")
        return found

    async def _owned(self, order_id: str) -> WorkOrder:
        order = await self.get(order_id)
        if order.is_reference:
            raise Conflict(
                f"work order {order_id} lives at site {order.owner_site}",
                field="order_id",
                owner_site=order.owner_site,
            )
        return order

    async def orders(
        self, *, open_only: bool = False, state: str = "", limit: int = 1000
    ) -> list[WorkOrder]:
        return await self.reads.orders(open_only=open_only, state=state, limit=limit)

    # -- creation ---------------------------------------------------------------------

    async def _call_facts(self, call_id: str) -> tuple[str, str, str, str]:
        """(business, customer, caller number, home site) of a live or recorded call."""
        live = self.core.calls.get(call_id)
        if live is not None:
            customer = live.customer.customer_id if live.customer else ""
            return live.business_id, customer, live.caller_number, live.home_site
        record = await self.core.store.call(call_id)
        if record is None:
            raise NotFound(f"no call {call_id!r} at site {self.site_id}", field="call_id")
        return (
            record.business_id,
            record.customer_id or "",
            record.caller_number,
            record.home_site,
        )

    async def create(
        self,
        session_token: str,
        call_id: str,
        values: Mapping[str, str],
        business_id: str = "",
        home_site: str = "",
    ) -> WorkOrder:
        """An agent's order during or after ``call_id``; ``business_id`` picks the form
        (default: the call's business), ``home_site`` overrides the caller's home."""
        agent = self.core.sessions.get(session_token) if session_token else None
        if agent is None:
            raise Unauthenticated("no such session; log in again", field="session_token")
        business, customer, number, home = await self._call_facts(call_id)
        business_id = business_id or business
        spec = self.spec(business_id)
        home = home_site or home or self.site_id
        self.core.province.site(home)
        if spec.type == FAULT_REPAIR and not values.get("incident"):
            # a fault reported during an outage of the caller's area belongs to it
            area = caller_area(self.core, number)
            incident = incident_for(self.core.province.outages, area, self.core.now_ms())
            if incident:
                values = {**values, "incident": incident}
        order = wo.new_order(
            spec,
            self.calendar,
            order_id=new_id("wo"),
            site_id=self.site_id,
            owner_site=self.site_id,
            call_id=call_id,
            business_id=business_id,
            values=values,
            now_ms=self.core.now_ms(),
            customer_id=customer,
            caller_number=number,
            agent_id=agent.agent_id,
        )
        if home == self.site_id:
            return await self._save(order, "created", agent.agent_id)
        return await self._hand_over(
            replace(order, forward_state=PENDING + home), home, agent.agent_id
        )

    async def _hand_over(self, order: WorkOrder, home: str, actor: str) -> WorkOrder:
        """Forward to ``home``; on success keep a reference, else keep it here pending."""
        if self.forwarder is not None:
            there = replace(
                order,
                site_id=home,
                owner_site=home,
                forward_state=RECEIVED,
                version=order.version + 1,
            )
            try:
                stored = await self.forwarder.forward(home, there)
            except Unavailable as exc:
                log.warning(
                    "work order %s: home site %s unreachable, kept here: %s",
                    order.order_id,
                    home,
                    exc,
                )
            else:
                ref = replace(stored, site_id=self.site_id, forward_state=FORWARDED)
                return await self._save(ref, "referenced", actor)
        action = "created" if order.version == 1 else "pending"
        await self._save(order, action, actor)
        return order

    async def accept(self, order: WorkOrder) -> WorkOrder:
        """Another site hands over an order homed here (idempotent on the order ID)."""
        if order.owner_site != self.site_id:
            raise InvalidInput(
                f"order belongs to {order.owner_site}, not {self.site_id}", field="owner_site"
            )
        held = await self.reads.order(order.order_id)
        if held is not None and not held.is_reference:
            return held
        self.spec(order.business_id)
        mine = replace(order, site_id=self.site_id, forward_state=RECEIVED)
        return await self._save(mine, "created", f"remote:{order.origin_site}")

    async def retry_forwarding(self) -> int:
        """Hand over orders kept here while their home site was unreachable."""
        moved = 0
        for order in await self.reads.orders():
            if order.forward_state.startswith(PENDING) and not order.is_reference:
                home = order.forward_state.removeprefix(PENDING)
                if (await self._hand_over(order, home, "forwarder")).is_reference:
                    moved += 1
        return moved

    # -- department feedback and the center's steps ------------------------------------

    async def feedback(
        self,
        order_id: str,
        action: str,
        details: Mapping[str, str],
        result: str = "",
        actor: str = "",
    ) -> list[WorkOrder]:
        """A department's feedback: ``dispatch`` (fault: repair_team, repair_phone,
        departure_time, expected_repair_time), ``progress`` or ``answer`` with the result.
        An answer to a fault order of an incident answers every open order of that
        incident and selects the callback sample over them. Returns the changed orders."""
        order = await self._owned(order_id)
        now = self.core.now_ms()
        if action == "dispatch":
            changed = [wo.dispatch(order, now, details)]
        elif action == "progress":
            changed = [wo.progress(order, now, details)]
        elif action == "answer":
            changed = await self._answer(order, now, details, result)
        else:
            raise InvalidInput(f"action must be one of {ACTIONS}", field="action")
        uow = UnitOfWork()
        for o in changed:
            uow.add(o).emit(order_event(o, action, now, actor))
        await self.core.store.commit(uow)
        self.notices.after_feedback(changed, action, now)  # committed: now tell customers
        return changed

    async def _answer(
        self, order: WorkOrder, now: int, details: Mapping[str, str], result: str
    ) -> list[WorkOrder]:
        spec = self.spec(order.business_id)
        group = [order]
        if order.incident:
            group += [
                o
                for o in await self.reads.orders(incident=order.incident)
                if o.order_id != order.order_id
                and not o.is_reference
                and o.state in (wo.DISPATCHED, wo.IN_PROGRESS)
            ]
        chosen = wo.select_callbacks(
            group, spec.callback_percent, f"{self.seed}:{order.incident or order.order_id}"
        )
        return [
            wo.answer(o, spec, self.calendar, now, result, details, callback=o.order_id in chosen)
            for o in group
        ]

    async def reply(self, order_id: str, actor: str = "") -> WorkOrder:
        order = wo.reply(await self._owned(order_id), self.core.now_ms())
        return await self._save(order, "replied", actor)

    async def callback_done(self, order_id: str, result: str, actor: str = "") -> WorkOrder:
        order = wo.callback_done(await self._owned(order_id), self.core.now_ms(), result)
        return await self._save(order, "callback_done", actor)

    async def close(self, order_id: str, actor: str = "") -> WorkOrder:
        order = wo.close(await self._owned(order_id), self.core.now_ms())
        return await self._save(order, "closed", actor)

    async def chase(self, order_id: str, actor: str = "") -> WorkOrder:
        order = wo.chase(await self._owned(order_id), self.core.now_ms())
        return await self._save(order, "chased", actor)

    # -- periodic: overdue scan -----------------------------------------------------------

    async def scan_overdue(self) -> list[WorkOrder]:
        """Escalate (and chase) every open order whose level rose; one unit of work."""
        now = self.core.now_ms()
        changed = wo.scan_overdue(await self.reads.orders(open_only=True), now)
        if changed:
            uow = UnitOfWork()
            for o in changed:
                uow.add(o).emit(order_event(o, "escalated", now, "scanner"))
            await self.core.store.commit(uow)
            log.info("work orders: %d escalated", len(changed))
        return changed

    async def figures(self) -> list[OrderFigures]:
        return order_figures(await self.reads.orders(), self.core.now_ms())
