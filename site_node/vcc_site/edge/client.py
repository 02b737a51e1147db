"""A client of the ``vcc edge`` process, for callers (the demo's traffic) and tools.

:class:`EdgeClient` keeps a local copy of the edge's ledger (:attr:`EdgeClient.ledger`):
entries come back with every reply, and :meth:`EdgeClient.refresh` reads what changed
since the last look (``ListCalls`` after a version), so reports and drills read the
ledger as the edge process has it without copying it whole every time.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from vcc_domain.errors import NotFound, Unavailable
from vcc_proto.channels import open_channel, trunk_tls
from vcc_proto.status import translate_rpc_errors
from vcc_proto.v1 import edge_pb2 as e
from vcc_proto.v1 import edge_pb2_grpc
from vcc_proto.v1 import site_pb2 as s
from vcc_site.edge.grpc_edge import from_message
from vcc_site.edge.ledger import EdgeCall

Chooser = Callable[[s.CallStep], "str | None"]


class EdgeClient:
    def __init__(self, endpoint: str, rpc_timeout_s: float = 10.0) -> None:
        self.endpoint = endpoint
        self.rpc_timeout_s = rpc_timeout_s
        self._channel = open_channel(endpoint, tls=trunk_tls())  # callers come by the trunk
        self.stub = edge_pb2_grpc.EdgeStub(self._channel)
        self.ledger: dict[str, EdgeCall] = {}
        self.version = 0

    def _keep(self, msg: e.EdgeCall) -> EdgeCall:
        call = from_message(msg)
        known = self.ledger.get(call.call_id)
        if known is None or known.version <= call.version:
            self.ledger[call.call_id] = call
            return call
        return known

    async def place(
        self, caller: str, dialed_code: str, area_code: str = ""
    ) -> tuple[EdgeCall, s.CallStep | None]:
        with translate_rpc_errors():
            reply = await self.stub.PlaceCall(
                e.PlaceCallRequest(
                    caller_number=caller, dialed_code=dialed_code, area_code=area_code
                ),
                timeout=self.rpc_timeout_s,
            )
        return self._keep(reply.call), reply.step if reply.HasField("step") else None

    async def send_digits(self, call_id: str, digits: str) -> tuple[EdgeCall, s.CallStep | None]:
        with translate_rpc_errors():
            reply = await self.stub.SendDigits(
                e.EdgeDigitsRequest(call_id=call_id, digits=digits), timeout=self.rpc_timeout_s
            )
        return self._keep(reply.call), reply.step if reply.HasField("step") else None

    async def offer(
        self,
        caller: str,
        dialed_code: str,
        *digits: str,
        area_code: str = "",
        chooser: Chooser | None = None,
    ) -> EdgeCall:
        """Place a call and walk its IVR: ``digits`` in turn, or what ``chooser`` answers
        to each collect step (None: the caller hangs up)."""
        call, step = await self.place(caller, dialed_code, area_code)
        keys = iter(digits)
        while step is not None and step.WhichOneof("next") == "collect":
            d = chooser(step) if chooser is not None else next(keys, None)
            if d is None:
                if chooser is not None:  # the caller gave up keying
                    call = await self.hang_up(call.call_id)
                break
            call, step = await self.send_digits(call.call_id, d)
        return call

    async def hang_up(self, call_id: str) -> EdgeCall:
        with translate_rpc_errors():
            reply = await self.stub.HangUp(
                e.EdgeCallRef(call_id=call_id), timeout=self.rpc_timeout_s
            )
        return self._keep(reply)

    async def ended(self, call_id: str, reason: str) -> EdgeCall | None:
        """The far end released the line (an agent hung up). None if the edge did not
        place that call (an outbound call) or did not answer: a later sweep finds it."""
        try:
            with translate_rpc_errors():
                reply = await self.stub.ReleaseCall(
                    e.ReleaseCallRequest(call_id=call_id, reason=reason), timeout=self.rpc_timeout_s
                )
        except (NotFound, Unavailable):
            return None
        return self._keep(reply)

    async def get(self, call_id: str) -> EdgeCall:
        with translate_rpc_errors():
            reply = await self.stub.GetCall(
                e.EdgeCallRef(call_id=call_id), timeout=self.rpc_timeout_s
            )
        return self._keep(reply)

    async def sweep(self, probe_live: bool = True) -> list[EdgeCall]:
        """Have the edge bring its open calls up to date, then refresh the local copy."""
        with translate_rpc_errors():
            reply = await self.stub.Sweep(
                e.SweepRequest(probe_live=probe_live), timeout=max(self.rpc_timeout_s, 30.0)
            )
        lost = [self._keep(msg) for msg in reply.lost]
        await self.refresh()
        return lost

    async def refresh(self) -> None:
        """Read the ledger entries changed since the last refresh."""
        with translate_rpc_errors():
            reply = await self.stub.ListCalls(
                e.ListCallsRequest(after_version=self.version),
                timeout=max(self.rpc_timeout_s, 30.0),
            )
        for msg in reply.calls:
            self._keep(msg)
        self.version = max(self.version, reply.version)

    async def remote_counts(self) -> e.EdgeCounts:
        with translate_rpc_errors():
            reply: e.EdgeCounts = await self.stub.GetCounts(
                e.GetCountsRequest(), timeout=self.rpc_timeout_s
            )
        return reply

    def counts(self) -> dict[str, int]:
        """Calls per state in the local copy (as of the last reply or refresh)."""
        return dict(Counter(call.state for call in self.ledger.values()))

    def lost(self) -> list[EdgeCall]:
        return [call for call in self.ledger.values() if call.state == "lost"]

    async def close(self) -> None:
        await self._channel.close()
