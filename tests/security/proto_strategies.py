"""Hypothesis strategies that build any protobuf message from its descriptor.

:func:`messages` walks a :class:`~google.protobuf.descriptor.Descriptor` field by field
(scalars by their wire type, enums, nested messages down to a depth cap, repeated fields,
maps, oneofs and proto3 ``optional`` presence) and draws values that mix plain ones with
the edges a server must survive: empty and oversize strings (up to a few hundred KB, well
under the 4 MiB a server accepts), invalid UTF-8-free but odd text, the extreme and
negative integers of each width, NaN and infinities, and enum numbers no ``.proto``
declares (proto3 enums are open: they travel as plain numbers).

A few plausible values (site IDs, months, area codes) are mixed in so that some requests
get past the first validation and reach deeper code.
"""

from __future__ import annotations

from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass
from hypothesis import strategies as st

DEPTH_CAP = 3  # nested messages deeper than this are left unset
MAX_REPEATED = 4
HUGE_TEXT = 300_000  # characters; a request stays far below the server's 4 MiB limit

PLAUSIBLE = (
    "KM", "QJ", "DL", "hub-1", "edge", "bill", "0871", "2026-12", "2099-01", "1970-01",
    "agent", "KM001", "call_01JD0000000000000000000000", "13800000000", "*", "%", "../..",
    "\x00", "\u202e", "名字", " ", "\n",
)  # fmt: skip

INT32 = (-(2**31), 2**31 - 1)
INT64 = (-(2**63), 2**63 - 1)
UINT32 = (0, 2**32 - 1)
UINT64 = (0, 2**64 - 1)

T = FieldDescriptor
_INT_RANGES = {
    T.TYPE_INT32: INT32,
    T.TYPE_SINT32: INT32,
    T.TYPE_SFIXED32: INT32,
    T.TYPE_INT64: INT64,
    T.TYPE_SINT64: INT64,
    T.TYPE_SFIXED64: INT64,
    T.TYPE_UINT32: UINT32,
    T.TYPE_FIXED32: UINT32,
    T.TYPE_UINT64: UINT64,
    T.TYPE_FIXED64: UINT64,
}


def integers(lo: int, hi: int) -> st.SearchStrategy[int]:
    """Any integer of the width, with its edges (and small ones) drawn often."""
    edges = sorted({lo, hi, 0, 1, max(lo, -1), hi // 2, 2**31 - 1 if hi > 2**31 else hi})
    return st.one_of(
        st.sampled_from(edges),
        st.integers(-5, 100).filter(lambda n: lo <= n <= hi),
        st.integers(lo, hi),
    )


def texts() -> st.SearchStrategy[str]:
    """Empty, short, plausible, odd and huge strings."""
    return st.one_of(
        st.sampled_from(PLAUSIBLE),
        st.text(max_size=40),
        st.integers(1_000, HUGE_TEXT).map(lambda n: "x" * n),
        st.integers(64, 5_000).map(lambda n: "名" * n),
    )


def blobs() -> st.SearchStrategy[bytes]:
    return st.one_of(
        st.binary(max_size=64), st.integers(1_000, HUGE_TEXT).map(lambda n: b"\xff" * n)
    )


def floats(width: int) -> st.SearchStrategy[float]:
    return st.one_of(
        st.sampled_from([float("nan"), float("inf"), float("-inf"), 0.0, -0.0, 1e308]),
        st.floats(allow_nan=True, allow_infinity=True, width=width),  # type: ignore[arg-type]
    )


def enum_numbers(field: FieldDescriptor) -> st.SearchStrategy[int]:
    """A declared value of the enum, or any int32 (an unknown number)."""
    assert field.enum_type is not None
    known = [v.number for v in field.enum_type.values]
    return st.one_of(st.sampled_from(known), integers(*INT32))


def scalar(field: FieldDescriptor, depth: int) -> st.SearchStrategy[Any]:
    """A value for one (non-repeated) element of ``field``."""
    kind = field.type
    if kind in _INT_RANGES:
        return integers(*_INT_RANGES[kind])
    if kind == T.TYPE_BOOL:
        return st.booleans()
    if kind == T.TYPE_STRING:
        return texts()
    if kind == T.TYPE_BYTES:
        return blobs()
    if kind == T.TYPE_FLOAT:
        return floats(32)
    if kind == T.TYPE_DOUBLE:
        return floats(64)
    if kind == T.TYPE_ENUM:
        return enum_numbers(field)
    if kind in (T.TYPE_MESSAGE, T.TYPE_GROUP):
        assert field.message_type is not None
        return messages(field.message_type, depth + 1)
    raise AssertionError(f"unhandled field type {kind} of {field.full_name}")


def _is_map(field: FieldDescriptor) -> bool:
    return bool(
        field.type == T.TYPE_MESSAGE
        and field.message_type is not None
        and field.message_type.GetOptions().map_entry
    )


def _is_repeated(field: FieldDescriptor) -> bool:
    return bool(field.is_repeated)


def _fill(draw: st.DrawFn, msg: Message, field: FieldDescriptor, depth: int) -> None:
    """Give ``field`` of ``msg`` a drawn value (or leave it unset)."""
    if field.type == T.TYPE_MESSAGE and depth >= DEPTH_CAP:
        return
    if _is_map(field):
        entry = field.message_type
        assert entry is not None
        key_f = entry.fields_by_name["key"]
        value_f = entry.fields_by_name["value"]
        entries = draw(
            st.dictionaries(scalar(key_f, depth), scalar(value_f, depth), max_size=MAX_REPEATED)
        )
        target = getattr(msg, field.name)
        for k, v in entries.items():
            if value_f.type == T.TYPE_MESSAGE:
                target[k].CopyFrom(v)
            else:
                target[k] = v
        return
    if _is_repeated(field):
        values = draw(st.lists(scalar(field, depth), max_size=MAX_REPEATED))
        target = getattr(msg, field.name)
        if field.type == T.TYPE_MESSAGE:
            for v in values:
                target.add().CopyFrom(v)
        else:
            target.extend(values)
        return
    value = draw(scalar(field, depth))
    if field.type == T.TYPE_MESSAGE:
        getattr(msg, field.name).CopyFrom(value)
    else:
        setattr(msg, field.name, value)


@st.composite
def _message(draw: st.DrawFn, descriptor: Descriptor, depth: int) -> Message:
    msg = GetMessageClass(descriptor)()
    in_oneof = {f.name for o in descriptor.oneofs if not _synthetic(o) for f in o.fields}
    for field in descriptor.fields:
        if field.name in in_oneof:
            continue
        if draw(st.booleans()) or draw(st.booleans()):  # set three times in four
            _fill(draw, msg, field, depth)
    for oneof in descriptor.oneofs:
        if _synthetic(oneof):
            continue
        choice = draw(st.sampled_from([None, *oneof.fields]))
        if choice is not None:
            _fill(draw, msg, choice, depth)
    return msg


def _synthetic(oneof: Any) -> bool:
    """Whether the oneof only carries a proto3 ``optional`` field's presence."""
    fields = oneof.fields
    return len(fields) == 1 and oneof.name == "_" + fields[0].name


def messages(descriptor: Descriptor, depth: int = 0) -> st.SearchStrategy[Message]:
    """Any message of ``descriptor``'s type (fields deeper than :data:`DEPTH_CAP` unset)."""
    return _message(descriptor, depth)
