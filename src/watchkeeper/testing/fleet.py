"""A synthetic fleet of agent episodes and the external alerts they caused, with ground truth.

Episodes run back to back on a pool of sandbox addresses (each address is re-used by later
episodes, as in a real fleet). Each step has a recorded start and end; the agent thinks between
steps. A known subset of steps causes alerts, timed inside the step's command, then shifted by
a random clock skew and written in a mix of log formats (Suricata EVE, Zeek TSV and JSON,
nftables/iptables lines with ISO, RFC 3164 and dmesg stamps, CSV). Noise alerts from addresses
outside the map, and from sandbox addresses while idle, must stay unattributed.

Addresses are 10.88.0.0/16 (sandboxes), 10.99.0.0/16 (noise) and the documentation ranges
203.0.113.0/24 and 198.51.100.0/24 (remote ends); nothing is sent anywhere: these are log lines.
"""

from __future__ import annotations

import csv
import heapq
import json
import random
from array import array
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from watchkeeper.attribution.correlate import Attribution, Correlator
from watchkeeper.attribution.external import ExternalAlert, Lease
from watchkeeper.trajectories import Step, ToolCall, ToolKind, Trajectory

#: Log formats the generator writes (file name: <format>.log / .json / .csv).
ALERT_FORMATS = ("suricata", "zeek-conn-tsv", "zeek-notice-json", "nft-iso",
                 "iptables-syslog", "iptables-dmesg", "csv")
_SIGNATURES = ("ET POLICY Outbound SSH to non-standard port", "ET COINMINER Stratum login",
               "ET INFO Tunnel service DNS lookup", "ET SCAN Nmap SYN scan",
               "ET POLICY curl to raw IP")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


@dataclass(frozen=True, slots=True)
class FleetEpisode:
    """One episode: its sandbox address, lease, and step start/end times."""

    id: str
    ip: str
    lease_start: float
    lease_end: float
    starts: array[float]
    ends: array[float]

    def call_id(self, step: int) -> str:
        """The tool call id of ``step`` (one call per step)."""
        return f"{self.id}-c{step}"


@dataclass(frozen=True, slots=True)
class FleetAlert:
    """Ground truth of one generated alert (trajectory_id None: noise, must stay unattributed)."""

    src_ip: str
    src_port: int
    dst_ip: str
    dst_port: int
    ts_true: float
    ts_logged: float
    trajectory_id: str | None
    step: int | None
    tool_call_id: str | None
    fmt: str
    signature: str

    @property
    def key(self) -> tuple[str, int, str, int]:
        """The flow 4-tuple, unique per generated alert."""
        return (self.src_ip, self.src_port, self.dst_ip, self.dst_port)


class Fleet:
    """Episodes, leases and ground-truth alerts; writers for every input the CLI reads."""

    def __init__(self, episodes: list[FleetEpisode], alerts: list[FleetAlert], *,
                 skew: float, boot_time: float, year: int) -> None:
        self.episodes = episodes
        self.alerts = alerts
        self.skew = skew
        self.boot_time = boot_time
        self.year = year
        self._truth = {a.key: a for a in alerts}

    @property
    def steps(self) -> int:
        """Total steps in the fleet."""
        return sum(len(e.starts) for e in self.episodes)

    # --------------------------------------------------------------- model side

    def trajectories(self, *, with_ends: bool = True, with_metadata: bool = False) -> Iterator[Trajectory]:
        """The episodes as Trajectory objects (built lazily)."""
        for ep in self.episodes:
            steps = tuple(
                Step(index=k, ts=ep.starts[k], end_ts=ep.ends[k] if with_ends else None,
                     tool_calls=(ToolCall(id=ep.call_id(k), name="bash", kind=ToolKind.SHELL,
                                          command=f"echo step {k}", arguments_text="",
                                          ts=ep.starts[k]),))
                for k in range(len(ep.starts))
            )
            meta: dict[str, Any] = {"sandbox_ip": ep.ip} if with_metadata else {}
            yield Trajectory(id=ep.id, source="fleet", format="fleet", steps=steps, metadata=meta)

    def leases(self) -> list[Lease]:
        """The sandbox map."""
        return [Lease(e.id, e.ip, e.lease_start, e.lease_end, "fleet") for e in self.episodes]

    def index_into(self, correlator: Correlator, *, with_ends: bool = True) -> None:
        """Add every episode's steps and lease to ``correlator`` without building Trajectories."""
        for ep in self.episodes:
            ends = ep.ends
            correlator.add_steps(ep.id, (
                (ep.starts[k], ends[k] if with_ends else None, k, f"{ep.id}-c{k}")
                for k in range(len(ep.starts))))
        for lease in self.leases():
            correlator.add_lease(lease)

    def truth(self, alert: ExternalAlert) -> FleetAlert | None:
        """The ground truth of a parsed alert (matched by its flow 4-tuple)."""
        return self._truth.get((alert.src_ip, alert.src_port or 0, alert.dst_ip, alert.dst_port or 0))

    def accuracy(self, attributions: Iterable[Attribution]) -> tuple[float, int, int]:
        """(fraction right, right, total): right = same episode and step, or both unattributed."""
        right = total = 0
        for att in attributions:
            truth = self.truth(att.alert)
            if truth is None:
                continue
            total += 1
            if att.trajectory_id == truth.trajectory_id and att.step == truth.step:
                right += 1
        return (right / total if total else 0.0), right, total

    # ------------------------------------------------------------------ writers

    def write_sandbox_map(self, path: str | Path, *, jsonl: bool = False) -> Path:
        """The sandbox map as CSV (``episode,ip,start,end``) or JSONL."""
        out = Path(path)
        with open(out, "w", encoding="utf-8", newline="") as handle:
            if jsonl:
                for lease in self.leases():
                    handle.write(json.dumps({"episode": lease.episode, "ip": lease.ip,
                                             "start": _iso(lease.start), "end": lease.end}) + "\n")
            else:
                writer = csv.writer(handle)
                writer.writerow(["episode", "ip", "start", "end"])
                for lease in self.leases():
                    writer.writerow([lease.episode, lease.ip, f"{lease.start:.6f}", f"{lease.end:.6f}"])
        return out

    def write_trajectories(self, path: str | Path) -> Path:
        """The episodes as OpenAI chat JSONL with message timestamps (step start and end)."""
        out = Path(path)
        with open(out, "w", encoding="utf-8") as handle:
            for ep in self.episodes:
                messages: list[dict[str, Any]] = [{"role": "user", "content": "do the task"}]
                for k in range(len(ep.starts)):
                    cid = ep.call_id(k)
                    messages.append({
                        "role": "assistant", "content": None, "timestamp": ep.starts[k],
                        "tool_calls": [{"id": cid, "type": "function", "function": {
                            "name": "bash", "arguments": json.dumps({"command": f"echo {k}"})}}],
                    })
                    messages.append({"role": "tool", "tool_call_id": cid, "content": "ok",
                                     "timestamp": ep.ends[k]})
                handle.write(json.dumps({"id": ep.id, "messages": messages}) + "\n")
        return out

    def write_alerts(self, folder: str | Path) -> list[Path]:
        """One log file per format in ``folder``, each in time order. Returns the paths."""
        base = Path(folder)
        base.mkdir(parents=True, exist_ok=True)
        by_fmt: dict[str, list[FleetAlert]] = {f: [] for f in ALERT_FORMATS}
        for alert in self.alerts:
            by_fmt[alert.fmt].append(alert)
        paths = []
        for fmt, alerts in by_fmt.items():
            alerts.sort(key=lambda a: a.ts_logged)
            suffix = {"suricata": ".json", "zeek-notice-json": ".json", "csv": ".csv"}.get(fmt, ".log")
            path = base / f"{fmt}{suffix}"
            with open(path, "w", encoding="utf-8", newline="") as handle:
                handle.writelines(self._lines(fmt, alerts))
            paths.append(path)
        return paths

    def _lines(self, fmt: str, alerts: list[FleetAlert]) -> Iterator[str]:
        if fmt == "zeek-conn-tsv":
            yield from ("#separator \\x09\n", "#set_separator\t,\n", "#empty_field\t(empty)\n",
                        "#unset_field\t-\n", "#path\tconn\n",
                        "#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\t"
                        "service\tduration\torig_bytes\tresp_bytes\tconn_state\thistory\n",
                        "#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tstring\tinterval\t"
                        "count\tcount\tstring\tstring\n")
        elif fmt == "csv":
            yield "ts,src_ip,src_port,dst_ip,dst_port,proto,message,severity\n"
        for n, a in enumerate(alerts):
            t = a.ts_logged
            if fmt == "suricata":
                yield json.dumps({
                    "timestamp": _iso(t, suricata=True), "flow_id": 1000 + n, "event_type": "alert",
                    "src_ip": a.src_ip, "src_port": a.src_port, "dest_ip": a.dst_ip,
                    "dest_port": a.dst_port, "proto": "TCP",
                    "alert": {"action": "allowed", "gid": 1, "signature_id": 9_000_000 + len(a.signature),
                              "rev": 1, "signature": a.signature, "category": "Misc activity",
                              "severity": 1 + n % 3}}) + "\n"
                if n % 10 == 0:  # flow records are not alerts: skipped by default
                    yield json.dumps({"timestamp": _iso(t, suricata=True), "event_type": "flow",
                                      "src_ip": a.src_ip, "dest_ip": a.dst_ip, "proto": "TCP"}) + "\n"
            elif fmt == "zeek-conn-tsv":
                yield (f"{t:.6f}\tCwk{n}\t{a.src_ip}\t{a.src_port}\t{a.dst_ip}\t{a.dst_port}\ttcp\t"
                       f"-\t0.5\t100\t(empty)\tS0\tS\n")
            elif fmt == "zeek-notice-json":
                yield json.dumps({"ts": t, "uid": f"Nwk{n}", "id.orig_h": a.src_ip,
                                  "id.orig_p": a.src_port, "id.resp_h": a.dst_ip,
                                  "id.resp_p": a.dst_port, "proto": "tcp", "note": "Fleet::Test",
                                  "msg": a.signature}) + "\n"
            elif fmt == "nft-iso":
                yield (f"{_iso(t)} wkhost kernel: wk-deny:fleet IN=wkh0a1b2c3d4e OUT= "
                       f"SRC={a.src_ip} DST={a.dst_ip} LEN=60 TOS=0x00 PREC=0x00 TTL=64 ID={n % 65536} "
                       f"DF PROTO=TCP SPT={a.src_port} DPT={a.dst_port} WINDOW=64240 RES=0x00 SYN URGP=0\n")
            elif fmt == "iptables-syslog":
                d = datetime.fromtimestamp(t, UTC)
                yield (f"{_MONTHS[d.month - 1]} {d.day:2d} {d:%H:%M:%S} wkhost kernel: "
                       f"[{t - self.boot_time:12.6f}] IPT-DROP: IN=eth0 OUT= SRC={a.src_ip} "
                       f"DST={a.dst_ip} LEN=52 PROTO=TCP SPT={a.src_port} DPT={a.dst_port} SYN\n")
            elif fmt == "iptables-dmesg":
                yield (f"[{t - self.boot_time:12.6f}] IPT-DROP: IN=eth0 OUT= SRC={a.src_ip} "
                       f"DST={a.dst_ip} LEN=52 PROTO=TCP SPT={a.src_port} DPT={a.dst_port} SYN\n")
            elif fmt == "csv":
                stamp = f"{t:.6f}" if n % 2 else _iso(t)
                yield (f"{stamp},{a.src_ip},{a.src_port},{a.dst_ip},{a.dst_port},tcp,"
                       f"\"{a.signature}, flagged\",{1 + n % 5}\n")


def _iso(t: float, *, suricata: bool = False) -> str:
    text = datetime.fromtimestamp(t, UTC).isoformat(timespec="microseconds")
    return text.replace("+00:00", "+0000") if suricata else text


def make_fleet(
    *,
    episodes: int = 200,
    steps: tuple[int, int] = (5, 30),
    addresses: int = 40,
    alert_steps: float = 0.2,
    alerts_per_step: tuple[int, int] = (1, 3),
    noise: float = 0.03,
    inbound: float = 0.2,
    skew: float = 2.0,
    command_s: tuple[float, float] = (0.5, 20.0),
    think_s: tuple[float, float] = (1.0, 15.0),
    formats: tuple[str, ...] = ALERT_FORMATS,
    start: float = 1_767_225_600.0,
    seed: int = 7,
) -> Fleet:
    """Generate a fleet (deterministic for a seed).

    Args:
        episodes: Episodes in the fleet.
        steps: Steps per episode, inclusive range.
        addresses: Size of the sandbox address pool (re-used over time).
        alert_steps: Fraction of steps that cause alerts.
        alerts_per_step: Alerts per such step, inclusive range.
        noise: Extra alerts, as a fraction of the step alerts, that belong to no episode.
        inbound: Fraction of step alerts with the sandbox as destination.
        skew: Clock skew bound: logged time = true time + uniform(-skew, skew).
        command_s: Command duration range (seconds).
        think_s: Agent think time between steps (seconds).
        formats: Formats to spread the alerts over.
        start: Time of the first lease.
        seed: Random seed.
    """
    rng = random.Random(seed)
    if addresses > 250 * 250:
        raise ValueError("at most 62500 addresses")
    pool = [f"10.88.{i // 250}.{i % 250 + 2}" for i in range(addresses)]
    free = [(start + rng.uniform(0, 30), ip) for ip in pool]
    heapq.heapify(free)
    made: list[FleetEpisode] = []
    truth: list[FleetAlert] = []
    gaps: list[tuple[str, float, float]] = []
    counter = 0

    def add(src: str, sport: int, dst: str, dport: int, t: float, ep: FleetEpisode | None,
            k: int | None) -> None:
        truth.append(FleetAlert(
            src, sport, dst, dport, t, t + rng.uniform(-skew, skew) if ep is not None else t,
            ep.id if ep is not None else None, k,
            ep.call_id(k) if ep is not None and k is not None else None,
            rng.choice(formats), rng.choice(_SIGNATURES)))

    for e in range(episodes):
        lease_start, ip = heapq.heappop(free)
        t = lease_start + rng.uniform(0.5, 3.0)
        starts, ends = array("d"), array("d")
        for _ in range(rng.randint(*steps)):
            starts.append(t)
            t += rng.uniform(*command_s)
            ends.append(t)
            t += rng.uniform(*think_s)
        lease_end = ends[-1] + rng.uniform(0.5, 3.0)
        ep = FleetEpisode(f"ep{e:06d}", ip, lease_start, lease_end, starts, ends)
        made.append(ep)
        idle = rng.uniform(5.0, 60.0)
        gaps.append((ip, lease_end, lease_end + idle))
        heapq.heappush(free, (lease_end + idle, ip))
        for k in range(len(starts)):
            if rng.random() >= alert_steps:
                continue
            for _ in range(rng.randint(*alerts_per_step)):
                remote = _remote(counter)
                port = 1024 + (counter // 500) % 64000
                counter += 1
                at = rng.uniform(starts[k], ends[k])
                if rng.random() < inbound:
                    add(remote, port, ip, rng.choice((22, 80, 443)), at, ep, k)
                else:
                    add(ip, port, remote, rng.choice((443, 3333, 4444, 22, 53)), at, ep, k)
    for _ in range(int(len(truth) * noise)):
        remote = _remote(counter)
        port = 1024 + (counter // 500) % 64000
        counter += 1
        ip, gap_start, gap_end = rng.choice(gaps)
        if rng.random() < 0.5 and gap_end - gap_start > 4 * skew + 1:
            at = rng.uniform(gap_start + 2 * skew, gap_end - 2 * skew)  # idle sandbox address
        else:
            ip = f"10.99.{rng.randrange(250)}.{rng.randrange(2, 252)}"
            at = rng.uniform(start, gap_end)
        add(ip, port, remote, 443, at, None, None)
    return Fleet(made, truth, skew=skew, boot_time=start - 86_400.0,
                 year=datetime.fromtimestamp(start, UTC).year)


def _remote(counter: int) -> str:
    block = "203.0.113" if (counter // 250) % 2 == 0 else "198.51.100"
    return f"{block}.{counter % 250 + 1}"
