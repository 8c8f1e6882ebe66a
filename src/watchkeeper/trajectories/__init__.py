"""Readers of recorded agent trajectories (one per format) into a common model."""

from watchkeeper.trajectories._model import Step, ToolCall, ToolKind, Trajectory

__all__ = ["Step", "ToolCall", "ToolKind", "Trajectory"]
