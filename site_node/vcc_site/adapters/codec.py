"""Conversion between the site's records and protobuf messages, in one place."""

from __future__ import annotations

from vcc_domain.privacy import mask_phone
from vcc_domain.province import Text
from vcc_proto.v1 import common_pb2 as c
from vcc_proto.v1 import site_pb2 as s
from vcc_site.service.access import StepView
from vcc_site.service.live import LiveAgent, LiveCall
from vcc_site.service.notify import DeskEvent
from vcc_site.service.transfer import ACCEPTED, REFUSED, TIMEOUT, Handoff, TransferAnswer
from vcc_site.store.api import CallRecord, CustomerRecord, LegRecord

TIERS = {
    "vip": c.TIER_VIP,
    "high": c.TIER_HIGH,
    "middle": c.TIER_MIDDLE,
    "ordinary": c.TIER_ORDINARY,
    "blacklist": c.TIER_BLACKLIST,
}
CALL_STATE_NAMES: dict[int, str] = {}  # filled below from CALL_STATES
PRIORITIES = {
    "transferred": c.PRIORITY_CLASS_TRANSFERRED,
    "vip": c.PRIORITY_CLASS_VIP,
    "high": c.PRIORITY_CLASS_HIGH,
    "middle": c.PRIORITY_CLASS_MIDDLE,
    "ordinary": c.PRIORITY_CLASS_ORDINARY,
    "blacklist": c.PRIORITY_CLASS_BLACKLIST,
}
CALL_STATES = {
    "ivr": c.CALL_STATE_IVR,
    "queued": c.CALL_STATE_QUEUED,
    "offered": c.CALL_STATE_OFFERED,
    "connected": c.CALL_STATE_CONNECTED,
    "held": c.CALL_STATE_HELD,
    "transferring": c.CALL_STATE_TRANSFERRING,
    "ended": c.CALL_STATE_ENDED,
}
END_REASONS = {
    "caller_hangup": c.END_REASON_CALLER_HANGUP,
    "completed": c.END_REASON_CALLER_HANGUP,
    "agent_hangup": c.END_REASON_AGENT_HANGUP,
    "abandoned": c.END_REASON_ABANDONED,
    "self_service_done": c.END_REASON_SELF_SERVICE_DONE,
    "transferred_out": c.END_REASON_TRANSFERRED_OUT,
    "overflowed": c.END_REASON_TRANSFERRED_OUT,
    "lost": c.END_REASON_SITE_LOST,
    "no_answer": c.END_REASON_REFUSED,
    "transferred": c.END_REASON_TRANSFERRED_OUT,
    "origin_kept": c.END_REASON_TRANSFERRED_OUT,
    "moved_on": c.END_REASON_TRANSFERRED_OUT,
    # ended by the site at a time limit (refused further service)
    "ivr_timeout": c.END_REASON_REFUSED,
    "queue_timeout": c.END_REASON_REFUSED,
    # no live site that accepts the call's business took it (which city serves what)
    "not_accepted": c.END_REASON_REFUSED,
}
CALL_STATE_NAMES.update({v: k for k, v in CALL_STATES.items()})
AGENT_STATES = {
    "logged_out": s.AGENT_STATE_LOGGED_OUT,
    "ready": s.AGENT_STATE_READY,
    "not_ready": s.AGENT_STATE_NOT_READY,
    "ringing": s.AGENT_STATE_RINGING,
    "busy": s.AGENT_STATE_BUSY,
    "wrap_up": s.AGENT_STATE_WRAP_UP,
}
NOT_READY = {
    "away": s.NOT_READY_REASON_AWAY,
    "break": s.NOT_READY_REASON_BREAK,
    "training": s.NOT_READY_REASON_TRAINING,
    "other": s.NOT_READY_REASON_OTHER,
    "ring_no_answer": s.NOT_READY_REASON_RING_NO_ANSWER,
}
NOT_READY_NAMES = {v: k for k, v in NOT_READY.items()}
NOTICE_LEVELS = {
    "info": s.Notice.LEVEL_INFO,
    "warning": s.Notice.LEVEL_WARNING,
    "error": s.Notice.LEVEL_ERROR,
}


def prompts(texts: tuple[Text, ...]) -> list[c.Prompt]:
    out = []
    for t in texts:
        out.append(c.Prompt(text=t.zh, language="zh"))
        out.append(c.Prompt(text=t.en, language="en"))
    return out


def step(view: StepView, site_id: str) -> s.CallStep:
    msg = s.CallStep(call_id=view.call_id, prompts=prompts(view.prompts), ivr_node_id=view.node_id)
    if view.kind == "collect" and view.collect is not None:
        col = view.collect
        msg.collect.CopyFrom(
            s.Collect(
                max_digits=col.max_digits,
                timeout_ms=col.timeout_ms,
                terminator=getattr(col, "terminator", "") or "",
                secret=bool(getattr(col, "secret", False)),
            )
        )
    elif view.kind == "queued":
        msg.queued.CopyFrom(
            s.Queued(
                business_id=view.business_id,
                position=view.position,
                expected_wait_ms=view.expected_wait_ms,
                site_id=view.site_id or site_id,
            )
        )
    elif view.kind == "connected":
        msg.connected.CopyFrom(
            s.Connected(agent_id=view.agent_id, leg_id=view.leg_id, site_id=view.site_id or site_id)
        )
    else:
        msg.ended.CopyFrom(
            s.Ended(
                reason=END_REASONS.get(view.end_reason, c.END_REASON_SELF_SERVICE_DONE),
                detail=view.end_reason,
            )
        )
    return msg


def customer_summary(customer: CustomerRecord | None, as_of_ms: int = 0) -> c.CustomerSummary:
    if customer is None:
        return c.CustomerSummary(tier=c.TIER_ORDINARY)
    return c.CustomerSummary(
        customer_id=customer.customer_id,
        name=customer.name,
        tier=TIERS.get(customer.tier, c.TIER_UNSPECIFIED),
        home_site_id=customer.home_site,
        masked_number=mask_phone(customer.phone),
        open_work_orders=customer.open_work_orders,
        as_of_ms=as_of_ms or customer.updated_at_ms,
    )


def customer(record: CustomerRecord) -> c.Customer:
    return c.Customer(
        customer_id=record.customer_id,
        name=record.name,
        tier=TIERS.get(record.tier, c.TIER_UNSPECIFIED),
        home_site_id=record.home_site,
        phone_numbers=[record.phone],
        contract_number=record.account_no,
        balance_fen=record.balance_fen,
        open_work_orders=record.open_work_orders,
        updated_at_ms=record.updated_at_ms,
    )


TIER_NAMES = {v: k for k, v in TIERS.items()}
PRIORITY_NAMES = {v: k for k, v in PRIORITIES.items() if k != "transferred"}


def customer_record(msg: c.Customer) -> CustomerRecord:
    """A customer read from another site or the hub, as a record (never with a PIN hash)."""
    return CustomerRecord(
        customer_id=msg.customer_id,
        home_site=msg.home_site_id,
        phone=msg.phone_numbers[0] if msg.phone_numbers else "",
        account_no=msg.contract_number,
        name=msg.name,
        tier=TIER_NAMES.get(msg.tier, "ordinary"),
        pin_hash=None,
        balance_fen=msg.balance_fen,
        open_work_orders=msg.open_work_orders,
        updated_at_ms=msg.updated_at_ms,
    )


def ivr_path(labels: tuple[str, ...]) -> list[c.IvrStep]:
    out = []
    for label in labels:
        node, _, digits = label.partition(":")
        out.append(c.IvrStep(node_id=node, digits=digits))
    return out


def call_view(record: CallRecord, legs: list[LegRecord] | None = None) -> s.CallView:
    """A call's view; ``legs``: its legs, oldest first (each with its serving and home
    site)."""
    return s.CallView(
        call_id=record.call_id,
        state=CALL_STATES.get(record.state, c.CALL_STATE_UNSPECIFIED),
        caller_number=mask_phone(record.caller_number),
        dialed_code=record.dialed_code,
        business_id=record.business_id,
        entry_site_id=record.entry_site,
        serving_site_id=record.site_id,
        agent_id=record.agent_id,
        priority=PRIORITIES.get(record.priority, c.PRIORITY_CLASS_UNSPECIFIED),
        original_arrival_at_ms=record.arrival_at_ms,
        arrived_at_ms=record.arrival_at_ms,
        answered_at_ms=record.answered_at_ms,
        ended_at_ms=record.ended_at_ms,
        end_reason=END_REASONS.get(record.end_reason, c.END_REASON_UNSPECIFIED),
        ivr_path=ivr_path(record.ivr_path),
        legs=[leg_summary(leg) for leg in legs or []],
    )


def agent_status(agent: LiveAgent) -> s.AgentStatus:
    return s.AgentStatus(
        agent_id=agent.agent_id,
        state=AGENT_STATES.get(agent.state, s.AGENT_STATE_UNSPECIFIED),
        not_ready_reason=NOT_READY.get(agent.reason, s.NOT_READY_REASON_UNSPECIFIED),
        since_at_ms=agent.since_ms,
        call_id=agent.call_id,
    )


def call_customer(call: LiveCall) -> c.CustomerSummary:
    """The call's customer summary, marked with where it was read (and as of when)."""
    summary = customer_summary(call.customer, call.customer_as_of_ms)
    if not summary.masked_number:  # an unknown caller: the desktop still shows the line
        summary.masked_number = mask_phone(call.caller_number)
    if call.customer is not None:
        if call.customer_source == "hub":
            summary.from_hub_copy = True
        else:
            summary.read_from_site_id = call.customer_source or call.site_id
    return summary


def screen_pop(call: LiveCall) -> s.ScreenPop:
    return s.ScreenPop(
        customer=call_customer(call),
        business_id=call.business_id,
        dialed_code=call.dialed_code,
        ivr_path=ivr_path(call.path_labels()),
        attached_data=call.attached,
        notes=list(call.notes),
        previous_legs=[leg_summary(leg) for leg in call.past_legs()],
        original_arrival_at_ms=call.arrival_at_ms,
        priority=PRIORITIES.get(call.priority, c.PRIORITY_CLASS_UNSPECIFIED),
    )


# -- cross-site transfer: CallContext <-> Handoff, TransferResult <-> TransferAnswer -------

LEG_KINDS = {
    "initial": c.LEG_KIND_INITIAL,
    "agent": c.LEG_KIND_INITIAL,
    "transfer": c.LEG_KIND_TRANSFER,
    "consult": c.LEG_KIND_CONSULT,
    "overflow": c.LEG_KIND_OVERFLOW,
    "reroute": c.LEG_KIND_REROUTE,
}
LEG_KIND_NAMES = {
    c.LEG_KIND_INITIAL: "initial",
    c.LEG_KIND_TRANSFER: "transfer",
    c.LEG_KIND_CONSULT: "consult",
    c.LEG_KIND_OVERFLOW: "overflow",
    c.LEG_KIND_REROUTE: "reroute",
}
END_REASON_NAMES = {
    c.END_REASON_CALLER_HANGUP: "caller_hangup",
    c.END_REASON_AGENT_HANGUP: "agent_hangup",
    c.END_REASON_ABANDONED: "abandoned",
    c.END_REASON_TRANSFERRED_OUT: "transferred_out",
    c.END_REASON_SITE_LOST: "lost",
    c.END_REASON_REFUSED: "no_answer",
}
OUTCOMES = {
    ACCEPTED: c.TransferResult.OUTCOME_ACCEPTED,
    REFUSED: c.TransferResult.OUTCOME_REFUSED,
    TIMEOUT: c.TransferResult.OUTCOME_TIMEOUT,
}
OUTCOME_NAMES = {v: k for k, v in OUTCOMES.items()}


def leg_summary(leg: LegRecord) -> c.LegSummary:
    return c.LegSummary(
        leg_id=leg.leg_id,
        kind=LEG_KINDS.get(leg.kind, c.LEG_KIND_UNSPECIFIED),
        site_id=leg.site_id,
        agent_id=leg.agent_id,
        started_at_ms=leg.offered_at_ms,
        answered_at_ms=leg.answered_at_ms,
        ended_at_ms=leg.ended_at_ms,
        end_reason=END_REASONS.get(leg.end_reason, c.END_REASON_UNSPECIFIED),
        home_site_id=leg.home_site,
    )


def leg_record(call_id: str, msg: c.LegSummary) -> LegRecord:
    return LegRecord(
        msg.leg_id,
        call_id,
        msg.site_id,
        msg.agent_id,
        LEG_KIND_NAMES.get(msg.kind, "initial"),
        msg.started_at_ms,
        msg.answered_at_ms,
        msg.ended_at_ms,
        END_REASON_NAMES.get(msg.end_reason, ""),
        msg.home_site_id,
    )


def call_context(h: Handoff) -> c.CallContext:
    customer = None
    if h.customer is not None:
        customer = customer_summary(h.customer, h.customer_as_of_ms)
        if h.customer_source == "hub":
            customer.from_hub_copy = True
        else:
            customer.read_from_site_id = h.customer_source
    return c.CallContext(
        call_id=h.call_id,
        new_leg_id=h.new_leg_id,
        leg_kind=LEG_KINDS.get(h.kind, c.LEG_KIND_TRANSFER),
        caller_number=h.caller_number,
        dialed_code=h.dialed_code,
        business_id=h.business_id,
        customer=customer,
        ivr_path=[
            c.IvrStep(node_id=node, digits=digits, at_ms=at) for node, digits, at in h.ivr_path
        ],
        notes=list(h.notes),
        attached_data=h.attached,
        legs=[leg_summary(leg) for leg in h.legs],
        original_arrival_at_ms=h.original_arrival_ms,
        priority=PRIORITIES.get(h.priority, c.PRIORITY_CLASS_TRANSFERRED),
        target_agent_id=h.target_agent,
        target_skill_id=h.target_skill,
        from_site_id=h.from_site,
        from_agent_id=h.from_agent,
    )


def handoff(ctx: c.CallContext, request_id: str, target_site: str) -> Handoff:
    summary = ctx.customer if ctx.HasField("customer") else None
    customer, tier, source = None, "ordinary", ""
    if summary is not None:
        tier = TIER_NAMES.get(summary.tier, "ordinary")
        if summary.customer_id:
            customer = CustomerRecord(
                customer_id=summary.customer_id,
                home_site=summary.home_site_id,
                phone=ctx.caller_number,
                account_no="",
                name=summary.name,
                tier=tier,
                open_work_orders=summary.open_work_orders,
                updated_at_ms=summary.as_of_ms,
            )
            source = (
                "hub" if summary.from_hub_copy else (summary.read_from_site_id or ctx.from_site_id)
            )
    return Handoff(
        call_id=ctx.call_id,
        new_leg_id=ctx.new_leg_id,
        from_site=ctx.from_site_id,
        from_agent=ctx.from_agent_id,
        caller_number=ctx.caller_number,
        dialed_code=ctx.dialed_code,
        business_id=ctx.business_id,
        customer=customer,
        customer_source=source,
        customer_as_of_ms=summary.as_of_ms if summary else 0,
        tier=tier,
        ivr_path=tuple((st.node_id, st.digits, st.at_ms) for st in ctx.ivr_path),
        notes=tuple(ctx.notes),
        attached=dict(ctx.attached_data),
        legs=tuple(leg_record(ctx.call_id, leg) for leg in ctx.legs),
        original_arrival_ms=ctx.original_arrival_at_ms,
        target_site=target_site,
        target_skill=ctx.target_skill_id,
        target_agent=ctx.target_agent_id,
        request_id=request_id,
        kind=LEG_KIND_NAMES.get(ctx.leg_kind, "transfer"),
        priority=PRIORITY_NAMES.get(ctx.priority, ""),
    )


def transfer_result(a: TransferAnswer) -> c.TransferResult:
    return c.TransferResult(
        outcome=OUTCOMES[a.outcome],
        call_id=a.call_id,
        leg_id=a.leg_id,
        site_id=a.site_id,
        agent_id=a.agent_id,
        reason=a.reason,
        queue_position=a.queue_position,
    )


def transfer_answer(msg: c.TransferResult) -> TransferAnswer:
    return TransferAnswer(
        OUTCOME_NAMES.get(msg.outcome, REFUSED),
        msg.call_id,
        msg.site_id,
        msg.leg_id,
        msg.agent_id,
        msg.reason,
        msg.queue_position,
    )


CONSULT_PHASES = {
    "requested": s.ConsultEvent.PHASE_REQUESTED,
    "connected": s.ConsultEvent.PHASE_CONNECTED,
    "refused": s.ConsultEvent.PHASE_REFUSED,
    "transferred": s.ConsultEvent.PHASE_TRANSFERRED,
    "conferenced": s.ConsultEvent.PHASE_CONFERENCED,
    "cancelled": s.ConsultEvent.PHASE_CANCELLED,
}
CONSULT_MODES = {
    s.CONSULT_MODE_TRANSFER: "transfer",
    s.CONSULT_MODE_CONFERENCE: "conference",
    s.CONSULT_MODE_CANCEL: "cancel",
}
CONSULT_MODE_VALUES = {v: k for k, v in CONSULT_MODES.items()}
LEG_STATE_NAMES = {
    c.CALL_STATE_OFFERED: "offered",
    c.CALL_STATE_CONNECTED: "connected",
    c.CALL_STATE_ENDED: "ended",
}
LEG_STATE_VALUES = {v: k for k, v in LEG_STATE_NAMES.items()}


def desk_event(event: DeskEvent) -> s.AgentEvent:
    msg = s.AgentEvent(seq=event.seq, at_ms=event.at_ms)
    data = event.data
    if event.kind == "offer":
        call: LiveCall = data["call"]
        msg.offer.CopyFrom(
            s.Offer(
                call_id=call.call_id,
                leg_id=data["leg_id"],
                kind=c.LEG_KIND_CONSULT
                if call.consult_for
                else c.LEG_KIND_TRANSFER
                if call.transferred
                else (c.LEG_KIND_OVERFLOW if call.overflowed else c.LEG_KIND_INITIAL),
                ring_timeout_ms=data["ring_timeout_ms"],
                screen_pop=screen_pop(call),
            )
        )
    elif event.kind == "call_state":
        msg.call_state.CopyFrom(
            s.CallStateChanged(
                call_id=data["call_id"],
                state=CALL_STATES.get(data["state"], c.CALL_STATE_UNSPECIFIED),
                end_reason=END_REASONS.get(data.get("end_reason", ""), c.END_REASON_UNSPECIFIED),
            )
        )
    elif event.kind == "consult":
        msg.consult.CopyFrom(
            s.ConsultEvent(
                phase=CONSULT_PHASES.get(data["phase"], s.ConsultEvent.PHASE_UNSPECIFIED),
                call_id=data["call_id"],
                consult_leg_id=data["leg_id"],
                peer_agent_id=data.get("peer_agent_id", ""),
                peer_site_id=data.get("peer_site_id", ""),
                reason=data.get("reason", ""),
            )
        )
    elif event.kind == "agent_state":
        msg.agent_state.CopyFrom(agent_status(data["agent"]))
    else:
        level = NOTICE_LEVELS.get(str(data.get("level", "")), s.Notice.LEVEL_INFO)
        msg.notice.CopyFrom(
            s.Notice(
                level=level,
                code=str(data.get("code", event.kind)),
                text=str(data.get("text", event.kind)),
            )
        )
    return msg
