"""What a hub process can be told: one frozen settings class per part, loaded in one place.

Every field names its ``VCC_*`` variable, default and meaning; see
:mod:`vcc_proto.settings`. :func:`load_hub_settings` is the only reader of the hub's
environment; ``vcc settings`` lists them all.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field

from vcc_domain.sqi import SqiConfig
from vcc_domain.stats import StatsConfig
from vcc_failover.sites import SiteEndpointSettings
from vcc_hub.web.settings import ConsoleSettings
from vcc_proto.access import EtcdUserSettings, NatsUserSettings
from vcc_proto.nodeconfig import TimeSettings
from vcc_proto.settings import SettingsError, load_parts, setting
from vcc_proto.transport import TlsSettings
from vcc_replication.streams import StreamLimitSettings


@dataclass(frozen=True, slots=True)
class EventsSettings:
    """Site events: consumer and gap repair."""

    gap_grace_s: float = setting(
        "VCC_EVENT_GAP_GRACE_S",
        2.0,
        "a gap in a site's events older than this makes the hub ask the site to re-publish",
    )


@dataclass(frozen=True, slots=True)
class RoutingSettings:
    """The routing broker (transfers and overflow between sites)."""

    transfer_accept_timeout_s: float | None = setting(
        "VCC_TRANSFER_ACCEPT_TIMEOUT_S",
        None,
        "how long a target site has to accept a brokered transfer",
        default_text="the province's transfer_accept_timeout_s",
    )


@dataclass(frozen=True, slots=True)
class ReportsSettings:
    """Statistics, service-quality index and settlement."""

    interval_min: float = setting(
        "VCC_REPORTS_INTERVAL_MIN", 15.0, "length of a statistics interval, minutes"
    )
    short_abandon_s: float = setting(
        "VCC_SHORT_ABANDON_S", 5.0, "a call abandoned sooner than this counts as a short abandon"
    )
    sqi: str = setting(
        "VCC_SQI",
        "{}",
        "JSON weights and targets of the service-quality index (SqiConfig); {}: the defaults",
    )
    poll_s: float = setting("VCC_REPORTS_POLL_S", 0.5, "aggregation poll when idle, seconds")

    def __post_init__(self) -> None:
        self.sqi_config()  # a bad index definition stops the hub at start

    def stats_config(self) -> StatsConfig:
        return StatsConfig(
            interval_ms=int(self.interval_min * 60_000),
            short_abandon_ms=int(self.short_abandon_s * 1000),
        )

    def sqi_config(self) -> SqiConfig:
        try:
            return SqiConfig.from_mapping(json.loads(self.sqi))
        except (ValueError, TypeError, AttributeError) as exc:
            raise SettingsError(
                f"not a service-quality index definition: {exc}", field="VCC_SQI"
            ) from None


@dataclass(frozen=True, slots=True)
class HubNodeSettings:
    """Every part's settings of one hub process."""

    time: TimeSettings = field(default_factory=TimeSettings)
    sites: SiteEndpointSettings = field(default_factory=SiteEndpointSettings)
    events: EventsSettings = field(default_factory=EventsSettings)
    routing: RoutingSettings = field(default_factory=RoutingSettings)
    reports: ReportsSettings = field(default_factory=ReportsSettings)
    nats_user: NatsUserSettings = field(default_factory=NatsUserSettings)
    etcd_user: EtcdUserSettings = field(default_factory=EtcdUserSettings)
    streams: StreamLimitSettings = field(default_factory=StreamLimitSettings)
    tls: TlsSettings = field(default_factory=TlsSettings)
    console: ConsoleSettings = field(default_factory=ConsoleSettings)


def load_hub_settings(
    env: Mapping[str, str] | None = None, flags: Mapping[str, object] | None = None
) -> HubNodeSettings:
    """The hub's settings from ``flags`` (by variable name), else ``env`` (default: the
    process's environment), else the defaults."""
    return load_parts(HubNodeSettings, env, flags)
