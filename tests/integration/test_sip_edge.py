"""Callers over SIP, end to end with real parts: SIPp callers on a trunk, Kamailio as the
province's SIP edge (``vcc sip-edge``), each site's SIP agent (``vcc sip-agent``, sippy)
driving the real site process over gRPC, and SIPp agent phones registered at the edge.

One province for the module: etcd, NATS, the hub (routing-map writer), sites KM and YX
(YX is the next-nearest site of KM's area 0871), both with a SIP agent and one agent
phone each; KM's agent anchors callers' media at an rtpengine (when installed) and
records answered calls. Skipped, naming the packages to install, where Kamailio or SIPp
are missing (the recording test alone where rtpengine is).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest

from tests.integration._helpers.hook import Hook, set_pin
from tests.integration._helpers.province import Node, hub_node, site_node
from tests.integration._helpers.site import PASSWORD, Client, fast_province, open_test_seat
from tests.integration._helpers.tls import cert_dir
from tests.sip.scenarios import caller_scenario, need_sip_tools, scenario
from vcc_domain.recordings import beijing_date
from vcc_ops.infra import EtcdServer, ManagedProcess, NatsServer, free_port
from vcc_ops.infra.kamailio import kill_leftover
from vcc_ops.infra.rtpengine import INSTALL_HINT as RTPENGINE_INSTALL
from vcc_ops.infra.rtpengine import RtpEngine
from vcc_ops.recordings_cli import fetch_recording, list_recordings
from vcc_ops.traffic.seat import seat_password
from vcc_proto.channels import open_channel
from vcc_proto.v1 import common_pb2 as c
from vcc_proto.v1 import people_pb2 as p
from vcc_proto.v1 import people_pb2_grpc as pg
from vcc_proto.v1 import quality_pb2 as qp
from vcc_proto.v1 import quality_pb2_grpc as qg
from vcc_proto.v1 import site_pb2 as s
from vcc_proto.v1 import site_pb2_grpc as sg
from vcc_site.store.customers import phone_for

HOST = "127.0.0.1"
PHONES = {"KM": "KM-0130", "YX": "YX-0023"}  # general agents: they take 1000 and 170
SIPP_TIMEOUT_S = 40
RING_S = 4  # the ACD's ring-no-answer timer in this module's province
QA_INSPECTOR, OTHER_AGENT = "KM-QA-0001", "KM-0002"  # KM's inspector; an agent without a phone
TALK_AUDIO = Path("/usr/share/sip-tester/g711a.pcap")  # sip-tester's 7 s of G.711 A-law


@dataclass
class SipProvince:
    tmp: Path
    nodes: dict[str, Node]
    edge: str  # Kamailio host:port
    trunk_port: int
    agents: dict[str, ManagedProcess]
    etcd: str
    sip_ports: dict[str, int]
    hook: Hook  # the sites' notifier webhook (one-time PIN codes)
    rtpengine: RtpEngine | None  # KM's media relay and recorder, where installed


def _wait_file(path: Path, proc: ManagedProcess, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not path.exists():
        if not proc.alive:
            raise AssertionError(f"{proc.name} exited: {proc.log_tail(40)}")
        if time.monotonic() > deadline:
            raise AssertionError(f"{proc.name} not ready in time: {proc.log_tail(40)}")
        time.sleep(0.1)


def _vcc(*args: str) -> list[str]:
    return [sys.executable, "-m", "vcc_ops.cli", *args]


def _sip_edge(
    tmp: Path,
    name: str,
    etcd: str,
    sip_ports: dict[str, int],
    edge_port: int,
    trunk_port: int,
    *extra: str,
) -> ManagedProcess:
    """A started ``vcc sip-edge`` (Kamailio in ``tmp/name``), ready."""
    proc = ManagedProcess(
        f"sip-{name}",
        _vcc(
            "sip-edge",
            "--province",
            str(tmp / "province.toml"),  # as the sites read it (see the fixture)
            "--etcd",
            etcd,
            "--site-sip",
            ",".join(f"{site}={HOST}:{port}" for site, port in sip_ports.items()),
            "--trunk",
            f"{HOST}:{trunk_port}",
            "--sip-port",
            str(edge_port),
            "--workdir",
            str(tmp / name),
            "--log-file",
            str(tmp / f"sip-{name}.log"),
            "--tls-dir",
            str(cert_dir("edge", "sip-edge")),  # reads the routing map as an access edge
            *extra,
        ),
        tmp / f"sip-{name}.out",
        env=_child_env(),
    )
    proc.start()
    _wait_file(tmp / name / "sip-edge.ready", proc)
    return proc


def _child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("VCC_INSECURE", "VCC_TLS_DIR")}
    return {**env, "SIPLOG_BEND": "none"}


def _phone_password(node: Node, agent_id: str) -> str:
    """The agent's password once the initial one is changed, as a person does at the
    first sign-in (a checked site signs nobody in with an initial password)."""

    async def change() -> None:
        async with open_channel(node.target) as channel:
            desk = sg.AgentDeskStub(channel)
            reply = await open_test_seat(desk, pg.PeopleStub(channel), node.target, agent_id)
            await desk.Logout(s.SessionRef(session_token=reply.session_token), timeout=5)

    asyncio.run(change())
    return seat_password(PASSWORD)


@pytest.fixture(scope="module")
def sip(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SipProvince]:
    need_sip_tools()
    tmp = tmp_path_factory.mktemp("sip")
    etcd, nats = EtcdServer(tmp / "etcd"), NatsServer(tmp / "nats")
    etcd.start()
    nats.start()
    procs: list[ManagedProcess | Node | RtpEngine] = []
    hook = Hook()
    try:
        nodes = {"hub": hub_node(tmp, nats.url, etcd.endpoint)}
        for site in PHONES:
            env = {"VCC_NOTIFY_WEBHOOK": hook.url}
            nodes[site] = site_node(tmp, site, nats.url, etcd.endpoint, env=env)
        # a ring timer a loaded machine's SIP round trips fit in (each node writes the
        # default 2 s file when built; all read this one when launched)
        fast_province(tmp, ring_s=RING_S)
        for node in nodes.values():
            procs.append(node.launch())

        async def healthy() -> None:
            await asyncio.gather(*(n.healthy() for n in nodes.values()))

        asyncio.run(healthy())
        rtpengine = None
        if shutil.which("rtpengine"):
            # it records into KM's recordings folder (the site's default, in its data dir)
            rtpengine = RtpEngine(tmp / "rtpengine", recording_dir=tmp / "site-KM-data/recordings")
            rtpengine.start()
            procs.append(rtpengine)
        sip_ports = {site: free_port() for site in PHONES}
        edge_port, trunk_port = free_port(), free_port()
        edge = f"{HOST}:{edge_port}"
        kamailio = _sip_edge(tmp, "edge", etcd.endpoint, sip_ports, edge_port, trunk_port)
        procs.append(kamailio)
        agents = {}
        for site, agent_id in PHONES.items():
            media = []
            if site == "KM" and rtpengine is not None:
                media = ["--rtpengine", f"{HOST}:{rtpengine.ng_port}"]
            phones = tmp / f"phones-{site}.txt"
            phones.write_text(f"{agent_id} {_phone_password(nodes[site], agent_id)}\n")
            phones.chmod(0o600)
            agents[site] = ManagedProcess(
                f"sip-agent-{site}",
                _vcc(
                    "sip-agent",
                    "--site-grpc",
                    nodes[site].target,
                    "--port",
                    str(sip_ports[site]),
                    "--edge",
                    edge,
                    "--phones",
                    str(phones),
                    "--ready-file",
                    str(tmp / f"sip-agent-{site}.ready"),
                    "--log-file",
                    str(tmp / f"sip-agent-{site}.log"),
                    "--etcd",
                    etcd.endpoint,
                    # callers' calls as an access edge, the phone's desk as a gateway
                    "--tls-dir",
                    str(cert_dir("edge", f"sip-{site}")),
                    "--desk-tls-dir",
                    str(cert_dir("ops", f"sip-{site}")),
                    *media,
                ),
                tmp / f"sip-agent-{site}.out",
                env=_child_env(),
            )
            agents[site].start()
            procs.append(agents[site])
        for site in PHONES:
            _wait_file(tmp / f"sip-agent-{site}.ready", agents[site])
        yield SipProvince(
            tmp, nodes, edge, trunk_port, agents, etcd.endpoint, sip_ports, hook, rtpengine
        )
    finally:
        for proc in reversed(procs):
            proc.stop()
        kill_leftover(tmp / "edge")
        kill_leftover(tmp / "full-edge")
        nats.stop()
        etcd.stop()
        hook.close()


class Phone:
    """A SIPp agent phone: listening (phone.xml), then registered at the edge."""

    def __init__(self, sip: SipProvince, agent_id: str, xml: str = "phone.xml", *keys: str) -> None:
        self.sip, self.agent_id = sip, agent_id
        self.port = free_port()
        self.log = sip.tmp / f"phone-{agent_id}-{self.port}.log"
        self.proc = subprocess.Popen(
            _sipp(
                scenario(xml),
                self.port,
                "-log_file",
                str(self.log),
                "-trace_logs",
                "-trace_msg",
                *keys,
            ),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            cwd=sip.tmp,
        )
        register = subprocess.run(
            _sipp(
                scenario("register.xml"),
                free_port(),
                sip.edge,
                "-key",
                "agent",
                agent_id,
                "-key",
                "contact",
                f"{HOST}:{self.port}",
            ),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=SIPP_TIMEOUT_S,
            cwd=sip.tmp,
        )
        assert register.returncode == 0, register.stderr.decode()[-2000:]

    def finished(self) -> str:
        """Wait for the phone's call to end; the vcc call ID it was rung for."""
        _, err = self.proc.communicate(timeout=SIPP_TIMEOUT_S)
        assert self.proc.returncode == 0, f"phone: {err.decode()[-2000:]}"
        for line in self.log.read_text().splitlines():
            if line.startswith("vcc-call-id ") and len(line.split()) > 1:
                return line.split()[1]
        raise AssertionError(f"the phone logged no call ID: {self.log.read_text()[-2000:]}")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def _sipp(xml: Path, port: int, *rest: str) -> list[str]:
    return [
        "sipp",
        "-sf",
        str(xml),
        "-i",
        HOST,
        "-p",
        str(port),
        "-m",
        "1",
        "-timeout",
        f"{SIPP_TIMEOUT_S}s",
        "-timeout_error",
        "-nostdin",
        *rest,
    ]


def _call(
    sip: SipProvince, caller: str, dialed: str, keys: str, template: str = "caller"
) -> subprocess.CompletedProcess[bytes]:
    xml = caller_scenario(sip.tmp, keys, template)
    return subprocess.run(
        _sipp(xml, sip.trunk_port, sip.edge, "-s", dialed, "-key", "caller", caller),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=SIPP_TIMEOUT_S + 10,
        cwd=sip.tmp,
    )


def _view(node: Node, call_id: str) -> s.CallView:
    async def read() -> s.CallView:
        async with open_channel(node.target) as channel:
            return await sg.AccessStub(channel).GetCall(s.CallRef(call_id=call_id), timeout=5)

    return asyncio.run(read())


def test_keys_walk_the_ivr_and_the_agents_phone_rings(sip: SipProvince) -> None:
    """An invalid key is reprompted, 0 queues for an agent, whose phone rings, answers
    and hangs up; the caller is released."""
    phone = Phone(sip, PHONES["KM"])
    try:
        done = _call(sip, phone_for("0871", 3), "1000", "90")
        assert done.returncode == 0, done.stderr.decode()[-3000:]
        call_id = phone.finished()
    finally:
        phone.close()
    view = _view(sip.nodes["KM"], call_id)
    path = [(st.node_id, st.digits) for st in view.ivr_path]
    assert path[:2] == [("main", "9(invalid)"), ("main", "0")], path  # reprompted after 9
    assert view.agent_id == PHONES["KM"] and view.answered_at_ms > 0
    assert view.state == c.CALL_STATE_ENDED, c.CallState.Name(view.state)
    assert view.caller_number.endswith(phone_for("0871", 3)[-4:])  # the trunk's (masked)


def _pcap_span(path: Path) -> tuple[int, float]:
    """Packets in a pcap file and the seconds from its first to its last."""
    data = path.read_bytes()
    at, stamps = 24, []
    while at + 16 <= len(data):
        sec, usec, size, _ = struct.unpack("<IIII", data[at : at + 16])
        stamps.append(sec + usec / 1e6)
        at += 16 + size
    return len(stamps), (stamps[-1] - stamps[0]) if stamps else 0.0


def test_answered_call_is_recorded_at_the_site_for_its_talk_time(sip: SipProvince) -> None:
    """The caller talks (real RTP through rtpengine, where the site's SIP agent anchored
    it); from the agent's answer to the hang-up rtpengine records it into a pcap in the
    site's recordings folder, as long as the site's own talk time (within 0.5 s). The SIP
    agent reports it: the site files it with its metadata, a quality inspector lists and
    plays it (audited), an agent is refused. Placed before the tests that leave KM's
    agent not ready (ring-no-answer) or KM dead (site killed)."""
    if sip.rtpengine is None:
        pytest.skip(f"rtpengine not installed: {RTPENGINE_INSTALL}")
    if not TALK_AUDIO.exists():
        pytest.skip(f"{TALK_AUDIO} missing: apt-get install -y sip-tester")
    phone = Phone(sip, PHONES["KM"], "phone_talks.xml")
    try:
        done = _call(sip, phone_for("0871", 5), "1000", "0", "caller_talks")
        assert done.returncode == 0, done.stderr.decode()[-3000:]
        call_id = phone.finished()
    finally:
        phone.close()
    view = _view(sip.nodes["KM"], call_id)
    assert view.agent_id == PHONES["KM"] and view.answered_at_ms > 0 and view.ended_at_ms > 0
    talk_s = (view.ended_at_ms - view.answered_at_ms) / 1000
    row = _recording_row(sip.nodes["KM"], call_id)
    path = sip.rtpengine.recording_dir / row["file_path"]
    packets, span_s = _pcap_span(path)
    assert packets > 50, f"{packets} packets recorded in {path}"
    print(f"recorded {packets} packets over {span_s:.2f} s; talk time {talk_s:.2f} s")
    assert abs(span_s - talk_s) <= 0.5, f"recorded {span_s:.2f} s, talk time {talk_s:.2f} s"
    assert abs(row["duration_ms"] / 1000 - talk_s) <= 0.5, (row, talk_s)
    data = path.read_bytes()
    assert row["size_bytes"] == len(data) and row["sha256"] == hashlib.sha256(data).hexdigest()
    assert json.loads(row["agents"]) == [PHONES["KM"]] and json.loads(row["legs"]) == ["caller"]
    assert row["business_id"] == view.business_id and row["started_at_ms"] > 0
    log_text = (sip.tmp / "sip-agent-KM.log").read_text()
    found = re.search(
        rf"recorded call {call_id} \(SIP ([^)]+)\) agent (\S+): ([0-9.]+) s", log_text
    )
    assert found is not None, log_text[-2000:]
    assert row["sip_call_id"] == found.group(1) and found.group(2) == PHONES["KM"]
    _quality_inspector_plays(sip.nodes["KM"], row)


def _recording_row(node: Node, call_id: str, timeout_s: float = 30.0) -> dict[str, Any]:
    """The site's row of the call's recording, once the SIP agent reported it."""
    deadline = time.monotonic() + timeout_s
    while True:
        rows = node.rows("select * from recordings where call_id = ?", call_id)
        if rows:
            columns = [r[1] for r in node.rows("pragma table_info(recordings)")]
            return dict(zip(columns, rows[0], strict=True))
        assert time.monotonic() < deadline, f"no recording row for {call_id}"
        time.sleep(0.2)


async def _person_token(people: pg.PeopleStub, person_id: str) -> tuple[tuple[str, str], ...]:
    """A signed-in person's bearer (the initial password changed, as at a first sign-in)."""
    first = await people.SignIn(p.SignInRequest(person_id=person_id, password=PASSWORD))
    token = first.session_token
    if first.person.must_change_password:
        changed = await people.ChangePassword(
            p.ChangePasswordRequest(old_password=PASSWORD, new_password=seat_password(PASSWORD)),
            metadata=(("authorization", f"Bearer {token}"),),
        )
        token = changed.session_token
    return (("authorization", f"Bearer {token}"),)


def _quality_inspector_plays(node: Node, row: dict[str, Any]) -> None:
    """KM's inspector lists the agent's recordings of the day and plays this one as WAV
    (through ``vcc recordings``' calls; both audited with the inspector's identity); an
    agent may do neither."""

    async def use() -> tuple[list[str], str, bytes, grpc.StatusCode | None]:
        async with open_channel(node.target) as channel:
            people, quality = pg.PeopleStub(channel), qg.QualityStub(channel)
            await _person_token(people, QA_INSPECTOR)  # the initial password changed
            agent = await _person_token(people, OTHER_AGENT)
            try:
                await quality.ListRecordings(qp.ListRecordingsRequest(), metadata=agent)
                refused = None
            except grpc.aio.AioRpcError as exc:
                refused = exc.code()
        password = seat_password(PASSWORD)
        day = beijing_date(row["started_at_ms"]).isoformat()
        query = qp.ListRecordingsRequest(agent_id=PHONES["KM"], day=day)
        listed = await list_recordings(node.target, query, QA_INSPECTOR, password)
        play = qp.PlayRecordingRequest(recording_id=row["recording_id"])
        kind, audio = await fetch_recording(node.target, play, QA_INSPECTOR, password)
        return [r.recording_id for r in listed], kind, audio, refused

    listed, kind, audio, refused = asyncio.run(use())
    assert row["recording_id"] in listed, listed
    assert kind == "audio/wav" and audio[:4] == b"RIFF" and audio[8:12] == b"WAVE", audio[:16]
    audio_s = (len(audio) - 44) / 16000  # 8 kHz, 16-bit mono
    assert abs(audio_s - row["duration_ms"] / 1000) <= 0.5, (audio_s, row["duration_ms"])
    assert refused == grpc.StatusCode.PERMISSION_DENIED, refused
    audited = node.rows(
        "select actor, action from audit where action in"
        " ('recordings_listed', 'recording_played') order by at_ms"
    )
    assert [a for _, a in audited][-2:] == ["recordings_listed", "recording_played"], audited
    assert all(f"person:{QA_INSPECTOR}" in actor for actor, _ in audited[-2:]), audited


def test_wrong_pin_is_reprompted_then_an_agent(sip: SipProvince) -> None:
    """With a PIN set (over gRPC, with the one-time code the site sends to the caller's
    phone), the caller keys a wrong one for the bill over SIP: the IVR says so and returns
    to its menu, where 0 reaches an agent."""
    caller = phone_for("0871", 5)

    async def set_the_pin() -> str:
        client = Client(sip.nodes["KM"].target)
        try:
            return await set_pin(client, sip.hook, caller, "246813")
        finally:
            await client.close()

    assert "PIN is set" in asyncio.run(set_the_pin())
    phone = Phone(sip, PHONES["KM"])
    try:
        done = _call(sip, caller, "170", "1" + "111111" + "0")
        assert done.returncode == 0, done.stderr.decode()[-3000:]
        call_id = phone.finished()
    finally:
        phone.close()
    view = _view(sip.nodes["KM"], call_id)
    path = [(st.node_id, st.digits) for st in view.ivr_path]
    at = path.index(("main", "1"))
    # the wrong PIN: the check failed and the caller is back at the menu, where 0 queues
    assert ("bill_query", "failed") in path[at + 1 : at + 3], path
    assert ("main", "0") in path[at + 2 :], path
    assert view.agent_id == PHONES["KM"]


def test_hold_and_retrieve_from_the_phone(sip: SipProvince) -> None:
    """The agent's phone puts the caller on hold (re-INVITE, send-only) and takes the call
    back: the site holds and resumes the call (its CDR counts the hold time)."""
    phone = Phone(sip, PHONES["KM"], "phone_hold.xml")
    try:
        done = _call(sip, phone_for("0871", 13), "1000", "0")
        assert done.returncode == 0, done.stderr.decode()[-3000:]
        call_id = phone.finished()
    finally:
        phone.close()
    deadline = time.monotonic() + 30
    while not (rows := sip.nodes["KM"].rows("SELECT hold_ms FROM cdrs WHERE call_id = ?", call_id)):
        assert time.monotonic() < deadline, "no CDR for the call"
        time.sleep(0.2)
    assert rows[0][0] > 0, rows


def test_agent_transfers_to_another_city_whose_phone_rings_with_the_same_call_id(
    sip: SipProvince,
) -> None:
    """KM's agent answers, then transfers blind (REFER to YX.general): YX's site takes
    the call through the hub, its ACD offers it to YX's agent, whose phone rings with the
    same call ID; when that agent hangs up, the caller's line (held at KM) is released."""
    km_phone = Phone(sip, PHONES["KM"], "phone_refer.xml", "-key", "target", "YX.general")
    yx_phone = Phone(sip, PHONES["YX"])
    try:
        done = _call(sip, phone_for("0871", 11), "1000", "0")
        assert done.returncode == 0, done.stderr.decode()[-3000:]
        call_id = km_phone.finished()
        assert yx_phone.finished() == call_id
    finally:
        km_phone.close()
        yx_phone.close()
    assert _view(sip.nodes["KM"], call_id).end_reason == c.END_REASON_TRANSFERRED_OUT
    view = _view(sip.nodes["YX"], call_id)
    assert view.agent_id == PHONES["YX"] and view.state == c.CALL_STATE_ENDED, view


def test_beyond_trunk_capacity_503_with_retry_after(sip: SipProvince) -> None:
    """An edge whose site trunks are full (capacity 0 here, so no call has to be held
    open) refuses a new call with 503 and a Retry-After header (the scenario fails
    without one)."""
    edge_port = free_port()
    full = _sip_edge(
        sip.tmp,
        "full-edge",
        sip.etcd,
        sip.sip_ports,
        edge_port,
        sip.trunk_port,
        "--trunk-capacity",
        "0",
    )
    try:
        done = subprocess.run(
            _sipp(
                scenario("busy.xml"),
                sip.trunk_port,
                f"{HOST}:{edge_port}",
                "-s",
                "1000",
                "-key",
                "caller",
                phone_for("0871", 9),
            ),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=SIPP_TIMEOUT_S + 10,
            cwd=sip.tmp,
        )
        assert done.returncode == 0, done.stderr.decode()[-3000:]
    finally:
        full.stop()
    assert "trunk of site KM full" in (sip.tmp / "full-edge" / "kamailio.log").read_text()


def test_ring_no_answer_cancels_the_ringing_phone(sip: SipProvince) -> None:
    """Nobody answers KM's agent's phone: the site's ring timer takes the offer back (its
    rule: the agent is made not ready, the call requeued) and the site's agent cancels
    the ringing (the phone's scenario fails without a CANCEL). The caller then gives up.
    Leaves KM's agent not ready: runs just before the site is killed."""
    phone = Phone(sip, PHONES["KM"], "phone_noanswer.xml")
    try:
        done = _call(sip, phone_for("0871", 15), "1000", "0", "caller_gives_up")
        assert done.returncode == 0, done.stderr.decode()[-3000:]
        call_id = phone.finished()
    finally:
        phone.close()
    legs = sip.nodes["KM"].rows(
        "SELECT end_reason FROM legs WHERE call_id = ? AND agent_id = ?", call_id, PHONES["KM"]
    )
    assert ("no_answer",) in legs, legs


def test_site_killed_new_invites_reach_the_next_site(sip: SipProvince) -> None:
    """KM's site process is killed (its SIP agent stays, answering 503, as would a
    site whose lease has not lapsed yet): a new call of KM's area is taken by YX, the next
    nearest site, through the edge's failover. Then KM's SIP agent dies too (nothing
    answers at KM's address): the edge's timeout moves the next call on. Runs last."""
    sip.nodes["KM"].proc.kill()
    _reaches_yx(sip, phone_for("0871", 7))
    sip.agents["KM"].kill()
    _reaches_yx(sip, phone_for("0871", 8))


def _reaches_yx(sip: SipProvince, caller: str) -> None:
    phone = Phone(sip, PHONES["YX"])
    started = time.monotonic()
    try:
        done = _call(sip, caller, "1000", "0")
        assert done.returncode == 0, done.stderr.decode()[-3000:]
        call_id = phone.finished()
    finally:
        phone.close()
    print(f"a call of KM's area answered at YX in {time.monotonic() - started:.2f} s")
    view = _view(sip.nodes["YX"], call_id)
    assert view.entry_site_id == "YX" and view.agent_id == PHONES["YX"], view
    assert [(st.node_id, st.digits) for st in view.ivr_path][:1] == [("main", "0")]
