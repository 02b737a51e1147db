"""Which city serves what (业务生成平台) and outages through the public gRPC API of the
package's real province (NATS, etcd, the hub on PostgreSQL, KM on SQLite and DL on
PostgreSQL as separate processes; see ``conftest``), whose province file accepts
suggestions in Qujing and Dali only (Qujing, the nearer, is not running) and
whistle-blowing reports in Qujing only.

(a) A Kunming caller who chooses suggestions (180, then 3) is served in Dali, the nearest
    LIVE site that accepts the business (Qujing, nearer, is down and refuses): the access
    edge is told the call is at DL; the same call ID is offered to a Dali agent; the call
    keeps the caller's own class and its original arrival; KM writes an ``assigned_out``
    CDR (not final), the hub holds exactly one final CDR (DL's, answered); counted in
    KM's ``vcc_site_calls_by_assignment_total{outcome="assigned_out"}``.
(b) A Kunming caller who chooses a whistle-blowing report (180, then 2), accepted only in
    Qujing (down), is refused: ``Ended`` with reason REFUSED, detail ``not_accepted``, a
    prompt telling the caller; one final CDR ``not_accepted``; counted.

Outages: a data-maintenance
person enters an unplanned outage for Kunming's area at the hub (``Directory.ApplyChange``,
kind OUTAGE); it reaches both sites with the directory; a Kunming caller choosing the
outage notices of 112 hears it, a Dali caller does not; a fault order written for a
Kunming caller meanwhile carries the outage's incident; once deleted, nobody hears it.
"""

from __future__ import annotations

import json
import time
import urllib.request
from datetime import datetime, timedelta, timezone

import grpc
from prometheus_client.parser import text_string_to_metric_families

from tests.integration._helpers.linked import Province
from tests.integration._helpers.site import Client, until
from vcc_ops.bench.directory import directory_version
from vcc_proto.channels import open_channel
from vcc_proto.v1 import common_pb2 as c
from vcc_proto.v1 import hub_pb2 as h
from vcc_proto.v1 import hub_pb2_grpc as hg
from vcc_proto.v1 import site_pb2 as s
from vcc_proto.v1 import site_pb2_grpc as sg

DL_AGENT = "DL-0034"  # a general agent at Dali (suggestions need the general skill)
KM_CALLER, KM_CALLER_2 = "08715550071", "08715550072"


def _hub_cdrs(province: Province, call_id: str) -> list[tuple[str, str]]:
    rows = province.hub.rows(
        "SELECT site_id, outcome FROM cdrs WHERE call_id = ? ORDER BY site_id", call_id
    )
    return [(str(a), str(b)) for a, b in rows]


def _counted(port: int, outcome: str, business: str) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:
        text = resp.read().decode()
    for family in text_string_to_metric_families(text):
        for x in family.samples:
            if (
                x.name == "vcc_site_calls_by_assignment_total"
                and x.labels.get("outcome") == outcome
                and x.labels.get("business") == business
                and x.labels.get("site") == "KM"
            ):
                return float(x.value)
    return 0.0


async def _true(value: bool) -> bool:
    return value


async def test_a_business_kunming_does_not_accept_is_served_at_the_nearest_live_site(
    province: Province, km: Client, dl: Client, metrics_port: int
) -> None:
    desk = await dl.login(DL_AGENT)
    await desk.ready()

    # (a) suggestions: Qujing (nearer) is down, Dali takes the call
    step = await km.offer(KM_CALLER, "180", "3")
    call_id = step.call_id
    where = step.WhichOneof("next")
    assert where in ("queued", "connected"), step
    assert getattr(step, where).site_id == "DL", step
    await until(lambda: _true(call_id in desk.offers()), "the offer of the call at Dali")
    await desk.answer(call_id)
    await desk.hang_up(call_id)
    await desk.wrap_up(call_id)

    km_cdr = province.km.rows(
        "SELECT outcome, arrival_at_ms, answered_at_ms FROM cdrs WHERE call_id = ?", call_id
    )
    assert [r[0] for r in km_cdr] == ["assigned_out"]
    assert km_cdr[0][2] == 0  # nobody at Kunming answered it

    async def dl_cdr() -> list[tuple[object, ...]]:
        return province.dl.rows(
            "SELECT outcome, arrival_at_ms, agent_id, overflowed FROM cdrs WHERE call_id = ?",
            call_id,
        )

    served = await until(dl_cdr, "Dali's CDR")
    assert served == [("answered", km_cdr[0][1], DL_AGENT, 1)]  # the original arrival
    ((priority, attached),) = province.dl.rows(
        "SELECT priority, attached FROM calls WHERE call_id = ?", call_id
    )
    assert priority == "ordinary"  # the caller's own class, not "transferred"
    data = attached if isinstance(attached, dict) else json.loads(str(attached))
    assert data["assigned_from"] == "KM"

    async def at_hub() -> bool:
        return len(_hub_cdrs(province, call_id)) == 2

    await until(at_hub, "both CDRs at the hub", timeout_s=60)
    cdrs = _hub_cdrs(province, call_id)
    assert cdrs == [("DL", "answered"), ("KM", "assigned_out")]
    final = [cdr for cdr in cdrs if cdr[1] not in ("assigned_out", "overflowed_out")]
    assert final == [("DL", "answered")]  # exactly one final CDR
    assert _counted(metrics_port, "assigned_out", "suggestion") == 1

    # (b) whistle-blowing: only Qujing accepts it, and it is down: refused, caller told
    refused = await km.offer(KM_CALLER_2, "180", "2")
    assert refused.WhichOneof("next") == "ended", refused
    assert refused.ended.reason == c.END_REASON_REFUSED
    assert refused.ended.detail == "not_accepted"
    assert any("cannot be taken" in p.text for p in refused.prompts), refused.prompts
    assert province.km.rows("SELECT outcome FROM cdrs WHERE call_id = ?", refused.call_id) == [
        ("not_accepted",)
    ]
    assert _counted(metrics_port, "not_accepted", "whistleblowing") == 1
    assert refused.call_id not in desk.offers()


def _outage(now_ms: int) -> h.DirectoryChange:
    at = datetime.fromtimestamp(now_ms / 1000, timezone(timedelta(hours=8)))
    entity = {
        "id": "km-cable-cut",
        "kind": "unplanned",
        "area_codes": ["0871"],
        "starts_at": (at - timedelta(hours=1)).isoformat(),
        "ends_at": (at + timedelta(hours=3)).isoformat(),
        "notice": {
            "zh": "盘龙区光缆中断，正在抢修",
            "en": "cable cut in Panlong, repair under way",
        },
        "incident": "inc-0871-cable",
    }
    return h.DirectoryChange(
        op=h.DirectoryChange.OP_UPSERT,
        kind=h.ENTITY_KIND_OUTAGE,
        entity_id="km-cable-cut",
        entity_json=json.dumps(entity).encode(),
    )


async def _heard(client: Client, caller: str) -> list[str]:
    step = await client.offer(caller, "112", "3")  # fault reports: outage notices
    await client.access.HangUp(s.CallRef(call_id=step.call_id))
    return [p.text for p in step.prompts if p.language == "en"]


async def _all_at(channels: list[grpc.aio.Channel], version: int) -> bool:
    return all([await directory_version(ch) >= version for ch in channels])


NONE = "There is no planned outage or line work in your area."
KM_AGENT = "KM-0138"  # general; the other tests have other agents
FAULT = {
    "name": "Li Wei",
    "address": "Panlong, 1 Beijing Rd",
    "phone": "08715550094",
    "symptom": "no dial tone",
}


async def _fault_reported(km: Client, caller: str) -> s.WorkOrder:
    """A Kunming caller reports a fault (112, then 1); the agent writes the order."""
    desk = await km.login(KM_AGENT)
    await desk.ready()
    step = await km.offer(caller, "112", "1")
    await until(lambda: _true(step.call_id in desk.offers()), "the fault report's offer")
    await desk.answer(step.call_id)
    order: s.WorkOrder = await sg.WorkOrdersStub(km.channel).Create(
        s.CreateWorkOrderRequest(session_token=desk.token, call_id=step.call_id, fields=FAULT),
        timeout=10,
    )
    await desk.hang_up(step.call_id)
    await desk.wrap_up(step.call_id)
    return order


async def test_an_outage_entered_at_the_hub_is_read_to_callers_of_its_area(
    province: Province, km: Client, dl: Client
) -> None:
    hub = open_channel(province.hub.target)
    directory = hg.DirectoryStub(hub)
    actor = c.Actor(site_id="KM", operator="KM-DM001")  # a data-maintenance person
    try:
        assert NONE in await _heard(km, "08715550091")
        reply = await directory.ApplyChange(
            h.ApplyChangeRequest(changes=[_outage(int(time.time() * 1000))], actor=actor),
            timeout=10,
        )
        sites = [km.channel, dl.channel]
        await until(lambda: _all_at(sites, reply.version), "the outage at both sites")
        heard = await _heard(km, "08715550092")
        assert any("cable cut in Panlong, repair under way" in p for p in heard), heard
        assert any(p.startswith("Unplanned outage since ") for p in heard), heard
        assert NONE in await _heard(dl, "08725550081")  # Dali's area is not affected
        order = await _fault_reported(km, "08715550094")
        assert order.incident == "inc-0871-cable"  # the fault order links to the outage

        gone = await directory.ApplyChange(
            h.ApplyChangeRequest(
                changes=[
                    h.DirectoryChange(
                        op=h.DirectoryChange.OP_DELETE,
                        kind=h.ENTITY_KIND_OUTAGE,
                        entity_id="km-cable-cut",
                    )
                ],
                actor=actor,
            ),
            timeout=10,
        )
        await until(lambda: _all_at(sites, gone.version), "the deletion at both sites")
        assert NONE in await _heard(km, "08715550093")
    finally:
        await hub.close()
