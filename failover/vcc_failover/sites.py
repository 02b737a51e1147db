"""Where each site's gRPC endpoint is: a static map, else etcd ``/vcc/sites/<SITE>``.

A site registers ``/vcc/sites/<ID>`` = JSON ``{"grpc": "host:port", ...}`` under its lease
(see ``vcc_site.app``). Other sites and the access edge read it here; answers are cached
for ``cache_s`` so a hot path does not ask etcd on every call. A static map
(``"KM=127.0.0.1:5001,DL=..."``, e.g. from ``VCC_SITE_ENDPOINTS``) wins over etcd.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from vcc_domain.errors import Unavailable
from vcc_failover.lease import get_prefix
from vcc_proto.names import SITE_KEY_PREFIX
from vcc_proto.settings import setting

STATIC_ENV = "VCC_SITE_ENDPOINTS"


@dataclass(frozen=True, slots=True)
class SiteEndpointSettings:
    """How a process finds other sites' gRPC endpoints."""

    static: str = setting(
        STATIC_ENV,
        "",
        "fixed site endpoints KM=host:port,DL=...; a site listed here is not looked up in etcd",
    )

    def static_map(self) -> dict[str, str]:
        return parse_static(self.static)

    def endpoints(self, etcd_endpoints: Sequence[str]) -> SiteEndpoints:
        return SiteEndpoints(etcd_endpoints, self.static_map())


def parse_static(text: str) -> dict[str, str]:
    """``"KM=127.0.0.1:5001,DL=..."`` -> ``{"KM": "127.0.0.1:5001", ...}``."""
    out: dict[str, str] = {}
    for part in text.split(","):
        if "=" in part:
            site, endpoint = part.split("=", 1)
            if site.strip() and endpoint.strip():
                out[site.strip()] = endpoint.strip()
    return out


def grpc_of(raw: str) -> str:
    """The ``grpc`` endpoint of a registration value; Unavailable if malformed."""
    try:
        return str(json.loads(raw)["grpc"])
    except (ValueError, KeyError, TypeError) as exc:
        raise Unavailable(f"malformed site registration {raw[:80]!r}") from exc


class SiteEndpoints:
    def __init__(
        self,
        etcd_endpoints: Sequence[str],
        static: Mapping[str, str] | None = None,
        *,
        cache_s: float = 2.0,
        etcd_retry_s: float = 0.2,
    ) -> None:
        self.etcd = list(etcd_endpoints)
        self.static = dict(static or {})
        self.cache_s = cache_s
        self.etcd_retry_s = etcd_retry_s
        self._cache: dict[str, tuple[str, float]] = {}

    async def endpoint(self, site: str) -> str:
        """The site's ``host:port``; Unavailable if it is not registered (or etcd is gone)."""
        if site in self.static:
            return self.static[site]
        cached = self._cache.get(site)
        if cached is not None and time.monotonic() - cached[1] < self.cache_s:
            return cached[0]
        if not self.etcd:
            raise Unavailable(f"no endpoint known for site {site}", field="site")
        key = SITE_KEY_PREFIX + site
        raw = (await get_prefix(self.etcd, key, retry_for_s=self.etcd_retry_s)).get(key)
        if raw is None:
            self._cache.pop(site, None)
            raise Unavailable(f"site {site} is not registered (its lease lapsed?)", field="site")
        endpoint = grpc_of(raw)
        self._cache[site] = (endpoint, time.monotonic())
        return endpoint

    def forget(self, site: str) -> None:
        """Drop a cached endpoint (after a call to it failed)."""
        self._cache.pop(site, None)
