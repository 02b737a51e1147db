"""gRPC readers of customers homed elsewhere: the home site's ``Remote.LookupCustomer``
and the hub's ``Customers.GetCustomerCopy``.

Each read is bounded by its budget in total (every attempt and back-off included):
attempts that fail with UNAVAILABLE or DEADLINE_EXCEEDED are retried with a short
exponential back-off (tenacity) while the budget lasts; then :class:`Unavailable`.
NOT_FOUND is an answer (no such customer), returned as None.
"""

from __future__ import annotations

import asyncio
import time

import grpc
import grpc.aio
from tenacity import (
    AsyncRetrying,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
    wait_exponential,
)

from vcc_domain.errors import Unavailable
from vcc_failover.leadership import HubLocator
from vcc_failover.sites import SiteEndpoints
from vcc_proto.channels import ChannelPool
from vcc_proto.v1 import common_pb2 as c
from vcc_proto.v1 import hub_pb2 as h
from vcc_proto.v1 import hub_pb2_grpc as hg
from vcc_proto.v1 import site_pb2 as s
from vcc_proto.v1 import site_pb2_grpc as sg
from vcc_site.adapters.codec import customer_record
from vcc_site.store.api import CustomerRecord

RETRYABLE = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
    }
)
MAX_ATTEMPTS = 3
HUB_CACHE_S = 2.0


def _retryable(exc: BaseException) -> bool:
    if isinstance(exc, grpc.aio.AioRpcError):
        return exc.code() in RETRYABLE
    return isinstance(exc, (Unavailable, OSError))


def _retrying(budget_s: float) -> AsyncRetrying:
    return AsyncRetrying(
        stop=stop_after_delay(budget_s) | stop_after_attempt(MAX_ATTEMPTS),
        wait=wait_exponential(multiplier=0.02, max=0.1),
        retry=retry_if_exception(_retryable),
        reraise=True,
    )


class GrpcHomeSiteReader:
    def __init__(self, site_id: str, endpoints: SiteEndpoints) -> None:
        self.site_id = site_id
        self.endpoints = endpoints
        self.channels = ChannelPool()

    async def read(
        self, site_id: str, phone: str, *, actor: str, reason: str, budget_s: float
    ) -> tuple[CustomerRecord, int] | None:
        deadline = time.monotonic() + budget_s
        request = s.LookupCustomerRequest(
            phone_number=phone,
            reason=reason,
            actor=c.Actor(site_id=self.site_id, agent_id="" if actor == "access" else actor),
        )
        try:
            async with asyncio.timeout(budget_s):
                async for attempt in _retrying(budget_s):
                    with attempt:
                        endpoint = await self.endpoints.endpoint(site_id)
                        stub = sg.RemoteStub(self.channels.get(endpoint))
                        try:
                            reply: s.LookupCustomerReply = await stub.LookupCustomer(
                                request, timeout=max(0.01, deadline - time.monotonic())
                            )
                        except grpc.aio.AioRpcError as exc:
                            if exc.code() == grpc.StatusCode.NOT_FOUND:
                                return None
                            self.endpoints.forget(site_id)
                            raise
        except (TimeoutError, grpc.aio.AioRpcError, Unavailable, OSError) as exc:
            raise Unavailable(
                f"site {site_id} did not answer within {budget_s * 1000:.0f} ms: {_describe(exc)}"
            ) from exc
        return customer_record(reply.customer), reply.as_of_ms

    async def close(self) -> None:
        await self.channels.close()


class GrpcHubCopyReader:
    def __init__(self, site_id: str, hub: HubLocator) -> None:
        self.site_id = site_id
        self.hub = hub
        self.channels = ChannelPool()
        self._endpoint: tuple[str, float] | None = None

    async def _hub_endpoint(self) -> str:
        if self._endpoint is not None and time.monotonic() - self._endpoint[1] < HUB_CACHE_S:
            return self._endpoint[0]
        endpoint = await self.hub.leader_endpoint()
        self._endpoint = (endpoint, time.monotonic())
        return endpoint

    async def read(
        self, phone: str, *, actor: str, reason: str, budget_s: float
    ) -> tuple[CustomerRecord, int] | None:
        deadline = time.monotonic() + budget_s
        request = h.GetCustomerCopyRequest(
            phone_number=phone,
            reason=reason,
            actor=c.Actor(site_id=self.site_id, agent_id="" if actor == "access" else actor),
        )
        try:
            async with asyncio.timeout(budget_s):
                async for attempt in _retrying(budget_s):
                    with attempt:
                        stub = hg.CustomersStub(self.channels.get(await self._hub_endpoint()))
                        try:
                            reply: h.CustomerCopy = await stub.GetCustomerCopy(
                                request, timeout=max(0.01, deadline - time.monotonic())
                            )
                        except grpc.aio.AioRpcError as exc:
                            if exc.code() == grpc.StatusCode.NOT_FOUND:
                                return None
                            self._endpoint = None
                            raise
        except (TimeoutError, grpc.aio.AioRpcError, Unavailable, OSError) as exc:
            raise Unavailable(
                f"the hub did not answer within {budget_s * 1000:.0f} ms: {_describe(exc)}"
            ) from exc
        return customer_record(reply.customer), reply.as_of_ms

    async def close(self) -> None:
        await self.channels.close()


def _describe(exc: BaseException) -> str:
    if isinstance(exc, grpc.aio.AioRpcError):
        return f"{exc.code().name}: {exc.details()}"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
