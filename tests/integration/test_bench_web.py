"""``vcc bench web`` on a tiny load: the pages (in the site's web gateway process) sign in
over HTTP, read their pushes and serve calls beside the gRPC bots; the JSON has both
phases of both rounds.

Correctness only; no figure is compared with a speed target (the machine is shared).
"""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from vcc_ops.cli import main


def test_desktops_receive_pushes_and_serve_calls_in_the_with_phase(tmp_path: Path) -> None:
    out = tmp_path / "web.json"
    run = CliRunner().invoke(
        main,
        [
            *("bench", "web", "--calls", "30", "--rate", "20", "--agents", "4"),
            *("--desktops", "6", "--talk-ms", "5", "--warmup", "3", "--rounds", "2"),
            *("--json", str(out)),
        ],
    )
    assert run.exit_code == 0, run.output
    result = json.loads(out.read_text())
    assert result["errors"] == 0, (result["with_desktops"], result["without_desktops"])
    assert result["desktops"] == 6 and result["grpc_security"] == "mutual TLS"
    # the pages ran in the site's gateway process, measured apart from the site
    assert result["web_process"] == "own"
    assert result["gateway_cpu_ms_per_call"] > 0, "the gateway process served the pages"
    assert all(result["site_cpu_ms_per_call"][phase] > 0 for phase in ("without", "with"))
    assert result["pushes"] > 0, "the pages read events from their push channel"
    assert result["desktop_calls"] > 0, "pages answered calls offered through their stream"
    for phase in ("without_desktops", "with_desktops"):
        figures = result[phase]
        assert figures["reached_agent"] == figures["answered"] == 30, (phase, figures)
        assert figures["calls_per_s"] > 0 and figures["offer_to_agent_p99_ms"] > 0
    assert 0 <= result["push_p50_ms"] <= result["push_p99_ms"] <= result["push_max_ms"]
    assert result["calls_per_s_ratio"] > 0 and result["p99_ratio"] > 0
    assert result["bot_p99_ratio"] > 0  # the bots took calls in both phases
    assert result["runs"] == 1 and len(result["per_run"]) == 1
    # the phases alternate: the pages signed out after the first "with" phase and in again
    # (with the password their first sign-in chose) for the second
    assert [r["pushes"] > 0 and r["errors"] == 0 for r in result["per_round"]] == [True] * 2
