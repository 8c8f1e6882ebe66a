"""The live sandbox: cgroups, a network namespace with an nftables egress policy and a DNS
forwarder, bubblewrap with seccomp and Landlock. See docs/sandbox.md.

The parts live in one module each (``cgroup``, ``netns``, ``firewall``, ``dns``, ``seccomp``,
``landlock``, ``bwrap``); :class:`SandboxHost` wires them for one sandbox.
"""

from watchkeeper.sandbox._sandbox import (
    SandboxHost,
    SandboxInfo,
    SandboxSpec,
    check_prerequisites,
    new_sandbox_id,
)
from watchkeeper.sandbox._state import STATE_DIR, CleanupReport, cleanup_all
from watchkeeper.sandbox.bwrap import Bind
from watchkeeper.sandbox.cgroup import Cgroup, CgroupEvents, Limits
from watchkeeper.sandbox.dns import DnsForwarder, DnsQuery, StaticResolver, SystemResolver
from watchkeeper.sandbox.firewall import (
    AllowEntry,
    AllowSpecError,
    Firewall,
    parse_allow,
    parse_allow_list,
)

__all__ = [
    "STATE_DIR",
    "AllowEntry",
    "AllowSpecError",
    "Bind",
    "Cgroup",
    "CgroupEvents",
    "CleanupReport",
    "DnsForwarder",
    "DnsQuery",
    "Firewall",
    "Limits",
    "SandboxHost",
    "SandboxInfo",
    "SandboxSpec",
    "StaticResolver",
    "SystemResolver",
    "check_prerequisites",
    "cleanup_all",
    "new_sandbox_id",
    "parse_allow",
    "parse_allow_list",
]
