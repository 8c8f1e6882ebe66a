import io
import struct
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from watchkeeper.errors import InputError, UnknownFormatError
from watchkeeper.netproto import LINKTYPE_ETHERNET, LINKTYPE_RAW, decode_link
from watchkeeper.pcap import read_capture, read_pcap, read_pcapng
from watchkeeper.testing.packets import PcapngWriter, PcapWriter, TcpSession, ip_packet, tcp_segment

DATA = Path(__file__).parent.parent / "data" / "pcap"
FRAMES = TcpSession("10.213.0.2", 40000, "10.213.0.1", 3333).handshake()
TS = [1_700_000_000.123456, 1_700_000_000.5, 1_700_000_001.000001]


def pcap_bytes(**kw) -> bytes:
    buf = io.BytesIO()
    w = PcapWriter(buf, **kw)
    for ts, f in zip(TS, FRAMES, strict=True):
        w.write(ts, f)
    return buf.getvalue()


@pytest.mark.parametrize("big_endian", [False, True])
@pytest.mark.parametrize("nano", [False, True])
def test_pcap_variants(big_endian, nano):
    recs = list(read_pcap(io.BytesIO(pcap_bytes(big_endian=big_endian, nano=nano))))
    assert [r.data for r in recs] == FRAMES
    assert [r.ts for r in recs] == pytest.approx(TS, abs=1e-6)
    assert {r.linktype for r in recs} == {LINKTYPE_ETHERNET}
    assert recs[0].offset == 24


def test_pcap_snapped_record_keeps_original_length():
    buf = io.BytesIO()
    PcapWriter(buf).write(1.0, FRAMES[0][:20], orig_len=len(FRAMES[0]))
    (rec,) = read_pcap(io.BytesIO(buf.getvalue()))
    assert len(rec.data) == 20 and rec.orig_len == len(FRAMES[0])


def pcapng_bytes(big_endian=False) -> bytes:
    buf = io.BytesIO()
    w = PcapngWriter(buf, big_endian=big_endian)
    eth = w.interface(LINKTYPE_ETHERNET, tsresol=6)
    raw = w.interface(LINKTYPE_RAW, tsresol=9)
    w.write(TS[0], FRAMES[0], eth)
    w.write_other(4, b"\0" * 8)  # name resolution block: skipped
    w.write(TS[1], ip_packet("10.0.0.1", "10.0.0.2", 6, tcp_segment(1, 2, 2)), raw)
    w.write_simple(FRAMES[1])
    w.write_obsolete(TS[2], FRAMES[2], eth)
    return buf.getvalue()


@pytest.mark.parametrize("big_endian", [False, True])
def test_pcapng_blocks_and_interfaces(big_endian):
    recs = list(read_pcapng(io.BytesIO(pcapng_bytes(big_endian))))
    assert [r.linktype for r in recs] == [
        LINKTYPE_ETHERNET,
        LINKTYPE_RAW,
        LINKTYPE_ETHERNET,
        LINKTYPE_ETHERNET,
    ]
    assert [r.interface for r in recs] == [0, 1, 0, 0]
    assert recs[0].ts == pytest.approx(TS[0], abs=1e-6) and recs[1].ts == pytest.approx(
        TS[1], abs=1e-6
    )
    assert recs[2].ts == 0.0 and recs[2].data == FRAMES[1]  # simple packet block: no time
    assert all(decode_link(r.linktype, r.data) is not None for r in recs)


def test_pcapng_two_sections_of_different_byte_order():
    data = pcapng_bytes(False) + pcapng_bytes(True)
    assert len(list(read_pcapng(io.BytesIO(data)))) == 8


def test_recorded_captures_decode():
    files = sorted(DATA.glob("*.pcap*"))
    assert len(files) >= 6
    for path in files:
        recs = list(read_capture(path))
        assert recs, path
        assert sum(decode_link(r.linktype, r.data) is not None for r in recs) >= len(recs) - 2
        ts = [r.ts for r in recs]
        assert ts == sorted(ts)


@pytest.mark.parametrize("maker", [pcap_bytes, pcapng_bytes])
def test_truncated_files_yield_what_was_read_then_error(tmp_path, maker):
    data = maker()
    recs = list(read_capture(_write(tmp_path, "full", data)))
    # a cut exactly between records is a valid, shorter file
    ends = {r.offset for r in recs} | {len(data)}
    errors = 0
    for cut in range(4, len(data)):
        path = _write(tmp_path, f"cut{cut}", data[:cut])
        got = []
        try:
            for rec in read_capture(path):
                got.append(rec)
        except InputError as exc:
            errors += 1
            assert str(path) in str(exc) and "offset" in str(exc)
            assert [r.data for r in got] == [r.data for r in recs[: len(got)]]
            continue
        assert cut in ends or maker is pcapng_bytes and _block_end(data, cut)
        assert len(got) < len(recs)
    assert errors > len(data) // 2


def _block_end(data: bytes, cut: int) -> bool:
    """True when ``cut`` falls between two pcapng blocks (a valid shorter file)."""
    pos = 0
    while pos < cut:
        end = "<" if data[8:12] == b"\x4d\x3c\x2b\x1a" else ">"
        pos += struct.unpack(end + "I", data[pos + 4 : pos + 8])[0]
    return pos == cut


def _write(tmp_path, name, data) -> Path:
    p = tmp_path / name
    p.write_bytes(data)
    return p


def test_corrupt_pcap_caplen(tmp_path):
    data = bytearray(pcap_bytes())
    struct.pack_into("<I", data, 24 + 8, 50_000_000)
    with pytest.raises(InputError, match="offset 24"):
        list(read_capture(_write(tmp_path, "bad", bytes(data))))


@pytest.mark.parametrize(
    "mutate,match",
    [
        (lambda d: struct.pack_into("<I", d, 28 + 4, 7), "length 7"),  # IDB total length
        (lambda d: struct.pack_into("<I", d, 28 + 4, 1 << 30), "length"),
        (lambda d: struct.pack_into("<I", d, 28 + 16, 99), "trailing length"),  # IDB trailer
        (lambda d: struct.pack_into("<I", d, 8, 0xDEADBEEF), "byte-order"),
    ],
)
def test_corrupt_pcapng(tmp_path, mutate, match):
    data = bytearray(pcapng_bytes())
    mutate(data)
    with pytest.raises(InputError, match=match):
        list(read_capture(_write(tmp_path, "bad", bytes(data))))


def test_unknown_interface(tmp_path):
    buf = io.BytesIO()
    w = PcapngWriter(buf)
    w.write_other(6, struct.pack("<IIIII", 3, 0, 0, 4, 4) + b"abcd")
    with pytest.raises(InputError, match="unknown interface 3"):
        list(read_capture(_write(tmp_path, "x", buf.getvalue())))


def test_not_a_capture_and_missing(tmp_path):
    with pytest.raises(UnknownFormatError):
        list(read_capture(_write(tmp_path, "t.txt", b"hello world")))
    with pytest.raises(InputError, match="cannot open"):
        list(read_capture(tmp_path / "nope.pcap"))


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(st.sampled_from(["pcap", "pcapng"]), st.binary(max_size=512), st.integers(0, 4096))
def test_random_bodies_only_raise_input_errors(tmp_path, kind, junk, pos):
    base = pcap_bytes() if kind == "pcap" else pcapng_bytes()
    pos %= len(base)
    data = base[:pos] + junk + base[pos + len(junk) :]
    path = _write(tmp_path, "f", data)
    try:
        for _ in read_capture(path):
            pass
    except InputError:
        pass
