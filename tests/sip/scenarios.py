"""The SIP tests' view of the SIPp scenarios (``vcc_ops.sipp``): skip loudly without the
tools."""

from __future__ import annotations

import pytest

from vcc_ops.sipp import INSTALL, caller_scenario, missing_tools, scenario

__all__ = ["caller_scenario", "need_sip_tools", "scenario"]


def need_sip_tools() -> None:
    """Skip (loudly, naming the packages) when Kamailio or SIPp are not installed."""
    missing = missing_tools()
    if missing:
        pytest.skip(f"{' and '.join(missing)} not installed: {INSTALL}")
