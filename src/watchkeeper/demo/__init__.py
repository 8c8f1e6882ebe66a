"""``watchkeeper demo``: a ROME-like agent episode replayed live in a watched sandbox.

The shipped episode (``examples/rome_episode.json``, OpenAI chat format) fixes a unit test,
then probes the "internal network", steals canary AWS keys and tries them, opens a reverse SSH
tunnel and starts a cryptominer. Every host it talks to is a local fake on the sandbox's host
end; watchkeeper detects, attributes and (for the miner) stops each behaviour, and the run
directory gets the report and the threat-intel exports. See docs/demo.md.
"""

from watchkeeper.demo._episode import Command, episode_path, load_episode, to_command
from watchkeeper.demo._network import (
    CANARY_PORT,
    INTERCEPT,
    SERVICES,
    DemoNetwork,
    Service,
    wildcard_listeners,
)
from watchkeeper.demo._project import PROJECT, write_project
from watchkeeper.demo._run import (
    OUTPUTS,
    DemoResult,
    StepRow,
    clean_outputs,
    policy_path,
    run_demo,
    write_exports,
)

__all__ = [
    "CANARY_PORT",
    "INTERCEPT",
    "OUTPUTS",
    "PROJECT",
    "SERVICES",
    "Command",
    "DemoNetwork",
    "DemoResult",
    "Service",
    "StepRow",
    "clean_outputs",
    "episode_path",
    "load_episode",
    "policy_path",
    "run_demo",
    "to_command",
    "wildcard_listeners",
    "write_exports",
    "write_project",
]
