"""``vcc bench web``: agent desktops on the push channel while a site takes calls.

One real KM site process (as ``vcc bench site`` starts it, over mutual TLS by default)
serves its agent desktop pages (plain HTTP on 127.0.0.1; the pages reach the site's gRPC
port as ``ops/web-KM``). The bench province adds ``desktops`` call-taking KM agents
(``KM-WEB-0001`` ...) to the example's. This process plays, in one asyncio loop:

* the ``site`` bench's gRPC agent bots and open-loop callers at ``rate`` calls/s;
* ``desktops`` desktop pages over real HTTP (:mod:`.web_client`): each signs in with
  ``POST /api/login`` (and the first sign-in's password change), reads its Server-Sent
  Events on ``GET /api/events`` and goes ready; on an ``offer`` it answers, talks
  0..``talk_ms`` ms, hangs up and wraps up with the page's own POSTs.

Two measured phases of ``calls`` calls each at the same rate, in the same site process:
``without_desktops`` (the bots alone, no page signed in) and then ``with_desktops`` (the
pages signed in, ready and taking their share of the calls). Figures:

* ``push_p50_ms`` / ``push_p99_ms`` / ``push_max_ms``: from the site event's own time
  (``at_ms`` of the desk event, the site's wall clock) to the page reading it from its
  event stream (this process's wall clock, the same machine), over every event the pages
  received during the ``with_desktops`` phase; ``pushes``: how many;
* ``calls_per_s`` and ``offer_to_agent_p99_ms`` of both phases (see ``vcc bench site``;
  with desktops, a call offered to a page counts when the page reads the offer) and
  ``calls_per_s_ratio`` / ``p99_ratio`` (with / without);
* ``desktop_calls``: calls the pages served; ``desktop_login_s``: signing the pages in.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import tempfile
import time
from contextlib import suppress
from pathlib import Path
from typing import Any

import psutil
from argon2 import PasswordHasher, Type

from vcc_domain.province import Agent, Province, load_province_file
from vcc_ops.bench import site as sb
from vcc_ops.bench.web_client import HttpError, Page
from vcc_ops.infra import free_port
from vcc_ops.traffic.seat import open_seat
from vcc_proto.channels import open_channel
from vcc_proto.v1 import people_pb2_grpc as pg
from vcc_proto.v1 import site_pb2_grpc as sg

WEB_PREFIX = "KM-WEB"
NEW_PASSWORD = "vcc-web-bench-2026!"
WEB_SKILLS = ["billing", "fault", "complaint", "business_acceptance", "directory"]
SIGN_IN_GATE = 4  # pages signing in at once (each costs the site argon2 hashes)
SIGN_IN_TRIES = 4  # a sign-in the loaded site answered "unavailable" (deadline) is retried


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


class _Desktop:
    """One agent desktop page: signs in, listens, serves the calls offered to it."""

    def __init__(self, url: str, agent: Agent, push: list[float], talk_ms: float) -> None:
        self.page, self.agent = Page(url), agent
        self.push, self.talk_ms = push, talk_ms
        self.rng = random.Random(agent.id)
        self.tally = sb._Tally()
        self.tasks: set[asyncio.Task[None]] = set()
        self.reader: asyncio.Task[None] | None = None
        self.served = 0
        self.changed = False  # the first sign-in's new password is set
        self.listening = asyncio.Event()

    async def sign_in(self) -> None:
        for attempt in range(SIGN_IN_TRIES):
            try:
                await self._sign_in(NEW_PASSWORD if attempt and self.changed else sb.PASSWORD)
                return
            except HttpError as err:
                if err.status != 503 or attempt == SIGN_IN_TRIES - 1:
                    raise
                await asyncio.sleep(0.5 * (attempt + 1))

    async def _sign_in(self, password: str) -> None:
        reply = await self.page.post(
            "/api/login", {"agent_id": self.agent.id, "password": password}
        )
        if reply.get("must_change"):
            await self.page.post(
                "/api/change-password",
                {"old_password": sb.PASSWORD, "new_password": NEW_PASSWORD},
            )
            self.changed = True

    def start(self) -> None:
        self.reader = asyncio.create_task(self._read(), name=f"page-{self.agent.id}")

    async def _read(self) -> None:
        try:
            async for event in self.page.events():
                self.listening.set()
                if "at_ms" in event:
                    self.push.append(time.time() * 1000 - event["at_ms"])
                if event["type"] == "offer":
                    call_id = event["call_id"]
                    if call_id in self.tally.offered:
                        self.tally.duplicate_offers += 1
                    self.tally.offered[call_id] = time.perf_counter()
                    self.tally.offered_to[call_id] = self.agent.id
                    task = asyncio.create_task(self._serve(call_id))
                    self.tasks.add(task)
                    task.add_done_callback(self.tasks.discard)
        except (OSError, asyncio.IncompleteReadError, HttpError) as exc:
            self.tally.error(exc)
        finally:
            self.listening.set()

    async def _serve(self, call_id: str) -> None:
        try:
            await self.page.post("/api/call/answer", {"call_id": call_id})
            self.tally.answered.add(call_id)
            self.tally.check_done()
            self.served += 1
            talk = self.rng.uniform(0, self.talk_ms) / 1000
            if talk > 0:
                await asyncio.sleep(talk)
            await self.page.post("/api/call/hangup", {"call_id": call_id})
            await self.page.post("/api/wrap-up", {"call_id": call_id, "disposition": "resolved"})
        except (OSError, asyncio.IncompleteReadError, HttpError) as exc:
            self.tally.error(exc)

    async def ready(self) -> None:
        await self.page.post("/api/ready")

    async def close(self) -> None:
        if self.tasks:
            await asyncio.gather(*list(self.tasks), return_exceptions=True)
        with suppress(OSError, asyncio.IncompleteReadError, HttpError):
            await self.page.post("/api/logout")
        if self.reader is not None:
            self.reader.cancel()
            with suppress(asyncio.CancelledError):
                await self.reader
        await self.page.close()


def _percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "push_p50_ms": round(sb._percentile(ordered, 0.50), 1),
        "push_p99_ms": round(sb._percentile(ordered, 0.99), 1),
        "push_max_ms": round(ordered[-1], 1) if ordered else 0.0,
    }


async def _open_desktops(url: str, agents: list[Agent], talk_ms: float) -> list[_Desktop]:
    push: list[float] = []
    gate = asyncio.Semaphore(SIGN_IN_GATE)
    pages = [_Desktop(url, a, push, talk_ms) for a in agents]

    async def one(page: _Desktop) -> None:
        async with gate:
            await page.sign_in()
        page.start()
        await asyncio.wait_for(page.listening.wait(), 30)
        await page.ready()

    await asyncio.gather(*(one(p) for p in pages))
    return pages


async def _bot(
    stub: sg.AgentDeskStub, people: pg.PeopleStub, agent: Agent, p: dict[str, Any]
) -> sb._Bot:
    async with p["gate"]:  # a checked site asks for the initial password's change first
        reply, _used = await open_seat(stub, people, agent.id, sb.PASSWORD, f"bench-{agent.id}")
    return sb._Bot(
        stub, agent.id, reply.session_token, sb._Tally(), random.Random(agent.id), p["talk_ms"]
    )


def _phase_figures(figures: dict[str, Any]) -> dict[str, Any]:
    keep = (
        "calls_per_s",
        "offered_calls_per_s",
        "offer_to_agent_p50_ms",
        "offer_to_agent_p99_ms",
        "reached_agent",
        "answered",
        "errors",
        "error_samples",
        "site_cpu_s",
        "bench_cpu_s",
        "wall_s",
    )
    return {k: figures[k] for k in keep}


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
    web_agents = [a for a in province.agents_at(sb.SITE) if a.id.startswith(WEB_PREFIX)]
    bots: list[sb._Bot] = []
    pages: list[_Desktop] = []
    site = psutil.Process(site_pid)
    timeout_s = 60.0 + p["calls"] / p["rate"]
    rate, calls = p["rate"], p["calls"]
    try:
        logins = (_bot(desks[i % 2], people[i % 2], a, p) for i, a in enumerate(chosen))
        bots = list(await asyncio.gather(*logins))
        for bot in bots:
            bot.start()
        await asyncio.gather(*(b.ready() for b in bots))

        def plan(n: int, who: list[Agent], tag: int) -> list[tuple[str, str, str]]:
            return sb._plan(n, who, rng, p["customers"], tag)

        if p["warmup"]:
            await sb._phase(access, plan(p["warmup"], chosen, 5), rate, 32, bots, site, timeout_s)
        _, without = await sb._phase(
            access, plan(calls, chosen, 1), rate, 32, bots, site, timeout_s
        )
        t0 = time.perf_counter()
        pages = await _open_desktops(url, web_agents, p["talk_ms"])
        login_s = time.perf_counter() - t0
        pages[0].push.clear()  # the sign-ins' own events are not the load's
        servers: list[sb.Server] = [*bots, *pages]
        _, with_ = await sb._phase(
            access, plan(calls, [*chosen, *web_agents], 2), rate, 32, servers, site, timeout_s
        )
        push = list(pages[0].push)
    finally:
        for page in pages:
            await page.close()
        for bot in bots:
            await bot.close()
        for ch in chans:
            await ch.close()
    out: dict[str, Any] = {
        **_percentiles(push),
        "pushes": len(push),
        "desktops": len(pages),
        "desktop_calls": sum(pg.served for pg in pages),
        "desktop_login_s": round(login_s, 3),
        "calls_per_s": with_["calls_per_s"],
        "offer_to_agent_p99_ms": with_["offer_to_agent_p99_ms"],
        "calls_per_s_ratio": _ratio(with_["calls_per_s"], without["calls_per_s"]),
        "p99_ratio": _ratio(with_["offer_to_agent_p99_ms"], without["offer_to_agent_p99_ms"]),
        "without_desktops": _phase_figures(without),
        "with_desktops": _phase_figures(with_),
        "errors": without["errors"] + with_["errors"],
    }
    return out


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
    warmup: int = 200,
    customers: int = sb.SEED_CUSTOMERS,
    tls: bool = True,
) -> dict[str, Any]:
    """Start a KM site with its pages, run both phases; return the figures."""
    if calls < 1 or agents < 1 or desktops < 1 or rate <= 0:
        raise ValueError("calls, agents, desktops and rate must be positive")
    params = {
        "calls": calls,
        "rate": rate,
        "agents": agents,
        "talk_ms": talk_ms,
        "seed": seed,
        "warmup": warmup,
        "customers": customers,
    }
    with tempfile.TemporaryDirectory(prefix="vcc-bench-web-") as tmp:
        workdir = Path(tmp)
        port = free_port()
        more = desktop_group(desktops)
        with sb.site_process(
            workdir, "sqlite", customers, tls=tls, web_port=port, more_province=more
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
