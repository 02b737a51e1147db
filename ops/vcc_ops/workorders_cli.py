"""``vcc workorders``: the province-wide work orders and their figures, from the hub.

::

    vcc workorders list [--site DL] [--open] [--overdue] [--json]
    vcc workorders figures [--site DL] [--json]

The hub is ``--hub host:port`` or the leader found in etcd (``--etcd``, else the province
``vcc up`` runs in ``--workdir``). An unknown site exits 2; an unreachable hub exits 3.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import click
import grpc.aio
from google.protobuf.json_format import MessageToDict

from vcc_ops.report_cli import HubTarget, call_hub, hub_options
from vcc_proto.v1 import hub_pb2 as h
from vcc_proto.v1 import hub_pb2_grpc as hg

T = TypeVar("T")
_common = [
    hub_options,
    click.option("--site", default="", help="Only orders owned by this site."),
    click.option("--json", "as_json", is_flag=True, help="Print JSON."),
]


def _options(func: Any) -> Any:
    for option in reversed(_common):
        func = option(func)
    return func


def _call(target: HubTarget, fn: Callable[[hg.ProvinceWorkOrdersStub], Awaitable[T]]) -> T:
    async def run(channel: grpc.aio.Channel) -> T:
        return await fn(hg.ProvinceWorkOrdersStub(channel))

    return call_hub(target, run)


def _dict(msg: Any) -> dict[str, Any]:
    return MessageToDict(msg, preserving_proto_field_name=True)


@click.group("workorders")
def workorders() -> None:
    """Province-wide work orders (the hub's copies of every site's orders)."""


@workorders.command("list")
@_options
@click.option("--open", "open_only", is_flag=True, help="Leave out closed orders.")
@click.option("--overdue", is_flag=True, help="Only orders past their answer deadline.")
@click.option("--limit", type=int, default=1000, show_default=True)
def list_orders(
    target: HubTarget, site: str, as_json: bool, open_only: bool, overdue: bool, limit: int
) -> None:
    """List orders, oldest first."""
    reply = _call(
        target,
        lambda stub: stub.ListOrders(
            h.ListProvinceOrdersRequest(
                owner_site_id=site, open_only=open_only, overdue_only=overdue, limit=limit
            ),
            timeout=30,
        ),
    )
    if as_json:
        click.echo(json.dumps([_dict(o) for o in reply.orders], ensure_ascii=False, indent=1))
        return
    for o in reply.orders:
        click.echo(
            f"{o.order_id}  {o.owner_site:<4} {o.order_type:<13} {o.state:<13} {o.department}"
        )
    click.echo(f"{len(reply.orders)} orders")


@workorders.command("figures")
@_options
def figures(target: HubTarget, site: str, as_json: bool) -> None:
    """On-time rate by kind and department, outstanding, overdue, callbacks."""
    reply = _call(
        target,
        lambda stub: stub.GetFigures(h.ProvinceFiguresRequest(owner_site_id=site), timeout=30),
    )
    if as_json:
        click.echo(json.dumps([_dict(f) for f in reply.figures], ensure_ascii=False, indent=1))
        return
    click.echo(
        f"{'kind':<14}{'department':<32}{'total':>7}{'answered':>9}{'on time':>9}"
        f"{'outstanding':>12}{'overdue':>8}{'callbacks':>10}"
    )
    for f in reply.figures:
        click.echo(
            f"{f.kind:<14}{f.department[:31]:<32}{f.total:>7}{f.answered:>9}"
            f"{f.answered_on_time:>9}{f.outstanding:>12}{f.overdue:>8}"
            f"{f.callbacks_done:>5}/{f.callbacks_required:<4}"
        )
