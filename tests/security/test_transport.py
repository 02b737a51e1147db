"""A process's gRPC transport from its settings: mutual TLS from its certificate folder,
plaintext only when told ``--insecure`` (with a warning), never by default; the
launcher's PKI; the container health check's credentials."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from vcc_ops.healthcheck import own_tls
from vcc_ops.launch_tls import LOCAL_IPS, LaunchTls, identity_of_process
from vcc_proto import pki
from vcc_proto.channels import client_tls, use_client_tls
from vcc_proto.settings import SettingsError, load
from vcc_proto.transport import TlsSettings, open_transport

KM = pki.identity("site", "KM")


@pytest.fixture(autouse=True)
def no_process_credentials() -> Iterator[None]:
    previous = use_client_tls(None)
    yield
    use_client_tls(previous)


@pytest.fixture
def pki_dir(tmp_path: Path) -> Path:
    d = tmp_path / "pki"
    pki.init_ca(d)
    pki.issue(d, KM, ips=["127.0.0.1"])
    return d


def test_a_node_with_neither_a_certificate_nor_insecure_is_refused() -> None:
    with pytest.raises(SettingsError) as caught:
        open_transport(TlsSettings(), KM)
    assert "--tls-dir" in str(caught.value) and "--insecure" in str(caught.value)


def test_a_certificate_and_insecure_together_are_refused(pki_dir: Path) -> None:
    with pytest.raises(SettingsError):
        load(TlsSettings, env={"VCC_TLS_DIR": str(pki_dir / "site-KM"), "VCC_INSECURE": "1"})


def test_insecure_warns_and_leaves_channels_plaintext(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        transport = open_transport(load(TlsSettings, env={"VCC_INSECURE": "yes"}), KM)
    assert not transport.secure and transport.client is None
    assert client_tls() is None
    assert "PLAINTEXT" in caplog.text and "site/KM" in caplog.text


def test_a_certificate_serves_tls_and_is_every_channel_s_credential(pki_dir: Path) -> None:
    transport = open_transport(TlsSettings(tls_dir=pki_dir / "site-KM"), KM)
    assert transport.secure and transport.server is not None
    assert transport.server.identity == KM
    assert client_tls() is transport.client


def test_another_node_s_certificate_is_refused(pki_dir: Path) -> None:
    with pytest.raises(SettingsError) as caught:
        open_transport(TlsSettings(tls_dir=pki_dir / "site-KM"), pki.identity("site", "QJ"))
    assert "site/KM" in str(caught.value)


def test_the_launcher_pki_names_each_process_and_is_reused(tmp_path: Path) -> None:
    tls = LaunchTls(tmp_path)
    ops = tls.prepare("Yunnan")
    assert ops.identity == pki.identity("ops", "vcc-ops")
    args = tls.process_args("site", "site-KM", "KM")
    folder = Path(args[1])
    assert args[0] == "--tls-dir" and folder == tmp_path / "pki" / "site-KM"
    cert = pki.read_cert(folder / pki.NODE_CERT)
    assert pki.identity_of_cert(cert) == KM
    assert set(LOCAL_IPS) <= set(pki.sans_of(cert)[1])
    again = LaunchTls(tmp_path)
    again.prepare("Yunnan")
    again.process_args("site", "site-KM", "KM")
    assert pki.read_cert(folder / pki.NODE_CERT).serial_number == cert.serial_number
    assert identity_of_process("hub", "hub-2", None) == pki.identity("hub", "hub-2")
    assert set(tls.record()) == {"pki", "ca", "ops", "trunk"}  # trunk: the callers' side


def test_the_health_check_names_the_server_it_expects(pki_dir: Path) -> None:
    assert own_tls(pki_dir / "site-KM").server_name is None  # 127.0.0.1 is in its SANs
    pki.issue(pki_dir, pki.identity("hub", "hub-1"), dns=["hub-1"])
    assert own_tls(pki_dir / "hub-hub-1").server_name == "hub-1"


def test_the_node_command_refuses_to_start_without_a_certificate(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("VCC_INSECURE", "VCC_TLS_DIR")}
    done = subprocess.run(
        [sys.executable, "-m", "vcc_ops.cli", "edge", "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert done.returncode == 2, done.stderr
    assert "--insecure" in done.stderr and "Traceback" not in done.stderr
