"""``vcc campaign run``: a paced outbound notice campaign at one site."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import click

from vcc_ops.target import workdir_option


@click.group("campaign")
def campaign() -> None:
    """Outbound notice campaigns (bill notices, arrears reminders, outage notices)."""


@campaign.command("run")
@click.option("--site", "site", required=True, help="The site's gRPC endpoint host:port.")
@click.option("--campaign", "campaign_id", required=True, help="Campaign ID.")
@click.option(
    "--kind", type=click.Choice(["bill_notice", "arrears_reminder", "outage_notice"]), required=True
)
@click.option(
    "--file",
    "csv_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    required=True,
    help="CSV with customer_id, phone and optional tier, notice.",
)
@click.option(
    "--ratio",
    type=float,
    default=1.0,
    show_default=True,
    help="Calls in flight per ready agent with the outbound skill.",
)
@click.option(
    "--answer-rate",
    type=float,
    default=0.7,
    show_default=True,
    help="The simulated network's share of customers who pick up (no switch attached).",
)
@click.option(
    "--recorded", is_flag=True, help="Deliver the notice by a recorded message instead of an agent."
)
@click.option(
    "--patience",
    type=float,
    default=30.0,
    show_default=True,
    help="Seconds a customer who picked up waits for an agent.",
)
@click.option(
    "--give-up-after",
    type=float,
    default=None,
    help="Stop after this many seconds with nothing to dial (no agent ready).",
)
@click.option("--seed", type=int, default=1, show_default=True)
@workdir_option
def run(
    site: str,
    campaign_id: str,
    kind: str,
    csv_file: Path,
    ratio: float,
    answer_rate: float,
    recorded: bool,
    patience: float,
    give_up_after: float | None,
    seed: int,
    workdir: Path,
) -> None:
    """Load the list at the site and call it, paced by the ready outbound agents (who
    take the calls the customers pick up at their desks); prints the figures and the
    customers returned to the billing center."""
    from vcc_ops.outbound import SimulatedDialer, run_campaign
    from vcc_ops.progress import working

    dialer = SimulatedDialer(answer_rate, seed=seed, recorded=recorded)
    with working(f"campaign {campaign_id} at {site}"):
        result = asyncio.run(
            run_campaign(
                site,
                campaign_id,
                kind,
                csv_file.read_text("utf-8"),
                ratio=ratio,
                dialer=dialer,
                patience_s=patience,
                give_up_s=give_up_after,
            )
        )
    click.echo(json.dumps(result, indent=1, ensure_ascii=False))
