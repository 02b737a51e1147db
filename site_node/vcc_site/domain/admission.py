"""Admission of calls and the server-side time limits (pure rules; the caller counts).

A site has ``trunk_lines`` into the ACD and ``ivr_ports`` (the province file's site
entry; absent = not limited). A new call needs a free trunk; a call that starts in the
IVR also needs a free port. Every live call at the site holds a trunk; a call in the IVR
holds a port. A call in the IVR longer than ``ivr_limit_s``, or waiting in the queue
longer than ``queue_limit_s``, is ended by the site (with a reason and a CDR), so a
caller who never hangs up (or a client that never does) cannot hold a line for ever.
"""

from __future__ import annotations

from dataclasses import dataclass

from vcc_domain.province import RoutingPolicy, Site

TRUNKS = "trunk_lines"
IVR_PORTS = "ivr_ports"
IVR_TIMEOUT = "ivr_timeout"
QUEUE_TIMEOUT = "queue_timeout"
#: Slack for clocks of different sites when a moved call brings its arrival time.
CLOCK_SLACK_MS = 60_000


@dataclass(frozen=True, slots=True)
class Capacity:
    trunk_lines: int | None = None  # None: not limited
    ivr_ports: int | None = None

    @classmethod
    def of(cls, site: Site) -> Capacity:
        return cls(site.trunk_lines or None, site.ivr_ports or None)


def refusal(capacity: Capacity, live_calls: int, in_ivr: int, enters_ivr: bool) -> str | None:
    """The resource a new call cannot get (``TRUNKS`` or ``IVR_PORTS``), or None."""
    if capacity.trunk_lines is not None and live_calls >= capacity.trunk_lines:
        return TRUNKS
    if enters_ivr and capacity.ivr_ports is not None and in_ivr >= capacity.ivr_ports:
        return IVR_PORTS
    return None


def ivr_overdue(entered_at_ms: int, now_ms: int, policy: RoutingPolicy) -> bool:
    return now_ms - entered_at_ms > policy.ivr_limit_s * 1000


def queue_overdue(queued_at_ms: int, now_ms: int, policy: RoutingPolicy) -> bool:
    return 0 < queued_at_ms and now_ms - queued_at_ms > policy.queue_limit_s * 1000


def earliest_arrival_ms(now_ms: int, policy: RoutingPolicy) -> int:
    """The earliest original arrival an offered call may bring: a call moved between
    sites waited at most the IVR and queue limits before it moved."""
    return now_ms - (policy.ivr_limit_s + policy.queue_limit_s) * 1000 - CLOCK_SLACK_MS
