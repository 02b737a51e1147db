"""The SIP processes' certificates: an ``edge`` identity of the province, or ``--insecure``
(warned); never plaintext by default, never another kind's certificate."""

from __future__ import annotations

from pathlib import Path

import click
import pytest

from vcc_ops.sip_cli import own_tls
from vcc_proto import pki
from vcc_proto.channels import client_tls, use_client_tls


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("pki")
    pki.init_ca(root, name="test province")
    return root


def _issued(ca: Path, kind: str, node_id: str) -> Path:
    who = pki.identity(kind, node_id)
    pki.issue(ca, who, dns=("localhost",), ips=("127.0.0.1",))
    return pki.node_dir(ca, who)


def test_an_edge_certificate_becomes_the_process_credentials(ca: Path) -> None:
    previous = client_tls()
    try:
        tls = own_tls(_issued(ca, "edge", "sip-KM"), False, "the SIP agent", "edge")
        assert tls is not None and client_tls() is tls
        assert tls.identity == pki.identity("edge", "sip-KM")
    finally:
        use_client_tls(previous)


def test_another_kind_neither_or_both_are_refused(ca: Path) -> None:
    site = _issued(ca, "site", "KM")
    with pytest.raises(click.BadParameter, match="not of an 'edge' identity"):
        own_tls(site, False, "the SIP agent", "edge")
    with pytest.raises(click.UsageError, match="no certificate"):
        own_tls(None, False, "the SIP agent", "edge")
    with pytest.raises(click.UsageError, match="not both"):
        own_tls(site, True, "the SIP agent", "edge")


def test_insecure_is_plaintext_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    previous = client_tls()
    try:
        assert own_tls(None, True, "the SIP edge", "edge") is None
        assert client_tls() is None
    finally:
        use_client_tls(previous)
    assert "PLAINTEXT" in caplog.text
