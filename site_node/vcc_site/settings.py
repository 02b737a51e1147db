"""What a site node can be told: one frozen settings class per part, loaded in one place.

Every field names its ``VCC_*`` variable (and flag, if any), default and meaning; see
:mod:`vcc_proto.settings`. :func:`load_site_settings` is the only reader of the site's
environment; ``vcc settings`` lists them all.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from vcc_domain.calendar import CN_2025, WorkCalendar, calendar_from_lists
from vcc_failover.sites import SiteEndpointSettings
from vcc_proto.access import EtcdUserSettings, NatsUserSettings
from vcc_proto.nodeconfig import TimeSettings
from vcc_proto.settings import SettingsError, load_parts, setting
from vcc_proto.transport import TlsSettings
from vcc_site.sync.relay_settings import RelaySettings
from vcc_site.web.settings import WebSettings

REMOTE_READ_BUDGET_MS = 300  # the most a remote customer read may add to call setup


@dataclass(frozen=True, slots=True)
class SiteSettings:
    """The site node itself."""

    seed_customers: int = setting(
        "VCC_SEED_CUSTOMERS",
        2000,
        "synthetic customers created in an empty site database",
        flag="--seed-customers",
    )
    hub_endpoint: str = setting(
        "VCC_HUB",
        "",
        "fixed hub gRPC endpoint host:port; empty: find the hub leader in etcd",
        flag="--hub",
    )
    settle_first_s: float = setting(
        "VCC_SETTLE_FIRST_S",
        2.0,
        "at start, how long to wait "
        "for the origins of calls taken over before a crash to "
        "say who owns them before serving",
    )


@dataclass(frozen=True, slots=True)
class RemoteReadSettings:
    """Reads of callers homed at other sites (at the home site, then the hub's copy)."""

    budget_ms: int = setting(
        "VCC_REMOTE_READ_BUDGET_MS",
        0,
        "the most a remote customer read may add to call setup, per try (home site, then hub)",
        default_text="min(300, the province's remote_read_timeout_ms)",
    )
    cache_ms: int = setting(
        "VCC_CUSTOMER_CACHE_MS", 2000, "how long a remote customer read's result is reused"
    )

    def budget_for(self, province_limit_ms: int) -> int:
        return self.budget_ms or min(REMOTE_READ_BUDGET_MS, province_limit_ms)


@dataclass(frozen=True, slots=True)
class OverflowSettings:
    """Queue figures to the hub and overflow by expected wait."""

    enabled: bool = setting(
        "VCC_OVERFLOW",
        True,
        "move waiting calls to a site the hub "
        "advises when their expected wait is past the threshold "
        "(figures are reported either way)",
    )
    report_s: float = setting(
        "VCC_QUEUE_REPORT_S", 1.0, "how often queue figures go to the hub leader"
    )
    monitor_s: float = setting(
        "VCC_OVERFLOW_MONITOR_S", 0.5, "how often waiting calls are checked for overflow"
    )
    hub_deadline_s: float = setting(
        "VCC_OVERFLOW_HUB_DEADLINE_S",
        0.8,
        "a figures report or overflow question the hub does not answer in this is skipped",
    )


@dataclass(frozen=True, slots=True)
class DirectorySyncSettings:
    """Following the hub's versioned directory."""

    poll_s: float = setting(
        "VCC_DIRECTORY_POLL_S",
        10.0,
        "how often the hub is asked for a newer directory version besides the broker's deltas",
    )


@dataclass(frozen=True, slots=True)
class NotifySettings:
    """Notices about work orders (fault reports) to an outside system."""

    webhook: str = setting(
        "VCC_NOTIFY_WEBHOOK",
        "",
        "http(s) URL notices are POSTed to; empty: notices are only counted",
    )


@dataclass(frozen=True, slots=True)
class WorkOrderSettings:
    """Work orders: calendar and background scan."""

    holidays: tuple[str, ...] = setting(
        "VCC_HOLIDAYS",
        (),
        "ISO dates, comma separated, that are not workdays",
        default_text="2025 schedule",
    )
    workdays: tuple[str, ...] = setting(
        "VCC_WORKDAYS",
        (),
        "ISO weekend dates, comma separated, that are workdays",
        default_text="2025 schedule",
    )
    scan_s: float = setting(
        "VCC_WORK_ORDER_SCAN_S",
        60.0,
        "how often overdue orders are escalated and unforwarded ones retried",
    )

    def __post_init__(self) -> None:
        for env, dates in (("VCC_HOLIDAYS", self.holidays), ("VCC_WORKDAYS", self.workdays)):
            for text in dates:
                try:
                    date.fromisoformat(text)
                except ValueError:
                    raise SettingsError(
                        f"{text!r} is not an ISO date (2025-10-01)", field=env
                    ) from None

    def calendar(self) -> WorkCalendar:
        if not self.holidays and not self.workdays:
            return CN_2025
        return calendar_from_lists(list(self.holidays), list(self.workdays))


@dataclass(frozen=True, slots=True)
class FaultSettings:
    """Test-only defects for drills and tests (all off by default)."""

    transfer_answer_delay_ms: int = setting(
        "VCC_FAULT_TRANSFER_ANSWER_DELAY_MS",
        0,
        "TEST-ONLY: hold the answer to "
        "AcceptTransfer this long after the call was queued here (0: off)",
    )


@dataclass(frozen=True, slots=True)
class RecordingSettings:
    """Call recordings kept at the site (the media relay records into ``folder``)."""

    folder: str = setting(
        "VCC_RECORDINGS_DIR",
        "",
        "the site's recordings folder, the media relay's --recording-dir",
        default_text="<data dir>/recordings",
    )
    sweep_s: float = setting(
        "VCC_RECORDING_SWEEP_S",
        3600.0,
        "how often recordings past the province's retention are deleted",
    )

    def folder_in(self, data_dir: Path) -> Path:
        return Path(self.folder) if self.folder else data_dir / "recordings"


@dataclass(frozen=True, slots=True)
class SiteNodeSettings:
    """Every part's settings of one site node."""

    site: SiteSettings = field(default_factory=SiteSettings)
    time: TimeSettings = field(default_factory=TimeSettings)
    sites: SiteEndpointSettings = field(default_factory=SiteEndpointSettings)
    remote_read: RemoteReadSettings = field(default_factory=RemoteReadSettings)
    overflow: OverflowSettings = field(default_factory=OverflowSettings)
    directory: DirectorySyncSettings = field(default_factory=DirectorySyncSettings)
    notify: NotifySettings = field(default_factory=NotifySettings)
    work_orders: WorkOrderSettings = field(default_factory=WorkOrderSettings)
    relay: RelaySettings = field(default_factory=RelaySettings)
    faults: FaultSettings = field(default_factory=FaultSettings)
    nats_user: NatsUserSettings = field(default_factory=NatsUserSettings)
    etcd_user: EtcdUserSettings = field(default_factory=EtcdUserSettings)
    tls: TlsSettings = field(default_factory=TlsSettings)
    web: WebSettings = field(default_factory=WebSettings)
    recordings: RecordingSettings = field(default_factory=RecordingSettings)


def load_site_settings(
    env: Mapping[str, str] | None = None, flags: Mapping[str, object] | None = None
) -> SiteNodeSettings:
    """The site's settings from ``flags`` (by variable name), else ``env`` (default: the
    process's environment), else the defaults."""
    return load_parts(SiteNodeSettings, env, flags)
