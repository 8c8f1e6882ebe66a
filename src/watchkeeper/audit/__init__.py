"""Offline audit of agent trajectories: what each step did, findings, risk and verdicts.

``score(trajectory)`` is the RL-facing call; :class:`Auditor` is the batch engine behind
``watchkeeper audit``.
"""

from watchkeeper.audit._parallel import (
    DEFAULT_BATCH,
    ParallelAuditor,
    WorkerDiedError,
    audit_parallel,
    default_jobs,
)
from watchkeeper.audit._score import Auditor, behaviour_of, default_auditor, score
from watchkeeper.audit._verdict import SEVERITY_WEIGHT, Finding, Verdict, risk_of

__all__ = [
    "DEFAULT_BATCH",
    "SEVERITY_WEIGHT",
    "Auditor",
    "Finding",
    "ParallelAuditor",
    "Verdict",
    "WorkerDiedError",
    "audit_parallel",
    "behaviour_of",
    "default_auditor",
    "default_jobs",
    "risk_of",
    "score",
]
