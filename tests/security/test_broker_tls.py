"""NATS and etcd over TLS, and signed directory versions, on a province started as ``vcc up``
starts it (a hub and the site KM, each its own process, with the province PKI).

NATS and etcd serve only TLS with their ``infra`` certificates: a plaintext client, or a
TLS client trusting another CA, is not let in even with a right password; one trusting
the province CA is. A directory delta published on the broker with the hub's own broker
credentials but not signed by a hub of the province (unsigned, signed by the site's key,
or the hub's certificate beside another key's signature) is refused by KM and counted,
and the agent it adds cannot sign in; the same change made through the hub is applied
and the agent signs in.

Password hashes written in the province file (or a change) reach only their home site:
no snapshot, delta (gRPC or broker) or signed hash carries one; KM asking as itself gets
its own people's hashes beside the snapshot, and a KM agent signs in with the file's
password.
"""

from __future__ import annotations

import asyncio
import json
import urllib.request
from collections.abc import Iterator
from typing import Any

import grpc
import nats
import pytest
from etcd3aio import Etcd3Client
from prometheus_client.parser import text_string_to_metric_families

from tests.integration._helpers.site import PASSWORD as FILE_PASSWORD
from tests.integration._helpers.site import TEST_HASH, until, with_test_password
from vcc_domain.directory_doc import apply_changes, document_hash
from vcc_domain.secrets import hash_secret
from vcc_failover.lease import new_client
from vcc_ops.cli import example_province_path
from vcc_ops.launch_tls import LaunchTls
from vcc_ops.launcher import ProvinceLauncher
from vcc_proto import pki
from vcc_proto.broker_tls import etcd_hostports, etcd_tls_options, nats_tls_options
from vcc_proto.names import LEADER_KEY
from vcc_proto.signing import DirectorySigner
from vcc_proto.tls import ClientTls
from vcc_proto.v1 import hub_pb2 as h
from vcc_proto.v1 import hub_pb2_grpc as hg
from vcc_proto.v1 import people_pb2 as pp
from vcc_proto.v1 import people_pb2_grpc as ppg
from vcc_replication.jetstream import MSG_ID_HEADER, connect
from vcc_replication.streams import DEAD_LETTER_STREAM, DIRECTORY_STREAM, DIRECTORY_SUBJECT
from vcc_site.sync.directory_wire import change_of

pytestmark = pytest.mark.integration

SITE, HUB = "KM", "hub-1"
AGENT, PASSWORD = "KM-9901", "forged-password-1"
OPS = pki.identity("ops", "vcc-ops")
CALL_TIMEOUT_S = 15.0


@pytest.fixture(scope="module")
def launcher(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProvinceLauncher]:
    workdir = tmp_path_factory.mktemp("brokertls")
    path = workdir / "province.toml"  # an operator wrote every agent's initial hash in it
    path.write_text(with_test_password(example_province_path().read_text()))
    province = ProvinceLauncher(path, workdir, sites=[SITE], edge=False)
    province.start()
    try:
        yield province
    finally:
        province.stop()


@pytest.fixture(scope="module")
def foreign_ca(tmp_path_factory: pytest.TempPathFactory) -> ClientTls:
    """A node of another province, with the right address in its certificate."""
    d = tmp_path_factory.mktemp("foreign")
    pki.init_ca(d)
    pki.issue(d, OPS, ips=["127.0.0.1"])
    return ClientTls(pki.node_dir(d, OPS))


def _ops_tls(launcher: ProvinceLauncher) -> ClientTls:
    return ClientTls(LaunchTls(launcher.workdir).certificate(OPS))


# -- NATS and etcd ------------------------------------------------------------------------


def test_nats_serves_only_tls_checked_against_the_province_ca(
    launcher: ProvinceLauncher, foreign_ca: ClientTls
) -> None:
    url = launcher.nats_url
    assert url.startswith("tls://")
    ops = launcher.access.user("ops").credentials

    async def attempt(server: str, **options: Any) -> BaseException | None:
        try:
            nc = await nats.connect(
                server,
                user=ops.user,
                password=ops.password,
                inbox_prefix="_INBOX.ops",
                allow_reconnect=False,
                connect_timeout=5,
                **options,
            )
        except Exception as exc:
            return exc
        try:
            await nc.jetstream().stream_info(DEAD_LETTER_STREAM)
        finally:
            await nc.close()
        return None

    plaintext = url.replace("tls://", "nats://")
    assert asyncio.run(attempt(plaintext)) is not None
    assert asyncio.run(attempt(url, **nats_tls_options(url, foreign_ca))) is not None
    assert asyncio.run(attempt(url, **nats_tls_options(url, _ops_tls(launcher)))) is None


def test_etcd_serves_only_tls_checked_against_the_province_ca(
    launcher: ProvinceLauncher, foreign_ca: ClientTls
) -> None:
    endpoints = launcher.etcd_endpoints
    assert all(e.startswith("https://") for e in endpoints)
    hostports, _ = etcd_hostports(endpoints)
    ops = launcher.access.user("ops").credentials

    async def read(client: Etcd3Client) -> None:
        async with client:
            assert client.kv is not None
            await client.kv.get(LEADER_KEY, timeout=5)

    async def refused(client: Etcd3Client) -> bool:
        try:
            await read(client)
        except Exception:
            return True
        return False

    async def run() -> None:
        plain = Etcd3Client(hostports, rpc_max_attempts=1)
        assert await refused(plain)
        foreign = Etcd3Client(
            hostports, rpc_max_attempts=1, **etcd_tls_options(hostports, foreign_ca)
        )
        assert await refused(foreign)
        await read(new_client(endpoints, credentials=ops))  # the province's CA: let in

    asyncio.run(run())


# -- signed directory versions ------------------------------------------------------------


def _metric(launcher: ProvinceLauncher, name: str, **labels: str) -> float:
    endpoint = launcher.node(f"site-{SITE}").metrics
    with urllib.request.urlopen(f"http://{endpoint}/metrics", timeout=10) as resp:
        text = resp.read().decode()
    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                total += sample.value
    return total


def _version(launcher: ProvinceLauncher) -> int:
    return int(_metric(launcher, "vcc_site_directory_version", site=SITE))


def _new_agent() -> h.DirectoryChange:
    entity = {
        "id": AGENT,
        "name": "Forged agent",
        "home_site": SITE,
        "role": "specialist",
        "skills": {"billing": 1},
        "password_hash": hash_secret(PASSWORD),
    }
    return h.DirectoryChange(
        op=h.DirectoryChange.OP_UPSERT,
        kind=h.ENTITY_KIND_AGENT,
        entity_id=AGENT,
        entity_json=json.dumps(entity).encode(),
    )


def _sign_in(launcher: ProvinceLauncher) -> pp.SignInReply | grpc.StatusCode:
    tls = _ops_tls(launcher)
    target = launcher.node(f"site-{SITE}").grpc
    with grpc.secure_channel(target, tls.credentials(), tls.options()) as channel:
        try:
            reply: pp.SignInReply = ppg.PeopleStub(channel).SignIn(
                pp.SignInRequest(person_id=AGENT, password=PASSWORD), timeout=CALL_TIMEOUT_S
            )
        except grpc.RpcError as err:
            code: grpc.StatusCode = err.code()
            return code
        return reply


def _hub_stub(launcher: ProvinceLauncher) -> tuple[grpc.Channel, hg.DirectoryStub]:
    tls = _ops_tls(launcher)
    channel = grpc.secure_channel(launcher.node(HUB).grpc, tls.credentials(), tls.options())
    return channel, hg.DirectoryStub(channel)


def _forgeries(launcher: ProvinceLauncher, change: h.DirectoryChange) -> list[h.DirectoryDelta]:
    """The next version adding the agent, with the right document hash, three ways wrong."""
    channel, stub = _hub_stub(launcher)
    with channel:
        snap = stub.GetSnapshot(h.GetSnapshotRequest(), timeout=CALL_TIMEOUT_S)
    version = snap.version + 1
    doc_hash = document_hash(apply_changes(json.loads(snap.document_json), [change_of(change)]))
    pki_dir = launcher.workdir / "pki"
    by_site = DirectorySigner(ClientTls(pki.node_dir(pki_dir, pki.identity("site", SITE))))
    site_signed = by_site.sign(version, doc_hash)
    hub_pem = (pki.node_dir(pki_dir, pki.identity("hub", HUB)) / pki.NODE_CERT).read_bytes()

    def delta(signature: bytes, certificate: bytes) -> h.DirectoryDelta:
        return h.DirectoryDelta(
            version=version,
            change_id="chg_forged",
            changes=[change],
            document_hash=doc_hash,
            signature=signature,
            signer_certificate=certificate,
        )

    return [
        delta(b"", b""),
        delta(site_signed.signature, site_signed.certificate),
        delta(site_signed.signature, hub_pem),
    ]


def test_a_forged_delta_is_refused_and_its_agent_cannot_sign_in(
    launcher: ProvinceLauncher,
) -> None:
    refused = "vcc_site_directory_refused_total"
    before = _version(launcher)
    assert before >= 1 and _metric(launcher, refused, site=SITE) == 0  # its own versions pass
    change = _new_agent()
    forged = _forgeries(launcher, change)
    hub_user = launcher.access.user(HUB).credentials

    async def publish() -> None:
        nc = await connect(launcher.nats_url, "forger", credentials=hub_user)
        try:
            for i, delta in enumerate(forged):
                await nc.jetstream().publish(
                    DIRECTORY_SUBJECT,
                    delta.SerializeToString(),
                    headers={MSG_ID_HEADER: f"forged-{i}"},
                    timeout=10,
                )
        finally:
            await nc.drain()

    asyncio.run(publish())

    async def all_refused() -> bool:
        return all(
            _metric(launcher, refused, site=SITE, reason=r) >= 1
            for r in ("unsigned", "signer", "signature")
        )

    asyncio.run(until(all_refused, "KM refuses the three forgeries", 60))
    assert _version(launcher) == before
    assert _sign_in(launcher) == grpc.StatusCode.UNAUTHENTICATED

    # the control: the same change made through the hub is signed, applied, and signs in
    channel, stub = _hub_stub(launcher)
    with channel:
        done = stub.ApplyChange(h.ApplyChangeRequest(changes=[change]), timeout=CALL_TIMEOUT_S)

    async def applied() -> bool:
        return _version(launcher) >= int(done.version)

    asyncio.run(until(applied, "KM applies the hub's version", 60))
    reply = _sign_in(launcher)
    assert isinstance(reply, pp.SignInReply) and reply.person.must_change_password


# -- password hashes only to their home site ----------------------------------------------


def _site_tls(launcher: ProvinceLauncher) -> ClientTls:
    return ClientTls(LaunchTls(launcher.workdir).certificate(pki.identity("site", SITE)))


def _directory_as_site(launcher: ProvinceLauncher) -> tuple[h.DirectorySnapshot, h.GetDeltasReply]:
    tls = _site_tls(launcher)
    target = launcher.node(HUB).grpc
    with grpc.secure_channel(target, tls.credentials(), tls.options()) as channel:
        stub = hg.DirectoryStub(channel)
        snap = stub.GetSnapshot(h.GetSnapshotRequest(site_id=SITE), timeout=CALL_TIMEOUT_S)
        deltas = stub.GetDeltas(
            h.GetDeltasRequest(since_version=0, site_id=SITE), timeout=CALL_TIMEOUT_S
        )
    return snap, deltas


def _broker_deltas(launcher: ProvinceLauncher) -> list[bytes]:
    hub_user = launcher.access.user(HUB).credentials

    async def read() -> list[bytes]:
        nc = await connect(launcher.nats_url, "reader", credentials=hub_user)
        try:
            js = nc.jetstream()
            info = await js.stream_info(DIRECTORY_STREAM)
            first, last = info.state.first_seq, info.state.last_seq
            msgs = [await js.get_msg(DIRECTORY_STREAM, seq) for seq in range(first, last + 1)]
        finally:
            await nc.drain()
        # the hub's own (the forgeries published above carry what their forger wrote)
        return [
            m.data or b"" for m in msgs if (m.headers or {}).get(MSG_ID_HEADER, "")[:4] == "dir-"
        ]

    return asyncio.run(read())


def test_password_hashes_reach_only_their_home_site(launcher: ProvinceLauncher) -> None:
    province = launcher.province
    dl_agent = province.agents_at("DL")[0]
    km_agent = province.agents_at(SITE)[0]
    assert dl_agent.password_hash == TEST_HASH  # the file gives every agent a hash
    snap, deltas = _directory_as_site(launcher)
    assert b"password_hash" not in snap.document_json and b"$argon2" not in snap.document_json
    assert document_hash(json.loads(snap.document_json)) == snap.document_hash  # signed as sent
    assert deltas.deltas  # the import and the changes since
    for delta in deltas.deltas:
        for change in delta.changes:
            assert b"$argon2" not in change.entity_json, change.entity_id
    published = _broker_deltas(launcher)
    assert published and not any(b"$argon2" in raw for raw in published)
    own = dict(snap.home_password_hashes)
    assert own.get(km_agent.id) == TEST_HASH and dl_agent.id not in own
    assert not any(p.home_site != SITE for p in province.agents if p.id in own)

    # the operator tool asking for KM gets no hash at all
    channel, stub = _hub_stub(launcher)
    with channel:
        ops_snap = stub.GetSnapshot(h.GetSnapshotRequest(site_id=SITE), timeout=CALL_TIMEOUT_S)
    assert not ops_snap.home_password_hashes

    # the file's hash still opens KM's agent's first sign-in at KM
    tls = _ops_tls(launcher)
    with grpc.secure_channel(
        launcher.node(f"site-{SITE}").grpc, tls.credentials(), tls.options()
    ) as channel:
        reply = ppg.PeopleStub(channel).SignIn(
            pp.SignInRequest(person_id=km_agent.id, password=FILE_PASSWORD),
            timeout=CALL_TIMEOUT_S,
        )
    assert reply.person.must_change_password
