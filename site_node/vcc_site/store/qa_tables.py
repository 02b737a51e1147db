"""Tables of quality inspection and satisfaction (migration 0006).

The rows are the domain records themselves (:class:`~vcc_domain.quality.QaReview`,
:class:`~vcc_domain.quality.OrderCheck`, :class:`~vcc_domain.satisfaction.Rating`),
registered in :mod:`vcc_site.store.tables` ``SPECS`` like the work-order tables, so they
commit in a :class:`~vcc_site.store.api.UnitOfWork` with their audit rows and events.
Left out of ``counts()``; reads are in :mod:`vcc_site.store.qa_reads`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, Boolean, Column, Index, Integer, MetaData, String, Table, Text

from vcc_domain.published_schedule import ScheduleRow
from vcc_domain.quality import OrderCheck, QaReview
from vcc_domain.satisfaction import Rating

metadata = MetaData()
ID = String(64)
SHORT = String(32)


def _big(name: str) -> Column[Any]:
    return Column(name, BigInteger, nullable=False)


def _str(name: str, kind: Any = ID) -> Column[Any]:
    return Column(name, kind, nullable=False)


qa_reviews = Table(
    "qa_reviews",
    metadata,
    Column("review_id", ID, primary_key=True),
    _str("site_id", SHORT),
    _str("period", SHORT),
    _str("call_id"),
    _str("agent_id"),
    _str("business_id"),
    _str("reason", SHORT),
    _big("created_at_ms"),
    _str("state", SHORT),
    _str("inspector"),
    _str("points", Text),  # JSON object item -> points
    Column("score_bp", Integer, nullable=False),
    _str("comment", Text),
    _big("scored_at_ms"),
    _str("dispute_reason", Text),
    _big("disputed_at_ms"),
    _str("reviewer"),
    _str("review_points", Text),
    Column("review_score_bp", Integer, nullable=False),
    _big("reviewed_at_ms"),
    Index("ix_qa_reviews_period_agent", "period", "agent_id"),
)

order_checks = Table(
    "order_checks",
    metadata,
    Column("order_id", ID, primary_key=True),
    _str("site_id", SHORT),
    _str("period", SHORT),
    _str("agent_id"),
    _str("business_id"),
    _str("order_type", SHORT),
    Column("correct", Boolean, nullable=False),
    Column("key_checked", Boolean, nullable=False),
    Column("key_correct", Boolean, nullable=False),
    _str("inspector"),
    _big("checked_at_ms"),
    _str("note", Text),
    Index("ix_order_checks_period", "period"),
)

ratings = Table(
    "ratings",
    metadata,
    Column("call_id", ID, primary_key=True),
    _str("site_id", SHORT),
    _str("agent_id"),
    _str("business_id"),
    Column("score", Integer, nullable=False),
    _big("rated_at_ms"),
    _str("period", SHORT),
    Index("ix_ratings_period", "period"),
)

# The week's schedule published to the team leaders (migration 0008).
schedules = Table(
    "schedules",
    metadata,
    Column("site_id", SHORT, primary_key=True),
    Column("week_start_ms", BigInteger, primary_key=True),
    _str("shifts", Text),  # JSON [[agent_id, start_ms, end_ms, break_start_ms, break_end_ms]]
    _str("on_phone", Text),  # JSON, per interval of the week
    _str("predicted_sl_bp", Text),  # JSON, per interval of the week
    _str("published_by"),
    _big("published_at_ms"),
)

#: record type -> (table, primary key, insert_only, JSON fields), for ``tables.Spec``.
QA_SPECS: dict[type[Any], tuple[Table, tuple[str, ...], bool, frozenset[str]]] = {
    QaReview: (qa_reviews, ("review_id",), False, frozenset({"points", "review_points"})),
    OrderCheck: (order_checks, ("order_id",), False, frozenset()),
    Rating: (ratings, ("call_id",), True, frozenset()),
    ScheduleRow: (
        schedules,
        ("site_id", "week_start_ms"),
        False,
        frozenset({"shifts", "on_phone", "predicted_sl_bp"}),
    ),
}
