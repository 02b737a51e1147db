"""Dead letters: a malformed event on a site's subject (bytes that are no event, an
unknown kind, an out-of-range field) is delivered a bounded number of times, then moved
to ``VCC_DEAD_LETTERS``, while that site's following events are applied; ``vcc events
dead-letters --json`` lists what was moved. Real NATS, etcd and hub process."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

from tests.integration._helpers.site import until
from tests.integration.test_event_replication import HubProcess, synthetic_events
from vcc_ops.infra import EtcdServer, NatsServer
from vcc_proto.v1 import events_pb2 as pb
from vcc_replication.dead_letters import MAX_DELIVERIES, list_dead_letters
from vcc_replication.events import encode, headers
from vcc_replication.jetstream import connect
from vcc_replication.streams import ensure_province_streams, site_events_subject

UNKNOWN_KIND_SEQ, OUT_OF_RANGE_SEQ = 4, 5


def _bad_events() -> list[tuple[bytes, dict[str, str]]]:
    """(bytes, headers) of three malformed messages of site KM."""
    garbage = (b"\xde\xad\xbe\xef not an event", {"Nats-Msg-Id": "garbage-1", "Vcc-Site": "KM"})
    # a kind from a newer site: body oneof field 999 (tag 999 << 3 | 2, empty)
    newer = pb.SiteEvent(
        site="KM",
        seq=UNKNOWN_KIND_SEQ,
        event_id="evt_bad_kind",
        kind="call.teleported",
        aggregate_id="call_x",
        at_ms=1,
    )
    unknown = (newer.SerializeToString() + b"\xba\x3e\x00", headers(newer))
    negative = pb.SiteEvent(
        site="KM",
        seq=OUT_OF_RANGE_SEQ,
        event_id="evt_bad_value",
        kind="cdr.created",
        aggregate_id="call_y",
        at_ms=1,
        cdr_created=pb.CdrCreated(
            cdr=pb.Cdr(cdr_id="cdr_bad", call_id="call_y", site_id="KM", talk_ms=-60_000)
        ),
    )
    return [garbage, unknown, (encode(negative), headers(negative))]


async def _publish(url: str) -> int:
    """Good events of KM with sequences 4 and 5 replaced by malformed ones, and garbage
    in between; returns the last good sequence."""
    good = [
        e for e in synthetic_events("KM", 3) if e.seq not in (UNKNOWN_KIND_SEQ, OUT_OF_RANGE_SEQ)
    ]
    nc = await connect(url, "test-dead-letters")
    js = nc.jetstream()
    await ensure_province_streams(js)
    subject = site_events_subject("KM")
    messages = [(encode(e), headers(e)) for e in good[:3]] + _bad_events()
    messages += [(encode(e), headers(e)) for e in good[3:]]
    for data, hdrs in messages:
        await js.publish(subject, data, headers=hdrs, timeout=10)
    await nc.drain()
    return good[-1].seq


def test_malformed_events_are_dead_lettered_and_do_not_block_the_site(
    tmp_path: Path, nats_server: NatsServer, etcd_server: EtcdServer
) -> None:
    hub = HubProcess(tmp_path, nats_server.url, etcd_server.endpoint).start()
    try:
        last = asyncio.run(_publish(nats_server.url))

        async def caught_up() -> bool:
            status = await hub.status("KM")
            return status.contiguous_seq == last and status.open_gaps == 0

        async def three_letters() -> bool:
            nc = await connect(nats_server.url, "test-dl-read")
            try:
                return len(await list_dead_letters(nc.jetstream())) >= 3
            finally:
                await nc.drain()

        async def wait() -> None:
            # the following events are applied, and the dead-lettered sequences count
            # as seen (no gap left for repair to chase)
            await until(caught_up, "KM applied past its malformed events", timeout_s=60)
            await until(three_letters, "three dead letters", timeout_s=60)

        asyncio.run(wait())
        applied = hub.rows(
            "SELECT seq FROM inbox WHERE site = 'KM' AND kind != 'dead_letter' ORDER BY seq"
        )
        assert [s for (s,) in applied] == [
            s for s in range(1, last + 1) if s not in (UNKNOWN_KIND_SEQ, OUT_OF_RANGE_SEQ)
        ]
        assert hub.rows("SELECT seq FROM inbox WHERE kind = 'dead_letter' ORDER BY seq") == [
            (UNKNOWN_KIND_SEQ,),
            (OUT_OF_RANGE_SEQ,),
        ]
        assert hub.rows("SELECT count(*) FROM cdrs") == [(3,)]
        assert hub.rows("SELECT count(*) FROM cdrs WHERE cdr_id = 'cdr_bad'") == [(0,)]

        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "vcc_ops.cli",
                "events",
                "dead-letters",
                "--json",
                "--nats",
                nats_server.url,
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        letters = json.loads(out.stdout)
        assert len(letters) == 3
        assert {d["site"] for d in letters} == {"KM"}
        assert {d["reason"] for d in letters} == {"decode"}
        assert all(d["deliveries"] == MAX_DELIVERIES for d in letters)
        by_seq = {d["event_seq"]: d for d in letters}
        assert "not a site event" in by_seq[""]["error"]
        assert "unknown event kind 'call.teleported'" in by_seq[str(UNKNOWN_KIND_SEQ)]["error"]
        assert "cdr.talk_ms" in by_seq[str(OUT_OF_RANGE_SEQ)]["error"]
        assert by_seq[""]["data_b64"]  # the original bytes are kept
        text = subprocess.run(
            [
                sys.executable,
                "-m",
                "vcc_ops.cli",
                "events",
                "dead-letters",
                "--nats",
                nats_server.url,
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout
        assert "call.teleported" in text and text.count("KM") >= 3
    finally:
        hub.stop()
