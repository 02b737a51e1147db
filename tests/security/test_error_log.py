"""Unexpected errors of RPC handlers are logged bounded (unit level): a few tracebacks per
method a minute, then one ``suppressed`` line; numbers in them masked; a deep recursion
error kept to a bounded size; the client still gets INTERNAL without the text."""

from __future__ import annotations

import logging
from typing import Any

import grpc
import pytest

from vcc_proto.error_log import MAX_CHARS, PER_MINUTE, ErrorLog, masked_traceback
from vcc_proto.status import ERRORS, grpc_errors

PHONE = "13812345678"


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def _failure() -> ValueError:
    try:
        raise ValueError(f"no customer with phone {PHONE}")
    except ValueError as exc:
        return exc


def test_a_burst_logs_a_few_tracebacks_then_says_how_many_were_suppressed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    errors = ErrorLog(logging.getLogger("test.errors"), clock=clock)
    with caplog.at_level(logging.ERROR, "test.errors"):
        logged = [errors.error("Access.OfferCall", _failure()) for _ in range(100)]
        errors.error("Access.SendDigits", _failure())  # another method has its own budget
    assert logged.count(True) == PER_MINUTE
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == PER_MINUTE + 1
    caplog.clear()
    clock.t += 61
    with caplog.at_level(logging.ERROR, "test.errors"):
        errors.flush()
        errors.flush()
    assert [r.getMessage() for r in caplog.records] == [
        "unexpected errors in Access.OfferCall: suppressed 95 more in the minute "
        f"(at most {PER_MINUTE} tracebacks a minute are logged)"
    ]


def test_numbers_are_masked_and_a_deep_traceback_is_bounded() -> None:
    text = masked_traceback(_failure())
    assert PHONE not in text and "138****5678" in text and "ValueError" in text

    def deep(n: int) -> int:
        return deep(n + 1)

    try:
        deep(0)
    except RecursionError as exc:
        text = masked_traceback(exc)
    assert "RecursionError" in text and len(text) <= MAX_CHARS + 10


class _Aborted(Exception):
    pass


class _Context:
    async def abort(self, code: grpc.StatusCode, details: str, metadata: Any = ()) -> None:
        raise _Aborted(code, details)


class _Servicer:
    @grpc_errors
    async def Lookup(self, request: Any, context: Any) -> None:
        raise ValueError(f"no customer with phone {request}")


async def test_a_handler_failure_is_internal_and_logged_masked(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.ERROR, "vcc_proto.status"):
        with pytest.raises(_Aborted) as caught:
            await _Servicer().Lookup(PHONE, _Context())
    code, details = caught.value.args
    assert code == grpc.StatusCode.INTERNAL and PHONE not in details
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "_Servicer.Lookup" in text and PHONE not in text and "138****5678" in text
    ERRORS.flush()
