"""Configuration shared by every vcc process (hub or site), frozen once at start."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from vcc_domain.clock import Clock, ScaledClock, SystemClock
from vcc_proto.settings import SettingsError, setting


@dataclass(frozen=True, slots=True)
class NodeConfig:
    """Where a process listens and what it connects to (the ``vcc hub`` / ``vcc site``
    options, each also a ``VCC_*`` variable: see ``vcc settings``)."""

    province_file: Path
    data_dir: Path
    nats_urls: tuple[str, ...]
    etcd_endpoints: tuple[str, ...]
    database_url: str | None = None  # default: SQLite file in data_dir
    host: str = "127.0.0.1"  # address to listen on
    advertise_host: str = "127.0.0.1"  # how other processes reach this one
    stream_replicas: int = 1
    grpc_port: int = 0
    metrics_port: int = 0
    node_id: str = ""
    lease_ttl_s: float = 2.0
    log_level: str = "INFO"
    log_file: Path | None = None
    log_format: str = "text"  # "text" | "json"

    def sqlite_url(self, name: str) -> str:
        return f"sqlite:///{(self.data_dir / f'{name}.db').resolve()}"


@dataclass(frozen=True, slots=True)
class TimeSettings:
    """Province time: the wall clock, or a faster one for ``vcc demo``."""

    speed: float = setting(
        "VCC_TIME_SPEED", 1.0, "province time runs this many times faster than the wall clock"
    )
    epoch: float | None = setting(
        "VCC_TIME_EPOCH",
        None,
        "wall time (Unix seconds) where scaled province time starts; none: the process's start",
        default_text="start",
    )

    def clock(self) -> Clock:
        if self.speed == 1.0:
            return SystemClock()
        if not self.speed > 1.0:
            raise SettingsError(
                f"a time speed-up must be at least 1, not {self.speed!r}", field="VCC_TIME_SPEED"
            )
        return ScaledClock(self.speed, self.epoch)
