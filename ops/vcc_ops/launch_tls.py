"""The certificates of a locally launched province (``vcc up``, ``vcc demo``, the drills).

The launcher keeps a province PKI in ``<workdir>/pki`` (made by :mod:`vcc_proto.pki`, as
``vcc pki`` does): the CA on the first start, then one certificate per process (each hub
by its node ID, each site by its site ID, the edge) and one for the operator tool
(``ops/vcc-ops``), which the launcher's own calls and the client commands that find the
province through its state file (``vcc status``, ``vcc directory``, ``vcc report`` ...)
present, and one for each of NATS and etcd (``infra/nats``, ``infra/etcd``), which then
serve only TLS (``tls://`` and ``https://`` addresses, checked against the CA). Certificates name ``127.0.0.1``, ``localhost`` and the drills' proxy address,
where the processes reach each other. A later start in the same workdir reuses them (one
close to expiry is rotated).

``insecure``: none of this; every process is told ``--insecure`` and warns at start, and
NATS and etcd are plaintext.
"""

from __future__ import annotations

import logging
import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from vcc_ops.drills.proxy import PROXY_HOST
from vcc_ops.infra.stack import InfraTls
from vcc_proto import pki
from vcc_proto.tls import ClientTls

log = logging.getLogger(__name__)

PKI_DIR = "pki"
OPS_ID = "vcc-ops"
TRUNK_ID = "traffic"
LOCAL_DNS = ("localhost",)
LOCAL_IPS = ("127.0.0.1", PROXY_HOST)
RENEW_DAYS = 7.0  # a kept certificate expiring sooner than this is replaced
CHILD_VARIABLES = ("VCC_TLS_DIR", "VCC_INSECURE")  # given to each process as flags
INSECURE_HELP = (
    "Run every process in plaintext gRPC: no certificates, no authorization (a warning at "
    "every start). Default: mutual TLS with a province PKI kept in the workdir."
)
INSECURE_WARNING = (
    "--insecure: every process serves and calls gRPC in PLAINTEXT, with no identities and "
    "no authorization; anyone who reaches a port may call every RPC"
)


def identity_of_process(kind: str, name: str, site_id: str | None) -> pki.Identity:
    """Who a launched process is: a site by its site ID, a hub or the edge by its name."""
    return pki.identity(kind, site_id if kind == "site" and site_id else name)


class LaunchTls:
    """The launcher's PKI directory; certificates are made on first use."""

    def __init__(self, workdir: Path) -> None:
        self.directory = workdir / PKI_DIR

    def prepare(self, province_name: str) -> ClientTls:
        """The CA (made if missing) and the operator tool's client credentials."""
        if not (self.directory / pki.CA_CERT).exists():
            pki.init_ca(self.directory, name=province_name)
            log.info("province CA created in %s", self.directory)
        return ClientTls(self.certificate(pki.identity("ops", OPS_ID)))

    def certificate(self, who: pki.Identity) -> Path:
        """The node directory of ``who``, issued (or renewed) as needed."""
        where = pki.node_dir(self.directory, who)
        if not (where / pki.NODE_CERT).exists():
            pki.issue(self.directory, who, dns=LOCAL_DNS, ips=LOCAL_IPS)
        elif _days_left(where / pki.NODE_CERT) < RENEW_DAYS:
            pki.rotate(self.directory, who, dns=LOCAL_DNS, ips=LOCAL_IPS)
        return where

    def trunk(self) -> ClientTls:
        """The credentials of the telephony side (``trunk/traffic``): the demo's callers and
        the load generators hand calls to the edge with them, as a SIP trunk would."""
        return ClientTls(self.certificate(pki.identity("trunk", TRUNK_ID)))

    def infra(self) -> InfraTls:
        """The certificates NATS (``infra/nats``) and etcd (``infra/etcd``) serve TLS with."""
        return InfraTls(
            nats=self.certificate(pki.identity("infra", "nats")),
            etcd=self.certificate(pki.identity("infra", "etcd")),
        )

    def process_args(self, kind: str, name: str, site_id: str | None) -> list[str]:
        """The flags that give a launched process its certificate."""
        return ["--tls-dir", str(self.certificate(identity_of_process(kind, name, site_id)))]

    def record(self) -> dict[str, str]:
        """What the state file keeps: the PKI, the CA and the operator tool's directory."""
        ops = pki.node_dir(self.directory, pki.identity("ops", OPS_ID))
        return {
            "pki": str(self.directory),
            "ca": str(self.directory / pki.CA_CERT),
            "ops": str(ops),
            "trunk": str(pki.node_dir(self.directory, pki.identity("trunk", TRUNK_ID))),
        }


def _days_left(cert_path: Path) -> float:
    cert = pki.read_cert(cert_path)
    return pki.CertInfo(cert_path, "", 0, cert.not_valid_after_utc, (), ()).days_left()


def authz_refusals(metrics_endpoints: dict[str, str], timeout_s: float = 5.0) -> dict[str, float]:
    """RPCs the authorization table refused, summed over the given processes' ``/metrics``
    (``name -> host:port``), as ``"process method code" -> count``; a process that does not
    answer is left out. A province whose own calls are refused is misconfigured."""
    found: dict[str, float] = {}
    for name, endpoint in metrics_endpoints.items():
        try:
            with urllib.request.urlopen(f"http://{endpoint}/metrics", timeout=timeout_s) as resp:
                text = resp.read().decode()
        except OSError:
            continue
        for family in text_string_to_metric_families(text):
            if family.name != "vcc_authz_refused":
                continue
            for sample in family.samples:
                if sample.name.endswith("_total") and sample.value:
                    key = f"{name} {sample.labels['method']} {sample.labels['code']}"
                    found[key] = found.get(key, 0.0) + sample.value
    return found
