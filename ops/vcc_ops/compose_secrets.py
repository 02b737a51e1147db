"""The initial secrets of the compose province, made by its init jobs (not by hand).

``vcc compose secrets --dir /secrets`` (the ``secrets-init`` job, run once: a folder that
has them keeps them) writes one sub-folder per container, each mounted only into that
container (a volume ``subpath``), so no node reads another's secrets:

* ``<node>/tls``: the node's certificate of the province PKI (``vcc pki``: hubs, sites,
  the edge; ``ops/tls`` the operator's), served and presented with mutual TLS, and the
  HTTPS certificate of its pages; ``<node>/web-grpc``: the operator identity its pages
  (the hub's province console, a site's agent desk) present to its gRPC port;
* ``<node>/crdb``: the CockroachDB CA and the node's SQL client certificate (user
  ``hub_1``, ``site_km``, :func:`sql_user`); ``crdb-N/crdb`` a database node's
  certificate, ``crdb-init/crdb`` the ``root`` client of the init job;
* ``<node>/vcc.env``: the node's NATS and etcd user and password (``VCC_ENV_FILE``) and
  its TLS folder; ``nats/users.conf``: nats-server's users and rights
  (:class:`~vcc_ops.infra.access.ProvinceAccess`); ``etcd/``: the token keys of etcd and
  the users ``vcc compose etcd-auth`` creates once etcd runs;
* ``<node>/initial-secrets/<SITE>.json`` (and the hubs' ``hub.json``): the argon2id
  hashes of the people's initial secrets; the secrets themselves in
  ``ops/initial-secrets.tsv`` for the operator (everything mode 0600).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import shutil
from collections.abc import Sequence
from pathlib import Path

import click
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from vcc_domain.province import load_province_file
from vcc_ops.infra.access import NodeUser, ProvinceAccess
from vcc_ops.people_secrets import provision
from vcc_proto import pki
from vcc_proto.tls import ClientTls

HUBS = ("hub-1", "hub-2")
EDGE = "edge-1"
CRDB_NODES = ("crdb-1", "crdb-2", "crdb-3")
NATS_HOSTS = ("nats-1", "nats-2", "nats-3")
ETCD_HOSTS = ("etcd-1", "etcd-2", "etcd-3")
ETCD_IPS = ("172.28.5.11", "172.28.5.12", "172.28.5.13")  # the compose file's fixed addresses
DONE = ".done"
DAYS = 365


def sql_user(node: str) -> str:
    """The CockroachDB user of a vcc node: ``hub_1``, ``site_km``."""
    return node.replace("-", "_").lower()


def site_service(site_id: str) -> str:
    return f"site-{site_id.lower()}"


def _private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _cert(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: tuple[x509.Name, ec.EllipticCurvePrivateKey] | None,
    dns: Sequence[str] = (),
) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    issuer_name, signer = issuer if issuer is not None else (name, key)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=DAYS * (10 if issuer is None else 1)))
        .add_extension(x509.BasicConstraints(ca=issuer is None, path_length=None), True)
    )
    if dns:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(d) for d in dns]), False
        )
    return builder.sign(signer, hashes.SHA256())


class CrdbCa:
    """The CockroachDB cluster's own CA: node certificates (CN ``node``) and client
    certificates whose CN is the SQL user, in the file names ``cockroach`` expects."""

    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.cert = _cert("vcc cockroachdb CA", self.key, None)

    def _put(self, where: Path, stem: str, cn: str, dns: Sequence[str] = ()) -> None:
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _cert(cn, key, (self.cert.subject, self.key), dns)
        where.mkdir(parents=True, exist_ok=True)
        (where / "ca.crt").write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))
        (where / f"{stem}.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        _private(where / f"{stem}.key", _pem_key(key))

    def node(self, where: Path, host: str) -> None:
        self._put(where, "node", "node", [host, "localhost"])

    def client(self, where: Path, user: str) -> None:
        self._put(where, f"client.{user}", user)


def write_secrets(out: Path, province_file: Path) -> list[str]:
    """Every container's secrets under ``out`` (see the module); the lines to print."""
    province = load_province_file(province_file)
    sites = [s.id for s in province.sites]
    access = ProvinceAccess.generate(HUBS, sites, [EDGE])
    ca_dir = out / "pki-ca"
    pki.init_ca(ca_dir)
    crdb = CrdbCa()
    vcc_nodes = [*HUBS, *(site_service(s) for s in sites), EDGE, "ops"]
    for node in vcc_nodes:
        kind = "hub" if node in HUBS else "edge" if node == EDGE else "ops"
        ident = pki.identity(kind, node if kind != "ops" else "vcc-ops")
        if node.startswith("site-"):
            ident = pki.identity("site", node.removeprefix("site-").upper())
        pki.issue(ca_dir, ident, dns=[node, "localhost"], ips=["127.0.0.1"])
        shutil.copytree(pki.node_dir(ca_dir, ident), out / node / "tls")
        user = node if node in HUBS or node in (EDGE, "ops") else f"site-{ident.id}"
        env = access.env_for(user)  # the TLS folder is in the compose file
        _private(out / node / "vcc.env", "".join(f"{k}={v}\n" for k, v in env.items()).encode())
        if node not in (EDGE, "ops"):
            crdb.client(out / node / "crdb", sql_user(node))
            # the node's console or agent desk pages call its own gRPC port as an operator
            web = pki.identity("ops", f"web-{node}")
            pki.issue(ca_dir, web)
            shutil.copytree(pki.node_dir(ca_dir, web), out / node / "web-grpc")
    for host in CRDB_NODES:
        crdb.node(out / host / "crdb", host)
    crdb.client(out / "crdb-init" / "crdb", "root")
    _private(out / "nats" / "users.conf", access.nats_authorization().encode())
    _broker_certificates(ca_dir, out)
    (out / "etcd").mkdir(parents=True, exist_ok=True)
    token = ProvinceAccess.etcd_token_option(out / "etcd")
    (out / "etcd" / "auth-token").write_text(token + "\n")
    _private(out / "etcd" / "access.json", _access_json(access))
    lines = provision(province, sites, out / "initial", out / "ops")
    for node in HUBS:
        _copy_hashes(out / "initial", out / node, "hub")
    for site in sites:
        _copy_hashes(out / "initial", out / site_service(site), site)
    (out / DONE).write_text("ok\n")
    return lines


def _broker_certificates(ca_dir: Path, out: Path) -> None:
    """NATS and etcd serve only TLS: one ``infra`` certificate each, naming every server of
    its cluster (their routes and peers are mutual TLS); the etcd-auth job's client."""
    nats = pki.identity("infra", "nats")
    pki.issue(ca_dir, nats, dns=[*NATS_HOSTS, "localhost"])
    shutil.copytree(pki.node_dir(ca_dir, nats), out / "nats" / "tls")
    etcd = pki.identity("infra", "etcd")
    pki.issue(ca_dir, etcd, dns=[*ETCD_HOSTS, "localhost"], ips=[*ETCD_IPS, "127.0.0.1"])
    shutil.copytree(pki.node_dir(ca_dir, etcd), out / "etcd" / "tls")
    job = pki.identity("ops", "etcd-auth")
    pki.issue(ca_dir, job)
    shutil.copytree(pki.node_dir(ca_dir, job), out / "etcd" / "client")


def _copy_hashes(initial: Path, node: Path, name: str) -> None:
    source = initial / "initial-secrets" / f"{name}.json"
    if source.is_file():
        target = node / "initial-secrets" / source.name
        _private(target, source.read_bytes())


def _access_json(access: ProvinceAccess) -> bytes:
    users = [
        {"name": u.name, "kind": u.kind, "password": u.password, "site": u.site}
        for u in access.users.values()
    ]
    return json.dumps({"root": access.root.password, "users": users}).encode()


def _read_access(path: Path) -> ProvinceAccess:
    raw = json.loads(path.read_text())
    users = [NodeUser(u["name"], u["kind"], u["password"], u["site"]) for u in raw["users"]]
    return ProvinceAccess(users, raw["root"])


@click.command("secrets")
@click.option("--dir", "out", type=click.Path(file_okay=False, path_type=Path), required=True)
@click.option("--province", "province_file", type=click.Path(path_type=Path), required=True)
def compose_secrets(out: Path, province_file: Path) -> None:
    """Make every container's initial secrets in DIR once (kept when made already)."""
    if (out / DONE).is_file():
        click.echo(f"secrets kept from an earlier start: {out}")
        return
    for line in write_secrets(out, province_file):
        click.echo(line if "\t" not in line else line.split("\t", 1)[0] + "\t...")


@click.command("etcd-auth")
@click.option("--dir", "out", type=click.Path(file_okay=False, path_type=Path), required=True)
@click.option("--etcd", "endpoints", required=True, help="comma-separated etcd endpoints")
@click.option(
    "--tls-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="the certificate folder whose CA checks https:// endpoints",
)
def compose_etcd_auth(out: Path, endpoints: str, tls_dir: Path | None) -> None:
    """Create etcd's users and roles from DIR/etcd/access.json and turn auth on (once)."""
    access = _read_access(out / "etcd" / "access.json")
    tls = ClientTls(tls_dir) if tls_dir is not None else None

    async def run() -> None:
        for _ in range(60):
            try:
                await access.secure_etcd(endpoints.split(","), tls)
                return
            except Exception as exc:  # etcd still starting
                click.echo(f"etcd not ready: {type(exc).__name__}", err=True)
                await asyncio.sleep(2)
        raise click.ClickException("etcd did not answer")

    asyncio.run(run())
    click.echo("etcd: users, roles and authentication on")
