"""``vcc events ...``: look at the province's site-event replication from the broker.

``vcc events dead-letters [--json]`` lists the site events the hub gave up on (the
``VCC_DEAD_LETTERS`` stream: events it could not decode or apply after a bounded number
of deliveries), newest last, with the site, why, the error and the delivery count. NATS
is ``--nats`` or ``VCC_NATS``, as for the service processes, else the province ``vcc up``
runs in ``--workdir``; an unreachable NATS exits 3.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

import click
import nats

from vcc_ops import target
from vcc_ops.exits import Unreachable
from vcc_ops.target import workdir_option
from vcc_proto.access import Credentials, inbox_prefix
from vcc_proto.broker_tls import nats_tls_options
from vcc_replication.dead_letters import DeadLetter, list_dead_letters


async def fetch_dead_letters(
    urls: list[str],
    limit: int = 100,
    timeout_s: float = 5.0,
    credentials: Credentials | None = None,
) -> list[DeadLetter]:
    """The newest ``limit`` dead letters from the broker at ``urls``."""

    async def quiet(_exc: Exception) -> None:  # the caller reports the failure once
        return None

    nc = await nats.connect(
        servers=urls,
        connect_timeout=timeout_s,
        max_reconnect_attempts=1,
        allow_reconnect=False,
        inbox_prefix=inbox_prefix(credentials),
        user=credentials.user if credentials is not None else None,
        password=credentials.password if credentials is not None else None,
        error_cb=quiet,
        **nats_tls_options(urls),
    )
    try:
        return await list_dead_letters(nc.jetstream(timeout=timeout_s), limit)
    finally:
        await nc.close()


def _when(at_ms: int) -> str:
    if not at_ms:
        return "-"
    return datetime.fromtimestamp(at_ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")


def render(letters: list[DeadLetter]) -> str:
    if not letters:
        return "no dead letters"
    lines = [
        f"{'#':>5}  {'site':<6} {'reason':<7} {'seq':>8} {'tries':>5}  {'when (UTC)':<19}  error"
    ]
    for d in letters:
        lines.append(
            f"{d.stream_seq:>5}  {d.site:<6} {d.reason:<7} {d.event_seq or '-':>8} "
            f"{d.deliveries:>5}  {_when(d.at_ms):<19}  {d.error}"
        )
    return "\n".join(lines)


@click.group()
def events() -> None:
    """Site events on their way to the hub."""


@events.command("dead-letters")
@click.option(
    "--nats",
    "nats_urls",
    envvar="VCC_NATS",
    default="",
    help="NATS server URL(s), comma separated (default: the running province's, "
    "else nats://127.0.0.1:4222).",
)
@workdir_option
@click.option(
    "--limit",
    default=100,
    show_default=True,
    type=click.IntRange(1, 100_000),
    help="How many of the newest to list.",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON array (with the bytes in base64).")
def dead_letters_cmd(nats_urls: str, workdir: Path, limit: int, as_json: bool) -> None:
    """List the site events the hub moved to the dead letters."""
    urls = target.nats_urls(nats_urls, workdir)
    operator = target.operator(workdir)
    try:
        letters = asyncio.run(fetch_dead_letters(urls, limit, credentials=operator[0]))
    except Exception as exc:
        raise Unreachable(f"cannot read the dead letters from {','.join(urls)}: {exc!r}") from exc
    if as_json:
        click.echo(json.dumps([d.jsonable() for d in letters], ensure_ascii=False, indent=2))
    else:
        click.echo(render(letters))
