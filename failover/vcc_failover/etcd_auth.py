"""etcd users: every client of a process signs in as that process's user.

etcd answers an ``Authenticate`` with a token that later calls carry in their metadata.
``vcc up`` runs etcd with signed (JWT) tokens, which any member checks with the province's
key, also after a restart, and which expire after an hour; etcd's default simple tokens
live in a member's memory (a restarted member refuses them) and die after idle minutes.
Any token dies when the users or roles change. A process signs in again when its token
is older than :data:`REFRESH_AFTER_S`. :class:`TokenInterceptor` sits on
the client's gRPC channel: it signs in on first use, adds the token to every call, and
when etcd refuses a token it signs in again and repeats a unary call once (a stream, a
watch or a lease keep-alive, is refused and its owner opens it again with the new token).

The process's user is set once at start (:func:`use_credentials`, from its settings);
every client :func:`vcc_failover.lease.new_client` makes then signs in as that user.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterable, Awaitable, Callable
from typing import Any

import grpc
import grpc.aio
from etcd3aio import Etcd3Client
from etcd3aio._protobuf import AuthenticateRequest, AuthStub

from vcc_proto.access import Credentials

log = logging.getLogger(__name__)

AUTHENTICATE = "/etcdserverpb.Auth/Authenticate"
SIGN_IN_TIMEOUT_S = 5.0
_process_user: list[Credentials | None] = [None]
# The last token of each user at each etcd (by target): a new client (many calls make
# one) starts with it instead of signing in again, which costs etcd a password hash.
_tokens: dict[tuple[str, str], tuple[str, float]] = {}  # -> (token, monotonic signed-in time)
REFRESH_AFTER_S = 20 * 60.0  # well inside the signed tokens' hour


def use_credentials(credentials: Credentials | None) -> None:
    """Every etcd client made from now on in this process signs in as ``credentials``."""
    _process_user[0] = credentials


def process_credentials() -> Credentials | None:
    return _process_user[0]


def token_refused(exc: grpc.aio.AioRpcError) -> bool:
    """etcd no longer takes the token: restarted, expired, or the users changed."""
    code, details = exc.code(), exc.details() or ""
    if code == grpc.StatusCode.UNAUTHENTICATED:
        return "password" not in details  # a wrong password is not cured by signing in
    return code == grpc.StatusCode.INVALID_ARGUMENT and "auth store is old" in details


class TokenInterceptor(  # the interceptor classes are untyped in the stubs
    grpc.aio.UnaryUnaryClientInterceptor,  # type: ignore[misc]
    grpc.aio.UnaryStreamClientInterceptor,  # type: ignore[misc]
    grpc.aio.StreamUnaryClientInterceptor,  # type: ignore[misc]
    grpc.aio.StreamStreamClientInterceptor,  # type: ignore[misc]
):
    """Signs in as ``credentials`` and puts the token on every call but the sign-in."""

    def __init__(self, credentials: Credentials, target: str = "") -> None:
        self.credentials = credentials
        self.channel: grpc.aio.Channel | None = None
        self._shared = (target, credentials.user)
        self._token: str | None = None
        self._lock = asyncio.Lock()

    async def token(self, refused: str | None = None) -> str:
        """The current token; a new one when there is none, it is old, or ``refused``."""
        if refused is None and (current := self._fresh()) is not None:
            return current
        async with self._lock:
            if refused is not None:
                self._forget(refused)
            self._token = self._fresh()
            if self._token is None:
                assert self.channel is not None, "interceptor not bound to its channel"
                stub = AuthStub(self.channel)
                request = AuthenticateRequest(
                    name=self.credentials.user, password=self.credentials.password
                )
                try:
                    response = await stub.Authenticate(request, timeout=SIGN_IN_TIMEOUT_S)
                    self._token = str(response.token)
                except grpc.aio.AioRpcError as exc:
                    if "authentication is not enabled" not in (exc.details() or ""):
                        raise
                    self._token = ""  # an open etcd: calls go without a token
                _tokens[self._shared] = (self._token, time.monotonic())
            return self._token

    def _fresh(self) -> str | None:
        shared = _tokens.get(self._shared)
        if shared is None or time.monotonic() - shared[1] >= REFRESH_AFTER_S:
            return None
        return shared[0]

    def _details(self, details: grpc.aio.ClientCallDetails, token: str) -> Any:
        metadata = [(k, v) for k, v in (details.metadata or ()) if k != "token"]
        if token:
            metadata.append(("token", token))
        return details._replace(metadata=grpc.aio.Metadata(*metadata))

    def _forget(self, token: str) -> None:
        if self._token == token:
            self._token = None
        shared = _tokens.get(self._shared)
        if shared is not None and shared[0] == token:
            del _tokens[self._shared]

    def _forget_on_refusal(self, token: str) -> Callable[[Any], None]:
        def done(call: Any) -> None:
            code = call.code() if not call.cancelled() else None
            if code == grpc.StatusCode.UNAUTHENTICATED:
                self._forget(token)

        return done

    async def intercept_unary_unary(
        self, continuation: Callable[..., Awaitable[Any]], details: Any, request: Any
    ) -> Any:
        if _method(details) == AUTHENTICATE:
            return await continuation(details, request)
        token = await self.token()
        call = await continuation(self._details(details, token), request)
        try:
            return await call
        except grpc.aio.AioRpcError as exc:
            if not token_refused(exc):
                raise
            log.info(
                "etcd refused the token of %s (%s); signing in again",
                self.credentials.user,
                exc.details(),
            )
        token = await self.token(refused=token)
        return await (await continuation(self._details(details, token), request))

    async def intercept_unary_stream(
        self, continuation: Callable[..., Awaitable[Any]], details: Any, request: Any
    ) -> Any:
        token = await self.token()
        call = await continuation(self._details(details, token), request)
        call.add_done_callback(self._forget_on_refusal(token))
        return call

    async def intercept_stream_unary(
        self, continuation: Callable[..., Awaitable[Any]], details: Any, requests: Any
    ) -> Any:
        token = await self.token()
        call = await continuation(self._details(details, token), requests)
        call.add_done_callback(self._forget_on_refusal(token))
        return call

    async def intercept_stream_stream(
        self,
        continuation: Callable[..., Awaitable[Any]],
        details: Any,
        requests: AsyncIterable[Any] | Any,
    ) -> Any:
        token = await self.token()
        call = await continuation(self._details(details, token), requests)
        call.add_done_callback(self._forget_on_refusal(token))
        return call


def _method(details: Any) -> str:
    method = details.method
    return method.decode() if isinstance(method, bytes) else str(method)


def sign_in_as(client: Etcd3Client, credentials: Credentials) -> None:
    """Make ``client`` (not connected yet) sign in as ``credentials`` on its channel."""
    manager = client._manager
    interceptor = TokenInterceptor(credentials, manager.target)

    def get_channel(
        ca_cert: bytes | None = None,
        cert_key: bytes | None = None,
        cert_chain: bytes | None = None,
        tls_server_name: str | None = None,
    ) -> grpc.aio.Channel:
        if ca_cert is None:
            channel = grpc.aio.insecure_channel(
                manager.target, options=manager.grpc_options, interceptors=[interceptor]
            )
        else:  # the client's TLS arguments, as etcd3aio's own channel would use them
            credentials = grpc.ssl_channel_credentials(ca_cert, cert_key, cert_chain)
            options = list(manager.grpc_options)
            if tls_server_name is not None:
                options.append(("grpc.ssl_target_name_override", tls_server_name))
            channel = grpc.aio.secure_channel(
                manager.target, credentials, options=options, interceptors=[interceptor]
            )
        interceptor.channel = channel
        return channel

    manager.get_channel = get_channel  # type: ignore[method-assign]
