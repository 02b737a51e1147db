"""Site events the hub gave up on: the ``VCC_DEAD_LETTERS`` stream.

An event the hub cannot decode or cannot apply is delivered again a bounded number of
times (:data:`MAX_DELIVERIES`); then the hub publishes it here, on
``vcc.deadletter.<SITE>``, with its original bytes and headers plus ``Vcc-Dead-*``
headers (why, the error, how many deliveries, when, the original subject and stream
sequence), and acknowledges the original, so it neither returns forever nor holds up the
site's following events. Nothing reads the stream automatically: ``vcc events
dead-letters`` lists it for an operator.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from typing import Any

import nats.js.errors
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from vcc_replication.events import MSG_ID_HEADER, SEQ_HEADER, SITE_HEADER
from vcc_replication.streams import DEAD_LETTER_STREAM, dead_letter_subject

#: deliveries of one message before the hub moves it to the dead letters
MAX_DELIVERIES = 5
#: how long a refused message waits before it is delivered again
REDELIVER_DELAY_S = 0.2

REASON_HEADER = "Vcc-Dead-Reason"  # decode | apply | site (named another site than its subject)
ERROR_HEADER = "Vcc-Dead-Error"
DELIVERIES_HEADER = "Vcc-Dead-Deliveries"
AT_HEADER = "Vcc-Dead-At-Ms"
SUBJECT_HEADER = "Vcc-Dead-Subject"
STREAM_SEQ_HEADER = "Vcc-Dead-Stream-Seq"
MAX_ERROR_CHARS = 500
_UNSAFE = re.compile(r"[\r\n\x00-\x1f]+")
# A site ID fit for a subject token and a header: the site named in a payload is the
# sender's word and may hold spaces, dots, wildcards or line breaks, which would make the
# publish a protocol error that closes the hub's connection.
_SITE_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One dead letter as listed (``data`` are the original message bytes)."""

    stream_seq: int  # its sequence in VCC_DEAD_LETTERS
    site: str
    reason: str
    error: str
    deliveries: int
    at_ms: int
    subject: str  # where the event was published
    origin_seq: int  # its sequence in VCC_SITE_EVENTS
    event_seq: str  # the site's sequence as its header said ("" if none)
    event_id: str  # its Nats-Msg-Id header ("" if none)
    data: bytes

    def jsonable(self) -> dict[str, Any]:
        return {
            "stream_seq": self.stream_seq,
            "site": self.site,
            "reason": self.reason,
            "error": self.error,
            "deliveries": self.deliveries,
            "at_ms": self.at_ms,
            "subject": self.subject,
            "origin_seq": self.origin_seq,
            "event_seq": self.event_seq,
            "event_id": self.event_id,
            "size": len(self.data),
            "data_b64": base64.b64encode(self.data).decode(),
        }


def _header_text(text: str) -> str:
    return _UNSAFE.sub(" ", text)[:MAX_ERROR_CHARS]


async def publish_dead_letter(
    js: JetStreamContext, msg: Msg, site: str, reason: str, error: str, deliveries: int, at_ms: int
) -> None:
    """Publish ``msg`` to the dead letters (deduplicated by its stream sequence, so a
    retry after a lost acknowledgement does not list it twice)."""
    origin = msg.metadata.sequence.stream
    site = site if _SITE_ID.fullmatch(site) else ""
    headers = {k: v for k, v in (msg.headers or {}).items() if k != MSG_ID_HEADER}
    headers.update(
        {
            MSG_ID_HEADER: f"dead:{origin}",
            SITE_HEADER: site,
            REASON_HEADER: reason,
            ERROR_HEADER: _header_text(error) or "-",
            DELIVERIES_HEADER: str(deliveries),
            AT_HEADER: str(at_ms),
            SUBJECT_HEADER: msg.subject,
            STREAM_SEQ_HEADER: str(origin),
            "Vcc-Dead-Event-Id": (msg.headers or {}).get(MSG_ID_HEADER, ""),
        }
    )
    await js.publish(dead_letter_subject(site), msg.data, timeout=5.0, headers=headers)


def _int(raw: str | None) -> int:
    try:
        return int(raw or 0)
    except ValueError:
        return 0


async def list_dead_letters(js: JetStreamContext, limit: int = 100) -> list[DeadLetter]:
    """The newest ``limit`` dead letters, oldest first ([] if the stream does not exist)."""
    try:
        info = await js.stream_info(DEAD_LETTER_STREAM)
    except nats.js.errors.NotFoundError:
        return []
    first, last = info.state.first_seq, info.state.last_seq
    if last == 0:  # an empty stream: there is no message 0 to ask for
        return []
    out: list[DeadLetter] = []
    for seq in range(max(first, last - limit + 1, 1), last + 1):
        try:
            raw = await js.get_msg(DEAD_LETTER_STREAM, seq)
        except nats.js.errors.NotFoundError:
            continue
        h = raw.headers or {}
        out.append(
            DeadLetter(
                stream_seq=seq,
                site=h.get(SITE_HEADER, ""),
                reason=h.get(REASON_HEADER, ""),
                error=h.get(ERROR_HEADER, ""),
                deliveries=_int(h.get(DELIVERIES_HEADER)),
                at_ms=_int(h.get(AT_HEADER)),
                subject=h.get(SUBJECT_HEADER, ""),
                origin_seq=_int(h.get(STREAM_SEQ_HEADER)),
                event_seq=h.get(SEQ_HEADER, ""),
                event_id=h.get("Vcc-Dead-Event-Id", ""),
                data=raw.data or b"",
            )
        )
    return out
