"""The Sigma field mapping: every field reads a real attribute, as text, and is documented."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from watchkeeper.events import EVENT_TYPES, DnsEvent, FileEvent, NetworkEvent, ProcessEvent
from watchkeeper.normalize import (
    CATEGORY_FIELDS,
    canonical_category,
    event_to_sigma,
    field_reader,
    resolve_field,
)

DOC = Path(__file__).resolve().parents[2] / "docs" / "sigma-field-mapping.md"


@pytest.mark.parametrize("category", sorted(CATEGORY_FIELDS))
def test_every_field_reads_an_event_attribute(category: str) -> None:
    attrs = {f.name for f in dataclasses.fields(EVENT_TYPES[category])}
    for spec in CATEGORY_FIELDS[category].values():
        assert spec.attr in attrs, (category, spec.name)


def test_categories_are_the_event_classes() -> None:
    assert set(CATEGORY_FIELDS) == set(EVENT_TYPES)


def test_process_fields() -> None:
    event = ProcessEvent(
        image="/usr/bin/python3", command_line="python3 x.py", parent_image="/bin/bash",
        parent_command_line="bash", cwd="/work", user="agent", pid=42, ppid=None,
    )
    assert event_to_sigma(event) == {
        "Image": "/usr/bin/python3",
        "CommandLine": "python3 x.py",
        "ParentImage": "/bin/bash",
        "ParentCommandLine": "bash",
        "CurrentDirectory": "/work",
        "User": "agent",
        "ProcessId": "42",
        "OriginalFileName": "python3",
        "Activity": "launch",
    }


def test_network_fields() -> None:
    event = NetworkEvent(
        image="/usr/bin/curl", dst_ip="10.0.0.1", dst_port=443, src_ip="10.0.0.2", src_port=5555,
        initiated=False, protocol="tcp", app_protocol="tls", dst_hostname="x.example", bytes_out=7,
    )
    got = event_to_sigma(event)
    assert got["Initiated"] == "false"
    assert (got["DestinationPort"], got["SourcePort"], got["BytesOut"], got["BytesIn"]) == ("443", "5555", "7", "0")
    assert (got["DestinationHostname"], got["AppProtocol"], got["Protocol"]) == ("x.example", "tls", "tcp")


def test_dns_and_file_fields() -> None:
    dns = event_to_sigma(DnsEvent(query_name="a.example", answers=("1.2.3.4", "5.6.7.8"), rcode="NOERROR"))
    assert dns == {"QueryName": "a.example", "QueryType": "A", "QueryResults": "1.2.3.4;5.6.7.8",
                   "QueryStatus": "NOERROR"}
    file = event_to_sigma(FileEvent(path="/etc/cron.d/x", activity="create", image="/bin/cp"))
    assert file == {"TargetFilename": "/etc/cron.d/x", "Activity": "create", "Image": "/bin/cp"}


def test_reader_orders_and_fills_unknown_names() -> None:
    read = field_reader("process_creation", ("ProcessId", "Nope", "Image"))
    assert read(ProcessEvent(image="/bin/sh", pid=None)) == ["", "", "/bin/sh"]
    assert field_reader("process_creation", ("Image",))(ProcessEvent(image="/x")) == ["/x"]
    assert field_reader("process_creation", ("Image", "CommandLine"))(ProcessEvent(image="/x")) == ["/x", ""]
    assert field_reader("process_creation", ("Nope",))(ProcessEvent()) == [""]


def test_resolution() -> None:
    assert resolve_field("process_creation", "commandline") is CATEGORY_FIELDS["process_creation"]["CommandLine"]
    assert resolve_field("process_creation", "LogonId") is None
    assert resolve_field("registry_set", "Image") is None
    assert canonical_category("dns_query") == "dns"
    assert canonical_category("process_creation") == "process_creation"
    assert canonical_category("registry_set") is None


def test_documentation_lists_every_field() -> None:
    text = DOC.read_text()
    for category, table in CATEGORY_FIELDS.items():
        section = text.split(f"## {category}", 1)
        assert len(section) == 2, f"no section for {category}"
        body = section[1].split("\n## ", 1)[0]
        documented = set(re.findall(r"^\| `(\w+)` \|", body, re.MULTILINE))
        assert documented == set(table), (category, documented ^ set(table))
