"""People over the gRPC API of a real mutual-TLS server: a site's ``People`` service over
a site core (memory store, a manual clock), checked by the authorization interceptor with
the site's session hook, called through the ``ops`` desktop gateway's certificate with
the person's ``authorization: Bearer`` token.

Sign-in answers one error for every failure (unknown, wrong, another site's person,
locked); the initial password must be changed before anything else; sessions end on
sign-out, password change, reset, removal from the directory, and after the idle and
absolute limits of the clock; reset and unlock are refused for the wrong role
(PERMISSION_DENIED) and audited with the real actor for the right one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import grpc
import pytest

from tests.integration._helpers.site import PASSWORD, with_test_password
from vcc_domain.clock import ManualClock
from vcc_domain.people import SessionPolicy
from vcc_domain.province import Province, parse_province
from vcc_ops.cli import example_province_path
from vcc_proto import pki
from vcc_proto.authz_interceptor import AuthzInterceptor
from vcc_proto.people_servicer import people_service
from vcc_proto.server import GrpcHost
from vcc_proto.tls import ClientTls, ServerTls
from vcc_proto.v1 import people_pb2 as p
from vcc_proto.v1 import people_pb2_grpc as pg
from vcc_site.service.core import SiteCore
from vcc_site.service.people import WRONG_SIGN_IN, PeopleService
from vcc_site.service.recovery import seed_site
from vcc_site.store.memory import MemorySiteStore

INITIAL = PASSWORD  # the tests' initial password of everybody
NEW = "a-better-secret-1"
AGENT, AGENT_B, AGENT_C = "KM-0131", "KM-0133", "KM-0135"
LEADER, QA, ADMIN = "KM-0190", "KM-QA-0001", "ADMIN-01"
SITE = pki.identity("site", "KM")
OPS = pki.identity("ops", "desktop")
POLICY = SessionPolicy(idle_s=600, absolute_s=3600)
TIMEOUT_S = 10
DENIED, UNAUTH = grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.UNAUTHENTICATED


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("pki")
    pki.init_ca(d)
    pki.issue(d, SITE, ips=["127.0.0.1"])
    pki.issue(d, OPS)
    return d


@pytest.fixture(scope="module")
def province() -> Province:
    return parse_province(with_test_password(example_province_path().read_text()), "yunnan")


@dataclass
class Site:
    core: SiteCore
    people: PeopleService
    clock: ManualClock
    stub: pg.PeopleStub

    async def sign_in(self, who: str, password: str = INITIAL) -> p.SignInReply:
        reply: p.SignInReply = await self.stub.SignIn(
            p.SignInRequest(person_id=who, password=password), timeout=TIMEOUT_S
        )
        return reply

    async def ready(self, who: str) -> str:
        """Sign in with the initial password and change it: a usable token."""
        first = await self.sign_in(who)
        assert first.person.must_change_password
        changed = await self.stub.ChangePassword(
            p.ChangePasswordRequest(old_password=INITIAL, new_password=NEW),
            metadata=bearer(first.session_token),
            timeout=TIMEOUT_S,
        )
        assert not changed.person.must_change_password
        return str(changed.session_token)

    async def who(self, token: str) -> p.PersonView:
        view: p.PersonView = await self.stub.WhoAmI(
            p.WhoAmIRequest(), metadata=bearer(token), timeout=TIMEOUT_S
        )
        return view


def bearer(token: str) -> tuple[tuple[str, str]]:
    return (("authorization", f"Bearer {token}"),)


async def refused(call: object) -> grpc.aio.AioRpcError:
    try:
        await call  # type: ignore[misc]
    except grpc.aio.AioRpcError as exc:
        return exc
    raise AssertionError("the request was accepted")


@pytest.fixture
def clock() -> Iterator[ManualClock]:
    yield ManualClock()


@pytest.fixture
async def site(certs: Path, province: Province, clock: ManualClock) -> AsyncIterator[Site]:
    core = SiteCore(province, "KM", MemorySiteStore("KM"), clock)
    await seed_site(core, 0)
    people = PeopleService(core, POLICY)
    host = GrpcHost(
        "127.0.0.1",
        0,
        [people_service(people)],
        tls=ServerTls(pki.node_dir(certs, SITE)),
        authz=AuthzInterceptor(people.person_of),
    )
    await host.start()
    await host.set_serving(True)
    channel = ClientTls(pki.node_dir(certs, OPS)).channel(f"127.0.0.1:{host.port}")
    try:
        yield Site(core, people, clock, pg.PeopleStub(channel))
    finally:
        await channel.close()
        await host.stop(0)


async def test_sign_in_forces_a_password_change_first(site: Site) -> None:
    first = await site.sign_in(LEADER)
    assert first.person.role == "team_leader" and first.person.site_id == "KM"
    assert first.person.must_change_password
    assert (await site.who(first.session_token)).person_id == LEADER
    early = await refused(
        site.stub.Unlock(
            p.PersonRef(person_id=AGENT), metadata=bearer(first.session_token), timeout=TIMEOUT_S
        )
    )
    assert early.code() == DENIED and "change your initial password" in (early.details() or "")
    wrong_old = await refused(
        site.stub.ChangePassword(
            p.ChangePasswordRequest(old_password="not-the-one", new_password=NEW),
            metadata=bearer(first.session_token),
            timeout=TIMEOUT_S,
        )
    )
    assert wrong_old.code() == UNAUTH
    changed = await site.stub.ChangePassword(
        p.ChangePasswordRequest(old_password=INITIAL, new_password=NEW),
        metadata=bearer(first.session_token),
        timeout=TIMEOUT_S,
    )
    assert not changed.person.must_change_password
    stale = await refused(site.who(first.session_token))  # a change ends every session
    assert stale.code() == UNAUTH
    unlocked = await site.stub.Unlock(
        p.PersonRef(person_id=AGENT), metadata=bearer(changed.session_token), timeout=TIMEOUT_S
    )
    assert unlocked.person_id == AGENT
    old = await refused(site.sign_in(LEADER, INITIAL))
    assert old.code() == UNAUTH
    assert (await site.sign_in(LEADER, NEW)).person.must_change_password is False


async def test_one_error_for_unknown_wrong_other_site_and_locked(site: Site) -> None:
    answers = set()
    for who, password in [("KM-9999", "whatever-1"), (AGENT, "wrong-pass"), ("QJ-0001", INITIAL)]:
        err = await refused(site.sign_in(who, password))
        answers.add((err.code(), err.details()))
    for _ in range(3):  # the third failure locks
        await refused(site.sign_in(AGENT_B, "wrong-pass"))
    locked = await refused(site.sign_in(AGENT_B, INITIAL))  # right password, but locked
    answers.add((locked.code(), locked.details()))
    assert answers == {(UNAUTH, f"password: {WRONG_SIGN_IN}")}


async def test_sign_out_and_made_up_tokens_are_refused(site: Site) -> None:
    token = (await site.sign_in(AGENT)).session_token
    await site.stub.SignOut(p.SignOutRequest(), metadata=bearer(token), timeout=TIMEOUT_S)
    again = await site.stub.SignIn(  # a stale token sent along does not stop a sign-in
        p.SignInRequest(person_id=AGENT, password=INITIAL), metadata=bearer(token)
    )
    await site.stub.SignOut(p.SignOutRequest(), metadata=bearer(again.session_token))
    for bad in [token, "made-up-token"]:
        err = await refused(site.who(bad))
        assert err.code() == UNAUTH, bad
    malformed = await refused(
        site.stub.WhoAmI(
            p.WhoAmIRequest(), metadata=(("authorization", "Basic eA=="),), timeout=TIMEOUT_S
        )
    )
    assert malformed.code() == UNAUTH
    assert len(site.people.sessions) == 0


async def test_sessions_expire_when_idle_and_at_the_absolute_limit(site: Site) -> None:
    token = (await site.sign_in(AGENT)).session_token
    site.clock.advance(POLICY.idle_s - 1)
    assert (await site.who(token)).person_id == AGENT  # used: the idle time restarts
    site.clock.advance(POLICY.idle_s - 1)
    assert (await site.who(token)).person_id == AGENT
    site.clock.advance(POLICY.idle_s)
    assert (await refused(site.who(token))).code() == UNAUTH

    token = (await site.sign_in(AGENT)).session_token
    used = 0
    while used + POLICY.idle_s // 2 < POLICY.absolute_s:
        site.clock.advance(POLICY.idle_s // 2)
        used += POLICY.idle_s // 2
        assert (await site.who(token)).person_id == AGENT
    site.clock.advance(POLICY.absolute_s - used)
    assert (await refused(site.who(token))).code() == UNAUTH  # however busy


async def test_reset_by_the_wrong_role_is_refused_and_by_a_leader_audited(site: Site) -> None:
    agent, qa, leader = (
        (await site.ready(AGENT)),
        (await site.ready(QA)),
        (await site.ready(LEADER)),
    )
    target = await site.sign_in(AGENT_C)
    for token in (agent, qa):  # the table: only team leaders and site administrators
        err = await refused(
            site.stub.ResetPassword(
                p.PersonRef(person_id=AGENT_C), metadata=bearer(token), timeout=TIMEOUT_S
            )
        )
        assert err.code() == DENIED
    over = await refused(  # a team leader manages agents, not the site administrator
        site.stub.ResetPassword(
            p.PersonRef(person_id=ADMIN), metadata=bearer(leader), timeout=TIMEOUT_S
        )
    )
    assert over.code() == DENIED
    assert [a.action for a in await site.core.store.audit(AGENT_C)] == ["sign_in"]

    reply = await site.stub.ResetPassword(
        p.PersonRef(person_id=AGENT_C), metadata=bearer(leader), timeout=TIMEOUT_S
    )
    assert reply.person.must_change_password and len(reply.one_time_password) >= 12
    rows = [a for a in await site.core.store.audit(AGENT_C) if a.action == "password_reset"]
    assert [r.actor for r in rows] == [f"person:{LEADER}"]
    assert (await refused(site.who(target.session_token))).code() == UNAUTH  # revoked
    again = await site.sign_in(AGENT_C, reply.one_time_password)
    assert again.person.must_change_password


async def test_a_team_leader_unlocks_a_locked_agent(site: Site) -> None:
    leader = await site.ready(LEADER)
    for _ in range(3):
        await refused(site.sign_in(AGENT, "wrong-pass"))
    view = await site.who(leader)
    assert view.role == "team_leader"
    assert (await refused(site.sign_in(AGENT))).code() == UNAUTH  # locked
    unlocked = await site.stub.Unlock(
        p.PersonRef(person_id=AGENT), metadata=bearer(leader), timeout=TIMEOUT_S
    )
    assert unlocked.locked_until_ms == 0
    assert [a.actor for a in await site.core.store.audit(AGENT) if a.action == "unlocked"] == [
        f"person:{LEADER}"
    ]
    assert (await site.sign_in(AGENT)).person.person_id == AGENT


async def test_removal_from_the_directory_ends_the_session(site: Site) -> None:
    token = (await site.sign_in(AGENT)).session_token
    province = site.core.province
    site.core.province = replace(  # the directory no longer has the agent at this site
        province, agents=tuple(a for a in province.agents if a.id != AGENT)
    )
    assert (await refused(site.who(token))).code() == UNAUTH
    assert (await refused(site.sign_in(AGENT))).code() == UNAUTH


async def test_a_person_without_a_password_gets_one_from_the_site_admin(site: Site) -> None:
    newcomer = "KM-QA-0002"
    site.core.store.tables["credentials"].pop((newcomer,))  # type: ignore[attr-defined]
    assert (await refused(site.sign_in(newcomer))).code() == UNAUTH
    admin = await site.ready(ADMIN)
    reply = await site.stub.ResetPassword(
        p.PersonRef(person_id=newcomer), metadata=bearer(admin), timeout=TIMEOUT_S
    )
    assert reply.person.role == "quality_inspector"
    first = await site.sign_in(newcomer, reply.one_time_password)
    assert first.person.must_change_password
