"""Watchkeeper: a security runtime for AI agents that run code.

The public entry points are imported lazily so that ``import watchkeeper`` stays cheap:

- ``watchkeeper.Sandbox`` / ``watchkeeper.ExecResult``: run tool calls in a watched sandbox.
- ``watchkeeper.score``: audit one trajectory (RL reward penalty).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from watchkeeper.audit import score
    from watchkeeper.runtime import ExecResult, Sandbox

_LAZY = {
    "Sandbox": "watchkeeper.runtime",
    "ExecResult": "watchkeeper.runtime",
    "score": "watchkeeper.audit",
}

__all__ = ["ExecResult", "Sandbox", "__version__", "score"]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'watchkeeper' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
