"""Bytes sent to a new destination soon after a credential read: exfiltration (T1041, T1048).

Consumes FileEvents and NetworkEvents. A *credential read* is a FileEvent "read" of a sensitive
path (``~/.ssh/*``, ``~/.aws/*``, ``.netrc``, ``.env``, canaries...). For ``window_s`` seconds
(default 120) after such a read, the bytes the sandbox sends are summed per destination
(host name when known, else ip:port) over every flow that started or was active in the window;
bytes a flow had sent before the read do not count. More than ``threshold_bytes`` (default 512)
to a destination that is not on the allowlist is a high alert, once per destination per read.

Flow counters are cumulative per flow (5-tuple), as the network sensor reports them on
"traffic" and "close" events; a long-lived flow is therefore judged at its periodic update or
its close. The read and the upload need not be in the same step: agents fetch a secret in one
tool call and send it in the next.
"""

from __future__ import annotations

import fnmatch
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field

from watchkeeper.alerts import Alert, Evidence, Severity
from watchkeeper.detect.detectors._netcommon import AddressSet, destination, flow_key
from watchkeeper.events import FileEvent, NetworkEvent

RULE_ID = "detector:exfil"
ATTACK = ("T1041", "T1048")
SENSITIVE_PATTERNS: tuple[str, ...] = (
    "*/.ssh/*",
    "*/.aws/*",
    "*/.kube/*",
    "*/.docker/config.json",
    "*/.netrc",
    "*/.env",
    "*/.env.*",
    "*/.git-credentials",
    "*/.config/gcloud/*",
    "*/.azure/*",
    "*/.pgpass",
    "*/.npmrc",
    "*/.pypirc",
    "/etc/shadow",
    "/proc/*/environ",
)
"""Globs of credential paths (matched against the whole path)."""
_MAX_FLOWS = 16384
_MAX_SANDBOXES = 1024

FlowKey = tuple[str, str, int | None, str, int | None]


@dataclass(slots=True)
class _Read:
    event: FileEvent
    baseline: dict[FlowKey, int]  # bytes each known flow had sent at the time of the read
    sent: dict[str, int] = field(default_factory=dict)  # destination -> bytes since the read
    flows: dict[FlowKey, int] = field(default_factory=dict)  # flow -> bytes counted so far
    alerted: set[str] = field(default_factory=set)


@dataclass(slots=True)
class _Sandbox:
    flows: OrderedDict[FlowKey, tuple[int, float]] = field(default_factory=OrderedDict)
    reads: list[_Read] = field(default_factory=list)


class ExfilDetector:
    """Upload after a credential read.

    Args:
        allowlist: Destinations that never count: ip addresses, networks (CIDR) or host names
            (a name also matches its subdomains).
        threshold_bytes: Bytes to one destination above which it alerts.
        window_s: Seconds after a credential read during which uploads count.
        sensitive: Globs of credential paths; ``canaries`` are added to them.
        canaries: Exact paths of planted canary files.
    """

    name = "exfil"

    def __init__(
        self,
        *,
        allowlist: Iterable[str] = (),
        threshold_bytes: int = 512,
        window_s: float = 120.0,
        sensitive: Iterable[str] = SENSITIVE_PATTERNS,
        canaries: Iterable[str] = (),
    ) -> None:
        self.allowlist = AddressSet(allowlist)
        self.threshold_bytes = threshold_bytes
        self.window_s = window_s
        self.sensitive = tuple(sensitive)
        self.canaries = frozenset(canaries)
        self._sandboxes: OrderedDict[str, _Sandbox] = OrderedDict()

    def is_sensitive(self, path: str) -> bool:
        """True when ``path`` is a credential path or a canary."""
        return path in self.canaries or any(fnmatch.fnmatchcase(path, p) for p in self.sensitive)

    def observe(self, event: object) -> list[Alert]:
        """Track credential reads and flow counters; alerts for uploads after a read."""
        if isinstance(event, FileEvent):
            if event.activity == "read" and self.is_sensitive(event.path):
                box = self._box(event.sandbox_id)
                baseline = {k: sent for k, (sent, _) in box.flows.items()}
                box.reads.append(_Read(event, baseline))
                box.reads = box.reads[-8:]
            return []
        if not isinstance(event, NetworkEvent) or event.activity in ("refuse", "deny", "listen"):
            return []
        box = self._box(event.sandbox_id)
        key = flow_key(event)
        first_seen = box.flows.get(key, (0, event.ts))[1]
        box.flows[key] = (event.bytes_out, first_seen)
        box.flows.move_to_end(key)
        while len(box.flows) > _MAX_FLOWS:
            box.flows.popitem(last=False)
        if not box.reads:
            return []
        dest = destination(event)
        if self.allowlist.matches(event.dst_ip, event.dst_hostname):
            return []
        alerts: list[Alert] = []
        for read in list(box.reads):
            start = read.event.ts
            if max(first_seen, start) > start + self.window_s:
                continue  # the flow started after the window closed
            counted = max(0, event.bytes_out - read.baseline.get(key, 0))
            previous = read.flows.get(key, 0)
            if counted <= previous:
                continue
            read.flows[key] = counted
            read.sent[dest] = read.sent.get(dest, 0) + counted - previous
            if read.sent[dest] > self.threshold_bytes and dest not in read.alerted:
                read.alerted.add(dest)
                alerts.append(self._alert(read, event, dest))
        # reads whose window closed long ago are dropped
        horizon = event.ts - 2 * self.window_s
        box.reads = [r for r in box.reads if r.event.ts >= horizon]
        return alerts

    def _box(self, sandbox_id: str) -> _Sandbox:
        box = self._sandboxes.get(sandbox_id)
        if box is None:
            box = self._sandboxes[sandbox_id] = _Sandbox()
            while len(self._sandboxes) > _MAX_SANDBOXES:
                self._sandboxes.popitem(last=False)
        return box

    def _alert(self, read: _Read, event: NetworkEvent, dest: str) -> Alert:
        sent = read.sent[dest]
        delay = max(0.0, event.ts - read.event.ts)
        return Alert(
            rule_id=RULE_ID,
            title=f"Upload to {dest} after a credential read ({sent} bytes)",
            severity=Severity.HIGH,
            attack=ATTACK,
            confidence=0.8,
            evidence=(
                Evidence(event=read.event, field="path", text=read.event.path),
                Evidence(event=event, field="bytes_out", text=f"{sent} bytes to {dest}"),
            ),
            description=(
                f"{sent} bytes sent to {dest} {delay:.1f} s after {read.event.path} was read "
                f"(threshold {self.threshold_bytes} bytes within {self.window_s:g} s)"
            ),
            ts=event.ts,
            run_id=event.run_id or read.event.run_id,
            episode_id=event.episode_id or read.event.episode_id,
            step=event.step if event.step is not None else read.event.step,
            tool_call_id=event.tool_call_id or read.event.tool_call_id,
            sandbox_id=event.sandbox_id,
            rule_source="detector",
            tags=("file", "network"),
        )
