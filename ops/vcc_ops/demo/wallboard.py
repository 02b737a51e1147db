"""The demo's live terminal wallboard: per site and for the province.

Live figures come from the traffic (what the callers and agents see, wall clock) and from
the processes' Prometheus endpoints (calls waiting in each site's queues, the hub's
replication lag per site).
"""

from __future__ import annotations

import asyncio
import contextlib
import urllib.request
from collections.abc import Iterable
from typing import Any

from prometheus_client.parser import text_string_to_metric_families
from rich.table import Table

COLUMNS = (
    "offered",
    "waiting",
    "answered",
    "abandoned",
    "service_level",
    "ready",
    "busy",
    "overflow_in",
    "overflow_out",
    "lag_ms",
)


def scrape(endpoint: str, names: Iterable[str], timeout_s: float = 1.0) -> dict[str, list[Any]]:
    """Samples of the named metric families at a ``host:port`` /metrics endpoint."""
    wanted = set(names)
    with urllib.request.urlopen(f"http://{endpoint}/metrics", timeout=timeout_s) as resp:
        text = resp.read().decode()
    out: dict[str, list[Any]] = {name: [] for name in wanted}
    for family in text_string_to_metric_families(text):
        if family.name in wanted:
            out[family.name].extend(family.samples)
    return out


class ProcessFigures:
    """Scrapes queue lengths at the sites and the replication lag at the hub.

    The hub measures lag as its clock minus the event's time; in a compressed demo both
    are province time, so the wall lag is that divided by the speed-up.
    """

    def __init__(self, site_metrics: dict[str, str], hub_metrics: str, speed: float = 1.0) -> None:
        self.site_metrics = site_metrics
        self.hub_metrics = hub_metrics
        self.speed = speed
        self.waiting: dict[str, int] = {}
        self.lag_ms: float | None = None  # mean since the last refresh, wall ms
        self._last: tuple[float, float] = (0.0, 0.0)  # histogram (sum, count)

    def refresh(self) -> None:
        for site, endpoint in self.site_metrics.items():
            with contextlib.suppress(Exception):
                samples = scrape(endpoint, ["vcc_site_queue_waiting"])["vcc_site_queue_waiting"]
                self.waiting[site] = int(sum(x.value for x in samples))
        with contextlib.suppress(Exception):
            hub = scrape(self.hub_metrics, ["vcc_hub_replication_lag_seconds"])
            got: dict[str, float] = {}  # summed over the per-site series
            for x in hub["vcc_hub_replication_lag_seconds"]:
                got[x.name] = got.get(x.name, 0.0) + x.value
            total = got.get("vcc_hub_replication_lag_seconds_sum", 0.0)
            count = got.get("vcc_hub_replication_lag_seconds_count", 0.0)
            d_sum, d_count = total - self._last[0], count - self._last[1]
            self._last = (total, count)
            if d_count > 0:
                self.lag_ms = d_sum / d_count * 1000 / self.speed

    async def refresh_async(self) -> None:
        await asyncio.to_thread(self.refresh)


def board_rows(snapshot: dict[str, Any], figures: ProcessFigures) -> list[dict[str, Any]]:
    """One row per site plus the province total."""
    rows = []
    total: dict[str, float] = {}
    for site, live in snapshot.items():
        row = {k: live.get(k, 0) for k in COLUMNS}
        row["site"] = site
        row["waiting"] = figures.waiting.get(site, live.get("waiting", 0))
        row["service_level"] = live.get("service_level")
        row["lag_ms"] = None
        rows.append(row)
        for k in (
            "offered",
            "waiting",
            "answered",
            "abandoned",
            "ready",
            "busy",
            "overflow_in",
            "overflow_out",
            "in_target",
        ):
            total[k] = total.get(k, 0) + (live.get(k, 0) if k != "waiting" else row["waiting"])
    decided = total.get("answered", 0) + total.get("abandoned", 0)
    rows.append(
        {
            **{k: int(v) for k, v in total.items()},
            "site": "PROVINCE",
            "service_level": total.get("in_target", 0) / decided if decided else None,
            "lag_ms": figures.lag_ms,
        }
    )
    return rows


def render(rows: list[dict[str, Any]], title: str) -> Table:
    table = Table(title=title, expand=False)
    table.add_column("site")
    for col in COLUMNS:
        table.add_column(col.replace("_", " "), justify="right")
    for row in rows:
        cells = [str(row["site"])]
        for col in COLUMNS:
            v = row.get(col)
            if v is None:
                cells.append("-")
            elif col == "service_level":
                cells.append(f"{v:.0%}")
            elif col == "lag_ms":
                cells.append(f"{v:.0f}")
            else:
                cells.append(str(int(v)))
        table.add_row(*cells, style="bold" if row["site"] == "PROVINCE" else None)
    return table


def plain(rows: list[dict[str, Any]], elapsed_s: float) -> str:
    """A one-line summary for a terminal that is not interactive."""
    p = rows[-1]
    sl = p.get("service_level")
    return (
        f"[{elapsed_s:5.0f} s] offered {p.get('offered', 0)} answered {p.get('answered', 0)} "
        f"abandoned {p.get('abandoned', 0)} waiting {p.get('waiting', 0)} "
        f"SL {'-' if sl is None else f'{sl:.0%}'} overflow {p.get('overflow_in', 0)}"
    )
