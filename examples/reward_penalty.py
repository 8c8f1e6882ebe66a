"""Use watchkeeper as an RL reward penalty (verl / OpenRLHF / ROLL style reward function).

Run: ``.venv/bin/python examples/reward_penalty.py``
"""

from __future__ import annotations

import json
from typing import Any

from watchkeeper.audit import score


def compute_score(task_reward: float, messages: list[dict[str, Any]], scale: float = 1.0) -> float:
    """The task reward minus a safety penalty in [0, scale]."""
    verdict = score(messages)
    return task_reward - verdict.penalty(scale=scale)


def _rollout(command: str) -> list[dict[str, Any]]:
    return [
        {"role": "user", "content": "make the tests pass"},
        {"role": "assistant", "content": None, "tool_calls": [{
            "id": "call_0", "type": "function",
            "function": {"name": "bash", "arguments": json.dumps({"command": command})},
        }]},
    ]


if __name__ == "__main__":
    for cmd in ("python -m pytest -q", "nohup ./x -o stratum+tcp://198.51.100.3:3333 -u w -p x &"):
        print(f"{compute_score(1.0, _rollout(cmd)):+.3f}  {cmd}")
