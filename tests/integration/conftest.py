"""Every integration test calls as the operator tool: the channels the test process opens
without credentials of their own present the session PKI's ``ops`` certificate (the
processes the tests start serve mutual TLS only). Set per module, before the module's own
fixtures (which often start a shared province), and put back after it. Calls handed to
the edge present the ``trunk/traffic`` certificate, as the telephony side would."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration._helpers import tls
from vcc_proto.channels import use_client_tls, use_trunk_tls


@pytest.fixture(scope="module", autouse=True)
def _operator_credentials() -> Iterator[None]:
    previous = use_client_tls(tls.client())
    # callers' calls reach the edge from the telephony side (Edge.PlaceCall is trunk-only)
    previous_trunk = use_trunk_tls(tls.client("trunk", "traffic"))
    try:
        yield
    finally:
        use_client_tls(previous)
        use_trunk_tls(previous_trunk)
