"""``vcc bench web``: agent desktops on the push channel while a site takes calls.

One real KM site process (as ``vcc bench site`` starts it, over mutual TLS by default)
serves its agent desktop pages (plain HTTP on 127.0.0.1; the pages reach the site's gRPC
port as ``ops/web-KM``), by default from its web gateway process (``web_process`` "own",
a child of the site; "site": in the site's own event loop). The bench province adds ``desktops`` call-taking KM agents
(``KM-WEB-0001`` ...) to the example's. This process plays, in one asyncio loop:

* the ``site`` bench's gRPC agent bots and open-loop callers at ``rate`` calls/s;
* ``desktops`` desktop pages over real HTTP (:mod:`.web_client`): each signs in with
  ``POST /api/login`` (and the first sign-in's password change), reads its Server-Sent
  Events on ``GET /api/events`` and goes ready; on an ``offer`` it answers, talks
  0..``talk_ms`` ms, hangs up and wraps up with the page's own POSTs.

The measured phases alternate in the same site process, ``rounds`` times (the machine
may be shared and noisy, so a figure of one phase is compared with its neighbour's):
``without_desktops`` (the bots alone, no page signed in), then ``with_desktops`` (the
pages signed in, ready and taking their share of the calls; signed out after it), each
of ``calls`` calls at the same rate. Figures:

* ``push_p50_ms`` / ``push_p99_ms`` / ``push_max_ms``: from the site event's own time
  (``at_ms`` of the desk event, the site's wall clock) to the page reading it from its
  event stream (this process's wall clock, the same machine), over every event the pages
  received during the ``with_desktops`` phases; ``pushes``: how many;
* ``without_desktops`` / ``with_desktops``: each phase figure's median over the rounds
  (``calls_per_s`` and ``offer_to_agent_p99_ms``, see ``vcc bench site``; with
  desktops, a call offered to a page counts when the page reads the offer);
  ``calls_per_s`` and ``offer_to_agent_p99_ms`` at the top are the ``with`` medians;
* ``calls_per_s_ratio`` / ``p99_ratio`` / ``site_cpu_per_call_ratio``: the median over
  the rounds of each round's with / without; ``bot_p99_ratio`` the same of the p99 over
  the calls the gRPC bots took (``bot_offer_to_agent_p99_ms``): the site's own latency
  for the same traffic, which a page's offer (read a push hop later) does not show (``per_round`` lists every round's figures,
  the site's CPU ms per call and the load average); the site's CPU leaves out its
  gateway process's;
* ``site_cpu_ms_per_call`` (``without`` / ``with``) and ``gateway_cpu_ms_per_call`` (the
  gateway process's CPU per call that reached an agent in the ``with`` phases; None when
  the pages run in the site): medians over the rounds;
* ``desktop_calls``: calls the pages served; ``desktop_login_s``: signing the pages in
  (the median over the rounds; the first also changes every initial password).
"""

from __future__ import annotations

import asyncio
import os
import random
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import psutil
from argon2 import PasswordHasher, Type

from vcc_domain.province import Agent, Province, load_province_file
from vcc_ops.bench import site as sb
from vcc_ops.bench.web_desktop import Desktop, close_desktops, open_desktops
from vcc_ops.infra import free_port
from vcc_ops.traffic.seat import open_seat
from vcc_proto.channels import open_channel
from vcc_proto.v1 import people_pb2_grpc as pg
from vcc_proto.v1 import site_pb2_grpc as sg

WEB_PREFIX = "KM-WEB"
WEB_SKILLS = ["billing", "fault", "complaint", "business_acceptance", "directory"]


def desktop_group(count: int) -> str:
    """The bench province's desktop agents (an agent group appended to the example). Their
    initial password's hash is a cheap argon2id one: each page's first sign-in checks it
    twice (``People.SignIn``, ``People.ChangePassword``) before the new, full-cost hash
    is made and checked (``AgentDesk.Login``), and hundreds of pages sign in at once."""
    skills = ", ".join(f'"{k}"' for k in WEB_SKILLS)
    cheap = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1, type=Type.ID)
    return (
        f'\n[[agent_groups]]\nsite = "KM"\nid_prefix = "{WEB_PREFIX}"\ncount = {count}\n'
        f'role = "specialist"\nskills = [{skills}]\nlevels = [3]\n'
        f'password_hash = "{cheap.hash(sb.PASSWORD)}"\n'
    )


def _percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "push_p50_ms": round(sb._percentile(ordered, 0.50), 1),
        "push_p99_ms": round(sb._percentile(ordered, 0.99), 1),
        "push_max_ms": round(ordered[-1], 1) if ordered else 0.0,
    }


async def _bot(
    stub: sg.AgentDeskStub, people: pg.PeopleStub, agent: Agent, p: dict[str, Any]
) -> sb._Bot:
    async with p["gate"]:  # a checked site asks for the initial password's change first
        reply, _used = await open_seat(
            stub, people, agent.id, sb.PASSWORD, f"bench-{agent.id}", sb.SEAT_TIMEOUT_S
        )
    return sb._Bot(
        stub, agent.id, reply.session_token, sb._Tally(), random.Random(agent.id), p["talk_ms"]
    )


def _phase_figures(figures: dict[str, Any]) -> dict[str, Any]:
    keep = (
        "calls_per_s",
        "offered_calls_per_s",
        "offer_to_agent_p50_ms",
        "offer_to_agent_p99_ms",
        "bot_offer_to_agent_p99_ms",
        "reached_agent",
        "answered",
        "errors",
        "error_samples",
        "site_cpu_s",
        "gateway_cpu_s",
        "bench_cpu_s",
        "wall_s",
    )
    return {k: figures[k] for k in keep}


Phase = Callable[[list[Agent], list[sb.Server], int], Awaitable[dict[str, Any]]]


async def _round(
    phase: Phase, bots: list[sb._Bot], pages: list[Desktop], who: list[Agent], tag: int
) -> dict[str, Any]:
    """One ``without_desktops`` phase, then the pages sign in, one ``with_desktops``
    phase, and the pages sign out."""
    web_agents = [page.agent for page in pages]
    load = os.getloadavg()[0]
    without = await phase(who, list(bots), tag)
    t0 = time.perf_counter()
    await open_desktops(pages)
    login_s = time.perf_counter() - t0
    push = pages[0].push
    push.clear()  # the sign-ins' own events are not the load's
    with_ = await phase([*who, *web_agents], [*bots, *pages], tag + 1)
    pushes = list(push)
    await close_desktops(pages)
    return {"without": without, "with": with_, "push": pushes, "login_s": login_s, "load": load}


async def _drive(
    target: str, url: str, province: Province, site_pid: int, p: dict[str, Any]
) -> dict[str, Any]:
    rng = random.Random(p["seed"])
    p = {**p, "gate": asyncio.Semaphore(16)}
    chans = [open_channel(target) for _ in range(2)]
    desks = [sg.AgentDeskStub(ch) for ch in chans]
    people = [pg.PeopleStub(ch) for ch in chans]
    access = [sg.AccessStub(ch) for ch in chans]
    pool = [a for a in province.agents_at(sb.SITE) if not a.id.startswith(WEB_PREFIX)]
    eligible = [a for a in pool if a.takes_calls and any(k in sb.ROUTES for k in a.skills)]
    chosen = rng.sample(eligible, min(p["agents"], len(eligible)))
    push: list[float] = []
    pages = [
        Desktop(url, a, push, p["talk_ms"], sb.PASSWORD)
        for a in province.agents_at(sb.SITE)
        if a.id.startswith(WEB_PREFIX)
    ]
    bots: list[sb._Bot] = []
    site = psutil.Process(site_pid)
    timeout_s = 60.0 + p["calls"] / p["rate"]

    async def phase(who: list[Agent], servers: list[sb.Server], tag: int) -> dict[str, Any]:
        plan = sb._plan(p["calls"], who, rng, p["customers"], tag)
        gateway = _gateway(site)  # found again each phase: the site restarts a crashed one
        cpu0 = _cpu_s(gateway)
        _, figures = await sb._phase(access, plan, p["rate"], 32, servers, site, timeout_s)
        cpu1 = _cpu_s(gateway)
        spent = cpu1 - cpu0 if cpu0 is not None and cpu1 is not None else None
        figures["gateway_cpu_s"] = round(spent, 3) if spent is not None else None
        return figures

    rounds: list[dict[str, Any]] = []
    try:
        logins = (_bot(desks[i % 2], people[i % 2], a, p) for i, a in enumerate(chosen))
        bots = list(await asyncio.gather(*logins))
        for bot in bots:
            bot.start()
        await asyncio.gather(*(b.ready() for b in bots))
        if p["warmup"]:
            plan = sb._plan(p["warmup"], chosen, rng, p["customers"], 0)
            await sb._phase(access, plan, p["rate"], 32, bots, site, timeout_s)
        for r in range(p["rounds"]):
            rounds.append(await _round(phase, bots, pages, chosen, 1 + 2 * r))
    finally:
        await close_desktops(pages)
        for bot in bots:
            await bot.close()
        for ch in chans:
            await ch.close()
    return _summary(rounds, pages)


def _gateway(site: psutil.Process) -> psutil.Process | None:
    """The site's web gateway process (None: the pages run in the site)."""
    for child in site.children():
        try:
            if "vcc_site.web.gateway" in child.cmdline():
                return child
        except psutil.Error:
            continue
    return None


def _cpu_s(proc: psutil.Process | None) -> float | None:
    """User + system CPU seconds of ``proc`` (None: no such process, or it ended)."""
    if proc is None:
        return None
    try:
        cpu = proc.cpu_times()
    except psutil.Error:
        return None
    return float(cpu.user + cpu.system)


def _summary(rounds: list[dict[str, Any]], pages: list[Desktop]) -> dict[str, Any]:
    """Medians over the rounds; the pushes of every round together."""
    push = [ms for r in rounds for ms in r["push"]]
    without = _phase_medians([r["without"] for r in rounds])
    with_ = _phase_medians([r["with"] for r in rounds])
    per_round = [_round_figures(r) for r in rounds]
    return {
        **_percentiles(push),
        "pushes": len(push),
        "desktops": len(pages),
        "desktop_calls": sum(page.served for page in pages),
        "desktop_login_s": round(statistics.median(r["login_s"] for r in rounds), 3),
        "rounds": len(rounds),
        "calls_per_s": with_["calls_per_s"],
        "offer_to_agent_p99_ms": with_["offer_to_agent_p99_ms"],
        "calls_per_s_ratio": _median([r["calls_per_s_ratio"] for r in per_round]),
        "p99_ratio": _median([r["p99_ratio"] for r in per_round]),
        "bot_p99_ratio": _median([r["bot_p99_ratio"] for r in per_round]),
        "site_cpu_per_call_ratio": _median(
            [
                _ratio(r["with_site_cpu_ms_per_call"] or 0, r["without_site_cpu_ms_per_call"] or 0)
                for r in per_round
            ]
        ),
        "site_cpu_ms_per_call": {
            phase: _median([r[f"{phase}_site_cpu_ms_per_call"] for r in per_round])
            for phase in ("without", "with")
        },
        "gateway_cpu_ms_per_call": _median([r["with_gateway_cpu_ms_per_call"] for r in per_round]),
        "without_desktops": without,
        "with_desktops": with_,
        "per_round": per_round,
        "errors": without["errors"] + with_["errors"],
    }


def _round_figures(r: dict[str, Any]) -> dict[str, Any]:
    without, with_ = r["without"], r["with"]
    return {
        "load_avg_1m": round(r["load"], 2),
        "without_calls_per_s": without["calls_per_s"],
        "with_calls_per_s": with_["calls_per_s"],
        "without_offer_to_agent_p99_ms": without["offer_to_agent_p99_ms"],
        "with_offer_to_agent_p99_ms": with_["offer_to_agent_p99_ms"],
        "calls_per_s_ratio": _ratio(with_["calls_per_s"], without["calls_per_s"]),
        "p99_ratio": _ratio(with_["offer_to_agent_p99_ms"], without["offer_to_agent_p99_ms"]),
        "bot_p99_ratio": _ratio(
            with_["bot_offer_to_agent_p99_ms"], without["bot_offer_to_agent_p99_ms"]
        ),
        "without_site_cpu_ms_per_call": _per_call(without),
        "with_site_cpu_ms_per_call": _per_call(with_),
        "without_gateway_cpu_ms_per_call": _per_call(without, "gateway_cpu_s"),
        "with_gateway_cpu_ms_per_call": _per_call(with_, "gateway_cpu_s"),
        **_percentiles(r["push"]),
        "pushes": len(r["push"]),
        "desktop_login_s": round(r["login_s"], 3),
        "errors": without["errors"] + with_["errors"],
    }


def _per_call(figures: dict[str, Any], key: str = "site_cpu_s") -> float | None:
    """A process's CPU time per call that reached an agent (ms; the site's, or with
    ``key`` "gateway_cpu_s" its gateway's): less swayed by a shared machine than the rates
    and waits."""
    calls, cpu_s = figures["reached_agent"], figures[key]
    return round(1000 * cpu_s / calls, 3) if calls and cpu_s is not None else None


def _phase_medians(phases: list[dict[str, Any]]) -> dict[str, Any]:
    """Each figure's median over the rounds' phases; errors summed, their samples kept."""
    out: dict[str, Any] = {}
    for key in _phase_figures(phases[0]):
        if key == "errors":
            out[key] = sum(f[key] for f in phases)
        elif key == "error_samples":
            out[key] = [e for f in phases for e in f[key]][:5]
        else:
            out[key] = _median([f[key] for f in phases])
    return out


def _median(values: list[float | None]) -> float | None:
    kept = [v for v in values if v is not None]
    return round(statistics.median(kept), 3) if kept else None


def _ratio(a: float, b: float) -> float | None:
    return round(a / b, 3) if b else None


def run_web_bench(
    calls: int = 3000,
    rate: float = 300.0,
    agents: int = 150,
    desktops: int = 200,
    talk_ms: float = 20.0,
    seed: int = 1,
    *,
    rounds: int = 3,
    warmup: int = 200,
    customers: int = sb.SEED_CUSTOMERS,
    tls: bool = True,
    web_process: str = "own",
) -> dict[str, Any]:
    """Start a KM site with its pages (in their own process, or with ``web_process``
    "site" in the site's), run ``rounds`` pairs of phases; the figures."""
    if min(calls, agents, desktops, rounds) < 1 or rate <= 0:
        raise ValueError("calls, agents, desktops, rounds and rate must be positive")
    params = {
        "calls": calls,
        "rate": rate,
        "agents": agents,
        "talk_ms": talk_ms,
        "seed": seed,
        "rounds": rounds,
        "warmup": warmup,
        "customers": customers,
    }
    with tempfile.TemporaryDirectory(prefix="vcc-bench-web-") as tmp:
        workdir = Path(tmp)
        port = free_port()
        more = desktop_group(desktops)
        with sb.site_process(
            workdir,
            "sqlite",
            customers,
            tls=tls,
            web_port=port,
            web_process=web_process,
            more_province=more,
        ) as (proc, target, province_file):
            assert proc.pid is not None
            province = load_province_file(province_file)
            url = f"http://127.0.0.1:{port}/"
            figures = asyncio.run(_drive(target, url, province, proc.pid, params))
            if not proc.alive:
                raise RuntimeError(f"the site died during the run:\n{proc.log_tail()}")
    figures.update(
        {
            "rate_target_per_s": rate,
            "agents": agents,
            "calls": calls,
            "talk_ms_max": talk_ms,
            "warmup_calls": warmup,
            "seed": seed,
            "grpc_security": sb.SECURITY[tls],
            "web_process": web_process,
            "push_target_p99_ms": 250,
        }
    )
    return figures


MEDIAN_KEYS = (
    "push_p50_ms",
    "push_p99_ms",
    "push_max_ms",
    "calls_per_s",
    "offer_to_agent_p99_ms",
    "calls_per_s_ratio",
    "p99_ratio",
    "bot_p99_ratio",
    "site_cpu_per_call_ratio",
    "gateway_cpu_ms_per_call",
    "desktop_login_s",
)


def median_of_runs(runs: int = 1, **kwargs: Any) -> dict[str, Any]:
    """Run the bench ``runs`` times (seeds seed, seed+1, ...); the median of each figure,
    counts summed."""
    seed = int(kwargs.pop("seed", 1))
    results = [run_web_bench(seed=seed + i, **kwargs) for i in range(runs)]
    out = dict(results[0])
    for key in MEDIAN_KEYS:
        values = [r[key] for r in results if r[key] is not None]
        out[key] = statistics.median(values) if values else None
    for key in ("pushes", "desktop_calls", "errors"):
        out[key] = sum(r[key] for r in results)
    out.update({"seed": seed, "runs": runs, "per_run": results})
    return out
