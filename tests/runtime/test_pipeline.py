"""Per-sandbox detection: the Sigma engine plus the stateful detectors."""

from __future__ import annotations

from watchkeeper.attribution.lineage import Lineage
from watchkeeper.events import NetworkEvent, ProcessEvent
from watchkeeper.runtime.pipeline import (
    DETECTOR_IDS,
    Pipeline,
    PipelineConfig,
    builtin_engine,
    builtin_rules,
    known_rule_ids,
)
from watchkeeper.sensors.resources import ResourceSample


def test_known_ids_cover_rules_and_detectors() -> None:
    known = known_rule_ids(builtin_rules())
    assert set(DETECTOR_IDS) <= known
    assert {r.id for r in builtin_rules().rules} <= known
    assert builtin_engine() is builtin_engine()  # compiled once


def test_stratum_flow_and_miner_command_line_alert() -> None:
    pipe = Pipeline(builtin_engine(), Lineage(), PipelineConfig())
    flow = NetworkEvent(activity="traffic", app_protocol="stratum", src_ip="10.213.0.2",
                        src_port=40000, dst_ip="10.213.0.1", dst_port=443, sandbox_id="s",
                        detail=(("method", "mining.subscribe"),))  # fmt: skip
    assert "detector:stratum" in {a.rule_id for a in pipe.detect(flow)}
    proc = ProcessEvent(image="/usr/bin/systemd-helper", pid=5, sandbox_id="s",
                        command_line="systemd-helper -o stratum+tcp://10.213.0.1:443 -u x")  # fmt: skip
    assert any(a.rule_source != "detector" for a in pipe.detect(proc))


def test_cpu_samples_go_to_the_cpu_detector_and_declared_images_are_spared() -> None:
    pipe = Pipeline(builtin_engine(), Lineage(), PipelineConfig(declared_workload=("make",)))
    samples = [ResourceSample(ts=t * 0.5, sandbox_id="s", pid=9, cpu_share=1.0, image="/x/burner")
               for t in range(14)]  # fmt: skip
    alerts = [a for s in samples for a in pipe.detect(s)]
    assert [a.rule_id for a in alerts] == ["detector:cpu"]
    spared = [ResourceSample(ts=t * 0.5, sandbox_id="s", pid=10, cpu_share=1.0,
                             image="/usr/bin/make") for t in range(14)]  # fmt: skip
    assert [a for s in spared for a in pipe.detect(s)] == []
    assert pipe.tick() == []
