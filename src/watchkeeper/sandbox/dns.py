"""The sandbox's DNS forwarder: answers allowed names only, reports every query.

It listens on the host end's address, port 53 (UDP and TCP); the sandbox's ``/etc/resolv.conf``
points there and the firewall always lets port 53 to the host end through. Allowed names
(exact, or ``*.suffix`` for subdomains) are resolved by a pluggable :class:`Resolver`: a static map
for tests and demos, or the host's own resolver when the user configures it. Before answering, the
forwarder hands the addresses to ``on_allow`` (the firewall opens them for a while). Denied names
get NXDOMAIN (or REFUSED). Only A queries get addresses: IPv6 is off inside the sandbox, and other
types of allowed names get an empty NOERROR answer.

The wire format code is our own and treats every packet as hostile: it never raises past the
server loop, bounds name length and compression jumps, and answers garbage with FORMERR or nothing.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import selectors
import socket
import struct
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Literal, Protocol

from watchkeeper.errors import SandboxError

log = logging.getLogger(__name__)

QTYPES: dict[int, str] = {
    1: "A", 2: "NS", 5: "CNAME", 6: "SOA", 12: "PTR", 15: "MX", 16: "TXT", 28: "AAAA",
    33: "SRV", 35: "NAPTR", 64: "SVCB", 65: "HTTPS", 99: "SPF", 255: "ANY",
}
RCODES: dict[int, str] = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP",
                          5: "REFUSED"}
NOERROR, FORMERR, SERVFAIL, NXDOMAIN, NOTIMP, REFUSED = 0, 1, 2, 3, 4, 5
MAX_ANSWERS = 16
_MAX_JUMPS = 16
_SAFE = frozenset(b"abcdefghijklmnopqrstuvwxyz0123456789-_*")


class DnsFormatError(ValueError):
    """A DNS packet that cannot be parsed."""


@dataclass(frozen=True, slots=True)
class DnsQuestion:
    """The parts of a query the forwarder needs.

    Attributes:
        id: Transaction id.
        flags: Header flags of the query.
        name: Lower-case name without the trailing dot; bytes outside ``[a-z0-9-_*]`` are escaped
            as ``\\DDD`` so they cannot spoof label boundaries.
        qtype: Numeric query type.
        qclass: Numeric query class (1 = IN).
        labels: The raw labels, for the echoed question.
    """

    id: int
    flags: int
    name: str
    qtype: int
    qclass: int
    labels: tuple[bytes, ...]

    @property
    def qtype_name(self) -> str:
        """``"A"``, ``"AAAA"``... or ``"TYPE<n>"``."""
        return QTYPES.get(self.qtype, f"TYPE{self.qtype}")


def parse_query(packet: bytes) -> DnsQuestion:
    """Parse a DNS query with exactly one question.

    Raises:
        DnsFormatError: Anything malformed, a response (QR set), an opcode other than QUERY.
    """
    if len(packet) < 12:
        raise DnsFormatError("shorter than a DNS header")
    ident, flags, qdcount, _an, _ns, _ar = struct.unpack_from("!6H", packet, 0)
    if flags & 0x8000:
        raise DnsFormatError("a response, not a query")
    if (flags >> 11) & 0xF:
        raise DnsFormatError("opcode is not QUERY")
    if qdcount != 1:
        raise DnsFormatError(f"{qdcount} questions")
    labels, offset = _read_name(packet, 12)
    if offset + 4 > len(packet):
        raise DnsFormatError("question truncated")
    qtype, qclass = struct.unpack_from("!HH", packet, offset)
    return DnsQuestion(ident, flags, _presentation(labels), qtype, qclass, labels)


def _read_name(packet: bytes, offset: int) -> tuple[tuple[bytes, ...], int]:
    labels: list[bytes] = []
    total = 0
    jumps = 0
    end: int | None = None
    pos = offset
    while True:
        if pos >= len(packet):
            raise DnsFormatError("name runs past the packet")
        length = packet[pos]
        if length & 0xC0 == 0xC0:
            if pos + 1 >= len(packet):
                raise DnsFormatError("truncated compression pointer")
            target = ((length & 0x3F) << 8) | packet[pos + 1]
            jumps += 1
            if jumps > _MAX_JUMPS or target >= pos:
                raise DnsFormatError("compression loop")
            if end is None:
                end = pos + 2
            pos = target
            continue
        if length & 0xC0:
            raise DnsFormatError("unsupported label type")
        pos += 1
        if length == 0:
            break
        if pos + length > len(packet):
            raise DnsFormatError("label runs past the packet")
        total += length + 1
        if total > 255:
            raise DnsFormatError("name longer than 255 bytes")
        labels.append(packet[pos : pos + length])
        pos += length
    return tuple(labels), (end if end is not None else pos)


def _presentation(labels: Sequence[bytes]) -> str:
    parts = []
    for label in labels:
        lowered = label.lower()
        parts.append(
            "".join(chr(b) if b in _SAFE else f"\\{b:03d}" for b in lowered)
        )
    return ".".join(parts)


def build_response(
    question: DnsQuestion, rcode: int, answers: Sequence[str] = (), ttl: int = 60
) -> bytes:
    """Encode the answer to ``question``: A records for the IPv4 ``answers``, at most 16."""
    records = [a for a in answers if _ipv4(a)][:MAX_ANSWERS]
    flags = 0x8000 | 0x0400 | (question.flags & 0x0100) | 0x0080 | (rcode & 0xF)
    out = bytearray(struct.pack("!6H", question.id, flags, 1, len(records), 0, 0))
    for label in question.labels:
        out += bytes([len(label)]) + label
    out += b"\x00" + struct.pack("!HH", question.qtype, question.qclass)
    for addr in records:
        out += struct.pack("!HHHIH", 0xC00C, 1, 1, max(0, ttl), 4)
        out += ipaddress.IPv4Address(addr).packed
    return bytes(out)


def build_error(packet: bytes, rcode: int) -> bytes | None:
    """A header-only error answer echoing the id of ``packet``; None when even that is unreadable
    or the packet is itself a response (never answer a response: no reflection loops)."""
    if len(packet) < 12:
        return None
    ident, flags = struct.unpack_from("!HH", packet, 0)
    if flags & 0x8000:
        return None
    out_flags = 0x8000 | (flags & 0x7900) | 0x0080 | (rcode & 0xF)
    return struct.pack("!6H", ident, out_flags, 0, 0, 0, 0)


def name_matches(pattern: str, name: str) -> bool:
    """``example.com`` matches itself; ``*.example.com`` matches its subdomains, not itself."""
    pattern = pattern.lower().rstrip(".")
    if pattern.startswith("*."):
        suffix = pattern[1:]
        return name.endswith(suffix) and len(name) > len(suffix)
    return name == pattern


# --------------------------------------------------------------------- resolvers


class Resolver(Protocol):
    """Turns an allowed name into addresses."""

    def resolve(self, name: str, qtype: str) -> tuple[str, ...]:
        """Return the addresses of ``name`` (empty when it does not exist)."""
        ...


class StaticResolver:
    """Answers from a fixed map; keys may be exact names or ``*.suffix`` patterns."""

    def __init__(self, table: Mapping[str, Sequence[str]]) -> None:
        """Validate the map (addresses must be IPv4 or IPv6 literals; ``SandboxError`` if not)."""
        self._table: dict[str, tuple[str, ...]] = {}
        for key, values in table.items():
            try:
                addresses = tuple(str(ipaddress.ip_address(v)) for v in values)
            except ValueError as exc:
                raise SandboxError(f"DNS map entry {key!r}: {exc}") from exc
            self._table[key.lower().rstrip(".")] = addresses

    def resolve(self, name: str, qtype: str) -> tuple[str, ...]:
        """Exact key first, then the longest matching ``*.suffix`` key."""
        if name in self._table:
            return self._table[name]
        best: tuple[int, tuple[str, ...]] = (0, ())
        for key, values in self._table.items():
            if key.startswith("*.") and name_matches(key, name) and len(key) > best[0]:
                best = (len(key), values)
        return best[1]


class SystemResolver:
    """Resolves through the host's own resolver (``getaddrinfo``): real DNS, configure it on purpose."""

    def resolve(self, name: str, qtype: str) -> tuple[str, ...]:
        """IPv4 addresses of ``name``; empty when it does not resolve."""
        try:
            infos = socket.getaddrinfo(name, None, socket.AF_INET, socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError, OSError):
            return ()
        return tuple(dict.fromkeys(str(info[4][0]) for info in infos))


# --------------------------------------------------------------------- server


@dataclass(frozen=True, slots=True)
class DnsQuery:
    """One query the forwarder saw (what ``on_query`` receives).

    Attributes:
        name: Queried name (lower case, escaped as in :class:`DnsQuestion`); "" when unparsable.
        qtype: ``"A"``, ``"AAAA"``...
        answers: Addresses returned.
        allowed: Whether the name is on the allowlist.
        client: (address, port) of the asking socket.
        rcode: Response code sent (``"NOERROR"``, ``"NXDOMAIN"``, ``"FORMERR"``...).
        transport: ``"udp"`` or ``"tcp"``.
        ts: Seconds since the epoch when the query arrived.
    """

    name: str
    qtype: str
    answers: tuple[str, ...]
    allowed: bool
    client: tuple[str, int]
    rcode: str
    transport: Literal["udp", "tcp"] = "udp"
    ts: float = 0.0


QueryCallback = Callable[[DnsQuery], None]
AllowCallback = Callable[[str, tuple[str, ...], int], object]


class DnsForwarder:
    """A small threaded DNS server for one sandbox."""

    def __init__(
        self,
        bind_addr: str,
        *,
        allow: Sequence[str],
        resolver: Resolver,
        on_query: QueryCallback | None = None,
        on_allow: AllowCallback | None = None,
        port: int = 53,
        ttl: int = 60,
        denied_rcode: Literal["NXDOMAIN", "REFUSED"] = "NXDOMAIN",
        tcp: bool = True,
        workers: int = 4,
        max_pending: int = 256,
    ) -> None:
        """Configure; :meth:`start` binds the sockets.

        Args:
            bind_addr: Address to listen on (the host end of the sandbox's veth).
            allow: Allowed names: exact or ``*.suffix``.
            resolver: Source of addresses for allowed names.
            on_query: Called once per query (observers fail open: exceptions are logged).
            on_allow: Called with (name, IPv4 addresses, ttl) before an allowed answer is sent;
                if it raises, the query gets SERVFAIL (enforcement fails closed).
        """
        self.bind_addr = bind_addr
        self.port = port
        self.allow = tuple(p.lower().rstrip(".") for p in allow)
        self.resolver = resolver
        self.on_query = on_query
        self.on_allow = on_allow
        self.ttl = ttl
        self.denied_rcode = NXDOMAIN if denied_rcode == "NXDOMAIN" else REFUSED
        self.tcp = tcp
        self._workers = workers
        self._pending = threading.BoundedSemaphore(max_pending)
        self._udp: socket.socket | None = None
        self._tcp: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stop_r, self._stop_w = -1, -1
        self._pool: ThreadPoolExecutor | None = None
        self._tcp_slots = threading.BoundedSemaphore(16)

    @property
    def address(self) -> tuple[str, int]:
        """The (address, port) the UDP socket is bound to."""
        if self._udp is None:
            return (self.bind_addr, self.port)
        host, port = self._udp.getsockname()[:2]
        return (str(host), int(port))

    def is_allowed(self, name: str) -> bool:
        """True when ``name`` matches an allow pattern."""
        return any(name_matches(p, name) for p in self.allow)

    def start(self) -> None:
        """Bind UDP (and TCP) and serve in a daemon thread."""
        if self._thread is not None:
            return
        try:
            udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            udp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            udp.bind((self.bind_addr, self.port))
            self._udp = udp
            if self.tcp:
                tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                tcp.bind((self.bind_addr, self.address[1]))
                tcp.listen(16)
                tcp.setblocking(False)
                self._tcp = tcp
        except OSError as exc:
            self._close_sockets()
            raise SandboxError(
                f"cannot listen for DNS on {self.bind_addr}:{self.port}: {exc.strerror}"
            ) from exc
        self._stop_r, self._stop_w = _pipe()
        self._pool = ThreadPoolExecutor(self._workers, thread_name_prefix="wk-dns")
        self._thread = threading.Thread(target=self._serve, name="wk-dns", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and close the sockets (idempotent)."""
        thread = self._thread
        if thread is None:
            return
        try:
            _write_byte(self._stop_w)
            thread.join(5)
        finally:
            self._thread = None
            if self._pool is not None:
                self._pool.shutdown(wait=True, cancel_futures=True)
                self._pool = None
            self._close_sockets()
            for fd in (self._stop_r, self._stop_w):
                _close_fd(fd)
            self._stop_r = self._stop_w = -1

    def __enter__(self) -> DnsForwarder:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ----------------------------------------------------------------- loop

    def _serve(self) -> None:
        assert self._udp is not None
        sel = selectors.DefaultSelector()
        sel.register(self._udp, selectors.EVENT_READ, "udp")
        if self._tcp is not None:
            sel.register(self._tcp, selectors.EVENT_READ, "tcp")
        sel.register(self._stop_r, selectors.EVENT_READ, "stop")
        try:
            while True:
                for key, _ in sel.select():
                    if key.data == "stop":
                        return
                    if key.data == "udp":
                        self._on_udp()
                    else:
                        self._on_tcp_accept()
        except Exception:  # the loop must never die silently
            log.exception("DNS forwarder loop failed")
        finally:
            sel.close()

    def _on_udp(self) -> None:
        assert self._udp is not None
        try:
            packet, client = self._udp.recvfrom(4096)
        except OSError:
            return
        if not self._pending.acquire(blocking=False):
            return  # overloaded: drop, like a busy server
        assert self._pool is not None
        sock = self._udp

        def work() -> None:
            try:
                reply = self.handle(packet, (str(client[0]), int(client[1])), "udp")
                if reply is not None:
                    sock.sendto(reply, client)
            except OSError:
                pass
            finally:
                self._pending.release()

        try:
            self._pool.submit(work)
        except RuntimeError:
            self._pending.release()

    def _on_tcp_accept(self) -> None:
        assert self._tcp is not None and self._pool is not None
        try:
            conn, client = self._tcp.accept()
        except OSError:
            return
        if not self._tcp_slots.acquire(blocking=False):
            conn.close()
            return

        def work() -> None:
            try:
                self._serve_tcp(conn, (str(client[0]), int(client[1])))
            finally:
                conn.close()
                self._tcp_slots.release()

        try:
            self._pool.submit(work)
        except RuntimeError:
            conn.close()
            self._tcp_slots.release()

    def _serve_tcp(self, conn: socket.socket, client: tuple[str, int]) -> None:
        conn.settimeout(3.0)
        for _ in range(16):
            header = _recv_exact(conn, 2)
            if header is None:
                return
            (length,) = struct.unpack("!H", header)
            packet = _recv_exact(conn, length) if length else b""
            if packet is None:
                return
            reply = self.handle(packet, client, "tcp")
            if reply is None:
                return
            try:
                conn.sendall(struct.pack("!H", len(reply)) + reply)
            except OSError:
                return

    # ----------------------------------------------------------------- policy

    def handle(
        self, packet: bytes, client: tuple[str, int], transport: Literal["udp", "tcp"] = "udp"
    ) -> bytes | None:
        """Answer one query packet (never raises); None means send nothing."""
        ts = time.time()
        try:
            question = parse_query(packet)
        except DnsFormatError:
            reply = build_error(packet, FORMERR)
            if reply is not None:
                self._report(DnsQuery("", "", (), False, client, "FORMERR", transport, ts))
            return reply
        except Exception:  # defensive: the parser must never take the server down
            log.exception("DNS parse failed")
            return None
        name, qtype = question.name, question.qtype_name
        allowed = question.qclass == 1 and self.is_allowed(name)
        answers: tuple[str, ...] = ()
        if not allowed:
            rcode = self.denied_rcode
        elif question.qtype != 1:
            rcode = NOERROR  # allowed name, but only A records are served
        else:
            try:
                answers = tuple(a for a in self.resolver.resolve(name, qtype) if _ipv4(a))
                answers = answers[:MAX_ANSWERS]
                rcode = NOERROR if answers else NXDOMAIN
                if answers and self.on_allow is not None:
                    self.on_allow(name, answers, self.ttl)
            except Exception:
                log.exception("resolving or allowing %s failed", name)
                answers, rcode = (), SERVFAIL
        self._report(DnsQuery(name, qtype, answers, allowed, client, RCODES[rcode], transport, ts))
        return build_response(question, rcode, answers, self.ttl)

    def _report(self, query: DnsQuery) -> None:
        if self.on_query is None:
            return
        try:
            self.on_query(query)
        except Exception:
            log.exception("DNS query callback failed")

    def _close_sockets(self) -> None:
        for sock in (self._udp, self._tcp):
            if sock is not None:
                sock.close()
        self._udp = self._tcp = None


def _ipv4(text: str) -> bool:
    try:
        ipaddress.IPv4Address(text)
    except ValueError:
        return False
    return True


def _recv_exact(conn: socket.socket, size: int) -> bytes | None:
    data = bytearray()
    while len(data) < size:
        try:
            chunk = conn.recv(size - len(data))
        except OSError:
            return None
        if not chunk:
            return None
        data += chunk
    return bytes(data)


def _pipe() -> tuple[int, int]:
    return os.pipe()


def _write_byte(fd: int) -> None:
    try:
        os.write(fd, b"x")
    except OSError:
        pass


def _close_fd(fd: int) -> None:
    if fd >= 0:
        try:
            os.close(fd)
        except OSError:
            pass
