"""``vcc recordings list`` and ``vcc recordings play``: a quality inspector's call
recordings at their site (``Quality.ListRecordings`` / ``Quality.PlayRecording``).

::

    vcc recordings list --site-endpoint HOST:PORT --person KM-QA-0001 --day 2026-12-05
    vcc recordings play rec_01J... --site-endpoint HOST:PORT --person KM-QA-0001 --out a.wav

With ``--person`` the inspector signs in at the site (the password from
``VCC_PERSON_PASSWORD`` or asked for) and the site audits the listing or playing under
their name; without, the operator tool's own certificate acts (and is audited).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import click
import grpc

from vcc_ops.exits import Exit
from vcc_proto.channels import open_channel
from vcc_proto.v1 import people_pb2 as pp
from vcc_proto.v1 import people_pb2_grpc as pg
from vcc_proto.v1 import quality_pb2 as qp
from vcc_proto.v1 import quality_pb2_grpc as qg

TIMEOUT_S = 60.0
Metadata = Sequence[tuple[str, str]]


async def bearer_of(channel: grpc.aio.Channel, person: str, password: str) -> Metadata:
    if not person:
        return ()
    reply = await pg.PeopleStub(channel).SignIn(
        pp.SignInRequest(person_id=person, password=password), timeout=TIMEOUT_S
    )
    return (("authorization", f"Bearer {reply.session_token}"),)


async def list_recordings(
    endpoint: str, request: qp.ListRecordingsRequest, person: str = "", password: str = ""
) -> list[qp.Recording]:
    async with open_channel(endpoint) as channel:
        metadata = await bearer_of(channel, person, password)
        reply = await qg.QualityStub(channel).ListRecordings(
            request, metadata=metadata, timeout=TIMEOUT_S
        )
        return list(reply.recordings)


async def fetch_recording(
    endpoint: str, request: qp.PlayRecordingRequest, person: str = "", password: str = ""
) -> tuple[str, bytes]:
    """The recording's content type and bytes."""
    async with open_channel(endpoint) as channel:
        metadata = await bearer_of(channel, person, password)
        chunks = [
            c
            async for c in qg.QualityStub(channel).PlayRecording(
                request, metadata=metadata, timeout=TIMEOUT_S
            )
        ]
    kind = chunks[0].content_type if chunks else ""
    return kind, b"".join(c.data for c in chunks)


def line(r: qp.Recording) -> str:
    at = datetime.fromtimestamp(r.started_at_ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")
    swept = " swept" if r.swept_at_ms else ""
    return (
        f"{r.recording_id}  {at}Z  {r.duration_ms / 1000:6.1f} s  {r.business_id:12}  "
        f"{','.join(r.agents):10}  {r.call_id}{swept}"
    )


def _password(person: str) -> str:
    if not person:
        return ""
    return os.environ.get("VCC_PERSON_PASSWORD") or click.prompt(
        f"{person}'s password", hide_input=True
    )


def _refused(exc: grpc.aio.AioRpcError) -> SystemExit:
    click.echo(f"refused: {exc.code().name}: {exc.details()}", err=True)
    usage = exc.code() in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND)
    return SystemExit(Exit.USAGE if usage else Exit.UNREACHABLE)


endpoint_option = click.option(
    "--site-endpoint", required=True, help="the site's gRPC endpoint, HOST:PORT"
)
person_option = click.option(
    "--person", default="", help="sign in as this quality inspector (audited as them)"
)


@click.group("recordings")
def recordings() -> None:
    """A quality inspector's call recordings at a site."""


@recordings.command("list")
@endpoint_option
@person_option
@click.option("--agent", default="", help="of this agent")
@click.option("--business", default="", help="of this business")
@click.option("--day", default="", help="started on this Beijing day, YYYY-MM-DD")
@click.option("--include-swept", is_flag=True, help="also those past retention")
def list_command(
    site_endpoint: str, person: str, agent: str, business: str, day: str, include_swept: bool
) -> None:
    """The recordings kept at the site, newest first."""
    request = qp.ListRecordingsRequest(
        agent_id=agent, business_id=business, day=day, include_swept=include_swept
    )
    try:
        found = asyncio.run(list_recordings(site_endpoint, request, person, _password(person)))
    except grpc.aio.AioRpcError as exc:
        raise _refused(exc) from exc
    for r in found:
        click.echo(line(r))
    click.echo(f"{len(found)} recordings")


@recordings.command("play")
@click.argument("recording_id")
@endpoint_option
@person_option
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("--pcap", is_flag=True, help="the recorded packets instead of WAV audio")
def play_command(recording_id: str, site_endpoint: str, person: str, out: Path, pcap: bool) -> None:
    """Write the recording to OUT (WAV, 8 kHz 16-bit mono, unless --pcap)."""
    kind = qp.PlayRecordingRequest.FORMAT_PCAP if pcap else qp.PlayRecordingRequest.FORMAT_WAV
    request = qp.PlayRecordingRequest(recording_id=recording_id, format=kind)
    try:
        content_type, data = asyncio.run(
            fetch_recording(site_endpoint, request, person, _password(person))
        )
    except grpc.aio.AioRpcError as exc:
        raise _refused(exc) from exc
    out.write_bytes(data)
    click.echo(f"wrote {out} ({content_type}, {len(data)} bytes)")
