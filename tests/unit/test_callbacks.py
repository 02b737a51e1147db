"""Callbacks as work, the pure rules: offer order, the abandoned-call callback of the
tiers the province names, and on time / late / missed."""

from __future__ import annotations

from dataclasses import replace

import pytest

from vcc_domain import callbacks as cb
from vcc_domain import workorders as wo
from vcc_domain.errors import InvalidInput

NOW = 1_800_000_000_000
H = cb.HOUR_MS


def _owed(order_id: str, tier: str = "middle", at: int = NOW) -> wo.WorkOrder:
    order = cb.abandoned_callback(
        {"middle": 24},
        order_id=order_id,
        site_id="KM",
        call_id=f"call-{order_id}",
        business_id="billing",
        tier=tier,
        caller_number="0871-5550001",
        customer_id="KM-C000001",
        abandoned_at_ms=at,
    )
    assert order is not None
    return order


def test_only_the_named_tiers_with_a_number_are_owed_a_callback() -> None:
    order = _owed("wo_1")
    assert order.order_type == cb.ABANDONED_KIND and order.state == wo.REPLIED
    assert order.callback_due_ms == NOW + 24 * H and order.callback_from_ms == NOW
    for tier, number in (("ordinary", "0871-5550001"), ("vip", "0871-1"), ("middle", "")):
        assert (
            cb.abandoned_callback(
                {"middle": 24},
                order_id="wo_x",
                site_id="KM",
                call_id="c",
                business_id="billing",
                tier=tier,
                caller_number=number,
                customer_id="",
                abandoned_at_ms=NOW,
            )
            is None
        )


def test_offered_by_deadline_inside_the_window_once() -> None:
    early = _owed("wo_b", at=NOW - 10 * H)  # due in 14 h
    late = _owed("wo_a", at=NOW)  # due in 24 h
    not_yet = replace(_owed("wo_c", at=NOW - 20 * H), callback_from_ms=NOW + 1)
    done = wo.callback_done(_owed("wo_d", at=NOW - 23 * H), NOW, "ok")
    elsewhere = replace(_owed("wo_e", at=NOW - 22 * H), owner_site="DL")
    found = cb.next_callbacks([late, not_yet, done, early, elsewhere], NOW)
    assert [o.order_id for o in found] == ["wo_b", "wo_a"]
    assert [o.order_id for o in cb.next_callbacks([late, early], NOW, {"wo_b"})] == ["wo_a"]


def test_on_time_late_missed_pending_and_figures() -> None:
    on_time = wo.callback_done(_owed("wo_1"), NOW + H, "reached")
    late = wo.callback_done(_owed("wo_2"), NOW + 25 * H, "reached")
    missed = _owed("wo_3", at=NOW - 30 * H)
    pending = _owed("wo_4")
    at = NOW + 26 * H - 1
    assert [cb.timeliness(o, NOW + 2 * H) for o in (on_time, pending)] == ["on_time", "pending"]
    assert cb.timeliness(late, at) == "late" and cb.timeliness(missed, at) == "missed"
    rows = cb.callback_figures([on_time, late, missed, replace(pending, created_at_ms=0)], NOW)
    total = rows[-1]
    assert total.kind == "*" and (total.required, total.on_time, total.late) == (4, 1, 1)
    assert (total.missed, total.pending, total.done) == (1, 1, 2)
    assert total.on_time_rate == pytest.approx(1 / 3)


def test_outcome_is_checked() -> None:
    assert cb.check_outcome("  ") == "done"
    with pytest.raises(InvalidInput) as err:
        cb.check_outcome("x" * 201)
    assert err.value.field == "disposition"
