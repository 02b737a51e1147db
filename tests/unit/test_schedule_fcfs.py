"""The fast replay of a schedule (first-come-first-served recursion): seeded, callers
counted in their arrival interval, nobody answers while the only agent is on a break or
after the shift, and with many agents everybody is answered at once."""

from __future__ import annotations

from vcc_domain.schedule import WEEK, Schedule, Shift, ShiftRules, on_phone
from vcc_ops.schedule.fcfs import fcfs_replay
from vcc_ops.schedule.model import CallModel

RULES = ShiftRules()  # 8 h, a 30-minute break 3 to 5 h in
MODEL = CallModel(aht_s=60.0, wrapup_s=10.0, ring_delay_s=3.0, patience_s=None, target_s=20.0)


def _schedule(shifts: list[Shift], calls: float) -> Schedule:
    staffed = on_phone(shifts)
    return Schedule(
        "KM", 0, (calls,) * WEEK, (1,) * WEEK, tuple(shifts), tuple(staffed), (1.0,) * WEEK
    )


def test_the_same_seeds_give_the_same_figures_and_callers_count_where_they_arrive() -> None:
    schedule = _schedule([Shift(40, 56, RULES)] * 3, calls=20.0)
    once = fcfs_replay(schedule, MODEL, 44, 50, seeds=range(1, 5))
    assert once == fcfs_replay(schedule, MODEL, 44, 50, seeds=range(1, 5))
    assert sorted(once) == list(range(44, 50))
    assert all(60 < m.offered < 100 for m in once.values())  # about 4 x 20 each
    assert 0 < once[44].within <= once[44].offered


def test_nobody_answers_during_the_only_agents_break_or_after_the_shift() -> None:
    schedule = _schedule([Shift(40, 56, RULES)], calls=2.0)  # break 14:00-14:30
    got = fcfs_replay(schedule, MODEL, 44, 80, seeds=range(1, 41))
    assert got[50].offered > 40 and got[50].service_level > 0.8  # on the phone, idle
    assert got[56].offered > 40 and got[56].within == 0  # on the break (from its start)
    assert got[73].offered > 40 and got[73].within == 0  # the shift ended at 18:00


def test_many_agents_answer_everybody_within_the_target() -> None:
    schedule = _schedule([Shift(40, 56, RULES)] * 40, calls=20.0)
    got = fcfs_replay(schedule, MODEL, 44, 52, seeds=range(1, 9))
    assert all(m.offered > 0 and m.within == m.offered for m in got.values())
