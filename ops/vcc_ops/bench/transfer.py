"""``vcc bench transfer``: cross-site transfer latency under a background of local calls.

Per run, in a fresh temporary directory: a real ``nats-server``, a real etcd, a ``vcc hub``
and two ``vcc site`` processes, Kunming (KM) and Dali (DL), each on its own SQLite file
(the example province with a 1 s wrap-up). This process, in one asyncio loop, plays:

* agent bots at both sites (general agents: they take menu key 0). A KM bot answers each
  offer at once; for a ``transfer_share`` of its calls it asks ``AgentDesk.Transfer`` to
  DL's "general" business right away, otherwise it talks ``talk_ms`` and hangs up. A DL
  bot answers, talks ``talk_ms``, hangs up. Every bot wraps up at once (ready again);
* callers: an open loop of ``rate`` calls/s into KM (``OfferCall`` "1000" + key 0) for
  ``seconds`` seconds, the background load and the source of the transfers.

Figures (``time.perf_counter`` in this one process):

* ``transfer_to_offer_p50_ms`` / ``_p99_ms`` / ``_max_ms``: from just before the KM bot
  sends ``Transfer`` to the moment the DL bot reads the ``offer`` event of that call
  (KM -> hub -> DL AcceptTransfer -> DL ACD -> DL desk stream);
* ``transfer_rpc_p50_ms`` / ``_p99_ms``: the ``Transfer`` RPC itself (until ACCEPTED);
* ``transfers``, ``accepted``, ``not_accepted``, ``calls`` (offered), ``errors``.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc

from vcc_ops.bench.site import bench_province
from vcc_ops.infra import EtcdServer, ManagedProcess, NatsServer, free_port
from vcc_proto.server import check_health
from vcc_proto.v1 import common_pb2 as c
from vcc_proto.v1 import site_pb2 as s
from vcc_proto.v1 import site_pb2_grpc as sg

PASSWORD = "vcc-demo-2026"
START_TIMEOUT_S = 90.0
MEDIAN_KEYS = (
    "transfer_to_offer_p50_ms",
    "transfer_to_offer_p99_ms",
    "transfer_to_offer_max_ms",
    "transfer_rpc_p50_ms",
    "transfer_rpc_p99_ms",
)


def _percentile(ordered: list[float], q: float) -> float:
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


@dataclass
class _Tally:
    asked: dict[str, float] = field(default_factory=dict)  # call -> Transfer about to go
    offered: dict[str, float] = field(default_factory=dict)  # call -> DL offer read
    rpc: list[float] = field(default_factory=list)
    accepted: int = 0
    not_accepted: int = 0
    errors: int = 0
    samples: list[str] = field(default_factory=list)

    def error(self, exc: BaseException) -> None:
        self.errors += 1
        if len(self.samples) < 5:
            self.samples.append(repr(exc)[:200])


class _Bot:
    def __init__(
        self,
        stub: sg.AgentDeskStub,
        token: str,
        site: str,
        tally: _Tally,
        rng: random.Random,
        share: float,
        talk_s: float,
    ) -> None:
        self.stub, self.token, self.site, self.tally = stub, token, site, tally
        self.rng, self.share, self.talk_s = rng, share, talk_s
        self.serving: set[asyncio.Future[None]] = set()
        self.task = asyncio.ensure_future(self._read())

    def act(self, call_id: str) -> s.CallAction:
        return s.CallAction(session_token=self.token, call_id=call_id)

    async def close(self) -> None:
        tasks = [self.task, *self.serving]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _read(self) -> None:
        with_calls = self.serving
        async for event in self.stub.Events(s.SessionRef(session_token=self.token)):
            if event.HasField("offer"):
                if self.site == "DL":
                    self.tally.offered.setdefault(event.offer.call_id, time.perf_counter())
                task = asyncio.ensure_future(self._serve(event.offer.call_id))
                with_calls.add(task)
                task.add_done_callback(with_calls.discard)

    async def _serve(self, call_id: str) -> None:
        try:
            await self.stub.Answer(self.act(call_id))
            if self.site == "KM" and self.rng.random() < self.share:
                request = s.TransferRequest(
                    session_token=self.token,
                    call_id=call_id,
                    note="bench",
                    target=c.TransferTarget(site_id="DL", business_id="general"),
                )
                t0 = time.perf_counter()
                self.tally.asked[call_id] = t0
                result = await self.stub.Transfer(request, timeout=30)
                self.tally.rpc.append(time.perf_counter() - t0)
                if result.outcome == c.TransferResult.OUTCOME_ACCEPTED:
                    self.tally.accepted += 1
                    await self.stub.WrapUp(
                        s.WrapUpRequest(session_token=self.token, call_id=call_id)
                    )
                    return
                self.tally.not_accepted += 1
                self.tally.asked.pop(call_id, None)
            await asyncio.sleep(self.talk_s)
            await self.stub.HangUp(self.act(call_id))
            await self.stub.WrapUp(s.WrapUpRequest(session_token=self.token, call_id=call_id))
        except grpc.aio.AioRpcError as exc:
            self.tally.error(exc)


def _start(proc: ManagedProcess, target: str) -> None:
    proc.start()
    deadline = time.monotonic() + START_TIMEOUT_S
    while not asyncio.run(check_health(target, timeout_s=1.0, pid=proc.pid)):
        if not proc.alive:
            raise RuntimeError(f"{proc.name} exited at start:\n{proc.log_tail()}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{proc.name} was not healthy in {START_TIMEOUT_S:.0f} s")
        time.sleep(0.2)


async def _drive(
    km: str,
    dl: str,
    agents: list[tuple[str, str]],
    *,
    rate: float,
    seconds: float,
    share: float,
    talk_ms: float,
    seed: int,
) -> dict[str, Any]:
    rng = random.Random(seed)
    tally = _Tally()
    channels = {"KM": grpc.aio.insecure_channel(km), "DL": grpc.aio.insecure_channel(dl)}
    bots: list[_Bot] = []
    try:
        for site, agent_id in agents:
            stub = sg.AgentDeskStub(channels[site])
            reply = await stub.Login(
                s.LoginRequest(agent_id=agent_id, password=PASSWORD, device="bench")
            )
            bots.append(_Bot(stub, reply.session_token, site, tally, rng, share, talk_ms / 1000))
            await stub.SetReady(s.SessionRef(session_token=reply.session_token))
        access = sg.AccessStub(channels["KM"])
        start = time.perf_counter()
        calls = int(rate * seconds)

        async def call(i: int) -> None:
            await asyncio.sleep(max(0.0, start + i / rate - time.perf_counter()))
            try:
                step = await access.OfferCall(
                    s.OfferCallRequest(caller_number=f"1390000{i:04d}", dialed_code="1000")
                )
                await access.SendDigits(s.SendDigitsRequest(call_id=step.call_id, digits="0"))
            except grpc.aio.AioRpcError as exc:
                tally.error(exc)

        await asyncio.gather(*(call(i) for i in range(calls)))
        for _ in range(150):  # let the last transfers reach DL (15 s at most)
            if all(k in tally.offered for k in tally.asked):
                break
            await asyncio.sleep(0.1)
    finally:
        for bot in bots:
            await bot.close()
        for ch in channels.values():
            await ch.close()
    lat = sorted(tally.offered[k] - t for k, t in tally.asked.items() if k in tally.offered)
    rpc = sorted(tally.rpc)
    return {
        "transfer_to_offer_p50_ms": round(_percentile(lat, 0.50) * 1000, 3),
        "transfer_to_offer_p99_ms": round(_percentile(lat, 0.99) * 1000, 3),
        "transfer_to_offer_max_ms": round((lat[-1] if lat else 0.0) * 1000, 3),
        "transfer_rpc_p50_ms": round(_percentile(rpc, 0.50) * 1000, 3),
        "transfer_rpc_p99_ms": round(_percentile(rpc, 0.99) * 1000, 3),
        "transfers": len(tally.asked),
        "measured": len(lat),
        "accepted": tally.accepted,
        "not_accepted": tally.not_accepted,
        "calls": calls,
        "errors": tally.errors,
        "error_samples": tally.samples,
    }


def _agents(province_file: Path, km: int, dl: int) -> list[tuple[str, str]]:
    from vcc_domain.province import load_province_file

    province = load_province_file(province_file)

    def general(site: str) -> list[str]:
        return [a.id for a in province.agents_at(site) if a.takes_calls and a.general_level]

    km_ids, dl_ids = general("KM")[:km], general("DL")[:dl]
    return [("KM", a) for a in km_ids] + [("DL", a) for a in dl_ids]


def run_transfer_bench(
    *,
    rate: float = 20.0,
    seconds: float = 10.0,
    share: float = 0.3,
    km_agents: int = 20,
    dl_agents: int = 10,
    talk_ms: float = 200.0,
    seed: int = 1,
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="vcc-bench-transfer-") as tmp:
        work = Path(tmp)
        nats, etcd = NatsServer(work / "nats"), EtcdServer(work / "etcd")
        nats.start()
        etcd.start()
        procs: list[ManagedProcess] = []
        try:
            province = bench_province(work)
            ports = {name: free_port() for name in ("hub", "KM", "DL")}
            targets = {k: f"127.0.0.1:{v}" for k, v in ports.items()}
            common = [
                "--province",
                str(province),
                "--nats",
                nats.url,
                "--etcd",
                etcd.endpoint,
                "--log-level",
                "WARNING",
            ]
            hub = ManagedProcess(
                "hub",
                [
                    sys.executable,
                    "-m",
                    "vcc_ops.cli",
                    "hub",
                    "--insecure",  # measured without TLS
                    *common,
                    "--data-dir",
                    str(work / "hub"),
                    "--db",
                    f"sqlite:///{work / 'hub.db'}",
                    "--grpc-port",
                    str(ports["hub"]),
                    "--node-id",
                    "hub-bench",
                    "--log-file",
                    str(work / "hub.log"),
                ],
                work / "hub.out",
            )
            procs.append(hub)
            _start(hub, targets["hub"])
            for site in ("KM", "DL"):
                proc = ManagedProcess(
                    f"site-{site}",
                    [
                        sys.executable,
                        "-m",
                        "vcc_ops.cli",
                        "site",
                        "--insecure",  # measured without TLS
                        "--site",
                        site,
                        *common,
                        "--hub",
                        targets["hub"],
                        "--data-dir",
                        str(work / site),
                        "--db",
                        f"sqlite:///{work / f'{site}.db'}",
                        "--grpc-port",
                        str(ports[site]),
                        "--seed-customers",
                        "100",
                        "--log-file",
                        str(work / f"{site}.log"),
                    ],
                    work / f"{site}.out",
                )
                procs.append(proc)
                _start(proc, targets[site])
            agents = _agents(province, km_agents, dl_agents)
            result = asyncio.run(
                _drive(
                    targets["KM"],
                    targets["DL"],
                    agents,
                    rate=rate,
                    seconds=seconds,
                    share=share,
                    talk_ms=talk_ms,
                    seed=seed,
                )
            )
        finally:
            for proc in reversed(procs):
                proc.stop(timeout=20)
            etcd.stop()
            nats.stop()
    result.update(
        rate_calls_per_s=rate,
        seconds=seconds,
        transfer_share=share,
        km_agents=km_agents,
        dl_agents=dl_agents,
        talk_ms=talk_ms,
    )
    return result


def median_of_runs(runs: int = 3, **kwargs: Any) -> dict[str, Any]:
    """Run ``runs`` times (seeds seed, seed+1, ...); the median of each latency figure,
    counts summed over the runs."""
    seed = int(kwargs.pop("seed", 1))
    results = [run_transfer_bench(seed=seed + i, **kwargs) for i in range(runs)]
    out = dict(results[0])
    for key in MEDIAN_KEYS:
        out[key] = statistics.median(r[key] for r in results)
    for key in ("transfers", "measured", "accepted", "not_accepted", "calls", "errors"):
        out[key] = sum(r[key] for r in results)
    out["error_samples"] = [e for r in results for e in r["error_samples"]][:5]
    out.update(seed=seed, runs=runs, per_run=results)
    return out
