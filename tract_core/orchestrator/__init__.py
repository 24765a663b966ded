"""The orchestrator: context that looks after itself (DESIGN §13, scenarios 7.2, 7.3, X.1, X.2).

Configure it with triggers and it runs after the commits that fire them, with no polling::

    from tract_core.orchestrator import OrchestratorConfig, TriggerConfig

    t.configure_orchestrator(config=OrchestratorConfig(
        triggers=TriggerConfig(on_commit_count=20, on_token_threshold=0.7)))
    t.health()          # budget pressure, fragmentation, stale/tangent branches, oversized tool outputs, proposals
    t.orchestrate()     # one run now
    t.pause_orchestrator(); t.resume_orchestrator()

A run assesses :meth:`~tract_core.Tract.health`, then acts for at most ``max_steps``: with no
``llm`` deterministic rules choose (:mod:`.rules`); with one, the model gets the report and the
``profile``'s tools and chooses. Every action is a proposal: ``autonomy`` and ``callbacks`` decide.
"""

from .config import Callback, OrchestratorConfig, TriggerConfig
from .health import SEVERITIES, HealthItem, HealthReport
from .orchestrator import ORCHESTRATOR_PROMPT, STOP_REASONS, Orchestrator, OrchestratorRun, OrchestratorStep

__all__ = [
    "OrchestratorConfig",
    "TriggerConfig",
    "Callback",
    "HealthItem",
    "HealthReport",
    "SEVERITIES",
    "Orchestrator",
    "OrchestratorRun",
    "OrchestratorStep",
    "ORCHESTRATOR_PROMPT",
    "STOP_REASONS",
]
