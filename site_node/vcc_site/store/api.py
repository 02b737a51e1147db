"""What the site's services need from storage: rows as frozen records, one interface.

The service layer never sees SQL. A :class:`UnitOfWork` carries the rows one state
change writes and the outbox events describing it; :meth:`SiteStore.commit` makes them
durable together in one transaction (the store may group several units of work into one
transaction — group commit — but never splits one). Outbox events get the site's next
gap-free event sequence inside that same transaction.

All times are integer milliseconds since the Unix epoch (``*_ms``); money is integer fen.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Protocol

from google.protobuf.message import Message

from vcc_domain.handover import Handover
from vcc_domain.outbound import CampaignEntry
from vcc_domain.published_schedule import ScheduleRow
from vcc_domain.quality import OrderCheck, QaReview
from vcc_domain.recordings import RecordingRow
from vcc_domain.satisfaction import Rating
from vcc_domain.workorders import WorkOrder
from vcc_proto.v1.events_pb2 import Cdr


@dataclass(frozen=True, slots=True)
class CustomerRecord:
    customer_id: str  # global, e.g. "KM-C000123"
    home_site: str
    phone: str  # the bound phone number (identity by caller number)
    account_no: str  # contract number (identity by account + PIN)
    name: str
    tier: str  # vip | high | middle | ordinary | blacklist
    pin_hash: str | None = None  # argon2; None until the customer sets one
    pin_failures: int = 0
    pin_locked_until_ms: int = 0
    balance_fen: int = 0  # prepaid balance / credit
    bill_fen: int = 0  # amount of the latest bill
    bill_due_at_ms: int = 0
    open_work_orders: int = 0
    updated_at_ms: int = 0


@dataclass(frozen=True, slots=True)
class CallRecord:
    call_id: str  # global call ID, the same at every site
    site_id: str  # the site holding this record (serving site)
    entry_site: str  # where the caller first reached the province
    home_site: str  # the caller's home site ("" if unknown caller)
    caller_number: str
    dialed_code: str
    business_id: str
    customer_id: str | None
    tier: str
    priority: str  # transferred | vip | high | middle | ordinary | blacklist
    state: str  # ivr | queued | offered | connected | held | ended
    arrival_at_ms: int  # original arrival in the province (kept across overflow/transfer)
    queued_at_ms: int = 0
    offered_at_ms: int = 0
    answered_at_ms: int = 0
    ended_at_ms: int = 0
    end_reason: str = ""
    agent_id: str = ""
    ivr_path: tuple[str, ...] = ()
    attached: dict[str, str] = field(default_factory=dict)
    transferred: bool = False
    overflowed: bool = False
    hold_ms: int = 0
    disposition: str = ""
    notes: str = ""
    updated_at_ms: int = 0


@dataclass(frozen=True, slots=True)
class LegRecord:
    """A stretch of a call served by one agent at one site (settlement reads where it was
    served, ``site_id``, against whose caller it was, ``home_site``)."""

    leg_id: str
    call_id: str
    site_id: str  # serving site: the site whose agent took the leg
    agent_id: str
    kind: str  # initial | transfer | consult | overflow
    offered_at_ms: int
    answered_at_ms: int = 0
    ended_at_ms: int = 0
    end_reason: str = ""
    home_site: str = ""  # the caller's home site (customer's, else the caller's area's)


#: The one final record of a call at this site; written once, never updated. It is the
#: protobuf message of the events contract (``vcc_proto/v1/events.proto``), the same the
#: hub, the reports and settlement read: its fields are defined there only.
CdrRecord = Cdr


@dataclass(frozen=True, slots=True)
class SessionRecord:
    session_id: str
    agent_id: str
    device: str
    login_at_ms: int
    logout_at_ms: int = 0


@dataclass(frozen=True, slots=True)
class AgentStateRecord:
    """One completed stretch of an agent state, with its duration."""

    agent_id: str
    session_id: str
    state: str  # not_ready | ready | ringing | busy | wrap_up
    reason: str
    started_at_ms: int
    ended_at_ms: int
    duration_ms: int


@dataclass(frozen=True, slots=True)
class CredentialRecord:
    agent_id: str
    password_hash: str  # argon2
    failures: int = 0
    locked_until_ms: int = 0
    must_change: bool = False  # an initial or reset password: change it at sign-in


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """Password handling and business transactions are fully recorded (DOMAIN §3)."""

    audit_id: str
    at_ms: int
    actor: str  # agent id, "ivr", "remote:<site>", ...
    action: str  # login_failed, pin_verified, pin_failed, pin_locked, pin_set, ...
    subject: str  # customer id, agent id, call id
    detail: str = ""  # never a password, PIN or unmasked number


@dataclass(frozen=True, slots=True)
class Event:
    """An outbox event; the store assigns ``seq`` when it commits."""

    event_id: str  # global, "evt_..."
    kind: str  # call.offered, call.ended, cdr.created, agent.state, customer.updated, ...
    aggregate_id: str  # call id, agent id, customer id
    body: Message  # the kind's message of ``vcc_proto/v1/events.proto`` (CallOffered, ...)
    at_ms: int


@dataclass(frozen=True, slots=True)
class OutboxRow:
    seq: int
    event: Event
    sent_at_ms: int = 0
    data: bytes = b""  # the event as stored (``vcc_replication.events.stored``)


Row = (
    CustomerRecord
    | CallRecord
    | LegRecord
    | CdrRecord
    | SessionRecord
    | AgentStateRecord
    | CredentialRecord
    | AuditRecord
    | WorkOrder  # work orders, campaigns, handovers: vcc_site.store.wo_tables
    | CampaignEntry
    | Handover
    | QaReview  # quality inspection and ratings: vcc_site.store.qa_tables
    | OrderCheck
    | Rating
    | ScheduleRow  # the published week's schedule: vcc_site.store.qa_tables
    | RecordingRow  # call recordings: vcc_site.store.rec_tables
)


@dataclass
class UnitOfWork:
    """Rows to upsert (by primary key) and events to append, atomically."""

    rows: list[Row] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)

    def add(self, *rows: Row) -> UnitOfWork:
        self.rows.extend(rows)
        return self

    def emit(self, *events: Event) -> UnitOfWork:
        self.events.extend(events)
        return self

    def __bool__(self) -> bool:
        return bool(self.rows or self.events)


class SiteStore(Protocol):
    """Storage of one site. Every method is safe to call concurrently from one loop."""

    async def migrate(self) -> None:
        """Bring the schema to the latest version (idempotent)."""

    async def commit(self, uow: UnitOfWork) -> list[int]:
        """Write the unit of work in one transaction; returns the events' sequences.

        Upserts rows by primary key. A ``CdrRecord`` for a call that already has one, or an
        ``AgentStateRecord``/``AuditRecord`` repeated, raises ``Conflict`` and writes
        nothing of this unit. Returns only after the transaction is durable.
        """

    def enqueue(self, uow: UnitOfWork) -> asyncio.Future[list[int]]:
        """:meth:`commit` as a future: the unit is handed over now, in call order (no
        task per unit on the hot path)."""

    async def customer_by_phone(self, phone: str) -> CustomerRecord | None: ...
    async def customer_by_account(self, account_no: str) -> CustomerRecord | None: ...
    async def customer(self, customer_id: str) -> CustomerRecord | None: ...
    async def credential(self, agent_id: str) -> CredentialRecord | None: ...
    async def swap_failures(
        self, kind: str, key: str, old: tuple[int, int], new: tuple[int, int]
    ) -> bool:
        """Set ``(failures, locked_until_ms)`` of an agent's credential (``kind``
        "agent") or a customer's PIN ("customer") to ``new`` only if they are still
        ``old``, in one statement; False when another attempt changed them first (read
        again and retry) or the row is missing. Failure counters go through this and not
        through :meth:`commit`, so concurrent attempts cannot both count from one value."""

    async def call(self, call_id: str) -> CallRecord | None: ...
    async def open_calls(self) -> list[CallRecord]:
        """Calls not in state ``ended`` (for recovery after a restart)."""

    async def calls_of_caller(self, caller_number: str, limit: int) -> list[CallRecord]:
        """The caller's latest calls at this site, newest first (at most ``limit``)."""
        ...

    async def open_sessions(self) -> list[SessionRecord]: ...
    async def cdr(self, call_id: str) -> CdrRecord | None: ...
    async def legs(self, call_id: str) -> list[LegRecord]:
        """Legs of a call served at this site, oldest first."""

    async def cdrs(self, limit: int = 1000, after_ended_at_ms: int = 0) -> list[CdrRecord]: ...
    async def state_history(self, agent_id: str) -> list[AgentStateRecord]: ...
    async def audit(self, subject: str) -> list[AuditRecord]: ...
    async def outbox_after(self, seq: int, limit: int = 500) -> list[OutboxRow]: ...
    async def mark_sent(self, up_to_seq: int, at_ms: int) -> None: ...
    async def prune_outbox(self, confirmed_seq: int, keep_after_ms: int) -> int: ...
    async def last_seq(self) -> int: ...
    async def counts(self) -> dict[str, int]:
        """Row count per table (tests and figures)."""

    async def close(self) -> None: ...
