"""The access edge's ledger (versions, final states on file) and its settings (flags over
``VCC_*`` variables over defaults, bad values refused clearly)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vcc_domain.errors import ConfigError, NotFound
from vcc_ops.settings_registry import variables_for
from vcc_site.edge.grpc_edge import from_message, to_message
from vcc_site.edge.ledger import Ledger
from vcc_site.edge.settings import EdgeSettings, load_edge_settings


def test_every_change_takes_a_version_and_finals_go_to_the_file(tmp_path: Path) -> None:
    book = Ledger(tmp_path / "ledger.jsonl", clock=lambda: 100.0)
    first, second = book.open("08710001", "0871"), book.open("08720002", "0872")
    book.taken(first, "KM", "ivr")
    seen = book.version
    book.moved(first, "queued")
    book.moved(first, "queued")  # no change: no new version
    assert [c.call_id for c in book.changed_after(seen)] == [first.call_id]
    book.moved(first, "connected", at_site="DL")
    assert (first.site_id, first.where, first.state) == ("KM", "DL", "connected")
    book.final(second, "refused", "no_live_site")
    book.moved(second, "queued")  # a final call stays final
    book.final(second, "ended", "END_REASON_CALLER_HANGUP")
    assert (second.state, second.reason) == ("refused", "no_live_site")
    assert [c.call_id for c in book.changed_after(0, open_only=True)] == [first.call_id]
    assert book.counts() == {"connected": 1, "refused": 1}
    written = [json.loads(line) for line in (tmp_path / "ledger.jsonl").read_text().splitlines()]
    assert [(w["call_id"], w["state"]) for w in written] == [(second.call_id, "refused")]
    with pytest.raises(NotFound):
        book.get("call_nope")


def test_an_entry_survives_the_wire() -> None:
    book = Ledger(clock=lambda: 1_796_448_547.25)  # times travel in whole milliseconds
    call = book.open("08710001", "0871")
    book.taken(call, "KM", "queued")
    book.tried(call, "QJ")
    back = from_message(to_message(call))
    assert back == call


def test_settings_flags_win_over_variables_over_defaults() -> None:
    env = {
        "VCC_EDGE_RPC_TIMEOUT_S": "3",
        "VCC_EDGE_SWEEP_EVERY_S": "5",
        "VCC_SITE_ENDPOINTS": "KM=a:1,DL=b:2",
    }
    settings = load_edge_settings(env, {"VCC_EDGE_SWEEP_EVERY_S": "0.5"})
    assert settings.edge.rpc_timeout_s == 3.0 and settings.edge.sweep_every_s == 0.5
    assert settings.edge.probe_every_s == EdgeSettings().probe_every_s
    assert settings.sites.static_map() == {"KM": "a:1", "DL": "b:2"}
    assert "VCC_EDGE_PROBE_EVERY_S" in variables_for("edge")


def test_bad_settings_are_refused_with_their_name() -> None:
    with pytest.raises(ConfigError, match="VCC_EDGE_RPC_TIMEOUT_S"):
        load_edge_settings({"VCC_EDGE_RPC_TIMEOUT_S": "soon"})
