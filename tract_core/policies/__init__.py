"""Policies: context that manages itself (DESIGN §12).

Configure them on a tract and they watch it after every commit (or compile), proposing or
executing actions as the autonomy level says::

    from tract_core.policies import CompressPolicy, PinPolicy, BranchPolicy, ArchivePolicy, SelectPolicy

    t.configure_policies([CompressPolicy(0.8), PinPolicy(), BranchPolicy(), ArchivePolicy(days=7)],
                         autonomy="collaborative", on_proposal=callback)
    t.pending_proposals(); t.approve_proposal(p); t.reject_proposal(p, reason="...")
    t.pause_policies(); t.resume_policies(); t.policy_log(limit=20)

A custom policy is any class with ``name``, ``priority``, ``trigger`` and ``evaluate(tract)``
(:class:`Policy`).
"""

from .archive import ArchivePolicy
from .branch import BranchPolicy
from .cache import cached_prefix_lost
from .compress import CompressPolicy
from .drift import DriftDetector, DriftMessage, DriftReport
from .engine import MAX_FAILURES, OnProposal, PolicyEngine
from .execute import COMMIT_PARAMS, stale_refs
from .pin import PinPolicy
from .policy import (
    AUTONOMY_LEVELS,
    BUILTIN_KINDS,
    TRIGGERS,
    Autonomy,
    Policy,
    PolicyAction,
    Risk,
    Trigger,
    default_risk,
)
from .proposal import PROPOSAL_STATUSES, PolicyLogEntry, Proposal
from .select import SelectPolicy

__all__ = [
    "Policy",
    "PolicyAction",
    "Proposal",
    "PolicyLogEntry",
    "CompressPolicy",
    "cached_prefix_lost",
    "PinPolicy",
    "SelectPolicy",
    "BranchPolicy",
    "ArchivePolicy",
    "DriftDetector",
    "DriftMessage",
    "DriftReport",
    "PolicyEngine",
    "OnProposal",
    "Trigger",
    "Autonomy",
    "Risk",
    "TRIGGERS",
    "AUTONOMY_LEVELS",
    "BUILTIN_KINDS",
    "PROPOSAL_STATUSES",
    "MAX_FAILURES",
    "default_risk",
    "COMMIT_PARAMS",
    "stale_refs",
]
