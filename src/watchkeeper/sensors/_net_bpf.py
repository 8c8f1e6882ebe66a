"""The classic BPF socket filter of the network sensor, and how to attach it.

What the kernel passes to Python (Ethernet frames on the host end of the sandbox's veth):

* non-IP frames (ARP...): the first ``snap_other`` bytes;
* IPv4 later fragments, and IP packets that are neither TCP nor UDP: ``snap_other`` bytes;
* TCP packets with SYN, FIN or RST: ``snap_data`` bytes (flow starts and ends are never sampled);
* other TCP packets and UDP datagrams: ``snap_data`` bytes, *unless* their port pair is on the
  exclusion list (flows the sensor has finished fingerprinting and that carry bulk traffic):
  then one packet in ``sample`` (kernel random, ``SKF_AD_RANDOM``) passes, cut to the headers
  (``snap_headers``), and the others never leave the kernel.

Ports are matched in both orders, so an entry covers both directions. The program is rebuilt and
swapped (``SO_ATTACH_FILTER`` replaces atomically) when the exclusion list changes.
"""

from __future__ import annotations

import ctypes
import socket
import struct
from collections.abc import Sequence
from dataclasses import dataclass

# opcodes (linux/filter.h)
LD_W_ABS = 0x20
LD_H_ABS = 0x28
LD_B_ABS = 0x30
LD_W_IND = 0x40
LD_B_IND = 0x50
LDX_B_MSH = 0xB1
JMP_JA = 0x05
JMP_JEQ_K = 0x15
JMP_JSET_K = 0x45
RET_K = 0x06

SKF_AD_OFF = -0x1000
SKF_AD_RANDOM = 56
SO_ATTACH_FILTER = 26
BPF_MAXINSNS = 4096

Insn = tuple[int, int, int, int]


@dataclass(frozen=True, slots=True)
class FilterConfig:
    """Snap lengths and sampling of the socket filter.

    Attributes:
        snap_data: Bytes passed of TCP/UDP packets of flows not excluded (Ethernet + IP + TCP
            headers + the first payload bytes the fingerprinters read).
        snap_headers: Bytes passed of a sampled packet of an excluded flow (all headers).
        snap_other: Bytes passed of other frames.
        sample: One in ``sample`` packets of an excluded flow passes (a power of two).
        max_excluded: Most port pairs on the exclusion list (4 instructions each).
    """

    snap_data: int = 2304
    snap_headers: int = 134
    snap_other: int = 256
    sample: int = 1024
    max_excluded: int = 512

    def __post_init__(self) -> None:
        if self.sample < 1 or self.sample & (self.sample - 1):
            raise ValueError("sample must be a power of two")
        if 4 * self.max_excluded + 32 > BPF_MAXINSNS:
            raise ValueError("max_excluded too large for a classic BPF program")


class _Asm:
    """A tiny assembler with forward labels (jt/jf are 8-bit, ja is 32-bit)."""

    def __init__(self) -> None:
        self.code: list[tuple[int, int | str, int | str, int | str]] = []
        self.labels: dict[str, int] = {}

    def label(self, name: str) -> None:
        self.labels[name] = len(self.code)

    def op(self, code: int, k: int | str = 0, jt: int | str = 0, jf: int | str = 0) -> None:
        self.code.append((code, jt, jf, k))

    def assemble(self) -> list[Insn]:
        out: list[Insn] = []
        for pc, (code, jt, jf, k) in enumerate(self.code):

            def rel(target: int | str, pc: int = pc) -> int:
                return target if isinstance(target, int) else self.labels[target] - pc - 1

            if code == JMP_JA:
                out.append((code, 0, 0, rel(k) & 0xFFFFFFFF))
                continue
            t, f = rel(jt), rel(jf)
            if not (0 <= t <= 255 and 0 <= f <= 255):
                raise ValueError(f"jump out of range at {pc}")
            kk = k if isinstance(k, int) else 0
            out.append((code, t, f, kk & 0xFFFFFFFF))
        return out


def build_program(
    excluded: Sequence[tuple[int, int]] = (), config: FilterConfig | None = None
) -> list[Insn]:
    """The filter program for Ethernet frames, with ``excluded`` (port, port) pairs sampled."""
    cfg = config or FilterConfig()
    a = _Asm()
    a.op(LD_H_ABS, 12)
    a.op(JMP_JEQ_K, 0x0800, "v4", 0)
    a.op(JMP_JEQ_K, 0x86DD, "v6", "other")
    # IPv4
    a.label("v4")
    a.op(LD_H_ABS, 20)
    a.op(JMP_JSET_K, 0x1FFF, "other", 0)  # later fragment: no ports
    a.op(LD_B_ABS, 23)
    a.op(JMP_JEQ_K, 6, 0, "v4udp")
    a.op(LDX_B_MSH, 14)
    a.op(LD_B_IND, 14 + 13)
    a.op(JMP_JSET_K, 0x07, "data", 0)  # FIN|SYN|RST: always, full snap
    a.op(LD_W_IND, 14)
    a.op(JMP_JA, "excl")
    a.label("v4udp")
    a.op(JMP_JEQ_K, 17, 0, "other")
    a.op(LDX_B_MSH, 14)
    a.op(LD_W_IND, 14)
    a.op(JMP_JA, "excl")
    # IPv6 (no extension headers; anything else gets snap_other)
    a.label("v6")
    a.op(LD_B_ABS, 20)
    a.op(JMP_JEQ_K, 6, 0, "v6udp")
    a.op(LD_B_ABS, 14 + 40 + 13)
    a.op(JMP_JSET_K, 0x07, "data", 0)
    a.op(LD_W_ABS, 14 + 40)
    a.op(JMP_JA, "excl")
    a.label("v6udp")
    a.op(JMP_JEQ_K, 17, 0, "other")
    a.op(LD_W_ABS, 14 + 40)
    a.op(JMP_JA, "excl")
    # the returns sit before the (long) list so the 8-bit conditional jumps reach them
    a.label("data")
    a.op(RET_K, cfg.snap_data)
    a.label("other")
    a.op(RET_K, cfg.snap_other)
    # exclusion list: A holds (sport << 16 | dport); jumps only go forward
    a.label("excl")
    for p, q in list(excluded)[: cfg.max_excluded]:
        for word in ((p << 16) | q, (q << 16) | p):
            a.op(JMP_JEQ_K, word, 0, 1)
            a.op(JMP_JA, "sample")
    a.op(RET_K, cfg.snap_data)
    a.label("sample")
    a.op(LD_W_ABS, (SKF_AD_OFF + SKF_AD_RANDOM) & 0xFFFFFFFF)
    a.op(JMP_JSET_K, cfg.sample - 1, "drop", 0)
    a.op(RET_K, cfg.snap_headers)
    a.label("drop")
    a.op(RET_K, 0)
    return a.assemble()


def attach(sock: socket.socket, program: Sequence[Insn]) -> None:
    """Attach (or atomically replace) a classic BPF filter on a socket."""
    raw = b"".join(struct.pack("HBBI", *insn) for insn in program)
    buf = ctypes.create_string_buffer(raw, len(raw))
    fprog = struct.pack("HL", len(program), ctypes.addressof(buf))
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)
