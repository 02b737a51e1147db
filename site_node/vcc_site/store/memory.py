"""An in-memory :class:`~vcc_site.store.api.SiteStore` for unit tests of the services.

Same semantics as the SQL store: rows are upserted by primary key, a repeated CDR (by
call or by CDR id), agent-state stretch, audit row or event id — or a customer phone or
account number taken by another customer — fails the whole unit with ``Conflict`` and
writes nothing; outbox sequences are gap-free from 1. Every commit yields to the loop
once, so concurrent callers interleave as they would against a database.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from vcc_domain.errors import Conflict, Unavailable
from vcc_replication.events import stored
from vcc_site.store import tables as t
from vcc_site.store.api import (
    AgentStateRecord,
    AuditRecord,
    CallRecord,
    CdrRecord,
    CredentialRecord,
    CustomerRecord,
    Event,
    LegRecord,
    OutboxRow,
    Row,
    SessionRecord,
    UnitOfWork,
)

TABLE_OF: dict[type[Any], str] = {kind: spec.table.name for kind, spec in t.SPECS.items()}


class MemorySiteStore:
    """Dictionaries keyed like the SQL tables' primary keys."""

    def __init__(self, site_id: str = "TEST") -> None:
        self.site_id = site_id
        self.tables: dict[str, dict[tuple[Any, ...], Any]] = {
            name: {} for name in TABLE_OF.values()
        }
        self.outbox: dict[int, OutboxRow] = {}
        self.meta_values: dict[str, str] = {}
        self._last_seq = 0
        self._event_ids: set[str] = set()
        self._closed = False
        self.commits = 0  # units committed (for tests)

    async def migrate(self) -> None:
        return None

    def enqueue(self, uow: UnitOfWork) -> asyncio.Future[list[int]]:
        return asyncio.ensure_future(self.commit(uow))

    async def commit(self, uow: UnitOfWork) -> list[int]:
        if self._closed:
            raise Unavailable("the site store is closed")
        if not uow:
            return []
        await asyncio.sleep(0)
        rows, events = list(uow.rows), list(uow.events)
        self._check(rows, events)
        for record in rows:
            self.tables[TABLE_OF[type(record)]][t.key_of(record)] = record
        seqs = []
        for event in events:
            self._last_seq += 1
            self.outbox[self._last_seq] = OutboxRow(
                seq=self._last_seq,
                event=event,
                data=stored(
                    event.event_id, event.kind, event.aggregate_id, event.at_ms, event.body
                ),
            )
            self._event_ids.add(event.event_id)
            seqs.append(self._last_seq)
        self.commits += 1
        return seqs

    def _check(self, rows: list[Row], events: list[Event]) -> None:
        """Raise ``Conflict`` if writing this unit would break a unique constraint."""
        seen: set[tuple[str, tuple[Any, ...]]] = set()
        for record in rows:
            spec = t.spec_of(record)
            key = (spec.table.name, t.key_of(record))
            if spec.insert_only and (key in seen or key[1] in self.tables[key[0]]):
                raise Conflict(f"{spec.table.name} {key[1]} already recorded")
            seen.add(key)
        self._check_unique(rows, CdrRecord, "call_id")
        self._check_unique(rows, CustomerRecord, "phone")
        self._check_unique(rows, CustomerRecord, "account_no")
        known = set(self._event_ids)
        for event in events:
            if event.event_id in known:
                raise Conflict(f"event {event.event_id} already recorded")
            known.add(event.event_id)

    def _check_unique(self, rows: list[Row], kind: type[Any], column: str) -> None:
        table = self.tables[TABLE_OF[kind]]
        owner = {getattr(r, column): key for key, r in table.items()}
        for record in rows:
            if not isinstance(record, kind):
                continue
            key, value = t.key_of(record), getattr(record, column)
            if owner.get(value, key) != key:
                raise Conflict(f"{TABLE_OF[kind]}.{column} {value!r} is taken")
            owner[value] = key

    async def seed_customers(self, records: Sequence[CustomerRecord]) -> int:
        rows: list[Row] = list(records)
        self._check_unique(rows, CustomerRecord, "phone")
        self._check_unique(rows, CustomerRecord, "account_no")
        table = self.tables["customers"]
        ids = [t.key_of(r) for r in rows]
        if len(set(ids)) != len(ids) or any(key in table for key in ids):
            raise Conflict("customer already exists")
        for key, record in zip(ids, records, strict=True):
            table[key] = record
        return len(rows)

    async def upsert_credentials(self, records: Sequence[CredentialRecord]) -> int:
        for record in records:
            self.tables["credentials"][t.key_of(record)] = record
        return len(records)

    async def meta(self, key: str) -> str | None:
        return self.meta_values.get(key)

    async def set_meta(self, key: str, value: str) -> None:
        if key == t.LAST_SEQ_KEY:
            raise ValueError("the outbox sequence is only moved by commit()")
        self.meta_values[key] = value

    async def set_metas(self, values: dict[str, str]) -> None:
        """Set several keys at once (all or nothing)."""
        if t.LAST_SEQ_KEY in values:
            raise ValueError("the outbox sequence is only moved by commit()")
        self.meta_values.update(values)

    # -- reads ----------------------------------------------------------------------

    def _rows(self, kind: type[Any]) -> list[Any]:
        return list(self.tables[TABLE_OF[kind]].values())

    def _find(self, kind: type[Any], column: str, value: Any) -> Any:
        return next((r for r in self._rows(kind) if getattr(r, column) == value), None)

    async def customer_by_phone(self, phone: str) -> CustomerRecord | None:
        found: CustomerRecord | None = self._find(CustomerRecord, "phone", phone)
        return found

    async def customer_by_account(self, account_no: str) -> CustomerRecord | None:
        found: CustomerRecord | None = self._find(CustomerRecord, "account_no", account_no)
        return found

    async def customer(self, customer_id: str) -> CustomerRecord | None:
        found: CustomerRecord | None = self.tables["customers"].get((customer_id,))
        return found

    async def credential(self, agent_id: str) -> CredentialRecord | None:
        found: CredentialRecord | None = self.tables["credentials"].get((agent_id,))
        return found

    async def swap_failures(
        self, kind: str, key: str, old: tuple[int, int], new: tuple[int, int]
    ) -> bool:
        if kind == "agent":
            cred: CredentialRecord | None = self.tables["credentials"].get((key,))
            if cred is None or (cred.failures, cred.locked_until_ms) != old:
                return False
            self.tables["credentials"][(key,)] = replace(
                cred, failures=new[0], locked_until_ms=new[1]
            )
            return True
        customer: CustomerRecord | None = self.tables["customers"].get((key,))
        if customer is None or (customer.pin_failures, customer.pin_locked_until_ms) != old:
            return False
        self.tables["customers"][(key,)] = replace(
            customer, pin_failures=new[0], pin_locked_until_ms=new[1]
        )
        return True

    async def call(self, call_id: str) -> CallRecord | None:
        found: CallRecord | None = self.tables["calls"].get((call_id,))
        return found

    async def open_calls(self) -> list[CallRecord]:
        calls: list[CallRecord] = [c for c in self._rows(CallRecord) if c.state != "ended"]
        return sorted(calls, key=lambda c: (c.arrival_at_ms, c.call_id))

    async def calls_of_caller(self, caller_number: str, limit: int) -> list[CallRecord]:
        calls = [c for c in self._rows(CallRecord) if c.caller_number == caller_number]
        return sorted(calls, key=lambda c: (-c.arrival_at_ms, c.call_id))[:limit]

    async def open_sessions(self) -> list[SessionRecord]:
        found: list[SessionRecord] = [s for s in self._rows(SessionRecord) if not s.logout_at_ms]
        return sorted(found, key=lambda s: (s.login_at_ms, s.session_id))

    async def legs(self, call_id: str) -> list[LegRecord]:
        found: list[LegRecord] = [g for g in self._rows(LegRecord) if g.call_id == call_id]
        return sorted(found, key=lambda g: (g.offered_at_ms, g.leg_id))

    async def cdr(self, call_id: str) -> CdrRecord | None:
        found: CdrRecord | None = self._find(CdrRecord, "call_id", call_id)
        return found

    async def cdrs(self, limit: int = 1000, after_ended_at_ms: int = 0) -> list[CdrRecord]:
        found: list[CdrRecord] = [
            c for c in self._rows(CdrRecord) if c.ended_at_ms > after_ended_at_ms
        ]
        return sorted(found, key=lambda c: (c.ended_at_ms, c.cdr_id))[:limit]

    async def state_history(self, agent_id: str) -> list[AgentStateRecord]:
        found: list[AgentStateRecord] = [
            s for s in self._rows(AgentStateRecord) if s.agent_id == agent_id
        ]
        return sorted(found, key=lambda s: (s.started_at_ms, s.state))

    async def audit(self, subject: str) -> list[AuditRecord]:
        found: list[AuditRecord] = [a for a in self._rows(AuditRecord) if a.subject == subject]
        return sorted(found, key=lambda a: (a.at_ms, a.audit_id))

    async def outbox_after(self, seq: int, limit: int = 500) -> list[OutboxRow]:
        return [self.outbox[s] for s in sorted(self.outbox) if s > seq][:limit]

    async def mark_sent(self, up_to_seq: int, at_ms: int) -> None:
        for seq, row in self.outbox.items():
            if seq <= up_to_seq and not row.sent_at_ms:
                self.outbox[seq] = replace(row, sent_at_ms=at_ms)

    async def prune_outbox(self, confirmed_seq: int, keep_after_ms: int) -> int:
        doomed = [
            seq
            for seq, row in self.outbox.items()
            if seq <= confirmed_seq and row.event.at_ms < keep_after_ms
        ]
        for seq in doomed:
            self._event_ids.discard(self.outbox.pop(seq).event.event_id)
        return len(doomed)

    async def last_seq(self) -> int:
        return self._last_seq

    async def counts(self) -> dict[str, int]:
        result = {name: len(rows) for name, rows in self.tables.items()}
        result["outbox"] = len(self.outbox)
        return result

    async def close(self) -> None:
        self._closed = True
