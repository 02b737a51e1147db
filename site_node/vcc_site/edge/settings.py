"""What the access edge can be told: its own settings class and the site endpoints, loaded
in one place (:func:`load_edge_settings`; ``vcc settings`` lists them). Where the process
listens, logs and finds etcd are the options every process takes (``NodeConfig``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from vcc_failover.sites import SiteEndpointSettings
from vcc_proto.access import EtcdUserSettings
from vcc_proto.settings import load_parts, setting
from vcc_proto.transport import TlsSettings


@dataclass(frozen=True, slots=True)
class EdgeSettings:
    """How the edge talks to the sites and keeps its ledger up to date."""

    rpc_timeout_s: float = setting(
        "VCC_EDGE_RPC_TIMEOUT_S",
        2.0,
        "deadline of each request to a site (a site past it is tried as not answering)",
        flag="--rpc-timeout-s",
    )
    route_refresh_s: float = setting(
        "VCC_EDGE_ROUTE_REFRESH_S",
        0.5,
        "the routing map is re-read from etcd at most this often (0: for every call)",
        flag="--route-refresh-s",
    )
    sweep_every_s: float = setting(
        "VCC_EDGE_SWEEP_EVERY_S",
        2.0,
        "open calls of sites that are gone are marked lost this often (0: only when asked)",
        flag="--sweep-every-s",
    )
    probe_every_s: float = setting(
        "VCC_EDGE_PROBE_EVERY_S",
        10.0,
        "every open call is read "
        "from its site (ended, moved, lost) this often (0: only "
        "when asked)",
        flag="--probe-every-s",
    )


@dataclass(frozen=True, slots=True)
class EdgeNodeSettings:
    """Every part's settings of the edge process."""

    edge: EdgeSettings = field(default_factory=EdgeSettings)
    sites: SiteEndpointSettings = field(default_factory=SiteEndpointSettings)
    etcd_user: EtcdUserSettings = field(default_factory=EtcdUserSettings)
    tls: TlsSettings = field(default_factory=TlsSettings)


def load_edge_settings(
    env: Mapping[str, str] | None = None, flags: Mapping[str, object] | None = None
) -> EdgeNodeSettings:
    """The edge's settings from ``flags`` (by variable name), else ``env`` (default: the
    process's environment), else the defaults."""
    return load_parts(EdgeNodeSettings, env, flags)
