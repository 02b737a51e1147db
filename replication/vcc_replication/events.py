"""Site events on the wire, and the hub's per-site contiguous-sequence tracker.

Wire format of one site event on ``VCC_SITE_EVENTS`` (subject ``vcc.site.<SITE>.events``):
the protobuf message ``vcc_proto.v1.SiteEvent`` (``vcc_proto/v1/events.proto``: an
envelope with one body per event kind; read its evolution rule before changing it), with
headers ``Nats-Msg-Id`` (the event ID, so the broker drops a re-publish inside its
duplicate window), ``Vcc-Seq`` (the site's gap-free event sequence, readable without
decoding the body) and ``Vcc-Site``. A deliberate re-publish for gap repair uses a
*different* message ID (:func:`republish_msg_id`): the broker may still remember the
original ID after the message itself was lost, and the hub's inbox (keyed by event ID)
drops true duplicates.

A site stores each outbox event as the envelope without ``site`` and ``seq``
(:func:`stored`); :func:`encode_stored` puts them in front when publishing. Protobuf
merges concatenated messages field by field, so this is the same message as encoding a
whole :class:`SiteEvent`, without parsing the stored bytes again.

:func:`decode` refuses (``ValueError``) bytes that are not a site event, an event whose
body is missing or of a kind this build does not know (an unknown oneof field), and
out-of-range values (sequence below 1, no site or event ID, negative times, durations or
amounts). Unknown *fields* of known messages are ignored, so an older hub reads what a
newer site sends.

:class:`ContiguousTracker` is pure: per site it holds the highest sequence ``c`` such
that every sequence ``1..c`` was seen, the out-of-order sequences seen above ``c``, and
for each missing range between them the time it was first noticed (so a gap that stays
open past a grace time can be repaired).
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from google.protobuf.message import DecodeError, Message

from vcc_proto.v1 import events_pb2 as pb

MSG_ID_HEADER = "Nats-Msg-Id"
SEQ_HEADER = "Vcc-Seq"
SITE_HEADER = "Vcc-Site"

SiteEvent = pb.SiteEvent
WORK_ORDER_FAMILY = "work_order"
#: every oneof field of the body: one per event kind (work_order: the whole family)
BODY_FIELDS: frozenset[str] = frozenset(
    f.name for f in pb.SiteEvent.DESCRIPTOR.oneofs_by_name["body"].fields
)


def _message_types() -> dict[str, Callable[..., Message]]:
    oneof = pb.SiteEvent.DESCRIPTOR.oneofs_by_name["body"]
    return {
        f.name: getattr(pb, f.message_type.name) for f in oneof.fields if f.message_type is not None
    }


_BODY_TYPES = _message_types()


def body_type(kind: str) -> Callable[..., Message]:
    """The message class of an event kind's body (ValueError for an unknown kind)."""
    found = _KIND_TYPES.get(kind)
    if found is None:
        found = _BODY_TYPES.get(body_field(kind))
        if found is None:
            raise ValueError(f"no event kind {kind!r} in events.proto")
        if len(_KIND_TYPES) < KINDS_CACHED:
            _KIND_TYPES[kind] = found
    return found


# Per kind as the site names it, filled as kinds are seen (each event is built and stored
# once per change of a call: the kind's body field is not worked out again each time).
# Kinds are a few dozen literals; the bound only guards against an odd caller.
KINDS_CACHED = 256
_KIND_TYPES: dict[str, Callable[..., Message]] = {}


def body_field(kind: str) -> str:
    """The body's oneof field of an event kind ("call.offered" -> "call_offered")."""
    if kind.startswith(WORK_ORDER_FAMILY + "."):
        return WORK_ORDER_FAMILY
    return kind.replace(".", "_")


def event(
    site: str, seq: int, event_id: str, kind: str, aggregate_id: str, at_ms: int, body: Message
) -> pb.SiteEvent:
    """A whole site event (ValueError for a kind the contract does not have)."""
    name = body_field(kind)
    if name not in BODY_FIELDS:
        raise ValueError(f"no event kind {kind!r} in events.proto")
    one: dict[str, Any] = {name: body}
    return pb.SiteEvent(
        site=site,
        seq=seq,
        event_id=event_id,
        kind=kind,
        aggregate_id=aggregate_id,
        at_ms=at_ms,
        **one,
    )


def _varint(n: int) -> bytes:
    if n < 0x80:
        return _ONE_BYTE[n]
    out = bytearray()
    while n >= 0x80:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


_ONE_BYTE = [bytes((n,)) for n in range(0x80)]

#: per body field: its key on the wire (field number, length-delimited) and message type
_BODY_KEYS = {
    f.name: (_varint(f.number << 3 | 2), f.message_type)
    for f in pb.SiteEvent.DESCRIPTOR.oneofs_by_name["body"].fields
}
_KIND_KEYS: dict[str, tuple[bytes, Any]] = {}  # the same by kind (see _KIND_TYPES)


def stored(event_id: str, kind: str, aggregate_id: str, at_ms: int, body: Message) -> bytes:
    """An outbox event as a site stores it: the envelope without site and sequence.

    The body is serialized once and framed as its oneof field (protobuf's own encoding of
    a length-delimited field), instead of being copied into an envelope message first."""
    found = _KIND_KEYS.get(kind)
    if found is None:
        found = _BODY_KEYS.get(body_field(kind))
        if found is not None and len(_KIND_KEYS) < KINDS_CACHED:
            _KIND_KEYS[kind] = found
    if found is None or found[1] is not body.DESCRIPTOR:
        raise ValueError(
            f"no event kind {kind!r} with a {type(body).__name__} body in events.proto"
        )
    head = pb.SiteEvent(
        event_id=event_id, kind=kind, aggregate_id=aggregate_id, at_ms=at_ms
    ).SerializeToString()
    data = body.SerializeToString()
    return head + found[0] + _varint(len(data)) + data


def encode_stored(site: str, seq: int, data: bytes) -> bytes:
    """The wire bytes of a stored event (:func:`stored`) once it has its sequence."""
    return pb.SiteEvent(site=site, seq=seq).SerializeToString() + data


def body_of(event: pb.SiteEvent) -> Message:
    """The event's body message (ValueError if none is set)."""
    name = event.WhichOneof("body")
    if name is None:
        raise ValueError("the event has no body")
    body: Message = getattr(event, name)
    return body


def encode(event: pb.SiteEvent) -> bytes:
    return event.SerializeToString()


class InvalidEvent(ValueError):
    """Bytes that are not a valid site event. ``envelope`` is the parsed message when its
    site, sequence and event ID are usable (a bad body or value), else None."""

    def __init__(self, message: str, envelope: pb.SiteEvent | None = None) -> None:
        super().__init__(message)
        self.envelope = envelope


MAX_SEQ = 2**63 - 1  # the hub stores sequences as signed 64-bit integers
#: The most events one ``Remote.RepublishEvents`` asks for: the hub repairs a longer gap
#: in several requests, and a site refuses a longer range (a request for 1..10^12 would
#: otherwise publish the whole outbox again).
MAX_REPUBLISH_RANGE = 20_000


def decode(data: bytes) -> pb.SiteEvent:
    """Parse one wire message; InvalidEvent (a ValueError) if it is not a well-formed
    site event of a kind this build knows."""
    event = pb.SiteEvent()
    try:
        event.ParseFromString(data)
    except (DecodeError, RuntimeError, ValueError) as exc:
        raise InvalidEvent(f"not a site event: {exc}") from exc
    if not 1 <= event.seq <= MAX_SEQ or not event.event_id or not event.site:
        raise InvalidEvent("not a site event: seq (from 1), event_id and site are required")
    try:
        _check(event)
    except ValueError as exc:
        raise InvalidEvent(str(exc), event) from exc
    return event


def _check(event: pb.SiteEvent) -> None:
    if not event.kind or event.at_ms < 0:
        raise ValueError("not a site event: a kind and a time (at_ms >= 0) are required")
    name = event.WhichOneof("body")
    if name is None:
        raise ValueError(f"unknown event kind {event.kind!r}: no body this hub knows")
    if name != body_field(event.kind):
        raise ValueError(f"event kind {event.kind!r} does not match its body {name!r}")
    check = _CHECKS.get(name)
    if check is not None:
        check(getattr(event, name))


def _not_negative(what: str, msg: Message, names: tuple[str, ...]) -> None:
    for name in names:
        if getattr(msg, name) < 0:
            raise ValueError(f"out of range: {what}.{name} = {getattr(msg, name)} < 0")


CDR_NUMBERS = tuple(f.name for f in pb.Cdr.DESCRIPTOR.fields if f.cpp_type == f.CPPTYPE_INT64)
LEG_NUMBERS = tuple(f.name for f in pb.Leg.DESCRIPTOR.fields if f.cpp_type == f.CPPTYPE_INT64)


def _check_cdr(body: pb.CdrCreated) -> None:
    cdr = body.cdr
    if not cdr.cdr_id or not cdr.call_id:
        raise ValueError("out of range: a CDR needs a cdr_id and a call_id")
    _not_negative("cdr", cdr, CDR_NUMBERS)
    for leg in body.legs:
        _not_negative("leg", leg, LEG_NUMBERS)


def _check_customer(body: pb.CustomerUpdated) -> None:
    _not_negative(
        "customer",
        body.customer,
        ("bill_fen", "bill_due_at_ms", "open_work_orders", "updated_at_ms"),
    )
    _not_negative("customer_updated", body, ("pin_failures", "locked_until_ms"))


def _check_answered(body: pb.CallAnswered) -> None:
    _not_negative("call_answered", body, ("answered_at_ms",))


_CHECKS: dict[str, Callable[[Any], None]] = {
    "cdr_created": _check_cdr,
    "customer_updated": _check_customer,
    "call_answered": _check_answered,
    "consult_answered": _check_answered,
}


def headers(event: pb.SiteEvent, msg_id: str | None = None) -> dict[str, str]:
    return wire_headers(event.site, event.seq, event.event_id, msg_id)


def wire_headers(site: str, seq: int, event_id: str, msg_id: str | None = None) -> dict[str, str]:
    return {MSG_ID_HEADER: msg_id or event_id, SEQ_HEADER: str(seq), SITE_HEADER: site}


def republish_msg_id(event_id: str, attempt_ms: int) -> str:
    """A message ID for a gap-repair re-publish that the broker will not drop."""
    return f"{event_id}~r{attempt_ms}"


@dataclass(frozen=True, slots=True)
class Gap:
    first: int  # first missing sequence (inclusive)
    last: int  # last missing sequence (inclusive)
    since: float  # when it was first noticed (caller's clock)


@dataclass
class _SiteTrack:
    contiguous: int = 0
    above: list[int] = field(default_factory=list)  # sorted, every one > contiguous
    opened: dict[int, float] = field(default_factory=dict)  # gap keyed by seq just above it


class ContiguousTracker:
    """Highest contiguous sequence per site, out-of-order sequences above it, open gaps."""

    def __init__(self) -> None:
        self._sites: dict[str, _SiteTrack] = {}

    def sites(self) -> list[str]:
        return sorted(self._sites)

    def _site(self, site: str) -> _SiteTrack:
        track = self._sites.get(site)
        if track is None:
            track = self._sites[site] = _SiteTrack()
        return track

    def load(self, site: str, contiguous: int, above: list[int], now: float) -> None:
        """Start a site from stored figures (its gaps count as noticed ``now``)."""
        self._sites[site] = _SiteTrack(contiguous=contiguous)
        for seq in sorted(above):
            self.observe(site, seq, now)

    def contiguous(self, site: str) -> int:
        track = self._sites.get(site)
        return track.contiguous if track else 0

    def highest(self, site: str) -> int:
        track = self._sites.get(site)
        if track is None:
            return 0
        return track.above[-1] if track.above else track.contiguous

    def seen(self, site: str, seq: int) -> bool:
        track = self._sites.get(site)
        if track is None:
            return False
        if seq <= track.contiguous:
            return True
        i = bisect.bisect_left(track.above, seq)
        return i < len(track.above) and track.above[i] == seq

    def preview(self, site: str, seqs: list[int]) -> int:
        """The contiguous sequence after ``seqs`` were observed (nothing is changed)."""
        track = self._sites.get(site) or _SiteTrack()
        extra = set(seqs)
        c = track.contiguous
        while True:
            nxt = c + 1
            if nxt in extra:
                c = nxt
                continue
            i = bisect.bisect_left(track.above, nxt)
            if i < len(track.above) and track.above[i] == nxt:
                c = nxt
                continue
            return c

    def observe(self, site: str, seq: int, now: float) -> bool:
        """Record ``seq`` as seen; False if it was already seen (a duplicate)."""
        if seq < 1:
            raise ValueError("event sequences start at 1")
        track = self._site(site)
        if self.seen(site, seq):
            return False
        above = track.above
        i = bisect.bisect_left(above, seq)
        upper = above[i] if i < len(above) else None  # next seen sequence above seq
        lower_missing = seq - 1 > track.contiguous and (i == 0 or above[i - 1] != seq - 1)
        if lower_missing:  # a missing range right below seq, keyed by seq
            track.opened[seq] = track.opened.get(upper, now) if upper is not None else now
        if upper == seq + 1:  # the range keyed by seq + 1 ended at seq: closed or re-keyed
            track.opened.pop(upper, None)
        above.insert(i, seq)
        if seq == track.contiguous + 1:
            k = 0
            c = track.contiguous
            while k < len(above) and above[k] == c + 1:
                c += 1
                k += 1
            del above[:k]
            track.contiguous = c
        return True

    def gaps(self, site: str) -> list[Gap]:
        track = self._sites.get(site)
        if track is None:
            return []
        out: list[Gap] = []
        prev = track.contiguous
        for seq in track.above:
            if seq > prev + 1:
                out.append(Gap(prev + 1, seq - 1, track.opened.get(seq, 0.0)))
            prev = seq
        return out

    def overdue(self, site: str, now: float, grace: float) -> list[Gap]:
        return [g for g in self.gaps(site) if now - g.since >= grace]

    def restart_timer(self, site: str, gap: Gap, now: float) -> None:
        """Count a gap as noticed ``now`` again (after asking for it to be re-sent)."""
        track = self._sites.get(site)
        if track is not None and gap.last + 1 in track.opened:
            track.opened[gap.last + 1] = now
