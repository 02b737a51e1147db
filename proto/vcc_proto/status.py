"""The one place where project errors meet gRPC status codes.

Servers: decorate ``grpc.aio`` servicer methods with :func:`grpc_errors` (or call
:func:`abort_with`); a :class:`~vcc_domain.errors.VccError` becomes a status with the
mapped code, a message naming the field, and trailing metadata that lets the client
rebuild the exact error:

==================  ===================  ===============================================
ErrorKind           gRPC status          extra
==================  ===================  ===============================================
INVALID             INVALID_ARGUMENT
NOT_FOUND           NOT_FOUND
CONFLICT            FAILED_PRECONDITION
UNAUTHENTICATED     UNAUTHENTICATED
LOCKED              PERMISSION_DENIED    message says until when (``until_ms`` detail)
FORBIDDEN           PERMISSION_DENIED    a person's role may not do this
UNAVAILABLE         UNAVAILABLE
NOT_LEADER          FAILED_PRECONDITION  leader endpoint in ``vcc-leader``
FENCED              ABORTED
INTERNAL            INTERNAL
==================  ===================  ===============================================

Trailing metadata: ``vcc-error-kind`` (the ErrorKind value), ``vcc-error-field``
(percent-encoded), ``vcc-error-message-bin`` (the raw UTF-8 message) and
``vcc-error-details-bin`` (the details as JSON, values that JSON cannot hold as text).

Clients: :func:`from_rpc_error` turns a ``grpc.RpcError`` (sync or aio) back into the
VccError subclass of its kind; :func:`translate_rpc_errors` does it around a block.
"""

from __future__ import annotations

import functools
import inspect
import json
import logging
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, NoReturn, TypeVar, cast
from urllib.parse import quote, unquote

import grpc
import grpc.aio

from vcc_domain.errors import (
    Conflict,
    ErrorKind,
    Fenced,
    Forbidden,
    InvalidInput,
    Locked,
    NotFound,
    NotLeader,
    ResourceExhausted,
    Unauthenticated,
    Unavailable,
    VccError,
)
from vcc_proto.error_log import ErrorLog

log = logging.getLogger(__name__)

KIND_KEY = "vcc-error-kind"
FIELD_KEY = "vcc-error-field"
LEADER_KEY = "vcc-leader"
MESSAGE_KEY = "vcc-error-message-bin"
DETAILS_KEY = "vcc-error-details-bin"

STATUS_OF_KIND: dict[ErrorKind, grpc.StatusCode] = {
    ErrorKind.INVALID: grpc.StatusCode.INVALID_ARGUMENT,
    ErrorKind.NOT_FOUND: grpc.StatusCode.NOT_FOUND,
    ErrorKind.CONFLICT: grpc.StatusCode.FAILED_PRECONDITION,
    ErrorKind.UNAUTHENTICATED: grpc.StatusCode.UNAUTHENTICATED,
    ErrorKind.LOCKED: grpc.StatusCode.PERMISSION_DENIED,
    ErrorKind.FORBIDDEN: grpc.StatusCode.PERMISSION_DENIED,
    ErrorKind.UNAVAILABLE: grpc.StatusCode.UNAVAILABLE,
    ErrorKind.EXHAUSTED: grpc.StatusCode.RESOURCE_EXHAUSTED,
    ErrorKind.NOT_LEADER: grpc.StatusCode.FAILED_PRECONDITION,
    ErrorKind.FENCED: grpc.StatusCode.ABORTED,
    ErrorKind.INTERNAL: grpc.StatusCode.INTERNAL,
}

CLASS_OF_KIND: dict[ErrorKind, type[VccError]] = {
    ErrorKind.INVALID: InvalidInput,
    ErrorKind.NOT_FOUND: NotFound,
    ErrorKind.CONFLICT: Conflict,
    ErrorKind.UNAUTHENTICATED: Unauthenticated,
    ErrorKind.LOCKED: Locked,
    ErrorKind.FORBIDDEN: Forbidden,
    ErrorKind.UNAVAILABLE: Unavailable,
    ErrorKind.EXHAUSTED: ResourceExhausted,
    ErrorKind.NOT_LEADER: NotLeader,
    ErrorKind.FENCED: Fenced,
    ErrorKind.INTERNAL: VccError,
}

# For a status without our metadata (a proxy, grpc itself, another implementation).
KIND_OF_STATUS: dict[grpc.StatusCode, ErrorKind] = {
    grpc.StatusCode.INVALID_ARGUMENT: ErrorKind.INVALID,
    grpc.StatusCode.OUT_OF_RANGE: ErrorKind.INVALID,
    grpc.StatusCode.NOT_FOUND: ErrorKind.NOT_FOUND,
    grpc.StatusCode.FAILED_PRECONDITION: ErrorKind.CONFLICT,
    grpc.StatusCode.ALREADY_EXISTS: ErrorKind.CONFLICT,
    grpc.StatusCode.UNAUTHENTICATED: ErrorKind.UNAUTHENTICATED,
    grpc.StatusCode.PERMISSION_DENIED: ErrorKind.LOCKED,
    grpc.StatusCode.UNAVAILABLE: ErrorKind.UNAVAILABLE,
    grpc.StatusCode.DEADLINE_EXCEEDED: ErrorKind.UNAVAILABLE,
    grpc.StatusCode.CANCELLED: ErrorKind.UNAVAILABLE,
    grpc.StatusCode.RESOURCE_EXHAUSTED: ErrorKind.EXHAUSTED,
    grpc.StatusCode.ABORTED: ErrorKind.FENCED,
}

# Printable ASCII other than "%" passes through the field name unchanged.
_FIELD_SAFE = "".join(chr(c) for c in range(0x20, 0x7F) if chr(c) not in "%")

MetadataPairs = list[tuple[str, str | bytes]]
F = TypeVar("F", bound=Callable[..., Any])


def _locked_until(details: dict[str, Any]) -> str | None:
    """ISO-8601 UTC instant from a Locked error's ``until_ms`` (or ``until`` in seconds)."""
    if isinstance(details.get("until_ms"), int | float):
        seconds = float(details["until_ms"]) / 1000.0
    elif isinstance(details.get("until"), int | float):
        seconds = float(details["until"])
    else:
        return None
    return datetime.fromtimestamp(seconds, tz=UTC).isoformat(timespec="seconds")


def status_message(err: VccError) -> str:
    """The human-readable status message: names the field, and for LOCKED says until when."""
    text = str(err)
    if err.kind is ErrorKind.LOCKED:
        until = _locked_until(err.details)
        if until is not None:
            text = f"{text} (locked until {until})"
    if err.kind is ErrorKind.NOT_LEADER and err.details.get("leader"):
        text = f"{text} (leader: {err.details['leader']})"
    return text


def trailing_metadata(err: VccError) -> MetadataPairs:
    """The trailing metadata that lets :func:`from_rpc_error` rebuild ``err`` exactly."""
    md: MetadataPairs = [(KIND_KEY, err.kind.value), (MESSAGE_KEY, err.message.encode("utf-8"))]
    if err.field is not None:
        md.append((FIELD_KEY, quote(err.field, safe=_FIELD_SAFE)))
    if err.kind is ErrorKind.NOT_LEADER and err.details.get("leader"):
        md.append((LEADER_KEY, quote(str(err.details["leader"]), safe=_FIELD_SAFE)))
    if err.details:
        blob = json.dumps(err.details, default=str, sort_keys=True, ensure_ascii=False)
        md.append((DETAILS_KEY, blob.encode("utf-8")))
    return md


def status_code(err: VccError) -> grpc.StatusCode:
    """The gRPC status code of a project error."""
    return STATUS_OF_KIND.get(err.kind, grpc.StatusCode.INTERNAL)


async def abort_with(context: grpc.aio.ServicerContext[Any, Any], err: VccError) -> NoReturn:
    """Abort the current RPC with the status of ``err`` (never returns)."""
    await context.abort(status_code(err), status_message(err), tuple(trailing_metadata(err)))
    raise AssertionError("unreachable: context.abort returned")  # pragma: no cover


ERRORS = ErrorLog(log)  # bounded per method, numbers masked (vcc_proto.error_log)


async def _abort_unexpected(
    context: grpc.aio.ServicerContext[Any, Any], name: str, exc: Exception
) -> NoReturn:
    ERRORS.error(name, exc)
    await abort_with(context, VccError(f"internal error in {name}; see the server log"))


def grpc_errors(method: F) -> F:
    """Decorate an async servicer method (unary or server-streaming) to map VccError.

    A VccError aborts the RPC with its mapped status; any other exception becomes
    INTERNAL without leaking its text, and is logged with its numbers masked, at most a
    few tracebacks per method a minute (:class:`~vcc_proto.error_log.ErrorLog`). ``context.abort`` raised inside the method
    passes through untouched.
    """
    name = method.__qualname__

    if inspect.isasyncgenfunction(method):

        @functools.wraps(method)
        async def stream_wrapper(
            self: Any, request: Any, context: grpc.aio.ServicerContext[Any, Any]
        ) -> AsyncIterator[Any]:
            try:
                async for item in method(self, request, context):
                    yield item
            except grpc.aio.AbortError:
                raise
            except VccError as err:
                await abort_with(context, err)
            except Exception as exc:
                await _abort_unexpected(context, name, exc)

        return cast(F, stream_wrapper)

    if not inspect.iscoroutinefunction(method):
        raise TypeError(f"@grpc_errors needs an async method, got {name}")

    @functools.wraps(method)
    async def unary_wrapper(
        self: Any, request: Any, context: grpc.aio.ServicerContext[Any, Any]
    ) -> Any:
        try:
            return await method(self, request, context)
        except grpc.aio.AbortError:
            raise
        except VccError as err:
            await abort_with(context, err)
        except Exception as exc:
            await _abort_unexpected(context, name, exc)

    return cast(F, unary_wrapper)


def _metadata_of(error: grpc.RpcError) -> dict[str, str | bytes]:
    """Trailing metadata of a sync or aio RPC error as a dict (first value of a key)."""
    getter = getattr(error, "trailing_metadata", None)
    items: Iterable[tuple[str, str | bytes]] = ()
    if callable(getter):
        try:
            items = getter() or ()
        except Exception:  # a sync error without a finished call has none
            items = ()
    found: dict[str, str | bytes] = {}
    for key, value in items:
        found.setdefault(key, value)
    return found


def _text(value: str | bytes | None) -> str | None:
    if value is None:
        return None
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def _code_and_details(error: grpc.RpcError) -> tuple[grpc.StatusCode | None, str]:
    code = error.code() if callable(getattr(error, "code", None)) else None
    details = error.details() if callable(getattr(error, "details", None)) else None
    return code, details or ""


def from_rpc_error(error: grpc.RpcError) -> VccError:
    """Rebuild the project error a server raised, from a ``grpc.RpcError``.

    With our trailing metadata the result has the same class, message, field and details
    as on the server. Without it, the status code decides the class and the status text
    becomes the message; ``grpc_code`` is kept in the details either way.
    """
    code, status_text = _code_and_details(error)
    md = _metadata_of(error)
    kind_text = _text(md.get(KIND_KEY))
    try:
        kind = ErrorKind(kind_text) if kind_text else None
    except ValueError:
        kind = None
    if kind is None:
        kind = KIND_OF_STATUS.get(code, ErrorKind.INTERNAL) if code else ErrorKind.UNAVAILABLE
        return CLASS_OF_KIND[kind](status_text or str(code), grpc_code=code.name if code else "")
    message = _text(md.get(MESSAGE_KEY))
    field_text = _text(md.get(FIELD_KEY))
    details: dict[str, Any] = {}
    blob = _text(md.get(DETAILS_KEY))
    if blob:
        try:
            loaded = json.loads(blob)
            details = loaded if isinstance(loaded, dict) else {"details": loaded}
        except ValueError:
            details = {"details": blob}
    leader = _text(md.get(LEADER_KEY))
    if leader and "leader" not in details:
        details["leader"] = unquote(leader)
    field = unquote(field_text) if field_text is not None else None
    # "message" and "field" are constructor arguments, never detail keys.
    details = {k: v for k, v in details.items() if k not in ("message", "field")}
    text = message if message is not None else status_text
    return CLASS_OF_KIND[kind](text, field=field, **details)


def leader_of(error: grpc.RpcError) -> str | None:
    """The leader endpoint a hub follower named in its refusal, if any."""
    leader = _text(_metadata_of(error).get(LEADER_KEY))
    return unquote(leader) if leader else None


@contextmanager
def translate_rpc_errors() -> Iterator[None]:
    """Re-raise any ``grpc.RpcError`` inside the block as its VccError (client side).

    Works around ``await stub.Method(...)`` too::

        with translate_rpc_errors():
            reply = await stub.GetCall(CallRef(call_id=call_id), timeout=2.0)
    """
    try:
        yield
    except grpc.RpcError as error:
        raise from_rpc_error(error) from error
