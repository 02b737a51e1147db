"""Admission by trunks and IVR ports, the time limits, and the earliest arrival."""

from __future__ import annotations

from vcc_domain.province import RoutingPolicy, Site
from vcc_site.domain.admission import (
    IVR_PORTS,
    TRUNKS,
    Capacity,
    earliest_arrival_ms,
    ivr_overdue,
    queue_overdue,
    refusal,
)

NOW = 1_700_000_000_000
POLICY = RoutingPolicy()


def test_capacity_of_a_site_without_limits_is_unlimited() -> None:
    site = Site("KM", "Kunming", ("0871",), 200)
    assert Capacity.of(site) == Capacity(None, None)
    assert refusal(Capacity.of(site), 10**6, 10**6, True) is None


def test_a_call_needs_a_trunk_and_in_the_ivr_a_port() -> None:
    cap = Capacity(trunk_lines=780, ivr_ports=450)
    assert refusal(cap, 779, 449, True) is None
    assert refusal(cap, 780, 0, False) == TRUNKS
    assert refusal(cap, 500, 450, True) == IVR_PORTS
    assert refusal(cap, 500, 450, False) is None  # straight to the queue: no port needed


def test_time_limits() -> None:
    assert not ivr_overdue(NOW - 600_000, NOW, POLICY)
    assert ivr_overdue(NOW - 600_001, NOW, POLICY)
    assert not queue_overdue(NOW - 1_800_000, NOW, POLICY)
    assert queue_overdue(NOW - 1_800_001, NOW, POLICY)
    assert not queue_overdue(0, NOW, POLICY)  # never queued


def test_the_earliest_arrival_a_moved_call_may_bring() -> None:
    assert earliest_arrival_ms(NOW, POLICY) == NOW - 2_400_000 - 60_000
