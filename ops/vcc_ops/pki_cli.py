"""``vcc pki ...``: the province's certificate authority and its node certificates.

::

    vcc pki init  --dir .vcc/pki                      # the province CA (once)
    vcc pki issue --dir .vcc/pki --kind site --id KM --dns km.example --ip 10.0.1.5
    vcc pki rotate --dir .vcc/pki --kind site --id KM # new key and certificate
    vcc pki show  --dir .vcc/pki                      # identities and expiry

A node is then given its directory (``.vcc/pki/site-KM``): its key, its certificate and the
CA certificate. See :mod:`vcc_proto.pki` for the layout and the choices.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from vcc_proto import pki

dir_option = click.option(
    "--dir",
    "directory",
    envvar="VCC_PKI_DIR",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path(".vcc/pki"),
    show_default=True,
    help="The PKI directory (the CA and node folders).",
)


def _node_options(func: Any) -> Any:
    opts = [
        click.option(
            "--kind", required=True, type=click.Choice(pki.KINDS), help="What the node is."
        ),
        click.option(
            "--id",
            "node_id",
            required=True,
            help="The node's ID: a site ID (KM), a hub's node ID, an operator's name.",
        ),
        click.option(
            "--days",
            type=int,
            default=pki.NODE_DAYS,
            show_default=True,
            help="Validity in days (never beyond the CA's).",
        ),
    ]
    for opt in reversed(opts):
        func = opt(func)
    return func


def _san_options(func: Any) -> Any:
    opts = [
        click.option("--dns", multiple=True, help="A DNS name the node is reached by (repeat)."),
        click.option("--ip", multiple=True, help="An IP address the node is reached by (repeat)."),
    ]
    for opt in reversed(opts):
        func = opt(func)
    return func


@click.group("pki")
def pki_group() -> None:
    """The province PKI: a CA and one certificate per node (hub, site, edge, ops)."""


@pki_group.command("init")
@dir_option
@click.option(
    "--name",
    default="vcc province",
    show_default=True,
    help="The CA's organisation name (e.g. the province).",
)
@click.option(
    "--days", type=int, default=pki.CA_DAYS, show_default=True, help="CA validity in days."
)
def pki_init(directory: Path, name: str, days: int) -> None:
    """Create the province CA (its key is readable by its owner only)."""
    cert = pki.init_ca(directory, name=name, days=days)
    click.echo(
        f"CA created in {directory} (expires {cert.not_valid_after_utc:%Y-%m-%d}); "
        f"keep {directory / pki.CA_KEY} secret"
    )


@pki_group.command("issue")
@dir_option
@_node_options
@_san_options
def pki_issue(
    directory: Path, kind: str, node_id: str, days: int, dns: tuple[str, ...], ip: tuple[str, ...]
) -> None:
    """Issue a node's first key and certificate, signed by the CA."""
    who = pki.identity(kind, node_id)
    cert = pki.issue(directory, who, dns=dns, ips=ip, days=days)
    click.echo(
        f"{who.uri}: {pki.node_dir(directory, who)} "
        f"(serial {cert.serial_number:x}, expires {cert.not_valid_after_utc:%Y-%m-%d})"
    )


@pki_group.command("rotate")
@dir_option
@_node_options
@_san_options
def pki_rotate(
    directory: Path, kind: str, node_id: str, days: int, dns: tuple[str, ...], ip: tuple[str, ...]
) -> None:
    """Replace a node's key and certificate; the old pair stays as *.prev. Without --dns and
    --ip the current certificate's names are kept. A running node picks the new one up."""
    who = pki.identity(kind, node_id)
    cert = pki.rotate(directory, who, dns=dns or None, ips=ip or None, days=days)
    click.echo(
        f"{who.uri}: rotated (serial {cert.serial_number:x}, "
        f"expires {cert.not_valid_after_utc:%Y-%m-%d})"
    )


@pki_group.command("show")
@dir_option
@click.option("--json", "as_json", is_flag=True, help="Print a machine-readable list.")
def pki_show(directory: Path, as_json: bool) -> None:
    """List the CA and the node certificates with their expiry."""
    found = pki.inventory(directory)
    if as_json:
        click.echo(
            json.dumps(
                [
                    {
                        "who": c.who,
                        "path": str(c.path),
                        "serial": f"{c.serial:x}",
                        "not_after": c.not_after.isoformat(),
                        "days_left": round(c.days_left(), 1),
                        "dns": list(c.dns),
                        "ip": list(c.ips),
                    }
                    for c in found
                ],
                indent=2,
            )
        )
        return
    for c in found:
        names = ", ".join([*c.dns, *c.ips])
        click.echo(
            f"{c.who:<28} expires {c.not_after:%Y-%m-%d} ({c.days_left():.0f} days)"
            f"  serial {c.serial:x}" + (f"  [{names}]" if names else "")
        )
