"""Checks of the compose file's trust settings (``vcc compose check``).

* a ``secrets-init`` job (``vcc compose secrets``) makes the secrets, and every vcc
  process, NATS, etcd and CockroachDB node waits for it; each of them mounts only its own
  folder of the ``secrets`` volume (a ``subpath``);
* every container runs as a non-root ``user`` (the vcc image's ``USER`` otherwise),
  except a one-off job that only hands volumes to that user (``chown``);
* gRPC is mutual TLS: no vcc process has ``VCC_INSECURE`` or ``--insecure``, each has
  ``VCC_TLS_DIR``; hubs and sites have their NATS and etcd user (``VCC_ENV_FILE``);
* CockroachDB: no ``--insecure`` anywhere, nodes with ``--certs-dir``; every database
  URL names its own SQL user (never ``root``) with ``sslmode=verify-full`` and client
  certificates, and the init job creates that user and grants it that database;
* NATS includes the users file; etcd members use signed tokens and an ``etcd-auth`` job
  creates the users, which every vcc process waits for;
* NATS and etcd serve only TLS: every vcc process dials ``tls://`` NATS URLs and
  ``https://`` etcd endpoints; NATS has a ``tls`` block with ``handshake_first`` and TLS
  routes; etcd members have ``--cert-file``, https client and peer URLs and mutual-TLS
  peers;
* only the edge, Grafana and the consoles (a hub's province console, a site's agent
  desk, on their HTTPS port) publish ports on the host.
"""

from __future__ import annotations

import re
from typing import Any

from vcc_ops.compose_model import Compose, Service, as_argv, published

PUBLISHED_OK = {"edge", "grafana"}  # the callers' way in, and the console
ROOT_USERS = {"", "0", "root"}
ONLY_CHOWN = re.compile(r"^(chown|mkdir|chmod)\b")
CREATE_USER = re.compile(r"CREATE\s+USER\s+(?:IF\s+NOT\s+EXISTS\s+)?(\w+)", re.I)
GRANT = re.compile(r"GRANT\s+ALL\s+ON\s+DATABASE\s+(\w+)\s+TO\s+([\w\s,]+?);", re.I)


def _job_of(c: Compose, command: str) -> Service | None:
    for svc in c.of_kind("vcc-job"):
        if svc.argv[1:3] == ["compose", command]:
            return svc
    return None


def _waits_for(svc: Service, job: str) -> bool:
    deps = svc.spec.get("depends_on") or {}
    return (
        isinstance(deps, dict)
        and (deps.get(job) or {}).get("condition") == "service_completed_successfully"
    )


def _subpaths(svc: Service) -> list[str]:
    out = []
    for vol in svc.spec.get("volumes") or []:
        if isinstance(vol, dict) and vol.get("source") == "secrets":
            out.append(str((vol.get("volume") or {}).get("subpath", "")))
        elif isinstance(vol, str) and vol.split(":")[0] == "secrets":
            out.append("")
    return out


def check_secrets(c: Compose) -> None:
    job = _job_of(c, "secrets")
    if job is None:
        c.problem("secrets", "no `vcc compose secrets` job makes the initial secrets")
        return
    for svc in c.services.values():
        if svc is job:
            continue
        mounts = _subpaths(svc)
        if "" in mounts:
            c.problem(svc.name, "mounts the whole secrets volume; mount its own folder (subpath)")
        if svc.kind in ("vcc", "nats", "etcd", "crdb", "crdb-job") and not _waits_for(
            svc, job.name
        ):
            c.problem(svc.name, f"does not wait for {job.name} (service_completed_successfully)")


def check_users(c: Compose) -> None:
    image_user = c.dockerfile.user if c.dockerfile is not None else ""
    for svc in c.services.values():
        user = str(svc.spec.get("user", image_user if "build" in svc.spec else ""))
        if user.split(":")[0] not in ROOT_USERS:
            continue
        script = [" ".join(as_argv(svc.spec.get("command")))]
        one_off = str(svc.spec.get("restart", "no")) == "no"
        if one_off and all(ONLY_CHOWN.match(line.strip()) for line in script if line.strip()):
            continue
        c.problem(svc.name, f"runs as root (user {user or 'of the image'}); give it a user")


def check_vcc_tls(c: Compose) -> None:
    etcd_auth = _job_of(c, "etcd-auth")
    if etcd_auth is None:
        c.problem("etcd", "no `vcc compose etcd-auth` job creates etcd's users")
    for svc in c.of_kind("vcc"):
        if "--insecure" in svc.argv or svc.env.get("VCC_INSECURE", "") not in ("", "0"):
            c.problem(svc.name, "serves plaintext gRPC (VCC_INSECURE / --insecure)")
        if not svc.env.get("VCC_TLS_DIR"):
            c.problem(svc.name, "has no VCC_TLS_DIR: it cannot serve mutual TLS")
        if not svc.env.get("VCC_ENV_FILE"):
            c.problem(svc.name, "has no VCC_ENV_FILE: no NATS and etcd user")
        if etcd_auth is not None and not _waits_for(svc, etcd_auth.name):
            c.problem(svc.name, f"does not wait for {etcd_auth.name}")
    for svc in c.of_kind("etcd"):
        if not any(a.startswith("--auth-token=jwt") for a in svc.argv):
            c.problem(svc.name, "etcd without signed tokens (--auth-token=jwt,...)")


ETCD_TLS_FLAGS = ("--cert-file=", "--key-file=", "--peer-cert-file=", "--peer-trusted-ca-file=")
ETCD_HTTPS_URLS = ("--listen-client-urls=", "--advertise-client-urls=", "--listen-peer-urls=")


def check_broker_tls(c: Compose) -> None:
    """NATS and etcd serve, and every vcc process dials them, only over TLS."""
    for svc in c.of_kind("vcc"):
        nats = [u for u in svc.env.get("VCC_NATS", "").split(",") if u]
        if any(not u.startswith("tls://") for u in nats):
            c.problem(svc.name, "VCC_NATS names a plaintext NATS URL (not tls://)")
        etcd = [u for u in svc.env.get("VCC_ETCD", "").split(",") if u]
        if any(not u.startswith("https://") for u in etcd):
            c.problem(svc.name, "VCC_ETCD names a plaintext etcd endpoint (not https://)")
    for svc in c.of_kind("etcd"):
        for flag in ETCD_TLS_FLAGS:
            if not any(a.startswith(flag) for a in svc.argv):
                c.problem(svc.name, f"etcd without {flag.rstrip('=')}: not TLS")
        for flag in ETCD_HTTPS_URLS:
            urls = [a.removeprefix(flag) for a in svc.argv if a.startswith(flag)]
            if any(not u.startswith("https://") for url in urls for u in url.split(",")):
                c.problem(svc.name, f"{flag.rstrip('=')} is not https://")
        if "--peer-client-cert-auth" not in svc.argv:
            c.problem(svc.name, "etcd peers without mutual TLS (--peer-client-cert-auth)")


def check_nats_users(c: Compose) -> None:
    from vcc_ops.compose_infra import NatsConf

    for svc in c.of_kind("nats"):
        path = c.mounted_file(svc, "/etc/nats/nats.conf")
        if path is None or not path.is_file():
            continue  # reported by the NATS checks
        conf: dict[str, Any] = NatsConf.parse(path.read_text(encoding="utf-8"))
        if "include" not in conf and "authorization" not in conf:
            c.problem(svc.name, "its NATS configuration has no users (authorization / include)")
        tls = conf.get("tls")
        if not isinstance(tls, dict) or not tls.get("cert_file"):
            c.problem(svc.name, "NATS serves plaintext clients (no `tls { cert_file ... }`)")
        elif tls.get("handshake_first") is not True:
            c.problem(svc.name, "NATS tls without handshake_first: a plaintext INFO goes first")
        cluster = conf.get("cluster")
        if isinstance(cluster, dict) and not isinstance(cluster.get("tls"), dict):
            c.problem(svc.name, "NATS cluster routes are plaintext (no `tls` in `cluster`)")


def check_crdb_tls(c: Compose, urls: dict[str, str]) -> None:
    """``urls``: each vcc process's database URL by service name."""
    for svc in [*c.of_kind("crdb"), *c.of_kind("crdb-job")]:
        text = " ".join(svc.argv)
        if "--insecure" in text:
            c.problem(svc.name, "CockroachDB runs --insecure")
        if svc.kind == "crdb" and not any(a.startswith("--certs-dir") for a in svc.argv):
            c.problem(svc.name, "CockroachDB node without --certs-dir")
    script = "\n".join(" ".join(j.argv) for j in c.of_kind("crdb-job"))
    users = {u.lower() for u in CREATE_USER.findall(script)}
    grants = {
        (db.lower(), u.strip().lower()) for db, who in GRANT.findall(script) for u in who.split(",")
    }
    for name, url in urls.items():
        _check_url(c, name, url, users, grants)


def _check_url(
    c: Compose, name: str, url: str, users: set[str], grants: set[tuple[str, str]]
) -> None:
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    query = {k: v if isinstance(v, str) else v[0] for k, v in parsed.query.items()}
    user = (parsed.username or "").lower()
    if user in ("", "root"):
        c.problem(name, "connects to CockroachDB as root; give the node its own SQL user")
    elif user not in users or (str(parsed.database).lower(), user) not in grants:
        c.problem(name, f"SQL user {user} is not created and granted {parsed.database}")
    if query.get("sslmode") != "verify-full":
        c.problem(name, "database URL without sslmode=verify-full")
    for key in ("sslrootcert", "sslcert", "sslkey"):
        if not query.get(key):
            c.problem(name, f"database URL without {key}")


def check_ports_public(c: Compose) -> None:
    for svc in c.services.values():
        if not svc.spec.get("ports") or svc.name in PUBLISHED_OK:
            continue
        console = svc.listens.get("console")
        targets = {t for _ip, _host, t, _proto in published(svc.spec)}
        if svc.kind != "vcc" or console is None or targets != {console}:
            c.problem(
                svc.name,
                "publishes a port on the host that is not its console; only the edge, the "
                "consoles (province console, agent desk) and grafana are published",
            )
