"""The server interceptor that enforces :data:`vcc_proto.authz.TABLE` on a mutual-TLS port.

:class:`GrpcHost <vcc_proto.server.GrpcHost>` installs it only when it serves TLS; a
plaintext port has no identities and is served as before, unchecked.

For each RPC the caller's identity is the node in the verified peer certificate
(:func:`vcc_proto.tls.identity_of`); then:

* no identity (a certificate that names no vcc node): UNAUTHENTICATED;
* an RPC the table has no entry for (and not health or reflection): PERMISSION_DENIED;
* a node kind the entry does not list: PERMISSION_DENIED;
* a *site* certificate whose request names another site in the entry's ``own_site``
  field (or leaves it empty): PERMISSION_DENIED. A node acts only as itself;
* a person (see below) whose role the entry does not list: PERMISSION_DENIED.

Every refusal is counted (``vcc_authz_refused_total``) and audited through
:class:`~vcc_proto.refusal_audit.RefusalAudit` (the node's sink; bounded per actor,
method and minute): the actor is the identity presented, or ``anonymous``.

People: a request may carry a person's session token as ``authorization: Bearer
<token>`` (:func:`vcc_domain.people.bearer_token`). The hook ``person_of(metadata)`` (a
site gives its :class:`PeopleService <vcc_site.service.people.PeopleService>`'s) returns
the :class:`Person` of a live session, or None. A bearer token the hook does not know
(expired, revoked, made up, malformed) is UNAUTHENTICATED, except on the RPCs of
:data:`vcc_proto.authz.WITHOUT_SESSION` (signing in), which ignore it; a person must pass both the
node that carries them (the ``ops`` desktop gateway) and their role; a person who must
still change their initial password may call only :data:`vcc_proto.authz.WHILE_MUST_CHANGE`.
What a person may do only as themselves (``own_person``) is left to the servicer that
knows the sessions. A node without the hook (the default ``no_person``) ignores bearer
tokens and checks the node alone.

The identity that passed (the node and the person, :class:`Caller`) is put in a context
variable for the handler: :func:`current_caller`, and :func:`actor_of` names the actor of
an audit row from it rather than from what the request says.

The rule, the request-field path and the wrapped handler are looked up once per method
and cached; a call costs the identity lookup (gRPC's auth context; the certificate is
parsed once per distinct certificate), a dictionary lookup and at most a field read.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import grpc
from prometheus_client import Counter

from vcc_domain.people import bearer_token
from vcc_proto.authz import (
    OPEN_SERVICES,
    PACKAGE_PREFIX,
    WHILE_MUST_CHANGE,
    WITHOUT_SESSION,
    Rule,
    rule_for,
)
from vcc_proto.pki import Identity
from vcc_proto.refusal_audit import RefusalAudit
from vcc_proto.tls import identity_of

REFUSED = Counter(
    "vcc_authz_refused_total",
    "RPCs refused by the authorization table, by method and status code",
    ["method", "code"],
)

_OPEN = Rule(frozenset({"hub", "site", "edge", "ops"}), frozenset())


@dataclass(frozen=True, slots=True)
class Person:
    """A signed-in person a request acts for (from a session token)."""

    id: str
    role: str
    site_id: str = ""
    must_change: bool = False


@dataclass(frozen=True, slots=True)
class Caller:
    """Who an RPC was checked as: the node of the peer certificate and the person."""

    node: Identity | None
    person: Person | None = None

    @property
    def actor(self) -> str:
        """The actor of an audit row: ``person:<id>`` or the node (``site:KM``)."""
        if self.person is not None:
            return f"person:{self.person.id}"
        return str(self.node) if self.node is not None else ""


_CALLER: ContextVar[Caller | None] = ContextVar("vcc_caller", default=None)


def current_caller() -> Caller | None:
    """The identity the authorization interceptor checked this RPC as (None on a
    plaintext port, where nothing is checked)."""
    return _CALLER.get()


def actor_of(claimed: str, limit: int = 64) -> str:
    """The actor to record: the checked identity when there is one, followed by what the
    request claimed when that says more (``site:QJ claims remote:QJ/QJ-0007``); else
    ``claimed`` (a plaintext port, where nothing is checked). At most ``limit`` chars."""
    caller = _CALLER.get()
    verified = caller.actor if caller is not None else ""
    if not verified:
        return claimed[:limit]
    if claimed and claimed != verified:
        return f"{verified} claims {claimed}"[:limit]
    return verified[:limit]


Metadata = Sequence[tuple[str, Any]]
PersonOf = Callable[[Metadata], Person | None]
IdentityOf = Callable[[Any], Identity | None]


def no_person(_metadata: Metadata) -> Person | None:
    """The default hook: this node knows no person sessions."""
    return None


class Refused(Exception):
    """Why a call is refused: the status code and its message."""

    def __init__(self, code: grpc.StatusCode, message: str, actor: str = "anonymous") -> None:
        super().__init__(message)
        self.code = code
        self.actor = actor  # who the caller presented themselves as, for the audit


def rule_of_method(method: str) -> Rule | None:
    """The table's rule for a ``/package.Service/Method`` path; open services get one
    that admits every node kind; None when the table has no entry."""
    service, _, name = method.lstrip("/").partition("/")
    if service in OPEN_SERVICES:
        return _OPEN
    if not service.startswith(PACKAGE_PREFIX):
        return None
    return rule_for(service.removeprefix(PACKAGE_PREFIX), name)


def _short(method: str) -> str:
    """``/vcc_proto.v1.People/SignIn`` -> ``People.SignIn``."""
    service, _, name = method.lstrip("/").partition("/")
    return f"{service.removeprefix(PACKAGE_PREFIX)}.{name}"


def _read(request: Any, path: tuple[str, ...]) -> str:
    value = request
    for part in path:
        value = getattr(value, part, "")
    return str(value)


class AuthzInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Refuses each RPC the authorization table does not allow for its caller."""

    def __init__(
        self,
        person_of: PersonOf = no_person,
        identity_of: IdentityOf = identity_of,
        audit: RefusalAudit | None = None,
    ) -> None:
        self._person_of = person_of
        self._identity_of = identity_of
        self.audit = audit or RefusalAudit()  # without a node's sink: bounded log lines
        self._wrapped: dict[str, tuple[grpc.RpcMethodHandler, grpc.RpcMethodHandler]] = {}

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        if handler is None:
            return handler
        method: str = handler_call_details.method
        known = self._wrapped.get(method)
        if known is not None and known[0] is handler:
            return known[1]
        wrapped = self.wrap(method, handler)
        self._wrapped[method] = (handler, wrapped)
        return wrapped

    def check(self, method: str, found: Rule | None, context: Any, request: Any) -> None:
        """Raise :class:`Refused` unless the caller of ``context`` may make this call."""
        who = self._identity_of(context)
        if who is None:
            raise Refused(
                grpc.StatusCode.UNAUTHENTICATED,
                "a client certificate naming a vcc node is required",
            )
        try:
            rule = self._check_node(method, found, who, request)
        except Refused as err:
            err.actor = str(who)
            raise
        person = None
        if self._person_of is not no_person:
            person = self._person(method, rule, context, who)
        _CALLER.set(Caller(who, person))

    def _check_node(self, method: str, found: Rule | None, who: Identity, request: Any) -> Rule:
        if found is None:
            raise Refused(
                grpc.StatusCode.PERMISSION_DENIED,
                f"{method} is in no entry of the authorization table",
            )
        if not found.allows_node(who.kind):
            raise Refused(
                grpc.StatusCode.PERMISSION_DENIED,
                f"{who} may not call {method} (allowed: "
                f"{', '.join(sorted(found.nodes)) or 'people only'})",
            )
        if found.own_site and who.kind == "site" and request is not None:
            named = _read(request, tuple(found.own_site.split(".")))
            if named != who.id:
                raise Refused(
                    grpc.StatusCode.PERMISSION_DENIED,
                    f"{who} may act only as itself: {found.own_site} is {named!r}, not {who.id!r}",
                )
        return found

    def _person(self, method: str, found: Rule, context: Any, who: Identity) -> Person | None:
        if _short(method) in WITHOUT_SESSION:
            return None
        metadata = context.invocation_metadata() or ()
        person = self._person_of(metadata)
        if person is None:
            if bearer_token(metadata) is not None:
                raise Refused(
                    grpc.StatusCode.UNAUTHENTICATED,
                    "the session token is expired, revoked or unknown; sign in again",
                    f"{who} with an unknown session",
                )
            return None
        actor = f"person:{person.id} via {who}"
        if not found.allows_role(person.role):
            raise Refused(
                grpc.StatusCode.PERMISSION_DENIED,
                f"role {person.role} may not call {method}",
                actor,
            )
        if person.must_change and _short(method) not in WHILE_MUST_CHANGE:
            raise Refused(
                grpc.StatusCode.PERMISSION_DENIED,
                "change your initial password first (People.ChangePassword)",
                actor,
            )
        return person

    async def _guard(self, method: str, found: Rule | None, context: Any, request: Any) -> None:
        try:
            self.check(method, found, context, request)
        except Refused as err:
            REFUSED.labels(method, err.code.name).inc()
            await self.audit.record(err.actor, _short(method), err.code.name, str(err))
            await context.abort(err.code, str(err))

    def wrap(self, method: str, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
        """``handler`` checked first (also what a host applies when it registers a method)."""
        found = rule_of_method(method)
        guard = self._guard
        kw = {
            "request_deserializer": handler.request_deserializer,
            "response_serializer": handler.response_serializer,
        }
        if handler.unary_unary is not None:
            inner_uu = handler.unary_unary

            async def unary_unary(request: Any, context: Any) -> Any:
                await guard(method, found, context, request)
                return await inner_uu(request, context)

            return grpc.unary_unary_rpc_method_handler(unary_unary, **kw)
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(
                self._unary_stream(method, found, handler.unary_stream), **kw
            )
        if handler.stream_unary is not None:
            inner_su = handler.stream_unary

            async def stream_unary(requests: Any, context: Any) -> Any:
                await guard(method, found, context, None)
                return await inner_su(requests, context)

            return grpc.stream_unary_rpc_method_handler(stream_unary, **kw)
        if handler.stream_stream is not None:
            return grpc.stream_stream_rpc_method_handler(
                self._stream_stream(method, found, handler.stream_stream), **kw
            )
        return handler

    def _unary_stream(
        self, method: str, found: Rule | None, inner: Callable[..., Any]
    ) -> Callable[..., Any]:
        guard = self._guard
        if inspect.isasyncgenfunction(inner):

            async def stream(request: Any, context: Any) -> AsyncIterator[Any]:
                await guard(method, found, context, request)
                async for item in inner(request, context):
                    yield item

            return stream

        async def write(request: Any, context: Any) -> Any:  # writes with context.write
            await guard(method, found, context, request)
            return await inner(request, context)

        return write

    def _stream_stream(
        self, method: str, found: Rule | None, inner: Callable[..., Any]
    ) -> Callable[..., Any]:
        guard = self._guard

        async def stream(requests: Any, context: Any) -> AsyncIterator[Any]:
            await guard(method, found, context, None)
            replies = inner(requests, context)
            if hasattr(replies, "__aiter__"):
                async for item in replies:
                    yield item
            elif inspect.isawaitable(replies):  # a handler that writes with context.write
                await replies
            else:
                for item in replies:
                    yield item

        return stream
