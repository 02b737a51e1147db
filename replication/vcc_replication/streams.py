"""The province's JetStream streams and subjects, in one place.

* ``VCC_SITE_EVENTS`` carries every site event up to the hub, one subject per site
  (``vcc.site.<SITE>.events``); messages carry ``Nats-Msg-Id`` = event ID so a
  re-publish inside the duplicate window is dropped by the server, and the hub's inbox
  drops anything older.
* ``VCC_DEAD_LETTERS`` keeps site events the hub could neither decode nor apply after
  a bounded number of deliveries (``vcc.deadletter.<SITE>``): the original bytes and
  headers plus the error, the delivery count and the site (``Vcc-Dead-*`` headers); they
  are listed by ``vcc events dead-letters`` and never applied by themselves.
* ``VCC_DIRECTORY`` carries directory deltas down from the hub (``vcc.directory.deltas``),
  one message per directory version; each site fetches them from a durable pull consumer
  the hub makes for it (``vcc-dir-<SITE>``).
* Every stream is bounded in age, bytes and message size (:class:`StreamLimitSettings`).

Streams use file storage. Durability does not rest on the broker: sites keep their
outbox until the hub confirms, and directory versions can always be re-read over gRPC.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import nats.js.errors
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from vcc_proto.names import DEAD_LETTER_STREAM as DEAD_LETTER_STREAM
from vcc_proto.names import DEAD_LETTER_SUBJECTS, SITE_EVENTS_SUBJECTS
from vcc_proto.names import DIRECTORY_STREAM as DIRECTORY_STREAM
from vcc_proto.names import DIRECTORY_SUBJECT as DIRECTORY_SUBJECT
from vcc_proto.names import SITE_EVENTS_STREAM as SITE_EVENTS_STREAM
from vcc_proto.names import dead_letter_subject as dead_letter_subject
from vcc_proto.names import directory_consumer as directory_consumer
from vcc_proto.names import site_events_subject as site_events_subject
from vcc_proto.names import site_of_subject as site_of_subject
from vcc_proto.settings import SettingsError, setting
from vcc_replication.jetstream import ensure_stream


@dataclass(frozen=True, slots=True)
class StreamSpec:
    name: str
    subjects: tuple[str, ...]
    duplicate_window_s: float = 120.0


PROVINCE_STREAMS = (
    StreamSpec(SITE_EVENTS_STREAM, (SITE_EVENTS_SUBJECTS,)),
    StreamSpec(DIRECTORY_STREAM, (DIRECTORY_SUBJECT,)),
    StreamSpec(DEAD_LETTER_STREAM, (DEAD_LETTER_SUBJECTS,)),
)


@dataclass(frozen=True, slots=True)
class StreamLimitSettings:
    """Limits of every province stream (the hub declares the streams)."""

    max_age_h: float = setting(
        "VCC_STREAM_MAX_AGE_H",
        7 * 24.0,
        "a stream drops messages older than this many hours (sites keep their outbox "
        "until the hub confirms; the directory is re-read over gRPC)",
    )
    max_mb: int = setting(
        "VCC_STREAM_MAX_MB", 1024, "each stream keeps at most this many MiB (oldest dropped)"
    )
    max_msg_kb: int = setting(
        "VCC_STREAM_MAX_MSG_KB", 1024, "the largest message a stream accepts, KiB"
    )

    def __post_init__(self) -> None:
        for name, value in (
            ("VCC_STREAM_MAX_AGE_H", self.max_age_h),
            ("VCC_STREAM_MAX_MB", self.max_mb),
            ("VCC_STREAM_MAX_MSG_KB", self.max_msg_kb),
        ):
            if not value > 0:
                raise SettingsError(f"a stream limit must be positive, not {value!r}", field=name)


async def ensure_province_streams(
    js: JetStreamContext,
    replicas: int = 1,
    limits: StreamLimitSettings | None = None,
) -> None:
    limits = limits or StreamLimitSettings()
    for spec in PROVINCE_STREAMS:
        await ensure_stream(
            js,
            spec.name,
            list(spec.subjects),
            replicas=replicas,
            duplicate_window_s=spec.duplicate_window_s,
            max_age_s=limits.max_age_h * 3600.0,
            max_bytes=limits.max_mb * 1024 * 1024,
            max_msg_size=limits.max_msg_kb * 1024,
        )


DIRECTORY_CONSUMER_IDLE_S = 7 * 24 * 3600.0  # a site gone this long loses its consumer


async def ensure_directory_consumers(js: JetStreamContext, sites: Sequence[str]) -> None:
    """A durable pull consumer of the directory stream for each site (new deltas from its
    creation on; a site fills anything older over gRPC). The hub makes them: a site may
    only fetch from its own, so it never names where the broker delivers."""
    for site in sites:
        durable = directory_consumer(site)
        config = ConsumerConfig(
            durable_name=durable,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.NEW,
            filter_subject=DIRECTORY_SUBJECT,
            inactive_threshold=DIRECTORY_CONSUMER_IDLE_S,
        )
        try:
            await js.consumer_info(DIRECTORY_STREAM, durable)
        except nats.js.errors.NotFoundError:
            await js.add_consumer(DIRECTORY_STREAM, config)
