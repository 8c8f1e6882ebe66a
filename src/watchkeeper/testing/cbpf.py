"""A classic BPF interpreter, to test socket filter programs without a kernel.

It implements the instructions the network sensor's filter uses (loads, ldxb msh, jumps,
returns) with the kernel's semantics: an out-of-bounds load returns 0 (drop), ``SKF_AD_RANDOM``
comes from the ``random`` argument.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence

_RANDOM_K = (-0x1000 + 56) & 0xFFFFFFFF


def run_filter(
    program: Sequence[tuple[int, int, int, int]],
    packet: bytes,
    random: Callable[[], int] = lambda: 0,
) -> int:
    """The filter's return value for ``packet`` (bytes to keep; 0 = drop)."""
    a = x = 0
    pc = 0
    for _ in range(len(program) + 1):
        code, jt, jf, k = program[pc]
        pc += 1
        cls = code & 0x07
        if cls == 0x00:  # LD
            mode, size = code & 0xE0, code & 0x18
            if code == 0x20 and k == _RANDOM_K:
                a = random() & 0xFFFFFFFF
                continue
            off = k + (x if mode == 0x40 else 0)
            width = {0x00: 4, 0x08: 2, 0x10: 1}[size]
            if mode not in (0x20, 0x40) or off + width > len(packet):
                return 0
            a = int.from_bytes(packet[off : off + width], "big")
        elif code == 0xB1:  # LDX B MSH
            if k >= len(packet):
                return 0
            x = (packet[k] & 0x0F) * 4
        elif code == 0x05:  # JA
            pc += k
        elif cls == 0x05:  # JMP
            op = code & 0xF0
            if op == 0x10:
                taken = a == k
            elif op == 0x40:
                taken = bool(a & k)
            elif op == 0x20:
                taken = a > k
            elif op == 0x30:
                taken = a >= k
            else:
                raise ValueError(f"unsupported jump {code:#x}")
            pc += jt if taken else jf
        elif code == 0x06:  # RET K
            return k
        else:
            raise ValueError(f"unsupported instruction {code:#x}")
    raise ValueError("program did not return")


def encode(program: Sequence[tuple[int, int, int, int]]) -> bytes:
    """The program as the kernel's struct sock_filter array."""
    return b"".join(struct.pack("HBBI", *insn) for insn in program)
