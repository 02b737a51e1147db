"""The table of call recordings kept at the site (migration 0009).

Its rows are :class:`~vcc_domain.recordings.RecordingRow`, registered in
:mod:`vcc_site.store.tables` ``SPECS`` like the quality tables, so a recording's row
commits in one :class:`~vcc_site.store.api.UnitOfWork` with its audit row. Left out of
``counts()``; reads are in :mod:`vcc_site.store.rec_reads`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, Column, Index, MetaData, String, Table, Text

from vcc_domain.recordings import RecordingRow

metadata = MetaData()
ID = String(64)


def _big(name: str) -> Column[Any]:
    return Column(name, BigInteger, nullable=False)


def _str(name: str, kind: Any = ID) -> Column[Any]:
    return Column(name, kind, nullable=False)


recordings = Table(
    "recordings",
    metadata,
    Column("recording_id", ID, primary_key=True),
    _str("site_id", String(32)),
    _str("call_id"),
    _str("sip_call_id", String(255)),
    _str("legs", Text),  # JSON list of the media legs recorded
    _str("agents", Text),  # JSON list of agent IDs
    _str("business_id"),
    _big("started_at_ms"),
    _big("ended_at_ms"),
    _big("duration_ms"),
    _str("file_path", String(255)),
    _big("size_bytes"),
    _str("sha256"),
    _big("stored_at_ms"),
    _big("swept_at_ms"),
    Index("ix_recordings_started", "started_at_ms"),
    Index("ix_recordings_call", "call_id"),
)

#: record type -> (table, primary key, insert_only, JSON fields), for ``tables.Spec``.
REC_SPECS: dict[type[Any], tuple[Table, tuple[str, ...], bool, frozenset[str]]] = {
    RecordingRow: (recordings, ("recording_id",), False, frozenset({"legs", "agents"})),
}
