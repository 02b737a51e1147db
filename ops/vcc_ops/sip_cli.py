"""``vcc sip-edge`` and ``vcc sip-agent``: the SIP access of the province (README, "SIP
edge").

::

    vcc sip-edge --etcd 127.0.0.1:2379 --site-sip KM=127.0.0.1:5071 --trunk 127.0.0.1:5090
    vcc sip-agent --site-grpc 127.0.0.1:50051 --port 5071 --edge 127.0.0.1:5060 \\
        --phones phones.txt
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from vcc_proto.observability import configure_logging

if TYPE_CHECKING:
    from vcc_proto.tls import ClientTls

log = logging.getLogger(__name__)

INSECURE_WARNING = (
    "%s calls gRPC in PLAINTEXT (--insecure): no certificate, so a checked site refuses it"
)


def _tls_options(fn: Any) -> Any:
    fn = click.option(
        "--insecure",
        is_flag=True,
        envvar="VCC_INSECURE",
        help="Plaintext gRPC, no certificate (a warning at start); only without --tls-dir.",
    )(fn)
    return click.option(
        "--tls-dir",
        type=click.Path(file_okay=False, path_type=Path),
        envvar="VCC_TLS_DIR",
        default=None,
        help="This process's certificate directory (an `edge` identity: `vcc pki issue "
        "--kind edge`); its gRPC calls and etcd over TLS present it.",
    )(fn)


def own_tls(tls_dir: Path | None, insecure: bool, what: str, kind: str) -> ClientTls | None:
    """The process's client credentials (a certificate of ``kind``), installed for every
    channel it opens and its etcd; None with ``--insecure`` (warned). Neither given, both
    given or a certificate of another kind is a usage error."""
    from vcc_proto.channels import use_client_tls

    if tls_dir is not None and insecure:
        raise click.UsageError("give --tls-dir or --insecure, not both")
    if insecure:
        log.warning(INSECURE_WARNING, what)
        use_client_tls(None)
        return None
    if tls_dir is None:
        raise click.UsageError(
            f"{what} has no certificate: give --tls-dir (VCC_TLS_DIR) the directory "
            f"`vcc pki issue --kind {kind}` made, or --insecure for plaintext gRPC"
        )
    tls = _checked(tls_dir, kind, "--tls-dir")
    use_client_tls(tls)
    return tls


def _checked(tls_dir: Path, kind: str, flag: str) -> ClientTls:
    from vcc_proto.tls import ClientTls

    try:
        tls = ClientTls(tls_dir)
    except (OSError, ValueError) as exc:
        raise click.BadParameter(f"{tls_dir}: {exc}", param_hint=flag) from exc
    if tls.identity.kind != kind:
        raise click.BadParameter(
            f"{tls_dir} holds the certificate of {tls.identity}, not of an {kind!r} identity",
            param_hint=flag,
        )
    return tls


def _host_port(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise click.BadParameter(f"expected host:port, got {text!r}")
    return host, int(port)


@click.command("sip-edge")
@click.option("--province", "province_file", type=click.Path(path_type=Path), default=None)
@click.option("--etcd", required=True, help="etcd endpoints, comma separated.")
@click.option("--site-sip", required=True, help="SITE=host:port of each site's SIP agent.")
@click.option("--trunk", "trunks", multiple=True, required=True, help="host:port of a trunk.")
@click.option("--sip-port", type=int, default=None, help="Kamailio's port (default: a free one).")
@click.option("--trunk-capacity", type=int, default=780, show_default=True)
@click.option("--site-timeout-ms", type=int, default=1500, show_default=True)
@click.option(
    "--workdir", type=click.Path(file_okay=False, path_type=Path), default=Path(".vcc/sip")
)
@click.option("--log-file", type=click.Path(path_type=Path), default=None)
@_tls_options
def sip_edge(
    province_file: Path | None,
    etcd: str,
    site_sip: str,
    trunks: tuple[str, ...],
    sip_port: int | None,
    trunk_capacity: int,
    site_timeout_ms: int,
    workdir: Path,
    log_file: Path | None,
    tls_dir: Path | None,
    insecure: bool,
) -> None:
    """Run the province's SIP edge (Kamailio) in the foreground."""
    from vcc_domain.province import load_province_file
    from vcc_ops.cli import example_province_path
    from vcc_ops.sip_edge import SipEdgeSettings, parse_pairs, run_sip_edge

    configure_logging(log_file=log_file)
    own_tls(tls_dir, insecure, "the SIP edge", "edge")  # the routing map's etcd over TLS
    workdir.mkdir(parents=True, exist_ok=True)
    for trunk in trunks:
        _host_port(trunk)
    try:
        sites = parse_pairs(site_sip)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--site-sip") from exc
    settings = SipEdgeSettings(
        workdir=workdir,
        etcd=[e for e in etcd.split(",") if e],
        site_sip=sites,
        trunks=list(trunks),
        sip_port=sip_port,
        trunk_capacity=trunk_capacity,
        site_timeout_ms=site_timeout_ms,
    )
    province = load_province_file(province_file or example_province_path())
    asyncio.run(run_sip_edge(settings, province))


@click.command("sip-agent")
@click.option("--site-grpc", required=True, help="The site's gRPC endpoint host:port.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Our SIP address.")
@click.option("--port", type=int, required=True, help="Our SIP port (UDP).")
@click.option("--edge", required=True, help="The province's SIP edge host:port.")
@click.option(
    "--phones",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="File of 'agent_id password' lines: the agents whose SIP phones this agent rings.",
)
@click.option("--ready-file", type=click.Path(path_type=Path), default=None)
@click.option("--log-file", type=click.Path(path_type=Path), default=None)
@click.option("--etcd", default="", help="etcd endpoints (to follow a call transferred away).")
@click.option(
    "--rtpengine",
    default="",
    help="rtpengine's NG control host:port: anchor callers' media there, record answered calls.",
)
@_tls_options
@click.option(
    "--desk-tls-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="The certificate (an `ops` identity) the phones' agent desk sessions present, "
    "as the web desk's gateway does; needed with --phones and --tls-dir.",
)
def sip_agent(
    site_grpc: str,
    host: str,
    port: int,
    edge: str,
    phones: Path | None,
    ready_file: Path | None,
    log_file: Path | None,
    etcd: str,
    rtpengine: str,
    tls_dir: Path | None,
    insecure: bool,
    desk_tls_dir: Path | None,
) -> None:
    """Run a site's SIP agent in the foreground: SIP calls become the site's calls."""
    from vcc_site.sip.app import SipAgentSettings, run_sip_agent

    configure_logging(log_file=log_file)
    # the caller's side (Access) as the site's access edge, whose caller numbers it trusts
    tls = own_tls(tls_dir, insecure, "the SIP agent", "edge")
    desk_tls = None
    if desk_tls_dir is not None:
        desk_tls = _checked(desk_tls_dir, "ops", "--desk-tls-dir")
    elif tls is not None and phones is not None:
        raise click.UsageError("--phones over TLS needs --desk-tls-dir (an ops certificate)")
    run_sip_agent(
        SipAgentSettings(
            site_target=site_grpc,
            host=host,
            port=port,
            edge=_host_port(edge),
            phones_file=phones,
            ready_file=ready_file,
            etcd=tuple(e for e in etcd.split(",") if e),
            rtpengine=_host_port(rtpengine) if rtpengine else None,
            desk_tls=desk_tls,
        )
    )
