"""Work orders in the simulated province: agents open them, the back office answers them
and the center calls the customer back.

An agent ends a share of the calls of a business with a work-order form by filling the
form (``WorkOrders.Create`` at their site; an order for a caller homed elsewhere lives at
the home site). After ``answer_after_s`` province seconds the department dispatches and answers it
(``Feedback`` at the owning site) and the center replies (``Reply``); a callback the order
needs is offered by the site to a ready agent (a bot, which answers and wraps up with the
outcome); once it is recorded the order is closed (``Close``). The report shows each site's work-order figures.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import grpc.aio

from vcc_domain.callbacks import ABANDONED_KIND
from vcc_domain.province import Province
from vcc_proto.channels import open_channel
from vcc_proto.v1 import site_pb2 as s
from vcc_proto.v1 import site_pb2_grpc as sg


@dataclass
class OpenOrder:
    order_id: str
    owner_site: str
    callback_required: bool
    created_wall: float
    stage: str = "created"  # created | answered | replied | called_back | closed


class WorkOrderDesk:
    def __init__(
        self,
        province: Province,
        endpoint_of: Callable[[str], str],
        speed: float,
        answer_after_s: float = 900.0,
    ) -> None:
        self.province = province
        self.endpoint_of = endpoint_of
        self.answer_after_wall_s = answer_after_s / speed
        self.channels: dict[str, grpc.aio.Channel] = {}
        self.open: list[OpenOrder] = []
        self.created = 0
        self.replied = 0
        self.callbacks = 0
        self.closed = 0
        self.errors: list[str] = []

    def _stub(self, site: str) -> sg.WorkOrdersStub:
        channel = self.channels.get(site)
        if channel is None:
            channel = self.channels[site] = open_channel(self.endpoint_of(site))
        return sg.WorkOrdersStub(channel)

    def has_form(self, business_id: str) -> bool:
        with contextlib.suppress(Exception):
            return self.province.business(business_id).work_order is not None
        return False

    async def create(
        self, site: str, token: str, call_id: str, business_id: str, agent_id: str
    ) -> None:
        spec = self.province.business(business_id).work_order
        if spec is None:
            return
        fields = {name: f"{name} (demo, {agent_id})" for name in spec.fields}
        try:
            order = await self._stub(site).Create(
                s.CreateWorkOrderRequest(session_token=token, call_id=call_id, fields=fields),
                timeout=15,
            )
        except grpc.aio.AioRpcError as exc:
            self._error(f"create at {site} for {call_id}: {exc.code().name} {exc.details()}")
            return
        self.created += 1
        self.open.append(
            OpenOrder(
                order.order_id, order.owner_site or site, order.callback_required, time.monotonic()
            )
        )

    async def run(self) -> None:
        """The back office: answer orders once they are old enough, then call back."""
        while True:
            await asyncio.sleep(1.0)
            await self.work(time.monotonic() - self.answer_after_wall_s)

    async def work(self, created_before: float) -> None:
        """Take every order created before ``created_before`` (monotonic) through its
        remaining steps; an order leaves the list only when done or refused, so a pass
        cut short (the run stopping) is finished by the next one."""
        for order in [o for o in self.open if o.created_wall <= created_before]:
            try:
                await self._advance(order)
            except grpc.aio.AioRpcError as exc:
                self._error(
                    f"{order.order_id} at {order.owner_site} ({order.stage}): "
                    f"{exc.code().name} {exc.details()}"
                )
                self.open.remove(order)
                continue
            if order.stage != "replied":  # done; a replied order awaits its callback
                self.open.remove(order)

    async def _advance(self, order: OpenOrder) -> None:
        stub = self._stub(order.owner_site)
        if order.stage == "created":  # the department's side
            for action in ("dispatch", "answer"):
                await stub.Feedback(
                    s.WorkOrderFeedbackRequest(
                        order_id=order.order_id,
                        action=action,
                        actor="department",
                        result="done" if action == "answer" else "",
                    ),
                    timeout=15,
                )
            order.stage = "answered"
        if order.stage == "answered":
            replied = await stub.Reply(
                s.WorkOrderStep(order_id=order.order_id, actor="back-office"), timeout=15
            )
            self.replied += 1
            order.callback_required = order.callback_required or replied.callback_required
            order.stage = "replied"
        if order.stage == "replied" and order.callback_required:
            # the site offers the callback to a ready agent (a bot); close it once made
            held = await stub.Get(s.WorkOrderRef(order_id=order.order_id), timeout=15)
            if not held.callback_done_at_ms:
                return  # not made yet: asked again on the next pass
            self.callbacks += 1
            order.stage = "called_back"
        if order.stage in ("replied", "called_back"):
            await stub.Close(
                s.WorkOrderStep(order_id=order.order_id, actor="back-office"), timeout=15
            )
            self.closed += 1
            order.stage = "closed"

    async def figures(self, sites: list[str]) -> dict[str, Any]:
        """Each site's work-order totals (the ``*`` row of ``WorkOrders.GetFigures``); the
        callbacks owed to callers who gave up apart (the site opens those itself)."""
        out: dict[str, Any] = {
            "created": self.created,
            "replied": self.replied,
            "callbacks_done": self.callbacks,
            "closed": self.closed,
            "errors": self.errors[:10],
            "sites": {},
        }
        for site in sites:
            try:
                reply = await self._stub(site).GetFigures(s.WorkOrderFiguresRequest(), timeout=15)
            except grpc.aio.AioRpcError as exc:
                out["sites"][site] = {"error": exc.code().name}
                continue
            out["sites"][site] = _site_figures(list(reply.figures))
        return out

    def _error(self, what: str) -> None:
        if len(self.errors) < 50:
            self.errors.append(what)

    async def close(self) -> None:
        for channel in self.channels.values():
            await channel.close()
        self.channels.clear()


def _site_figures(figures: list[s.WorkOrderFigure]) -> dict[str, Any]:
    """The agents' orders (``total`` etc.: the ``*`` row less the abandoned-call
    callbacks), every required callback judged, and the abandoned-call callbacks."""
    whole = next((f for f in figures if f.kind == "*" and f.department == "*"), None)
    if whole is None:
        return {}
    owed = [f for f in figures if f.kind == ABANDONED_KIND]
    less = sum(f.total for f in owed)
    return {
        "total": whole.total - less,
        "answered": whole.answered,
        "answered_on_time": whole.answered_on_time,
        "outstanding": whole.outstanding - sum(f.outstanding for f in owed),
        "overdue": whole.overdue - sum(f.overdue for f in owed),
        "callbacks_required": whole.callbacks_required,
        "callbacks_done": whole.callbacks_done,
        "callbacks_on_time": whole.callbacks_on_time,
        "callbacks_late": whole.callbacks_late,
        "callbacks_missed": whole.callbacks_missed,
        "abandoned_callbacks": {
            "required": sum(f.callbacks_required for f in owed),
            "done": sum(f.callbacks_done for f in owed),
            "on_time": sum(f.callbacks_on_time for f in owed),
            "late": sum(f.callbacks_late for f in owed),
            "missed": sum(f.callbacks_missed for f in owed),
        },
    }
