"""The access edge's settings: one frozen dataclass, read from flags and ``VCC_*``
variables in one function (:func:`read_edge_settings`). Light to import: the ``vcc``
command line builds its ``vcc edge`` flags from :data:`EDGE_SETTINGS`."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vcc_domain.errors import ConfigError


@dataclass(frozen=True, slots=True)
class EdgeSettings:
    """Everything the edge process is told; see :data:`EDGE_SETTINGS` for each one."""

    province_file: Path
    data_dir: Path = Path(".vcc/data")
    etcd_endpoints: tuple[str, ...] = ("127.0.0.1:2379",)
    host: str = "127.0.0.1"
    advertise_host: str = ""
    grpc_port: int = 0
    metrics_port: int = 0
    node_id: str = "edge"
    log_file: Path | None = None
    log_level: str = "INFO"
    log_format: str = "text"
    site_endpoints: str = ""
    rpc_timeout_s: float = 2.0
    route_refresh_s: float = 0.5
    sweep_every_s: float = 2.0
    probe_every_s: float = 10.0

    @property
    def ledger_path(self) -> Path:
        return self.data_dir / f"{self.node_id}-ledger.jsonl"


@dataclass(frozen=True, slots=True)
class Setting:
    """One setting of the edge: its field, variable, meaning (defaults: the dataclass)."""

    name: str
    env: str
    help: str
    parse: Callable[[str], Any] = str


def _endpoints(text: str) -> tuple[str, ...]:
    return tuple(e.strip() for e in text.split(",") if e.strip())


def _path_or_none(text: str) -> Path | None:
    return Path(text) if text else None


EDGE_SETTINGS: tuple[Setting, ...] = (
    Setting("province_file", "VCC_PROVINCE", "Province file (TOML).", Path),
    Setting("data_dir", "VCC_DATA_DIR", "Where the edge writes its ledger.", Path),
    Setting("etcd_endpoints", "VCC_ETCD", "etcd endpoint(s) host:port, comma separated.",
            _endpoints),
    Setting("host", "VCC_HOST", "Address to listen on."),
    Setting("advertise_host", "VCC_ADVERTISE_HOST", "Host others use to reach the edge "
            "(default: --host)."),
    Setting("grpc_port", "VCC_GRPC_PORT", "gRPC port (0 = any free port).", int),
    Setting("metrics_port", "VCC_METRICS_PORT", "Prometheus /metrics port (0 = none).", int),
    Setting("node_id", "VCC_NODE_ID", "Stable name of this process."),
    Setting("log_file", "VCC_LOG_FILE", "Write logs here instead of stderr.", _path_or_none),
    Setting("log_level", "VCC_LOG_LEVEL", "Log level (DEBUG, INFO, ...)."),
    Setting("log_format", "VCC_LOG_FORMAT", "Log lines as text or json."),
    Setting("site_endpoints", "VCC_SITE_ENDPOINTS", "Fixed site endpoints "
            "KM=host:port,... (default: the registrations in etcd)."),
    Setting("rpc_timeout_s", "VCC_EDGE_RPC_TIMEOUT_S", "Deadline of each call to a site.", float),
    Setting("route_refresh_s", "VCC_EDGE_ROUTE_REFRESH_S", "Routing map re-read at most this "
            "often (0 = every call).", float),
    Setting("sweep_every_s", "VCC_EDGE_SWEEP_EVERY_S", "Open calls of sites that are gone "
            "are marked lost this often (0 = only when asked).", float),
    Setting("probe_every_s", "VCC_EDGE_PROBE_EVERY_S", "Every open call is read from its "
            "site this often (0 = only when asked).", float),
)


def read_edge_settings(flags: Mapping[str, str | None], env: Mapping[str, str]) -> EdgeSettings:
    """The edge's settings from raw text: a flag given (by setting name) wins over its
    ``VCC_*`` variable, which wins over the default. A value that does not parse is a
    clear ConfigError naming the flag or variable."""
    values: dict[str, Any] = {}
    for setting in EDGE_SETTINGS:
        flag = flags.get(setting.name)
        source = flag_name(setting) if flag is not None else setting.env
        raw = (flag if flag is not None else env.get(setting.env, "")).strip()
        if not raw:
            continue
        try:
            values[setting.name] = setting.parse(raw)
        except ValueError as exc:
            raise ConfigError(f"{source}={raw!r}: {exc}", field=source) from exc
    if "province_file" not in values:
        raise ConfigError("the edge needs a province file (--province or VCC_PROVINCE)",
                          field="--province")
    settings = EdgeSettings(**values)
    if settings.log_format not in ("text", "json"):
        raise ConfigError(f"log format must be text or json, not {settings.log_format!r}",
                          field="--log-format")
    return settings


def flag_name(setting: Setting) -> str:
    """The command-line flag of a setting (``--province``, ``--etcd``, ``--grpc-port``)."""
    short = {"province_file": "province", "etcd_endpoints": "etcd"}
    return "--" + short.get(setting.name, setting.name).replace("_", "-")
