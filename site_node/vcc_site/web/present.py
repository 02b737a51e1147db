"""What the desktop page is sent: the site's desk events as small JSON objects.

Only what the page shows leaves the site: the caller's number masked as the site masked
it, never a full number (a ``CallView`` is not forwarded). Enum values become short
lower-case names (``ready``, ``wrap_up``, ``vip``).
"""

from __future__ import annotations

from typing import Any

from vcc_proto.v1 import common_pb2 as c
from vcc_proto.v1 import site_pb2 as s

# the caller keyed their 6-digit PIN correctly on this call (attached data of the call)
PIN_VERIFIED_KEY = "pin_verified"

Json = dict[str, Any]


def _name(full: str, prefix: str) -> str:
    return full.removeprefix(prefix).lower()


def agent_status(status: s.AgentStatus) -> Json:
    return {
        "type": "agent",
        "agent_id": status.agent_id,
        "state": _name(s.AgentState.Name(status.state), "AGENT_STATE_"),
        "reason": _name(s.NotReadyReason.Name(status.not_ready_reason), "NOT_READY_REASON_"),
        "since_at_ms": status.since_at_ms,
        "call_id": status.call_id,
    }


def customer(summary: c.CustomerSummary) -> Json:
    return {
        "customer_id": summary.customer_id,
        "name": summary.name,
        "tier": _name(c.Tier.Name(summary.tier), "TIER_"),
        "home_site_id": summary.home_site_id,
        "masked_number": summary.masked_number,
        "open_work_orders": summary.open_work_orders,
        "from_hub_copy": summary.from_hub_copy,
    }


def screen_pop(pop: s.ScreenPop) -> Json:
    return {
        "customer": customer(pop.customer),
        "business_id": pop.business_id,
        "dialed_code": pop.dialed_code,
        "ivr_path": [{"node": step.node_id, "digits": step.digits} for step in pop.ivr_path],
        "pin_verified": pop.attached_data.get(PIN_VERIFIED_KEY, "") == "1",
        "notes": list(pop.notes),
        "previous_legs": [
            {
                "site_id": leg.site_id,
                "agent_id": leg.agent_id,
                "kind": _name(c.LegKind.Name(leg.kind), "LEG_KIND_"),
                "note": leg.note,
            }
            for leg in pop.previous_legs
        ],
        "arrival_at_ms": pop.original_arrival_at_ms,
        "priority": _name(c.PriorityClass.Name(pop.priority), "PRIORITY_CLASS_"),
    }


def offer(msg: s.Offer, at_ms: int = 0) -> Json:
    """``waited_ms``: from the call's first arrival to the offer, in the site's time (the
    browser's clock and a demo's faster province time never meet)."""
    arrival = msg.screen_pop.original_arrival_at_ms
    return {
        "type": "offer",
        "call_id": msg.call_id,
        "kind": _name(c.LegKind.Name(msg.kind), "LEG_KIND_"),
        "ring_timeout_ms": msg.ring_timeout_ms,
        "waited_ms": max(0, at_ms - arrival) if at_ms and arrival else 0,
        "pop": screen_pop(msg.screen_pop),
    }


def call_view(view: s.CallView) -> Json:
    """A call's state after an agent's action (nothing else of the view: it holds the
    caller's full number)."""
    return {
        "type": "call",
        "call_id": view.call_id,
        "state": _name(c.CallState.Name(view.state), "CALL_STATE_"),
        "end_reason": _name(c.EndReason.Name(view.end_reason), "END_REASON_"),
    }


def transfer_result(result: c.TransferResult) -> Json:
    return {
        "type": "transfer",
        "call_id": result.call_id,
        "outcome": _name(c.TransferResult.Outcome.Name(result.outcome), "OUTCOME_"),
        "site_id": result.site_id,
        "agent_id": result.agent_id,
        "reason": result.reason,
        "queue_position": result.queue_position,
    }


def event(msg: s.AgentEvent) -> Json | None:
    """The page's form of one desk event (with ``at_ms``: when it happened at the site);
    None for one the page does not show."""
    shown = _event(msg)
    if shown is not None and shown["type"] != "closed":
        shown["at_ms"] = msg.at_ms
    return shown


def _event(msg: s.AgentEvent) -> Json | None:
    kind = msg.WhichOneof("event")
    if kind == "agent_state":
        return agent_status(msg.agent_state)
    if kind == "offer":
        return offer(msg.offer, msg.at_ms)
    if kind == "call_state":
        return {
            "type": "call",
            "call_id": msg.call_state.call_id,
            "state": _name(c.CallState.Name(msg.call_state.state), "CALL_STATE_"),
            "end_reason": _name(c.EndReason.Name(msg.call_state.end_reason), "END_REASON_"),
        }
    if kind == "transfer":
        return transfer_result(msg.transfer)
    if kind == "consult":
        phase = s.ConsultEvent.Phase.Name(msg.consult.phase)
        return {
            "type": "consult",
            "call_id": msg.consult.call_id,
            "phase": _name(phase, "PHASE_"),
            "peer_agent_id": msg.consult.peer_agent_id,
            "peer_site_id": msg.consult.peer_site_id,
            "reason": msg.consult.reason,
        }
    if kind == "notice":
        level = _name(s.Notice.Level.Name(msg.notice.level), "LEVEL_")
        if msg.notice.code == "closed":
            return {"type": "closed"}
        return {"type": "notice", "level": level, "code": msg.notice.code, "text": msg.notice.text}
    return None


def work_order(order: s.WorkOrder) -> Json:
    return {
        "type": "work_order",
        "order_id": order.order_id,
        "order_type": order.order_type,
        "department": order.department,
        "state": order.state,
        "owner_site": order.owner_site,
        "answer_due_ms": order.answer_due_ms,
    }


def board(msg: s.SiteBoard) -> Json:
    """The wallboard: per business the live queue and today's figures, and the agents."""
    return {
        "type": "board",
        "site_id": msg.site_id,
        "as_of_ms": msg.as_of_ms,
        "day": msg.day,
        "businesses": [
            {
                "business_id": b.figures.business_id,
                "waiting": b.figures.waiting,
                "longest_wait_ms": b.figures.longest_wait_ms,
                "ewt_ms": b.figures.ewt_ms,
                "agents_ready": b.figures.agents_ready,
                "agents_busy": b.figures.agents_busy,
                "agents_wrap_up": b.figures.agents_wrap_up,
                "agents_not_ready": b.figures.agents_not_ready,
                "abandoned": b.abandoned_today,
                "answered": b.answered_today,
                "offered": b.offered_today,
                "tiers": [
                    {
                        "tier": t.tier,
                        "answered_within": t.answered_within,
                        "sl_calls": t.sl_calls,
                        "target_percent": t.target_percent,
                        "target_within_s": t.target_within_s,
                    }
                    for t in b.tiers
                ],
            }
            for b in msg.businesses
        ],
        "agents": [
            {
                "agent_id": a.agent_id,
                "name": a.name,
                "state": a.state,
                "reason": a.reason,
                "in_state_ms": max(0, msg.as_of_ms - a.since_ms),
                "call_id": a.call_id,
            }
            for a in msg.agents
        ],
    }
