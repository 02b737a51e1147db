"""The hub's real aggregation path on generated calls (``vcc bench report``'s ingestion).

:func:`site_events` turns generated CDRs into the events a site publishes (agent state
changes around each answered call, then ``cdr.created``), numbered per site in time
order. :func:`ingest` writes the rows the hub's events component keeps for them
(``cdrs``, ``agent_states``, ``site_progress``; untimed, straight SQLite inserts) into a
hub database made by the real migrations, then times :meth:`Aggregator.step` — reading
the rows, figures per interval and agent, rating, the interval, agent, charge and roll-up
upserts and the cursor, one fenced transaction per step — until everything is counted.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

from google.protobuf.message import Message

from vcc_domain.clock import SystemClock
from vcc_domain.province import Province
from vcc_domain.stats import Cdr, StatsConfig
from vcc_failover.leadership import StaticLeadership
from vcc_hub.adapters.events_apply import CDR_COLUMNS
from vcc_hub.service.aggregator import Aggregator
from vcc_hub.store import event_tables as ev
from vcc_hub.store import report_tables as rt
from vcc_proto.v1 import events_pb2 as pb
from vcc_replication import fencing
from vcc_replication.db import make_engine
from vcc_replication.events import SiteEvent, event

CALLER = "137****0000"


def cdr_record(cdr: Cdr) -> pb.Cdr:
    """A generated CDR as a site publishes it (the ``Cdr`` message)."""
    return pb.Cdr(**asdict(cdr), caller_masked=CALLER)


def acw_ms(cdr: Cdr) -> int:
    return 5_000 + cdr.talk_ms % 40_000  # deterministic after-call work, 5-45 s


def site_events(cdrs: Iterable[Cdr]) -> dict[str, list[SiteEvent]]:
    """Per site, the events of ``cdrs`` in time order with sequences 1, 2, 3, ..."""
    raw: dict[str, list[tuple[int, int, str, str, Message]]] = {}
    for n, c in enumerate(cdrs):
        out = raw.setdefault(c.site_id, [])
        if c.answered_at_ms and c.agent_id:
            for at, state, call in (
                (c.answered_at_ms, "busy", c.call_id),
                (c.ended_at_ms, "wrap_up", c.call_id),
                (c.ended_at_ms + acw_ms(c), "ready", ""),
            ):
                out.append(
                    (
                        at,
                        n,
                        "agent.state",
                        c.agent_id,
                        pb.AgentStateChanged(agent_id=c.agent_id, state=state, call_id=call),
                    )
                )
        out.append(
            (
                c.ended_at_ms,
                n,
                "cdr.created",
                c.call_id,
                pb.CdrCreated(
                    call=pb.CallInfo(call_id=c.call_id, state="ended"), cdr=cdr_record(c)
                ),
            )
        )
    events: dict[str, list[SiteEvent]] = {}
    for site, items in sorted(raw.items()):
        items.sort(key=lambda e: (e[0], e[1], e[2] == "cdr.created"))
        events[site] = [
            event(site, seq, f"evt_{site}_{seq:09d}", kind, agg, at, body)
            for seq, (at, _n, kind, agg, body) in enumerate(items, start=1)
        ]
    return events


async def create_hub_db(url: str) -> None:
    """A hub database with the fencing, events and reports schemas (real migrations)."""
    engine = make_engine(url)
    try:
        await fencing.migrate(engine)
        await ev.MIGRATIONS.upgrade(engine)
        await rt.MIGRATIONS.upgrade(engine)
    finally:
        await engine.dispose()


def write_events(path: Path, events: dict[str, list[SiteEvent]], now_ms: int) -> None:
    """The rows the events component keeps for ``events`` (as :func:`apply_batch`)."""
    cdr_cols = [c.name for c in ev.cdrs.columns]
    state_cols = [c.name for c in ev.agent_states.columns]
    db = sqlite3.connect(path)
    with db:
        for site, items in events.items():
            cdr_rows, state_rows = [], []
            for e in items:
                if e.kind == "cdr.created":
                    cdr = e.cdr_created.cdr
                    rec = {name: getattr(cdr, name) for name in CDR_COLUMNS}
                    rec.update(event_seq=e.seq, ivr_path=json.dumps(list(cdr.ivr_path)))
                    cdr_rows.append(tuple(rec[c] for c in cdr_cols))
                else:
                    a = e.agent_state
                    rec = {
                        "site": site,
                        "seq": e.seq,
                        "session_id": a.session_id,
                        "reason": a.reason,
                        "at_ms": e.at_ms,
                        "agent_id": a.agent_id,
                        "state": a.state,
                        "call_id": a.call_id,
                    }
                    state_rows.append(tuple(rec[c] for c in state_cols))
            db.executemany(
                f"INSERT INTO cdrs ({','.join(cdr_cols)}) VALUES ({','.join('?' * len(cdr_cols))})",
                cdr_rows,
            )
            db.executemany(
                f"INSERT INTO agent_states ({','.join(state_cols)}) VALUES "
                f"({','.join('?' * len(state_cols))})",
                state_rows,
            )
            db.execute(
                "INSERT INTO site_progress (site, contiguous_seq, updated_at_ms) VALUES (?, ?, ?)",
                (site, len(items), now_ms),
            )
    db.close()


@dataclass(frozen=True)
class Ingested:
    cdrs: int
    events: int
    seconds: float
    steps: int


async def aggregate_all(url: str, province: Province, config: StatsConfig) -> Ingested:
    """Run the hub's aggregation steps until nothing is left; timed."""
    engine = make_engine(url)

    async def source() -> Province:
        return province

    leader = StaticLeadership()
    aggregator = Aggregator(engine, lambda: leader, SystemClock(), source, config)
    try:
        steps = events = 0
        t0 = time.perf_counter()
        while covered := await aggregator.step():
            events += covered
            steps += 1
        seconds = time.perf_counter() - t0
    finally:
        await engine.dispose()
    db = sqlite3.connect(url.removeprefix("sqlite:///"))
    (cdrs,) = db.execute("SELECT COUNT(*) FROM call_charges").fetchone()
    db.close()
    return Ingested(int(cdrs), events, seconds, steps)


def ingest(cdrs: list[Cdr], province: Province, path: Path, config: StatsConfig) -> Ingested:
    url = f"sqlite:///{path}"
    asyncio.run(create_hub_db(url))
    write_events(path, site_events(cdrs), int(time.time() * 1000))
    return asyncio.run(aggregate_all(url, province, config))
