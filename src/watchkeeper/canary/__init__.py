"""Canary tokens: fake credentials planted in a sandbox, and alerts when they are read or used.

::

    from watchkeeper import Sandbox
    from watchkeeper.canary import CanaryConfig

    with Sandbox(canaries=CanaryConfig(intercept=("sts.amazonaws.com",))) as sb:
        sb.exec("cat ~/.aws/credentials")       # -> canary:file-read (high)
        sb.canaries.tokens()                    # what was planted, with ids and secrets

Standalone: :func:`plant` files, register them in a :class:`CanaryRegistry`, run a
:class:`CanaryDetector` on events, and serve :class:`CanaryHttp` / :class:`CanaryDns`.
See docs/canaries.md.
"""

from watchkeeper.canary._hit import SOURCE, CanaryHit, hit_event
from watchkeeper.canary._kit import CanaryKit
from watchkeeper.canary._plant import Planting, plant, unplant
from watchkeeper.canary._registry import CanaryConfig, CanaryError, CanaryRegistry
from watchkeeper.canary._token import (
    ATTACK_READ,
    ATTACK_USE,
    DEFAULT_PATHS,
    DEFAULT_ZONE,
    CanaryToken,
    TokenKind,
    github_checksum_ok,
    make_token,
)
from watchkeeper.canary.detector import (
    RULE_DNS,
    RULE_FILE_READ,
    RULE_HTTP,
    RULE_IDS,
    RULE_TOKEN_USED,
    CanaryDetector,
)
from watchkeeper.canary.dns import CanaryDns
from watchkeeper.canary.http import CanaryHttp

__all__ = [
    "ATTACK_READ",
    "ATTACK_USE",
    "DEFAULT_PATHS",
    "DEFAULT_ZONE",
    "RULE_DNS",
    "RULE_FILE_READ",
    "RULE_HTTP",
    "RULE_IDS",
    "RULE_TOKEN_USED",
    "SOURCE",
    "CanaryConfig",
    "CanaryDetector",
    "CanaryDns",
    "CanaryError",
    "CanaryHit",
    "CanaryHttp",
    "CanaryKit",
    "CanaryRegistry",
    "CanaryToken",
    "Planting",
    "TokenKind",
    "github_checksum_ok",
    "hit_event",
    "make_token",
    "plant",
    "unplant",
]
