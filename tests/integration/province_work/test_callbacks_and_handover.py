"""Callbacks as agents' work and the shift handover, through the public gRPC API of the
package's real province (hub on PostgreSQL; see ``conftest``): the handover at Kunming
(SQLite) and at Dali (PostgreSQL).

Callbacks: a middle-tier caller who gives up in the queue is owed a callback within 24 h;
once the agent is free the site offers it like a call (screen pop ``direction =
callback``), the agent answers and wraps up with the outcome, which the order records and
the figures count as on time.

Handover: both leaders must be signed in (``People``); the outgoing leader cannot sign
out before the successor signed in and acknowledged the handover, which lists the
unfinished orders (one written just before) and the notes.
"""

from __future__ import annotations

import grpc
import pytest

from tests.integration._helpers.linked import LinkedSite, Province
from tests.integration._helpers.site import PASSWORD, Client, Desk, signed_in, until
from vcc_domain.callbacks import ABANDONED_KIND, HOUR_MS
from vcc_ops.traffic.seat import open_seat, seat_password
from vcc_proto.v1 import people_pb2 as p
from vcc_proto.v1 import people_pb2_grpc as pg
from vcc_proto.v1 import site_pb2 as s
from vcc_proto.v1 import site_pb2_grpc as sg
from vcc_site.store.customers import synthetic_customers

# site: a general agent (takes the one-number business's calls), the site's customers
CALLBACKS = {
    "KM": ("KM-0135", synthetic_customers("KM", "0871", 40)),
    "DL": ("DL-0038", synthetic_customers("DL", "0872", 40)),
}
REFUSED = grpc.StatusCode.FAILED_PRECONDITION
SEATED = "KM-0198"  # a shift leader (takes calls) whose initial password is unchanged
# site: outgoing and incoming team leader, a general agent, a caller
HANDOVER = {
    "KM": ("KM-0190", "KM-0191", "KM-0136", "08715550061"),
    "DL": ("DL-0059", "DL-0060", "DL-0036", "08725550061"),
}


def _offer_of(desk: Desk, direction: str) -> s.Offer | None:
    for e in desk.events:
        if e.HasField("offer") and e.offer.screen_pop.attached_data.get("direction") == direction:
            return e.offer
    return None


@pytest.mark.parametrize("site_id", ["KM", "DL"])  # SQLite, PostgreSQL
async def test_abandoned_middle_tier_caller_is_called_back_by_an_agent(
    km: Client, dl: Client, site_id: str
) -> None:
    client = km if site_id == "KM" else dl
    agent, customers = CALLBACKS[site_id]
    ordinary = next(c.phone for c in customers if c.tier == "ordinary")
    middle = next(c.phone for c in customers if c.tier == "middle")
    desk = await client.login(agent)
    await desk.ready()
    first = await client.offer(ordinary, "1000", "0")
    await until(lambda: _async(first.call_id in desk.offers() or None), "the first offer")
    await desk.answer(first.call_id)
    waiting = await client.offer(middle, "1000", "0")
    assert waiting.HasField("queued"), waiting  # the agent is on a call
    await client.access.HangUp(s.CallRef(call_id=waiting.call_id))  # gives up

    orders = sg.WorkOrdersStub(client.channel)
    listed = await orders.List(s.ListWorkOrdersRequest())
    owed = [
        o for o in listed.orders if o.order_type == ABANDONED_KIND and o.caller_number == middle
    ]
    assert len(owed) == 1 and owed[0].caller_number == middle
    assert owed[0].callback_due_ms - owed[0].created_at_ms == 24 * HOUR_MS

    await desk.hang_up(first.call_id)
    await desk.wrap_up(first.call_id)  # free again: the callback is offered like a call
    offer = await until(lambda: _async(_offer_of(desk, "callback")), "the callback's offer")
    assert offer.screen_pop.attached_data["order_id"] == owed[0].order_id
    await desk.answer(offer.call_id)
    await desk.hang_up(offer.call_id)
    await desk.wrap_up(offer.call_id, "customer reached")

    done = await orders.Get(s.WorkOrderRef(order_id=owed[0].order_id))
    assert done.state == "callback_done" and done.callback_result == "customer reached"
    figures = await orders.GetFigures(s.WorkOrderFiguresRequest())
    row = next(f for f in figures.figures if f.kind == ABANDONED_KIND)
    assert (row.callbacks_required, row.callbacks_on_time, row.callbacks_missed) == (1, 1, 0)


async def _async(value: object) -> object:
    return value


async def _order_written(client: Client, agent: str, caller: str) -> str:
    """A caller served by ``agent`` (1000, then 0) and an inquiry order written: open."""
    desk = await client.login(agent)
    await desk.ready()
    step = await client.offer(caller, "1000", "0")
    await until(lambda: _async(step.call_id in desk.offers() or None), "the offer")
    await desk.answer(step.call_id)
    order = await sg.WorkOrdersStub(client.channel).Create(
        s.CreateWorkOrderRequest(
            session_token=desk.token,
            call_id=step.call_id,
            fields={"name": "Li", "phone": caller, "question": "tariff"},
        )
    )
    await desk.hang_up(step.call_id)
    await desk.wrap_up(step.call_id)
    order_id: str = order.order_id
    return order_id


@pytest.mark.parametrize("site_id", ["KM", "DL"])  # SQLite, PostgreSQL
async def test_leader_signs_out_only_after_the_successor_acknowledged(
    province: Province, km: Client, dl: Client, site_id: str
) -> None:
    site: LinkedSite = province.km if site_id == "KM" else province.dl
    client = km if site_id == "KM" else dl
    outgoing_id, incoming_id, agent, caller = HANDOVER[site_id]
    open_order = await _order_written(client, agent, caller)
    people, orders = pg.PeopleStub(client.channel), sg.WorkOrdersStub(client.channel)

    async def refused(call: object) -> grpc.StatusCode:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await call  # type: ignore[misc]
        return err.value.code()

    outgoing = await signed_in(people, site.target, outgoing_id, change=False)
    assert await refused(people.SignOut(p.SignOutRequest(), metadata=outgoing)) == REFUSED
    written = await orders.CreateHandover(
        s.CreateHandoverRequest(outgoing_leader=outgoing_id, notes="trunk 7 noisy")
    )
    assert written.notes == "trunk 7 noisy" and open_order in written.unfinished_orders
    assert await refused(people.SignOut(p.SignOutRequest(), metadata=outgoing)) == REFUSED
    assert (
        await refused(
            orders.AcknowledgeHandover(
                s.AcknowledgeHandoverRequest(
                    handover_id=written.handover_id, incoming_leader=incoming_id
                )
            )
        )
        == REFUSED  # the successor has not signed in
    )
    incoming = await signed_in(people, site.target, incoming_id, change=False)
    listed = await orders.ListHandovers(s.ListHandoversRequest())
    assert [h.handover_id for h in listed.handovers] == [written.handover_id]
    acked = await orders.AcknowledgeHandover(
        s.AcknowledgeHandoverRequest(handover_id=written.handover_id, incoming_leader=incoming_id)
    )
    assert acked.incoming_leader == incoming_id and acked.acknowledged_at_ms > 0
    await people.SignOut(p.SignOutRequest(), metadata=outgoing)  # handed over: may go
    # the successor now holds the shift and may not leave without a handover either
    assert await refused(people.SignOut(p.SignOutRequest(), metadata=incoming)) == REFUSED
    assert site.rows(
        "SELECT incoming_leader FROM handovers WHERE handover_id = ?", written.handover_id
    ) == [(incoming_id,)]  # stored in the site's own database


async def test_a_leaders_bot_opens_its_seat_at_the_first_sign_in(km: Client) -> None:
    """The tools' bots (``vcc bench``, the demo) change a leader's initial password as the
    web desk does and open the seat; the person stays signed in (a leader may not sign
    out before handing the shift over)."""
    reply, used = await open_seat(km.desk, km.people, SEATED, PASSWORD, "test-seat")
    assert reply.session_token and used == seat_password(PASSWORD)
    again = await km.people.SignIn(p.SignInRequest(person_id=SEATED, password=used))
    assert not again.person.must_change_password
