"""The access edge's ledger (versions, final states on file) and its settings (flags over
``VCC_*`` variables over defaults, bad values refused clearly)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vcc_domain.errors import ConfigError, NotFound
from vcc_site.edge.grpc_edge import from_message, to_message
from vcc_site.edge.ledger import Ledger
from vcc_site.edge.settings import EDGE_SETTINGS, EdgeSettings, read_edge_settings


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


def test_settings_flags_win_over_variables_over_defaults(tmp_path: Path) -> None:
    env = {"VCC_PROVINCE": str(tmp_path / "p.toml"), "VCC_GRPC_PORT": "7001",
           "VCC_ETCD": "a:1, b:2", "VCC_LOG_FORMAT": "json"}
    settings = read_edge_settings({"grpc_port": "7002", "log_file": None}, env)
    assert settings.grpc_port == 7002 and settings.etcd_endpoints == ("a:1", "b:2")
    assert settings.log_format == "json" and settings.log_file is None
    assert settings.sweep_every_s == EdgeSettings.__dataclass_fields__["sweep_every_s"].default
    assert settings.ledger_path == Path(".vcc/data") / "edge-ledger.jsonl"
    assert {s.name for s in EDGE_SETTINGS} == set(EdgeSettings.__dataclass_fields__)


def test_bad_settings_are_refused_with_their_name(tmp_path: Path) -> None:
    env = {"VCC_PROVINCE": str(tmp_path / "p.toml")}
    with pytest.raises(ConfigError, match="VCC_GRPC_PORT"):
        read_edge_settings({}, {**env, "VCC_GRPC_PORT": "many"})
    with pytest.raises(ConfigError, match="--sweep-every-s"):
        read_edge_settings({"sweep_every_s": "soon"}, env)
    with pytest.raises(ConfigError, match="province"):
        read_edge_settings({}, {})
    with pytest.raises(ConfigError, match="json"):
        read_edge_settings({"log_format": "xml"}, env)
