"""Responses: the policy (alert -> action), one responder per action, fail-closed watchdog."""

from watchkeeper.respond._response import Responder, Response, ResponseError
from watchkeeper.respond._targets import (
    EpisodeEndable,
    EpisodeEndedError,
    EpisodeLatch,
    Freezable,
    Killable,
    NetworkCuttable,
    Targets,
)
from watchkeeper.respond.cut_network import CutNetworkResponder
from watchkeeper.respond.end_episode import EndEpisodeResponder
from watchkeeper.respond.enforcer import Enforcer
from watchkeeper.respond.freeze import FreezeResponder
from watchkeeper.respond.kill import KillResponder, kill_tree
from watchkeeper.respond.policy import Action, FailMode, Policy, PolicyErrors, RuleEntry
from watchkeeper.respond.watchdog import Watchdog, fail_closed

__all__ = [
    "Action",
    "CutNetworkResponder",
    "EndEpisodeResponder",
    "Enforcer",
    "EpisodeEndable",
    "EpisodeEndedError",
    "EpisodeLatch",
    "FailMode",
    "Freezable",
    "FreezeResponder",
    "Killable",
    "KillResponder",
    "NetworkCuttable",
    "Policy",
    "PolicyErrors",
    "Responder",
    "Response",
    "ResponseError",
    "RuleEntry",
    "Targets",
    "Watchdog",
    "fail_closed",
    "kill_tree",
]
