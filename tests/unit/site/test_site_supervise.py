"""A team leader's actions on an agent (``Remote.Supervise``), the agent's figures today
and the caller's recent calls, on a real site core over the in-memory store."""

from __future__ import annotations

import pytest

from tests.unit.site.test_site_timers import AGENT, _answered_then_hung_up, _site
from vcc_domain.errors import Conflict, InvalidInput, NotFound
from vcc_site.service import desk_info
from vcc_site.service.supervise import supervise

LEAD = "person:KM-0190"
NUMBER = "13900001111"


async def _actions(core: object) -> list[tuple[str, str, str]]:
    rows = await core.store.audit(AGENT)  # type: ignore[attr-defined]
    return [(r.actor, r.action, r.detail) for r in rows if r.action.startswith("supervise_")]


async def test_listen_whisper_on_a_call_then_not_ready_and_sign_out_after_it() -> None:
    core, access, desk, token = await _site()
    with pytest.raises(Conflict):  # not on a call: nothing to listen to
        await supervise(core, LEAD, AGENT, "listen", "")
    step = await access.offer_call(NUMBER, "1000")
    while step.kind == "collect":
        step = await access.send_digits(step.call_id, "0")
    await desk.answer(token, step.call_id)
    listened = await supervise(core, LEAD, AGENT, "listen", "")
    assert listened.call_id == step.call_id and listened.state == "busy"
    await supervise(core, LEAD, AGENT, "whisper", "mention the refund")
    with pytest.raises(Conflict):  # on a call: not signed out under the caller
        await supervise(core, LEAD, AGENT, "force_sign_out", "shift over")
    with pytest.raises(InvalidInput):
        await supervise(core, LEAD, AGENT, "force_not_ready", "  ")
    with pytest.raises(InvalidInput):
        await supervise(core, LEAD, AGENT, "shout", "x")
    await desk.hang_up(token, step.call_id)

    done = await supervise(core, LEAD, AGENT, "force_not_ready", "team meeting")
    assert done.state == "not_ready" and core.agents[AGENT].state == "not_ready"
    out = await supervise(core, LEAD, AGENT, "force_sign_out", "shift over")
    assert out.state == "logged_out" and AGENT not in core.agents
    with pytest.raises(NotFound):
        await supervise(core, LEAD, AGENT, "listen", "")
    assert sorted(await _actions(core)) == sorted(
        [  # one clock millisecond: any order
            (LEAD, "supervise_listen", f"call {step.call_id}"),
            (LEAD, "supervise_whisper", f"call {step.call_id}; mention the refund"),
            (LEAD, "supervise_force_not_ready", "team meeting"),  # in wrap-up: no call
            (LEAD, "supervise_force_sign_out", "shift over"),
        ]
    )


async def test_my_day_counts_the_agents_calls_and_wrap_ups() -> None:
    core, access, desk, token = await _site()
    assert (await desk_info.my_day(core, AGENT)).answered == 0
    call_id = await _answered_then_hung_up(core, access, desk, token, NUMBER)
    core.clock.advance(7)  # type: ignore[attr-defined]  # seven seconds of after-call work
    await desk.wrap_up(token, call_id, "resolved", "")
    day = await desk_info.my_day(core, AGENT)
    assert (day.answered, day.transferred, day.wrap_ups, day.wrap_up_ms) == (1, 0, 1, 7000)
    assert day.day and day.ring_ms >= 0 and day.talk_ms >= 0


async def test_recent_calls_of_the_caller_leave_out_the_call_itself() -> None:
    core, access, desk, token = await _site()
    first = await _answered_then_hung_up(core, access, desk, token, NUMBER)
    await desk.wrap_up(token, first, "callback", "call back 13900001111 tomorrow")
    step = await access.offer_call(NUMBER, "1000")
    while step.kind == "collect":
        step = await access.send_digits(step.call_id, "0")
    recent = await desk_info.recent_calls(core, AGENT, step.call_id)
    assert [r.call_id for r in recent] == [first]
    assert recent[0].disposition == "callback" and "13900001111" not in recent[0].notes
    with pytest.raises(Conflict):  # somebody else's call
        await desk_info.recent_calls(core, "KM-0001", step.call_id)
