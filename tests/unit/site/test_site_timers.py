"""The site's ring and wrap-up limits are timers on the event loop: when the agent ends
the wrap-up (or the ring is settled) first, the timer must be cancelled, not just
forgotten. A forgotten wrap-up timer fired seconds later, during the SAME agent's next
wrap-up, and made them ready in the middle of it (their WrapUp was then refused).

Every timer the site arms is recorded here by wrapping the loop's ``call_later``.
"""

from __future__ import annotations

import asyncio
from typing import Any

from argon2 import PasswordHasher, Type

from tests.integration._helpers.site import with_test_password
from vcc_domain.clock import ManualClock
from vcc_domain.province import parse_province
from vcc_ops.cli import example_province_path
from vcc_site.service.access import AccessService
from vcc_site.service.core import SiteCore
from vcc_site.service.desk import DeskService
from vcc_site.service.recovery import seed_site
from vcc_site.service.selfservice import SelfService
from vcc_site.store.api import CredentialRecord
from vcc_site.store.memory import MemorySiteStore

PROVINCE = parse_province(with_test_password(example_province_path().read_text()), "yunnan")
AGENT = "KM-0131"
PASSWORD = "timer-test-pw"
HASH = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1, type=Type.ID).hash(PASSWORD)


class Armed:
    """Every (callback name, args, handle) the loop was asked to run later."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.handles: list[tuple[str, tuple[Any, ...], asyncio.TimerHandle]] = []
        original = loop.call_later

        def call_later(delay: float, callback: Any, *args: Any, **kw: Any) -> asyncio.TimerHandle:
            handle = original(delay, callback, *args, **kw)
            action = args[0] if args else callback
            self.handles.append((getattr(action, "__name__", ""), args[1:], handle))
            return handle

        loop.call_later = call_later  # type: ignore[method-assign]

    def live(self, name: str, agent_id: str) -> list[asyncio.TimerHandle]:
        """Timers named ``name`` for ``agent_id`` that are neither cancelled nor done."""
        now = asyncio.get_running_loop().time()
        return [
            h
            for n, args, h in self.handles
            if n == name and args and args[0] == agent_id and not h.cancelled() and h.when() > now
        ]


async def _site() -> tuple[SiteCore, AccessService, DeskService, str]:
    store = MemorySiteStore("KM")
    core = SiteCore(PROVINCE, "KM", store, ManualClock())
    access, desk = AccessService(core, SelfService(core)), DeskService(core)
    await seed_site(core, 8)
    await store.upsert_credentials([CredentialRecord(AGENT, HASH)])
    agent = await desk.login(AGENT, PASSWORD, "test")
    await desk.set_ready(agent.token)
    return core, access, desk, agent.token


async def _answered_then_hung_up(
    core: SiteCore, access: AccessService, desk: DeskService, token: str, number: str
) -> str:
    step = await access.offer_call(number, "1000")
    while step.kind == "collect":
        step = await access.send_digits(step.call_id, "0")
    assert step.kind == "connected" and step.agent_id == AGENT, step
    await desk.answer(token, step.call_id)
    await desk.hang_up(token, step.call_id)
    assert core.agents[AGENT].state == "wrap_up"
    return step.call_id


async def test_a_wrap_up_ended_by_the_agent_cancels_its_limit() -> None:
    armed = Armed(asyncio.get_running_loop())
    core, access, desk, token = await _site()
    try:
        first = await _answered_then_hung_up(core, access, desk, token, "13700000001")
        assert len(armed.live("_wrap_expired", AGENT)) == 1  # the wrap-up limit runs
        await desk.wrap_up(token, first, "done", "")
        assert core.agents[AGENT].state == "ready"
        assert armed.live("_wrap_expired", AGENT) == []  # and is gone with the wrap-up

        second = await _answered_then_hung_up(core, access, desk, token, "13700000002")
        assert len(armed.live("_wrap_expired", AGENT)) == 1  # only the new wrap-up's limit
        await desk.wrap_up(token, second, "done", "")
        assert armed.live("_wrap_expired", AGENT) == []
    finally:
        core.cancel_timers()
        await core.drain()


async def test_an_answered_call_cancels_its_ring_limit() -> None:
    armed = Armed(asyncio.get_running_loop())
    core, access, desk, token = await _site()
    try:
        call_id = await _answered_then_hung_up(core, access, desk, token, "13700000003")
        assert armed.live("_ring_expired", AGENT) == []
        await desk.wrap_up(token, call_id, "done", "")
    finally:
        core.cancel_timers()
        await core.drain()
