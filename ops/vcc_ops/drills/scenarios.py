"""The drill scenarios by name: what each injects, measures and restores is documented
on its class (:mod:`vcc_ops.drills.kills`: processes and servers SIGKILLed;
:mod:`vcc_ops.drills.links`: links cut or slowed on the fault proxies); the context
they share is :mod:`vcc_ops.drills.context`."""

from __future__ import annotations

from collections.abc import Callable

from vcc_domain.errors import ConfigError
from vcc_ops.drills.context import DrillContext, Scenario, Traffic, caught_up
from vcc_ops.drills.kills import DbRestart, HubLeaderKill, ServerKill, SiteKill
from vcc_ops.drills.links import HubPartition, SitePartition, SlowLink
from vcc_ops.drills.sip_kill import SipSiteKill

__all__ = [
    "SCENARIOS",
    "SIP_SCENARIOS",
    "DrillContext",
    "Scenario",
    "Traffic",
    "caught_up",
    "scenario",
]

SCENARIOS: dict[str, Callable[[], Scenario]] = {
    "site-kill": SiteKill,
    "site-partition": SitePartition,
    "hub-leader-kill": HubLeaderKill,
    "hub-partition": HubPartition,
    "nats-node-kill": lambda: ServerKill("nats-node-kill", "nats"),
    "etcd-member-kill": lambda: ServerKill("etcd-member-kill", "etcd"),
    "db-restart": DbRestart,
    "slow-link": SlowLink,
    "sip-site-kill": SipSiteKill,
}

# scenarios that need the province's SIP parts (and Kamailio and SIPp installed)
SIP_SCENARIOS = frozenset({"sip-site-kill"})


def scenario(name: str) -> Scenario:
    if name not in SCENARIOS:
        raise ConfigError(
            f"unknown scenario {name!r}; one of {sorted(SCENARIOS)}", field="scenario"
        )
    return SCENARIOS[name]()
