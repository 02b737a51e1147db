"""Site events on the wire, and the hub's per-site contiguous-sequence tracker.

Wire format of one site event on ``VCC_SITE_EVENTS`` (subject ``vcc.site.<SITE>.events``):
a JSON object ``{"site", "seq", "event_id", "kind", "aggregate_id", "at_ms", "payload"}``
with headers ``Nats-Msg-Id`` (the event ID, so the broker drops a re-publish inside its
duplicate window) and ``Vcc-Seq`` (the site's gap-free event sequence, readable without
decoding the body). A deliberate re-publish for gap repair uses a *different* message ID
(:func:`republish_msg_id`): the broker may still remember the original ID after the
message itself was lost, and the hub's inbox (keyed by event ID) drops true duplicates.

:class:`ContiguousTracker` is pure: per site it holds the highest sequence ``c`` such
that every sequence ``1..c`` was seen, the out-of-order sequences seen above ``c``, and
for each missing range between them the time it was first noticed (so a gap that stays
open past a grace time can be repaired).
"""

from __future__ import annotations

import bisect
import json
from dataclasses import dataclass, field
from typing import Any

MSG_ID_HEADER = "Nats-Msg-Id"
SEQ_HEADER = "Vcc-Seq"
SITE_HEADER = "Vcc-Site"


@dataclass(frozen=True, slots=True)
class SiteEvent:
    site: str
    seq: int
    event_id: str
    kind: str
    aggregate_id: str
    at_ms: int
    payload: dict[str, Any]


def encode(event: SiteEvent) -> bytes:
    return json.dumps(
        {
            "site": event.site,
            "seq": event.seq,
            "event_id": event.event_id,
            "kind": event.kind,
            "aggregate_id": event.aggregate_id,
            "at_ms": event.at_ms,
            "payload": event.payload,
        },
        separators=(",", ":"),
        ensure_ascii=False,
    ).encode()


def decode(data: bytes) -> SiteEvent:
    """Parse one wire message; ValueError if it is not a well-formed site event."""
    try:
        raw = json.loads(data)
        payload = raw["payload"]
        if not isinstance(payload, dict):
            raise TypeError("payload is not an object")
        event = SiteEvent(
            site=str(raw["site"]),
            seq=int(raw["seq"]),
            event_id=str(raw["event_id"]),
            kind=str(raw["kind"]),
            aggregate_id=str(raw["aggregate_id"]),
            at_ms=int(raw["at_ms"]),
            payload=payload,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"not a site event: {exc}") from exc
    if event.seq < 1 or not event.event_id or not event.site:
        raise ValueError("not a site event: seq, event_id and site are required")
    return event


def headers(event: SiteEvent, msg_id: str | None = None) -> dict[str, str]:
    return {
        MSG_ID_HEADER: msg_id or event.event_id,
        SEQ_HEADER: str(event.seq),
        SITE_HEADER: event.site,
    }


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
