"""Roll-ups for reports that do not grow with the number of calls (issue 6).

Adds day and site-level roll-ups of the interval aggregates, per-day and per-bucket sums
of the per-call charges, and indexes for reading ranges (interval starts, arrivals); then
fills the roll-ups from the rows already there (the same sums the aggregator adds from now
on, in plain SQL: integer sums, ``%`` and exact division only, so SQLite, PostgreSQL and
CockroachDB agree).

Revision ID: reports_0002
Revises: reports_0001
"""

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "reports_0002"
down_revision = "reports_0001"
branch_labels = None
depends_on = None

FIGURE_FIELDS = (
    "offered",
    "answered",
    "abandoned",
    "short_abandoned",
    "ivr_ended",
    "lost",
    "sl_calls",
    "answered_within",
    "wait_answered_ms",
    "talk_ms",
    "hold_ms",
    "ring_ms",
    "transferred",
    "overflow_in",
    "overflow_out",
    "transferred_out",
)
AGENT_FIELDS = ("calls", "talk_ms", "hold_ms", "acw_ms", "wrapups", "not_ready_ms")
CHARGE_SUM_FIELDS = (
    "calls",
    "access_fen",
    "access_units",
    "access_ms",
    "handling_fee_fen",
    "fee_calls",
    "handled_minutes",
    "adjustments_fen",
)
DAY_MS = 86_400_000
BEIJING_OFFSET_MS = 28_800_000
CHARGE_BUCKET_MS = 900_000  # vcc_hub.domain.rollups.CHARGE_BUCKET_MS


def _sums(names: tuple[str, ...]) -> list[sa.Column[int]]:
    return [sa.Column(name, sa.BigInteger, nullable=False) for name in names]


def _create() -> None:
    op.create_table(
        "report_days",
        sa.Column("day_start_ms", sa.BigInteger, primary_key=True),
        sa.Column("site_id", sa.String(16), primary_key=True),
        sa.Column("business_id", sa.String(64), primary_key=True),
        sa.Column("tier", sa.String(16), primary_key=True),
        *_sums(FIGURE_FIELDS),
    )
    op.create_table(
        "report_site_intervals",
        sa.Column("interval_start_ms", sa.BigInteger, primary_key=True),
        sa.Column("site_id", sa.String(16), primary_key=True),
        *_sums(FIGURE_FIELDS),
    )
    op.create_table(
        "report_agent_days",
        sa.Column("day_start_ms", sa.BigInteger, primary_key=True),
        sa.Column("site_id", sa.String(16), primary_key=True),
        sa.Column("agent_id", sa.String(32), primary_key=True),
        *_sums(AGENT_FIELDS),
    )
    op.create_table(
        "report_site_agent_intervals",
        sa.Column("interval_start_ms", sa.BigInteger, primary_key=True),
        sa.Column("site_id", sa.String(16), primary_key=True),
        *_sums(AGENT_FIELDS),
    )
    for name in ("charge_days", "charge_buckets"):
        op.create_table(
            name,
            sa.Column("start_ms", sa.BigInteger, primary_key=True),
            sa.Column("site_id", sa.String(16), primary_key=True),
            sa.Column("home_site", sa.String(16), primary_key=True),
            sa.Column("period_id", sa.String(7), primary_key=True),
            *_sums(CHARGE_SUM_FIELDS),
        )
    op.create_index("ix_charge_days_period_id", "charge_days", ["period_id"])
    op.create_index(
        "ix_report_intervals_interval_start_ms", "report_intervals", ["interval_start_ms"]
    )
    op.create_index("ix_report_agents_interval_start_ms", "report_agents", ["interval_start_ms"])
    op.create_index("ix_call_charges_arrival_at_ms", "call_charges", ["arrival_at_ms"])


def _total(expr: sa.ColumnElement[int], name: str) -> sa.Label[int]:
    return sa.cast(sa.func.sum(expr), sa.BigInteger).label(name)


def _int(name: str) -> sa.ColumnClause[int]:
    return sa.column(name, sa.BigInteger)


def _day_of(column: str) -> sa.ColumnElement[int]:
    return _int(column) - (_int(column) + BEIJING_OFFSET_MS) % DAY_MS


def _insert(
    target: str,
    keys: list[tuple[str, sa.ColumnElement[Any]]],
    sums: list[sa.Label[int]],
    source: str,
) -> None:
    """INSERT INTO target SELECT keys..., sums... FROM source GROUP BY keys."""
    select = (
        sa.select(*[e.label(k) for k, e in keys], *sums)
        .select_from(sa.table(source))
        .group_by(*[e for _, e in keys])
    )
    names = [k for k, _ in keys] + [s.name for s in sums]
    op.get_bind().execute(
        sa.table(target, *[sa.column(n) for n in names]).insert().from_select(names, select)
    )


def _keys(*names: str) -> list[tuple[str, sa.ColumnElement[Any]]]:
    return [(n, sa.column(n, sa.String)) for n in names]


def _charge_sums() -> list[sa.Label[int]]:
    fee = _int("handling_fee_fen") != 0
    up = _int("handled_ms") + 59_999
    minutes = (up - up % 60_000) // 60_000  # exact: a whole number of started minutes
    return [
        sa.cast(sa.func.count(), sa.BigInteger).label("calls"),
        _total(_int("access_fen"), "access_fen"),
        _total(_int("access_units"), "access_units"),
        _total(sa.case((_int("access_units") != 0, _int("duration_ms")), else_=0), "access_ms"),
        _total(_int("handling_fee_fen"), "handling_fee_fen"),
        _total(sa.case((fee, 1), else_=0), "fee_calls"),
        _total(sa.case((fee, minutes), else_=0), "handled_minutes"),
        _total(
            sa.case(
                (
                    sa.column("adjustment", sa.Boolean) == sa.true(),
                    _int("access_fen") + _int("handling_fee_fen"),
                ),
                else_=0,
            ),
            "adjustments_fen",
        ),
    ]


def upgrade() -> None:
    _create()
    figures = [_total(_int(n), n) for n in FIGURE_FIELDS]
    agents = [_total(_int(n), n) for n in AGENT_FIELDS]
    interval = [("interval_start_ms", _int("interval_start_ms")), *_keys("site_id")]
    day = ("day_start_ms", _day_of("interval_start_ms"))
    _insert(
        "report_days", [day, *_keys("site_id", "business_id", "tier")], figures, "report_intervals"
    )
    _insert("report_site_intervals", interval, figures, "report_intervals")
    _insert("report_agent_days", [day, *_keys("site_id", "agent_id")], agents, "report_agents")
    _insert("report_site_agent_intervals", interval, agents, "report_agents")
    pair = _keys("site_id", "home_site", "period_id")
    arrival = _int("arrival_at_ms")
    _insert(
        "charge_days",
        [("start_ms", _day_of("arrival_at_ms")), *pair],
        _charge_sums(),
        "call_charges",
    )
    _insert(
        "charge_buckets",
        [("start_ms", arrival - arrival % CHARGE_BUCKET_MS), *pair],
        _charge_sums(),
        "call_charges",
    )


def downgrade() -> None:
    op.drop_index("ix_call_charges_arrival_at_ms", table_name="call_charges")
    op.drop_index("ix_report_agents_interval_start_ms", table_name="report_agents")
    op.drop_index("ix_report_intervals_interval_start_ms", table_name="report_intervals")
    op.drop_index("ix_charge_days_period_id", table_name="charge_days")
    for name in (
        "charge_buckets",
        "charge_days",
        "report_site_agent_intervals",
        "report_agent_days",
        "report_site_intervals",
        "report_days",
    ):
        op.drop_table(name)
