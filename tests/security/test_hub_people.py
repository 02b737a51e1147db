"""The province's people (a province manager, operations) at the hub, over the gRPC API
of a real mutual-TLS server with the hub's session hook, the hub's people service over
its SQLite database (migrated like the hub's) and a manual clock.

One error for every failed sign-in (a site's agent is nobody at the hub); the initial
password is changed first; operations reset and unlock the province's people, audited
with the real actor; a province manager may not (PERMISSION_DENIED); a person removed
from the directory loses their session.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path

import grpc
import pytest

from vcc_domain.clock import ManualClock
from vcc_domain.province import Province, load_province_file
from vcc_domain.secrets import hash_generated_secret
from vcc_hub.components.people import refusal_audit_rows
from vcc_hub.service.people import WRONG_SIGN_IN, HubPeopleService
from vcc_hub.store.directory_tables import MIGRATIONS
from vcc_hub.store.people import PeopleStore
from vcc_ops.cli import example_province_path
from vcc_proto import pki
from vcc_proto.authz_interceptor import AuthzInterceptor
from vcc_proto.people_servicer import people_service
from vcc_proto.refusal_audit import RefusalRow
from vcc_proto.server import GrpcHost
from vcc_proto.tls import ClientTls, ServerTls
from vcc_proto.v1 import people_pb2 as p
from vcc_proto.v1 import people_pb2_grpc as pg
from vcc_replication.db import make_engine

PM, OPS_PERSON = "YN-PM-01", "YN-OPS-01"
INITIAL = {PM: "initial-secret-pm-1", OPS_PERSON: "initial-secret-ops-1"}
NEW = "a-better-secret-1"
HUB, GATEWAY = pki.identity("hub", "hub-1"), pki.identity("ops", "desktop")
TIMEOUT_S = 10
DENIED, UNAUTH = grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.UNAUTHENTICATED


def bearer(token: str) -> tuple[tuple[str, str]]:
    return (("authorization", f"Bearer {token}"),)


async def refused(call: object) -> grpc.aio.AioRpcError:
    try:
        await call  # type: ignore[misc]
    except grpc.aio.AioRpcError as exc:
        return exc
    raise AssertionError("the request was accepted")


@dataclass
class Hub:
    people: HubPeopleService
    store: PeopleStore
    stub: pg.PeopleStub
    province: list[Province]  # what the directory holds now (a test may change it)

    async def sign_in(self, who: str, password: str) -> p.SignInReply:
        reply: p.SignInReply = await self.stub.SignIn(
            p.SignInRequest(person_id=who, password=password), timeout=TIMEOUT_S
        )
        return reply

    async def ready(self, who: str) -> str:
        first = await self.sign_in(who, INITIAL[who])
        assert first.person.must_change_password
        changed = await self.stub.ChangePassword(
            p.ChangePasswordRequest(old_password=INITIAL[who], new_password=NEW),
            metadata=bearer(first.session_token),
            timeout=TIMEOUT_S,
        )
        return str(changed.session_token)

    async def manage(self, rpc: str, who: str, token: str) -> object:
        return await getattr(self.stub, rpc)(
            p.PersonRef(person_id=who), metadata=bearer(token), timeout=TIMEOUT_S
        )


@pytest.fixture
async def hub(tmp_path: Path) -> AsyncIterator[Hub]:
    certs = tmp_path / "pki"
    pki.init_ca(certs)
    pki.issue(certs, HUB, ips=["127.0.0.1"])
    pki.issue(certs, GATEWAY)
    engine = make_engine(f"sqlite:///{tmp_path / 'hub.db'}")
    await MIGRATIONS.upgrade(engine)
    store = PeopleStore(engine)
    await store.install_missing({k: hash_generated_secret(v) for k, v in INITIAL.items()})
    current = [load_province_file(example_province_path())]

    async def province() -> Province:
        return current[0]

    people = HubPeopleService(store, province, ManualClock())
    await people.refresh()
    host = GrpcHost(
        "127.0.0.1",
        0,
        [people_service(people)],
        tls=ServerTls(pki.node_dir(certs, HUB)),
        authz=AuthzInterceptor(people.person_of),
    )
    await host.start()
    channel = ClientTls(pki.node_dir(certs, GATEWAY)).channel(f"127.0.0.1:{host.port}")
    try:
        yield Hub(people, store, pg.PeopleStub(channel), current)
    finally:
        await channel.close()
        await host.stop(0)
        await engine.dispose()


async def test_one_error_and_a_forced_change(hub: Hub) -> None:
    answers = set()
    for who, password in [("YN-NOBODY", "whatever-1"), (PM, "wrong-pass"), ("KM-0131", "x" * 9)]:
        err = await refused(hub.sign_in(who, password))
        answers.add((err.code(), err.details()))
    assert answers == {(UNAUTH, f"password: {WRONG_SIGN_IN}")}
    first = await hub.sign_in(PM, INITIAL[PM])
    assert first.person.role == "province_manager" and first.person.must_change_password
    early = await refused(hub.manage("Unlock", OPS_PERSON, first.session_token))
    assert early.code() == DENIED


async def test_operations_reset_and_unlock_audited_a_manager_may_not(hub: Hub) -> None:
    pm, ops = await hub.ready(PM), await hub.ready(OPS_PERSON)
    assert (await refused(hub.manage("ResetPassword", OPS_PERSON, pm))).code() == DENIED
    reply = await hub.manage("ResetPassword", PM, ops)
    assert isinstance(reply, p.ResetPasswordReply) and reply.person.must_change_password
    assert (await refused(hub.stub.WhoAmI(p.WhoAmIRequest(), metadata=bearer(pm)))).code() == (
        UNAUTH
    )  # the reset ended the manager's session
    for _ in range(3):
        await refused(hub.sign_in(PM, "wrong-pass"))
    assert (await refused(hub.sign_in(PM, reply.one_time_password))).code() == UNAUTH  # locked
    await hub.manage("Unlock", PM, ops)
    assert (await hub.sign_in(PM, reply.one_time_password)).person.must_change_password
    rows = [(r.actor, r.action) for r in await hub.store.audit_of(PM)]
    assert (f"person:{OPS_PERSON}", "password_reset") in rows
    assert (f"person:{OPS_PERSON}", "unlocked") in rows


async def test_a_person_removed_from_the_directory_loses_the_session(hub: Hub) -> None:
    ops = await hub.ready(OPS_PERSON)
    province = hub.province[0]
    hub.province[0] = replace(
        province, people=tuple(x for x in province.people if x.id != OPS_PERSON)
    )
    await hub.people.refresh()
    err = await refused(hub.stub.WhoAmI(p.WhoAmIRequest(), metadata=bearer(ops)))
    assert err.code() == UNAUTH


async def test_a_refused_call_is_audited_with_its_reason(hub: Hub) -> None:
    """The hub's people audit keeps why a call was refused, as the sites' audit does."""
    method = "Directory.ApplyChange"
    reason = "kind site may not call /vcc_proto.v1.Directory/ApplyChange"
    rows = [
        RefusalRow(1_000, "site/QJ", method, "PERMISSION_DENIED", reason),
        RefusalRow(2_000, "site/QJ", method, "PERMISSION_DENIED", "", count=7),
    ]
    for row in refusal_audit_rows(rows):
        await hub.store.audit(row)
    got = [(r.actor, r.action, r.detail) for r in await hub.store.audit_of(method)]
    assert got == [
        ("site/QJ", "refused:PERMISSION_DENIED", f"PERMISSION_DENIED: {reason}"),
        ("site/QJ", "refused:x7", "PERMISSION_DENIED: 7 more refused in the minute"),
    ]
