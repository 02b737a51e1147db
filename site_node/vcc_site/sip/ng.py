"""rtpengine's NG control protocol: bencoded dictionaries over UDP, each with a cookie.

A request is ``<cookie> <bencoded dict>``; the reply repeats the cookie. The site's SIP
agent uses it to anchor a call's media at rtpengine (``offer``/``answer`` rewrite the SDP
so that both parties send RTP there), to record it (``start recording``) and to free it
(``delete``, whose reply carries the call's packet statistics).
"""

from __future__ import annotations

import secrets
import socket
from collections.abc import Mapping
from typing import Any

Value = int | bytes | str | list[Any] | Mapping[str, Any]


class NgError(RuntimeError):
    """rtpengine answered ``result: error`` or nothing usable."""


def bencode(value: Value) -> bytes:
    if isinstance(value, bool):
        raise TypeError("bencode has no booleans")
    if isinstance(value, int):
        return b"i%de" % value
    if isinstance(value, str):
        value = value.encode()
    if isinstance(value, bytes):
        return b"%d:%s" % (len(value), value)
    if isinstance(value, list):
        return b"l" + b"".join(bencode(v) for v in value) + b"e"
    if isinstance(value, Mapping):
        items = sorted((k.encode(), v) for k, v in value.items())
        return b"d" + b"".join(bencode(k) + bencode(v) for k, v in items) + b"e"
    raise TypeError(f"cannot bencode {type(value).__name__}")


def bdecode(data: bytes) -> Any:
    """Decode one bencoded value (strings come back as ``str``); trailing bytes are an error."""
    value, end = _decode(data, 0)
    if end != len(data):
        raise ValueError(f"trailing bytes after bencoded value at {end}")
    return value


def _decode(data: bytes, at: int) -> tuple[Any, int]:
    if at >= len(data):
        raise ValueError("bencoded value cut short")
    head = data[at : at + 1]
    if head == b"i":
        end = data.index(b"e", at)
        return int(data[at + 1 : end]), end + 1
    if head in (b"l", b"d"):
        items: list[Any] = []
        at += 1
        while data[at : at + 1] != b"e":
            item, at = _decode(data, at)
            items.append(item)
        if head == b"l":
            return items, at + 1
        return dict(zip(items[::2], items[1::2], strict=True)), at + 1
    colon = data.index(b":", at)
    size = int(data[at:colon])
    raw = data[colon + 1 : colon + 1 + size]
    if len(raw) != size:
        raise ValueError("bencoded string cut short")
    return raw.decode(errors="replace"), colon + 1 + size


class NgClient:
    """A blocking NG client: one request, one reply (retried once on a lost datagram)."""

    def __init__(self, host: str, port: int, timeout_s: float = 2.0) -> None:
        self.address = (host, port)
        self.timeout_s = timeout_s

    def request(self, command: str, **fields: Value) -> dict[str, Any]:
        cookie = secrets.token_hex(8).encode()  # rtpengine caches replies by cookie
        message = cookie + b" " + bencode({"command": command, **fields})
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(self.timeout_s)
            for _ in range(2):
                sock.sendto(message, self.address)
                try:
                    while True:
                        data, _peer = sock.recvfrom(65535)
                        got, _, body = data.partition(b" ")
                        if got == cookie:
                            return _result(command, bdecode(body))
                except TimeoutError:
                    continue
        raise NgError(f"rtpengine at {self.address[0]}:{self.address[1]}: no reply to {command}")

    def ping(self) -> bool:
        try:
            return self.request("ping").get("result") == "pong"
        except (NgError, OSError):
            return False

    def offer(self, call_id: str, from_tag: str, sdp: str) -> str:
        reply = self.request("offer", **{"call-id": call_id, "from-tag": from_tag, "sdp": sdp})
        return str(reply["sdp"])

    def answer(self, call_id: str, from_tag: str, to_tag: str, sdp: str) -> str:
        fields = {"call-id": call_id, "from-tag": from_tag, "to-tag": to_tag, "sdp": sdp}
        return str(self.request("answer", **fields)["sdp"])

    def start_recording(self, call_id: str) -> None:
        self.request("start recording", **{"call-id": call_id})

    def delete(self, call_id: str) -> dict[str, Any]:
        return self.request("delete", **{"call-id": call_id})


def _result(command: str, reply: Any) -> dict[str, Any]:
    if not isinstance(reply, dict):
        raise NgError(f"{command}: reply is not a dictionary: {reply!r}")
    if reply.get("result") == "error":
        raise NgError(f"{command}: {reply.get('error-reason', 'error')}")
    return reply
