"""The pure parts of the SIP access: keys from SIP INFO, gathering them per collect step,
the edge's routing answer, the phones file and the generated Kamailio configuration."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from vcc_domain.errors import Unavailable
from vcc_ops.infra import StartupError
from vcc_ops.infra.kamailio import EdgeConfig, config_text
from vcc_ops.sip_edge import SipRoutes, parse_pairs
from vcc_site.sip.app import read_phones
from vcc_site.sip.dtmf import Collector, digit_of


def test_dtmf_relay_and_plain_dtmf_bodies() -> None:
    assert digit_of("application/dtmf-relay", "Signal=5\r\nDuration=160\r\n") == "5"
    assert digit_of("Application/DTMF-Relay; x=1", "signal= #\nDuration=100") == "#"
    assert digit_of("application/dtmf", "*") == "*"
    assert digit_of("application/dtmf-relay", "Signal=A\r\n") is None  # not a keypad key
    assert digit_of("application/dtmf-relay", "Duration=160\r\n") is None
    assert digit_of("application/sdp", "Signal=1") is None


def test_collector_stops_at_max_digits_or_the_terminator() -> None:
    menu = Collector(max_digits=1)
    assert menu.add("3") and menu.digits == "3"
    pin = Collector(max_digits=6, terminator="#")
    assert not any(pin.add(k) for k in "1234")
    assert pin.add("#") and pin.digits == "1234"  # the terminator is not a digit
    full = Collector(max_digits=6, terminator="#")
    assert [full.add(k) for k in "246813"][-1] and full.digits == "246813"


class FakeEdge:
    def __init__(self, sites: list[str], fail: bool = False) -> None:
        self.sites, self.fail = sites, fail

    def area_of(self, caller: str) -> str:
        return "0871"

    async def route(self, area: str) -> list[str]:
        if self.fail:
            raise Unavailable("etcd down")
        return self.sites


def test_route_answer_is_the_nearest_live_site_not_tried() -> None:
    sip = {"KM": "127.0.0.1:5071", "YX": "127.0.0.1:5072"}
    routes = SipRoutes(FakeEdge(["KM", "QJ", "YX"]), sip)  # type: ignore[arg-type]
    assert asyncio.run(routes.answer("19871000001", {"-"})) == "KM 127.0.0.1:5071"
    # QJ has no SIP agent: skipped
    assert asyncio.run(routes.answer("19871000001", {"-", "KM"})) == "YX 127.0.0.1:5072"
    assert asyncio.run(routes.answer("19871000001", {"KM", "YX"})) == ""
    down = SipRoutes(FakeEdge([], fail=True), sip)  # type: ignore[arg-type]
    assert asyncio.run(down.answer("19871000001", set())) == ""


def test_site_sip_pairs_and_phones_file(tmp_path: Path) -> None:
    assert parse_pairs("KM=127.0.0.1:5071, YX=h:1") == {"KM": "127.0.0.1:5071", "YX": "h:1"}
    with pytest.raises(ValueError, match="SITE=host:port"):
        parse_pairs("KM127.0.0.1")
    phones = tmp_path / "phones.txt"
    phones.write_text("# seat phones\nKM-0130 secret pw\n\n")
    assert read_phones(phones) == {"KM-0130": "secret pw"}
    phones.write_text("KM-0130\n")
    with pytest.raises(ValueError, match=r"phones\.txt:1"):
        read_phones(phones)


def test_kamailio_config_trusts_only_trunks_and_sites(tmp_path: Path) -> None:
    cfg = EdgeConfig(
        route_url="http://127.0.0.1:9/route",
        trunks=["127.0.0.1:5090"],
        sites=["127.0.0.1:5071"],
        trunk_capacity=3,
        retry_after_s=7,
    )
    try:
        text = config_text(5060, tmp_path, cfg)
    except StartupError as exc:  # the configuration names Kamailio's module folder
        pytest.skip(str(exc))
    assert "listen=udp:127.0.0.1:5060" in text
    assert '($si == "127.0.0.1" && $sp == 5090)' in text  # trunks
    assert '($si == "127.0.0.1" && $sp == 5071)' in text  # sites ring phones
    assert 'remove_hf("X-VCC-Caller")' in text and "X-VCC-Caller: $fU" in text
    assert "$var(busy) >= 3" in text and "Retry-After: 7" in text
    assert 'sl_send_reply("403", "Not A Trunk")' in text


def test_hold_offers() -> None:
    from vcc_site.sip.ua import is_hold

    assert is_hold("v=0\r\nc=IN IP4 10.0.0.1\r\na=sendonly\r\n")
    assert is_hold("v=0\r\na=inactive\r\n")
    assert is_hold("v=0\r\nc=IN IP4 0.0.0.0\r\n")
    assert not is_hold("v=0\r\nc=IN IP4 10.0.0.1\r\na=sendrecv\r\n")
