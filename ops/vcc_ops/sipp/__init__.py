"""SIPp scenarios of the SIP tests and ``vcc bench sip``: callers on a trunk keying
digits by SIP INFO, agents' phones (register, ring, answer, hang up), a refused caller."""

from __future__ import annotations

import shutil
from pathlib import Path

HERE = Path(__file__).parent
INSTALL = "apt-get install -y kamailio kamailio-utils-modules sip-tester"


def missing_tools() -> list[str]:
    """Which of Kamailio and SIPp are not installed."""
    missing = [] if shutil.which("sipp") else ["sipp"]
    if shutil.which("kamailio") is None and not Path("/usr/sbin/kamailio").exists():
        missing.insert(0, "kamailio")
    return missing


def caller_scenario(into: Path, keys: str, template: str = "caller") -> Path:
    """The caller's scenario keying ``keys`` one SIP INFO each (CSeq from 2);
    ``template`` "caller_gives_up" hangs up after 10 s if nobody released the line."""
    key = (HERE / "key.xml.in").read_text()
    blocks = [key.replace("CSEQ", str(2 + n)).replace("KEY", k) for n, k in enumerate(keys)]
    text = (HERE / f"{template}.xml.in").read_text().replace("<!-- KEYS -->", "\n".join(blocks))
    path = into / f"{template}-{keys.replace('#', 'H').replace('*', 'S')}.xml"
    path.write_text(text)
    return path


def scenario(name: str) -> Path:
    return HERE / name
