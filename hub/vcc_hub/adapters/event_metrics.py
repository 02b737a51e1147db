"""Replication lag per site at the hub: from a site event's time to its apply here.

The ``site`` label comes from the event; so that a stray publisher cannot grow the label
set, only the province's sites get their own series once :meth:`SiteLag.bound_to` has been
given them (any other site id is counted as ``other``). Label children are cached.
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import Histogram

OTHER = "other"

LAG_SECONDS = Histogram(
    "vcc_hub_replication_lag_seconds",
    "From a site event's time to its apply at the hub",
    ["site"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)


class SiteLag:
    def __init__(self) -> None:
        self._sites: frozenset[str] | None = None  # None: not bound, every site its own
        self._children: dict[str, Histogram] = {}

    def bound_to(self, sites: Iterable[str]) -> None:
        """Give the province's sites; other site ids then share the ``other`` series."""
        self._sites = frozenset(sites)
        self._children.clear()

    def observe(self, site: str, seconds: float) -> None:
        child = self._children.get(site)
        if child is None:
            label = site if self._sites is None or site in self._sites else OTHER
            child = self._children[site] = LAG_SECONDS.labels(label)
        child.observe(max(0.0, seconds))


LAG = SiteLag()
