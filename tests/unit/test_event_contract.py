"""The site -> hub event contract (``vcc_proto/v1/events.proto``): every kind round-trips,
bad bytes are refused with a clear error, and an event of another version still reads."""

from __future__ import annotations

import re

import pytest
from google.protobuf.message import Message

from vcc_proto.v1 import events_pb2 as pb
from vcc_proto.v1 import site_pb2 as s
from vcc_replication.events import (
    BODY_FIELDS,
    InvalidEvent,
    body_field,
    body_of,
    decode,
    encode,
    encode_stored,
    event,
    headers,
    stored,
)

CALL = pb.CallInfo(
    call_id="call_1",
    site_id="KM",
    state="queued",
    business_id="bill_query",
    tier="vip",
    priority="vip",
    agent_id="KM-A001",
)
CONSULT = pb.CallInfo(call_id="call_1", site_id="DL", state="offered", owner_site="KM")
CDR = pb.Cdr(
    cdr_id="cdr_1",
    call_id="call_1",
    site_id="KM",
    home_site="DL",
    entry_site="KM",
    business_id="bill_query",
    tier="vip",
    caller_masked="138****0001",
    outcome="answered",
    arrival_at_ms=1000,
    answered_at_ms=3000,
    ended_at_ms=9000,
    wait_ms=2000,
    ring_ms=500,
    talk_ms=6000,
    hold_ms=100,
    agent_id="KM-A001",
    transferred=True,
    overflowed=True,
    ivr_path=["root:1", "billing"],
)
LEG = pb.Leg(
    leg_id="leg_1",
    kind="initial",
    serving_site="KM",
    home_site="DL",
    agent_id="KM-A001",
    offered_at_ms=2500,
    answered_at_ms=3000,
    ended_at_ms=9000,
    end_reason="completed",
)
ORDER = s.WorkOrder(
    order_id="wo_1",
    site_id="KM",
    owner_site="KM",
    origin_site="KM",
    call_id="call_1",
    business_id="fault_report",
    order_type="fault_repair",
    department="repairs",
    state="created",
    created_at_ms=1,
    answer_due_ms=2,
    latest_due_ms=3,
    fields={"address": "1 Main St"},
    version=1,
)

#: one sample per oneof field of the body: (kind, body). A new kind needs one here.
SAMPLES: dict[str, tuple[str, Message]] = {
    "call_arrived": (
        "call.arrived",
        pb.CallArrived(
            call=CALL, dialed_code="95598", direction="outbound", campaign_id="c1", entry_no=3
        ),
    ),
    "call_queued": ("call.queued", pb.CallQueued(call=CALL)),
    "call_offered": ("call.offered", pb.CallOffered(call=CALL, via="longest_idle", leg_id="leg_1")),
    "call_answered": ("call.answered", pb.CallAnswered(call=CALL, answered_at_ms=5)),
    "call_held": ("call.held", pb.CallHeld(call=CALL, why="consult")),
    "call_resumed": ("call.resumed", pb.CallResumed(call=CALL)),
    "call_ended": ("call.ended", pb.CallEnded(call=CALL, end_reason="completed")),
    "call_transferred": (
        "call.transferred",
        pb.CallTransferred(
            call=CALL, from_agent="A1", note="n", to_agent="A2", to_site="DL", via="x"
        ),
    ),
    "call_transferred_in": (
        "call.transferred_in",
        pb.CallTransferredIn(
            call=CALL, from_site="DL", from_agent="A1", request_id="r", leg_id="l", via="x"
        ),
    ),
    "call_overflowed": ("call.overflowed", pb.CallOverflowed(call=CALL, to_site="DL")),
    "call_conferenced": ("call.conferenced", pb.CallConferenced(call=CALL)),
    "call_requested": (
        "call.requested",
        pb.CallRequested(call=CALL, from_agent="A1", leg_id="l", to_agent="A2"),
    ),
    "call_wrapped_up": ("call.wrapped_up", pb.CallWrappedUp(call=CALL, disposition="ok")),
    "consult_queued": ("consult.queued", pb.CallQueued(call=CONSULT)),
    "consult_offered": ("consult.offered", pb.CallOffered(call=CONSULT, leg_id="l")),
    "consult_answered": ("consult.answered", pb.CallAnswered(call=CONSULT, answered_at_ms=1)),
    "consult_held": ("consult.held", pb.CallHeld(call=CONSULT)),
    "consult_resumed": ("consult.resumed", pb.CallResumed(call=CONSULT)),
    "consult_ended": ("consult.ended", pb.CallEnded(call=CONSULT, end_reason="lost")),
    "consult_transferred": ("consult.transferred", pb.CallTransferred(call=CONSULT, to_site="KM")),
    "consult_transferred_in": (
        "consult.transferred_in",
        pb.CallTransferredIn(call=CONSULT, from_site="KM"),
    ),
    "consult_overflowed": ("consult.overflowed", pb.CallOverflowed(call=CONSULT, to_site="KM")),
    "consult_conferenced": ("consult.conferenced", pb.CallConferenced(call=CONSULT)),
    "consult_requested": ("consult.requested", pb.CallRequested(call=CONSULT, leg_id="l")),
    "cdr_created": ("cdr.created", pb.CdrCreated(call=CALL, cdr=CDR, legs=[LEG, LEG])),
    "agent_state": (
        "agent.state",
        pb.AgentStateChanged(
            agent_id="A1", session_id="s", state="ready", reason="", call_id="call_1"
        ),
    ),
    "customer_updated": (
        "customer.updated",
        pb.CustomerUpdated(
            customer_id="KM-C1",
            action="pin_set",
            pin_failures=1,
            locked_until_ms=2,
            customer=pb.CustomerProfile(
                customer_id="KM-C1",
                home_site="KM",
                phone="1380",
                account_no="a",
                name="n",
                tier="vip",
                balance_fen=-500,
                bill_fen=100,
                bill_due_at_ms=5,
                open_work_orders=1,
                updated_at_ms=6,
                pin_set=True,
            ),
        ),
    ),
    "customer_remote_read": (
        "customer.remote_read",
        pb.CustomerRemoteRead(
            customer_id="DL-C1",
            home_site="DL",
            source="hub",
            actor="ivr",
            call_id="call_1",
            action="remote_read_hub_copy",
            as_of_ms=7,
            site_id="KM",
        ),
    ),
    "work_order": (
        "work_order.created",
        pb.WorkOrderChanged(order=ORDER, action="created", actor="A1"),
    ),
    "campaign_loaded": (
        "campaign.loaded",
        pb.CampaignLoaded(campaign_id="c1", kind="bill", entries=10),
    ),
    "campaign_attempt": (
        "campaign.attempt",
        pb.CampaignAttempt(
            entry=s.CampaignEntry(
                campaign_id="c1",
                entry_no=2,
                kind="bill",
                customer_id="x",
                phone="1",
                attempts=1,
                state="pending",
            ),
            agent_id="A1",
        ),
    ),
    "handover_created": (
        "handover.created",
        pb.HandoverChanged(
            handover=s.HandoverView(
                handover_id="chg_1", site_id="KM", outgoing_leader="L", unfinished_orders=["wo_1"]
            )
        ),
    ),
    "handover_acknowledged": (
        "handover.acknowledged",
        pb.HandoverChanged(
            handover=s.HandoverView(handover_id="chg_1", incoming_leader="L2", acknowledged_at_ms=9)
        ),
    ),
    "rating_created": (
        "rating.created",
        pb.RatingCreated(
            call_id="call_1",
            site_id="KM",
            agent_id="A1",
            business_id="general",
            score=4,
            rated_at_ms=7,
        ),
    ),
}


def test_every_kind_has_a_round_trip_sample() -> None:
    assert set(SAMPLES) == BODY_FIELDS, "add a sample (and a round trip) for every new kind"


@pytest.mark.parametrize("field", sorted(SAMPLES))
def test_every_kind_round_trips(field: str) -> None:
    kind, body = SAMPLES[field]
    assert body_field(kind) == field
    whole = event("KM", 7, "evt_1", kind, "agg_1", 123, body)
    back = decode(encode(whole))
    assert back == whole
    assert back.WhichOneof("body") == field and body_of(back) == body
    # as the site's outbox stores it and the relay publishes it: the same message
    assert decode(encode_stored("KM", 7, stored("evt_1", kind, "agg_1", 123, body))) == whole
    assert headers(back) == {"Nats-Msg-Id": "evt_1", "Vcc-Seq": "7", "Vcc-Site": "KM"}


def test_work_order_family_carries_any_action() -> None:
    _, body = SAMPLES["work_order"]
    for action in ("dispatch", "escalated", "callback_done"):
        assert decode(encode(event("KM", 1, "e", f"work_order.{action}", "wo_1", 0, body)))


def _envelope(**fields: object) -> pb.SiteEvent:
    base: dict[str, object] = {
        "site": "KM",
        "seq": 3,
        "event_id": "evt_3",
        "kind": "call.queued",
        "aggregate_id": "call_1",
        "at_ms": 5,
    }
    base.update(fields)
    return pb.SiteEvent(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (b"\xff\xfe garbage", "not a site event"),
        (b"", "seq (from 1)"),
        (_envelope().SerializeToString(), "unknown event kind"),  # no body
        (_envelope(seq=0, call_queued=pb.CallQueued()).SerializeToString(), "seq (from 1)"),
        (_envelope(seq=2**63, call_queued=pb.CallQueued()).SerializeToString(), "seq (from 1)"),
        (_envelope(site="", call_queued=pb.CallQueued()).SerializeToString(), "site"),
        (_envelope(event_id="", call_queued=pb.CallQueued()).SerializeToString(), "event_id"),
        (_envelope(at_ms=-1, call_queued=pb.CallQueued()).SerializeToString(), "at_ms"),
        (
            _envelope(kind="call.ended", call_queued=pb.CallQueued()).SerializeToString(),
            "does not match",
        ),
        (
            _envelope(
                kind="cdr.created",
                cdr_created=pb.CdrCreated(cdr=pb.Cdr(cdr_id="c", call_id="x", wait_ms=-1)),
            ).SerializeToString(),
            "cdr.wait_ms",
        ),
        (
            _envelope(
                kind="cdr.created",
                cdr_created=pb.CdrCreated(
                    cdr=pb.Cdr(cdr_id="c", call_id="x"), legs=[pb.Leg(offered_at_ms=-5)]
                ),
            ).SerializeToString(),
            "leg.offered_at_ms",
        ),
        (
            _envelope(
                kind="customer.updated",
                customer_updated=pb.CustomerUpdated(customer=pb.CustomerProfile(bill_fen=-1)),
            ).SerializeToString(),
            "bill_fen",
        ),
    ],
)
def test_decode_refuses_with_a_clear_error(data: bytes, says: str) -> None:
    with pytest.raises(InvalidEvent, match=re.escape(says)):
        decode(data)


def test_an_unknown_kind_from_a_newer_site_is_refused_but_its_envelope_is_kept() -> None:
    # field 999 of the body oneof, as a newer site would send: tag (999 << 3 | 2), length 0
    data = _envelope(kind="call.teleported").SerializeToString() + b"\xba\x3e\x00"
    with pytest.raises(
        InvalidEvent, match=re.escape("unknown event kind 'call.teleported'")
    ) as err:
        decode(data)
    assert err.value.envelope is not None and err.value.envelope.seq == 3


#: a cdr.created event as written by the first protobuf version of the contract (frozen:
#: if this stops decoding to the same values, a field was renumbered or retyped)
V1_CDR_CREATED = bytes.fromhex(
    "0a024b4d102a1a0b6576745f66697874757265220b6364722e637265617465642a0663616c6c5f3130a846"
    "9203d9010a290a0663616c6c5f3112024b4d1a05656e646564220a62696c6c5f71756572792a0376697032"
    "0376697012750a056364725f31120663616c6c5f311a024b4d2202444c2a024b4d320a62696c6c5f717565"
    "72793a03766970420b3133382a2a2a2a303030314a08616e73776572656450e80758b81760a84668d00f70"
    "f40378f02e8a01074b4d2d41303031980101a20106726f6f743a31a2010762696c6c696e671a350a056c65"
    "675f311207696e697469616c1a024b4d2202444c2a074b4d2d4130303130c41338b81740a8464a09636f6d"
    "706c65746564"
)


def test_an_event_of_the_previous_version_still_decodes() -> None:
    e = decode(V1_CDR_CREATED)
    assert (e.site, e.seq, e.event_id, e.kind, e.at_ms) == (
        "KM",
        42,
        "evt_fixture",
        "cdr.created",
        9000,
    )
    cdr = e.cdr_created.cdr
    assert (cdr.cdr_id, cdr.home_site, cdr.outcome, cdr.wait_ms, cdr.talk_ms) == (
        "cdr_1",
        "DL",
        "answered",
        2000,
        6000,
    )
    assert list(cdr.ivr_path) == ["root:1", "billing"] and cdr.overflowed
    assert [g.leg_id for g in e.cdr_created.legs] == ["leg_1"]


def _varint(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def test_an_older_hub_ignores_fields_it_does_not_know() -> None:
    # a newer site adds field 60 (varint) to the Cdr and field 9 (string) to the envelope
    newer_cdr = CDR.SerializeToString() + b"\xe0\x03\x07"
    body = b"\x12" + _varint(len(newer_cdr)) + newer_cdr  # CdrCreated.cdr (field 2)
    data = (
        _envelope(kind="cdr.created").SerializeToString()
        + b"\x4a\x03new"  # envelope field 9, "new"
        + b"\x92\x03"
        + _varint(len(body))
        + body
    )  # body oneof field 50: cdr_created
    e = decode(data)
    assert e.cdr_created.cdr.cdr_id == "cdr_1" and e.cdr_created.cdr.talk_ms == 6000


def test_the_cdr_message_is_the_one_definition_of_a_cdr() -> None:
    """Storage columns and the domain's view follow the ``Cdr`` message, not a list of
    their own: a field added to the message must get its columns (new migrations)."""
    from dataclasses import fields

    from vcc_domain.stats import Cdr as FiguresView
    from vcc_hub.store import event_tables as hub_tables
    from vcc_site.store import tables as site_tables

    message = {f.name for f in pb.Cdr.DESCRIPTOR.fields}
    assert {c.name for c in site_tables.cdrs.columns} == message
    assert {c.name for c in hub_tables.cdrs.columns} == message | {"event_seq"}
    assert {f.name for f in fields(FiguresView)} <= message
