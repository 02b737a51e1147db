"""Our packages install beside `proto-plus` (which owns the top-level `proto`) and both import.

Builds a wheel of this project and installs it with `proto-plus` into a fresh virtual
environment, and imports both there. The dependencies (grpcio, protobuf, SQLAlchemy ...) are
not downloaded again: the fresh environment reads them from this one's site-packages, added
*after* its own (a plain directory on the path: this environment's editable-install hooks,
which would put the source tree first, are not run there).
"""

from __future__ import annotations

import subprocess
import sys
import sysconfig
import venv
import zipfile
from importlib import metadata
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
OUR_PACKAGES = [
    "vcc_domain",
    "vcc_proto",
    "vcc_site",
    "vcc_hub",
    "vcc_replication",
    "vcc_failover",
    "vcc_ops",
]


def _run(*cmd: str | Path, cwd: Path | None = None) -> str:
    result = subprocess.run(
        [str(c) for c in cmd], capture_output=True, text=True, cwd=cwd, timeout=900
    )
    assert result.returncode == 0, f"{cmd} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def _build_isolation() -> list[str]:
    """Build with this environment's setuptools when it can build the wheel itself (70.1
    and later need no ``wheel`` package; the dev extra brings one through grpcio-tools): no
    isolated build environment to create and fill from the package index."""
    try:
        major, minor = (int(x) for x in metadata.version("setuptools").split(".")[:2])
    except (metadata.PackageNotFoundError, ValueError):
        return []
    return ["--no-build-isolation"] if (major, minor) >= (70, 1) else []


@pytest.mark.timeout(1200)
def test_install_beside_proto_plus(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    _run(
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "--no-deps",
        *_build_isolation(),
        "-q",
        "-w",
        wheels,
        ROOT,
    )
    (wheel,) = wheels.glob("vcc-*.whl")
    top_level = {name.split("/")[0] for name in zipfile.ZipFile(wheel).namelist()}
    assert "proto" not in top_level and "ops" not in top_level, top_level

    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    py = env_dir / "bin" / "python"
    own_site = env_dir / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}"
    (own_site / "site-packages" / "zz_outer_site.pth").write_text(
        sysconfig.get_paths()["purelib"] + "\n"
    )
    _run(
        sys.executable,
        "-m",
        "pip",
        "--python",
        py,
        "install",
        "-q",
        "--no-deps",
        "proto-plus",
        wheel,
    )
    probe = (
        "import proto, importlib; assert hasattr(proto, 'Message'), proto.__file__; "
        f"[importlib.import_module(m) for m in {OUR_PACKAGES!r}]; "
        "import vcc_proto.v1.site_pb2_grpc, vcc_domain.province, vcc_ops.cli; "
        "print('ok', proto.__file__)"
    )
    out = _run(py, "-c", probe, cwd=tmp_path)
    assert out.startswith("ok") and "proto_plus" not in out.split()[0]
    assert "site-packages/proto/" in out
    where = _run(py, "-c", "import vcc_ops; print(vcc_ops.__file__)", cwd=tmp_path)
    assert where.startswith(str(env_dir)), f"vcc_ops imported from outside the fresh env: {where}"
