"""``vcc simulate`` and ``vcc simulate staff``: the real ACD on a virtual clock."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from vcc_ops.progress import working
from vcc_ops.simulate.engine import SimConfig, SimResult, hours_for
from vcc_ops.simulate.engine import simulate as run_simulation
from vcc_ops.simulate.staffing import StaffResult, staff


def _traffic_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Options shared by ``simulate`` and ``simulate staff``."""
    opts = [
        click.option(
            "--calls-per-hour",
            type=float,
            default=200.0,
            show_default=True,
            help="Poisson arrival rate.",
        ),
        click.option(
            "--aht",
            "aht_s",
            type=float,
            default=180.0,
            show_default=True,
            help="Mean talk time in seconds (exponential).",
        ),
        click.option(
            "--duration-h",
            type=float,
            default=None,
            help="Measured hours of virtual time. Default: enough for ~100,000 calls.",
        ),
        click.option(
            "--warmup-h",
            type=float,
            default=1.0,
            show_default=True,
            help="Hours simulated before measuring.",
        ),
        click.option(
            "--patience",
            "patience_s",
            type=float,
            default=None,
            help="Mean caller patience in seconds (exponential); waiting callers "
            "abandon when it runs out. Default: callers never abandon.",
        ),
        click.option(
            "--wrapup",
            "wrapup_s",
            type=float,
            default=0.0,
            show_default=True,
            help="Fixed wrap-up seconds after each call.",
        ),
        click.option(
            "--ring-delay",
            "ring_delay_s",
            type=float,
            default=0.0,
            show_default=True,
            help="Seconds an offered call rings before the agent answers.",
        ),
        click.option("--seed", type=int, default=1, show_default=True),
        click.option(
            "--json",
            "json_file",
            type=click.Path(dir_okay=False, path_type=Path),
            default=None,
            help="Write the result as JSON to this file and print it.",
        ),
    ]
    for opt in reversed(opts):
        func = opt(func)
    return func


def _config(agents: int, target_s: float, kw: dict[str, Any]) -> SimConfig:
    duration_h = kw["duration_h"]
    return SimConfig(
        agents=agents,
        calls_per_hour=kw["calls_per_hour"],
        aht_s=kw["aht_s"],
        target_s=target_s,
        duration_h=hours_for(kw["calls_per_hour"]) if duration_h is None else duration_h,
        warmup_h=kw["warmup_h"],
        patience_s=kw["patience_s"],
        wrapup_s=kw["wrapup_s"],
        ring_delay_s=kw["ring_delay_s"],
        seed=kw["seed"],
    )


def _emit_json(payload: dict[str, Any], json_file: Path) -> None:
    text = json.dumps(payload, indent=2)
    json_file.write_text(text + "\n")
    click.echo(text)


def _settings(config: SimConfig) -> dict[str, Any]:
    return {
        "calls_per_hour": config.calls_per_hour,
        "aht_s": config.aht_s,
        "target_s": config.target_s,
        "duration_h": config.duration_h,
        "warmup_h": config.warmup_h,
        "patience_s": config.patience_s,
        "wrapup_s": config.wrapup_s,
        "ring_delay_s": config.ring_delay_s,
        "seed": config.seed,
    }


def _fmt(value: float | None, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


@click.group("simulate", invoke_without_command=True)
@click.option("--agents", type=int, default=14, show_default=True, help="Agents logged in.")
@click.option(
    "--target",
    "target_s",
    type=float,
    default=20.0,
    show_default=True,
    help="Service-level target: answered within this many seconds.",
)
@_traffic_options
@click.pass_context
def simulate(
    ctx: click.Context, /, agents: int, target_s: float, json_file: Path | None, **kw: Any
) -> None:
    """Simulate a queue with the real ACD on a virtual clock (Poisson arrivals,
    exponential talk times) and compare with Erlang C / Erlang A.

    Figures cover callers arriving after the warm-up: offered, answered, abandoned,
    service_level (answered within the target / offered, with its batch-means standard
    error), asa_s, aht_s (talk + wrap-up), occupancy, abandon_rate, and sim_calls_per_s
    (simulated calls per wall second). The defaults are the textbook case (200 calls/h,
    180 s, 14 agents, 20 s: Erlang C 88.8%, ASA 7.8 s).
    """
    if ctx.invoked_subcommand is not None:
        return
    config = _config(agents, target_s, kw)
    started = time.perf_counter()
    with working(f"simulating {config.duration_h:g} virtual hours"):
        result = run_simulation(config)
    wall_s = time.perf_counter() - started
    speed = {
        "sim_calls_per_s": round(result.simulated_calls / max(wall_s, 1e-9)),
        "sim_wall_s": round(wall_s, 3),
    }
    if json_file is not None:
        _emit_json({**result.to_dict(), **speed, "config": _settings(config)}, json_file)
        return
    _print_result(result, speed)


def _print_result(r: SimResult, speed: dict[str, Any]) -> None:
    click.echo(
        f"{r.simulated_calls} calls over {r.simulated_h} virtual hours in "
        f"{speed['sim_wall_s']} s ({speed['sim_calls_per_s']} calls/s)"
    )
    click.echo(
        f"agents {r.agents}: offered {r.offered}, answered {r.answered}, abandoned {r.abandoned}"
    )
    click.echo(f"{'figure':<16}{'simulated':>12}{'Erlang C':>12}{'Erlang A':>12}")
    rows: list[tuple[str, float | None, float | None, float | None, int]] = [
        ("service_level", r.service_level, r.erlang_c_service_level, r.erlang_a_service_level, 4),
        ("  (std error)", r.service_level_se, None, None, 4),
        ("asa_s", r.asa_s, r.erlang_c_asa_s, None, 2),
        ("abandon_rate", r.abandon_rate, None, r.erlang_a_abandon_rate, 4),
        ("aht_s", r.aht_s, None, None, 2),
        ("occupancy", r.occupancy, None, None, 4),
    ]
    for name, sim, ec, ea, digits in rows:
        click.echo(f"{name:<16}{_fmt(sim, digits):>12}{_fmt(ec, digits):>12}{_fmt(ea, digits):>12}")


@simulate.command("staff")
@click.option(
    "--target-sl",
    type=float,
    default=0.8,
    show_default=True,
    help="Share of calls to answer within the target.",
)
@click.option(
    "--target-s",
    "--target",
    "target_s",
    type=float,
    default=20.0,
    show_default=True,
    help="Service-level target in seconds.",
)
@click.option(
    "--below",
    type=int,
    default=3,
    show_default=True,
    help="Start this many agents below the Erlang C answer.",
)
@_traffic_options
def staff_cmd(
    target_sl: float, target_s: float, below: int, json_file: Path | None, **kw: Any
) -> None:
    """The fewest agents whose simulated service level meets --target-sl within
    --target-s, starting from the Erlang C answer minus --below; prints every candidate."""
    config = _config(1, target_s, kw)
    started = time.perf_counter()
    with working("simulating candidate staffing levels"):
        result = staff(config, target_sl, below=below)
    wall_s = time.perf_counter() - started
    calls = sum(c.result.simulated_calls for c in result.candidates)
    speed = {"sim_calls_per_s": round(calls / max(wall_s, 1e-9)), "sim_wall_s": round(wall_s, 3)}
    if json_file is not None:
        _emit_json({**result.to_dict(), **speed, "config": _settings(config)}, json_file)
        return
    _print_staff(result, speed)


def _print_staff(s: StaffResult, speed: dict[str, Any]) -> None:
    click.echo(
        f"target: {s.target_sl:.0%} within {s.target_s:g} s; "
        f"Erlang C says {s.erlang_c_agents} agents"
    )
    click.echo(
        f"{'agents':>6}{'SL':>9}{'± se':>8}{'ASA s':>8}{'aband.':>8}{'occup.':>8}"
        f"{'Erlang C':>10}{'Erlang A':>10}  meets"
    )
    for c in s.candidates:
        r = c.result
        note = ("yes" if c.meets else "no") + (
            " (within 2 se: too close to call)" if c.close else ""
        )
        click.echo(
            f"{r.agents:>6}{r.service_level:>9.4f}{r.service_level_se:>8.4f}"
            f"{r.asa_s:>8.2f}{r.abandon_rate:>8.4f}{r.occupancy:>8.4f}"
            f"{r.erlang_c_service_level:>10.4f}{_fmt(r.erlang_a_service_level):>10}"
            f"  {note}"
        )
    click.echo(
        f"answer: {s.agents} agents ({speed['sim_calls_per_s']} simulated calls/s, "
        f"{speed['sim_wall_s']} s)"
    )
    if any(c.close for c in s.candidates if c.result.agents in (s.agents, s.agents - 1)):
        click.echo(
            "note: the answer is within noise of the target; a longer --duration-h settles it"
        )
