"""Rights on NATS and etcd, tried on real servers started with one user per node (as
``vcc up`` starts them) and a real hub process signed in as the hub.

NATS: an anonymous client (or a wrong password) is not let in; the site KM publishes its
own events but not QJ's, not directory deltas, and cannot create, delete or read streams
it has no business with. The hub dead-letters an event whose payload names another site
than its subject, and that changes nothing: QJ's genuine events are applied afterwards.
KM may not subscribe to another node's inboxes, nor create a consumer (a push consumer's
delivery subject would let the broker publish for it anywhere): it fetches deltas from the
pull consumer the hub made for it, and not from QJ's. Every stream has age, size and message
size limits.
etcd: an anonymous client reads nothing; QJ writes its own registration but not KM's,
not the routing map, not the leader key; a routing key rewritten by hand (as root) is put
back by the leading hub.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import dataclass

import nats
import nats.errors
import nats.js.errors
import pytest
from etcd3aio import EtcdError
from nats.js.api import ConsumerConfig, StreamConfig

from tests.integration._helpers.site import until
from tests.integration.test_event_replication import HubProcess, synthetic_events
from vcc_failover.lease import new_client
from vcc_ops.infra import Infrastructure
from vcc_ops.infra.access import ProvinceAccess
from vcc_proto.access import Credentials
from vcc_proto.names import LEADER_KEY, ROUTING_PREFIX, directory_consumer, site_key
from vcc_proto.v1 import events_pb2 as pb
from vcc_replication.dead_letters import list_dead_letters
from vcc_replication.events import encode, headers
from vcc_replication.jetstream import connect
from vcc_replication.streams import (
    DEAD_LETTER_STREAM,
    DIRECTORY_STREAM,
    DIRECTORY_SUBJECT,
    SITE_EVENTS_STREAM,
    site_events_subject,
)

pytestmark = pytest.mark.integration

KM_AREA_KEY = ROUTING_PREFIX + "0871"
REFUSED_PUBLISH_WAIT_S = 1.0  # a refused JetStream publish gets no acknowledgement


@dataclass
class Province:
    infra: Infrastructure
    access: ProvinceAccess
    hub: HubProcess

    def user(self, name: str) -> Credentials:
        return self.access.user(name).credentials


@pytest.fixture(scope="module")
def province(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Province]:
    tmp = tmp_path_factory.mktemp("rights")
    access = ProvinceAccess.generate(["hub"], ["KM", "QJ"], ["edge"])
    infra = Infrastructure(tmp / "infra", access=access).start()
    try:
        hub = HubProcess(
            tmp, infra.nats_url, infra.etcd_endpoints[0], env=access.env_for("hub")
        ).start()
        try:
            yield Province(infra, access, hub)
        finally:
            hub.stop()
    finally:
        infra.stop()


async def _holds(p: Province, stream: str, data: bytes) -> bool:
    """Whether ``stream`` holds a message with these bytes (read as the hub)."""
    nc = await connect(p.infra.nats_url, "test-as-hub", credentials=p.user("hub"))
    js = nc.jetstream()
    try:
        state = (await js.stream_info(stream)).state
        for seq in range(max(state.first_seq, 1), state.last_seq + 1):
            try:
                if (await js.get_msg(stream, seq)).data == data:
                    return True
            except nats.js.errors.NotFoundError:
                continue
        return False
    finally:
        await nc.drain()


async def _refused(attempt: object) -> bool:
    """True if the JetStream call ends in an error (a refused publish: no acknowledgement)."""
    try:
        await attempt  # type: ignore[misc]
    except (nats.errors.Error, nats.js.errors.Error, TimeoutError):
        return True
    return False


# -- NATS ---------------------------------------------------------------------------------


def test_anonymous_or_wrong_password_clients_are_not_let_into_nats(province: Province) -> None:
    async def attempt(user: str | None, password: str | None) -> BaseException | None:
        try:
            nc = await nats.connect(
                province.infra.nats_url,
                user=user,
                password=password,
                allow_reconnect=False,
                connect_timeout=5,
            )
        except Exception as exc:
            return exc
        await nc.close()
        return None

    assert "Authorization Violation" in repr(asyncio.run(attempt(None, None)))
    assert "Authorization Violation" in repr(asyncio.run(attempt("site-KM", "guess")))
    assert asyncio.run(attempt("site-KM", province.user("site-KM").password)) is None


def test_a_site_publishes_only_its_own_events_and_administers_nothing(
    province: Province,
) -> None:
    async def run() -> None:
        nc = await connect(province.infra.nats_url, "km", credentials=province.user("site-KM"))
        js = nc.jetstream()
        try:
            forged = b"a CDR of QJ, said KM"
            forged_delta = b"a delta, said KM"
            wait = REFUSED_PUBLISH_WAIT_S
            qj_subject = site_events_subject("QJ")
            assert await _refused(js.publish(qj_subject, forged, timeout=wait))
            assert await _refused(js.publish(DIRECTORY_SUBJECT, forged_delta, timeout=wait))
            assert await _refused(js.delete_stream(SITE_EVENTS_STREAM))
            assert await _refused(js.add_stream(StreamConfig(name="EVIL", subjects=["evil.>"])))
            assert await _refused(  # reading the other sites' events
                js.add_consumer(SITE_EVENTS_STREAM, ConsumerConfig(durable_name="spy"))
            )
            for deliver_to in (qj_subject, "_INBOX.site-KM.push"):  # the broker would
                push = ConsumerConfig(deliver_subject=deliver_to)  # publish for it there
                assert await _refused(js.add_consumer(DIRECTORY_STREAM, push))
            # what it may do: its own subject
            own = synthetic_events("KM", 1)[0]
            ack = await js.publish(
                site_events_subject("KM"), encode(own), headers=headers(own), timeout=10
            )
            assert ack.stream == SITE_EVENTS_STREAM
        finally:
            await nc.drain()
        assert await _holds(province, SITE_EVENTS_STREAM, encode(own))  # the control
        assert not await _holds(province, SITE_EVENTS_STREAM, forged)
        assert not await _holds(province, DIRECTORY_STREAM, forged_delta)
        hub = await connect(province.infra.nats_url, "hub", credentials=province.user("hub"))
        try:
            await hub.jetstream().stream_info(SITE_EVENTS_STREAM)  # still there
            assert await _refused(hub.jetstream().stream_info("EVIL"))  # never made
        finally:
            await hub.drain()

    asyncio.run(run())


def test_a_site_fetches_deltas_only_from_its_own_consumer(province: Province) -> None:
    """The hub makes a pull consumer of the directory stream per site; KM fetches from
    its own (a delta the hub publishes arrives) and not from QJ's."""

    async def run() -> None:
        hub = await connect(province.infra.nats_url, "hub", credentials=province.user("hub"))
        nc = await connect(province.infra.nats_url, "km", credentials=province.user("site-KM"))
        try:
            js = nc.jetstream()
            own = await js.pull_subscribe_bind(
                durable=directory_consumer("KM"), stream=DIRECTORY_STREAM
            )
            other = await js.pull_subscribe_bind(
                durable=directory_consumer("QJ"), stream=DIRECTORY_STREAM
            )
            delta = b"a delta of the hub"
            await hub.jetstream().publish(DIRECTORY_SUBJECT, delta, timeout=10)
            seen: list[bytes] = []  # the hub's own versions (its import) come first
            while delta not in seen:
                for msg in await own.fetch(10, timeout=10):
                    seen.append(msg.data)
                    await msg.ack()
            assert await _refused(other.fetch(1, timeout=REFUSED_PUBLISH_WAIT_S))
        finally:
            await nc.drain()
            await hub.drain()

    asyncio.run(run())


def test_a_site_reads_no_other_node_s_inbox(province: Province) -> None:
    """Replies and JetStream deliveries go to ``_INBOX.<user>.*``: KM may not subscribe to
    the hub's (where every site's events are delivered to it) nor to all inboxes."""

    async def run() -> None:
        errors: list[str] = []

        async def on_error(exc: Exception) -> None:
            errors.append(str(exc))

        km = province.user("site-KM")
        nc = await nats.connect(
            province.infra.nats_url,
            user=km.user,
            password=km.password,
            inbox_prefix="_INBOX.site-KM",
            error_cb=on_error,
        )
        try:
            for subject in ("_INBOX.hub.>", "_INBOX.>", "vcc.site.QJ.events"):
                await nc.subscribe(subject)

                async def refused(subject: str = subject) -> bool:
                    said = [e.lower() for e in errors]  # the client lowercases them
                    return any("subscription" in e and subject.lower() in e for e in said)

                await until(refused, f"the subscription to {subject} refused", 10)
            await nc.subscribe("_INBOX.site-KM.x")  # its own
            await nc.flush()
            assert not any("_inbox.site-km" in e.lower() for e in errors)
        finally:
            await nc.close()

    asyncio.run(run())


def test_an_event_naming_another_site_is_dead_lettered_and_changes_nothing(
    province: Province,
) -> None:
    """KM publishes QJ's events (a CDR among them) on its own subject: each is moved to the
    dead letters under KM at once, none is applied nor counted as QJ's; QJ's genuine
    events with the same sequences are then applied."""
    genuine = synthetic_events("QJ", 1)
    forged = []
    for e in genuine:
        copy = pb.SiteEvent()
        copy.CopyFrom(e)
        copy.event_id = f"evt_forged_{e.seq:06d}"  # QJ's own IDs are not guessable
        forged.append(copy)
    assert any(e.kind == "cdr.created" for e in forged)

    async def publish(user: str, site: str, events: list[pb.SiteEvent]) -> None:
        nc = await connect(province.infra.nats_url, user, credentials=province.user(user))
        try:
            for e in events:
                await nc.jetstream().publish(
                    site_events_subject(site), encode(e), headers=headers(e), timeout=10
                )
        finally:
            await nc.drain()

    async def forged_letters() -> int:
        nc = await connect(province.infra.nats_url, "ops", credentials=province.user("ops"))
        try:
            letters = await list_dead_letters(nc.jetstream(), limit=1000)
        finally:
            await nc.drain()
        return sum(1 for d in letters if d.reason == "site" and d.site == "KM")

    async def run() -> None:
        await publish("site-KM", "KM", forged)
        await until(
            lambda: _at_least(forged_letters, len(forged)), "the forgeries dead-lettered", 60
        )
        assert province.hub.rows("SELECT count(*) FROM inbox WHERE site = 'QJ'") == [(0,)]
        assert province.hub.rows("SELECT count(*) FROM cdrs WHERE site_id = 'QJ'") == [(0,)]
        assert (await province.hub.status("QJ")).contiguous_seq == 0

        await publish("site-QJ", "QJ", genuine)

        async def applied() -> bool:
            return (await province.hub.status("QJ")).contiguous_seq == len(genuine)

        await until(applied, "QJ's genuine events applied", 60)
        ids = province.hub.rows("SELECT event_id FROM inbox WHERE site = 'QJ' ORDER BY seq")
        assert [i for (i,) in ids] == [e.event_id for e in genuine]

    asyncio.run(run())


async def _at_least(count: object, n: int) -> bool:
    return await count() >= n  # type: ignore[operator]


# -- etcd ---------------------------------------------------------------------------------


def test_a_site_writes_only_its_own_etcd_keys(province: Province) -> None:
    endpoints = province.infra.etcd_endpoints

    async def run() -> None:
        async with new_client(endpoints, credentials=province.access.root) as root:
            assert root.kv is not None
            await root.kv.put(site_key("KM"), '{"grpc": "127.0.0.1:1"}')
            before = {k: await _value(root, k) for k in (site_key("KM"), LEADER_KEY)}
        async with new_client(endpoints, credentials=province.user("site-QJ")) as qj:
            kv = qj.kv
            assert kv is not None
            for key in (site_key("KM"), KM_AREA_KEY, LEADER_KEY, ROUTING_PREFIX + "9999"):
                with pytest.raises(EtcdError):
                    await kv.put(key, '{"sites": ["QJ"], "grpc": "127.0.0.1:2"}')
            with pytest.raises(EtcdError):
                await kv.delete(site_key("KM"))
            await kv.put(site_key("QJ"), '{"grpc": "127.0.0.1:3"}')  # its own: allowed
            await kv.delete(site_key("QJ"))
        async with new_client(endpoints) as anonymous:
            assert anonymous.kv is not None
            with pytest.raises(Exception, match="user name is empty"):
                await anonymous.kv.get(KM_AREA_KEY)
        async with new_client(endpoints, credentials=province.access.root) as root:
            after = {k: await _value(root, k) for k in before}
            assert "QJ" not in (await _value(root, KM_AREA_KEY) or "")
            assert await _value(root, ROUTING_PREFIX + "9999") is None
            assert root.kv is not None
            await root.kv.delete(site_key("KM"))
        assert after == before

    asyncio.run(run())


def test_the_hub_puts_back_a_routing_key_rewritten_in_etcd(province: Province) -> None:
    endpoints = province.infra.etcd_endpoints

    async def run() -> None:
        async with new_client(endpoints, credentials=province.user("site-KM")) as km:
            assert km.kv is not None and km.lease is not None
            lease = await km.lease.grant(30)
            await km.kv.put(site_key("KM"), '{"grpc": "127.0.0.1:1"}', lease=lease.ID)
            async with new_client(endpoints, credentials=province.access.root) as root:

                async def sites_of_0871() -> list[str] | None:
                    raw = await _value(root, KM_AREA_KEY)
                    return json.loads(raw)["sites"] if raw else None

                async def routes_to_km() -> bool:
                    return await sites_of_0871() == ["KM"]

                await until(routes_to_km, "the hub routes 0871 to KM", 30)
                assert root.kv is not None
                await root.kv.put(KM_AREA_KEY, json.dumps({"sites": ["QJ"], "revision": 1}))
                await root.kv.put(ROUTING_PREFIX + "9999", json.dumps({"sites": ["QJ"]}))
                await until(routes_to_km, "the hub puts 0871 back", 30)

                async def stray_gone() -> bool:
                    return await _value(root, ROUTING_PREFIX + "9999") is None

                await until(stray_gone, "the hub deletes an area it does not have", 30)
            await km.lease.revoke(lease.ID)

    asyncio.run(run())


async def _value(client: object, key: str) -> str | None:
    kv = client.kv  # type: ignore[attr-defined]
    response = await kv.get(key, timeout=5)
    return response.kvs[0].value.decode() if response.kvs else None


def test_the_hub_declares_every_stream_with_limits(province: Province) -> None:
    async def run() -> None:
        nc = await connect(province.infra.nats_url, "hub", credentials=province.user("hub"))
        try:
            for stream in (SITE_EVENTS_STREAM, DIRECTORY_STREAM, DEAD_LETTER_STREAM):
                config = (await nc.jetstream().stream_info(stream)).config
                assert config.max_age == 7 * 24 * 3600, stream
                assert config.max_bytes == 1024 * 1024 * 1024, stream
                assert config.max_msg_size == 1024 * 1024, stream
        finally:
            await nc.drain()

    asyncio.run(run())
