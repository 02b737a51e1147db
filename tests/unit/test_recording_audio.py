"""A recording's pcap as WAV: the G.711 expansions, the frames the relay writes, two
streams mixed in place, repeats and other payloads skipped, damaged input refused."""

from __future__ import annotations

import struct
import warnings

import pytest

from vcc_site.service import recording_audio as ra


def rtp(at_s: float, ssrc: int, timestamp: int, payload_type: int, payload: bytes) -> bytes:
    """One pcap record: Ethernet, IPv4, UDP, RTP (as ``--recording-format=eth``)."""
    body = struct.pack("!BBHII", 0x80, payload_type, 0, timestamp, ssrc) + payload
    udp = struct.pack("!HHHH", 30000, 30002, 8 + len(body), 0) + body
    ip = struct.pack(
        "!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0, b"\x7f\0\0\1", b"\x7f\0\0\1"
    )
    frame = b"\0" * 12 + b"\x08\x00" + ip + udp
    sec, usec = int(at_s), round((at_s - int(at_s)) * 1e6)
    return struct.pack("<IIII", sec, usec, len(frame), len(frame)) + frame


def pcap(records: list[bytes]) -> bytes:
    header = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
    return header + b"".join(records)


def test_g711_tables_match_the_standard() -> None:
    assert ra.ALAW[0xD5] == 8 and ra.ALAW[0x55] == -8 and ra.ALAW[0xAA] == 32256
    assert ra.ULAW[0xFF] == 0 and ra.ULAW[0x00] == -32124 and ra.ULAW[0x80] == 32124
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            import audioop
        except ImportError:  # gone from the standard library (3.13)
            return
    every = bytes(range(256))
    assert struct.unpack("<256h", audioop.alaw2lin(every, 2)) == ra.ALAW
    assert struct.unpack("<256h", audioop.ulaw2lin(every, 2)) == ra.ULAW


def test_two_streams_mixed_where_they_were_heard() -> None:
    a = [rtp(10.0 + i * 0.02, 1, 8000 + 160 * i, ra.PCMA, b"\xd5" * 160) for i in range(3)]
    # the other direction starts 20 ms later, its own timestamps; a repeat and a keypad
    # event are skipped
    b = [rtp(10.02 + i * 0.02, 2, 50 + 160 * i, ra.PCMU, b"\x80" * 160) for i in range(3)]
    extra = [b[0], rtp(10.03, 2, 999, 101, b"\x01\x00\x00\xa0")]
    data = pcap(a + b + extra)
    samples = ra.mix(ra.rtp_packets(data))
    assert len(samples) == 160 * 4
    assert set(samples[:160]) == {8}  # A-law alone
    assert set(samples[160:480]) == {8 + 32124}  # both, summed
    assert set(samples[480:]) == {32124}  # μ-law alone
    wav = ra.pcap_to_wav(data)
    assert wav[:4] == b"RIFF" and wav[8:16] == b"WAVEfmt "
    assert struct.unpack("<I", wav[24:28])[0] == ra.RATE
    assert struct.unpack("<I", wav[40:44])[0] == 2 * len(samples) == len(wav) - 44
    assert ra.span_ms(data) == 60  # first to last packet of either direction


def test_nothing_to_decode_is_an_empty_wav_and_garbage_is_refused() -> None:
    assert ra.pcap_to_wav(pcap([])) == ra.wav(ra.mix([]))
    assert len(ra.pcap_to_wav(pcap([]))) == 44
    with pytest.raises(ra.PcapError):
        ra.pcap_to_wav(b"not a pcap file at all, no")
    cut = pcap([rtp(1.0, 1, 0, ra.PCMA, b"\xd5" * 160)])[:-10]
    assert ra.rtp_packets(cut) == []  # a record cut short is dropped
    far = pcap([rtp(1.0, 1, 0, ra.PCMA, b"\xd5"), rtp(1.02, 1, 0x7FFFFFFF, ra.PCMA, b"\xd5")])
    assert len(ra.mix(ra.rtp_packets(far))) == 1  # a timestamp jump past hours: damaged
