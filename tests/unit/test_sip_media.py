"""rtpengine's NG encoding and the SIP agent's media anchor (with a fake rtpengine)."""

from __future__ import annotations

from typing import Any

import pytest

from vcc_site.sip.media import CALLER_TAG, SITE_TAG, MediaAnchor
from vcc_site.sip.ng import NgClient, NgError, bdecode, bencode


def test_bencode_round_trip_sorts_keys() -> None:
    value = {"sdp": "v=0\r\n", "command": "offer", "flags": ["trust-address"], "n": -3}
    encoded = bencode(value)
    assert encoded.startswith(b"d7:command5:offer")  # keys in byte order
    assert bdecode(encoded) == value


@pytest.mark.parametrize("bad", [b"i3", b"4:abc", b"l1:ae1:b", b"d1:ae"])
def test_bdecode_refuses_cut_or_trailing_input(bad: bytes) -> None:
    with pytest.raises(ValueError):
        bdecode(bad)


def test_bencode_refuses_booleans() -> None:
    with pytest.raises(TypeError):
        bencode(True)


class FakeNg(NgClient):
    def __init__(self, fail: set[str] | None = None) -> None:
        super().__init__("127.0.0.1", 9)
        self.fail = fail or set()
        self.sent: list[tuple[str, dict[str, Any]]] = []

    def request(self, command: str, **fields: Any) -> dict[str, Any]:
        self.sent.append((command, fields))
        if command in self.fail:
            raise NgError(f"{command}: Unknown call-id")
        return {"result": "ok", "sdp": f"anchored {command}"}


def test_anchor_records_from_answer_to_release() -> None:
    now = [100.0]
    ng = FakeNg()
    media = MediaAnchor(ng, clock=lambda: now[0])
    assert media.anchor("sip-1", "caller sdp", "site sdp") == "anchored answer"
    offer, answer = ng.sent
    assert offer == ("offer", {"call-id": "sip-1", "from-tag": CALLER_TAG, "sdp": "caller sdp"})
    assert answer[1]["to-tag"] == SITE_TAG and answer[1]["sdp"] == "site sdp"
    assert media.record("sip-1", "call_1", "KM-0130") is not None
    assert media.record("sip-1", "call_1", "KM-0130") is None  # once per call
    now[0] = 102.5
    rec = media.release("sip-1")
    assert rec is not None and rec.duration_s == 2.5 and rec.agent_id == "KM-0130"
    assert [c for c, _ in ng.sent] == ["offer", "answer", "start recording", "delete"]
    assert media.release("sip-1") is None  # released once


def test_rtpengine_failing_leaves_the_call_unanchored_and_unrecorded() -> None:
    ng = FakeNg(fail={"offer"})
    media = MediaAnchor(ng)
    assert media.anchor("sip-2", "caller sdp", "site sdp") is None
    assert media.record("sip-2", "call_2", "KM-0130") is None
    assert media.release("sip-2") is None
    assert [c for c, _ in ng.sent] == ["offer"]


def test_a_lost_delete_still_ends_the_recording() -> None:
    media = MediaAnchor(FakeNg(fail={"delete"}), clock=lambda: 5.0)
    media.anchor("sip-3", "a", "b")
    media.record("sip-3", "call_3", "KM-0130")
    rec = media.release("sip-3")
    assert rec is not None and not media.recordings and not media.anchored
