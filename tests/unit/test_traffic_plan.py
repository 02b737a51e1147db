"""The demo's callers: reproducible draws, IVR walks that reach an agent, clear errors."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from vcc_domain.clock import ScaledClock, wall_seconds
from vcc_domain.errors import InvalidInput
from vcc_domain.province import NodeKind, load_province_file
from vcc_ops.cli import example_province_path
from vcc_ops.traffic.plan import CallPlanner, IvrWalker, TrafficConfig

PROVINCE = load_province_file(example_province_path())


def test_same_seed_same_callers() -> None:
    a = CallPlanner(PROVINCE, TrafficConfig(seed=7))
    b = CallPlanner(PROVINCE, TrafficConfig(seed=7))
    assert [a.draw() for _ in range(200)] == [b.draw() for _ in range(200)]
    c = CallPlanner(PROVINCE, TrafficConfig(seed=8))
    assert [c.draw() for _ in range(50)] != [
        CallPlanner(PROVINCE, TrafficConfig(seed=7)).draw() for _ in range(50)
    ]


def test_callers_follow_the_seat_weights_and_code_mix() -> None:
    planner = CallPlanner(PROVINCE, TrafficConfig(seed=3))
    calls = [planner.draw() for _ in range(20_000)]
    km_share = sum(1 for call in calls if call.area_code in PROVINCE.site("KM").area_codes) / len(
        calls
    )
    assert km_share == pytest.approx(planner.site_share("KM"), abs=0.02)
    codes = Counter(call.dialed_code for call in calls)
    share_1000 = planner.code_weights[planner.codes.index("1000")] / sum(planner.code_weights)
    assert codes["1000"] / len(calls) == pytest.approx(share_1000, abs=0.02)
    mean_handle = sum(call.handle_s for call in calls) / len(calls)
    assert mean_handle == pytest.approx(120.0, rel=0.05)
    transfers = sum(call.transfer for call in calls) / len(calls)
    assert transfers == pytest.approx(0.03, abs=0.006)


def test_surge_callers_come_from_the_surge_site() -> None:
    planner = CallPlanner(PROVINCE, TrafficConfig(seed=3))
    qj = PROVINCE.site("QJ").area_codes
    assert all(planner.draw("QJ").area_code in qj for _ in range(100))


@pytest.mark.parametrize("code", sorted({c for b in PROVINCE.businesses for c in b.dialed_codes}))
def test_the_ivr_walk_reaches_a_queue_node(code: str) -> None:
    """Walking every business's menu with the walker's choices ends at a queue node."""
    planner = CallPlanner(
        PROVINCE, TrafficConfig(seed=1, invalid_key_share=0, self_service_share=0)
    )
    business = PROVINCE.business_for_code(code)
    for i in range(20):
        call = planner.draw()
        call = call.__class__(**{**call.__dict__, "dialed_code": code})
        walker = IvrWalker(PROVINCE, call, random.Random(i))
        node = business.ivr.node(business.ivr.root)
        for _ in range(10):
            if node.kind != NodeKind.MENU:
                break
            digit = walker.choose(node.id, secret=False, max_digits=1)
            assert digit is not None and digit in node.options
            node = business.ivr.node(node.options[digit])
        assert node.kind == NodeKind.QUEUE


def test_an_invalid_key_first_then_a_valid_one() -> None:
    planner = CallPlanner(PROVINCE, TrafficConfig(seed=1, invalid_key_share=1.0))
    call = planner.draw()
    menu = PROVINCE.business_for_code(call.dialed_code).ivr
    walker = IvrWalker(PROVINCE, call, random.Random(1))
    root = menu.node(menu.root)
    assert walker.choose(root.id, False, 1) not in root.options
    assert walker.choose(root.id, False, 1) in root.options


def test_a_pin_prompt_gets_six_digits_and_a_walk_is_bounded() -> None:
    call = CallPlanner(PROVINCE, TrafficConfig(seed=1)).draw()
    walker = IvrWalker(PROVINCE, call, random.Random(1))
    pin = walker.choose("bill_query:pin", secret=True, max_digits=6)
    assert pin is not None and len(pin) == 6 and pin.isdigit()
    answers = [walker.choose("bill_query:account", False, 8) for _ in range(IvrWalker.MAX_KEYS)]
    assert answers[-1] is None  # the caller gives up instead of keying forever


@pytest.mark.parametrize(
    "bad", [{"calls_per_s": 0}, {"speed": 0.5}, {"handle_s": -1}, {"transfer_share": 1.5}]
)
def test_bad_traffic_settings_are_refused(bad: dict[str, float]) -> None:
    with pytest.raises(InvalidInput):
        TrafficConfig(**bad)  # type: ignore[arg-type]


def test_scaled_clock_runs_faster_and_timers_shrink() -> None:
    clock = ScaledClock(30.0, epoch=1_000.0)
    assert clock.now() > 1_000.0 + 30 * 0.9 * (clock.now() - 1_000.0) / 30  # sanity: moves
    t0, m0 = clock.now(), clock.monotonic()
    import time

    time.sleep(0.05)
    assert clock.now() - t0 >= 30 * 0.05 * 0.9
    assert clock.monotonic() - m0 >= 30 * 0.05 * 0.9
    assert wall_seconds(clock, 60) == pytest.approx(2.0)
    with pytest.raises(ValueError):
        ScaledClock(0.5)
