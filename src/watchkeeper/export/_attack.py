"""MITRE ATT&CK technique names and links for the ids our rules and detectors use.

Names follow ATT&CK Enterprise v17 (attack.mitre.org). An id not in the table keeps its id as
its name; only well-formed ids get a link.
"""

from __future__ import annotations

import re

_ID = re.compile(r"^T\d{4}(?:\.\d{3})?$")

NAMES: dict[str, str] = {
    "T1003": "OS Credential Dumping",
    "T1003.007": "Proc Filesystem",
    "T1003.008": "/etc/passwd and /etc/shadow",
    "T1006": "Direct Volume Access",
    "T1014": "Rootkit",
    "T1016": "System Network Configuration Discovery",
    "T1018": "Remote System Discovery",
    "T1020": "Automated Exfiltration",
    "T1021": "Remote Services",
    "T1021.004": "SSH",
    "T1027": "Obfuscated Files or Information",
    "T1030": "Data Transfer Size Limits",
    "T1036": "Masquerading",
    "T1036.004": "Masquerade Task or Service",
    "T1037": "Boot or Logon Initialization Scripts",
    "T1037.004": "RC Scripts",
    "T1041": "Exfiltration Over C2 Channel",
    "T1046": "Network Service Discovery",
    "T1048": "Exfiltration Over Alternative Protocol",
    "T1048.001": "Exfiltration Over Symmetric Encrypted Non-C2 Protocol",
    "T1048.002": "Exfiltration Over Asymmetric Encrypted Non-C2 Protocol",
    "T1048.003": "Exfiltration Over Unencrypted Non-C2 Protocol",
    "T1049": "System Network Connections Discovery",
    "T1053": "Scheduled Task/Job",
    "T1053.002": "At",
    "T1053.003": "Cron",
    "T1053.006": "Systemd Timers",
    "T1059": "Command and Scripting Interpreter",
    "T1059.004": "Unix Shell",
    "T1059.006": "Python",
    "T1059.007": "JavaScript",
    "T1068": "Exploitation for Privilege Escalation",
    "T1070": "Indicator Removal",
    "T1070.002": "Clear Linux or Mac System Logs",
    "T1070.003": "Clear Command History",
    "T1070.004": "File Deletion",
    "T1070.006": "Timestomp",
    "T1071": "Application Layer Protocol",
    "T1071.004": "DNS",
    "T1082": "System Information Discovery",
    "T1083": "File and Directory Discovery",
    "T1090": "Proxy",
    "T1090.001": "Internal Proxy",
    "T1090.002": "External Proxy",
    "T1090.003": "Multi-hop Proxy",
    "T1095": "Non-Application Layer Protocol",
    "T1098": "Account Manipulation",
    "T1098.004": "SSH Authorized Keys",
    "T1102": "Web Service",
    "T1105": "Ingress Tool Transfer",
    "T1136": "Create Account",
    "T1136.001": "Local Account",
    "T1140": "Deobfuscate/Decode Files or Information",
    "T1219": "Remote Access Tools",
    "T1219.001": "IDE Tunneling",
    "T1219.002": "Remote Desktop Software",
    "T1222": "File and Directory Permissions Modification",
    "T1222.002": "Linux and Mac File and Directory Permissions Modification",
    "T1485": "Data Destruction",
    "T1496": "Resource Hijacking",
    "T1496.001": "Compute Hijacking",
    "T1496.002": "Bandwidth Hijacking",
    "T1496.003": "SMS Pumping",
    "T1496.004": "Cloud Service Hijacking",
    "T1498": "Network Denial of Service",
    "T1499": "Endpoint Denial of Service",
    "T1528": "Steal Application Access Token",
    "T1543": "Create or Modify System Process",
    "T1543.002": "Systemd Service",
    "T1546": "Event Triggered Execution",
    "T1546.004": "Unix Shell Configuration Modification",
    "T1547": "Boot or Logon Autostart Execution",
    "T1547.006": "Kernel Modules and Extensions",
    "T1547.013": "XDG Autostart Entries",
    "T1548": "Abuse Elevation Control Mechanism",
    "T1548.001": "Setuid and Setgid",
    "T1548.003": "Sudo and Sudo Caching",
    "T1552": "Unsecured Credentials",
    "T1552.001": "Credentials In Files",
    "T1552.003": "Shell History",
    "T1552.004": "Private Keys",
    "T1552.005": "Cloud Instance Metadata API",
    "T1552.007": "Container API",
    "T1555": "Credentials from Password Stores",
    "T1555.003": "Credentials from Web Browsers",
    "T1556": "Modify Authentication Process",
    "T1556.003": "Pluggable Authentication Modules",
    "T1560": "Archive Collected Data",
    "T1560.001": "Archive via Utility",
    "T1562": "Impair Defenses",
    "T1562.001": "Disable or Modify Tools",
    "T1562.004": "Disable or Modify System Firewall",
    "T1562.006": "Indicator Blocking",
    "T1562.012": "Disable or Modify Linux Audit System",
    "T1564": "Hide Artifacts",
    "T1564.001": "Hidden Files and Directories",
    "T1567": "Exfiltration Over Web Service",
    "T1567.002": "Exfiltration to Cloud Storage",
    "T1571": "Non-Standard Port",
    "T1572": "Protocol Tunneling",
    "T1573": "Encrypted Channel",
    "T1574": "Hijack Execution Flow",
    "T1574.006": "Dynamic Linker Hijacking",
    "T1590": "Gather Victim Network Information",
    "T1590.002": "DNS",
    "T1595": "Active Scanning",
    "T1610": "Deploy Container",
    "T1611": "Escape to Host",
    "T1613": "Container and Resource Discovery",
    "T1620": "Reflective Code Loading",
}

TACTICS: tuple[str, ...] = (
    "reconnaissance", "resource-development", "initial-access", "execution", "persistence",
    "privilege-escalation", "defense-evasion", "credential-access", "discovery",
    "lateral-movement", "collection", "command-and-control", "exfiltration", "impact",
)  # fmt: skip
"""ATT&CK Enterprise tactic short names (kill-chain phase names)."""


def canonical(tid: str) -> str | None:
    """``"T1496.001"`` from ``"t1496.001"`` or ``"attack.t1496.001"``; None if not a technique id."""
    text = tid.strip().upper().removeprefix("ATTACK.")
    return text if _ID.match(text) else None


def techniques(ids: tuple[str, ...] | list[str]) -> list[str]:
    """Canonical, distinct technique ids, in order; malformed ids are dropped."""
    out: list[str] = []
    for tid in ids:
        canon = canonical(tid)
        if canon is not None and canon not in out:
            out.append(canon)
    return out


def is_technique(tid: str) -> bool:
    """True for a well-formed technique id ("T1496", "T1496.001")."""
    return bool(_ID.match(tid))


def technique_name(tid: str) -> str:
    """The technique's name, or the id itself when it is not in the table."""
    return NAMES.get(tid, tid)


def technique_url(tid: str) -> str | None:
    """The attack.mitre.org page of a technique; None for a malformed id."""
    if not is_technique(tid):
        return None
    base, _, sub = tid.partition(".")
    return f"https://attack.mitre.org/techniques/{base}/{sub}/" if sub else (
        f"https://attack.mitre.org/techniques/{base}/"
    )


def tactics_of(tags: tuple[str, ...]) -> list[str]:
    """Tactic short names from Sigma tags such as ``attack.impact`` or ``attack.command-and-control``."""
    out: list[str] = []
    for tag in tags:
        name = tag.lower().removeprefix("attack.").replace("_", "-")
        if name in TACTICS and name not in out:
            out.append(name)
    return out
