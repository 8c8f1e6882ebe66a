"""Token-level code analysis: regexes over Perl/Ruby/Node/PHP/Lua/awk one-liners, Python
that does not parse, and free text. Also the :class:`Fact` type both analysers report."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

from watchkeeper.audit import decode

Span = tuple[int, int]

MAX_CODE = 1 << 20
"""Characters of one piece of code that are analysed."""
MAX_FACTS = 2_000
"""Facts reported for one piece of code (nested payloads included)."""
MAX_DEPTH = 8
"""Levels of ``exec``/``eval`` of decoded payloads followed."""


@dataclass(frozen=True, slots=True)
class Fact:
    """One thing a piece of code would do.

    Attributes:
        kind: "exec" (argv), "shell" (a shell command string), "connect", "listen", "http",
            "dns", "file", "env", "fileless", "pty", "mining", "run_file" (executes a file's
            code: ``exec(open(p).read())``, ``runpy.run_path``), "code" (code in another language).
        span: Where in the original text (offset by ``base``) the fact comes from.
        api: The call that does it: "subprocess.run", "os.system", "requests.post"...
        argv: For "exec".
        text: The command string ("shell") or code ("code").
        language: For "code"/"run_file": "python", "perl"...
        host / port / url / method / protocol: For "connect", "listen", "http", "dns".
        path / activity / content: For "file" ("read", "write", "delete", "chmod", "rename",
            "link", "create"), "run_file" and "fileless" (the memfd name).
        name: For "env": the variable ("" = the whole environment).
        detail: Extra facts: ("upload", path), ("shape", "reverse-shell"), ("mode", "0o777")...
        via: How the code was reached inside this analysis: ("base64", "exec")...
        base: Where ``text`` lies verbatim in the original, when it does (for precise spans).
    """

    kind: str
    span: Span
    api: str = ""
    argv: tuple[str, ...] = ()
    text: str = ""
    language: str = ""
    host: str = ""
    port: int | None = None
    url: str = ""
    method: str = ""
    protocol: str = "tcp"
    path: str = ""
    activity: str = ""
    content: str = ""
    name: str = ""
    detail: tuple[tuple[str, str], ...] = ()
    via: tuple[str, ...] = ()
    base: int | None = None


SECRET_NAME = re.compile(
    r"(?i)(KEY|SECRET|TOKEN|PASSW|PWD|CRED|AUTH|PRIVATE|SESSION|COOKIE|CERT|^AWS_|^GH_|^GITHUB_"
    r"|^OPENAI|^ANTHROPIC|^HF_|^HUGGING|^AZURE_|^GOOGLE_|^GCP_|^SLACK_|^STRIPE_|^NPM_TOKEN"
    r"|^DATABASE_URL|^DB_)"
)
"""Environment variable names that hold credentials."""


_CREDENTIAL = re.compile(
    r"(?:~|\$HOME|\$\{HOME\}|/root|/home/[^/\s'\"]+)?/?\.(?:ssh/(?:id_[A-Za-z0-9_]+|authorized_keys|known_hosts|config)"
    r"|aws/(?:credentials|config)|netrc|git-credentials|docker/config\.json|kube/config|npmrc|pypirc"
    r"|gnupg/[^\s'\"]*|bash_history|zsh_history|config/gcloud/[^\s'\"]*|azure/[^\s'\"]*)"
    r"|/etc/(?:shadow|gshadow|sudoers|passwd)\b"
)
"""Paths that hold credentials (used by the token-level fallback)."""


class Budget:
    """Work shared by one analysis and the payloads it decodes."""

    __slots__ = ("facts", "nodes")

    def __init__(self) -> None:
        self.facts = 0
        self.nodes = 0


# -- token-level analysis (other languages, broken Python, free text) -------------------------------

_URL = re.compile(r"\b((?:https?|ftp|wss?|stratum\+(?:tcp|ssl|tls|udp)|stratum[12]?\+tcp)://"
                  r"[^\s'\"<>)\]}`\\,;]+)", re.I)
_DEV_TCP = re.compile(r"/dev/(tcp|udp)/([A-Za-z0-9.\-_:\[\]]+)/(\d{1,5})")
_INET = re.compile(r"/inet[46]?/(tcp|udp)/\d+/([A-Za-z0-9.\-_]+)/(\d{1,5})")
_STR_BODY = r"""(?:"((?:[^"\\\n]|\\.){1,4000})"|'((?:[^'\\\n]|\\.){1,4000})')"""
_SHELL_CALL = re.compile(
    r"\b(system|exec|popen|shell_exec|passthru|proc_open|spawn|spawnSync|execSync|execFile|"
    r"execFileSync|os\.execute|io\.popen|Kernel\.exec|IO\.popen|Open3\.\w+|pcntl_exec|"
    r"subprocess\.\w+|os\.system|os\.popen|getoutput)\s*\(?\s*(?:\[\s*)?" + _STR_BODY
)
_BACKTICK = re.compile(r"`([^`\n]{2,2000})`")
_QX = re.compile(r"\bqx\s*([{(\[/|!])(.{1,2000}?)[})\]/|!]")
_IP_PORT = re.compile(
    r"[\"']((?:\d{1,3}\.){3}\d{1,3}|[A-Za-z0-9][A-Za-z0-9.\-]{0,253}\.[A-Za-z]{2,63})[\"']\s*[,:]\s*"
    r"[\"']?(\d{2,5})\b"
)
_PORT_IP = re.compile(r"\b(\d{2,5})\s*,\s*[\"']((?:\d{1,3}\.){3}\d{1,3}|[A-Za-z0-9.\-]{1,253}\.[A-Za-z]{2,63})[\"']")
_HOSTPORT_STR = re.compile(r"[\"']((?:\d{1,3}\.){3}\d{1,3}|[A-Za-z0-9][A-Za-z0-9.\-]{0,253}\.[A-Za-z]{2,63}):(\d{2,5})[\"']")
_BARE_IP_PORT = re.compile(r"(?<![\w.])((?:\d{1,3}\.){3}\d{1,3}):(\d{2,5})\b", re.ASCII)
_PERL_VAR = re.compile(r"\$(\w+)\s*=\s*[\"']?([\w.:\-/]+)[\"']?\s*;")
_SOCKADDR = re.compile(r"sockaddr_in\(\s*\$?(\w+)\s*,\s*inet_aton\(\s*(?:\$(\w+)|[\"']([^\"']+)[\"'])")
_DECODE_CALL = re.compile(
    r"\b(decode_base64|Base64\.decode64|Base64\.strict_decode64|base64_decode|atob|b64decode|"
    r"Buffer\.from|unpack\(\s*[\"']m\*?[\"']\s*,)\s*\(?\s*" + _STR_BODY
)
_SECRET_ENV = re.compile(r"(?:\$ENV\{|ENV\[|process\.env\.|getenv\(|os\.environ)[\"'\[{(]?\s*[\"']?([A-Z][A-Z0-9_]{2,})")


def _literal(m: re.Match[str], first: int) -> tuple[str, int]:
    """The body of a quoted-string match and its offset."""
    if m.group(first) is not None:
        return m.group(first), m.start(first)
    return m.group(first + 1) or "", m.start(first + 1)


def analyze_tokens(
    code: str,
    language: str,
    *,
    base: int = 0,
    span: Span | None = None,
    via: tuple[str, ...] = (),
    depth: int = 0,
    budget: Budget | None = None,
) -> list[Fact]:
    """Token-level facts for code in ``language`` ("perl", "ruby", "node", "php", "lua", "awk",
    "python" when it does not parse, "text" for free text, "compiled" for Go/C/Rust/Java
    source): shell commands in ``system()``/
    ``exec()``/backticks, ``/dev/tcp`` and ``/inet/tcp`` paths, host:port pairs, URLs
    (``stratum+tcp://`` included), base64 payloads given to ``eval``, credential paths and
    secret environment variables. Never raises."""
    if budget is None:
        budget = Budget()
    if len(code) > MAX_CODE:
        code = code[:MAX_CODE]
    facts: list[Fact] = []
    seen: set[tuple[str, str, int | None]] = set()

    def at(s: int, e: int) -> Span:
        return span if span is not None else (base + s, base + e)

    def add(f: Fact) -> None:
        if budget.facts >= MAX_FACTS:
            return
        budget.facts += 1
        if via:
            f = replace_via(f, via + f.via)
        facts.append(f)

    for m in _SHELL_CALL.finditer(code):
        text, off = _literal(m, 2)
        if language == "python" and not m.group(1).startswith(("subprocess", "os.", "getoutput")):
            continue
        cmd = _unescape_literal(text)
        add(Fact("shell", at(m.start(), m.end()), api=m.group(1), text=cmd,
                 base=(base + off) if span is None and cmd == text else None))
    if language in ("perl", "ruby", "php", "text"):
        for m in _BACKTICK.finditer(code):
            add(Fact("shell", at(m.start(), m.end()), api="backticks", text=m.group(1),
                     base=base + m.start(1) if span is None else None))
        for m in _QX.finditer(code):
            add(Fact("shell", at(m.start(), m.end()), api="qx", text=m.group(2),
                     base=base + m.start(2) if span is None else None))
    for rx, proto_group, host_group, port_group, api in (
        (_DEV_TCP, 1, 2, 3, "/dev/tcp"),
        (_INET, 1, 2, 3, "/inet"),
    ):
        for m in rx.finditer(code):
            key = (m.group(host_group), "c", int(m.group(port_group)))
            if key in seen:
                continue
            seen.add(key)
            add(Fact("connect", at(m.start(), m.end()), api=api, host=m.group(host_group),
                     port=int(m.group(port_group)), protocol=m.group(proto_group).lower()))
    for m in _URL.finditer(code):
        url = m.group(1).rstrip(".")
        if url.lower().startswith("stratum"):
            host, port = _host_port(url)
            add(Fact("connect", at(m.start(), m.end()), api="url", host=host, port=port, url=url,
                     detail=(("app_protocol", "stratum"),)))
        elif language != "text":
            add(Fact("http", at(m.start(), m.end()), api="url", url=url, method=""))
    if language == "args":
        for m in _BARE_IP_PORT.finditer(code):
            host, port_s = m.group(1), m.group(2)
            key = (host, "c", int(port_s))
            if key not in seen and not code[max(0, m.start() - 3) : m.start()].endswith("://"):
                seen.add(key)
                add(Fact("connect", at(m.start(), m.end()), api="literal", host=host, port=int(port_s)))
    if language in ("perl", "ruby", "node", "php", "lua", "python", "tclsh", "compiled"):
        pvars = dict(_PERL_VAR.findall(code)) if "$" in code else {}
        for m in _SOCKADDR.finditer(code):
            port_s = pvars.get(m.group(1), m.group(1)) or ""
            host = (pvars.get(m.group(2), "") if m.group(2) else m.group(3)) or ""
            if port_s.isascii() and port_s.isdigit() and host:
                add(Fact("connect", at(m.start(), m.end()), api="sockaddr_in", host=host, port=int(port_s)))
        for rx in (_IP_PORT, _HOSTPORT_STR):
            for m in rx.finditer(code):
                host, port_s = m.group(1), m.group(2)
                key = (host, "c", int(port_s))
                if key in seen or host.count(".") == 0:
                    continue
                seen.add(key)
                add(Fact("connect", at(m.start(), m.end()), api="literal", host=host, port=int(port_s)))
        for m in _PORT_IP.finditer(code):
            port_s, host = m.group(1), m.group(2)
            key = (host, "c", int(port_s))
            if key not in seen:
                seen.add(key)
                add(Fact("connect", at(m.start(), m.end()), api="literal", host=host, port=int(port_s)))
        if depth < MAX_DEPTH:
            for m in _DECODE_CALL.finditer(code):
                blob, _ = _literal(m, 2)
                data = decode.b64decode(blob)
                decoded = decode.as_text(data) if data else None
                if decoded:
                    text = decoded
                    sub_lang = language if language != "text" else "shell"
                    inner_via = ("base64", "eval")
                    if sub_lang == "python":
                        from watchkeeper.audit.pycode import analyze_python

                        inner = analyze_python(text, span=at(m.start(), m.end()), via=inner_via,
                                               depth=depth + 1)
                    else:
                        inner = analyze_tokens(text, sub_lang, span=at(m.start(), m.end()),
                                               via=inner_via, depth=depth + 1, budget=budget)
                    for f in inner:
                        add(f)
                    add(Fact("code", at(m.start(), m.end()), api=m.group(1), text=text,
                             language=sub_lang, via=inner_via))
    for m in _CREDENTIAL.finditer(code):
        add(Fact("file", at(m.start(), m.end()), api="literal", path=m.group(), activity="read"))
    for m in _SECRET_ENV.finditer(code):
        if SECRET_NAME.search(m.group(1)):
            add(Fact("env", at(m.start(), m.end()), api="literal", name=m.group(1)))
    facts.sort(key=lambda f: f.span)
    return facts


def _unescape_literal(text: str) -> str:
    if "\\" not in text:
        return text
    return decode.unescape(text).decode("utf-8", "replace")


def _host_port(url: str) -> tuple[str, int | None]:
    rest = url.split("://", 1)[-1]
    hostport = rest.split("/", 1)[0].rsplit("@", 1)[-1]
    if hostport.startswith("["):
        host, _, tail = hostport[1:].partition("]")
        port_s = tail.lstrip(":")
    else:
        host, _, port_s = hostport.rpartition(":") if hostport.count(":") == 1 else (hostport, "", "")
    return host, int(port_s) if port_s.isascii() and port_s.isdigit() and len(port_s) <= 5 else None


def replace_via(f: Fact, via: tuple[str, ...]) -> Fact:
    """``f`` with another ``via``."""
    return dataclasses.replace(f, via=via)
