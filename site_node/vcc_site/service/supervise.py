"""A team leader acts on a signed-in agent (``Remote.Supervise``).

* ``force_not_ready``: the agent stops taking calls (a call ringing goes back to the head
  of its queue); refused while the agent talks;
* ``force_sign_out``: the agent's session ends (their desk is told why, then closed);
  refused while the agent talks;
* ``listen``, ``whisper``, ``barge_in``: asked for on the agent's call and recorded; the
  audio is the SIP edge's to carry out once it exists. The agent hears a whisper or a
  barge-in, so their desk is told; a listen-in is silent.

Every action is one audit row (actor, ``supervise_<action>``, the agent, the reason and
the call) committed with the state change it makes, so a refused action leaves nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from vcc_domain.errors import Conflict, InvalidInput, NotFound
from vcc_domain.ids import new_id
from vcc_site.service.core import SiteCore
from vcc_site.store.api import AuditRecord, SessionRecord, UnitOfWork

ACTIONS = ("force_not_ready", "force_sign_out", "listen", "whisper", "barge_in")
NEEDS_REASON = frozenset({"force_not_ready", "force_sign_out"})
ON_A_CALL = frozenset({"listen", "whisper", "barge_in"})
MAX_REASON = 500
FORCED_REASON = "other"  # the not-ready reason code a forced not-ready shows
TOLD = {  # what the agent's desk shows (code, text)
    "force_not_ready": ("not_ready_by_supervisor", "Your team leader set you not ready"),
    "force_sign_out": ("signed_out_by_supervisor", "Your team leader signed you out"),
    "whisper": ("whisper", "Your team leader is speaking to you (the caller does not hear)"),
    "barge_in": ("barge_in", "Your team leader joined the call"),
}


@dataclass(frozen=True, slots=True)
class Supervised:
    agent_id: str
    state: str
    call_id: str
    audit_id: str


async def supervise(
    core: SiteCore, actor: str, agent_id: str, action: str, reason: str
) -> Supervised:
    """Carry out ``action`` on ``agent_id`` for ``actor`` (see the module)."""
    if action not in ACTIONS:
        raise InvalidInput(f"must be one of {list(ACTIONS)}", field="action")
    reason = reason.strip()
    if action in NEEDS_REASON and not reason:
        raise InvalidInput("give the agent a reason", field="reason")
    if len(reason) > MAX_REASON:
        raise InvalidInput(f"is longer than {MAX_REASON} characters", field="reason")
    agent = core.agents.get(agent_id) if agent_id else None
    if agent is None:
        raise NotFound(f"agent {agent_id!r} is not signed in at {core.site_id}", field="agent_id")
    call_id = agent.call_id
    if action in ON_A_CALL and (agent.state != "busy" or not call_id):
        raise Conflict(f"agent {agent_id!r} is not on a call ({agent.state})", field="agent_id")
    now = core.now_ms()
    uow = UnitOfWork()
    audit_id = new_id("req")
    told = TOLD.get(action)
    if action == "force_not_ready":
        core.agent_not_ready(agent_id, FORCED_REASON, uow)
    elif action == "force_sign_out":
        if agent.state in ("busy", "ringing"):
            raise Conflict(f"agent {agent_id!r} is on a call; try after it", field="agent_id")
        _tell(core, agent.session_id, now, told, reason)  # before the stream closes
        told = None
        now = core.log_out(agent, uow)
        uow.add(SessionRecord(agent.session_id, agent_id, agent.device, agent.login_at_ms, now))
    detail = "; ".join(x for x in (f"call {call_id}" if call_id else "", reason) if x)
    uow.add(AuditRecord(audit_id, now, actor, f"supervise_{action}", agent_id, detail))
    await core.submit(uow)
    if told is not None:
        _tell(core, agent.session_id, now, told, reason)
    state = "logged_out" if action == "force_sign_out" else agent.state
    return Supervised(agent_id, state, call_id, audit_id)


def _tell(
    core: SiteCore, session_id: str, now: int, told: tuple[str, str] | None, reason: str
) -> None:
    if told is None:
        return
    code, text = told
    core.desk.publish(
        session_id,
        "notice",
        now,
        level="warning",
        code=code,
        text=f"{text}: {reason}" if reason else text,
    )
