"""The audit of refused calls is bounded (unit level: no server): one row per actor and
method per minute plus one summary, at most ``max_keys`` pairs a minute, and a caller
with no usable certificate is audited as ``anonymous``."""

from __future__ import annotations

from typing import Any

import grpc
import pytest

from vcc_proto.authz_interceptor import AuthzInterceptor
from vcc_proto.refusal_audit import ANY, RefusalAudit, RefusalRow


class Clock:
    def __init__(self) -> None:
        self.ms = 1_000_000 * 60_000

    def __call__(self) -> int:
        return self.ms


def test_a_flood_writes_one_row_then_one_summary() -> None:
    clock = Clock()
    audit = RefusalAudit(None, clock)
    first = audit.note("anonymous", "Directory.ApplyChange", "UNAUTHENTICATED", "no cert")
    assert [(r.actor, r.count, r.detail) for r in first] == [
        ("anonymous", 1, "UNAUTHENTICATED: no cert")
    ]
    for _ in range(10_000):
        assert audit.note("anonymous", "Directory.ApplyChange", "UNAUTHENTICATED", "x") == []
    assert audit.due() == []
    clock.ms += 60_000
    summary = audit.due()
    assert [(r.actor, r.method, r.count) for r in summary] == [
        ("anonymous", "Directory.ApplyChange", 10_000)
    ]
    assert audit.due() == []


def test_distinct_pairs_are_bounded_per_minute() -> None:
    clock = Clock()
    audit = RefusalAudit(None, clock, max_keys=3)
    rows: list[RefusalRow] = []
    for n in range(1000):
        rows += audit.note(f"person:P{n}", "People.Unlock", "PERMISSION_DENIED", "role")
    assert len(rows) == 3
    clock.ms += 60_000
    summary = audit.due()
    assert [(r.actor, r.method, r.count) for r in summary] == [(ANY, ANY, 997)]


class _Aborted(Exception):
    pass


class _Context:
    def invocation_metadata(self) -> tuple[()]:
        return ()

    async def abort(self, code: grpc.StatusCode, details: str) -> None:
        raise _Aborted(code, details)


async def test_a_caller_naming_no_node_is_audited_as_anonymous() -> None:
    written: list[RefusalRow] = []

    async def sink(rows: list[RefusalRow]) -> None:
        written.extend(rows)

    interceptor = AuthzInterceptor(
        identity_of=lambda _context: None, audit=RefusalAudit(sink, Clock())
    )

    async def handler(request: Any, context: Any) -> None:
        raise AssertionError("not to be reached")

    wrapped = interceptor.wrap(
        "/vcc_proto.v1.Reports/CloseSettlement", grpc.unary_unary_rpc_method_handler(handler)
    )
    with pytest.raises(_Aborted):
        await wrapped.unary_unary(object(), _Context())
    assert [(r.actor, r.method, r.code) for r in written] == [
        ("anonymous", "Reports.CloseSettlement", "UNAUTHENTICATED")
    ]
