"""Per-call charges, settlement statements and reconciliation, in integer fen (pure).

Rating one CDR (tariff: the one in force on the Beijing date of ``arrival_at_ms``):

* **Access charge**, paid by the caller's home site: ``ceil(duration / unit) × fen per
  unit`` (180 s is one unit, 181 s two), where duration = ``ended_at_ms - arrival_at_ms``.
  It is charged once per call, on its *final* CDR; the CDR a site writes when a call left
  it (``transferred_out``, ``overflowed_out``, ``assigned_out``) carries no access charge.
* **Inter-site handling fee**, when the serving site (``site_id``) is not the caller's
  home site and it handled talk time (overflow, transfer, disaster): paid by the home site
  to the serving site, ``Tariff.inter_site_fee_fen(talk)`` — one per CDR, so each site that
  talked to another site's caller is paid for its own part.

Periods are calendar months in Beijing time ("2026-11") of the call's arrival. A CDR rated
after its period closed goes into the next open period, flagged as an adjustment (with
its original period). Statement totals are sums of per-call charges by construction, and
net positions (receivable − payable) sum to zero over all sites.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

from vcc_domain.errors import InvalidInput
from vcc_domain.province import Tariff
from vcc_domain.stats import LEFT_SITE, Cdr

BEIJING = timezone(timedelta(hours=8), "Asia/Shanghai")
PERIOD_RE = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


def beijing_date(at_ms: int) -> date:
    return datetime.fromtimestamp(at_ms / 1000, UTC).astimezone(BEIJING).date()


def period_of(at_ms: int) -> str:
    d = beijing_date(at_ms)
    return f"{d.year:04d}-{d.month:02d}"


def check_period(period_id: str) -> str:
    if not PERIOD_RE.match(period_id or ""):
        raise InvalidInput(f"period must be YYYY-MM, got {period_id!r}", field="period_id")
    return period_id


def next_period(period_id: str) -> str:
    year, month = (int(x) for x in check_period(period_id).split("-"))
    return f"{year + month // 12:04d}-{month % 12 + 1:02d}"


def period_bounds_ms(period_id: str) -> tuple[int, int]:
    """[start, end) of a period in epoch milliseconds."""
    year, month = (int(x) for x in check_period(period_id).split("-"))
    start = datetime(year, month, 1, tzinfo=BEIJING)
    ny, nm = (year + 1, 1) if month == 12 else (year, month + 1)
    end = datetime(ny, nm, 1, tzinfo=BEIJING)
    return int(start.timestamp() * 1000), int(end.timestamp() * 1000)


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


@dataclass(frozen=True, slots=True)
class Charge:
    cdr_id: str
    call_id: str
    site_id: str  # serving site
    home_site: str  # payer
    period_id: str  # period it is settled in
    arrival_at_ms: int
    duration_ms: int
    access_units: int
    access_fen: int
    handled_ms: int
    handling_fee_fen: int
    tariff_version: str
    adjustment: bool = False
    original_period: str = ""

    @property
    def key(self) -> tuple[str, str]:
        return (self.site_id, self.call_id)

    def same_amounts(self, other: Charge) -> bool:
        return (self.access_fen, self.handling_fee_fen, self.access_units) == (
            other.access_fen,
            other.handling_fee_fen,
            other.access_units,
        )


def rate_cdr(cdr: Cdr, tariff_on: Callable[[date], Tariff]) -> Charge:
    """The charges of one CDR, in its own (arrival) period, not yet an adjustment."""
    tariff = tariff_on(beijing_date(cdr.arrival_at_ms))
    duration = max(0, cdr.ended_at_ms - cdr.arrival_at_ms)
    units = 0
    if cdr.outcome not in LEFT_SITE and duration > 0:
        units = _ceil_div(duration, tariff.unit_seconds * 1000)
    fee = 0
    handled = max(0, cdr.talk_ms)
    if cdr.site_id != cdr.home_site and handled > 0:
        fee = (
            tariff.inter_site_fen_per_call
            + _ceil_div(handled, 60_000) * tariff.inter_site_fen_per_minute
        )
    return Charge(
        cdr.cdr_id,
        cdr.call_id,
        cdr.site_id,
        cdr.home_site,
        period_of(cdr.arrival_at_ms),
        cdr.arrival_at_ms,
        duration,
        units,
        units * tariff.access_fen_per_unit,
        handled,
        fee,
        tariff.version,
    )


def settle_into(charge: Charge, closed: Iterable[str]) -> Charge:
    """Move a charge whose period is closed into the next open period (an adjustment)."""
    closed_set = set(closed)
    if charge.period_id not in closed_set:
        return charge
    period = charge.period_id
    while period in closed_set:
        period = next_period(period)
    return Charge(
        **{
            **asdict(charge),
            "period_id": period,
            "adjustment": True,
            "original_period": charge.period_id,
        }
    )


# -- statements ------------------------------------------------------------------------


@dataclass(slots=True)
class Entry:
    payer_site_id: str
    serving_site_id: str
    calls: int = 0
    handling_fee_fen: int = 0
    handled_minutes: int = 0


@dataclass(slots=True)
class Position:
    site_id: str
    receivable_fen: int = 0
    payable_fen: int = 0
    net_fen: int = 0
    access_fen: int = 0
    access_units: int = 0
    calls: int = 0


@dataclass(slots=True)
class Statement:
    period_id: str
    closed: bool = False
    closed_at_ms: int = 0
    entries: list[Entry] = field(default_factory=list)
    positions: list[Position] = field(default_factory=list)
    calls: int = 0
    total_access_fen: int = 0
    total_handling_fee_fen: int = 0
    adjustments_fen: int = 0
    access_minutes: int = 0
    handled_minutes: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Statement:
        data = dict(d)
        data["entries"] = [Entry(**e) for e in data.get("entries", [])]
        data["positions"] = [Position(**p) for p in data.get("positions", [])]
        return cls(**data)

    def matrix(self) -> dict[tuple[str, str], int]:
        return {(e.payer_site_id, e.serving_site_id): e.handling_fee_fen for e in self.entries}


def build_statement(
    period_id: str,
    charges: Iterable[Charge],
    sites: Iterable[str] = (),
    *,
    closed: bool = False,
    closed_at_ms: int = 0,
) -> Statement:
    """The statement of ``period_id`` from the charges settled in it."""
    st = Statement(period_id, closed, closed_at_ms)
    entries: dict[tuple[str, str], Entry] = {}
    positions: dict[str, Position] = {s: Position(s) for s in sites}
    access_ms = 0
    for ch in charges:
        if ch.period_id != period_id:
            continue
        st.calls += 1
        st.total_access_fen += ch.access_fen
        st.total_handling_fee_fen += ch.handling_fee_fen
        if ch.adjustment:
            st.adjustments_fen += ch.access_fen + ch.handling_fee_fen
        if ch.access_units:
            access_ms += ch.duration_ms
        payer = positions.setdefault(ch.home_site, Position(ch.home_site))
        payer.access_fen += ch.access_fen
        payer.access_units += ch.access_units
        payer.calls += 1
        if ch.handling_fee_fen:
            minutes = _ceil_div(ch.handled_ms, 60_000)
            e = entries.setdefault((ch.home_site, ch.site_id), Entry(ch.home_site, ch.site_id))
            e.calls += 1
            e.handling_fee_fen += ch.handling_fee_fen
            e.handled_minutes += minutes
            st.handled_minutes += minutes
            payer.payable_fen += ch.handling_fee_fen
            positions.setdefault(
                ch.site_id, Position(ch.site_id)
            ).receivable_fen += ch.handling_fee_fen
    for p in positions.values():
        p.net_fen = p.receivable_fen - p.payable_fen
    st.access_minutes = _ceil_div(access_ms, 60_000)
    st.entries = [entries[k] for k in sorted(entries)]
    st.positions = [positions[k] for k in sorted(positions)]
    return st


# -- reconciliation --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Difference:
    item: str
    statement_fen: int
    computed_fen: int
    cdr_id: str = ""


def diff_statements(stated: Statement, computed: Statement) -> list[Difference]:
    """Every total, matrix cell and position that differs."""
    out: list[Difference] = []
    for name in ("calls", "total_access_fen", "total_handling_fee_fen", "adjustments_fen"):
        a, b = getattr(stated, name), getattr(computed, name)
        if a != b:
            out.append(Difference(name, a, b))
    ma, mb = stated.matrix(), computed.matrix()
    for key in sorted(set(ma) | set(mb)):
        if ma.get(key, 0) != mb.get(key, 0):
            out.append(Difference(f"entry {key[0]}->{key[1]}", ma.get(key, 0), mb.get(key, 0)))
    pa = {p.site_id: p for p in stated.positions}
    pb = {p.site_id: p for p in computed.positions}
    for site in sorted(set(pa) | set(pb)):
        for name in ("access_fen", "net_fen"):
            a = getattr(pa[site], name) if site in pa else 0
            b = getattr(pb[site], name) if site in pb else 0
            if a != b:
                out.append(Difference(f"position {site} {name}", a, b))
    net = sum(p.net_fen for p in stated.positions)
    if net != 0:
        out.append(Difference("net positions sum", net, 0))
    return out


def diff_charges(
    stored: Mapping[tuple[str, str], Charge], recomputed: Mapping[tuple[str, str], Charge]
) -> list[Difference]:
    """Per-call charges that are missing, extra, or rated differently."""
    out: list[Difference] = []
    for key in sorted(set(stored) | set(recomputed)):
        a, b = stored.get(key), recomputed.get(key)
        if a is None and b is not None:
            out.append(
                Difference(
                    f"charge missing {key[0]}/{key[1]}",
                    0,
                    b.access_fen + b.handling_fee_fen,
                    b.cdr_id,
                )
            )
        elif b is None and a is not None:
            out.append(
                Difference(
                    f"charge without CDR {key[0]}/{key[1]}",
                    a.access_fen + a.handling_fee_fen,
                    0,
                    a.cdr_id,
                )
            )
        elif a is not None and b is not None and not a.same_amounts(b):
            out.append(
                Difference(
                    f"charge {key[0]}/{key[1]}",
                    a.access_fen + a.handling_fee_fen,
                    b.access_fen + b.handling_fee_fen,
                    a.cdr_id,
                )
            )
    return out
