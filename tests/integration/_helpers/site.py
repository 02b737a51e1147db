"""A real site node process for tests, and a small gRPC client for driving it."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import grpc

from tests.integration._helpers import tls as test_tls
from vcc_ops.cli import example_province_path
from vcc_ops.infra import ManagedProcess, free_port
from vcc_ops.people_secrets import with_password_hash
from vcc_ops.traffic.seat import open_seat, seat_password
from vcc_proto.channels import open_channel
from vcc_proto.server import check_health
from vcc_proto.tls import ClientTls
from vcc_proto.v1 import common_pb2 as c
from vcc_proto.v1 import people_pb2 as p
from vcc_proto.v1 import people_pb2_grpc as pg
from vcc_proto.v1 import site_pb2 as s
from vcc_proto.v1 import site_pb2_grpc as sg

PASSWORD = "vcc-demo-2026"
# argon2id of PASSWORD: the tests' provinces give it to everybody (the example ships none)
TEST_HASH = (
    "$argon2id$v=19$m=12288,t=3,p=1$8qHABoWz7IVL4cuwgZGbgQ$"
    "07tFsFci5YLwZHp26qqQi4JTdmitQA0Eam59PrKIWSs"
)


def with_test_password(text: str) -> str:
    """Province text whose every agent and agent group has the initial password
    :data:`PASSWORD` (the example province ships no password hashes)."""
    return with_password_hash(text, TEST_HASH)


START_TIMEOUT_S = 90.0


def fast_province(tmp: Path, ring_s: int = 2, wrapup_s: int = 2) -> Path:
    """The example province with short ring and wrap-up limits (test time) and the test
    password for everybody."""
    text = with_test_password(example_province_path().read_text())
    text = text.replace("ring_timeout_s = 12 ", f"ring_timeout_s = {ring_s} ", 1)
    text = text.replace("wrapup_s = 60 ", f"wrapup_s = {wrapup_s} ", 1)
    path = tmp / "province.toml"
    path.write_text(text)
    return path


class SiteProcess:
    def __init__(
        self,
        tmp: Path,
        site: str = "KM",
        db_url: str | None = None,
        customers: int = 40,
        ring_s: int = 2,
        wrapup_s: int = 2,
        nats: str = "nats://127.0.0.1:1",
        etcd: str = "127.0.0.1:1",
        extra_args: tuple[str, ...] = (),
        env: dict[str, str] | None = None,
    ) -> None:
        self.tmp, self.site = tmp, site
        self.province = fast_province(tmp, ring_s, wrapup_s)
        self.port = free_port()
        self.target = f"127.0.0.1:{self.port}"
        self.db_url = db_url or f"sqlite:///{tmp / 'site.db'}"
        argv = [
            sys.executable,
            "-m",
            "vcc_ops.cli",
            "site",
            "--site",
            site,
            "--province",
            str(self.province),
            "--data-dir",
            str(tmp / "data"),
            "--nats",
            nats,
            "--etcd",
            etcd,
            "--db",
            self.db_url,
            "--grpc-port",
            str(self.port),
            "--seed-customers",
            str(customers),
            "--log-file",
            str(tmp / "site.log"),
            *test_tls.node_args("site", f"site-{site}", site),
            *extra_args,
        ]
        if "--web-port" in extra_args:  # its pages reach it as an operator gateway
            argv += ["--web-grpc-tls-dir", str(test_tls.cert_dir("ops", f"web-{site}"))]
        self.proc = ManagedProcess(
            f"site-{site}", argv, tmp / "site.out", {**os.environ, **env} if env else None
        )

    def start(self) -> SiteProcess:
        return self.launch().wait_healthy()

    def launch(self) -> SiteProcess:
        """Start the process without waiting (start several, then wait for each)."""
        self.proc.start()
        return self

    def wait_healthy(self) -> SiteProcess:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not asyncio.run(
            check_health(self.target, timeout_s=1.0, tls=test_tls.client(), pid=self.proc.pid)
        ):
            if not self.proc.alive:
                raise AssertionError(
                    f"site exited with {self.proc.returncode}: {self.proc.log_tail()}"
                )
            if time.monotonic() > deadline:
                raise AssertionError("site not healthy in time")
            time.sleep(0.2)
        return self

    def stop(self) -> None:
        self.proc.stop(timeout=20)


async def until(check: Callable[[], Awaitable[Any]], what: str, timeout_s: float = 30.0) -> Any:
    """Poll ``check`` until it returns something truthy; fail after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


class Desk:
    """One logged-in agent with its event stream collected in the background."""

    def __init__(self, stub: sg.AgentDeskStub, agent_id: str, token: str) -> None:
        self.stub, self.agent_id, self.token = stub, agent_id, token
        self.events: list[s.AgentEvent] = []
        self._task = asyncio.create_task(self._collect())

    async def _collect(self) -> None:
        async for event in self.stub.Events(s.SessionRef(session_token=self.token)):
            self.events.append(event)

    def ref(self) -> s.SessionRef:
        return s.SessionRef(session_token=self.token)

    def act(self, call_id: str) -> s.CallAction:
        return s.CallAction(session_token=self.token, call_id=call_id)

    async def ready(self) -> s.AgentStatus:
        return await self.stub.SetReady(self.ref())

    async def answer(self, call_id: str) -> s.CallView:
        return await self.stub.Answer(self.act(call_id))

    async def hang_up(self, call_id: str) -> s.CallView:
        return await self.stub.HangUp(self.act(call_id))

    async def wrap_up(self, call_id: str, disposition: str = "done") -> s.AgentStatus:
        return await self.stub.WrapUp(
            s.WrapUpRequest(session_token=self.token, call_id=call_id, disposition=disposition)
        )

    def offers(self) -> list[str]:
        return [e.offer.call_id for e in self.events if e.HasField("offer")]

    def states(self) -> list[tuple[int, int]]:
        return [
            (e.agent_state.state, e.agent_state.not_ready_reason)
            for e in self.events
            if e.HasField("agent_state")
        ]

    async def close(self) -> None:
        self._task.cancel()
        try:
            await self._task
        except (asyncio.CancelledError, grpc.aio.AioRpcError):
            pass


_SEATS: dict[tuple[str, str], str] = {}  # (site target, agent) -> the password that works


async def open_test_seat(
    desk: sg.AgentDeskStub, people: pg.PeopleStub, target: str, agent_id: str
) -> s.LoginReply:
    """``AgentDesk.Login`` with the tests' initial :data:`PASSWORD`, as the tools' bots do
    (:func:`vcc_ops.traffic.seat.open_seat`): a checked site asks for the initial password
    to be changed first, so the first sign-in changes it; later sign-ins at the same
    site use the changed one straight away (no failed attempt is counted)."""
    device = f"test-{agent_id}"
    known = _SEATS.get((target, agent_id))
    if known is not None:
        try:
            return await desk.Login(
                s.LoginRequest(agent_id=agent_id, password=known, device=device)
            )
        except grpc.aio.AioRpcError as exc:
            if exc.code() != grpc.StatusCode.UNAUTHENTICATED:  # a fresh site: start over
                raise
    reply, used = await open_seat(desk, people, agent_id, PASSWORD, device)
    _SEATS[(target, agent_id)] = used
    return reply


async def signed_in(
    people: pg.PeopleStub, target: str, who: str, change: bool = True
) -> tuple[tuple[str, str]]:
    """The call metadata of a ``People`` session of ``who``: signed in with the tests'
    initial :data:`PASSWORD`, changed as a person must at the first sign-in (remembered per
    site, as :func:`open_test_seat` does, so later sign-ins and seats use the new one);
    ``change=False``: left as it is (a session that must change it still signs out and
    hands over, and saves the password hashing)."""
    password = _SEATS.get((target, who), PASSWORD)
    reply = await people.SignIn(p.SignInRequest(person_id=who, password=password))
    token = reply.session_token
    if reply.person.must_change_password and change:
        new = seat_password(PASSWORD)
        changed = await people.ChangePassword(
            p.ChangePasswordRequest(old_password=password, new_password=new),
            metadata=(("authorization", f"Bearer {token}"),),
        )
        token = changed.session_token
        _SEATS[(target, who)] = new
    return (("authorization", f"Bearer {token}"),)


def open_test_seat_sync(channel: grpc.Channel, agent_id: str) -> s.LoginReply:
    """:func:`open_test_seat` over a blocking channel (the browser tests)."""
    desk, people = sg.AgentDeskStub(channel), pg.PeopleStub(channel)
    device = f"test-{agent_id}"
    try:
        reply: s.LoginReply = desk.Login(
            s.LoginRequest(agent_id=agent_id, password=PASSWORD, device=device)
        )
        return reply
    except grpc.RpcError as exc:
        if exc.code() != grpc.StatusCode.FAILED_PRECONDITION:  # type: ignore[attr-defined]
            raise
    new = seat_password(PASSWORD)
    first = people.SignIn(p.SignInRequest(person_id=agent_id, password=PASSWORD))
    people.ChangePassword(  # the person stays signed in, as open_seat leaves them
        p.ChangePasswordRequest(old_password=PASSWORD, new_password=new),
        metadata=(("authorization", f"Bearer {first.session_token}"),),
    )
    reply = desk.Login(s.LoginRequest(agent_id=agent_id, password=new, device=device))
    return reply


class Client:
    """Calls a site as the operator tool (``tls``: as another identity; ``insecure``: in
    plaintext), and offers callers' calls (``access``) as the access edge."""

    def __init__(self, target: str, tls: ClientTls | None = None, insecure: bool = False) -> None:
        if insecure:  # a site run --insecure
            self.channel = grpc.aio.insecure_channel(target)
            self.edge_channel = self.channel
        else:
            self.channel = open_channel(target, tls=tls or test_tls.client())
            # callers' calls come from the access edge, which a site trusts for the caller's
            # number (the operator tool could claim any number)
            self.edge_channel = open_channel(target, tls=test_tls.client("edge", "edge"))
        self.access = sg.AccessStub(self.edge_channel)
        self.desk = sg.AgentDeskStub(self.channel)
        self.remote = sg.RemoteStub(self.channel)
        self.people = pg.PeopleStub(self.channel)
        self.target = target
        self.desks: list[Desk] = []

    async def login(self, agent_id: str, password: str = PASSWORD) -> Desk:
        """The agent's seat: with :data:`PASSWORD`, as a person opens it (see
        :func:`open_test_seat`); with another password, one plain attempt."""
        if password == PASSWORD:
            reply = await open_test_seat(self.desk, self.people, self.target, agent_id)
        else:
            reply = await self.desk.Login(
                s.LoginRequest(agent_id=agent_id, password=password, device=f"test-{agent_id}")
            )
        desk = Desk(self.desk, agent_id, reply.session_token)
        self.desks.append(desk)
        return desk

    async def offer(self, caller: str, code: str = "1000", *digits: str) -> s.CallStep:
        step = await self.access.OfferCall(
            s.OfferCallRequest(caller_number=caller, dialed_code=code)
        )
        for d in digits:
            step = await self.access.SendDigits(s.SendDigitsRequest(call_id=step.call_id, digits=d))
        return step

    async def digits(self, call_id: str, digits: str) -> s.CallStep:
        return await self.access.SendDigits(s.SendDigitsRequest(call_id=call_id, digits=digits))

    async def call(self, call_id: str) -> s.CallView:
        return await self.access.GetCall(s.CallRef(call_id=call_id))

    async def state_of(self, call_id: str) -> int:
        return (await self.call(call_id)).state

    async def close(self) -> None:
        for desk in self.desks:
            await desk.close()
        await self.channel.close()
        if self.edge_channel is not self.channel:
            await self.edge_channel.close()


QUEUED = c.CALL_STATE_QUEUED
OFFERED = c.CALL_STATE_OFFERED
ENDED = c.CALL_STATE_ENDED
