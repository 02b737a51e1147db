"""``vcc compose check [FILE]``: validate ``docker-compose.multisite.yml`` without Docker.

No Docker engine runs where the project is built, so the compose file is checked
statically, from the parsed YAML and the project's own code:

* it parses; every image is built from ``ops/docker/Dockerfile`` or is a pinned public
  image (NATS, etcd, CockroachDB, Prometheus, the NATS exporter) with a version tag;
* every ``vcc`` command and option exists (the click commands of ``vcc_ops.cli``), and
  every ``VCC_*`` variable is one the process reads;
* every address a process is given (NATS URLs, etcd endpoints, database URLs, the
  advertised gRPC address) names a service of the file and a port it listens on;
* NATS: 3 nodes, JetStream with file storage and ``sync_interval: always``, 3 routes,
  streams with as many replicas as nodes; etcd: 3 members agreeing on
  ``--initial-cluster``; CockroachDB: 3 nodes, one city locality each, agreeing
  ``--join``, an init job creating exactly the databases the URLs name;
* Prometheus scrapes every process on the port it serves metrics on and loads rule files
  mounted from the project; Grafana's datasource is that Prometheus and its dashboards
  are mounted (``compose_monitoring``); both hubs and every site of the province file
  run; host port mappings do not collide;
* trust (``compose_security``): secrets made by an init job, each container reading only
  its own; non-root containers; mutual TLS and per-node NATS/etcd users for every vcc
  process; CockroachDB with TLS and one SQL user per node; only the edge and Grafana
  published on the host.

:func:`check_compose` returns every problem found, each naming the service.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

import click

from vcc_ops import (
    compose_infra,
    compose_model,
    compose_monitoring,
    compose_security,
    compose_vcc,
)
from vcc_ops.exits import BadInput

DEFAULT_FILE = "docker-compose.multisite.yml"


@dataclass
class ComposeReport:
    path: Path
    problems: list[str]
    summary: dict[str, list[str]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems


def check_compose(
    path: Path, project_dir: Path | None = None, cli: click.Group | None = None
) -> ComposeReport:
    """Check a compose file; relative paths in it are read from ``project_dir`` (default:
    the file's folder, as Compose does)."""
    if cli is None:
        from vcc_ops.cli import main

        cli = main
    c = compose_model.load(path, project_dir)
    if not c.services:
        return ComposeReport(path, c.problems)
    try:
        return _check(c, path, cli)
    except (ValueError, TypeError, KeyError, AttributeError, IndexError) as exc:
        c.problem(path.name, f"malformed beyond what the checker can read: {exc!r}")
        return ComposeReport(path, c.problems)


def _check(c: compose_model.Compose, path: Path, cli: click.Group) -> ComposeReport:
    compose_model.check_images(c)
    compose_model.check_references(c)
    compose_model.check_network(c)
    compose_infra.check_nats(c)
    compose_infra.check_nats_exporters(c)
    compose_infra.check_etcd(c)
    code_env = compose_vcc.settings_env()
    procs = [
        p
        for svc in c.of_kind("vcc")
        if (p := compose_vcc.resolve_process(c, svc, cli, code_env)) is not None
    ]
    province = compose_vcc.province_file(c, procs)
    site_ids: list[str] | None = None  # unknown after a province problem: not checked
    if province is not None:
        from vcc_domain.province import load_province_file

        site_ids = [s.id for s in load_province_file(province).sites]
    databases = compose_infra.check_crdb(c, None if site_ids is None else set(site_ids))
    compose_vcc.check_processes(c, procs, site_ids, databases)
    compose_infra.check_prometheus(c)
    compose_monitoring.check_grafana(c)
    compose_model.check_ports(c)
    compose_security.check_secrets(c)
    compose_security.check_users(c)
    compose_security.check_vcc_tls(c)
    compose_security.check_nats_users(c)
    compose_security.check_broker_tls(c)
    urls = {p.svc.name: str(p.settings.get("db")) for p in procs if p.settings.get("db")}
    compose_security.check_crdb_tls(c, urls)
    compose_security.check_ports_public(c)
    summary = {
        "hubs": sorted(p.svc.name for p in procs if p.command == "hub"),
        "sites": [str(p.settings.get("site_id")) for p in procs if p.command == "site"],
        "province_sites": site_ids or [],
        "nats": [s.name for s in c.of_kind("nats")],
        "etcd": [s.name for s in c.of_kind("etcd")],
        "cockroachdb": [s.name for s in c.of_kind("crdb")],
        "databases": sorted(databases),
    }
    return ComposeReport(path, c.problems, summary)


@click.group()
def compose() -> None:
    """Validate the multi-site compose file (no Docker needed)."""


@compose.command("check")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path), default=DEFAULT_FILE)
@click.option(
    "--project-directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where relative paths in the file are read from. Default: the file's folder.",
)
def compose_check(path: Path, project_directory: Path | None) -> None:
    """Check FILE (default: docker-compose.multisite.yml) against the project's code."""
    if not path.is_file():
        raise BadInput(f"{path}: no such file")
    report = check_compose(path, project_directory)
    if report.problems:
        for problem in report.problems:
            click.echo(f"{path}: {problem}", err=True)
        click.echo(f"{path}: {len(report.problems)} problem(s)", err=True)
        sys.exit(1)
    s = report.summary
    click.echo(
        f"{path}: OK: {len(s['hubs'])} hubs, sites {', '.join(s['sites'])}, "
        f"{len(s['nats'])} NATS, {len(s['etcd'])} etcd, {len(s['cockroachdb'])} CockroachDB "
        f"nodes, databases {', '.join(s['databases'])}"
    )


def _add_secret_jobs() -> None:
    from vcc_ops.compose_secrets import compose_etcd_auth, compose_secrets

    compose.add_command(compose_secrets)
    compose.add_command(compose_etcd_auth)


_add_secret_jobs()
