from pathlib import Path

from watchkeeper.events import DnsEvent, NetworkEvent
from watchkeeper.pcap import replay

DATA = Path(__file__).parent.parent / "data" / "pcap"


def test_replay_recorded_stratum():
    events = []
    result = replay([DATA / "stratum_443.pcap"], events.append)
    assert result.errors == [] and result.decoded >= 10
    net = [e for e in events if isinstance(e, NetworkEvent)]
    assert {e.source for e in net} == {"pcap"}
    assert [e.activity for e in net][0] == "open" and net[-1].activity == "close"
    assert any(
        e.app_protocol == "stratum" and dict(e.detail).get("method") == "mining.subscribe"
        for e in net
    )
    assert dict(net[-1].detail)["conn_state"] == "SF" and net[-1].dst_port == 443


def test_replay_continues_after_a_damaged_file(tmp_path):
    damaged = tmp_path / "cut.pcap"
    data = (DATA / "stratum_443.pcap").read_bytes()
    damaged.write_bytes(data[: len(data) - 30])
    events = []
    result = replay([damaged, DATA / "metadata.pcap"], events.append, sandbox_id="s1")
    assert len(result.errors) == 1 and str(damaged) in str(result.errors[0])
    assert any(
        isinstance(e, DnsEvent) and e.query_name == "metadata.google.internal" for e in events
    )
    assert all(e.sandbox_id == "s1" for e in events)
    # the damaged file's flow was still closed (flushed) with what was read
    closes = [e for e in events if isinstance(e, NetworkEvent) and e.activity == "close"]
    assert any(e.dst_port == 443 for e in closes)


def test_local_nets_orientation():
    events = []
    host_side = "10.213.0.0/16"
    replay([DATA / "portscan.pcap"], events.append, local_nets=("203.0.113.0/24",))
    opens = [e for e in events if isinstance(e, NetworkEvent) and e.activity == "open"]
    assert opens and all(e.initiated for e in opens)  # no side is local: originator is local
    events.clear()
    replay([DATA / "portscan.pcap"], events.append, local_nets=(host_side,))
    assert all(e.initiated for e in events if isinstance(e, NetworkEvent) and e.activity == "open")
