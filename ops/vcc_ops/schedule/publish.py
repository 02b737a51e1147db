"""``vcc schedule publish``: send a schedule written by ``vcc schedule plan`` to its site,
where the team leaders read it (``Quality.PublishSchedule`` / ``Quality.GetSchedule``).

The JSON's predicted service level (a fraction) is sent in basis points.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import click
import grpc

from vcc_ops.exits import Exit
from vcc_ops.target import workdir_option
from vcc_proto.channels import open_channel
from vcc_proto.v1 import quality_pb2 as pb
from vcc_proto.v1 import quality_pb2_grpc as qg

TIMEOUT_S = 60.0
BP = 10_000


def schedule_request(data: dict[str, Any], actor: str = "vcc-cli") -> pb.Schedule:
    """The ``PublishSchedule`` request for a schedule as ``vcc schedule plan`` wrote it."""
    intervals = data.get("intervals", [])
    return pb.Schedule(
        site_id=str(data.get("site", "")),
        week_start_ms=int(data["week_start_ms"]),
        shifts=[
            pb.ScheduleShift(
                agent_id=str(s["agent_id"]),
                start_ms=int(s["start_ms"]),
                end_ms=int(s["end_ms"]),
                break_start_ms=int(s["break_start_ms"]),
                break_end_ms=int(s["break_end_ms"]),
            )
            for s in data.get("shifts", [])
        ],
        on_phone=[int(i["on_phone"]) for i in intervals],
        predicted_sl_bp=[round(float(i["predicted_sl"]) * BP) for i in intervals],
        published_by=actor,
    )


async def publish_schedule(endpoint: str, request: pb.Schedule) -> pb.Schedule:
    async with open_channel(endpoint) as channel:
        reply: pb.Schedule = await qg.QualityStub(channel).PublishSchedule(
            request, timeout=TIMEOUT_S
        )
        return reply


@click.command("publish")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--site-endpoint", required=True, help="the site's gRPC endpoint, HOST:PORT")
@workdir_option
def publish(path: Path, site_endpoint: str, workdir: Path) -> None:
    """Publish the schedule in PATH (from `vcc schedule plan`) to its site's team leaders."""
    try:
        request = schedule_request(json.loads(path.read_text()))
    except (ValueError, KeyError, TypeError) as exc:
        click.echo(f"{path}: not a schedule from `vcc schedule plan` ({exc})", err=True)
        raise SystemExit(Exit.USAGE) from exc
    try:
        reply = asyncio.run(publish_schedule(site_endpoint, request))
    except grpc.aio.AioRpcError as exc:
        click.echo(f"refused: {exc.code().name}: {exc.details()}", err=True)
        bad = exc.code() is grpc.StatusCode.INVALID_ARGUMENT
        raise SystemExit(Exit.USAGE if bad else Exit.UNREACHABLE) from exc
    click.echo(
        f"published week {reply.week_start_ms} at {reply.site_id}: {len(reply.shifts)} shifts "
        f"(by {reply.published_by})"
    )
