"""Every RPC of every service, fuzzed with requests built from its descriptor, against one
real province (a hub, the site KM and the access edge over mutual TLS).

Each RPC is called with Hypothesis-generated requests (:mod:`tests.security.proto_strategies`)
as the operator tool and as every node kind the authorization table admits (a site's
``own_site`` field is set to its own ID half of the time, so the calls get past the
identity check). Every answer must be OK or a documented refusal, never INTERNAL or
UNKNOWN, and every process must still be alive and serving at the end. Random bytes a site
publishes on its own event subject are dead-lettered by the hub; other subjects refuse
them, and an anonymous client is not let in at all.

``VCC_FUZZ_EXAMPLES`` (default 25) sets the requests per RPC and caller;
``VCC_FUZZ_RANDOM=1`` draws new ones at every run instead of the same derandomized set.
"""

from __future__ import annotations

import asyncio
import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, cast

import grpc
import nats
import nats.errors
import nats.js.errors
import pytest
from google.protobuf.descriptor import MethodDescriptor
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.integration._helpers.site import until
from tests.security.proto_strategies import messages
from vcc_ops.cli import example_province_path
from vcc_ops.launch_tls import TRUNK_ID, LaunchTls
from vcc_ops.launcher import ProvinceLauncher
from vcc_ops.people_secrets import SHEET
from vcc_proto import pki
from vcc_proto.authz import TABLE, WITHOUT_SESSION
from vcc_proto.broker_tls import nats_tls_options
from vcc_proto.server import check_health
from vcc_proto.tls import ClientTls
from vcc_proto.v1 import (
    edge_pb2,
    events_pb2,
    hub_pb2,
    node_pb2,
    people_pb2,
    quality_pb2,
    site_pb2,
)
from vcc_proto.v1 import people_pb2_grpc as pg
from vcc_proto.v1 import site_pb2_grpc as sg
from vcc_replication.jetstream import connect
from vcc_replication.streams import (
    DEAD_LETTER_STREAM,
    DIRECTORY_SUBJECT,
    SITE_EVENTS_STREAM,
    site_events_subject,
)

pytestmark = pytest.mark.integration

EXAMPLES = int(os.environ.get("VCC_FUZZ_EXAMPLES", "25"))
RANDOM = os.environ.get("VCC_FUZZ_RANDOM") == "1"
CALL_TIMEOUT_S = 15.0
STREAM_TIMEOUT_S = 1.5  # a server stream is cut after this (or STREAM_READ messages)
STREAM_READ = 3
SITE = "KM"
HUB = "hub-1"
EDGE = "edge"
SITE_NODE = f"site-{SITE}"
HUB_CONSUMER = "vcc-hub-events"  # the hub's durable consumer of the site events

C = grpc.StatusCode
DOCUMENTED = frozenset({
    C.OK, C.INVALID_ARGUMENT, C.NOT_FOUND, C.FAILED_PRECONDITION, C.PERMISSION_DENIED,
    C.UNAUTHENTICATED, C.RESOURCE_EXHAUSTED, C.ALREADY_EXISTS, C.ABORTED, C.OUT_OF_RANGE,
})  # fmt: skip

# Where each service is served: the processes of this province (by launcher name).
SERVED_BY = {
    "Directory": (HUB,), "Routing": (HUB,), "Reports": (HUB,), "Replication": (HUB,),
    "Customers": (HUB,), "ProvinceWorkOrders": (HUB,),
    "Access": (SITE_NODE,), "AgentDesk": (SITE_NODE,), "Remote": (SITE_NODE,),
    "WorkOrders": (SITE_NODE,), "Quality": (SITE_NODE,),
    "Edge": (EDGE,),
    "People": (HUB, SITE_NODE),
    "Node": (HUB, SITE_NODE, EDGE),
}  # fmt: skip
# Where people sign in (the sheet's "signs in at") and the roles found there.
PEOPLE_AT = {HUB: "hub", SITE_NODE: SITE, EDGE: ""}
ROLES_AT = {
    SITE: ("agent", "team_leader", "quality_inspector", "data_maintenance", "site_admin"),
    "hub": ("province_manager", "operations"),
    "": (),
}
NEW_PASSWORD = "fuzzing-is-fun-1"
#: RPCs that may end the sessions the fuzzing uses: fuzzed after every other.
ENDS_SESSIONS = ("People.ChangePassword", "AgentDesk.Logout", "People.SignOut")
DESK_ROLES = ("agent",)  # people who take calls: signed in at a desk too
# The certificate each node kind presents here (ops: the operator tool's).
IDENTITY_OF_KIND = {
    "ops": pki.identity("ops", "vcc-ops"),
    "hub": pki.identity("hub", HUB),
    "site": pki.identity("site", SITE),
    "edge": pki.identity("edge", EDGE),
    "trunk": pki.identity("trunk", TRUNK_ID),
}


def _methods() -> list[MethodDescriptor]:
    out = []
    for module in (hub_pb2, site_pb2, edge_pb2, people_pb2, node_pb2, quality_pb2):
        for service in module.DESCRIPTOR.services_by_name.values():
            out.extend(service.methods)
    return out


def _cases() -> list[tuple[str, str, str]]:
    """(``Service.Method``, process, caller) for every RPC, process and admitted node kind
    (the operator tool always: it may be refused, and must be refused cleanly), and every
    admitted role of a person signed in at that process (``ops+<role>``: the operator
    tool's certificate carrying the person's session token, as the desktop gateway does)."""
    cases: list[tuple[str, str, str]] = []
    for method in _methods():
        key = f"{method.containing_service.name}.{method.name}"
        rule = TABLE[key]
        kinds = ["ops", *sorted(k for k in rule.nodes if k != "ops")]
        for process in SERVED_BY[method.containing_service.name]:
            cases.extend((key, process, kind) for kind in kinds)
            if "ops" in rule.nodes and key not in WITHOUT_SESSION:
                roles = sorted(rule.roles & set(ROLES_AT[PEOPLE_AT[process]]))
                cases.extend((key, process, f"ops+{role}") for role in roles)
    return sorted(
        cases, key=lambda case: ENDS_SESSIONS.index(case[0]) + 1 if case[0] in ENDS_SESSIONS else 0
    )  # those last


METHODS = {f"{m.containing_service.name}.{m.name}": m for m in _methods()}
SEEN: dict[str, Counter[str]] = {key: Counter() for key in METHODS}  # RPC -> codes answered


@dataclass
class Province:
    launcher: ProvinceLauncher
    channels: dict[tuple[str, str], grpc.Channel]  # (process, kind) -> channel
    people: dict[tuple[str, str], tuple[str, str]]  # (signs in at, role) -> (ID, token)
    desks: dict[str, str]  # role -> the session token of its person's desk (Login)

    def channel(self, process: str, kind: str) -> grpc.Channel:
        key = (process, kind)
        if key not in self.channels:
            tls = ClientTls(LaunchTls(self.launcher.workdir).certificate(IDENTITY_OF_KIND[kind]))
            target = self.launcher.node(process).grpc
            self.channels[key] = grpc.secure_channel(target, tls.credentials(), tls.options())
        return self.channels[key]

    def alive(self) -> dict[str, bool]:
        return {name: proc.alive for name, proc in self.launcher.processes.items()}


@pytest.fixture(scope="module")
def province(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Province]:
    launcher = ProvinceLauncher(
        example_province_path(), tmp_path_factory.mktemp("fuzz"), sites=[SITE]
    )
    launcher.start()
    p = Province(launcher, {}, {}, {})
    _sign_in_one_per_role(p)
    try:
        yield p
    finally:
        for channel in p.channels.values():
            channel.close()
        launcher.stop()


def _sign_in_one_per_role(p: Province) -> None:
    """Sign in one person of every role (at KM and at the hub) and change the initial
    password: a session token that passes the role check."""
    sheet = (p.launcher.workdir / SHEET).read_text(encoding="utf-8").splitlines()[1:]
    wanted: dict[tuple[str, str], str] = {}
    for row in sheet:
        at, person, role, _name, _secret = row.split("\t")
        wanted.setdefault((at, role), person)
    secrets = p.launcher.initial_secrets()
    for (at, role), person in wanted.items():
        process = HUB if at == "hub" else f"site-{at}"
        if process not in (HUB, SITE_NODE):
            continue
        stub = pg.PeopleStub(p.channel(process, "ops"))
        first = stub.SignIn(
            people_pb2.SignInRequest(person_id=person, password=secrets[person]),
            timeout=CALL_TIMEOUT_S,
        )
        changed = stub.ChangePassword(
            people_pb2.ChangePasswordRequest(
                old_password=secrets[person], new_password=NEW_PASSWORD
            ),
            metadata=_bearer(first.session_token),
            timeout=CALL_TIMEOUT_S,
        )
        p.people[(at, role)] = (person, changed.session_token)
        if process == SITE_NODE and role in DESK_ROLES:
            desk = sg.AgentDeskStub(p.channel(process, "ops")).Login(
                site_pb2.LoginRequest(agent_id=person, password=NEW_PASSWORD, device="fuzz"),
                metadata=_bearer(changed.session_token),
                timeout=CALL_TIMEOUT_S,
            )
            p.desks[role] = desk.session_token


def _bearer(token: str) -> tuple[tuple[str, str]]:
    return (("authorization", f"Bearer {token}"),)


def _set_dotted(msg: Message, path: str, value: str) -> None:
    *parents, last = path.split(".")
    for name in parents:
        msg = getattr(msg, name)
    setattr(msg, last, value)


def _call(
    channel: grpc.Channel,
    method: MethodDescriptor,
    request: Message,
    metadata: tuple[tuple[str, str], ...] = (),
) -> grpc.StatusCode:
    path = f"/{method.containing_service.full_name}/{method.name}"
    reply = GetMessageClass(method.output_type)
    if method.server_streaming:
        stream = channel.unary_stream(
            path, request_serializer=type(request).SerializeToString,
            response_deserializer=reply.FromString,
        )(request, timeout=STREAM_TIMEOUT_S, metadata=metadata)  # fmt: skip
        try:
            for i, _ in enumerate(stream):
                if i + 1 >= STREAM_READ:
                    stream.cancel()
                    break
        except grpc.RpcError as err:
            code = err.code()
            return C.OK if code in (C.CANCELLED, C.DEADLINE_EXCEEDED) else code
        return C.OK
    try:
        channel.unary_unary(
            path, request_serializer=type(request).SerializeToString,
            response_deserializer=reply.FromString,
        )(request, timeout=CALL_TIMEOUT_S, metadata=metadata)  # fmt: skip
    except grpc.RpcError as err:
        return err.code()
    return C.OK


# Refused (its kind does not match its body) and naming a site no subject may hold: the
# dead letter must not be published under that name (a protocol error closed the hub's
# connection, and the hub consumed nothing more).
BAD_SITE_EVENT = events_pb2.SiteEvent(
    site="K M.*\r\n", seq=7, event_id="evt_fuzz", kind="no.such", at_ms=1,
    call_offered=events_pb2.CallOffered(),
)  # fmt: skip


def _site_events(draw_event: Message, as_itself: bool) -> Message:
    """A fuzzed site event made to look like KM's (its site, a kind matching its body)."""
    event = cast(events_pb2.SiteEvent, draw_event)
    body = event.WhichOneof("body")
    if as_itself:
        event.site = SITE
        if body:
            event.kind = "work_order.created" if body == "work_order" else body.replace("_", ".")
    return event


async def _hub_caught_up(p: Province) -> bool:
    """Whether the hub's consumer has taken every event of the stream."""
    creds = p.launcher.access.user(HUB).credentials
    nc = await connect(p.launcher.nats_url, "fuzz-reader", credentials=creds)
    try:
        info = await nc.jetstream().consumer_info(SITE_EVENTS_STREAM, HUB_CONSUMER)
        return bool(info.num_pending == 0 and info.num_ack_pending == 0)
    finally:
        await nc.drain()


def test_fuzzed_site_events_from_the_site_leave_the_hub_serving(province: Province) -> None:
    """Well-formed protobuf events with fuzzed values, as KM publishes them: the hub takes
    each (applies or dead-letters it) and stays up; the RPC fuzzing that follows runs
    against whatever they left in the hub's stores."""

    @settings(max_examples=EXAMPLES, deadline=None, derandomize=not RANDOM, database=None,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(
        events=st.lists(
            st.tuples(messages(events_pb2.SiteEvent.DESCRIPTOR), st.booleans()), max_size=5
        )
    )
    @example(events=[(BAD_SITE_EVENT, False)])
    def fuzz(events: list[tuple[Message, bool]]) -> None:
        payloads = [_site_events(e, mine).SerializeToString() for e, mine in events]
        payloads = [data for data in payloads if data]
        stored = asyncio.run(_publish_all(province, site_events_subject(SITE), payloads))
        assert all(stored), "the site's own subject refused a publish"
        assert province.alive()[HUB], "the hub died on a fuzzed event"

    fuzz()
    asyncio.run(until(lambda: _hub_caught_up(province), "the hub took every event", 60.0))
    assert all(province.alive().values()), province.alive()


@pytest.mark.parametrize(("rpc", "process", "kind"), _cases())
def test_every_rpc_answers_fuzzed_requests_with_a_documented_status(
    province: Province, rpc: str, process: str, kind: str
) -> None:
    method = METHODS[rpc]
    own_site = TABLE[rpc].own_site if kind == "site" else ""
    node_kind, _, role = kind.partition("+")
    channel = province.channel(process, node_kind)
    person, metadata = "", cast(tuple[tuple[str, str], ...], ())
    if role:
        person, token = province.people[(PEOPLE_AT[process], role)]
        metadata = _bearer(token)
    own_person = TABLE[rpc].own_person if role else ""
    person_field = own_person if own_person in method.input_type.fields_by_name else ""
    desk = province.desks.get(role, "") if process == SITE_NODE else ""
    if "session_token" not in method.input_type.fields_by_name:
        desk = ""

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=not RANDOM,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(request=messages(method.input_type), as_itself=st.booleans())
    def fuzz(request: Message, as_itself: bool) -> None:
        if own_site and as_itself:
            _set_dotted(request, own_site, SITE)
        if person_field == "agent_id" and as_itself:
            setattr(request, person_field, person)
        if desk and as_itself:
            request.session_token = desk  # type: ignore[attr-defined]
        code = _call(channel, method, request, metadata)
        SEEN[rpc][code.name] += 1
        assert code in DOCUMENTED, f"{rpc} on {process} as {kind}: {code.name}"
        assert province.alive()[process], f"{process} died on {rpc}"

    fuzz()


# -- NATS ---------------------------------------------------------------------------------


async def _dead_lettered(p: Province, payloads: set[bytes]) -> set[bytes]:
    """Which of ``payloads`` the dead-letter stream holds (read as the operator tool)."""
    creds = p.launcher.access.user(HUB).credentials
    nc = await connect(p.launcher.nats_url, "fuzz-reader", credentials=creds)
    js = nc.jetstream()
    found: set[bytes] = set()
    try:
        state = (await js.stream_info(DEAD_LETTER_STREAM)).state
        for seq in range(max(state.first_seq, 1), state.last_seq + 1):
            try:
                data = (await js.get_msg(DEAD_LETTER_STREAM, seq)).data
            except nats.js.errors.NotFoundError:
                continue
            if data in payloads:
                found.add(data)
        return found
    finally:
        await nc.drain()


async def _publish_all(
    p: Province, subject: str, payloads: list[bytes], timeout_s: float = 2.0
) -> list[bool]:
    """Publish each payload on ``subject`` as the site; True where JetStream stored it."""
    creds = p.launcher.access.user(SITE_NODE).credentials
    nc = await connect(p.launcher.nats_url, "fuzz-site", credentials=creds)
    js = nc.jetstream()
    out = []
    try:
        for data in payloads:
            try:
                await js.publish(subject, data, timeout=timeout_s)
                out.append(True)
            except (nats.errors.Error, nats.js.errors.Error, TimeoutError):
                out.append(False)
        return out
    finally:
        await nc.drain()


PAYLOADS = st.lists(st.binary(min_size=1, max_size=2048), min_size=5, max_size=20, unique=True)
# a refused publish is only known when its acknowledgement does not come
REFUSED = st.lists(st.binary(min_size=1, max_size=2048), min_size=1, max_size=3, unique=True)


def test_random_bytes_on_a_sites_event_subject_are_dead_lettered(province: Province) -> None:
    @settings(max_examples=3, deadline=None, derandomize=not RANDOM, database=None,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(payloads=PAYLOADS)
    def fuzz(payloads: list[bytes]) -> None:
        stored = asyncio.run(_publish_all(province, site_events_subject(SITE), payloads))
        assert all(stored), "the site's own subject refused a publish"
        wanted = set(payloads)

        async def all_dead_lettered() -> bool:
            return await _dead_lettered(province, wanted) == wanted

        asyncio.run(until(all_dead_lettered, "every random payload dead-lettered", 60.0))
        assert all(province.alive().values()), province.alive()

    fuzz()


@pytest.mark.parametrize(
    "subject",
    [site_events_subject("QJ"), DIRECTORY_SUBJECT, "vcc.deadletter.KM", "$JS.API.STREAM.DELETE.X"],
)
def test_random_bytes_elsewhere_are_refused(province: Province, subject: str) -> None:
    @settings(max_examples=3, deadline=None, derandomize=not RANDOM, database=None,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(payloads=REFUSED)
    def fuzz(payloads: list[bytes]) -> None:
        stored = asyncio.run(_publish_all(province, subject, payloads, timeout_s=0.5))
        assert not any(stored), f"{subject} took a site's publish"

    fuzz()


def test_an_anonymous_client_cannot_publish_at_all(province: Province) -> None:
    """Over TLS with the province CA but no user: not let in; in plaintext: no TLS, no
    conversation at all."""
    url = province.launcher.nats_url

    async def attempt(**tls: Any) -> BaseException | None:
        try:
            nc = await nats.connect(url, allow_reconnect=False, connect_timeout=5, **tls)
        except Exception as exc:
            return exc
        await nc.publish(site_events_subject(SITE), b"anonymous")
        await nc.close()
        return None

    assert "Authorization Violation" in repr(asyncio.run(attempt(**nats_tls_options(url))))
    assert asyncio.run(attempt()) is not None


def test_every_process_is_still_alive_and_serving(province: Province) -> None:
    for rpc, codes in SEEN.items():  # shown with -s: how deep the requests got
        print(f"{rpc:40} {dict(codes.most_common())}")
    assert all(province.alive().values()), province.alive()
    for name in (HUB, SITE_NODE, EDGE):
        node = province.launcher.node(name)
        assert asyncio.run(
            check_health(node.grpc, 5.0, tls=province.launcher.client_tls, pid=node.pid)
        ), f"{name} is not serving"
