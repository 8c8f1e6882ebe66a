"""State files: what each sandbox created, so leftovers of crashed runs can be removed.

``/run/watchkeeper/<id>.json`` is written *before* each part is created (names are known in
advance) and deleted after a clean teardown. :func:`cleanup_all` tears down every sandbox whose
owner process is gone; with ``orphans=True`` it also removes ``wk``-named parts that no state file
mentions (namespaces ``wk-*``, veths ``wkh*``, tables ``wk_*``, cgroups ``wk-*``).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from watchkeeper.errors import SandboxError
from watchkeeper.sandbox import _cmd, cgroup, firewall, netns

STATE_DIR = Path("/run/watchkeeper")
STATE_VERSION = 1
_ID_FILE_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}\.json$")


@dataclass(slots=True)
class StateRecord:
    """What one sandbox created (or was about to create)."""

    id: str
    owner_pid: int
    owner_start: int
    netns: str = ""
    host_if: str = ""
    table: str = ""
    cgroup_name: str = ""
    cgroup_v2: str = ""
    cgroup_v1: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> str:
        """Serialise (versioned)."""
        data: dict[str, Any] = {"version": STATE_VERSION}
        for item in fields(self):
            data[item.name] = getattr(self, item.name)
        return json.dumps(data, indent=1, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> StateRecord:
        """Parse; raises ValueError on anything unexpected."""
        data = json.loads(text)
        if not isinstance(data, dict) or data.get("version") != STATE_VERSION:
            raise ValueError("not a watchkeeper state file")
        v1 = data.get("cgroup_v1", {})
        if not isinstance(v1, dict):
            raise ValueError("bad cgroup_v1")
        return cls(
            id=str(data["id"]),
            owner_pid=int(data["owner_pid"]),
            owner_start=int(data["owner_start"]),
            netns=str(data.get("netns", "")),
            host_if=str(data.get("host_if", "")),
            table=str(data.get("table", "")),
            cgroup_name=str(data.get("cgroup_name", "")),
            cgroup_v2=str(data.get("cgroup_v2", "")),
            cgroup_v1={str(k): str(v) for k, v in v1.items()},
        )


def state_path(sandbox_id: str, state_dir: Path = STATE_DIR) -> Path:
    """Where the state of ``sandbox_id`` lives."""
    return state_dir / f"{sandbox_id}.json"


def write_state(record: StateRecord, state_dir: Path = STATE_DIR) -> Path:
    """Write atomically (temp file + rename)."""
    state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = state_path(record.id, state_dir)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(record.to_json())
    os.replace(tmp, path)
    return path


def process_start(pid: int) -> int:
    """Start time of ``pid`` in clock ticks since boot (0 when it does not exist)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0
    fields = text.rsplit(")", 1)[-1].split()
    try:
        return int(fields[19])
    except (IndexError, ValueError):
        return 0


def owner_alive(record: StateRecord) -> bool:
    """True when the process that made the sandbox still runs (pid reuse is detected)."""
    return record.owner_pid > 0 and process_start(record.owner_pid) == record.owner_start


def remove_parts(record: StateRecord) -> list[str]:
    """Tear down everything ``record`` names; returns the problems (empty when all went)."""
    problems: list[str] = []
    if record.cgroup_name:
        v2 = Path(record.cgroup_v2) if record.cgroup_v2 else None
        group = cgroup.Cgroup(record.cgroup_name, v2, {k: Path(v) for k, v in record.cgroup_v1.items()})
        if not group.paths:
            group = cgroup.find_groups(record.cgroup_name)
        try:
            group.remove()
        except SandboxError as exc:
            problems.append(str(exc))
    if record.table:
        firewall.delete_table(record.table)
        if record.table in firewall.list_tables():
            problems.append(f"nft table inet {record.table} is still there")
    if record.netns or record.host_if:
        try:
            netns.destroy_netns(netns.NetnsInfo(record.netns, record.host_if, ""))
        except SandboxError as exc:
            problems.append(str(exc))
    return problems


@dataclass(frozen=True, slots=True)
class CleanupReport:
    """What :func:`cleanup_all` did.

    Attributes:
        removed: Sandbox ids (and orphan part names) that were removed.
        live: Sandbox ids skipped because their owner still runs.
        problems: Parts that could not be removed, with the reason.
    """

    removed: tuple[str, ...] = ()
    live: tuple[str, ...] = ()
    problems: tuple[str, ...] = ()


def cleanup_all(*, state_dir: Path = STATE_DIR, orphans: bool = False) -> CleanupReport:
    """Remove the sandboxes of dead owners (and, with ``orphans``, unrecorded ``wk`` parts)."""
    _cmd.require_root()
    removed: list[str] = []
    live: list[str] = []
    problems: list[str] = []
    live_records: list[StateRecord] = []
    files = sorted(state_dir.glob("*.json")) if state_dir.is_dir() else []
    for path in files:
        if not _ID_FILE_RE.match(path.name):
            continue
        try:
            record = StateRecord.from_json(path.read_text())
        except (OSError, ValueError, KeyError, TypeError) as exc:
            problems.append(f"{path}: unreadable state file ({exc}); left in place")
            continue
        if owner_alive(record):
            live.append(record.id)
            live_records.append(record)
            continue
        issues = remove_parts(record)
        if issues:
            problems += [f"{record.id}: {issue}" for issue in issues]
            continue
        path.unlink(missing_ok=True)
        removed.append(record.id)
    if orphans:
        removed += _remove_orphans(live_records, problems)
    return CleanupReport(tuple(removed), tuple(live), tuple(problems))


def _remove_orphans(live: list[StateRecord], problems: list[str]) -> list[str]:
    removed: list[str] = []
    keep_ns = {r.netns for r in live}
    keep_if = {r.host_if for r in live}
    keep_tables = {r.table for r in live}
    keep_groups = {r.cgroup_name for r in live}
    for table in firewall.list_tables():
        if table not in keep_tables:
            firewall.delete_table(table)
            removed.append(f"nft:{table}")
    for name in os.listdir("/sys/class/net"):
        if re.fullmatch(r"wkh[0-9a-f]{10}", name) and name not in keep_if:
            if _cmd.ok(["ip", "link", "del", name]):
                removed.append(f"link:{name}")
    for name in netns.list_namespaces():
        if name not in keep_ns:
            if _cmd.ok(["ip", "netns", "del", name]):
                removed.append(f"netns:{name}")
    layout = cgroup.detect_layout()
    own = cgroup.own_cgroups()
    parents: set[Path] = set()
    if layout.v2_mount is not None:
        parents |= {layout.v2_mount / own.get("", "/").lstrip("/"), layout.v2_mount}
    for controller, mount in layout.v1_mounts.items():
        parents.add(mount / own.get(controller, "/").lstrip("/"))
    names: set[str] = set()
    for parent in parents:
        try:
            names |= {p.name for p in parent.iterdir() if p.name.startswith(cgroup.PREFIX)}
        except OSError:
            continue
    for dirname in sorted(names):
        name = dirname[len(cgroup.PREFIX):]
        if name in keep_groups:
            continue
        try:
            cgroup.find_groups(name, layout).remove()
            removed.append(f"cgroup:{dirname}")
        except SandboxError as exc:
            problems.append(str(exc))
    return removed
