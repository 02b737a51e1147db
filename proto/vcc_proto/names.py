"""Names shared by every process: etcd keys and NATS subjects and streams.

Each is defined here once; the modules that use them import them from here.
"""

from __future__ import annotations

# -- etcd --------------------------------------------------------------------------------
SITE_KEY_PREFIX = (
    "/vcc/sites/"  # /vcc/sites/<SITE> = JSON {"grpc": ..., ...} under the site's lease
)
HUB_KEY_PREFIX = "/vcc/hubs/"  # /vcc/hubs/<NODE> = JSON registration under the hub's lease
ROUTING_PREFIX = "/vcc/routing/"  # /vcc/routing/<area code> = JSON {"sites": [...], ...}
LEADER_KEY = "/vcc/hub/leader"  # held by the leader hub under its election lease

# -- NATS JetStream ----------------------------------------------------------------------
SITE_EVENTS_STREAM = "VCC_SITE_EVENTS"  # every site event up to the hub
SITE_EVENTS_SUBJECTS = "vcc.site.*.events"  # one subject per site
DIRECTORY_STREAM = "VCC_DIRECTORY"  # directory deltas down from the hub
DIRECTORY_SUBJECT = "vcc.directory.deltas"
DEAD_LETTER_STREAM = "VCC_DEAD_LETTERS"  # site events the hub gave up on
DEAD_LETTER_SUBJECTS = "vcc.deadletter.*"  # one subject per site


def site_key(site_id: str) -> str:
    return SITE_KEY_PREFIX + site_id


def hub_key(node_id: str) -> str:
    return HUB_KEY_PREFIX + node_id


def site_events_subject(site_id: str) -> str:
    return f"vcc.site.{site_id}.events"


def directory_consumer(site_id: str) -> str:
    """The durable pull consumer of the directory stream a hub makes for a site (the site
    only fetches from it: it may create no consumer, whose delivery subject it would
    choose)."""
    return f"vcc-dir-{site_id}"


def dead_letter_subject(site_id: str) -> str:
    return f"vcc.deadletter.{site_id or '_unknown'}"


def site_of_subject(subject: str) -> str:
    """The site of a ``vcc.site.<SITE>.events`` subject ("" for another subject)."""
    parts = subject.split(".")
    return parts[2] if len(parts) == 4 and parts[:2] == ["vcc", "site"] else ""
