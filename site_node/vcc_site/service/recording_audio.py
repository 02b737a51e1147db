"""A recording's pcap turned into audio a browser or a player plays: WAV, 8 kHz, 16-bit
mono, the G.711 (PCMA/PCMU) RTP streams in it decoded and mixed.

The media relay writes the packets as it relayed them (``--recording-format=eth``:
Ethernet, IPv4/IPv6, UDP, RTP). Each RTP stream (SSRC) is placed by its RTP timestamps
from the moment its first packet was seen, so both directions of a call line up; other
payloads (keypad events, comfort noise) are skipped. Pure: bytes in, bytes out. The
G.711 expansions are the ITU-T tables' (the standard library's ``audioop`` is
deprecated).
"""

from __future__ import annotations

import struct
import sys
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field

RATE = 8000
MAX_SECONDS = 4 * 3600  # a longer span is a damaged file, not a call
PCMU, PCMA = 0, 8
_ETHERNET, _RAW, _LINUX_SLL, _IPV4 = 1, 101, 113, 228


class PcapError(ValueError):
    """Not a pcap file this module reads."""


def _ulaw(byte: int) -> int:
    u = ~byte & 0xFF
    exponent, mantissa = (u >> 4) & 7, u & 0x0F
    sample = (((mantissa << 3) + 0x84) << exponent) - 0x84
    return -sample if u & 0x80 else sample


def _alaw(byte: int) -> int:
    a = byte ^ 0x55
    exponent, mantissa = (a >> 4) & 7, a & 0x0F
    if exponent == 0:
        sample = (mantissa << 4) + 8
    else:
        sample = ((mantissa << 4) + 0x108) << (exponent - 1)
    return sample if a & 0x80 else -sample


ULAW = tuple(_ulaw(b) for b in range(256))
ALAW = tuple(_alaw(b) for b in range(256))
TABLES = {PCMU: ULAW, PCMA: ALAW}
_PAIRS = {pt: tuple(struct.pack("=h", v) for v in t) for pt, t in TABLES.items()}


@dataclass
class Packet:
    at_s: float
    ssrc: int
    timestamp: int
    payload_type: int
    payload: bytes


def records(data: bytes) -> Iterator[tuple[float, int, bytes]]:
    """``(time, link type, frame)`` of each record of a classic pcap file."""
    if len(data) < 24:
        raise PcapError("too short for a pcap header")
    magic = data[:4]
    order = {b"\xd4\xc3\xb2\xa1": "<", b"\xa1\xb2\xc3\xd4": ">"}.get(magic)
    nano = {b"\x4d\x3c\xb2\xa1": "<", b"\xa1\xb2\x3c\x4d": ">"}.get(magic)
    endian = order or nano
    if endian is None:
        raise PcapError("not a pcap file")
    link = struct.unpack(endian + "I", data[20:24])[0]
    scale = 1e-9 if nano else 1e-6
    at = 24
    while at + 16 <= len(data):
        sec, frac, size, _ = struct.unpack(endian + "IIII", data[at : at + 16])
        frame = data[at + 16 : at + 16 + size]
        at += 16 + size
        if len(frame) == size:
            yield sec + frac * scale, link, frame


def _ip_payload(link: int, frame: bytes) -> bytes | None:
    """The UDP datagram's payload in a frame, or None."""
    if link == _ETHERNET:
        ip, proto_at = frame[14:], frame[12:14]
        if proto_at == b"\x81\x00":  # a VLAN tag
            ip, proto_at = frame[18:], frame[16:18]
    elif link == _LINUX_SLL:
        ip = frame[16:]
    elif link in (_RAW, _IPV4):
        ip = frame
    else:
        return None
    if not ip:
        return None
    version = ip[0] >> 4
    if version == 4:
        header, proto = (ip[0] & 0x0F) * 4, ip[9] if len(ip) > 9 else 0
    elif version == 6:
        header, proto = 40, ip[6] if len(ip) > 6 else 0
    else:
        return None
    if proto != 17 or len(ip) < header + 8:
        return None
    return ip[header + 8 :]


def _rtp(at_s: float, data: bytes) -> Packet | None:
    if len(data) < 12 or data[0] >> 6 != 2:
        return None
    count, extension, padding = data[0] & 0x0F, data[0] & 0x10, data[0] & 0x20
    start = 12 + 4 * count
    if extension and len(data) >= start + 4:
        start += 4 + 4 * struct.unpack("!H", data[start + 2 : start + 4])[0]
    end = len(data) - (data[-1] if padding and data else 0)
    if start >= end:
        return None
    timestamp, ssrc = struct.unpack("!II", data[4:12])
    return Packet(at_s, ssrc, timestamp, data[1] & 0x7F, data[start:end])


def rtp_packets(data: bytes) -> list[Packet]:
    """The RTP packets of a pcap (anything else skipped)."""
    found: list[Packet] = []
    for at_s, link, frame in records(data):
        udp = _ip_payload(link, frame)
        packet = _rtp(at_s, udp) if udp is not None else None
        if packet is not None:
            found.append(packet)
    return found


@dataclass
class _Stream:
    first_at_s: float
    first_timestamp: int
    seen: set[int] = field(default_factory=set)  # positions of its packets placed


def _decode(p: Packet) -> array[int]:
    table = _PAIRS[p.payload_type]
    return array("i", array("h", b"".join(table[b] for b in p.payload)))


def _place(out: array[int], position: int, samples: array[int]) -> None:
    """Add ``samples`` into ``out`` at ``position`` (growing it)."""
    overlap = max(0, min(len(out) - position, len(samples)))
    for i in range(overlap):
        out[position + i] += samples[i]
    if position > len(out):
        out.extend(array("i", bytes(4 * (position - len(out)))))
    out.extend(samples[overlap:])


def mix(packets: list[Packet]) -> array[int]:
    """The G.711 streams decoded, placed and summed (clipped to 16 bits)."""
    voice = [p for p in packets if p.payload_type in TABLES]
    if not voice:
        return array("h")
    origin = min(p.at_s for p in voice)
    limit = MAX_SECONDS * RATE
    out = array("i")
    streams: dict[int, _Stream] = {}
    for p in voice:
        stream = streams.setdefault(p.ssrc, _Stream(p.at_s, p.timestamp))
        offset = round((stream.first_at_s - origin) * RATE)
        position = offset + (p.timestamp - stream.first_timestamp) % (1 << 32)
        end = position + len(p.payload)
        if end > limit or position in stream.seen:  # damaged, or a repeated packet
            continue
        stream.seen.add(position)
        _place(out, position, _decode(p))
    if out and (max(out) > 32767 or min(out) < -32768):
        return array("h", (max(-32768, min(32767, v)) for v in out))
    return array("h", out)


def wav(samples: array[int]) -> bytes:
    """A WAV file (PCM, 8 kHz, 16-bit, mono) of ``samples``."""
    if sys.byteorder == "big":
        samples = array("h", samples)
        samples.byteswap()
    body = samples.tobytes()
    header = struct.pack(
        "<4sI4s4sIHHIIHH4sI",
        b"RIFF",
        36 + len(body),
        b"WAVE",
        b"fmt ",
        16,
        1,  # PCM
        1,  # mono
        RATE,
        RATE * 2,
        2,
        16,
        b"data",
        len(body),
    )
    return header + body


def pcap_to_wav(data: bytes) -> bytes:
    return wav(mix(rtp_packets(data)))


def span_ms(data: bytes) -> int:
    """First to last packet of a pcap, in ms (0 when it has fewer than two)."""
    stamps = [at_s for at_s, _, _ in records(data)]
    return round((max(stamps) - min(stamps)) * 1000) if len(stamps) > 1 else 0
