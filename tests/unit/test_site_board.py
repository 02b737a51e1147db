"""The site's wallboard pieces: the change signal, the coalescing watch, and today's
tallies by the reports' rules (service level by tier, abandons, the day's end)."""

from __future__ import annotations

import asyncio

import pytest

from vcc_domain.clock import ManualClock
from vcc_domain.province import Business, parse_province
from vcc_ops.cli import example_province_path
from vcc_proto.v1.events_pb2 import Cdr
from vcc_site.service.board import BoardSignal, DayTally, SiteBoard, day_start_ms, local_day, watch
from vcc_site.service.core import SiteCore
from vcc_site.service.recovery import count_today
from vcc_site.store.api import UnitOfWork
from vcc_site.store.memory import MemorySiteStore

DAY_MS = 86_400_000
NOON = 1_764_907_200_000  # 2025-12-05 12:00 in China (04:00 UTC)


@pytest.fixture(scope="module")
def general() -> Business:
    return parse_province(example_province_path().read_text(), "yunnan").business("general")


def cdr(outcome: str, wait_ms: int, *, tier: str = "ordinary", at: int = NOON, n: int = 0) -> Cdr:
    answered = at + wait_ms if outcome == "answered" else 0
    return Cdr(
        cdr_id=f"cdr-{at}-{n}",
        call_id=f"c-{outcome}-{wait_ms}-{at}-{n}",
        site_id="KM",
        entry_site="KM",
        business_id="general",
        tier=tier,
        outcome=outcome,
        arrival_at_ms=at,
        answered_at_ms=answered,
        ended_at_ms=at + wait_ms + 1000,
        wait_ms=wait_ms,
    )


def test_service_level_and_abandons_by_tier(general: Business) -> None:
    tally = DayTally()
    within = general.service_levels["ordinary"].within_s * 1000
    tally.add(cdr("answered", within - 1), general)
    tally.add(cdr("answered", within + 1), general)
    tally.add(cdr("abandoned", within * 2), general)  # counted against the level
    tally.add(cdr("abandoned", 100), general)  # a short abandon: not judged
    tally.add(cdr("answered", 0, tier="vip"), general)
    today = tally.of("general", NOON + 5000)
    assert (today["ordinary"].answered_within, today["ordinary"].sl_calls) == (1, 3)
    assert today["ordinary"].abandoned + today["ordinary"].short_abandoned == 2
    assert (today["vip"].answered_within, today["vip"].sl_calls) == (1, 1)
    assert tally.of("fault", NOON) == {}


def test_a_new_day_starts_from_nothing(general: Business) -> None:
    tally = DayTally()
    tally.add(cdr("answered", 0), general)
    assert tally.of("general", NOON + DAY_MS) == {}  # yesterday's calls are not today's
    tally.add(cdr("answered", 0, at=NOON + DAY_MS), general)
    assert tally.of("general", NOON + DAY_MS)["ordinary"].answered == 1
    assert local_day(NOON + DAY_MS) == "2025-12-06"
    assert (
        local_day(day_start_ms(NOON)) == "2025-12-05" == local_day(day_start_ms(NOON) - 1 + DAY_MS)
    )
    tally.add(cdr("answered", 0), general)  # a late report of yesterday's call
    assert tally.of("general", NOON + DAY_MS)["ordinary"].answered == 1


async def test_a_restarted_site_counts_the_calls_of_today_again() -> None:
    province = parse_province(example_province_path().read_text(), "yunnan")
    store = MemorySiteStore("KM")
    rows = [cdr("answered", 0, at=NOON - DAY_MS)]  # yesterday's
    rows += [cdr("answered", 0, at=NOON, n=i) for i in range(2)]  # ending in one millisecond
    rows += [cdr("abandoned", 9000, at=NOON + 60_000)]
    await store.commit(UnitOfWork().add(*rows))
    core = SiteCore(province, "KM", store, ManualClock(NOON / 1000 + 3600))
    assert await count_today(core, page=2) == 3
    today = core.today.of("general", core.now_ms())
    assert today["ordinary"].answered == 2 and today["ordinary"].abandoned == 1


def test_an_unknown_business_or_tier_is_left_out(general: Business) -> None:
    tally = DayTally()
    tally.add(cdr("answered", 0), None)
    tally.add(cdr("answered", 0, tier="nobody"), general)
    assert tally.of("general", NOON) == {}


async def test_a_board_at_once_then_one_per_burst_of_changes() -> None:
    signal, made = BoardSignal(), []

    def make() -> SiteBoard:
        made.append(signal.version)
        return SiteBoard("KM", signal.version, "2025-12-05")

    boards = watch(signal, make, gap_s=0.0)
    assert (await anext(boards)).as_of_ms == 0  # nothing changed: the first board anyway
    nxt = asyncio.ensure_future(anext(boards))
    await asyncio.sleep(0)
    assert not nxt.done()  # nothing changed: nothing sent
    for _ in range(3):
        signal.changed()
    assert (await nxt).as_of_ms == 3  # three changes, one board
    assert made == [0, 3]
    await boards.aclose()
