"""The network detector set, as used by the live sensor pipeline and ``watchkeeper pcap``."""

from __future__ import annotations

from collections.abc import Iterable

from watchkeeper.detect.detectors.fanout import FanoutConfig, FanoutDetector
from watchkeeper.detect.detectors.metadata import MetadataDetector
from watchkeeper.detect.detectors.ssh import SshDetector
from watchkeeper.detect.detectors.stratum import StratumDetector

NetworkDetector = StratumDetector | SshDetector | FanoutDetector | MetadataDetector


def network_detectors(
    allow_ssh: Iterable[str] = (), fanout: FanoutConfig | None = None
) -> list[NetworkDetector]:
    """A fresh set of the four network detectors (each keeps its own state)."""
    return [
        StratumDetector(),
        SshDetector(allow=allow_ssh),
        FanoutDetector(fanout),
        MetadataDetector(),
    ]
