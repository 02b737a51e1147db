"""The tests' province PKI: one CA per test session, a certificate per identity on first use.

Every hub, site and edge process a test starts gets its own certificate (``--tls-dir``,
:func:`node_args`) and serves mutual TLS with the authorization table on, as in ``vcc
up``. The test process is the operator tool: during every integration test its channels
present the ``ops`` certificate (``tests/integration/conftest.py``), and :func:`client`
gives a test the credentials of whoever it stands in for (a site, a hub) when the real
caller of an RPC is a node. ``vcc`` client commands get the operator's directory in
``VCC_TLS_DIR`` (:func:`ops_env`).

Certificates are EC keys made as they are first asked for, once per session; they name
``127.0.0.1``, ``localhost`` and the drills' proxy address, like the launcher's.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

from vcc_ops.launch_tls import OPS_ID, LaunchTls, identity_of_process
from vcc_proto import pki
from vcc_proto.tls import ClientTls

PROVINCE = "vcc test province"
_state: dict[str, LaunchTls] = {}


def authority() -> LaunchTls:
    """The session's PKI (the CA is made on the first call)."""
    found = _state.get("pki")
    if found is None:
        workdir = Path(tempfile.mkdtemp(prefix="vcc-test-pki-"))
        atexit.register(shutil.rmtree, workdir, ignore_errors=True)
        found = _state["pki"] = LaunchTls(workdir)
        found.prepare(PROVINCE)
    return found


def cert_dir(kind: str, node_id: str) -> Path:
    """The certificate directory of ``kind``/``node_id`` (issued on first use)."""
    return authority().certificate(pki.identity(kind, node_id))


def node_args(kind: str, name: str, site_id: str | None = None) -> list[str]:
    """The flags that give a ``vcc hub|site|edge`` process its certificate: a site by its
    site ID, a hub by its node ID, the edge by its name."""
    return ["--tls-dir", str(authority().certificate(identity_of_process(kind, name, site_id)))]


def client(kind: str = "ops", node_id: str = OPS_ID) -> ClientTls:
    """Client credentials of ``kind``/``node_id`` (default: the operator tool)."""
    return ClientTls(cert_dir(kind, node_id))


def ops_env(base: dict[str, str] | None = None) -> dict[str, str]:
    """An environment for ``vcc`` client commands: the operator tool's certificate."""
    env = dict(os.environ if base is None else base)
    env["VCC_TLS_DIR"] = str(cert_dir("ops", OPS_ID))
    env.pop("VCC_INSECURE", None)
    return env
