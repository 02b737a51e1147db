"""Configuration shared by every vcc process (hub or site), frozen once at start."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from vcc_domain.clock import Clock, ScaledClock, SystemClock


@dataclass(frozen=True, slots=True)
class NodeConfig:
    """Where a process listens and what it connects to."""

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
    extra: dict[str, str] = field(default_factory=dict)

    def sqlite_url(self, name: str) -> str:
        return f"sqlite:///{(self.data_dir / f'{name}.db').resolve()}"


def clock_from_env(env: Mapping[str, str] | None = None) -> Clock:
    """``VCC_TIME_SPEED`` (and ``VCC_TIME_EPOCH``, wall seconds) give province time running
    faster than the wall (:class:`~vcc_domain.clock.ScaledClock`, used by ``vcc demo``);
    without them, the system clock."""
    values = os.environ if env is None else env
    raw = values.get("VCC_TIME_SPEED", "").strip()
    if not raw or float(raw) == 1.0:
        return SystemClock()
    epoch = values.get("VCC_TIME_EPOCH", "").strip()
    return ScaledClock(float(raw), float(epoch) if epoch else None)
