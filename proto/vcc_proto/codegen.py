"""Regenerate, or check, the committed Python code of the ``vcc_proto/v1`` contracts.

``python -m vcc_proto.codegen`` runs ``grpc_tools.protoc`` (pinned in the ``dev`` extra)
with the python, grpc_python, mypy and mypy_grpc outputs and replaces the generated files
next to the ``.proto`` files. ``python -m vcc_proto.codegen --check`` generates into a
temporary directory instead and exits 1, listing every generated file that differs, is
missing or is stale (no longer produced). CI runs the check so the committed code never
drifts from the contracts.

Every ``.proto`` sits at its import path under ``proto/`` (``vcc_proto/v1/site.proto``,
``package vcc_proto.v1``), so the generated imports are right as they come out of protoc.
"""

from __future__ import annotations

import argparse
import filecmp
import importlib.util
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

PROTO_ROOT = Path(__file__).resolve().parent.parent  # the ``proto/`` source root
PACKAGE_DIR = Path("vcc_proto") / "v1"  # relative to PROTO_ROOT, also the import path
GENERATED_SUFFIXES = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py", "_pb2_grpc.pyi")
PLUGINS = ("protoc-gen-mypy", "protoc-gen-mypy_grpc")


class CodegenError(RuntimeError):
    """protoc or one of its plugins is missing or failed."""


def proto_files(root: Path = PROTO_ROOT) -> list[Path]:
    """The ``.proto`` files, relative to ``root``, in a stable order."""
    return sorted(p.relative_to(root) for p in (root / PACKAGE_DIR).glob("*.proto"))


def generated_files(out_root: Path) -> list[Path]:
    """Generated files under ``out_root/vcc_proto/v1``, relative to ``out_root``, sorted."""
    folder = out_root / PACKAGE_DIR
    if not folder.is_dir():
        return []
    found = [
        p.relative_to(out_root)
        for p in folder.iterdir()
        if p.is_file() and p.name.endswith(GENERATED_SUFFIXES)
    ]
    return sorted(found)


def _plugin_path(name: str) -> Path:
    """A protoc plugin next to the running interpreter (the venv's bin), else on PATH."""
    # Not resolved: in a venv sys.executable is a symlink whose *own* folder holds the
    # plugin scripts, while the resolved target is the base interpreter's folder.
    beside = Path(sys.executable).parent / name
    if beside.is_file():
        return beside
    found = shutil.which(name)
    if found is None:
        raise CodegenError(
            f"{name} not found next to {sys.executable} or on PATH; "
            "install the dev extra: pip install -e '.[dev]'"
        )
    return Path(found)


def _include_dirs() -> list[str]:
    """protoc's bundled includes (google/protobuf/*.proto) from grpc_tools."""
    spec = importlib.util.find_spec("grpc_tools")  # a dev dependency only
    if spec is None or not spec.submodule_search_locations:
        raise CodegenError(
            "grpc_tools is not installed; install the dev extra: pip install -e '.[dev]'"
        )
    return [str(Path(next(iter(spec.submodule_search_locations))) / "_proto")]


def generate(out_root: Path, root: Path = PROTO_ROOT) -> list[Path]:
    """Run protoc on every contract, writing under ``out_root``; returns files written."""
    protos = proto_files(root)
    if not protos:
        raise CodegenError(f"no .proto files under {root / PACKAGE_DIR}")
    (out_root / PACKAGE_DIR).mkdir(parents=True, exist_ok=True)
    out = str(out_root)
    args = [
        sys.executable,
        "-m",
        "grpc_tools.protoc",
        "-I",
        ".",
        *(f"-I{inc}" for inc in _include_dirs()),
        f"--plugin=protoc-gen-mypy={_plugin_path('protoc-gen-mypy')}",
        f"--plugin=protoc-gen-mypy_grpc={_plugin_path('protoc-gen-mypy_grpc')}",
        f"--python_out={out}",
        f"--grpc_python_out={out}",
        f"--mypy_out={out}",
        f"--mypy_grpc_out={out}",
        *(p.as_posix() for p in protos),
    ]
    # Relative paths from the proto root keep absolute paths out of the generated code.
    result = subprocess.run(args, cwd=root, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise CodegenError(f"protoc failed ({result.returncode}):\n{result.stderr.strip()}")
    return generated_files(out_root)


def compare(expected_root: Path, actual_root: Path) -> list[str]:
    """Problems of ``actual_root`` against freshly generated ``expected_root``, one a line."""
    expected = set(generated_files(expected_root))
    actual = set(generated_files(actual_root))
    problems = [f"missing: {p.as_posix()}" for p in sorted(expected - actual)]
    problems += [
        f"stale (not generated any more): {p.as_posix()}" for p in sorted(actual - expected)
    ]
    for rel in sorted(expected & actual):
        if not filecmp.cmp(expected_root / rel, actual_root / rel, shallow=False):
            problems.append(f"differs: {rel.as_posix()}")
    return problems


def regenerate(root: Path = PROTO_ROOT) -> list[Path]:
    """Replace the committed generated code under ``root`` with fresh output."""
    with tempfile.TemporaryDirectory(prefix="vcc-codegen-") as tmp:
        fresh_root = Path(tmp)
        fresh = generate(fresh_root, root)
        for stale in set(generated_files(root)) - set(fresh):
            (root / stale).unlink()
        for rel in fresh:
            shutil.copyfile(fresh_root / rel, root / rel)
    return fresh


def check(root: Path = PROTO_ROOT) -> list[str]:
    """Regenerate into a temporary directory and list differences with the committed code."""
    with tempfile.TemporaryDirectory(prefix="vcc-codegen-check-") as tmp:
        generate(Path(tmp), root)
        return compare(Path(tmp), root)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m vcc_proto.codegen",
        description="Regenerate the Python code of the vcc_proto/v1 contracts.",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="do not write; exit 1 if the committed generated code differs from fresh output",
    )
    opts = parser.parse_args(argv)
    try:
        if opts.check:
            problems = check()
            if problems:
                print("generated protobuf code is out of date:", file=sys.stderr)
                for line in problems:
                    print(f"  {line}", file=sys.stderr)
                print("run: python -m vcc_proto.codegen", file=sys.stderr)
                return 1
            print(f"generated protobuf code is up to date ({len(proto_files())} contracts)")
            return 0
        written = regenerate()
    except CodegenError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for rel in written:
        print(f"wrote {rel.as_posix()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
