"""``vcc bench site`` on a tiny load: every call reaches an agent and is answered.

Correctness only; the figures are checked to be present and positive, never against a
speed target (the machine is shared and noisy).
"""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from vcc_ops.bench.site import run_site_bench
from vcc_ops.cli import main
from vcc_proto.channels import client_tls


def _check(result: dict[str, object], calls: int) -> None:
    assert result["errors"] == 0, result["error_samples"]
    assert result["entered_queue"] == calls
    assert result["reached_agent"] == calls, "every offered call reached an agent"
    assert result["answered"] == calls, "every offered call was answered"
    assert result["duplicate_offers"] == 0
    for key in (
        "calls_per_s",
        "offered_calls_per_s",
        "offer_to_agent_p50_ms",
        "offer_to_agent_p99_ms",
        "call_setup_p50_ms",
        "call_setup_p99_ms",
        "queue_entry_p50_ms",
        "queue_entry_p99_ms",
        "site_cpu_s",
        "wall_s",
    ):
        value = result[key]
        assert isinstance(value, int | float) and value > 0, (key, value)
    assert result["offer_to_agent_p50_ms"] <= result["offer_to_agent_p99_ms"]  # type: ignore[operator]


def test_open_loop_calls_all_reach_an_agent_and_are_answered() -> None:
    result = run_site_bench(calls=60, rate=40, agents=10, talk_ms=5, warmup=5, channels=2)
    _check(result, 60)
    assert result["connected_at_once"] + result["queued_first"] == 60
    assert result["grpc_security"] == "mutual TLS"  # the product's default


def test_insecure_run_is_plaintext_and_leaves_no_client_credentials() -> None:
    before = client_tls()  # the tests' operator credentials
    result = run_site_bench(calls=20, rate=40, agents=4, talk_ms=5, warmup=2, tls=False)
    _check(result, 20)
    assert result["grpc_security"] == "plaintext"
    assert client_tls() is before  # the bench put back the caller's credentials


def test_cli_writes_the_median_as_json(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    run = CliRunner().invoke(
        main,
        [
            "bench",
            "site",
            "--calls",
            "40",
            "--agents",
            "8",
            "--talk-ms",
            "5",
            "--runs",
            "1",
            "--insecure",
            "--json",
            str(out),
        ],
    )
    assert run.exit_code == 0, run.output
    result = json.loads(out.read_text())
    assert result["runs"] == 1 and len(result["per_run"]) == 1
    assert result["grpc_security"] == "plaintext"
    _check(result, 40)
