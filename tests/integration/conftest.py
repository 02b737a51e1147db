"""Every integration test calls as the operator tool: the channels the test process opens
without credentials of their own present the session PKI's ``ops`` certificate (the
processes the tests start serve mutual TLS only). Set per module, before the module's own
fixtures (which often start a shared province), and put back after it. Calls handed to
the edge present the ``trunk/traffic`` certificate, as the telephony side would."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from click.testing import CliRunner

from tests.integration._helpers import tls
from tests.integration._helpers.bench import BenchAll
from vcc_ops.cli import main
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


@pytest.fixture(scope="session")
def bench_all_quick(tmp_path_factory: pytest.TempPathFactory) -> BenchAll:
    """``vcc bench all --quick``, run once per session: ``test_bench_all`` checks the whole
    document, ``test_bench_province`` the province section (the same quick parameters as
    ``vcc bench province --quick``) instead of starting the whole province again. Each
    benchmark runs in its own child process and chooses its own credentials."""
    out = tmp_path_factory.mktemp("bench-all") / "bench" / "latest.json"
    run = CliRunner().invoke(main, ["bench", "all", "--quick", "--json", str(out)])
    doc = json.loads(out.read_text()) if out.exists() else {}
    return BenchAll(run.exit_code, run.output, out, doc)
