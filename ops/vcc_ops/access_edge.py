"""The access edge: sends each caller to the nearest live site and keeps a ledger.

For a caller's area code the edge reads the routing map in etcd (the area's sites nearest
first, only those whose lease is alive), from a snapshot of the whole map re-read at most
every half second over one connection (:class:`vcc_failover.routing_map.RouteCache`)
and offers the call there (``Access.OfferCall`` on the site's endpoint from its etcd
registration). If that site does not answer (it died and its lease has not lapsed yet)
the edge tries the next site of the list, so a caller is refused only when no site of
the area is reachable.

Every offered call is in the edge's **ledger** (call ID → site → final state). A call
whose site died is lost with it, as on a real switch: :meth:`AccessEdge.sweep` marks the
calls of every site that is no longer registered (or that reports the call ended as
``SITE_LOST`` after a restart) as ``lost`` with reason ``site_lost``, so lost calls are
counted, never silently dropped (ARCHITECTURE invariant 1). Final states can also be
appended to a JSON-lines file.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import grpc
import grpc.aio

from vcc_domain.errors import NotFound, Unavailable
from vcc_domain.ids import new_id
from vcc_domain.province import Province
from vcc_failover.lease import get_prefix
from vcc_failover.routing_map import SITE_PREFIX, RouteCache, live_sites_for, live_sites_of
from vcc_failover.sites import SiteEndpoints
from vcc_proto.channels import ChannelPool
from vcc_proto.v1 import common_pb2 as c
from vcc_proto.v1 import site_pb2 as s
from vcc_proto.v1 import site_pb2_grpc as sg
from vcc_site.service.customers import area_code_of

FINAL = frozenset({"ended", "lost", "refused"})
NOT_ANSWERING = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED})
Chooser = Callable[[s.CallStep], "str | None"]
STEP_STATES = {"collect": "ivr", "queued": "queued", "connected": "offered", "ended": "ended"}
CALL_STATES = {c.CALL_STATE_IVR: "ivr", c.CALL_STATE_QUEUED: "queued",
               c.CALL_STATE_OFFERED: "offered", c.CALL_STATE_CONNECTED: "connected",
               c.CALL_STATE_HELD: "held", c.CALL_STATE_ENDED: "ended"}


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


class AccessEdge:
    def __init__(self, etcd_endpoints: Sequence[str], province: Province | None = None, *,
                 static_endpoints: dict[str, str] | None = None, rpc_timeout_s: float = 2.0,
                 ledger_path: Path | None = None, route_refresh_s: float = 0.5) -> None:
        self.etcd = list(etcd_endpoints)
        self.province = province
        self.sites = SiteEndpoints(self.etcd, static_endpoints or {})
        self.rpc_timeout_s = rpc_timeout_s
        self.ledger_path = ledger_path
        self.ledger: dict[str, EdgeCall] = {}
        self._channels = ChannelPool()
        self.route_refresh_s = route_refresh_s
        self._routes = RouteCache(self.etcd, route_refresh_s) if route_refresh_s > 0 else None

    # -- routing ----------------------------------------------------------------------

    def area_of(self, caller: str) -> str:
        codes = sorted({code for site in self.province.sites for code in site.area_codes}) \
            if self.province else []
        area = area_code_of(caller, codes)
        if area is None:
            raise NotFound(f"no area code of the province matches {caller!r}", field="caller")
        return area

    async def route(self, area_code: str) -> list[str]:
        """The area's live sites, nearest first, as the routing map says (re-read at most
        every ``route_refresh_s``; 0 = read etcd for every call)."""
        if self._routes is None:
            return await live_sites_for(self.etcd, area_code)
        return await self._routes.live_sites_for(area_code)

    # -- calls ------------------------------------------------------------------------

    async def offer(self, caller: str, dialed_code: str, *digits: str,
                    area_code: str = "", chooser: Chooser | None = None) -> EdgeCall:
        """Offer a call at the nearest live site of the caller's area (next one if that
        site does not answer), then send ``digits`` (IVR choices), or, with ``chooser``,
        whatever it answers to each collect step (None: the caller hangs up). Always
        returns the ledger entry; a call no site took is ``refused`` (``no_live_site``)."""
        area = area_code or self.area_of(caller)
        call = EdgeCall(new_id("call"), caller, area, "", time.time(), "refused")
        self.ledger[call.call_id] = call
        try:
            candidates = await self.route(area)
        except (Unavailable, NotFound):
            candidates = []
        for site in candidates:
            try:
                stub = sg.AccessStub(await self._channel(site))
                step = await stub.OfferCall(s.OfferCallRequest(
                    caller_number=caller, dialed_code=dialed_code, call_id=call.call_id),
                    timeout=self.rpc_timeout_s)
                call.site_id = site
                keys = iter(digits)
                while step.WhichOneof("next") == "collect":
                    d = chooser(step) if chooser is not None else next(keys, None)
                    if d is None:
                        break
                    step = await stub.SendDigits(s.SendDigitsRequest(
                        call_id=call.call_id, digits=d), timeout=self.rpc_timeout_s)
                call.state = STEP_STATES.get(step.WhichOneof("next") or "", "ivr")
                if call.state == "ended":
                    self._final(call, "ended", step.ended.detail or "ended")
                elif chooser is not None and call.state == "ivr":  # the caller gave up keying
                    await self.hang_up(call.call_id)
                return call
            except grpc.aio.AioRpcError as exc:
                if call.site_id or exc.code() not in NOT_ANSWERING:
                    if call.site_id:  # taken, then lost in the IVR: the site went down
                        self._final(call, "lost", "site_lost")
                        return call
                    raise
                self.sites.forget(site)
                call.tried.append(site)
            except Unavailable:
                call.tried.append(site)
        self._final(call, "refused", "no_live_site")
        return call

    async def hang_up(self, call_id: str) -> EdgeCall:
        """The caller hangs up, wherever the call is now: a call that left its site
        (transfer, overflow) is followed to the site that has it."""
        call = self.ledger[call_id]
        if call.state in FINAL:
            return call
        sites = [call.site_id] + [x.id for x in (self.province.sites if self.province else ())
                                  if x.id != call.site_id]
        for site in sites:
            try:
                stub = sg.AccessStub(await self._channel(site))
                view = await stub.HangUp(s.CallRef(call_id=call_id), timeout=self.rpc_timeout_s)
            except grpc.aio.AioRpcError as exc:
                if exc.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.FAILED_PRECONDITION):
                    if call.state in FINAL:  # ended meanwhile (the agent hung up)
                        return call
                    continue  # not (or no longer) at this site
                if site == call.site_id:
                    raise
                continue
            except Unavailable:
                continue  # that site is not registered (down)
            self._final(call, "ended", c.EndReason.Name(view.end_reason))
            return call
        return call

    def ended(self, call_id: str, reason: str) -> None:
        """The line was released by the far end (an agent hung up): the call is over."""
        call = self.ledger.get(call_id)
        if call is not None and call.state not in FINAL:
            self._final(call, "ended", reason)

    async def sweep(self, probe_live: bool = True) -> list[EdgeCall]:
        """Bring open calls up to date; returns the calls found lost in this pass.

        Calls at a site that is no longer registered are lost. With ``probe_live`` every
        other open call is also read from its site (``GetCall``: ended meanwhile, or lost
        in a restart); without it the pass costs one etcd read, for frequent sweeps."""
        open_calls = [call for call in self.ledger.values() if call.state not in FINAL]
        if not open_calls:
            return []
        registered = live_sites_of(_Kv(k) for k in await get_prefix(self.etcd, SITE_PREFIX))
        lost: list[EdgeCall] = []
        for call in open_calls:
            if call.site_id not in registered:  # its lease lapsed: the site is gone
                self._final(call, "lost", "site_lost")
                lost.append(call)
                continue
            if not probe_live:
                continue
            try:
                stub = sg.AccessStub(await self._channel(call.site_id))
                view = await stub.GetCall(s.CallRef(call_id=call.call_id),
                                          timeout=self.rpc_timeout_s)
            except (grpc.aio.AioRpcError, Unavailable):
                continue  # not answering but still registered: decide on a later pass
            if view.state == c.CALL_STATE_ENDED:
                if view.end_reason == c.END_REASON_TRANSFERRED_OUT:
                    continue  # it goes on at another site (transfer, overflow): still open
                if view.end_reason == c.END_REASON_SITE_LOST:  # it restarted meanwhile
                    self._final(call, "lost", "site_lost")
                    lost.append(call)
                else:
                    self._final(call, "ended", c.EndReason.Name(view.end_reason))
            else:
                call.state = CALL_STATES.get(view.state, call.state)
        return lost

    # -- ledger -----------------------------------------------------------------------

    def counts(self) -> dict[str, int]:
        return dict(Counter(call.state for call in self.ledger.values()))

    def lost(self) -> list[EdgeCall]:
        return [call for call in self.ledger.values() if call.state == "lost"]

    def _final(self, call: EdgeCall, state: str, reason: str) -> None:
        call.state, call.reason, call.ended_at = state, reason, time.time()
        if self.ledger_path is not None:
            with self.ledger_path.open("a", encoding="utf-8") as out:
                out.write(json.dumps(asdict(call), ensure_ascii=False) + "\n")

    async def _channel(self, site: str) -> grpc.aio.Channel:
        endpoint = await self.sites.endpoint(site)
        return self._channels.get(endpoint)

    async def close(self) -> None:
        await self._channels.close()
        if self._routes is not None:
            await self._routes.close()


class _Kv:
    """A registration key as :func:`live_sites_of` reads it."""

    def __init__(self, key: str) -> None:
        self.key = key.encode()
