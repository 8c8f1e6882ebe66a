"""Non-rule detectors: one detector per module (thresholds, profiles, protocol evidence)."""

from watchkeeper.detect.detectors._network import NetworkDetector, network_detectors
from watchkeeper.detect.detectors.fanout import FanoutConfig, FanoutDetector
from watchkeeper.detect.detectors.metadata import MetadataDetector
from watchkeeper.detect.detectors.ssh import SshDetector
from watchkeeper.detect.detectors.stratum import StratumDetector

__all__ = [
    "FanoutConfig",
    "FanoutDetector",
    "MetadataDetector",
    "NetworkDetector",
    "SshDetector",
    "StratumDetector",
    "network_detectors",
]
