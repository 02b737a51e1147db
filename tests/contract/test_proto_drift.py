"""The committed generated code matches the .proto contracts (what CI's drift check runs)."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from vcc_proto import codegen

# codegen itself imports without grpc_tools; only running protoc needs it.
pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("grpc_tools") is None,
    reason="grpcio-tools (dev extra) is not installed, so the contracts cannot be regenerated",
)


def test_committed_code_matches_contracts() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "vcc_proto.codegen", "--check"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, (
        "generated protobuf code drifted from the .proto files; run "
        f"`python -m vcc_proto.codegen`\n{result.stdout}{result.stderr}"
    )


def test_every_contract_has_all_generated_files() -> None:
    protos = [p.stem for p in codegen.proto_files()]
    assert set(protos) >= {"common", "site", "hub", "node"}
    committed = {p.name for p in codegen.generated_files(codegen.PROTO_ROOT)}
    for stem in protos:
        for suffix in codegen.GENERATED_SUFFIXES:
            assert f"{stem}{suffix}" in committed


def _copy_contracts(tmp_path: Path) -> Path:
    """A private copy of proto/vcc_proto/v1 (contracts and generated code)."""
    root = tmp_path / "proto"
    shutil.copytree(codegen.PROTO_ROOT / codegen.PACKAGE_DIR, root / codegen.PACKAGE_DIR)
    return root


def test_check_reports_changed_missing_and_stale_files(tmp_path: Path) -> None:
    root = _copy_contracts(tmp_path)
    folder = root / codegen.PACKAGE_DIR
    assert codegen.check(root) == []

    with (folder / "site_pb2.py").open("a") as f:
        f.write("# edited by hand\n")
    (folder / "node_pb2_grpc.pyi").unlink()
    (folder / "old_pb2.py").write_text("# left over from a removed contract\n")

    problems = codegen.check(root)
    assert "differs: vcc_proto/v1/site_pb2.py" in problems
    assert "missing: vcc_proto/v1/node_pb2_grpc.pyi" in problems
    assert any(p.startswith("stale") and p.endswith("old_pb2.py") for p in problems)
    assert len(problems) == 3


def test_regenerate_is_deterministic_and_repairs_drift(tmp_path: Path) -> None:
    root = _copy_contracts(tmp_path)
    folder = root / codegen.PACKAGE_DIR
    (folder / "hub_pb2.pyi").write_text("broken\n")
    (folder / "old_pb2_grpc.py").write_text("# stale\n")

    codegen.regenerate(root)
    assert codegen.check(root) == []
    assert not (folder / "old_pb2_grpc.py").exists()
    for rel in codegen.generated_files(root):
        committed = codegen.PROTO_ROOT / rel
        assert (root / rel).read_bytes() == committed.read_bytes(), rel
