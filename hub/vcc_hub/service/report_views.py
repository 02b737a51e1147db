"""Report views (province, site, agent, interval) built from loaded aggregates (pure)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from vcc_domain.province import SLTarget
from vcc_domain.rating import BEIJING, Statement, build_statement
from vcc_domain.sqi import FORMULA, SqiConfig, compute_sqi
from vcc_domain.stats import (
    AgentFigures,
    Figures,
    derived,
    occupancy,
    rollup,
    rollup_agents,
)
from vcc_hub.store.reports import Loaded

VIEWS = ("province", "site", "agent", "interval")


@dataclass
class ReportData:
    view: str
    title: str
    from_ms: int
    to_ms: int
    columns: list[str]
    rows: list[dict[str, Any]]
    sqi: dict[str, Any] = field(default_factory=dict)  # row label -> {value, components}
    charts: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def fmt_time(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).astimezone(BEIJING).strftime("%Y-%m-%d %H:%M")


def _figures_row(f: Figures, acw: AgentFigures | None) -> dict[str, Any]:
    d = derived(f, acw)
    row: dict[str, Any] = {
        k: v
        for k, v in f.as_dict().items()
        if k
        in (
            "offered",
            "answered",
            "abandoned",
            "short_abandoned",
            "overflow_in",
            "overflow_out",
            "transferred",
        )
    }
    for k, v in d.items():
        row[k] = None if v is None else round(v, 4)
    return row


FIG_COLUMNS = [
    "offered",
    "answered",
    "abandoned",
    "short_abandoned",
    "service_level",
    "asa_s",
    "aht_s",
    "avg_talk_s",
    "avg_acw_s",
    "avg_ring_s",
    "transfer_rate",
    "overflow_in",
    "overflow_out",
    "occupancy",
]


RATED_COLUMNS = ["rated", "satisfaction"]


def _rated(ratings: tuple[int, int]) -> dict[str, Any]:
    """Callers' ratings: how many, and their average (1-5, None without any)."""
    n, total = ratings
    return {"rated": n, "satisfaction": round(total / n, 2) if n else None}


def build(
    view: str,
    loaded: Loaded,
    target_of: Callable[[str], SLTarget],
    sqi_config: SqiConfig,
    interval_ms: int,
    from_ms: int,
    to_ms: int,
) -> ReportData:
    # one pass over the loaded rows (days or intervals); the rest rolls up these sums
    stats = rollup(loaded.stats, lambda k: (k[0], k[1], k[2]))
    agents = loaded.agents
    by_site_agents = rollup_agents(agents, lambda k: k[0])
    notes = [
        f"SQI: {FORMULA}",
        "Short abandons (queue wait under the threshold) are counted apart and left "
        "out of service level; calls count in the interval of their arrival.",
    ]

    def site_sqi(site: str | None) -> dict[str, Any]:
        tiers = dict(
            sorted(
                rollup(
                    {k: v for k, v in stats.items() if site is None or k[0] == site}, lambda k: k[2]
                ).items()
            )
        )
        # sorted: the SQI's float sums over tiers do not depend on the order rows were read
        ag = AgentFigures()
        for s, a in by_site_agents.items():
            if site is None or s == site:
                ag.add(a)
        rated = [v for k, v in loaded.ratings.items() if site is None or k == site]
        ratings = (sum(n for n, _ in rated), sum(t for _, t in rated))
        result = compute_sqi(tiers, ag, target_of, sqi_config, ratings)
        return {"value": result.value, "components": result.explain()}

    rows: list[dict[str, Any]] = []
    sqi: dict[str, Any] = {}
    if view == "province":
        by_site = rollup(stats, lambda k: k[0])
        for site in sorted(set(by_site) | set(by_site_agents)):
            row = {
                "site": site,
                **_figures_row(
                    by_site.get(site, Figures()), by_site_agents.get(site, AgentFigures())
                ),
            }
            sqi[site] = site_sqi(site)
            row |= _rated(loaded.ratings.get(site, (0, 0)))
            row["sqi"] = sqi[site]["value"]
            rows.append(row)
        total = Figures()
        for f in by_site.values():
            total.add(f)
        all_agents = AgentFigures()
        for a in by_site_agents.values():
            all_agents.add(a)
        sqi["PROVINCE"] = site_sqi(None)
        every = list(loaded.ratings.values())
        rows.append(
            {
                "site": "PROVINCE",
                **_figures_row(total, all_agents),
                **_rated((sum(n for n, _ in every), sum(t for _, t in every))),
                "sqi": sqi["PROVINCE"]["value"],
            }
        )
        columns = ["site", *FIG_COLUMNS, *RATED_COLUMNS, "sqi"]
    elif view == "site":
        for key, f in sorted(stats.items()):
            rows.append(
                {
                    "site": key[0],
                    "business": key[1],
                    "tier": key[2],
                    **_figures_row(f, None),
                    "sl_target": target_of(key[2]).percent / 100,
                }
            )
        for site in sorted({k[0] for k in stats}):
            sqi[site] = site_sqi(site)
        columns = ["site", "business", "tier", *FIG_COLUMNS, "sl_target"]
    elif view == "agent":
        for (site, agent), a in sorted(rollup_agents(agents, lambda k: (k[0], k[1])).items()):
            handle = a.talk_ms + a.hold_ms + a.acw_ms
            rows.append(
                {
                    "site": site,
                    "agent": agent,
                    "calls": a.calls,
                    "handle_s": handle / 1000,
                    "talk_s": a.talk_ms / 1000,
                    "acw_s": a.acw_ms / 1000,
                    "not_ready_s": a.not_ready_ms / 1000,
                    "aht_s": round(handle / a.calls / 1000, 3) if a.calls else None,
                    "occupancy": None if (o := occupancy(a)) is None else round(o, 4),
                    **_rated(loaded.agent_ratings.get((site, agent), (0, 0))),
                }
            )
        columns = [
            "site",
            "agent",
            "calls",
            "handle_s",
            "talk_s",
            "acw_s",
            "not_ready_s",
            "aht_s",
            "occupancy",
            *RATED_COLUMNS,
        ]
    else:
        ag_int = rollup_agents(
            _site_agent_intervals(loaded), lambda k: (k[0], k[1] - k[1] % interval_ms)
        )
        for (site, start), f in sorted(_site_series(loaded, interval_ms).items()):
            rows.append(
                {
                    "site": site,
                    "interval": fmt_time(start),
                    "interval_start_ms": start,
                    **_figures_row(f, ag_int.get((site, start))),
                }
            )
        columns = ["site", "interval", *FIG_COLUMNS]
    charts = _charts(loaded, stats, interval_ms)
    title = f"{view.capitalize()} report {fmt_time(from_ms)} – {fmt_time(to_ms)} (Beijing time)"
    return ReportData(view, title, from_ms, to_ms, columns, rows, sqi, charts, notes)


def _site_intervals(loaded: Loaded) -> dict[tuple[str, int], Figures]:
    if loaded.site_intervals is not None:
        return loaded.site_intervals
    return rollup(loaded.stats, lambda k: (k[0], k[3]))


def _site_agent_intervals(loaded: Loaded) -> dict[tuple[str, int], AgentFigures]:
    if loaded.site_agent_intervals is not None:
        return loaded.site_agent_intervals
    return rollup_agents(loaded.agents, lambda k: (k[0], k[2]))


def _site_series(loaded: Loaded, interval_ms: int) -> dict[tuple[str, int], Figures]:
    """Figures per site and interval (of ``interval_ms``)."""
    held = _site_intervals(loaded)
    if all(start % interval_ms == 0 for _site, start in held):
        return held  # already per interval
    return rollup(held, lambda k: (k[0], k[1] - k[1] % interval_ms))


def _settlement(loaded: Loaded) -> Statement:
    """Every charge arriving in the range, whatever period it is settled in."""
    if loaded.settlement is not None:
        return loaded.settlement
    return build_statement("range", [replace(c, period_id="range") for c in loaded.charges])


def _charts(
    loaded: Loaded, stats: dict[tuple[str, str, str], Figures], interval_ms: int
) -> dict[str, Any]:
    sl: dict[str, list[tuple[int, float]]] = {}
    for (site, start), f in sorted(_site_series(loaded, interval_ms).items()):
        if f.sl_calls:
            sl.setdefault(site, []).append((start, f.answered_within / f.sl_calls))
    volume = {b: f.offered for b, f in sorted(rollup(stats, lambda k: k[1]).items())}
    st = _settlement(loaded)
    positions = {p.site_id: p.net_fen for p in st.positions}
    return {
        "service_level": sl,
        "volume_by_business": volume,
        "net_positions_fen": positions,
        "statement": st.as_dict(),
    }
