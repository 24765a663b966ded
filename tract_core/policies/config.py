"""How a tract's policy configuration is stored, and brought back when the tract is reopened.

Built-in policies are stored by name and parameters, custom ones by import path
(``"pkg.module:Class"``) and the keyword arguments their ``to_config()`` returns (none if they have
no such method). Callables (an ``llm``, a ``scorer``, ``on_proposal``) are not stored: give them
again after reopening (``configure_policies(on_proposal=...)``; a CompressPolicy without an LLM uses
the tract's ``TractConfig(llm=...)``).
"""

from __future__ import annotations

import importlib
import json
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import InvalidInputError, PolicyWarning
from ..objects import canonical_json
from .policy import Policy, check_autonomy

__all__ = ["dump_config", "load_config", "policy_path"]


def policy_path(policy: object) -> str:
    """The import path of a policy's class, ``"module:QualifiedName"``."""
    cls = type(policy)
    return f"{cls.__module__}:{cls.__qualname__}"


def _spec(policy: Policy) -> dict[str, Any]:
    to_config = getattr(policy, "to_config", None)
    params = to_config() if callable(to_config) else {}
    if not isinstance(params, Mapping):
        raise InvalidInputError(f"{type(policy).__name__}.to_config() must return a dict of keyword arguments")
    spec: dict[str, Any] = {"class": policy_path(policy), "params": dict(params)}
    autonomy = getattr(policy, "autonomy", None)
    if autonomy is not None:
        spec["autonomy"] = check_autonomy(autonomy, f"{policy.name}.autonomy")
    return spec


def dump_config(policies: Sequence[Policy], autonomy: str) -> str:
    """The stored form (canonical JSON) of a configuration.

    Raises:
        InvalidInputError: A policy's ``to_config()`` gives something that is not JSON data.
    """
    return canonical_json({"autonomy": autonomy, "policies": [_spec(p) for p in policies]})


def _import(path: str) -> Any:
    module_name, _, qualname = path.partition(":")
    target: Any = importlib.import_module(module_name)
    for part in qualname.split("."):
        target = getattr(target, part)
    return target


def load_config(config_json: str, tract_id: str) -> tuple[list[Policy], str]:
    """The policies and autonomy of a stored configuration.

    A policy that cannot be imported or built is left out with a :class:`~tract_core.errors.PolicyWarning`
    saying which and why (the others still run).
    """
    data = json.loads(config_json) if config_json else {}
    policies: list[Policy] = []
    for spec in data.get("policies", ()):
        path = spec.get("class", "?")
        try:
            policy = _import(path)(**spec.get("params", {}))
            if "autonomy" in spec:
                policy.autonomy = spec["autonomy"]
        except Exception as error:  # any import or constructor failure: warn, keep the others
            warnings.warn(
                f"tract {tract_id!r}: the stored policy {path} could not be restored ({type(error).__name__}: "
                f"{error}); it does not run. Make it importable (a module, not __main__) or "
                "configure_policies() again",
                PolicyWarning,
                stacklevel=4,
            )
            continue
        policies.append(policy)
    return policies, data.get("autonomy", "collaborative")
