"""SIPp scenario files for the SIP tests (and their keys filled in)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

HERE = Path(__file__).parent / "scenarios"
INSTALL = "apt-get install -y kamailio kamailio-utils-modules sip-tester"


def need_sip_tools() -> None:
    """Skip (loudly, naming the packages) when Kamailio or SIPp are not installed."""
    missing = [b for b in ("kamailio", "sipp") if shutil.which(b) is None]
    if shutil.which("kamailio") is None and Path("/usr/sbin/kamailio").exists():
        missing.remove("kamailio")
    if missing:
        pytest.skip(f"{' and '.join(missing)} not installed: {INSTALL}")


def caller_scenario(into: Path, keys: str) -> Path:
    """The caller's scenario keying ``keys`` one SIP INFO each (CSeq from 2)."""
    key = (HERE / "key.xml.in").read_text()
    blocks = [key.replace("CSEQ", str(2 + n)).replace("KEY", k) for n, k in enumerate(keys)]
    text = (HERE / "caller.xml.in").read_text().replace("<!-- KEYS -->", "\n".join(blocks))
    path = into / f"caller-{keys.replace('#', 'H').replace('*', 'S')}.xml"
    path.write_text(text)
    return path


def scenario(name: str) -> Path:
    return HERE / name
