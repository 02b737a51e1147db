"""A site hands a call for a business it does not accept to the nearest site that does
(through the hub's broker, as an overflow: own class, original arrival), or refuses it
when none takes it; it never queues it here. The broker is a fake here; the real path is
``tests/integration/test_served_by_assignment.py``.

Example province: whistle-blowing reports (180, then 2) are taken in Kunming only.
"""

from __future__ import annotations

from tests.unit.site.test_site_timers import PROVINCE
from vcc_domain.clock import ManualClock
from vcc_site.service.access import AccessService
from vcc_site.service.core import SiteCore
from vcc_site.service.moves import CallMoves
from vcc_site.service.moves.assigned import NOT_SERVED_PROMPT
from vcc_site.service.recovery import seed_site
from vcc_site.service.selfservice import SelfService
from vcc_site.service.transfer import ACCEPTED, REFUSED, Handoff, TransferAnswer
from vcc_site.store.memory import MemorySiteStore

CALLER = "08725550001"  # a Dali caller


class Broker:
    """Answers each handoff with the next outcome for its target site."""

    def __init__(self, answers: dict[str, str]) -> None:
        self.answers = answers
        self.sent: list[Handoff] = []

    async def __call__(self, handoff: Handoff) -> TransferAnswer:
        self.sent.append(handoff)
        outcome = self.answers.get(handoff.target_site, REFUSED)
        return TransferAnswer(
            outcome,
            handoff.call_id,
            handoff.target_site,
            handoff.new_leg_id,
            reason="" if outcome == ACCEPTED else "down",
            queue_position=3 if outcome == ACCEPTED else 0,
        )


async def _site(site: str, broker: Broker | None) -> tuple[SiteCore, AccessService]:
    store = MemorySiteStore(site)
    core = SiteCore(PROVINCE, site, store, ManualClock())
    moves = CallMoves(core, remote_transfer=broker)
    await seed_site(core, 8)
    return core, AccessService(core, SelfService(core), moves=moves)


async def test_dali_hands_a_whistle_blowing_report_to_kunming() -> None:
    broker = Broker({"KM": ACCEPTED})
    core, access = await _site("DL", broker)
    first = await access.offer_call(CALLER, "180")
    step = await access.send_digits(first.call_id, "2")
    assert (step.kind, step.site_id, step.position) == ("queued", "KM", 3)
    assert step.business_id == "whistleblowing"
    (sent,) = broker.sent
    assert sent.call_id == first.call_id and sent.target_site == "KM"
    assert sent.kind == "overflow" and sent.priority == "ordinary"  # the caller's own class
    record = await core.store.call(first.call_id)
    assert record is not None
    assert sent.original_arrival_ms == record.arrival_at_ms
    assert sent.attached["assigned_from"] == "DL"
    assert first.call_id not in core.calls  # never queued here
    assert record.end_reason == "overflowed"
    assert record.attached["overflowed_to_site"] == "KM"
    cdr = await core.store.cdr(first.call_id)
    assert cdr is not None and cdr.outcome == "assigned_out" and cdr.answered_at_ms == 0


async def test_no_accepting_site_takes_it_the_caller_is_told() -> None:
    broker = Broker({})  # Kunming refuses (down)
    core, access = await _site("DL", broker)
    first = await access.offer_call(CALLER, "180")
    step = await access.send_digits(first.call_id, "2")
    assert (step.kind, step.end_reason) == ("ended", "not_accepted")
    assert step.prompts[-1] == NOT_SERVED_PROMPT
    assert [h.target_site for h in broker.sent] == ["KM"]
    cdr = await core.store.cdr(first.call_id)
    assert cdr is not None and cdr.outcome == "not_accepted"
    record = await core.store.call(first.call_id)
    assert record is not None and "assigned_from" not in record.attached
    assert first.call_id not in core.calls


async def test_a_site_that_accepts_the_business_queues_it_itself() -> None:
    broker = Broker({"DL": ACCEPTED})
    core, access = await _site("KM", broker)
    first = await access.offer_call("08715550001", "180")
    step = await access.send_digits(first.call_id, "2")
    assert (step.kind, step.site_id) == ("queued", "")
    assert broker.sent == []
    assert first.call_id in core.calls
