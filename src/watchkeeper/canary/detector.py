"""The canary detector: a planted fake credential was read, used, or its listener was hit.

``observe(event) -> list[Alert]`` like the other detectors; the runtime runs it on every event
of a sandbox with canaries (``Sandbox(canaries=CanaryConfig())``).

================================  ==========================================================  ========
rule id                           fires on                                                    severity
================================  ==========================================================  ========
``canary:file-read``              a FileEvent "read" of a planted canary file                 high
``canary:token-used``             a canary secret or host name in a command line, a request   critical
                                  the network sensor fingerprinted (HTTP path/Host/User-Agent,
                                  TLS SNI), a DNS name or a written file
``canary:http``                   a request to the canary HTTP listener (the event made from   critical
                                  the hit; medium when it names no token)
``canary:dns``                    a DNS query for a name under the canary zone                 critical
================================  ==========================================================  ========

ATT&CK: reading is T1552.001 (T1552.004 for the SSH key); using is T1078.004 for AWS keys,
T1528 for API and Kubernetes tokens, T1078 for netrc passwords, T1552.004/T1021.004 for SSH.
Repeats (the same rule, token and step, or process) within ``dedup_s`` are folded.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Iterable

from watchkeeper.alerts import Alert, Evidence, Severity
from watchkeeper.canary._hit import SOURCE
from watchkeeper.canary._registry import CanaryRegistry
from watchkeeper.canary._token import ATTACK_READ, ATTACK_USE, CanaryToken
from watchkeeper.events import DnsEvent, Event, FileEvent, NetworkEvent, ProcessEvent

RULE_FILE_READ = "canary:file-read"
RULE_TOKEN_USED = "canary:token-used"
RULE_HTTP = "canary:http"
RULE_DNS = "canary:dns"
RULE_IDS: tuple[str, ...] = (RULE_FILE_READ, RULE_TOKEN_USED, RULE_HTTP, RULE_DNS)
"""Every alert id of the canary detector (for policies)."""

_NET_KEYS = ("path", "host", "user_agent", "sni", "jsonrpc_method")
_TLS_KEYS = ("ja3_md5", "ja4", "ja3s_md5")
_MAX_KEYS = 4096


class CanaryDetector:
    """Alerts on canary tokens of one registry.

    Args:
        registry: The planted tokens.
        dedup_s: Repeats within this many seconds are folded.
        resolvers: Addresses of DNS forwarders that report their queries themselves (with the
            asking process); the packet sensor's copies of those queries are skipped.
    """

    name = "canary"

    def __init__(
        self, registry: CanaryRegistry, dedup_s: float = 30.0, resolvers: Iterable[str] = ()
    ) -> None:
        self.registry = registry
        self.dedup_s = dedup_s
        self.resolvers = set(resolvers)
        self._seen: OrderedDict[tuple[object, ...], float] = OrderedDict()

    def observe(self, event: Event) -> list[Alert]:
        """Alerts for one event."""
        if not len(self.registry):
            return []
        if isinstance(event, FileEvent):
            return self._file(event)
        if isinstance(event, ProcessEvent):
            if event.activity != "launch":
                return []
            text = event.command_line or " ".join(event.argv)
            return self._used(event, "CommandLine", text)
        if isinstance(event, NetworkEvent):
            if event.source == SOURCE:
                return self._http(event)
            return self._network(event)
        if isinstance(event, DnsEvent):
            return self._dns(event)
        return []

    # --- kinds of evidence ------------------------------------------------------------------

    def _file(self, event: FileEvent) -> list[Alert]:
        alerts: list[Alert] = []
        if event.activity == "read":
            token = self.registry.by_path(event.path)
            if token is not None and self._first(RULE_FILE_READ, token.id, event):
                who = _who(event.image, event.pid)
                alerts.append(self._alert(
                    event, RULE_FILE_READ, Severity.HIGH, ATTACK_READ[token.kind], (token,),
                    title=f"Canary {token.kind.value} credentials read: {event.path}",
                    field="TargetFilename", text=event.path,
                    description=(f"{who} read the canary file {event.path} (token {token.id}, "
                                 f"{token.kind.value}). No task needs these credentials: "
                                 "something is looking for secrets."),
                ))  # fmt: skip
        if event.content:
            alerts += self._used(event, "content", event.content)
        return alerts

    def _used(self, event: Event, field: str, text: str, extra: str = "") -> list[Alert]:
        found = self.registry.find(text)
        if not found:
            return []
        tokens = tuple(t for t, _ in found)
        if not self._first(RULE_TOKEN_USED, _ids(tokens), event):
            return []
        named = "; ".join(f"{t.label_of(s)} {_show(t, s)} (token {t.id}, {t.kind.value}, "
                          f"planted at {t.path or '?'})" for t, s in found)  # fmt: skip
        who = _who(getattr(event, "image", ""), event.pid)
        return [self._alert(
            event, RULE_TOKEN_USED, Severity.CRITICAL, _attack(tokens, use=True), tokens,
            title=f"Canary {tokens[0].kind.value} token used ({field})",
            field=field, text=found[0][1],
            description=f"{who} used a canary secret: {named}.{extra}",
        )]  # fmt: skip

    def _network(self, event: NetworkEvent) -> list[Alert]:
        detail = dict(event.detail)
        parts = [detail[k] for k in _NET_KEYS if detail.get(k)]
        if event.dst_hostname:
            parts.append(event.dst_hostname)
        if not parts:
            return []
        tls = ", ".join(f"{k}={detail[k]}" for k in _TLS_KEYS if detail.get(k))
        extra = (f" Request {detail.get('method', '')} {detail.get('path', '')} to "
                 f"{event.dst_hostname or event.dst_ip}:{event.dst_port} from "
                 f"{event.src_ip}:{event.src_port}").replace("  ", " ")  # fmt: skip
        if detail.get("user_agent"):
            extra += f", user agent {detail['user_agent']!r}"
        if tls:
            extra += f", TLS {tls}"
        return self._used(event, "network", "\n".join(parts), extra + ".")

    def _http(self, event: NetworkEvent) -> list[Alert]:
        detail = dict(event.detail)
        ids = [i for i in detail.get("canary_tokens", "").split(",") if i]
        tokens = [t for t in (self.registry.get(i) for i in ids) if t is not None]
        host_token = self.registry.by_hostname(event.dst_hostname) if event.dst_hostname else None
        if host_token is not None and host_token not in tokens:
            tokens.append(host_token)
        key = _ids(tokens) or f"{event.src_ip}:{event.src_port}"
        if not self._first(RULE_HTTP, key, event):
            return []
        request = f"{detail.get('method', '?')} {detail.get('path', '')}".strip()
        headers = "; ".join(f"{k[7:]}: {v}" for k, v in event.detail if k.startswith("header:"))
        who = _who(event.image, event.pid)
        what = (", ".join(f"{t.kind.value} token {t.id} (planted at {t.path or '?'})" for t in tokens)
                or "no known token")  # fmt: skip
        return [self._alert(
            event, RULE_HTTP, Severity.CRITICAL if tokens else Severity.MEDIUM,
            _attack(tokens, use=True) if tokens else ("T1552.001",), tuple(tokens),
            title=f"Canary HTTP listener hit: {request[:80]}",
            field="canary_listener", text=request,
            description=(f"{who} sent {request} (Host {detail.get('host', '-')}) from "
                         f"{event.src_ip}:{event.src_port} to the canary listener "
                         f"{event.dst_ip}:{event.dst_port}, naming {what}. User agent "
                         f"{detail.get('user_agent', '-')!r}. Headers: {headers or '-'}."),
        )]  # fmt: skip

    def _dns(self, event: DnsEvent) -> list[Alert]:
        if event.source == "net" and {event.dst_ip, event.src_ip} & self.resolvers:
            return []  # the forwarder reports this query itself, with the process
        name = event.query_name
        alerts: list[Alert] = []
        if self.registry.in_zone(name):
            token = self.registry.by_hostname(name)
            tokens: tuple[CanaryToken, ...] = (token,) if token is not None else ()
            if self._first(RULE_DNS, name, event, by_step=True):
                who = _who(event.image, event.pid)
                what = f"{token.kind.value} token {token.id}" if token else "no known token"
                alerts.append(self._alert(
                    event, RULE_DNS, Severity.CRITICAL if token else Severity.HIGH,
                    _attack(tokens, use=True) if tokens else ("T1552.001",), tokens,
                    title=f"Canary DNS name resolved: {name}", field="QueryName", text=name,
                    description=(f"{who} asked {event.dst_ip or 'the resolver'} for {name} "
                                 f"({event.query_type}) from {event.src_ip or '?'}: a name that "
                                 f"only appears in planted canary files ({what})."),
                ))  # fmt: skip
            return alerts
        found = self.registry.find(name)  # a secret smuggled out in a DNS name
        if not found:
            lowered = {s.lower(): (t, s) for t in self.registry.tokens() for s in t.secrets}
            found = [pair for low, pair in lowered.items() if low in name][:4]
        if found and self._first(RULE_TOKEN_USED, _ids(t for t, _ in found), event, by_step=True):
            used = tuple(t for t, _ in found)
            alerts.append(self._alert(
                event, RULE_TOKEN_USED, Severity.CRITICAL, _attack(used, use=True), used,
                title=f"Canary {used[0].kind.value} secret in a DNS name", field="QueryName",
                text=name, description=(f"{_who(event.image, event.pid)} looked up {name}, which "
                                        f"carries canary secret(s) of token {_ids(used)}."),
            ))  # fmt: skip
        return alerts

    # --- helpers ----------------------------------------------------------------------------

    def _first(self, rule: str, key: str, event: Event, by_step: bool = False) -> bool:
        who: object = event.step if by_step or event.pid is None else event.pid
        marker = (rule, key, event.sandbox_id, who)
        now = time.monotonic()
        last = self._seen.get(marker)
        if last is not None and now - last < self.dedup_s:
            return False
        self._seen[marker] = now
        self._seen.move_to_end(marker)
        while len(self._seen) > _MAX_KEYS:
            self._seen.popitem(last=False)
        return True

    def _alert(
        self, event: Event, rule: str, severity: Severity, attack: tuple[str, ...],
        tokens: tuple[CanaryToken, ...], *, title: str, field: str, text: str, description: str,
    ) -> Alert:  # fmt: skip
        return Alert(
            rule_id=rule,
            title=title,
            severity=severity,
            attack=attack,
            confidence=0.99 if tokens else 0.8,
            evidence=(Evidence(event=event, field=field, text=text[:512]),),
            description=description,
            ts=event.ts,
            run_id=event.run_id,
            episode_id=event.episode_id,
            step=event.step,
            tool_call_id=event.tool_call_id,
            sandbox_id=event.sandbox_id,
            rule_source="detector",
            tags=("canary", *dict.fromkeys(t.kind.value for t in tokens),
                  *(f"canary_token:{t.id}" for t in tokens)),
        )  # fmt: skip


def _ids(tokens: Iterable[CanaryToken]) -> str:
    return ",".join(sorted({t.id for t in tokens}))


def _attack(tokens: Iterable[CanaryToken], *, use: bool) -> tuple[str, ...]:
    table = ATTACK_USE if use else ATTACK_READ
    return tuple(dict.fromkeys(a for t in tokens for a in table[t.kind]))


def _show(token: CanaryToken, secret: str) -> str:
    """Key ids and host names in full; other secrets shortened."""
    if secret.startswith("AKIA") or secret in token.hostnames or secret.startswith("deploy@"):
        return secret
    return secret[:10] + "..."


def _who(image: str, pid: int | None) -> str:
    name = image.rsplit("/", 1)[-1] if image else "a process"
    return f"{name} (pid {pid})" if pid is not None else name
