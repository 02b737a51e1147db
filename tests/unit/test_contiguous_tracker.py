"""The hub's contiguous-sequence tracker (pure): any order, any duplicates, gaps found."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from vcc_proto.v1 import events_pb2 as pb
from vcc_replication.events import ContiguousTracker, decode, encode, event, headers


@st.composite
def shuffled_with_duplicates(draw: st.DrawFn) -> tuple[int, list[int]]:
    n = draw(st.integers(min_value=1, max_value=200))
    seqs = list(range(1, n + 1))
    seqs += draw(st.lists(st.sampled_from(seqs), max_size=n))
    return n, draw(st.permutations(seqs))


@given(shuffled_with_duplicates())
def test_any_permutation_with_duplicates_ends_contiguous(case: tuple[int, list[int]]) -> None:
    n, seqs = case
    tracker = ContiguousTracker()
    fresh = [tracker.observe("KM", seq, now=0.0) for seq in seqs]
    assert tracker.contiguous("KM") == n
    assert tracker.highest("KM") == n
    assert sum(fresh) == n  # every sequence is new exactly once
    assert tracker.gaps("KM") == []


@given(shuffled_with_duplicates(), st.data())
def test_missing_sequences_are_reported_as_gaps(
    case: tuple[int, list[int]], data: st.DataObject
) -> None:
    n, seqs = case
    missing = set(data.draw(st.lists(st.integers(1, n), max_size=10)))
    tracker = ContiguousTracker()
    for t, seq in enumerate(seqs):
        if seq not in missing:
            tracker.observe("KM", seq, now=float(t))
    received = set(range(1, n + 1)) - missing
    expected_contiguous = min(missing) - 1 if missing else n
    assert tracker.contiguous("KM") == expected_contiguous
    in_gaps = {s for g in tracker.gaps("KM") for s in range(g.first, g.last + 1)}
    top = max(received, default=0)
    assert in_gaps == {m for m in missing if m < top}
    # preview agrees with observing the rest
    rest = sorted(missing)
    assert tracker.preview("KM", rest) == n
    for seq in rest:
        tracker.observe("KM", seq, now=1e9)
    assert tracker.contiguous("KM") == n and tracker.gaps("KM") == []


def test_gap_keeps_its_first_seen_time_when_split() -> None:
    tracker = ContiguousTracker()
    tracker.observe("KM", 1, now=0.0)
    tracker.observe("KM", 10, now=1.0)  # 2..9 missing since t=1
    tracker.observe("KM", 5, now=3.0)  # splits into 2..4 and 6..9, both since t=1
    gaps = tracker.gaps("KM")
    assert [(g.first, g.last, g.since) for g in gaps] == [(2, 4, 1.0), (6, 9, 1.0)]
    assert [(g.first, g.last) for g in tracker.overdue("KM", now=3.5, grace=2.0)] == [
        (2, 4),
        (6, 9),
    ]
    assert tracker.overdue("KM", now=2.5, grace=2.0) == []
    tracker.restart_timer("KM", gaps[0], now=4.0)
    assert [(g.first, g.last) for g in tracker.overdue("KM", now=4.5, grace=2.0)] == [(6, 9)]
    assert tracker.contiguous("KM") == 1 and tracker.highest("KM") == 10


def test_load_restores_out_of_order_sequences() -> None:
    tracker = ContiguousTracker()
    tracker.load("KM", 5, [8, 7], now=0.0)
    assert tracker.contiguous("KM") == 5
    assert [(g.first, g.last) for g in tracker.gaps("KM")] == [(6, 6)]
    assert not tracker.observe("KM", 7, now=1.0)
    assert tracker.observe("KM", 6, now=1.0)
    assert tracker.contiguous("KM") == 8


def test_wire_format_round_trip() -> None:
    e = event(
        "KM",
        7,
        "evt_1",
        "call.ended",
        "call_1",
        123,
        pb.CallEnded(call=pb.CallInfo(call_id="call_1"), end_reason="completed"),
    )
    assert decode(encode(e)) == e
    assert headers(e) == {"Nats-Msg-Id": "evt_1", "Vcc-Seq": "7", "Vcc-Site": "KM"}
