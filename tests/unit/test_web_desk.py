"""The agent desktop's server side without a browser: what the page is sent, the feed a
reconnecting page is replayed, and the CSRF and origin checks of a POST."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request

from vcc_proto import web
from vcc_proto.v1 import common_pb2 as c
from vcc_proto.v1 import site_pb2 as s
from vcc_site.web import guard, present
from vcc_site.web.feed import Feed, Feeds


def offer_event(call_id: str = "call-1", pin: bool = True) -> s.AgentEvent:
    pop = s.ScreenPop(
        customer=c.CustomerSummary(
            customer_id="KM-C000000",
            name="Li Lei",
            tier=c.TIER_VIP,
            home_site_id="KM",
            masked_number="198****1828",
            open_work_orders=2,
        ),
        business_id="bill",
        dialed_code="170",
        ivr_path=[c.IvrStep(node_id="bill_query", digits="pin")],
        attached_data={"pin_verified": "1"} if pin else {},
        notes=["caller asked twice"],
    )
    return s.AgentEvent(seq=1, offer=s.Offer(call_id=call_id, screen_pop=pop))


def agent_event(state: int, call_id: str = "") -> s.AgentEvent:
    return s.AgentEvent(agent_state=s.AgentStatus(agent_id="KM-0001", state=state, call_id=call_id))


def test_the_pop_carries_what_the_desktop_shows_and_no_full_number() -> None:
    event = present.event(offer_event())
    assert event is not None and event["type"] == "offer"
    pop = event["pop"]
    assert pop["customer"]["masked_number"] == "198****1828"
    assert pop["customer"]["tier"] == "vip" and pop["customer"]["open_work_orders"] == 2
    assert pop["pin_verified"] is True
    assert pop["ivr_path"] == [{"node": "bill_query", "digits": "pin"}]
    assert present.event(offer_event(pin=False))["pop"]["pin_verified"] is False  # type: ignore[index]
    view = present.call_view(
        s.CallView(call_id="call-1", state=c.CALL_STATE_HELD, caller_number="19812341828")
    )
    assert view == {
        "type": "call",
        "call_id": "call-1",
        "state": "held",
        "end_reason": "unspecified",
    }


def test_the_site_closing_the_stream_becomes_closed() -> None:
    closed = s.AgentEvent(notice=s.Notice(code="closed", text="closed"))
    assert present.event(closed) == {"type": "closed"}
    warn = s.AgentEvent(
        at_ms=1234, notice=s.Notice(level=s.Notice.LEVEL_WARNING, code="x", text="hub away")
    )
    assert present.event(warn) == {
        "type": "notice",
        "level": "warning",
        "code": "x",
        "text": "hub away",
        "at_ms": 1234,  # the site's time of the event (push latency)
    }


class FakeClient:
    def __init__(self, events: list[s.AgentEvent]) -> None:
        self.queue: asyncio.Queue[s.AgentEvent | None] = asyncio.Queue()
        for e in events:
            self.queue.put_nowait(e)

    async def events(self, token: str) -> AsyncIterator[s.AgentEvent]:
        while (event := await self.queue.get()) is not None:
            yield event


def feed_of(events: list[s.AgentEvent], ended: list[Feed] | None = None) -> Feed:
    sink = ended if ended is not None else []
    return Feed(FakeClient(events), "tok", "KM-0001", "Agent", 60_000, sink.append)  # type: ignore[arg-type]


def drain(queue: asyncio.Queue[Any]) -> list[dict[str, Any]]:
    out = []
    while not queue.empty():
        out.append(queue.get_nowait())
    return out


def test_a_page_that_connects_late_is_shown_the_call_and_the_wrap_up_left() -> None:
    feed = feed_of([])
    for msg in (offer_event(), agent_event(s.AGENT_STATE_BUSY, "call-1")):
        feed.publish(present.event(msg))  # type: ignore[arg-type]
    feed.publish(present.event(agent_event(s.AGENT_STATE_WRAP_UP, "call-1")))  # type: ignore[arg-type]
    replay = drain(feed.subscribe())
    assert [e["type"] for e in replay] == ["hello", "offer", "agent"]
    assert replay[-1]["state"] == "wrap_up" and 0 < replay[-1]["wrapup_left_ms"] <= 60_000
    feed.publish(present.event(agent_event(s.AGENT_STATE_READY)))  # type: ignore[arg-type]
    assert [e["type"] for e in feed.replay()] == ["hello", "agent"]  # the call is gone


def test_each_event_has_its_place_in_the_feed_and_the_replay_keeps_that_order() -> None:
    """The answer to a POST is the pushed event with the same ``seq``: a page that gets
    the hold's answer after the retrieve's push can tell it is older and drop it."""
    feed = feed_of([])
    page = feed.subscribe()
    offer = feed.publish(present.event(offer_event()))  # type: ignore[arg-type]
    held = feed.publish(present.call_view(s.CallView(call_id="call-1", state=c.CALL_STATE_HELD)))
    busy = feed.publish(present.event(agent_event(s.AGENT_STATE_BUSY, "call-1")))  # type: ignore[arg-type]
    back = feed.publish(
        present.call_view(s.CallView(call_id="call-1", state=c.CALL_STATE_CONNECTED))
    )
    assert [e["seq"] for e in (offer, held, busy, back)] == [1, 2, 3, 4]
    pushed = drain(page)[1:]  # after the subscription's hello
    assert pushed == [offer, held, busy, back]  # what each POST answered, pushed as is
    # a page that (re)connects gets the call and the agent in the order they happened
    replay = feed.replay()
    assert [(e["type"], e.get("seq")) for e in replay] == [
        ("hello", None),
        ("offer", 1),
        ("agent", 3),
        ("call", 4),
    ]
    assert replay[-1]["state"] == "connected"


async def test_every_open_page_gets_each_event_and_closed_when_the_stream_ends() -> None:
    ended: list[Feed] = []
    feed = feed_of([offer_event()], ended)
    first, second = feed.subscribe(), feed.subscribe()
    feed.start()
    client: FakeClient = feed.client  # type: ignore[assignment]
    await client.queue.put(None)  # the site ends the stream
    for _ in range(1000):  # up to 10 s on a busy machine
        if ended:
            break
        await asyncio.sleep(0.01)
    assert ended == [feed]
    for queue in (first, second):
        assert [e["type"] for e in drain(queue)] == ["hello", "offer", "closed"]
    assert [e["type"] for e in drain(feed.subscribe())][-1] == "closed"


async def test_feeds_forget_an_ended_session() -> None:
    feeds = Feeds(FakeClient([]), 60_000)  # type: ignore[arg-type]
    feed = feeds.open("tok", "KM-0001", "Agent", present.agent_status(s.AgentStatus()))
    assert feeds.get("tok") is feed and feeds.get("") is None
    await feeds.client.queue.put(None)  # type: ignore[attr-defined]
    for _ in range(1000):  # up to 10 s on a busy machine
        if feeds.get("tok") is None:
            break
        await asyncio.sleep(0.01)
    assert feeds.get("tok") is None


async def test_the_events_waiting_go_to_the_page_in_one_piece_in_order_until_closed() -> None:
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    for event in ({"type": "agent", "seq": 1}, {"type": "offer", "seq": 2}, {"type": "closed"}):
        queue.put_nowait(event)
    queue.put_nowait({"type": "agent", "seq": 3})  # after closed: never sent
    pieces = [text async for text in web.queued_lines(queue, 5.0)]
    assert len(pieces) == 1 and pieces[0].endswith("\n\n")
    events = [json.loads(m.removeprefix("data: ")) for m in pieces[0].split("\n\n") if m]
    assert [(e["type"], e.get("seq")) for e in events] == [
        ("agent", 1),
        ("offer", 2),
        ("closed", None),
    ]


async def test_a_quiet_stream_keeps_alive_then_passes_on_what_comes() -> None:
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    lines = web.queued_lines(queue, 0.01)
    assert await anext(lines) == ": keepalive\n\n"  # nothing came within keepalive_s
    queue.put_nowait({"type": "closed", "text": "再见"})
    assert await anext(lines) == 'data: {"type": "closed", "text": "再见"}\n\n'
    assert [text async for text in lines] == []


def post(headers: dict[str, str], cookie: str = "") -> Request:
    raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    if cookie:
        raw.append((b"cookie", f"{guard.CSRF_COOKIE}={cookie}".encode()))
    scope = {
        "type": "http",
        "method": "POST",
        "scheme": "https",
        "path": "/api/ready",
        "headers": [(b"host", b"desk.km:8443"), *raw],
        "query_string": b"",
    }
    return Request(scope)


def test_a_post_needs_the_csrf_value_and_this_origin() -> None:
    assert guard.check_post(post({"X-VCC-CSRF": "abc"}, cookie="abc")) is None
    same = {"X-VCC-CSRF": "abc", "Origin": "https://desk.km:8443"}
    assert guard.check_post(post(same, cookie="abc")) is None
    for headers, cookie in (
        ({}, "abc"),
        ({"X-VCC-CSRF": "abc"}, ""),
        ({"X-VCC-CSRF": "abd"}, "abc"),
        ({"X-VCC-CSRF": "abc", "Origin": "https://evil.example"}, "abc"),
        ({"X-VCC-CSRF": "abc", "Origin": "http://desk.km:8443"}, "abc"),
    ):
        refusal = guard.check_post(post(headers, cookie))
        assert refusal is not None and refusal.status_code == 403, (headers, cookie)
