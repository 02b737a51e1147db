"""The site's live calls and logged-in agents, by the keys requests use.

Changed only through these methods; everyone else reads the read-only views ``calls``,
``agents`` and ``sessions``. :class:`~vcc_site.service.core.SiteCore` is one.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Mapping
from types import MappingProxyType

from vcc_domain.errors import NotFound
from vcc_site.service.live import LiveAgent, LiveCall


class LiveRegistry:
    def __init__(self) -> None:
        # calls by ``LiveCall.slot`` (the call id, or for a same-site consult leg beside
        # its call ``moves.targets.consult_slot``); ACD key -> slot (a call re-enters the ACD
        # under a new key when it is transferred; its id never changes); agents by agent
        # id and by session token
        self._calls: dict[str, LiveCall] = {}
        self._by_key: dict[str, str] = {}
        self._agents: dict[str, LiveAgent] = {}
        self._sessions: dict[str, LiveAgent] = {}
        self.calls: Mapping[str, LiveCall] = MappingProxyType(self._calls)
        self.agents: Mapping[str, LiveAgent] = MappingProxyType(self._agents)
        self.sessions: Mapping[str, LiveAgent] = MappingProxyType(self._sessions)
        # one lock per live call: requests about one call run one after the other (a lock
        # nobody holds or waits on is dropped by itself)
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        self._rekeys = 0  # ACD keys of calls back from a refused overflow

    def live_call(self, call_id: str) -> LiveCall:
        call = self._calls.get(call_id)
        if call is None:
            raise NotFound(f"unknown or finished call {call_id!r}", field="call_id")
        return call

    def call_lock(self, call_id: str) -> asyncio.Lock:
        """The lock of one call's requests (a hang-up racing digits runs after them)."""
        lock = self._locks.get(call_id)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[call_id] = lock
        return lock

    def add_call(self, call: LiveCall) -> None:
        self._calls[call.slot] = call

    def drop_call(self, call: LiveCall) -> None:
        """Forget ``call`` (if it is still the entry under its slot)."""
        if self._calls.get(call.slot) is call:
            del self._calls[call.slot]

    def take_key(self, call: LiveCall, acd_key: str) -> None:
        """``call`` continues under the ACD key of another entry (its consult leg here)."""
        call.acd_key = acd_key
        self._by_key[acd_key] = call.slot

    def overflow_key(self, call: LiveCall) -> str:
        """A new ACD key for a call back from a refused overflow."""
        self._rekeys += 1
        return f"{call.call_id}/o{self._rekeys}"

    def add_agent(self, agent: LiveAgent) -> None:
        self._agents[agent.agent_id] = agent
        self._sessions[agent.token] = agent

    def drop_agent(self, agent: LiveAgent) -> None:
        self._agents.pop(agent.agent_id, None)
        self._sessions.pop(agent.token, None)
