"""Graph algorithms over commits: first-parent walks, ancestry and the linear order compile uses."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

__all__ = ["first_parent_chain", "linearize", "ancestors", "is_ancestor", "merge_base"]

ParentsOf = Callable[[str], Sequence[str]]


def first_parent_chain(head: str, parents_of: ParentsOf) -> Iterator[str]:
    """Yield ``head``, its first parent, that commit's first parent, ... down to the root."""
    current: str | None = head
    while current is not None:
        yield current
        parents = parents_of(current)
        current = parents[0] if parents else None


def linearize(head: str, parents_of: ParentsOf) -> list[str]:
    """The history of ``head`` in the order compile reads it, oldest first.

    A linear history is simply oldest to newest. At a merge commit, the commits its later parents
    bring in (those not already in the history so far) come, in their own order, after the first
    parent's history and before the merge commit: "ours, then theirs since the merge base".
    """
    chain = list(first_parent_chain(head, parents_of))
    chain.reverse()
    if all(len(parents_of(c)) <= 1 for c in chain):
        return chain
    order: list[str] = []
    seen: set[str] = set()
    for commit in chain:
        parents = parents_of(commit)
        for extra in parents[1:]:
            for merged in linearize(extra, parents_of):
                if merged not in seen:
                    seen.add(merged)
                    order.append(merged)
        if commit not in seen:
            seen.add(commit)
            order.append(commit)
    return order


def ancestors(head: str, parents_of: ParentsOf) -> set[str]:
    """``head`` and every commit reachable from it through any parent."""
    found: set[str] = set()
    stack = [head]
    while stack:
        commit = stack.pop()
        if commit in found:
            continue
        found.add(commit)
        stack.extend(parents_of(commit))
    return found


def is_ancestor(candidate: str, of: str, parents_of: ParentsOf) -> bool:
    """Whether ``candidate`` is ``of`` or one of its ancestors."""
    return candidate in ancestors(of, parents_of)


def merge_base(a: str, b: str, parents_of: ParentsOf, depth_of: Callable[[str], int]) -> str | None:
    """The best common ancestor of ``a`` and ``b``: the deepest commit both can reach (None if unrelated).

    Ties between equally deep common ancestors (criss-cross histories) are broken by hash, so the
    answer is deterministic.
    """
    common = ancestors(a, parents_of) & ancestors(b, parents_of)
    if not common:
        return None
    return max(common, key=lambda h: (depth_of(h), h))
