"""``vcc campaign run``: a paced outbound notice campaign at one site."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import click


@click.group("campaign")
def campaign() -> None:
    """Outbound notice campaigns (bill notices, arrears reminders, outage notices)."""


@campaign.command("run")
@click.option("--site", "site", required=True, help="The site's gRPC endpoint host:port.")
@click.option("--campaign", "campaign_id", required=True, help="Campaign ID.")
@click.option("--kind", type=click.Choice(["bill_notice", "arrears_reminder", "outage_notice"]),
              required=True)
@click.option("--file", "csv_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              required=True, help="CSV with customer_id, phone and optional tier, notice.")
@click.option("--ratio", type=float, default=1.0, show_default=True,
              help="Calls in flight per ready agent with the outbound skill.")
@click.option("--answer-rate", type=float, default=0.7, show_default=True,
              help="The simulated network's share of answered calls (no switch attached).")
@click.option("--seed", type=int, default=1, show_default=True)
def run(site: str, campaign_id: str, kind: str, csv_file: Path, ratio: float,
        answer_rate: float, seed: int) -> None:
    """Load the list at the site and call it, paced by the ready outbound agents; prints
    the figures and the customers returned to the billing center."""
    from vcc_ops.outbound import SimulatedDialer, run_campaign

    result = asyncio.run(run_campaign(site, campaign_id, kind, csv_file.read_text("utf-8"),
                                      ratio=ratio,
                                      dialer=SimulatedDialer(answer_rate, seed=seed)))
    click.echo(json.dumps(result, indent=1, ensure_ascii=False))
