"""``vcc schedule plan`` and ``vcc schedule check``: a site's week of shifts and breaks.

::

    vcc schedule plan --site KM --week 2026-12-07 --from 2026-11-02 --to 2026-11-30 \\
        --out km-week.json
    vcc schedule plan --site KM --week 2026-12-07 --demo-load --out km-week.json
    vcc schedule check km-week.json          # predicted against the hub's actual figures
    vcc schedule replay km-week.json --runs 24   # predicted against simulated runs
    vcc schedule publish km-week.json --site-endpoint HOST:PORT   # to the team leaders

``plan`` reads the site's offered calls per 15-minute interval from the hub's interval
report over ``--from``/``--to`` (or takes the demo's load), forecasts the week
(:func:`vcc_domain.schedule.forecast_week`), staffs every interval with the simulator
(:class:`vcc_ops.schedule.model.SimStaffing`), lays out shifts and breaks and gives them
to the site's call-taking agents; it prints each day and writes the schedule as JSON for
the team leader. ``check`` compares its predicted service level per interval with the
hub's interval report for the same week (intervals with calls only); ``replay`` with
the mean of seeded simulated runs of the schedule (:mod:`vcc_ops.schedule.replay`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from vcc_domain.province import Province, load_province_file
from vcc_domain.schedule import (
    DAY,
    INTERVAL_MS,
    WEEK_MS,
    Schedule,
    Shift,
    build_schedule,
    compare,
    forecast_week,
    week_start,
)
from vcc_ops.report_cli import HubTarget, _call, hub_options, parse_time
from vcc_ops.schedule.model import SimStaffing, demo_calls, demo_model
from vcc_ops.schedule.publish import publish
from vcc_ops.schedule.replay import replay
from vcc_proto.v1 import hub_pb2 as h
from vcc_proto.v1 import hub_pb2_grpc as hg


def _province(path: str) -> Province:
    if path:
        return load_province_file(Path(path))
    from vcc_ops.cli import example_province_path

    return load_province_file(example_province_path())


def hub_intervals(target: HubTarget, site: str, from_ms: int, to_ms: int) -> list[dict[str, Any]]:
    """The hub's interval report rows of ``site`` (JSON view)."""
    request = h.GetReportRequest(
        view=h.REPORT_VIEW_INTERVAL,
        from_at_ms=from_ms,
        to_at_ms=to_ms,
        site_ids=[site],
        format=h.REPORT_FORMAT_JSON,
    )

    async def fn(stub: hg.ReportsStub) -> h.Report:
        reply: h.Report = await stub.GetReport(request, timeout=120)
        return reply

    data = json.loads(_call(target, fn).content)
    rows: list[dict[str, Any]] = data.get("rows", [])
    return [r for r in rows if r.get("site") == site and "interval_start_ms" in r]


def schedule_json(schedule: Schedule) -> dict[str, Any]:
    return {
        "site": schedule.site_id,
        "week_start_ms": schedule.week_start_ms,
        "interval_ms": INTERVAL_MS,
        "agent_hours": schedule.agent_hours,
        "unassigned_shifts": schedule.unassigned,
        "shifts": [
            {
                "agent_id": s.agent_id,
                "start_ms": schedule.week_start_ms + s.start * INTERVAL_MS,
                "end_ms": schedule.week_start_ms
                + (s.start + s.rules.shift_intervals) * INTERVAL_MS,
                "break_start_ms": schedule.week_start_ms + s.break_start * INTERVAL_MS,
                "break_end_ms": schedule.week_start_ms
                + (s.break_start + s.rules.break_intervals) * INTERVAL_MS,
            }
            for s in schedule.shifts
        ],
        "intervals": [
            {
                "start_ms": schedule.week_start_ms + i * INTERVAL_MS,
                "calls": round(schedule.calls[i], 2),
                "required": schedule.required[i],
                "on_phone": schedule.on_phone[i],
                "predicted_sl": round(schedule.predicted_sl[i], 4),
            }
            for i in range(len(schedule.calls))
        ],
    }


@click.group("schedule")
def schedule() -> None:
    """Weekly shifts and breaks per site from the hub's history (排班)."""


schedule.add_command(publish)


@schedule.command("plan")
@hub_options
@click.option("--site", required=True, help="site to schedule")
@click.option("--week", required=True, help="any day of the week to schedule (Beijing)")
@click.option("--from", "from_", default="", help="history start (inclusive)")
@click.option("--to", default="", help="history end (exclusive)")
@click.option("--demo-load", is_flag=True, help="the demo's load instead of the history")
@click.option("--province", "province_file", default="", help="province file (the example)")
@click.option("--out", default="", help="write the schedule here (JSON)")
@click.option(
    "--calls-simulated",
    default=20_000,
    show_default=True,
    help="callers per steady-state simulation (more: slower, steadier predictions)",
)
def plan(
    target: HubTarget,
    site: str,
    week: str,
    from_: str,
    to: str,
    demo_load: bool,
    province_file: str,
    out: str,
    calls_simulated: int,
) -> None:
    """Forecast, staff with the simulator, lay out shifts and breaks, publish."""
    province = _province(province_file)
    province.site(site)
    start = week_start(parse_time(week))
    if demo_load:
        calls = demo_calls(province, site)
    else:
        lo, hi = parse_time(from_), parse_time(to)
        if not lo or not hi:
            raise click.BadParameter("give --from and --to (or --demo-load)")
        rows = hub_intervals(target, site, lo, hi)
        calls = forecast_week(((r["interval_start_ms"], r["offered"]) for r in rows), lo, hi)
    staffing = SimStaffing(demo_model(), calls_simulated=calls_simulated)
    agents = [a.id for a in province.agents_at(site) if a.takes_calls]
    result = build_schedule(site, start, calls, staffing.required, staffing.predict, agents)
    for day in range(7):
        part = slice(day * DAY, (day + 1) * DAY)
        shifts = [s for s in result.shifts if s.start // DAY == day]
        click.echo(
            f"day {day + 1}: {len(shifts)} shifts, peak {max(result.required[part])} agents on "
            f"the phone, lowest predicted service level {min(result.predicted_sl[part]):.1%}"
        )
    click.echo(
        f"{len(result.shifts)} shifts, {result.agent_hours:g} agent hours, "
        f"{result.unassigned} shifts without an agent (the site has {len(agents)})"
    )
    if out:
        Path(out).write_text(json.dumps(schedule_json(result), indent=1))
        click.echo(f"wrote {out}")


@schedule.command("check")
@hub_options
@click.argument("path")
def check(target: HubTarget, path: str) -> None:
    """The schedule's predicted service level against the hub's, per interval."""
    data = json.loads(Path(path).read_text())
    start = int(data["week_start_ms"])
    predicted = [float(i["predicted_sl"]) for i in data["intervals"]]
    rows = hub_intervals(target, data["site"], start, start + WEEK_MS)
    actual = {
        (int(r["interval_start_ms"]) - start) // INTERVAL_MS: (
            int(r["offered"]),
            float(r["service_level"] or 0.0),
        )
        for r in rows
    }
    checks = compare(predicted, actual)
    for c in checks:
        click.echo(
            f"interval {c.interval:3d}: predicted {c.predicted:.1%} actual {c.actual:.1%} "
            f"({c.points:+.1f} points, {c.offered} calls)"
        )
    worst = max((abs(c.points) for c in checks), default=0.0)
    click.echo(f"{len(checks)} intervals with calls; largest difference {worst:.1f} points")


def schedule_from_json(data: dict[str, Any]) -> Schedule:
    """A schedule written by ``plan`` (its own shift rules: 8 h, 30-minute break)."""
    start = int(data["week_start_ms"])
    intervals = data["intervals"]
    shifts = tuple(
        Shift(
            (int(s["start_ms"]) - start) // INTERVAL_MS,
            (int(s["break_start_ms"]) - start) // INTERVAL_MS,
            agent_id=str(s["agent_id"]),
        )
        for s in data["shifts"]
    )
    return Schedule(
        str(data["site"]),
        start,
        tuple(float(i["calls"]) for i in intervals),
        tuple(int(i["required"]) for i in intervals),
        shifts,
        tuple(int(i["on_phone"]) for i in intervals),
        tuple(float(i["predicted_sl"]) for i in intervals),
    )


@schedule.command("replay")
@click.argument("path")
@click.option("--first", default=28, show_default=True, help="first interval of the week")
@click.option("--last", default=36, show_default=True, help="interval after the last")
@click.option("--runs", default=8, show_default=True, help="seeded runs, averaged")
def replay_command(path: str, first: int, last: int, runs: int) -> None:
    """Simulate the schedule (demo call model) and print predicted against simulated."""
    built = schedule_from_json(json.loads(Path(path).read_text()))
    measured = replay(built, demo_model(), first, last, seeds=range(1, runs + 1))
    worst = 0.0
    for i, m in sorted(measured.items()):
        points = (m.service_level - built.predicted_sl[i]) * 100
        worst = max(worst, abs(points))
        click.echo(
            f"interval {i:3d}: {built.on_phone[i]} on the phone, predicted "
            f"{built.predicted_sl[i]:.1%}, simulated {m.service_level:.1%} ({points:+.1f} "
            f"points, {m.offered} calls in {runs} runs)"
        )
    click.echo(f"largest difference {worst:.1f} points")
