"""What common programs do with their arguments: where they connect, what they look up, which
files they read and write. Pure functions of an argv tuple; they never raise."""

from __future__ import annotations

import re
from typing import NamedTuple

from watchkeeper.audit._shell_wrap import SSH_SHORT_ARG, ssh_host_index

Argv = tuple[str, ...]

_IPV4 = re.compile(r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}")
_HOSTNAME = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_\-.]*[A-Za-z0-9_])?")
DEFAULT_PORTS = {
    "http": 80, "https": 443, "ftp": 21, "ftps": 990, "sftp": 22, "ssh": 22, "scp": 22,
    "git": 9418, "ws": 80, "wss": 443, "rsync": 873, "telnet": 23, "ldap": 389, "ldaps": 636,
    "smtp": 25, "imap": 143, "redis": 6379, "mysql": 3306, "postgres": 5432, "postgresql": 5432,
    "mongodb": 27017, "tftp": 69, "s3": 443, "gopher": 70, "dict": 2628,
}


def is_ip(host: str) -> bool:
    """True for an IPv4 or IPv6 literal."""
    if _IPV4.fullmatch(host):
        return True
    if ":" in host:
        import ipaddress

        try:
            ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
            return True
        except ValueError:
            return False
    return False


def ip_range(target: str) -> bool:
    """True for an IP literal, a CIDR block or a dash range starting with an IP literal."""
    head = target.split("/", 1)[0].split("-", 1)[0]
    return is_ip(head) or is_ip(target)


def port_of(text: str) -> int | None:
    """A TCP/UDP port number, or None."""
    if text.isascii() and text.isdigit() and len(text) <= 5:
        port = int(text)
        return port if port <= 65535 else None
    return None


class Url(NamedTuple):
    """A parsed URL: scheme (lower case), host, port (explicit or the scheme's default), path."""

    scheme: str
    host: str
    port: int | None
    path: str


def parse_url(url: str, default_scheme: str = "") -> Url | None:
    """Parse ``scheme://[user@]host[:port][/path]`` (or a bare ``host[:port]/path`` when a
    default scheme is given). None when there is no usable host."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        if not default_scheme or not url or url[0] in "-/.~$@":
            return None
        scheme, rest = default_scheme, url
    scheme = scheme.lower()
    if scheme.startswith("git+"):
        scheme = scheme[4:]
    hostport, slash, path = rest.partition("/")
    for sep_char in "?#":
        hostport = hostport.split(sep_char, 1)[0]
    hostport = hostport.rpartition("@")[2]
    port: int | None = None
    if hostport.startswith("["):
        host, _, tail = hostport[1:].partition("]")
        if tail.startswith(":"):
            port = port_of(tail[1:])
    elif hostport.count(":") == 1:
        host, _, port_s = hostport.partition(":")
        port = port_of(port_s)
    else:
        host = hostport
    if not host:
        return None
    if port is None:
        port = DEFAULT_PORTS.get(scheme.split("+")[0])
    return Url(scheme, host, port, slash + path)


def host_port(spec: str) -> tuple[str, int | None]:
    """``host:port``, ``[v6]:port`` or ``host`` -> (host, port)."""
    if spec.startswith("["):
        host, _, tail = spec[1:].partition("]")
        return host, port_of(tail[1:]) if tail.startswith(":") else None
    if spec.count(":") == 1:
        host, _, port_s = spec.partition(":")
        return host, port_of(port_s)
    return spec, None


def positional(argv: Argv, short_arg: str, long_arg: frozenset[str], start: int = 1
                ) -> tuple[list[int], dict[str, list[str]]]:
    """Indices of non-option arguments, and option values by option name (``-o``/``--out``)."""
    pos: list[int] = []
    opts: dict[str, list[str]] = {}
    n = len(argv)
    i = start
    while i < n:
        a = argv[i]
        if a == "--":
            pos.extend(range(i + 1, n))
            break
        if a.startswith("--") and len(a) > 2:
            key, eq, val = a.partition("=")
            if eq:
                opts.setdefault(key, []).append(val)
            elif key in long_arg and i + 1 < n:
                opts.setdefault(key, []).append(argv[i + 1])
                i += 1
            else:
                opts.setdefault(key, []).append("")
        elif a.startswith("-") and len(a) > 1 and a[1:].isdigit():
            opts.setdefault("-" + a[1:], []).append("")
        elif a.startswith("-") and len(a) > 1:
            for j in range(1, len(a)):
                ch = a[j]
                if ch in short_arg:
                    rest = a[j + 1 :]
                    if rest:
                        opts.setdefault("-" + ch, []).append(rest)
                    elif i + 1 < n:
                        opts.setdefault("-" + ch, []).append(argv[i + 1])
                        i += 1
                    break
                opts.setdefault("-" + ch, []).append("")
        else:
            pos.append(i)
        i += 1
    return pos, opts


# -- HTTP clients ----------------------------------------------------------------------------------


class Fetch(NamedTuple):
    """What an HTTP client command does."""

    urls: list[str]
    uploads: list[str]
    outputs: list[str]
    detail: list[tuple[str, str]]


_CURL_SHORT = "AbcdDeEFHKmoPQrTuUwxXyYzCt"
_CURL_LONG = frozenset(
    {"--data", "--data-raw", "--data-binary", "--data-urlencode", "--data-ascii", "--form",
     "--form-string", "--header", "--output", "--upload-file", "--user", "--user-agent", "--proxy",
     "--request", "--url", "--referer", "--cookie", "--cookie-jar", "--config", "--connect-timeout",
     "--max-time", "--retry", "--resolve", "--connect-to", "--cacert", "--cert", "--key",
     "--write-out", "--output-dir", "--interface", "--dns-servers", "--doh-url", "--json",
     "--limit-rate", "--range", "--socks5", "--socks5-hostname", "--socks4", "--socks4a",
     "--proxy-user", "--retry-delay", "--retry-max-time", "--max-filesize", "--time-cond",
     "--unix-socket", "--variable", "--preproxy", "--proxy-header", "--oauth2-bearer", "--ciphers",
     "--local-port", "--keepalive-time", "--expect100-timeout", "--happy-eyeballs-timeout-ms"}
)
_WGET_SHORT = "OoaPeiUtTwQBlARDIXY"
_WGET_LONG = frozenset(
    {"--header", "--post-data", "--post-file", "--body-data", "--body-file", "--user",
     "--password", "--method", "--output-document", "--directory-prefix", "--user-agent",
     "--execute", "--input-file", "--load-cookies", "--save-cookies", "--limit-rate", "--tries",
     "--timeout", "--wait", "--bind-address", "--ca-certificate", "--certificate",
     "--private-key", "--proxy-user", "--proxy-password", "--output-file", "--append-output",
     "--referer", "--http-user", "--http-password", "--ftp-user", "--ftp-password"}
)


def fetch(name: str, argv: Argv) -> Fetch:
    """URLs, uploads (local files sent), outputs (local files written) of an HTTP client."""
    urls: list[str] = []
    uploads: list[str] = []
    outputs: list[str] = []
    detail: list[tuple[str, str]] = []
    if name == "curl":
        pos, opts = positional(argv, _CURL_SHORT, _CURL_LONG)
        urls = [argv[i] for i in pos] + opts.get("--url", [])
        for key in ("-T", "--upload-file"):
            for v in opts.get(key, []):
                uploads.append(v)
        for key in ("-F", "--form"):
            for v in opts.get(key, []):
                _, _, val = v.partition("=")
                if val[:1] in ("@", "<"):
                    uploads.append(val[1:].split(";", 1)[0])
                detail.append(("form", v[:200]))
        for key in ("-d", "--data", "--data-binary", "--data-raw", "--data-urlencode",
                    "--data-ascii", "--json"):
            for v in opts.get(key, []):
                body = v.partition("=")[2] if key == "--data-urlencode" and "=" in v else v
                if body.startswith("@") and key != "--data-raw":
                    uploads.append(body[1:])
                else:
                    detail.append(("data", v[:200]))
        for key in ("-o", "--output"):
            outputs.extend(v for v in opts.get(key, []) if v != "-")
        if "-O" in opts or "--remote-name" in opts:
            for u in urls:
                base = u.split("?", 1)[0].rstrip("/").rpartition("/")[2]
                if base and "://" not in base:
                    outputs.append(base)
        for key, label in (("-X", "method"), ("--request", "method"), ("-x", "proxy"),
                           ("--proxy", "proxy"), ("-A", "user_agent"), ("--user-agent", "user_agent"),
                           ("--socks5", "proxy"), ("--socks5-hostname", "proxy"), ("-H", "header"),
                           ("--header", "header")):
            for v in opts.get(key, []):
                detail.append((label, v[:200]))
        if uploads or any(k == "data" or k == "form" for k, _ in detail):
            if not any(k == "method" for k, _ in detail):
                detail.append(("method", "PUT" if any(k in opts for k in ("-T", "--upload-file")) else "POST"))
    elif name in ("wget", "wget2"):
        pos, opts = positional(argv, _WGET_SHORT, _WGET_LONG)
        urls = [argv[i] for i in pos]
        for key in ("--post-file", "--body-file"):
            uploads.extend(opts.get(key, []))
        for key in ("--post-data", "--body-data"):
            detail.extend(("data", v[:200]) for v in opts.get(key, []))
        outs = opts.get("-O", []) + opts.get("--output-document", [])
        if outs:
            outputs.extend(o for o in outs if o != "-")
        else:
            prefix = (opts.get("-P") or opts.get("--directory-prefix") or [""])[-1]
            for u in urls:
                base = u.split("?", 1)[0].rstrip("/").rpartition("/")[2]
                if base and "://" not in base:
                    outputs.append(f"{prefix.rstrip('/')}/{base}" if prefix else base)
        if uploads or any(k == "data" for k, _ in detail):
            detail.append(("method", "POST"))
        for key, label in (("--method", "method"), ("-U", "user_agent"), ("--user-agent", "user_agent")):
            detail.extend((label, v[:200]) for v in opts.get(key, []))
    elif name in ("http", "https", "xh", "xhs", "httpie"):
        pos, opts = positional(argv, "aAov", frozenset({"--auth", "--output", "--session", "--proxy",
                                                       "--verify", "--cert", "--cert-key"}))
        args = [argv[i] for i in pos]
        if args and args[0].isupper() and args[0].isalpha():
            detail.append(("method", args[0]))
            args = args[1:]
        if args:
            u = args[0]
            if u.startswith(":"):
                u = "localhost" + u
            if "://" not in u:
                u = ("https://" if name in ("https", "xhs") else "http://") + u
            urls.append(u)
            for item in args[1:]:
                m = re.match(r"[^=:@]*(?:=@|@)(.+)", item)
                if m and "==" not in item and ":=" not in item:
                    uploads.append(m.group(1))
        outputs.extend(opts.get("-o", []) + opts.get("--output", []))
    elif name == "aria2c":
        pos, opts = positional(argv, "odxsjiUl", frozenset({"--out", "--dir", "--input-file"}))
        urls = [argv[i] for i in pos]
        outputs.extend(opts.get("-o", []) + opts.get("--out", []))
    else:  # lynx, links, w3m, fetch...
        pos, _ = positional(argv, "", frozenset())
        urls = [argv[i] for i in pos if "://" in argv[i]]
    return Fetch(urls, uploads, outputs, detail)


# -- remote shells and copies -----------------------------------------------------------------------


class Remote(NamedTuple):
    """A remote endpoint reached by ssh/scp/rsync/telnet/nc..."""

    host: str
    port: int | None
    protocol: str
    app: str
    detail: list[tuple[str, str]]


def _strip_user(spec: str) -> tuple[str, str]:
    user, at, host = spec.rpartition("@")
    return (host, user) if at else (spec, "")


def _remote_spec(arg: str) -> tuple[str, int | None] | None:
    """``[user@]host:path`` or ``scp://[user@]host[:port]/path`` -> (host, port); None if local."""
    if "://" in arg:
        u = parse_url(arg)
        return (u.host, u.port) if u is not None else None
    if ":" not in arg or arg.startswith(("/", "./", "../", "~")):
        return None
    head = arg.split(":", 1)[0]
    if not head or "/" in head:
        return None
    if head.startswith("["):
        return None
    host, _ = _strip_user(head)
    return (host, None) if host else None


def ssh_like(name: str, argv: Argv) -> tuple[list[Remote], list[str]]:
    """Endpoints of ssh/scp/sftp/rsync/autossh/sshfs/mosh, and local files sent (uploads)."""
    if name in ("ssh", "autossh", "mosh", "sftp"):
        return _ssh(name, argv), []
    if name in ("scp", "rsync", "sshfs"):
        return _copy(name, argv)
    return [], []


def _ssh(name: str, argv: Argv) -> list[Remote]:
    out: list[Remote] = []
    short = SSH_SHORT_ARG + ("M" if name == "autossh" else "") + ("P" if name == "sftp" else "")
    pos, opts = positional(argv, short, frozenset({"--ssh", "--port"}))
    if name in ("sftp", "mosh", "autossh"):
        hi = pos[0] if pos else -1
    else:
        hi = ssh_host_index(argv)
    if hi < 0 or hi >= len(argv):
        return out
    spec = argv[hi]
    port: int | None = None
    if spec.startswith("ssh://") or spec.startswith("sftp://"):
        u = parse_url(spec)
        if u is None:
            return out
        host, port = u.host, u.port
    else:
        host, _ = _strip_user(spec)
        if name == "sftp" and ":" in host:
            host = host.split(":", 1)[0]
    for p in opts.get("-p", []) + opts.get("-P", []) + opts.get("--port", []):
        port = port_of(p) or port
    detail: list[tuple[str, str]] = []
    for o in opts.get("-o", []):
        key, sep, val = o.partition("=")
        if not sep:
            key, _, val = o.partition(" ")
        k = key.strip().lower()
        if k == "port":
            port = port_of(val.strip()) or port
        elif k in ("proxycommand", "localcommand", "remoteforward", "localforward",
                   "dynamicforward", "proxyjump", "permitlocalcommand", "stricthostkeychecking",
                   "userknownhostsfile"):
            detail.append((k, val.strip()[:200]))
    for flag, label in (("-R", "remote_forward"), ("-L", "local_forward"),
                        ("-D", "dynamic_forward"), ("-w", "tunnel"), ("-W", "stdio_forward")):
        for v in opts.get(flag, []):
            detail.append((label, v))
    if "-N" in opts:
        detail.append(("no_command", "1"))
    if "-f" in opts:
        detail.append(("background", "1"))
    for j in opts.get("-J", []):
        for hop in j.split(","):
            jh, jp = host_port(_strip_user(hop)[0])
            if jh:
                out.append(Remote(jh, jp or 22, "tcp", "ssh", [("jump", "1")]))
    out.append(Remote(host, port or 22, "udp" if name == "mosh" else "tcp", "ssh", detail))
    return out


def _copy(name: str, argv: Argv) -> tuple[list[Remote], list[str]]:
    out: list[Remote] = []
    uploads: list[str] = []
    short = {"scp": "cFiJlopPSDX", "rsync": "eBTf", "sshfs": "op"}[name]
    pos, opts = positional(argv, short, frozenset({"--rsh", "--port", "--exclude", "--include",
                                                    "--rsync-path", "--password-file"}))
    port = None
    for p in opts.get("-P" if name == "scp" else "--port", []) + opts.get("-p" if name == "sshfs" else "", []):
        port = port_of(p) or port
    for e in opts.get("-e", []) + opts.get("--rsh", []):
        m = re.search(r"-p\s*(\d+)", e)
        if m:
            port = port_of(m.group(1))
    args = [argv[i] for i in pos]
    remotes: list[tuple[int, str, int | None, str]] = []
    for k, a in enumerate(args):
        if name == "rsync" and "::" in a and "://" not in a:
            remotes.append((k, _strip_user(a.split("::", 1)[0])[0], 873, "rsync"))
            continue
        spec = _remote_spec(a)
        if spec is not None:
            scheme_port = spec[1]
            app = "rsync" if a.startswith("rsync://") else "ssh"
            remotes.append((k, spec[0], scheme_port or port or (873 if app == "rsync" else 22), app))
    for k, rhost, rport, app in remotes:
        detail: list[tuple[str, str]] = []
        if k == len(args) - 1 and name != "sshfs":
            locals_ = [a for j, a in enumerate(args[:-1]) if all(j != r[0] for r in remotes)]
            uploads.extend(locals_)
            if locals_:
                detail.append(("upload", " ".join(locals_)[:400]))
        elif name != "sshfs":
            detail.append(("download", args[k][:200]))
        out.append(Remote(rhost, rport, "tcp", app, detail))
    return out, uploads


_NC_SHORT = "pswiqxXeocOITVgGmM"
_NC_LONG = frozenset({"--exec", "--sh-exec", "--lua-exec", "--proxy", "--proxy-type", "--source-port",
                      "--source", "--wait", "--idle-timeout", "--output", "--proxy-auth",
                      "--max-conns", "--allow", "--deny", "--send-only"})


def netcat(name: str, argv: Argv) -> list[Remote]:
    """Where nc/ncat/netcat/telnet connect (or listen: ``app="listen"``)."""
    if name == "telnet":
        pos, _ = positional(argv, "belnk", frozenset())
        args = [argv[i] for i in pos]
        if not args:
            return []
        return [Remote(args[0], port_of(args[1]) if len(args) > 1 else 23, "tcp", "telnet", [])]
    pos, opts = positional(argv, _NC_SHORT, _NC_LONG)
    args = [argv[i] for i in pos]
    udp = "-u" in opts or "--udp" in opts
    proto = "udp" if udp else "tcp"
    detail: list[tuple[str, str]] = []
    for key in ("-e", "--exec", "-c", "--sh-exec"):
        for v in opts.get(key, []):
            detail.append(("exec", v))
    if "-z" in opts:
        detail.append(("scan", "1"))
    if "-l" in opts or "--listen" in opts:
        port = None
        for v in opts.get("-p", []):
            port = port_of(v)
        if port is None and args:
            port = port_of(args[-1])
        return [Remote("", port, proto, "listen", detail)]
    if not args:
        return []
    host = args[0]
    port = None
    if len(args) > 1:
        port = port_of(args[1])
        if port is None:
            detail.append(("ports", args[1]))
    return [Remote(host, port, proto, "", detail)]


def socat(argv: Argv) -> list[Remote]:
    """Network addresses of a socat command."""
    out: list[Remote] = []
    for a in argv[1:]:
        if a.startswith("-"):
            continue
        head, sep, rest = a.partition(":")
        if not sep:
            continue
        key = head.upper()
        params = rest.split(",", 1)[0]
        if key in ("TCP", "TCP4", "TCP6", "TCP-CONNECT", "UDP", "UDP4", "UDP6", "UDP-CONNECT",
                   "OPENSSL", "SSL", "OPENSSL-CONNECT", "SCTP", "SCTP-CONNECT", "DCCP"):
            host, port = host_port(params)
            proto = "udp" if key.startswith("UDP") else "tcp"
            out.append(Remote(host, port, proto, "tls" if key.startswith(("OPENSSL", "SSL")) else "", []))
        elif key.endswith("-LISTEN") or key.endswith("-L"):
            out.append(Remote("", port_of(params), "udp" if key.startswith("UDP") else "tcp", "listen", []))
        elif key in ("SOCKS4", "SOCKS4A", "PROXY", "SOCKS5"):
            parts = params.split(":")
            if len(parts) >= 3:
                out.append(Remote(parts[0], None, "tcp", "proxy", [("via_proxy", "1")]))
                out.append(Remote(parts[1], port_of(parts[2]), "tcp", "", [("proxy", parts[0])]))
    return out


def openssl_connect(argv: Argv) -> list[Remote]:
    """``openssl s_client -connect host:port``."""
    if len(argv) < 2 or argv[1] not in ("s_client", "s_time"):
        return []
    for k in range(2, len(argv) - 1):
        if argv[k] == "-connect":
            host, port = host_port(argv[k + 1])
            return [Remote(host, port or 443, "tcp", "tls", [])]
    return []


# -- repositories and package managers ------------------------------------------------------------


def git_urls(argv: Argv) -> list[str]:
    """Remote URLs given to git clone/fetch/pull/push/ls-remote/submodule add."""
    i = 1
    n = len(argv)
    while i < n and argv[i].startswith("-"):
        i += 2 if argv[i] in ("-C", "-c", "--git-dir", "--work-tree") else 1
    if i >= n:
        return []
    sub = argv[i]
    if sub not in ("clone", "fetch", "pull", "push", "ls-remote", "submodule", "archive"):
        return []
    out: list[str] = []
    for a in argv[i + 1 :]:
        if a.startswith("-"):
            if a.startswith("--remote="):
                a = a[9:]
            else:
                continue
        if "://" in a and not a.startswith("file://"):
            out.append(a)
        elif re.match(r"[\w.\-]+@[\w.\-]+:", a):
            host = a.split("@", 1)[1].split(":", 1)[0]
            out.append(f"ssh://{host}/{a.split(':', 1)[1]}")
    return out


def package_urls(name: str, argv: Argv) -> list[tuple[str, str]]:
    """(kind, url) pairs a package manager is pointed at: index URLs and direct URLs."""
    out: list[tuple[str, str]] = []
    n = len(argv)
    skip = -1
    for k in range(1, n):
        if k == skip:
            continue
        a = argv[k]
        key, eq, val = a.partition("=")
        if key in ("-i", "--index-url", "--extra-index-url", "-f", "--find-links", "--registry",
                   "--source", "--index", "--default-index", "--trusted-host"):
            v = val if eq else (argv[k + 1] if k + 1 < n else "")
            if not eq:
                skip = k + 1
            if v:
                if key == "--trusted-host" and "://" not in v:
                    v = f"https://{v}"
                out.append(("index", v))
        elif a.startswith(("-i", "-f")) and len(a) > 2 and "://" in a:
            out.append(("index", a[2:]))
        elif "://" in a and not a.startswith("-"):
            out.append(("package", a.split("+", 1)[1] if a.startswith(("git+", "hg+", "svn+")) else a))
    if name in ("npm", "yarn", "pnpm") and n >= 4 and argv[1] == "config" and argv[2] == "set":
        if argv[3] == "registry" and n > 4:
            out.append(("index", argv[4]))
    return out


# -- scanners and lookups ---------------------------------------------------------------------------

_SCAN_VALUE_OPTS: dict[str, frozenset[str]] = {
    "nmap": frozenset({"-p", "-e", "-D", "-g", "-S", "-b", "-iL", "-iR", "-oN", "-oX", "-oG", "-oA",
                       "-oS", "-oJ", "-oL", "-oB", "-sI", "--top-ports", "--exclude",
                       "--excludefile", "--script", "--script-args", "--min-rate", "--max-rate",
                       "--source-port", "--data-length", "--ttl", "--max-retries", "--host-timeout",
                       "--scan-delay", "--proxies", "--dns-servers", "--max-parallelism",
                       "--min-hostgroup", "--max-hostgroup", "--version-intensity", "-M"}),
    "masscan": frozenset({"-p", "--ports", "--rate", "-oX", "-oG", "-oJ", "-oL", "-oB", "-oD",
                          "--adapter-ip", "--router-mac", "--exclude", "--excludefile", "-c",
                          "--source-ip", "--source-port", "-e", "--adapter", "--max-rate",
                          "--wait", "-iL", "--includefile"}),
    "zmap": frozenset({"-p", "-o", "-r", "-B", "-i", "-w", "-b", "-n", "-M", "-O", "-f", "-G",
                       "-s", "-T", "-P", "-N", "-e", "--output-file", "--rate", "--bandwidth",
                       "--interface", "--target-port", "--probe-module", "--output-module"}),
    "rustscan": frozenset({"-p", "--ports", "-r", "--range", "-b", "--batch-size", "-t",
                           "--timeout", "-u", "--ulimit", "--scan-order", "--tries"}),
    "naabu": frozenset({"-p", "-port", "-l", "-list", "-c", "-rate", "-o", "-output", "-s",
                        "-top-ports", "-exclude-hosts", "-timeout", "-retries"}),
    "hping3": frozenset({"-p", "-s", "-c", "-i", "-d", "-w", "-a", "-t", "-k", "-E", "-H", "-I",
                         "-O", "-M", "-L", "-T", "-K", "-C", "--destport", "--baseport",
                         "--count", "--interval", "--data", "--spoof", "--ttl", "--file"}),
}
_PING_VALUE_OPTS = frozenset({"-c", "-i", "-I", "-l", "-m", "-p", "-Q", "-s", "-S", "-t", "-W",
                              "-w", "-M", "-F", "-T", "-f", "-q", "-N", "-z", "-g", "-b", "-r"})


class Scan(NamedTuple):
    """Targets of a scanner / ping; ``port`` when a single one is given."""

    targets: list[str]
    port: int | None
    ports: str
    protocol: str


def scan(name: str, argv: Argv) -> Scan:
    """Targets (hosts, CIDRs, ranges) of nmap/masscan/zmap/rustscan/naabu/hping3/ping/traceroute."""
    value_opts = _SCAN_VALUE_OPTS.get(name, _PING_VALUE_OPTS)
    targets: list[str] = []
    ports = ""
    n = len(argv)
    k = 1
    while k < n:
        a = argv[k]
        key, eq, val = a.partition("=")
        if a.startswith("-") and len(a) > 1:
            if eq and key in value_opts:
                if key in ("--ports", "-p", "-port", "--destport", "--target-port"):
                    ports = val
            elif a in value_opts and k + 1 < n:
                v = argv[k + 1]
                if a in ("-p", "--ports", "-port", "--destport", "--target-port"):
                    ports = v
                elif a in ("-a", "--addresses") and name == "rustscan":
                    targets.extend(v.split(","))
                k += 1
            elif a.startswith("-p") and len(a) > 2 and not a.startswith("-po"):
                ports = a[2:]
            elif name == "rustscan" and a in ("-a", "--addresses") and k + 1 < n:
                targets.extend(argv[k + 1].split(","))
                k += 1
            elif name == "naabu" and a in ("-host", "-hosts") and k + 1 < n:
                targets.extend(argv[k + 1].split(","))
                k += 1
        elif name not in ("rustscan",):
            targets.append(a)
        k += 1
    targets = [t for t in targets if t][:16]
    protocol = "icmp" if name in ("ping", "ping6", "fping", "traceroute", "tracepath", "mtr",
                                  "arping") else "tcp"
    if name == "hping3" and ("-1" in argv or "--icmp" in argv):
        protocol = "icmp"
    if name in ("masscan", "nmap") and "-sU" in argv:
        protocol = "udp"
    port = port_of(ports) if ports else None
    return Scan(targets, port, ports, protocol)


class Query(NamedTuple):
    """A DNS lookup: name, record type, server (when given)."""

    name: str
    qtype: str
    server: str


_DNS_TYPES = frozenset({"A", "AAAA", "TXT", "MX", "NS", "CNAME", "SOA", "PTR", "SRV", "ANY", "CAA",
                        "DNSKEY", "DS", "HINFO", "NAPTR", "AXFR", "IXFR", "SPF", "TLSA", "HTTPS",
                        "SVCB"})


def dns_queries(name: str, argv: Argv) -> list[Query]:
    """Names looked up by dig/kdig/drill/delv/nslookup/host/getent/resolvectl."""
    out: list[Query] = []
    qtype = "A"
    server = ""
    if name in ("dig", "kdig", "drill", "delv"):
        names: list[str] = []
        k = 1
        n = len(argv)
        while k < n:
            a = argv[k]
            if a.startswith("@"):
                server = a[1:]
            elif a in ("-t", "-q", "-p", "-c", "-b", "-f", "-k", "-y", "-x") and k + 1 < n:
                v = argv[k + 1]
                if a == "-t":
                    qtype = v.upper()
                elif a == "-q":
                    names.append(v)
                elif a == "-x":
                    names.append(_reverse(v))
                    qtype = "PTR"
                k += 1
            elif a.startswith(("-", "+")):
                pass
            elif a.upper() in _DNS_TYPES:
                qtype = a.upper()
            elif a.upper() in ("IN", "CH", "HS"):
                pass
            else:
                names.append(a)
            k += 1
        out.extend(Query(x, qtype, server) for x in names)
    elif name == "nslookup":
        args: list[str] = []
        for a in argv[1:]:
            if a.startswith("-"):
                key, _, val = a[1:].partition("=")
                if key.lower() in ("type", "querytype", "q", "query", "t") and val:
                    qtype = val.upper()
            else:
                args.append(a)
        if args:
            out.append(Query(args[0], qtype, args[1] if len(args) > 1 else ""))
    elif name == "host":
        pos, opts = positional(argv, "tcNRWm", frozenset())
        for v in opts.get("-t", []):
            qtype = v.upper()
        args = [argv[i] for i in pos]
        if args:
            out.append(Query(args[0], qtype, args[1] if len(args) > 1 else ""))
    elif name == "getent":
        if len(argv) >= 3 and argv[1] in ("hosts", "ahosts", "ahostsv4", "ahostsv6"):
            out.extend(Query(a, "AAAA" if argv[1] == "ahostsv6" else "A", "") for a in argv[2:])
    elif name in ("resolvectl", "systemd-resolve"):
        args = [a for a in argv[1:] if not a.startswith("-")]
        if args and args[0] in ("query", "resolve"):
            args = args[1:]
        elif name == "resolvectl":
            args = []
        out.extend(Query(a, "A", "") for a in args)
    return [q for q in out if q.name]


def _reverse(ip: str) -> str:
    if _IPV4.fullmatch(ip):
        return ".".join(reversed(ip.split("."))) + ".in-addr.arpa"
    return ip
