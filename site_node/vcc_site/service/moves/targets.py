"""Where a call can be moved to, and what it carries there.

Shared by the moves between sites and those at this site (a same-site transfer or
consultation): a named agent's site and whether they can be reserved now, the key of a
same-site consult leg, and the :class:`Handoff` a call carries to another site.
"""

from __future__ import annotations

from vcc_domain.errors import NotFound
from vcc_domain.ids import new_id
from vcc_site.domain.agents import AgentState
from vcc_site.service.core import SiteCore
from vcc_site.service.live import LiveCall
from vcc_site.service.transfer import Handoff

_BUSY = {
    AgentState.BUSY: "busy on a call",
    AgentState.RINGING: "busy (a call is ringing)",
    AgentState.WRAP_UP: "in after-call work",
    AgentState.NOT_READY: "not ready",
}


def consult_slot(call_id: str, leg_id: str) -> str:
    """Key (and ACD key) of a same-site consult leg's entry in ``core.calls``."""
    return f"{call_id}/{leg_id}"


def named_agent_refusal(core: SiteCore, agent_id: str, *, exclude: str = "") -> str:
    """Why ``agent_id`` (a directory agent homed at this site) cannot be reserved for a
    call now; "" when they are logged in here and ready."""
    if agent_id == exclude:
        return "you cannot transfer or consult to yourself"
    if agent_id not in core.agents:
        return f"agent {agent_id} is not logged in at site {core.site_id}"
    state = core.acd.agent(agent_id).state
    if state is not AgentState.READY:
        return f"agent {agent_id} at site {core.site_id} is {_BUSY.get(state, state.value)}"
    return ""


def agent_site(core: SiteCore, agent_id: str) -> str:
    """The site a named agent works at; NotFound for an agent not in the directory."""
    try:
        profile = core.province.agent(agent_id)
    except NotFound:
        raise NotFound(f"unknown agent {agent_id!r}", field="target.agent_id") from None
    if not profile.takes_calls:
        raise NotFound(f"agent {agent_id!r} does not take calls", field="target.agent_id")
    return profile.home_site


def handoff_of(
    call: LiveCall,
    from_site: str,
    to_site: str,
    *,
    kind: str,
    business_id: str = "",
    from_agent: str = "",
    note: str = "",
    target_skill: str = "",
    target_agent: str = "",
    priority: str = "",
    request_id: str = "",
) -> Handoff:
    """What ``call`` carries to ``to_site`` (a transfer, a consult leg or an overflow)."""
    return Handoff(
        call_id=call.call_id,
        new_leg_id=new_id("leg"),
        from_site=from_site,
        from_agent=from_agent,
        caller_number=call.caller_number,
        dialed_code=call.dialed_code,
        business_id=business_id or call.business_id,
        customer=call.customer,
        customer_source=call.customer_source or from_site,
        customer_as_of_ms=call.customer_as_of_ms
        or (call.customer.updated_at_ms if call.customer else 0),
        tier=call.tier,
        ivr_path=tuple(call.ivr_path),
        notes=tuple([*call.notes, note] if note else call.notes),
        attached=dict(call.attached),
        legs=tuple(call.all_legs()),
        original_arrival_ms=call.arrival_at_ms,
        target_site=to_site,
        target_skill=target_skill,
        target_agent=target_agent,
        request_id=request_id or new_id("req"),
        kind=kind,
        priority=priority,
    )
