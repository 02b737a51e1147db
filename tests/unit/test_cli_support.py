"""The CLI's shared pieces: JSON-mode detection, exit codes, progress off the terminal,
and where client commands find the province."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vcc_domain.errors import ConfigError, NotFound, Unavailable
from vcc_ops import target
from vcc_ops.cli import main
from vcc_ops.exits import Exit, exit_of, json_requested, resolve_command
from vcc_ops.launcher import STATE_FILE, RunState
from vcc_ops.progress import steps


def test_json_mode_is_a_json_flag_not_a_json_file() -> None:
    assert json_requested(main, ["province", "check", "--json"])
    assert json_requested(main, ["board", "--watch", "2", "--json"])
    assert json_requested(main, ["directory", "--hub", "h:1", "list", "agent", "--json"])
    assert json_requested(main, ["report", "province", "--format", "json"])
    assert not json_requested(main, ["bench", "all", "--json", "out.json"])
    assert not json_requested(main, ["drill", "site-kill", "--json", "d.json"])
    assert not json_requested(main, ["status"])
    assert resolve_command(main, ["directory", "--etcd", "x", "list"]).name == "list"


def test_exit_codes_are_distinct_by_kind() -> None:
    assert exit_of(Unavailable("down")) == Exit.UNREACHABLE == 3
    assert exit_of(ConfigError("bad", field="x")) == Exit.USAGE == 2
    assert exit_of(NotFound("who")) == Exit.USAGE
    assert len({e.value for e in Exit}) == 4


def test_steps_are_plain_lines_off_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    with steps("vcc up") as say:
        say("starting NATS")
    assert capsys.readouterr().err == "vcc up: starting NATS\n"


def _state(workdir: Path, etcd: list[str], nats: str) -> None:
    workdir.mkdir(parents=True)
    RunState(
        launcher_pid=1,
        started_at=0.0,
        province="p.toml",
        workdir=str(workdir),
        nats_url=nats,
        etcd_endpoints=etcd,
        postgres_url=None,
    ).write(workdir / STATE_FILE)


def test_a_flag_beats_the_state_file_which_beats_the_default(tmp_path: Path) -> None:
    wd = tmp_path / ".vcc"
    assert target.etcd_endpoints("", wd) == [target.DEFAULT_ETCD]
    assert target.nats_urls("", wd) == [target.DEFAULT_NATS]
    _state(wd, ["127.0.0.1:40001"], "nats://127.0.0.1:40002")
    assert target.etcd_endpoints("", wd) == ["127.0.0.1:40001"]
    assert target.nats_urls("", wd) == ["nats://127.0.0.1:40002"]
    assert target.etcd_endpoints("10.0.0.1:2379,10.0.0.2:2379", wd) == [
        "10.0.0.1:2379",
        "10.0.0.2:2379",
    ]
    assert target.nats_urls("nats://x:1", wd) == ["nats://x:1"]


def test_an_unreadable_state_file_falls_back_to_the_default(tmp_path: Path) -> None:
    wd = tmp_path / "w"
    wd.mkdir()
    (wd / STATE_FILE).write_text(json.dumps({"half": "written"}))
    assert target.etcd_endpoints("", wd) == [target.DEFAULT_ETCD]
