"""The access edge: sends each caller to the nearest live site and keeps a ledger.

For a caller's area code the edge reads the routing map in etcd (the area's sites nearest
first, only those whose lease is alive), from a snapshot of the whole map re-read at most
every half second over one connection (:class:`vcc_failover.routing_map.RouteCache`)
and offers the call there (``Access.OfferCall`` on the site's endpoint from its etcd
registration). If that site does not answer (it died and its lease has not lapsed yet)
the edge tries the next site of the list, so a caller is refused only when no site of
the area is reachable.

Every offered call is in the :class:`~vcc_site.edge.ledger.Ledger`. :meth:`AccessEdge.sweep`
marks the calls of every site that is no longer registered (or that reports the call
ended as ``SITE_LOST`` after a restart) as ``lost``; a call that left its site (transfer,
overflow) is followed to the site that has it, so a call lost there is counted too. A
call whose site did not answer a caller's step in time is lost for the edge and hung up
at that site (:mod:`vcc_site.edge.orphans`), so the site does not keep it open.
The ``vcc edge`` process serves this object over gRPC; tests may use it in-process.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import grpc
import grpc.aio

from vcc_domain.errors import Conflict, NotFound, Unavailable
from vcc_domain.province import Province
from vcc_failover.lease import get_prefix
from vcc_failover.routing_map import SITE_PREFIX, RouteCache, live_sites_for, live_sites_of
from vcc_failover.sites import SiteEndpoints
from vcc_proto.channels import ChannelPool
from vcc_proto.observability import call_context
from vcc_proto.v1 import common_pb2 as c
from vcc_proto.v1 import site_pb2 as s
from vcc_proto.v1 import site_pb2_grpc as sg
from vcc_site.edge.ledger import FINAL, EdgeCall, Ledger
from vcc_site.edge.metrics import LOST, OFFER_SECONDS, PLACED, REFUSED
from vcc_site.edge.orphans import Orphans
from vcc_site.service.customers import area_code_of

log = logging.getLogger(__name__)

NOT_ANSWERING = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED})
GONE = frozenset({grpc.StatusCode.NOT_FOUND, grpc.StatusCode.FAILED_PRECONDITION})
UNSEEN_PASSES = 2  # probes that find a moved call at no live site before it is lost
Chooser = Callable[[s.CallStep], "str | None"]
STEP_STATES = {"collect": "ivr", "queued": "queued", "connected": "offered", "ended": "ended"}
CALL_STATES = {
    c.CALL_STATE_IVR: "ivr",
    c.CALL_STATE_QUEUED: "queued",
    c.CALL_STATE_OFFERED: "offered",
    c.CALL_STATE_CONNECTED: "connected",
    c.CALL_STATE_HELD: "held",
    c.CALL_STATE_ENDED: "ended",
}


class AccessEdge:
    def __init__(
        self,
        etcd_endpoints: Sequence[str],
        province: Province | None = None,
        *,
        static_endpoints: dict[str, str] | None = None,
        rpc_timeout_s: float = 2.0,
        ledger_path: Path | None = None,
        route_refresh_s: float = 0.5,
    ) -> None:
        self.etcd = list(etcd_endpoints)
        self.province = province
        self.sites = SiteEndpoints(self.etcd, static_endpoints or {})
        self.rpc_timeout_s = rpc_timeout_s
        self.book = Ledger(ledger_path)
        self._channels = ChannelPool()
        self.route_refresh_s = route_refresh_s
        self._routes = RouteCache(self.etcd, route_refresh_s) if route_refresh_s > 0 else None
        self._unseen: dict[str, int] = {}  # moved calls no live site had, by call ID
        self.orphans = Orphans(self._hang_up_orphan)  # given up on, maybe still at a site

    @property
    def ledger(self) -> dict[str, EdgeCall]:
        """Call ID -> entry (read it; changes go through :attr:`book`)."""
        return self.book.calls

    # -- routing ----------------------------------------------------------------------

    def area_of(self, caller: str) -> str:
        codes = (
            sorted({code for site in self.province.sites for code in site.area_codes})
            if self.province
            else []
        )
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

    async def place(
        self, caller: str, dialed_code: str, area_code: str = ""
    ) -> tuple[EdgeCall, s.CallStep | None]:
        """Offer a new call at the nearest live site of the caller's area (the next one
        if that site does not answer); a call no site took is ``refused``."""
        area = area_code or self.area_of(caller)
        call = self.book.open(caller, area)
        with call_context(call.call_id):
            try:
                candidates = await self.route(area)
            except (Unavailable, NotFound):
                candidates = []
            for site in candidates:
                step = await self._offer_at(call, site, dialed_code)
                if step is not None:
                    PLACED.labels(site).inc()
                    state = STEP_STATES.get(step.WhichOneof("next") or "", "ivr")
                    self.book.taken(call, site, state)
                    self.book.moved(call, state, _step_site(step))  # served elsewhere
                    self._after_step(call, step)
                    return call, step
            self.book.final(call, "refused", "no_live_site")
            REFUSED.labels(area).inc()
            log.info(
                "call refused: no live site of area %s answered (tried %s)",
                area,
                call.tried or "none",
            )
            return call, None

    async def _offer_at(self, call: EdgeCall, site: str, dialed_code: str) -> s.CallStep | None:
        """The site's first step, or None when the site does not answer."""
        try:
            stub = sg.AccessStub(await self._channel(site))
            started = time.perf_counter()
            step: s.CallStep = await stub.OfferCall(
                s.OfferCallRequest(
                    caller_number=call.caller, dialed_code=dialed_code, call_id=call.call_id
                ),
                timeout=self.rpc_timeout_s,
            )
            OFFER_SECONDS.observe(time.perf_counter() - started)
            if log.isEnabledFor(logging.DEBUG):
                log.debug("offered at %s: %s", site, step.WhichOneof("next"))
            return step
        except grpc.aio.AioRpcError as exc:
            if exc.code() not in NOT_ANSWERING:
                raise
            self.sites.forget(site)
        except Unavailable:
            pass
        log.info("site %s did not answer the offer; trying the next one", site)
        self.book.tried(call, site)
        return None

    async def send_digits(self, call_id: str, digits: str) -> tuple[EdgeCall, s.CallStep | None]:
        """The caller keyed ``digits``: the site's next step (None if the site is gone:
        the call is lost with it)."""
        call = self.book.get(call_id)
        if call.state in FINAL:  # a key after the agent hung up: the call's rating
            return call, await self._rate(call, digits)
        with call_context(call_id):
            try:
                stub = sg.AccessStub(await self._channel(call.where))
                step = await stub.SendDigits(
                    s.SendDigitsRequest(call_id=call_id, digits=digits), timeout=self.rpc_timeout_s
                )
            except grpc.aio.AioRpcError as exc:
                if exc.code() not in NOT_ANSWERING | GONE:
                    raise
                self._lost(call)  # taken, then lost in the IVR: the site went down
                if exc.code() in NOT_ANSWERING:  # or it is slow: it may still have the call
                    self.orphans.add(call_id, call.where)
                return call, None
            except Unavailable:
                self._lost(call)
                return call, None
            self.book.moved(
                call, STEP_STATES.get(step.WhichOneof("next") or "", "ivr"), _step_site(step)
            )
            self._after_step(call, step)
            return call, step

    async def _rate(self, call: EdgeCall, digits: str) -> s.CallStep:
        """The caller's key for the rating offered when the agent hung up, at the site
        that served the call (the call may have moved since the edge last saw it: the
        other sites are asked in turn); the call stays ended in the ledger. Refused
        (FAILED_PRECONDITION) when no site offers a rating for it."""
        refused: grpc.aio.AioRpcError | None = None
        with call_context(call.call_id):
            for site in self._sites_from(call.where):
                try:
                    stub = sg.AccessStub(await self._channel(site))
                    step: s.CallStep = await stub.SendDigits(
                        s.SendDigitsRequest(call_id=call.call_id, digits=digits),
                        timeout=self.rpc_timeout_s,
                    )
                    return step
                except grpc.aio.AioRpcError as exc:
                    if exc.code() not in GONE | NOT_ANSWERING:
                        raise
                    refused = refused or exc
                except Unavailable:
                    continue  # that site is not registered (down)
        if refused is not None:
            raise refused
        raise Conflict(f"no rating is offered for call {call.call_id}", field="call_id")

    async def offer(
        self,
        caller: str,
        dialed_code: str,
        *digits: str,
        area_code: str = "",
        chooser: Chooser | None = None,
    ) -> EdgeCall:
        """:meth:`place` a call, then send ``digits`` (IVR choices), or, with ``chooser``,
        whatever it answers to each collect step (None: the caller hangs up). Always
        returns the ledger entry."""
        call, step = await self.place(caller, dialed_code, area_code)
        keys = iter(digits)
        while step is not None and step.WhichOneof("next") == "collect":
            d = chooser(step) if chooser is not None else next(keys, None)
            if d is None:
                if chooser is not None:  # the caller gave up keying
                    await self.hang_up(call.call_id)
                break
            call, step = await self.send_digits(call.call_id, d)
        return call

    def _after_step(self, call: EdgeCall, step: s.CallStep) -> None:
        if step.WhichOneof("next") == "ended":
            self.book.final(call, "ended", step.ended.detail or "ended")

    async def hang_up(self, call_id: str) -> EdgeCall:
        """The caller hangs up, wherever the call is now: a call that left its site
        (transfer, overflow) is followed to the site that has it."""
        call = self.book.get(call_id)
        if call.state in FINAL:
            return call
        with call_context(call_id):
            for site in self._sites_from(call.where):
                try:
                    stub = sg.AccessStub(await self._channel(site))
                    view = await stub.HangUp(s.CallRef(call_id=call_id), timeout=self.rpc_timeout_s)
                except grpc.aio.AioRpcError as exc:
                    if exc.code() in GONE:
                        if call.state in FINAL:  # ended meanwhile (the agent hung up)
                            return call
                        continue  # not (or no longer) at this site
                    if site == call.where:
                        raise
                    continue
                except Unavailable:
                    continue  # that site is not registered (down)
                self.book.final(call, "ended", c.EndReason.Name(view.end_reason))
                return call
        return call

    def ended(self, call_id: str, reason: str) -> EdgeCall:
        """The line was released by the far end (an agent hung up): the call is over."""
        call = self.book.get(call_id)
        if call.state not in FINAL:
            self.book.final(call, "ended", reason)
        return call

    # -- sweeping ---------------------------------------------------------------------

    async def sweep(self, probe_live: bool = True) -> list[EdgeCall]:
        """Bring open calls up to date; returns the calls found lost in this pass.

        Calls at a site that is no longer registered are lost. With ``probe_live`` every
        other open call is also read from its site (``GetCall``: ended meanwhile, moved
        to another site, or lost in a restart); without it the pass costs one etcd read,
        for frequent sweeps."""
        open_calls = self.book.open_calls()
        if not open_calls and not self.orphans.calls:
            return []
        registered = live_sites_of(_Kv(k) for k in await get_prefix(self.etcd, SITE_PREFIX))
        await self.orphans.sweep(registered)
        lost: list[EdgeCall] = []
        for call in open_calls:
            if call.where not in registered:  # its lease lapsed: the site is gone
                self._lost(call)
                lost.append(call)
            elif probe_live:
                with call_context(call.call_id):
                    if await self._probe(call, registered):
                        lost.append(call)
        return lost

    async def _probe(self, call: EdgeCall, registered: set[str]) -> bool:
        """Read an open call from its site (following it if it moved); True if lost."""
        view = await self._read_view(call.where, call.call_id)
        if view is None:
            return False  # not answering but still registered: decide on a later pass
        if view.state == c.CALL_STATE_ENDED and view.end_reason == c.END_REASON_TRANSFERRED_OUT:
            moved = await self._follow(call, registered)
            if moved is None:  # no live site has it: the site it went to is gone (a site
                # hands a call over only once the other took it); twice, to be sure it
                # was not moving on between two reads
                self._unseen[call.call_id] = self._unseen.get(call.call_id, 0) + 1
                if self._unseen[call.call_id] < UNSEEN_PASSES:
                    return False
                self._lost(call)
                return True
            view = moved
        self._unseen.pop(call.call_id, None)
        if view.state != c.CALL_STATE_ENDED:
            self.book.moved(call, CALL_STATES.get(view.state, call.state))
        elif view.end_reason == c.END_REASON_SITE_LOST:  # its site restarted meanwhile
            self._lost(call)
            return True
        else:
            self.book.final(call, "ended", c.EndReason.Name(view.end_reason))
        return False

    async def _follow(self, call: EdgeCall, registered: set[str]) -> s.CallView | None:
        """The call's view at the site it moved to (which becomes its site); None if no
        registered site has it yet."""
        for site in self._sites_from(call.where)[1:]:
            if site not in registered:
                continue
            view = await self._read_view(site, call.call_id)
            if view is None or (
                view.state == c.CALL_STATE_ENDED and view.end_reason == c.END_REASON_TRANSFERRED_OUT
            ):
                continue
            log.debug("call followed from %s to %s", call.where, site)
            self.book.moved(call, call.state, at_site=site)
            return view
        return None

    async def _read_view(self, site: str, call_id: str) -> s.CallView | None:
        """A call's view at one site; None if unknown there or the site does not answer."""
        try:
            stub = sg.AccessStub(await self._channel(site))
            view: s.CallView = await stub.GetCall(
                s.CallRef(call_id=call_id), timeout=self.rpc_timeout_s
            )
        except (grpc.aio.AioRpcError, Unavailable):
            return None
        return view

    # -- ledger -----------------------------------------------------------------------

    def counts(self) -> dict[str, int]:
        return self.book.counts()

    def lost(self) -> list[EdgeCall]:
        return self.book.lost()

    def _lost(self, call: EdgeCall) -> None:
        if call.state in FINAL:
            return
        self._unseen.pop(call.call_id, None)
        self.book.final(call, "lost", "site_lost")
        LOST.labels(call.where).inc()
        with call_context(call.call_id):
            log.info("call lost with site %s", call.where)

    async def _hang_up_orphan(self, call_id: str, site: str) -> bool:
        """Hang up a call the edge gave up on at ``site``, or where it moved from there;
        False while ``site`` does not answer (:class:`~vcc_site.edge.orphans.Orphans`)."""
        with call_context(call_id):
            for at in self._sites_from(site):
                try:
                    stub = sg.AccessStub(await self._channel(at))
                    await stub.HangUp(s.CallRef(call_id=call_id), timeout=self.rpc_timeout_s)
                except grpc.aio.AioRpcError as exc:
                    if exc.code() not in GONE and at == site:
                        return False
                    continue  # ended there already, or not (or no longer) there
                except Unavailable:
                    if at == site:
                        return False
                    continue
                log.info("call given up on by the edge hung up at %s", at)
                break
        return True

    def _sites_from(self, first: str) -> list[str]:
        others = [x.id for x in (self.province.sites if self.province else ()) if x.id != first]
        return [first, *others]

    async def _channel(self, site: str) -> grpc.aio.Channel:
        endpoint = await self.sites.endpoint(site)
        return self._channels.get(endpoint)

    async def close(self) -> None:
        self.orphans.close()
        await self._channels.close()
        if self._routes is not None:
            await self._routes.close()


class _Kv:
    """A registration key as :func:`live_sites_of` reads it."""

    def __init__(self, key: str) -> None:
        self.key = key.encode()


def _step_site(step: s.CallStep) -> str:
    """The site whose queue or agent has the call after ``step`` ("" = the one asked): a
    site that does not accept the call's business hands it to one that does."""
    which = step.WhichOneof("next")
    if which == "queued":
        return str(step.queued.site_id)
    if which == "connected":
        return str(step.connected.site_id)
    return ""
