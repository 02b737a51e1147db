"""Callbacks as agents' work and the shift handover, through a real site's gRPC API, on
SQLite and on PostgreSQL (one site process per database for the module).

Callbacks: a middle-tier caller who gives up in the queue is owed a callback within 24 h;
once the agent is free the site offers it like a call (screen pop ``direction =
callback``), the agent answers and wraps up with the outcome, which the order records and
the figures count as on time.

Handover: both leaders must be signed in (``People``); the outgoing leader cannot sign
out before the successor signed in and acknowledged the handover, which lists the
unfinished orders and the notes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import grpc
import pytest

from tests.integration._helpers.site import PASSWORD, Client, Desk, SiteProcess, until
from vcc_domain.callbacks import ABANDONED_KIND, HOUR_MS
from vcc_ops.infra import PostgresServer
from vcc_ops.traffic.seat import open_seat, seat_password
from vcc_proto.channels import open_channel
from vcc_proto.v1 import people_pb2 as p
from vcc_proto.v1 import people_pb2_grpc as pg
from vcc_proto.v1 import site_pb2 as s
from vcc_proto.v1 import site_pb2_grpc as sg
from vcc_site.store.customers import synthetic_customers

AGENT = "KM-0131"  # general: takes the outbound business's calls
OUTGOING, INCOMING = "KM-0190", "KM-0191"
SEATED = "KM-0198"  # a shift leader (takes calls) whose initial password is unchanged
CUSTOMERS = synthetic_customers("KM", "0871", 40)
ORDINARY = next(c.phone for c in CUSTOMERS if c.tier == "ordinary")
MIDDLE = next(c.phone for c in CUSTOMERS if c.tier == "middle")
REFUSED = grpc.StatusCode.FAILED_PRECONDITION


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def site(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SiteProcess]:
    tmp = tmp_path_factory.mktemp(f"callbacks-{request.param}")
    db_url = None
    if request.param == "postgres":
        pg_server: PostgresServer = request.getfixturevalue("postgres_server")
        db_url = pg_server.create_database("callbacks_handover")
    proc = SiteProcess(tmp, db_url=db_url).start()
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture
async def client(site: SiteProcess) -> AsyncIterator[Client]:
    c = Client(site.target)
    try:
        yield c
    finally:
        await c.close()


def _offer_of(desk: Desk, direction: str) -> s.Offer | None:
    for e in desk.events:
        if e.HasField("offer") and e.offer.screen_pop.attached_data.get("direction") == direction:
            return e.offer
    return None


async def test_abandoned_middle_tier_caller_is_called_back_by_an_agent(client: Client) -> None:
    desk = await client.login(AGENT, PASSWORD)
    await desk.ready()
    first = await client.offer(ORDINARY, "1000", "0")
    await until(lambda: _async(first.call_id in desk.offers() or None), "the first offer")
    await desk.answer(first.call_id)
    waiting = await client.offer(MIDDLE, "1000", "0")
    assert waiting.HasField("queued"), waiting  # the agent is on a call
    await client.access.HangUp(s.CallRef(call_id=waiting.call_id))  # gives up

    orders = sg.WorkOrdersStub(client.channel)
    listed = await orders.List(s.ListWorkOrdersRequest())
    owed = [o for o in listed.orders if o.order_type == ABANDONED_KIND]
    assert len(owed) == 1 and owed[0].caller_number == MIDDLE
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


async def test_leader_signs_out_only_after_the_successor_acknowledged(site: SiteProcess) -> None:
    async with open_channel(site.target) as channel:
        people, orders = pg.PeopleStub(channel), sg.WorkOrdersStub(channel)

        async def sign_in(who: str) -> tuple[tuple[str, str]]:
            reply = await people.SignIn(p.SignInRequest(person_id=who, password=PASSWORD))
            return (("authorization", f"Bearer {reply.session_token}"),)

        async def refused(call: object) -> grpc.StatusCode:
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await call  # type: ignore[misc]
            return err.value.code()

        outgoing = await sign_in(OUTGOING)
        assert await refused(people.SignOut(p.SignOutRequest(), metadata=outgoing)) == REFUSED
        written = await orders.CreateHandover(
            s.CreateHandoverRequest(outgoing_leader=OUTGOING, notes="trunk 7 noisy")
        )
        assert written.notes == "trunk 7 noisy" and written.unfinished_orders  # the callback's
        assert await refused(people.SignOut(p.SignOutRequest(), metadata=outgoing)) == REFUSED
        assert (
            await refused(
                orders.AcknowledgeHandover(
                    s.AcknowledgeHandoverRequest(
                        handover_id=written.handover_id, incoming_leader=INCOMING
                    )
                )
            )
            == REFUSED  # the successor has not signed in
        )
        incoming = await sign_in(INCOMING)
        listed = await orders.ListHandovers(s.ListHandoversRequest())
        assert [h.handover_id for h in listed.handovers] == [written.handover_id]
        acked = await orders.AcknowledgeHandover(
            s.AcknowledgeHandoverRequest(handover_id=written.handover_id, incoming_leader=INCOMING)
        )
        assert acked.incoming_leader == INCOMING and acked.acknowledged_at_ms > 0
        await people.SignOut(p.SignOutRequest(), metadata=outgoing)  # handed over: may go
        # the successor now holds the shift and may not leave without a handover either
        assert await refused(people.SignOut(p.SignOutRequest(), metadata=incoming)) == REFUSED


async def test_a_leaders_bot_opens_its_seat_at_the_first_sign_in(client: Client) -> None:
    """The tools' bots (``vcc bench``, the demo) change a leader's initial password as the
    web desk does and open the seat; the person stays signed in (a leader may not sign
    out before handing the shift over)."""
    reply, used = await open_seat(client.desk, client.people, SEATED, PASSWORD, "test-seat")
    assert reply.session_token and used == seat_password(PASSWORD)
    again = await client.people.SignIn(p.SignInRequest(person_id=SEATED, password=used))
    assert not again.person.must_change_password
