"""Outbound notice campaigns (DOMAIN.md §4): bill notices, arrears reminders, outage notices.

A campaign is a list of customers to call. :func:`call_order` puts key customers first
(tier ``vip``, then ``high``, then the rest in tier order), keeping the list's order within
a tier. Each failed attempt is counted; after ``max_attempts`` (the province's
``routing.outbound_max_attempts``, 3) the customer goes on the list returned to the billing
center for a written notice (:data:`RETURNED`). A success ends the entry (:data:`DONE`).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass, replace

from vcc_domain.errors import Conflict, InvalidInput
from vcc_domain.province import TIERS

PENDING, DONE, RETURNED = "pending", "done", "returned"
KINDS = frozenset({"bill_notice", "arrears_reminder", "outage_notice"})
SUCCESS = frozenset({"reached", "notified", "sms_sent"})
# "abandoned": the customer picked up but hung up before an agent took the call
FAILURE = frozenset({"no_answer", "busy", "unreachable", "refused", "abandoned"})
# what a dialer reports when the customer picked up: the call then goes to an agent, and
# the attempt is "reached" once an agent answers it ("abandoned" if none did in time)
ANSWERED = "answered"
KEY_TIERS = ("vip", "high")


@dataclass(frozen=True, slots=True)
class CampaignEntry:
    campaign_id: str
    entry_no: int  # position in the list as loaded (from 0)
    kind: str
    customer_id: str
    phone: str
    tier: str = "ordinary"
    notice: str = ""
    attempts: int = 0
    state: str = PENDING
    result: str = ""
    last_attempt_at_ms: int = 0
    updated_at_ms: int = 0


def tier_rank(tier: str) -> int:
    return TIERS.index(tier) if tier in TIERS else len(TIERS)


def call_order(entries: Iterable[CampaignEntry]) -> list[CampaignEntry]:
    """Pending entries in calling order: key customers first, then fewest attempts, then
    tier, then list position."""
    pending = [e for e in entries if e.state == PENDING]
    return sorted(
        pending, key=lambda e: (e.tier not in KEY_TIERS, e.attempts, tier_rank(e.tier), e.entry_no)
    )


def record_attempt(
    entry: CampaignEntry, outcome: str, now_ms: int, max_attempts: int = 3
) -> CampaignEntry:
    """The entry after one attempt with ``outcome`` (success or failure codes above)."""
    if entry.state != PENDING:
        raise Conflict(
            f"entry {entry.entry_no} of {entry.campaign_id} is {entry.state}", field="state"
        )
    if outcome not in SUCCESS | FAILURE:
        raise InvalidInput(f"unknown outcome; one of {sorted(SUCCESS | FAILURE)}", field="outcome")
    attempts = entry.attempts + 1
    if outcome in SUCCESS:
        state = DONE
    else:
        state = RETURNED if attempts >= max_attempts else PENDING
    return replace(
        entry,
        attempts=attempts,
        state=state,
        result=outcome,
        last_attempt_at_ms=now_ms,
        updated_at_ms=now_ms,
    )


def returned_list(entries: Iterable[CampaignEntry]) -> list[CampaignEntry]:
    """Customers handed back to the billing center (written notice), in list order."""
    return sorted((e for e in entries if e.state == RETURNED), key=lambda e: e.entry_no)


def parse_campaign_csv(
    campaign_id: str, kind: str, text: str, now_ms: int = 0
) -> list[CampaignEntry]:
    """Entries from CSV with a header: ``customer_id,phone[,tier][,notice]``."""
    if kind not in KINDS:
        raise InvalidInput(f"unknown campaign kind; one of {sorted(KINDS)}", field="kind")
    reader = csv.DictReader(io.StringIO(text))
    missing = {"customer_id", "phone"} - set(reader.fieldnames or ())
    if missing:
        raise InvalidInput(f"CSV lacks columns {sorted(missing)}", field="csv")
    entries = []
    for n, row in enumerate(reader):
        phone = (row.get("phone") or "").strip()
        if not phone:
            raise InvalidInput(f"row {n + 2} has no phone", field="csv.phone")
        tier = (row.get("tier") or "ordinary").strip() or "ordinary"
        if tier not in TIERS:
            raise InvalidInput(f"row {n + 2}: unknown tier {tier!r}", field="csv.tier")
        entries.append(
            CampaignEntry(
                campaign_id,
                n,
                kind,
                (row.get("customer_id") or "").strip(),
                phone,
                tier,
                (row.get("notice") or "").strip(),
                updated_at_ms=now_ms,
            )
        )
    return entries


def pace(ready_agents: int, in_flight: int, ratio: float = 1.0) -> int:
    """How many new attempts may start now: at most ``ratio`` attempts per ready agent of
    the campaign's skill in flight at once (``ratio`` 1.0 = one call per free agent;
    above 1 the dialer predicts that some calls will not be answered).

    ``in_flight`` counts the attempts not yet with an agent (ringing at the customer, or
    answered and waiting for or ringing at an agent). An attempt an agent answered no
    longer counts: it holds that agent, who is then not among the ready ones."""
    if ready_agents < 0 or in_flight < 0:
        raise InvalidInput("agent and call counts cannot be negative", field="pace")
    if not 0 < ratio <= 3:
        raise InvalidInput("the pacing ratio must be within (0, 3]", field="ratio")
    return max(0, int(ready_agents * ratio) - in_flight)


def next_batch(
    entries: Iterable[CampaignEntry], in_flight: Iterable[int], slots: int
) -> list[CampaignEntry]:
    """The next ``slots`` pending entries in calling order, leaving out those being called."""
    busy = set(in_flight)
    return [e for e in call_order(entries) if e.entry_no not in busy][: max(0, slots)]
