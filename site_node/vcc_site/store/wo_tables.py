"""Tables of work orders, outbound campaign entries and shift handovers (migration 0002).

The rows are the domain records themselves (:class:`~vcc_domain.workorders.WorkOrder`,
:class:`~vcc_domain.outbound.CampaignEntry`, :class:`~vcc_domain.handover.Handover`):
:mod:`vcc_site.store.tables` registers them in its ``SPECS`` so they travel in a
:class:`~vcc_site.store.api.UnitOfWork` with their outbox events, like every other row.
These tables are left out of ``counts()`` (they have their own reads,
:mod:`vcc_site.store.wo_reads`).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, Boolean, Column, Index, Integer, MetaData, String, Table, Text

from vcc_domain.handover import Handover
from vcc_domain.outbound import CampaignEntry
from vcc_domain.workorders import WorkOrder

metadata = MetaData()
ID = String(64)
SHORT = String(32)
NAME = String(128)


def _big(name: str) -> Column[Any]:
    return Column(name, BigInteger, nullable=False)


work_orders = Table(
    "work_orders",
    metadata,
    Column("order_id", ID, primary_key=True),
    Column("site_id", SHORT, nullable=False),
    Column("owner_site", SHORT, nullable=False),
    Column("origin_site", SHORT, nullable=False),
    Column("call_id", ID, nullable=False),
    Column("business_id", ID, nullable=False),
    Column("order_type", SHORT, nullable=False),
    Column("department", NAME, nullable=False),
    Column("state", SHORT, nullable=False),
    _big("created_at_ms"),
    _big("answer_due_ms"),
    _big("latest_due_ms"),
    Column("customer_id", ID, nullable=False),
    Column("caller_number", SHORT, nullable=False),
    Column("agent_id", ID, nullable=False),
    Column("fields", Text, nullable=False),
    Column("area", NAME, nullable=False),
    Column("incident", ID, nullable=False),
    _big("dispatched_at_ms"),
    _big("answered_at_ms"),
    Column("result", Text, nullable=False),
    _big("reply_due_ms"),
    _big("replied_at_ms"),
    Column("callback_required", Boolean, nullable=False),
    _big("callback_from_ms"),
    _big("callback_due_ms"),
    _big("callback_done_at_ms"),
    Column("callback_result", Text, nullable=False),
    _big("closed_at_ms"),
    Column("escalation", Integer, nullable=False),
    Column("chased", Integer, nullable=False),
    Column("forward_state", SHORT, nullable=False),
    _big("version"),
    _big("updated_at_ms"),
    Index("ix_work_orders_state", "state"),
    Index("ix_work_orders_incident", "incident"),
)

campaign_entries = Table(
    "campaign_entries",
    metadata,
    Column("campaign_id", ID, primary_key=True),
    Column("entry_no", Integer, primary_key=True, autoincrement=False),
    Column("kind", SHORT, nullable=False),
    Column("customer_id", ID, nullable=False),
    Column("phone", SHORT, nullable=False),
    Column("tier", SHORT, nullable=False),
    Column("notice", Text, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("state", SHORT, nullable=False),
    Column("result", SHORT, nullable=False),
    _big("last_attempt_at_ms"),
    _big("updated_at_ms"),
)

handovers = Table(
    "handovers",
    metadata,
    Column("handover_id", ID, primary_key=True),
    Column("site_id", SHORT, nullable=False),
    Column("outgoing_leader", ID, nullable=False),
    _big("created_at_ms"),
    Column("unfinished_orders", Text, nullable=False),
    Column("due_callbacks", Text, nullable=False),
    Column("open_incidents", Text, nullable=False),
    Column("notes", Text, nullable=False),
    Column("incoming_leader", ID, nullable=False),
    _big("acknowledged_at_ms"),
)

#: record type -> (table, primary key, insert_only, JSON fields), for ``tables.Spec``.
WO_SPECS: dict[type[Any], tuple[Table, tuple[str, ...], bool, frozenset[str]]] = {
    WorkOrder: (work_orders, ("order_id",), False, frozenset({"fields"})),
    CampaignEntry: (campaign_entries, ("campaign_id", "entry_no"), False, frozenset()),
    Handover: (
        handovers,
        ("handover_id",),
        False,
        frozenset({"unfinished_orders", "due_callbacks", "open_incidents"}),
    ),
}
