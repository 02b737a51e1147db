"""The hub's reports schema: aggregates, per-call charges and settlement periods.

* ``report_cursor`` — per site, the event sequence up to which its CDRs and agent states
  are in the aggregates (never above the site's contiguous sequence, see the aggregator).
* ``report_intervals`` — sums and counts per site × business × tier × interval.
* ``report_agents`` — sums and counts per site × agent × interval.
* ``report_agent_open`` — each agent's latest state (closed by its next change).
* ``call_charges`` — one row per CDR (site and call unique), the period it is settled in.
* ``settlement_periods`` — closed periods and their statements (JSON), written once.
* Roll-ups (see :mod:`vcc_hub.domain.rollups`), kept in the same transaction as the rows
  above so a month's report reads a few thousand rows whatever the number of calls:
  ``report_days`` (day × site × business × tier), ``report_site_intervals`` (interval ×
  site), ``report_agent_days`` (day × site × agent), ``report_site_agent_intervals``
  (interval × site), ``charge_days`` and ``charge_buckets`` (charges per day or fixed
  15-minute bucket of arrival × serving site × home site × period). Each key starts with
  its time column, so a range reads a contiguous slice of the primary key.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import BigInteger, Boolean, Column, MetaData, String, Table, Text

from vcc_domain.stats import AGENT_FIELDS, FIGURE_FIELDS
from vcc_hub.domain.rollups import CHARGE_SUM_FIELDS
from vcc_replication.migrations import Migrations

metadata = MetaData()

report_cursor = Table(
    "report_cursor",
    metadata,
    Column("site", String(16), primary_key=True),
    Column("seq", BigInteger, nullable=False),
    Column("updated_at_ms", BigInteger, nullable=False),
)

report_intervals = Table(
    "report_intervals",
    metadata,
    Column("site_id", String(16), primary_key=True),
    Column("business_id", String(64), primary_key=True),
    Column("tier", String(16), primary_key=True),
    Column("interval_start_ms", BigInteger, primary_key=True, index=True),
    *[Column(name, BigInteger, nullable=False, default=0) for name in FIGURE_FIELDS],
)

report_agents = Table(
    "report_agents",
    metadata,
    Column("site_id", String(16), primary_key=True),
    Column("agent_id", String(32), primary_key=True),
    Column("interval_start_ms", BigInteger, primary_key=True, index=True),
    *[Column(name, BigInteger, nullable=False, default=0) for name in AGENT_FIELDS],
)

report_agent_open = Table(
    "report_agent_open",
    metadata,
    Column("site", String(16), primary_key=True),
    Column("agent_id", String(32), primary_key=True),
    Column("state", String(16), nullable=False),
    Column("at_ms", BigInteger, nullable=False),
)

call_charges = Table(
    "call_charges",
    metadata,
    Column("site_id", String(16), primary_key=True),
    Column("call_id", String(64), primary_key=True),
    Column("cdr_id", String(64), nullable=False),
    Column("home_site", String(16), nullable=False),
    Column("period_id", String(7), nullable=False, index=True),
    Column("arrival_at_ms", BigInteger, nullable=False, index=True),
    Column("duration_ms", BigInteger, nullable=False),
    Column("access_units", BigInteger, nullable=False),
    Column("access_fen", BigInteger, nullable=False),
    Column("handled_ms", BigInteger, nullable=False),
    Column("handling_fee_fen", BigInteger, nullable=False),
    Column("tariff_version", String(64), nullable=False),
    Column("adjustment", Boolean, nullable=False),
    Column("original_period", String(7), nullable=False),
    Column("rated_at_ms", BigInteger, nullable=False),
)

settlement_periods = Table(
    "settlement_periods",
    metadata,
    Column("period_id", String(7), primary_key=True),
    Column("closed_at_ms", BigInteger, nullable=False),
    Column("closed_by", String(128), nullable=False),
    Column("statement", Text, nullable=False),
)


def _sums(names: tuple[str, ...]) -> list[Column[int]]:
    return [Column(name, BigInteger, nullable=False, default=0) for name in names]


report_days = Table(
    "report_days",
    metadata,
    Column("day_start_ms", BigInteger, primary_key=True),
    Column("site_id", String(16), primary_key=True),
    Column("business_id", String(64), primary_key=True),
    Column("tier", String(16), primary_key=True),
    *_sums(FIGURE_FIELDS),
)

report_site_intervals = Table(
    "report_site_intervals",
    metadata,
    Column("interval_start_ms", BigInteger, primary_key=True),
    Column("site_id", String(16), primary_key=True),
    *_sums(FIGURE_FIELDS),
)

report_agent_days = Table(
    "report_agent_days",
    metadata,
    Column("day_start_ms", BigInteger, primary_key=True),
    Column("site_id", String(16), primary_key=True),
    Column("agent_id", String(32), primary_key=True),
    *_sums(AGENT_FIELDS),
)

report_site_agent_intervals = Table(
    "report_site_agent_intervals",
    metadata,
    Column("interval_start_ms", BigInteger, primary_key=True),
    Column("site_id", String(16), primary_key=True),
    *_sums(AGENT_FIELDS),
)


def _charge_sums(name: str, *, period_index: bool) -> Table:
    return Table(
        name,
        metadata,
        Column("start_ms", BigInteger, primary_key=True),
        Column("site_id", String(16), primary_key=True),
        Column("home_site", String(16), primary_key=True),
        Column("period_id", String(7), primary_key=True, index=period_index),
        *_sums(CHARGE_SUM_FIELDS),
    )


charge_days = _charge_sums("charge_days", period_index=True)  # period statements
charge_buckets = _charge_sums("charge_buckets", period_index=False)

MIGRATIONS = Migrations(
    Path(__file__).resolve().parent / "migrations" / "reports", "hub_reports_alembic_version"
)
