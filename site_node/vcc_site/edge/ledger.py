"""The edge's ledger: every call it offered, where it is and how it ended.

A call whose site died is lost with it, as on a real switch; the ledger says so
(``lost``, reason ``site_lost``) so lost calls are counted, never silently dropped
(ARCHITECTURE invariant 1). Every change of an entry takes the next ledger version, so a
reader can ask for what changed since it last looked; final states are appended to a
JSON-lines file when the ledger has one.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from vcc_domain.errors import NotFound
from vcc_domain.ids import new_id

FINAL = frozenset({"ended", "lost", "refused"})
OPEN_STATES = ("ivr", "queued", "offered", "connected", "held")
STATES = (*OPEN_STATES, *sorted(FINAL))


@dataclass
class EdgeCall:
    """One call as the edge knows it."""

    call_id: str
    caller: str
    area_code: str
    site_id: str  # where the edge placed it ("" if nowhere)
    offered_at: float  # wall clock, seconds
    state: str  # ivr | queued | offered | connected | held | ended | lost | refused
    reason: str = ""  # for a final state: end reason, "site_lost", "no_live_site"
    tried: list[str] = field(default_factory=list)  # sites that did not answer first
    ended_at: float = 0.0
    at_site: str = ""  # where the call is now (after a transfer or overflow: elsewhere)
    version: int = 0  # ledger version of the last change

    @property
    def where(self) -> str:
        """The site that has the call now."""
        return self.at_site or self.site_id


class Ledger:
    """Call ID -> :class:`EdgeCall`; every change goes through a method here."""

    def __init__(self, path: Path | None = None, clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self.clock = clock
        self.calls: dict[str, EdgeCall] = {}
        self.version = 0

    def open(self, caller: str, area_code: str) -> EdgeCall:
        """A new call, ``refused`` until a site takes it."""
        call = EdgeCall(new_id("call"), caller, area_code, "", self.clock(), "refused")
        self.calls[call.call_id] = call
        self._touch(call)
        return call

    def get(self, call_id: str) -> EdgeCall:
        call = self.calls.get(call_id)
        if call is None:
            raise NotFound(f"the edge has no call {call_id!r}", field="call_id")
        return call

    def taken(self, call: EdgeCall, site: str, state: str) -> None:
        call.site_id = call.at_site = site
        call.state = state
        self._touch(call)

    def tried(self, call: EdgeCall, site: str) -> None:
        call.tried.append(site)
        self._touch(call)

    def moved(self, call: EdgeCall, state: str, at_site: str = "") -> None:
        """An open call changed state (or site); a final call stays final."""
        if call.state in FINAL:
            return
        changed = state != call.state or (at_site and at_site != call.at_site)
        call.state = state
        call.at_site = at_site or call.at_site
        if changed:
            self._touch(call)

    def final(self, call: EdgeCall, state: str, reason: str) -> None:
        """The call's final state, once: a call already ended, lost or refused stays so
        (two passes racing over one call write one line)."""
        if call.ended_at:
            return
        call.state, call.reason, call.ended_at = state, reason, self.clock()
        self._touch(call)
        if self.path is not None:
            with self.path.open("a", encoding="utf-8") as out:
                out.write(json.dumps(asdict(call), ensure_ascii=False) + "\n")

    def changed_after(self, version: int, open_only: bool = False) -> list[EdgeCall]:
        """Entries changed after ``version``, oldest change first."""
        found = [
            c
            for c in self.calls.values()
            if c.version > version and not (open_only and c.state in FINAL)
        ]
        return sorted(found, key=lambda c: c.version)

    def open_calls(self) -> list[EdgeCall]:
        return [call for call in self.calls.values() if call.state not in FINAL]

    def counts(self) -> dict[str, int]:
        return dict(Counter(call.state for call in self.calls.values()))

    def lost(self) -> list[EdgeCall]:
        return [call for call in self.calls.values() if call.state == "lost"]

    def _touch(self, call: EdgeCall) -> None:
        self.version += 1
        call.version = self.version
