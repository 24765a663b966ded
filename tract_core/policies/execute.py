"""Carrying out a :class:`~tract_core.policies.policy.PolicyAction` on a tract, and telling whether
a proposal's basis still holds.

Every built-in kind maps to one public :class:`~tract_core.Tract` method, so an action does exactly
what the same call by hand would do (and is recorded the same way).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..compress import CompressionResult
from ..errors import ConcurrentUpdateError, InvalidInputError, TractError
from ..objects import Operation, Priority
from .host import PolicyHost
from .policy import BUILTIN_KINDS, Policy, PolicyAction

__all__ = ["execute_action", "check_executable", "stale_refs", "COMMIT_PARAMS", "TANGENT_PREFIX", "FOLD_PROMPT"]

COMMIT_PARAMS: tuple[str, ...] = ("target", "targets", "from_commit", "to_commit", "start", "head")
"""Parameters that name commits of HEAD's history (``targets``: a list of them): a proposal whose
named commits left it is stale."""

TANGENT_PREFIX = "tangent/"
"""Branches BranchPolicy moves a tangent to: ``tangent/1``, ``tangent/2``, ..."""


def stale_refs(tract: PolicyHost, params: Mapping[str, Any]) -> list[str]:
    """The commit parameters of ``params`` that are no longer in the history of ``tract``'s HEAD."""
    named: list[str] = []
    for key in COMMIT_PARAMS:
        value = params.get(key)
        if isinstance(value, str):
            named.append(value)
        elif isinstance(value, list):
            named.extend(v for v in value if isinstance(v, str))
    return [commit for commit in named if not tract.contains(commit)]


def check_executable(tract: PolicyHost, kind: str, params: Mapping[str, Any], policy: Policy | None) -> None:
    """Refuse, before anything is decided, an action this process has no way to carry out.

    Raises:
        InvalidInputError: A custom kind whose policy is not configured here (or has no
            ``execute``), or a compression with no LLM and no ``content``.
    """
    if kind in ("compress", "fold"):
        if getattr(policy, "llm", None) is None and tract.config.llm is None and params.get("content") is None:
            raise InvalidInputError(
                "this compression needs an LLM to write the summary and this process has none: give "
                "CompressPolicy(llm=...) or TractConfig(llm=...), or approve it with content='<your summary>'"
            )
        return
    if kind in BUILTIN_KINDS:
        return
    if policy is None or not callable(getattr(policy, "execute", None)):
        raise InvalidInputError(
            f"a {kind!r} action is carried out by its policy's execute(), and that policy is not configured "
            "in this process (or has no execute): configure_policies() with it, or decide it where it runs"
        )


def _next_tangent(tract: PolicyHost) -> str:
    taken = {b.name for b in tract.list_branches(include_archived=True)}
    number = 1
    while f"{TANGENT_PREFIX}{number}" in taken:
        number += 1
    return f"{TANGENT_PREFIX}{number}"


def _branch(tract: PolicyHost, params: Mapping[str, Any]) -> dict[str, Any]:
    """With ``start``: move the tangent (``start`` .. HEAD) to a new branch, the current branch going
    back to before it. Without: create branch ``name`` at ``from_commit`` (default HEAD), switching
    to it if ``switch``."""
    start = params.get("start")
    if start is None and isinstance(params.get("name"), str):
        info = tract.branch(params["name"], params.get("from_commit"), switch=bool(params.get("switch", False)))
        return {"branch": info.name, "at": info.commit}
    if not isinstance(start, str):
        raise InvalidInputError("a branch action needs 'start' (the first commit of a tangent) or a 'name'")
    name = params.get("name") or _next_tangent(tract)
    current = tract.current_branch
    before = tract.show(start).parents
    with tract.batch():
        tract.branch(name)
        if current is not None:
            tract.reset(before[0] if before else None)
        tract.switch(name)
    return {"branch": name, "left": current, "at": before[0] if before else None}


def _compress(tract: PolicyHost, params: Mapping[str, Any], policy: Policy | None) -> dict[str, Any]:
    llm = getattr(policy, "llm", None)
    check_executable(tract, "compress", params, policy)
    keywords = {k: params[k] for k in ("from_commit", "to_commit", "target_tokens", "content") if k in params}
    if "to_commit" not in keywords and "keep_recent" in params:
        keywords["keep_recent"] = params["keep_recent"]
    result = tract.compress(llm=llm, **keywords)
    assert isinstance(result, CompressionResult)  # auto_commit: never a pending one
    return {
        "compression": result.id,
        "summary": None if result.summary is None else result.summary.hash,
        "head": result.head,
        "tokens_before": result.tokens_before,
        "tokens_after": result.tokens_after,
    }


FOLD_PROMPT = (
    "Summarise this side discussion in one paragraph: what was discussed, what was decided and any "
    "open question. Leave out repetition and small talk."
)
"""How a folded tangent's summary is asked for."""


def _fold(tract: PolicyHost, params: Mapping[str, Any], policy: Policy | None) -> dict[str, Any]:
    """Fold a tangent back: compress its own messages (``first`` .. ``tip``) into one summary, merge
    that into ``into`` (where HEAD ends up), and archive the tangent branch (restorable)."""
    branch, into, first, tip = (params.get(k) for k in ("branch", "into", "first", "tip"))
    if not all(isinstance(v, str) for v in (branch, into, first, tip)):
        raise InvalidInputError("a fold action needs 'branch', 'into', 'first' and 'tip'")
    check_executable(tract, "fold", params, policy)
    now = {b.name: b.commit for b in tract.list_branches()}
    if now.get(branch) != tip:
        raise ConcurrentUpdateError(f"{branch} moved (or is gone) since the fold was proposed; nothing was changed")
    if into not in now:
        raise InvalidInputError(f"there is no branch {into!r} to fold {branch} into")
    tract.switch(branch)
    result = tract.compress(
        params.get("content"),
        llm=getattr(policy, "llm", None),
        from_commit=first,
        to_commit=tip,
        keep_recent=0,
        target_tokens=params.get("target_tokens"),
        prompt=None if params.get("content") is not None else FOLD_PROMPT,
    )
    assert isinstance(result, CompressionResult)
    tract.switch(into)
    merged = tract.merge(branch)
    archived = tract.archive_branch(branch).name
    return {
        "summary": None if result.summary is None else result.summary.hash,
        "head": getattr(merged, "head", None),
        "archived": archived,
        "tangent": result.head,  # the archived branch's tip: a restored tangent that has not grown is folded
        "tokens_before": result.tokens_before,
        "tokens_after": result.tokens_after,
    }


def _archive(tract: PolicyHost, params: Mapping[str, Any]) -> dict[str, Any]:
    if "branches" in params:
        tips = params.get("tips")
        if isinstance(tips, list | tuple) and len(tips) == len(params["branches"]):
            now = {b.name: b.commit for b in tract.list_branches()}
            moved = [name for name, tip in zip(params["branches"], tips, strict=True) if now.get(name) != tip]
            if moved:  # no longer idle (or renamed, deleted): what was proposed is not what is there
                raise ConcurrentUpdateError(
                    f"branch(es) {', '.join(moved)} moved since the archive was proposed (new commits, renamed "
                    "or deleted); nothing was archived"
                )
        moved = [tract.archive_branch(name).name for name in params["branches"]]
        return {"archived": moved}
    result = tract.archive(params["to_commit"], from_commit=params.get("from_commit"))
    return {"compression": result.id, "head": result.head}


def execute_action(
    tract: PolicyHost, kind: str, params: Mapping[str, Any], policy: Policy | None, execute: Any = None
) -> Any:
    """Carry out one action on ``tract``; return JSON data describing what it did.

    Raises:
        InvalidInputError: A custom kind with no ``execute``, or parameters the kind cannot use.
        TractError: Whatever the underlying tract call raises.
    """
    if kind == "annotate":
        priority, reason = Priority(params["priority"]), params.get("reason")
        if "targets" in params:
            with tract.batch():
                done = [tract.annotate(t, priority, reason=reason).target for t in params["targets"]]
            return {"targets": done, "priority": str(priority)}
        info = tract.annotate(params["target"], priority, reason=reason)
        return {"target": info.target, "priority": str(info.priority)}
    if kind == "set_lifecycle":
        change = tract.set_lifecycle(params["target"], params.get("lifecycle") or None, reason=params.get("reason"))
        life = change.lifecycle
        return {"target": change.target, "lifecycle": {} if life is None else life.to_dict()}
    if kind == "compress":
        return _compress(tract, params, policy)
    if kind == "branch":
        return _branch(tract, params)
    if kind == "fold":
        return _fold(tract, params, policy)
    if kind == "archive":
        return _archive(tract, params)
    if kind == "merge":
        merged = tract.merge(params["source"], strategy=params.get("strategy", "auto"))
        return {"head": getattr(merged, "head", None)}
    if kind == "gc":
        keywords = {k: params[k] for k in ("orphan_retention_days", "archive_retention_days", "vacuum") if k in params}
        swept = tract.gc(**keywords)
        return {"commits": len(swept.commits), "blobs": swept.blobs, "file_bytes_after": swept.file_bytes_after}
    if kind == "edit":
        edit = tract.commit(params["content"], operation=Operation.EDIT, response_to=params["target"])
        return {"commit": edit.hash}
    runner = execute if execute is not None else getattr(policy, "execute", None)
    if runner is None:
        raise InvalidInputError(
            f"no way to execute a {kind!r} action: give the PolicyAction an execute= function or the "
            "policy an execute(tract, action) method"
        )
    if execute is not None:
        return _plain(execute(tract, params))
    return _plain(runner(tract, PolicyAction(kind, params)))


def _plain(value: Any) -> Any:
    """What a custom execute returned, as JSON data (its repr if it is not)."""
    if value is None or isinstance(value, str | int | float | bool | list | dict):
        return value
    if isinstance(value, TractError):
        return str(value)
    return repr(value)
