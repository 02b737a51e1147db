"""The outbox relay's settings, apart from the relay (which brings the site's store and
the NATS client): reading a site's settings, as every ``vcc`` command does to build its
options, needs neither."""

from __future__ import annotations

from dataclasses import dataclass

from vcc_proto.settings import setting

# Test-only defect for the failover drills: the event of this outbox sequence is never
# published (nor re-published) yet counted as acknowledged, so the hub never gets it.
DROP_EVENT_ENV = "VCC_FAULT_DROP_EVENT"


@dataclass(frozen=True, slots=True)
class RelaySettings:
    """The outbox relay's pace and patience."""

    batch: int = setting("VCC_RELAY_BATCH", 1000, "outbox rows read and published per round")
    poll_s: float = setting(
        "VCC_RELAY_POLL_S", 1.0, "relay wake-up interval without a commit notification"
    )
    publish_timeout_s: float = setting(
        "VCC_RELAY_PUBLISH_TIMEOUT_S", 5.0, "how long the relay waits for the broker's acks"
    )
    status_every_s: float = setting(
        "VCC_RELAY_STATUS_EVERY_S", 5.0, "how often the hub is asked how far it has applied"
    )
    retention_s: float = setting(
        "VCC_OUTBOX_RETENTION_S",
        3600.0,
        "sent outbox rows are kept this long after the hub confirmed",
    )
    hub_timeout_s: float = setting(
        "VCC_RELAY_HUB_TIMEOUT_S", 2.0, "deadline of the relay's status question to the hub"
    )
    drop_event_seq: int = setting(
        DROP_EVENT_ENV,
        0,
        "TEST-ONLY defect for drills: never publish the event of this outbox sequence (0: off)",
    )
