"""``vcc bench site``: calls through a real site process, answered by simulated agents.

One real ``vcc site`` process for Kunming (KM) runs on its own database, with a copy of
the example province whose wrap-up limit is 1 s (agents come back quickly even if a bot
forgets to wrap up). This process, in ONE asyncio loop, plays both sides over gRPC:

* ``agents`` agent bots log in (concurrently, not timed: argon2 costs ~20 ms each), open
  their ``AgentDesk.Events`` stream and go ready. On each ``offer`` event a bot answers at
  once, talks for a random 0..``talk_ms`` ms, hangs up and wraps up (``WrapUp`` makes it
  ready again at once, so it may be offered the next waiting call in the same step).
* callers: every call is ``Access.OfferCall`` with the one-number code "1000" (the IVR
  answers with its main menu, a ``collect``), then ``SendDigits`` with the menu key of a
  business (0 = general, 1 = bills, 2 = faults, 3 = new services, 4 = complaints; 114 +
  0 for directory enquiries). No dialed code queues directly in the example province, so
  the ``SendDigits`` request is the one that puts the call in the queue. The business of
  each call is that of a randomly drawn logged-in bot, so load follows capacity. At
  ``rate`` calls/s the callers are an open loop (call *i* starts at ``i / rate`` s,
  whatever happened to earlier calls); with ``rate=None`` ``concurrency`` callers offer
  calls back to back, as fast as the site takes them.

Figures (``time.perf_counter`` in this one process; the site is another process):

* ``offer_to_agent_p50_ms`` / ``_p99_ms``: from just before ``SendDigits`` is sent to the
  moment the bot reads the ``offer`` event for that call from its stream. It includes
  the gRPC hops both ways and this process's own scheduling delay;
* ``call_setup_p50_ms`` / ``_p99_ms``: the ``OfferCall`` RPC (arrival, customer lookup,
  IVR start, commit); ``queue_entry_p50_ms`` / ``_p99_ms``: the ``SendDigits`` RPC;
* ``calls_per_s``: calls that reached an agent per second, from the first ``OfferCall``
  of the measured phase to the last offer event; ``offered_calls_per_s``: calls offered
  per second by the callers over their sending window;
* ``answered``, ``errors`` (failed RPCs), ``site_cpu_s`` (user + system CPU seconds of
  the site process during the measured phase, from psutil) and ``bench_cpu_s`` (the same
  for this process, which is the other half of a 2-core machine).

A first ``warmup`` calls (not measured) open the connections and warm the caches.

Security: by default (``tls=True``, as ``vcc up`` runs) the bench makes a province PKI in
its temporary workdir (:class:`~vcc_ops.launch_tls.LaunchTls`), the site serves gRPC over
mutual TLS with its own certificate and checks every RPC, and this process's channels
present the operator tool's certificate; ``tls=False`` runs the site ``--insecure`` and
talks plaintext, for the cost of security. ``grpc_security`` records which.
"""

from __future__ import annotations

import asyncio
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import grpc
import psutil

from vcc_domain.province import Agent, Province, load_province_file
from vcc_ops.infra import ManagedProcess, PostgresServer, free_port
from vcc_ops.launch_tls import CHILD_VARIABLES, LaunchTls
from vcc_ops.traffic.seat import open_seat
from vcc_proto import pki
from vcc_proto.channels import open_channel, use_client_tls
from vcc_proto.server import check_health
from vcc_proto.tls import ClientTls
from vcc_proto.v1 import people_pb2_grpc as pg
from vcc_proto.v1 import site_pb2 as s
from vcc_proto.v1 import site_pb2_grpc as sg

SITE = "KM"
AREA_CODE = "0871"
PASSWORD = "vcc-demo-2026"
START_TIMEOUT_S = 120.0
RING_TIMEOUT_S = 12
WRAPUP_S = 1
SEED_CUSTOMERS = 500
# a bot's first sign-in costs the site four full argon2 hashes (sign-in, the change's check
# and new hash, the seat's); a hundred bots at once on a loaded machine wait their turn
SEAT_TIMEOUT_S = 120.0
# (dialed code, menu key) that queues a call for a skill's business in the example
# province; skills reached no other way (outbound) are not benchmarked.
ROUTES: dict[str, tuple[str, str]] = {
    "general": ("1000", "0"),
    "billing": ("1000", "1"),
    "fault": ("1000", "2"),
    "business_acceptance": ("1000", "3"),
    "complaint": ("1000", "4"),
    "directory": ("114", "0"),
}
SECURITY = {True: "mutual TLS", False: "plaintext"}


def _percentile(ordered: list[float], q: float) -> float:
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 3)


# -- the site process ----------------------------------------------------------------------


BENCH_CAPACITY = 1_000_000  # trunks and IVR ports of the bench's site


def bench_province(workdir: Path, more: str = "") -> Path:
    """The example province with short ring and wrap-up limits, written to ``workdir``.
    Kunming's trunk and IVR-port capacity is lifted: the bench measures how many calls
    the site handles, not how many lines the example gives it. Every agent's initial
    password is :data:`PASSWORD` (the example ships none). ``more``: TOML appended after
    (more agent groups with their own ``password_hash``, say)."""
    from vcc_ops.cli import example_province_path
    from vcc_ops.people_secrets import with_password_hash
    from vcc_site.domain.secrets import hash_secret

    text = with_password_hash(example_province_path().read_text(), hash_secret(PASSWORD))
    for old, new in (
        ("ring_timeout_s = 12 ", f"ring_timeout_s = {RING_TIMEOUT_S} "),
        ("wrapup_s = 60 ", f"wrapup_s = {WRAPUP_S} "),
        ("trunk_lines = 780 ", f"trunk_lines = {BENCH_CAPACITY} "),
        ("ivr_ports = 450\n", f"ivr_ports = {BENCH_CAPACITY}\n"),
    ):
        if old not in text:
            raise RuntimeError(f"the example province has no {old.strip()!r} to change")
        text = text.replace(old, new, 1)
    path = workdir / "province.toml"
    path.write_text(text + more)
    return path


def bench_security(workdir: Path, tls: bool) -> tuple[list[str], ClientTls | None]:
    """The site's security flags and the credentials this process presents: a province
    PKI in ``workdir`` (the site's certificate, the operator tool's), or plaintext."""
    if not tls:
        return ["--insecure"], None
    pki = LaunchTls(workdir)
    client = pki.prepare("bench")
    return pki.process_args("site", f"site-{SITE}", SITE), client


@contextmanager
def site_process(
    workdir: Path,
    db: str = "sqlite",
    customers: int = SEED_CUSTOMERS,
    *,
    tls: bool = True,
    web_port: int = -1,
    web_process: str = "own",
    more_province: str = "",
) -> Iterator[tuple[ManagedProcess, str, Path]]:
    """Start a KM site node on a free port; yields (process, gRPC target, province file).

    ``db`` is "sqlite" (a file in ``workdir``), "postgres" (an embedded PostgreSQL
    started for the run) or a SQLAlchemy URL. With ``tls`` the site serves mutual TLS and
    this process's channels present the operator certificate until the site stops (see
    :func:`bench_security`); without, both sides are plaintext. ``web_port`` (>= 0) serves
    the agent desktop pages there (plain HTTP on 127.0.0.1, reaching the site's gRPC port
    as ``ops/web-KM`` under mutual TLS), in a gateway process of their own (``web_process``
    "own") or in the site's ("site"); ``more_province``: see :func:`bench_province`.
    """
    province = bench_province(workdir, more_province)
    security, client = bench_security(workdir, tls)
    if web_port >= 0:
        security += ["--web-port", str(web_port), "--web-process", web_process]
        if tls:
            gateway = LaunchTls(workdir).certificate(pki.identity("ops", f"web-{SITE}"))
            security += ["--web-grpc-tls-dir", str(gateway)]
    pg: PostgresServer | None = None
    if db == "sqlite":
        url = f"sqlite:///{workdir / 'site.db'}"
    elif db == "postgres":
        pg = PostgresServer(workdir / "postgres")
        pg.start()
        url = pg.create_database("bench_site")
    else:
        url = db
    port = free_port()
    target = f"127.0.0.1:{port}"
    argv = [
        sys.executable,
        "-m",
        "vcc_ops.cli",
        "site",
        *security,
        "--site",
        SITE,
        "--province",
        str(province),
        "--data-dir",
        str(workdir / "data"),
        "--nats",
        "nats://127.0.0.1:1",
        "--etcd",
        "127.0.0.1:1",
        "--db",
        url,
        "--grpc-port",
        str(port),
        "--seed-customers",
        str(customers),
        "--log-level",
        "WARNING",
        "--log-file",
        str(workdir / "site.log"),
    ]
    # security is given as flags, as the launcher does: none inherited from the environment
    env = {k: v for k, v in os.environ.items() if k not in CHILD_VARIABLES}
    proc = ManagedProcess(f"site-{SITE}", argv, workdir / "site.out", env)
    previous = use_client_tls(client)
    try:
        proc.start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not asyncio.run(check_health(target, timeout_s=1.0, pid=proc.pid)):
            if not proc.alive:
                raise RuntimeError(f"the site exited at start:\n{proc.log_tail()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the site was not healthy in {START_TIMEOUT_S:.0f} s")
            time.sleep(0.2)
        yield proc, target, province
    finally:
        proc.stop(timeout=20)
        use_client_tls(previous)
        if pg is not None:
            pg.stop()


# -- agent bots ----------------------------------------------------------------------------


@dataclass
class _Tally:
    """What the bots and callers saw, keyed by call id; times from perf_counter."""

    sent: dict[str, float] = field(default_factory=dict)  # SendDigits about to be sent
    offered: dict[str, float] = field(default_factory=dict)  # offer event read
    offered_to: dict[str, str] = field(default_factory=dict)  # call -> agent
    by_page: set[str] = field(default_factory=set)  # calls offered to a desktop page
    answered: set[str] = field(default_factory=set)
    setup: list[float] = field(default_factory=list)  # OfferCall durations
    entry: list[float] = field(default_factory=list)  # SendDigits durations
    outcomes: dict[str, int] = field(default_factory=dict)  # queued / connected / other
    duplicate_offers: int = 0
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    served: asyncio.Event = field(default_factory=asyncio.Event)
    expected: int = -1  # calls that entered the queue (known once all callers are done)

    def error(self, exc: BaseException) -> None:
        self.errors += 1
        if len(self.error_samples) < 5:
            detail = exc.details() if isinstance(exc, grpc.aio.AioRpcError) else repr(exc)
            self.error_samples.append(str(detail))

    def check_done(self) -> None:
        if self.expected >= 0 and len(self.answered) >= self.expected:
            self.served.set()


class Server(Protocol):
    """An agent that serves offered calls (a gRPC bot here, a desktop page in ``web``)."""

    tally: _Tally
    tasks: set[asyncio.Task[None]]


class _Bot:
    """One logged-in agent: reads its event stream and serves every call offered."""

    def __init__(
        self,
        stub: sg.AgentDeskStub,
        agent_id: str,
        token: str,
        tally: _Tally,
        rng: random.Random,
        talk_ms: float,
    ) -> None:
        self.stub, self.agent_id, self.token = stub, agent_id, token
        self.tally, self.rng, self.talk_ms = tally, rng, talk_ms
        self.tasks: set[asyncio.Task[None]] = set()
        self.reader: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.reader = asyncio.create_task(self._read(), name=f"bot-{self.agent_id}")

    async def _read(self) -> None:
        try:
            async for event in self.stub.Events(s.SessionRef(session_token=self.token)):
                if event.HasField("offer"):
                    now = time.perf_counter()
                    call_id = event.offer.call_id
                    if call_id in self.tally.offered:
                        self.tally.duplicate_offers += 1
                    self.tally.offered[call_id] = now
                    self.tally.offered_to[call_id] = self.agent_id
                    task = asyncio.create_task(self._serve(call_id))
                    self.tasks.add(task)
                    task.add_done_callback(self.tasks.discard)
        except grpc.aio.AioRpcError as exc:
            if exc.code() != grpc.StatusCode.CANCELLED:
                self.tally.error(exc)

    async def _serve(self, call_id: str) -> None:
        try:
            await self.stub.Answer(s.CallAction(session_token=self.token, call_id=call_id))
            self.tally.answered.add(call_id)
            self.tally.check_done()
            talk = self.rng.uniform(0, self.talk_ms) / 1000
            if talk > 0:
                await asyncio.sleep(talk)
            await self.stub.HangUp(s.CallAction(session_token=self.token, call_id=call_id))
            await self.stub.WrapUp(
                s.WrapUpRequest(session_token=self.token, call_id=call_id, disposition="resolved")
            )
        except grpc.aio.AioRpcError as exc:
            self.tally.error(exc)

    async def ready(self) -> None:
        await self.stub.SetReady(s.SessionRef(session_token=self.token))

    async def close(self) -> None:
        if self.tasks:
            await asyncio.gather(*list(self.tasks), return_exceptions=True)
        if self.reader is not None:
            self.reader.cancel()
            with suppress(asyncio.CancelledError, grpc.aio.AioRpcError):
                await self.reader


def bench_agents(province: Province, count: int, rng: random.Random) -> list[Agent]:
    """``count`` KM call-taking agents whose skill a route reaches, in a seeded order."""
    eligible = [
        a
        for a in province.agents_at(SITE)
        if a.takes_calls and any(sk in ROUTES for sk in a.skills)
    ]
    if count > len(eligible):
        raise ValueError(f"at most {len(eligible)} agents can take benchmark calls at {SITE}")
    return rng.sample(eligible, count)


def _route_of(agent: Agent) -> tuple[str, str]:
    return next(ROUTES[sk] for sk in sorted(agent.skills) if sk in ROUTES)


# -- callers -------------------------------------------------------------------------------


async def _one_call(access: sg.AccessStub, caller: str, code: str, key: str, tally: _Tally) -> bool:
    """Offer one call and key the menu; True once it entered the queue (or an agent)."""
    try:
        t0 = time.perf_counter()
        step = await access.OfferCall(s.OfferCallRequest(caller_number=caller, dialed_code=code))
        t1 = time.perf_counter()
        tally.setup.append(t1 - t0)
        tally.sent[step.call_id] = sent = time.perf_counter()
        step = await access.SendDigits(s.SendDigitsRequest(call_id=step.call_id, digits=key))
        tally.entry.append(time.perf_counter() - sent)
    except grpc.aio.AioRpcError as exc:
        tally.error(exc)
        return False
    kind = step.WhichOneof("next") or "none"
    tally.outcomes[kind] = tally.outcomes.get(kind, 0) + 1
    if kind not in ("queued", "connected"):
        tally.errors += 1
        tally.error_samples.append(f"call {step.call_id} ended up {kind!r}")
        return False
    return True


async def _callers(
    stubs: list[sg.AccessStub],
    plan: list[tuple[str, str, str]],
    rate: float | None,
    concurrency: int,
    tally: _Tally,
) -> tuple[float, float]:
    """Offer every planned call; returns (first send, last send) perf_counter times."""
    entered = 0

    async def call(i: int) -> None:
        nonlocal entered
        caller, code, key = plan[i]
        if await _one_call(stubs[i % len(stubs)], caller, code, key, tally):
            entered += 1

    start = time.perf_counter()
    last = start
    if rate is not None:
        tasks = []
        for i in range(len(plan)):
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            last = time.perf_counter()
            tasks.append(asyncio.create_task(call(i)))
        await asyncio.gather(*tasks)
    else:
        counter = iter(range(len(plan)))

        async def worker() -> None:
            nonlocal last
            for i in counter:
                last = time.perf_counter()
                await call(i)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    tally.expected = entered
    tally.check_done()
    return start, last


def _plan(
    n: int, bots: list[Agent], rng: random.Random, customers: int, tag: int
) -> list[tuple[str, str, str]]:
    """(caller number, dialed code, menu key) per call: half known customers."""
    from vcc_site.store.customers import phone_for

    plan = []
    for i in range(n):
        code, key = _route_of(rng.choice(bots))
        if rng.random() < 0.5:
            caller = phone_for(AREA_CODE, rng.randrange(customers))
        else:
            caller = f"13{tag % 10}{i:08d}"
        plan.append((caller, code, key))
    return plan


# -- one run -------------------------------------------------------------------------------


async def _phase(
    stubs: list[sg.AccessStub],
    plan: list[tuple[str, str, str]],
    rate: float | None,
    concurrency: int,
    bots: Sequence[Server],
    site: psutil.Process,
    timeout_s: float,
) -> tuple[_Tally, dict[str, Any]]:
    tally = _Tally()
    for bot in bots:
        bot.tally = tally
    me = psutil.Process()
    site_cpu0, me_cpu0 = site.cpu_times(), me.cpu_times()
    start, last_send = await _callers(stubs, plan, rate, concurrency, tally)
    try:
        await asyncio.wait_for(tally.served.wait(), timeout_s)
    except TimeoutError:
        pass
    # let the last bots finish their wrap-ups so the next phase starts from ready agents
    await asyncio.gather(*[t for b in bots for t in list(b.tasks)], return_exceptions=True)
    site_cpu1, me_cpu1 = site.cpu_times(), me.cpu_times()
    waits = sorted(tally.offered[c] - t for c, t in tally.sent.items() if c in tally.offered)
    # the calls the gRPC bots took: the site's own latency (a page's adds its push hop)
    bot_waits = sorted(
        tally.offered[c] - t
        for c, t in tally.sent.items()
        if c in tally.offered and c not in tally.by_page
    )
    ends = [tally.offered[c] for c in tally.sent if c in tally.offered]
    span = (max(ends) - start) if ends else 0.0
    setup, entry = sorted(tally.setup), sorted(tally.entry)
    figures = {
        "calls": len(plan),
        "calls_per_s": round(len(waits) / span, 1) if span > 0 else 0.0,
        "offered_calls_per_s": round(len(plan) / (last_send - start), 1)
        if last_send > start
        else 0.0,
        "offer_to_agent_p50_ms": _ms(_percentile(waits, 0.50)),
        "offer_to_agent_p99_ms": _ms(_percentile(waits, 0.99)),
        "offer_to_agent_max_ms": _ms(waits[-1]) if waits else 0.0,
        "bot_offer_to_agent_p99_ms": _ms(_percentile(bot_waits, 0.99)),
        "call_setup_p50_ms": _ms(_percentile(setup, 0.50)),
        "call_setup_p99_ms": _ms(_percentile(setup, 0.99)),
        "queue_entry_p50_ms": _ms(_percentile(entry, 0.50)),
        "queue_entry_p99_ms": _ms(_percentile(entry, 0.99)),
        "entered_queue": max(tally.expected, 0),
        "reached_agent": len(waits),
        "answered": len(tally.answered & set(tally.sent)),
        "connected_at_once": tally.outcomes.get("connected", 0),
        "queued_first": tally.outcomes.get("queued", 0),
        "duplicate_offers": tally.duplicate_offers,
        "errors": tally.errors,
        "error_samples": tally.error_samples,
        "wall_s": round(span, 3),
        "site_cpu_s": round(
            (site_cpu1.user + site_cpu1.system) - (site_cpu0.user + site_cpu0.system), 3
        ),
        "bench_cpu_s": round((me_cpu1.user + me_cpu1.system) - (me_cpu0.user + me_cpu0.system), 3),
    }
    return tally, figures


async def _drive(
    target: str,
    province: Province,
    site_pid: int,
    *,
    calls: int,
    rate: float | None,
    agents: int,
    talk_ms: float,
    seed: int,
    channels: int,
    concurrency: int,
    warmup: int,
    customers: int,
) -> dict[str, Any]:
    rng = random.Random(seed)
    chans = [open_channel(target) for _ in range(channels)]
    desks = [sg.AgentDeskStub(ch) for ch in chans]
    access = [sg.AccessStub(ch) for ch in chans]
    chosen = bench_agents(province, agents, rng)
    tally = _Tally()
    bots: list[_Bot] = []
    login_gate = asyncio.Semaphore(16)

    async def login(i: int, agent: Agent) -> _Bot:
        stub = desks[i % channels]
        async with login_gate:
            people = pg.PeopleStub(chans[i % channels])  # a checked site: change it first
            reply, _used = await open_seat(
                stub, people, agent.id, PASSWORD, f"bench-{agent.id}", SEAT_TIMEOUT_S
            )
        return _Bot(
            stub, agent.id, reply.session_token, tally, random.Random(rng.random()), talk_ms
        )

    try:
        t0 = time.perf_counter()
        bots = list(await asyncio.gather(*(login(i, a) for i, a in enumerate(chosen))))
        for bot in bots:
            bot.start()
        await asyncio.gather(*(bot.ready() for bot in bots))
        login_s = time.perf_counter() - t0
        site = psutil.Process(site_pid)
        timeout_s = 60.0 + (calls / rate if rate else calls / 50)
        if warmup:
            await _phase(
                access,
                _plan(warmup, chosen, rng, customers, seed + 5),
                rate,
                concurrency,
                bots,
                site,
                timeout_s,
            )
        _, figures = await _phase(
            access,
            _plan(calls, chosen, rng, customers, seed),
            rate,
            concurrency,
            bots,
            site,
            timeout_s,
        )
    finally:
        for bot in bots:
            await bot.close()
        for ch in chans:
            await ch.close()
    figures.update(
        {
            "rate_target_per_s": rate,
            "concurrency": None if rate else concurrency,
            "agents": agents,
            "talk_ms_max": talk_ms,
            "channels": channels,
            "warmup_calls": warmup,
            "login_s": round(login_s, 3),
            "seed": seed,
        }
    )
    return figures


def run_site_bench(
    calls: int = 3000,
    rate: float | None = None,
    agents: int = 150,
    talk_ms: float = 20.0,
    seed: int = 1,
    db: str = "sqlite",
    *,
    channels: int = 4,
    concurrency: int = 32,
    warmup: int = 200,
    customers: int = SEED_CUSTOMERS,
    tls: bool = True,
) -> dict[str, Any]:
    """Start a KM site (over mutual TLS unless ``tls`` is False), log in ``agents`` bots,
    drive ``calls`` calls; return the figures."""
    if calls < 1 or agents < 1 or channels < 1 or concurrency < 1:
        raise ValueError("calls, agents, channels and concurrency must be positive")
    if rate is not None and rate <= 0:
        raise ValueError("rate must be positive (or None for as fast as possible)")
    with tempfile.TemporaryDirectory(prefix="vcc-bench-site-") as tmp:
        workdir = Path(tmp)
        with site_process(workdir, db, customers, tls=tls) as (proc, target, province_file):
            province = load_province_file(province_file)
            assert proc.pid is not None
            figures = asyncio.run(
                _drive(
                    target,
                    province,
                    proc.pid,
                    calls=calls,
                    rate=rate,
                    agents=agents,
                    talk_ms=talk_ms,
                    seed=seed,
                    channels=channels,
                    concurrency=concurrency,
                    warmup=warmup,
                    customers=customers,
                )
            )
            if not proc.alive:
                raise RuntimeError(f"the site died during the run:\n{proc.log_tail()}")
    figures["db"] = db if db in ("sqlite", "postgres") else "url"
    figures["grpc_security"] = SECURITY[tls]
    return figures


MEDIAN_KEYS = (
    "calls_per_s",
    "offered_calls_per_s",
    "offer_to_agent_p50_ms",
    "offer_to_agent_p99_ms",
    "offer_to_agent_max_ms",
    "call_setup_p50_ms",
    "call_setup_p99_ms",
    "queue_entry_p50_ms",
    "queue_entry_p99_ms",
    "site_cpu_s",
    "bench_cpu_s",
    "wall_s",
)


def median_of_runs(runs: int = 3, **kwargs: Any) -> dict[str, Any]:
    """Run the bench ``runs`` times (seeds seed, seed+1, ...); the median of each figure.

    Counts (answered, errors, ...) are summed over the runs, so one bad run shows.
    """
    seed = int(kwargs.pop("seed", 1))
    results = [run_site_bench(seed=seed + i, **kwargs) for i in range(runs)]
    out = dict(results[0])
    for key in MEDIAN_KEYS:
        out[key] = statistics.median(r[key] for r in results)
    for key in (
        "calls",
        "entered_queue",
        "reached_agent",
        "answered",
        "connected_at_once",
        "queued_first",
        "duplicate_offers",
        "errors",
    ):
        out[key] = sum(r[key] for r in results)
    out["error_samples"] = [e for r in results for e in r["error_samples"]][:5]
    out["seed"] = seed
    out["runs"] = runs
    out["per_run"] = results
    return out
