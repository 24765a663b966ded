"""Messages as the notebook views show them: chat bubbles for a compiled context and a snapshot, and a
side-by-side table for a diff.

A bubble shows a message's role, place, tokens and badges (``PINNED``, ``SKIP``, ``EDITED``) over its
text, capped at :data:`~.html.BUBBLE_CHARS` characters; tool calls are compact monospace blocks. A
context or snapshot over :data:`~.html.MESSAGE_LIMIT` messages shows its first and last messages
only, so a notebook cell stays quick whatever the history size.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import InvalidInputError
from .html import (
    BUBBLE_CHARS,
    GREEN,
    GREY,
    MONO,
    RED,
    ROLE_COLOURS,
    badge,
    bubble,
    clip,
    clipped_html,
    elided,
    esc,
    mono,
    muted,
    number,
    panel,
    short,
    shown_indexes,
    to_json,
)

__all__ = [
    "content_text",
    "call_text",
    "message_text",
    "priority_badges",
    "message_html",
    "context_html",
    "snapshot_html",
    "diff_html",
]

CALL_CHARS = 300
"""At most this many characters of one tool call are shown."""
BLUE = "#2563eb"


def content_text(content: Any) -> str:
    """A message's content as plain text: text as is, content parts one after another (an image as
    ``[image: url]``, other parts as JSON), anything else as JSON."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, Sequence) and not isinstance(content, (bytes, bytearray)):
        pieces = []
        for part in content:
            if isinstance(part, Mapping) and part.get("type") == "text" and isinstance(part.get("text"), str):
                pieces.append(part["text"])
            elif isinstance(part, Mapping) and part.get("type") == "image_url":
                image = part.get("image_url")
                url = image.get("url") if isinstance(image, Mapping) else image
                pieces.append(f"[image: {clip(str(url), 120)[0]}]")
            else:
                pieces.append(to_json(part))
        return "\n".join(pieces)
    return to_json(content)


def call_text(call: Any) -> str:
    """One tool call (OpenAI shape) as ``name(arg=value, ...)``, values as JSON."""
    function = call.get("function") if isinstance(call, Mapping) else None
    if not isinstance(function, Mapping):
        return to_json(call)
    name = function.get("name") or "?"
    arguments = function.get("arguments")
    try:
        parsed = json.loads(arguments) if isinstance(arguments, str) else arguments
    except ValueError:
        parsed = arguments
    if isinstance(parsed, Mapping):
        listed = ", ".join(
            f"{key}={json.dumps(value, ensure_ascii=False, default=str)}" for key, value in parsed.items()
        )
    elif parsed in (None, ""):
        listed = ""
    else:
        listed = parsed if isinstance(parsed, str) else to_json(parsed)
    return f"{name}({listed})"


def message_text(message: Mapping[str, Any]) -> str:
    """A message as plain text for comparing two of them: its content, a ``→ call`` line per tool
    call, and its other fields (but the role) as JSON."""
    text = content_text(message.get("content"))
    calls = message.get("tool_calls")
    lines = [f"→ {call_text(call)}" for call in calls] if isinstance(calls, Sequence) else []
    extras = {k: v for k, v in message.items() if k not in ("role", "content", "tool_calls")}
    if extras:
        lines.append(to_json(extras))
    return "\n".join([text, *lines]) if lines else text


def priority_badges(priority: Any, edited: bool = False) -> str:
    """``PINNED`` or ``SKIP`` for a priority (an enum or its value), and ``EDITED`` for an edited message."""
    value = getattr(priority, "value", priority)
    out = ""
    if value == "pinned":
        out += badge("PINNED", BLUE, "kept by every compression")
    elif value == "skip":
        out += badge("SKIP", GREY, "left out of the compiled context")
    if edited:
        out += badge("EDITED", "#7c3aed", "an EDIT commit replaced its content")
    return out


def _calls_html(calls: Any) -> str:
    if not isinstance(calls, Sequence) or isinstance(calls, str):
        return ""
    blocks = []
    for call in calls:
        shown = clipped_html(call_text(call), CALL_CHARS)
        ident = call.get("id") if isinstance(call, Mapping) else None
        hover = f' title="{esc(ident)}"' if ident else ""
        blocks.append(
            f'<div{hover} style="{MONO};margin-top:4px;padding:2px 6px;border:1px dashed {ROLE_COLOURS["tool"]};'
            f'border-radius:5px;white-space:pre-wrap">⚙ {shown}</div>'
        )
    return "".join(blocks)


def message_html(
    message: Mapping[str, Any],
    *,
    index: int | None = None,
    tokens: int | None = None,
    commit: str | None = None,
    badges: str = "",
    notes: Sequence[str] = (),
) -> str:
    """One message as a bubble.

    Args:
        message: The message (OpenAI chat shape).
        index: Its position, shown as ``#index``.
        tokens: Its estimated tokens.
        commit: The commit that added it (a short hash is shown).
        badges: Badges, already HTML (:func:`priority_badges`).
        notes: More plain-text facts for the header line (escaped here).
    """
    role = str(message.get("role", "?"))
    colour = ROLE_COLOURS.get(role, GREY)
    header = [f'<b style="color:{colour}">{esc(role)}</b>']
    if index is not None:
        header.append(muted(f"#{index}"))
    if tokens is not None:
        header.append(f"<span>{number(tokens)} tok</span>")
    if role == "tool" and message.get("tool_call_id"):
        header.append(muted(f"result of {message.get('tool_call_id')}"))
    if message.get("name"):
        header.append(muted(f"name {message.get('name')}"))
    header.extend(muted(note) for note in notes)
    if commit:
        header.append(mono(short(commit), commit))
    header_html = " · ".join(header) + (f" {badges}" if badges else "")
    text = content_text(message.get("content"))
    calls = message.get("tool_calls")
    body = clipped_html(text) if text else ("" if calls else muted("(no content)"))
    return bubble(role, header_html, body + _calls_html(calls))


def _bubbles(total: int, draw: Any, what: str = "messages") -> str:
    """The bubbles of ``total`` messages (``draw(i)`` makes one), the middle of a long list left out."""
    head, tail = shown_indexes(total)
    out = "".join(draw(i) for i in head)
    if tail:
        out += elided(total - len(head) - len(tail), what) + "".join(draw(i) for i in tail)
    return out


def context_html(context: Any) -> str:
    """A :class:`~tract_core.CompiledContext` as chat bubbles with tokens and badges per message."""
    messages = context.messages
    hashes = context.commit_hashes

    def draw(i: int) -> str:
        try:
            entry = context.entry(i)
        except InvalidInputError:  # built by hand: no tokens, no priorities
            return message_html(messages[i], index=i, commit=hashes[i])
        return message_html(
            messages[i],
            index=i,
            tokens=entry.tokens,
            commit=entry.commit,
            badges=priority_badges(entry.priority, entry.edited),
        )

    title = (
        f"CompiledContext · {number(len(messages))} message{'s' if len(messages) != 1 else ''} · "
        f"{number(context.token_count)} tokens · head {mono(short(context.head))}"
    )
    body = _bubbles(len(messages), draw) if messages else muted("no messages")
    return panel(title, body, ROLE_COLOURS["assistant"])


def snapshot_html(snapshot: Any) -> str:
    """A :class:`~tract_core.tree.Snapshot`: a bubble per node with its region, coordinate, tags and key."""
    nodes = snapshot.nodes
    messages = snapshot.messages

    def draw(i: int) -> str:
        node = nodes[i]
        notes = [node.region, "(" + ", ".join(str(n) for n in node.coordinate) + ")"]
        if node.key:
            notes.append(f"key {node.key}")
        if node.lifecycle:
            notes.append(f"lifecycle {to_json(node.lifecycle)}")
        tags = "".join(badge(f"+{tag}", "#0891b2") for tag in node.tags)
        return message_html(
            messages[i], tokens=node.tokens, commit=node.id, badges=priority_badges(node.priority) + tags, notes=notes
        )

    regions: dict[str, int] = {}
    for node in nodes:
        regions[node.region] = regions.get(node.region, 0) + 1
    counts = ", ".join(f"{name} {count}" for name, count in regions.items())
    title = (
        f"Snapshot {mono(snapshot.at)} · {number(len(nodes))} nodes"
        f"{' (' + esc(counts) + ')' if counts else ''} · {number(snapshot.token_count)} tokens · "
        f"head {mono(short(snapshot.head))}"
    )
    body = _bubbles(len(nodes), draw, "nodes") if nodes else muted("no nodes")
    return panel(title, body, "#0891b2")


_ADDED_BG, _REMOVED_BG = "rgba(34,197,94,0.18)", "rgba(239,68,68,0.18)"


def _lines_html(lines: Sequence[tuple[str, str | None]]) -> str:
    """Lines of text, each on its own background (None: none), capped at :data:`BUBBLE_CHARS` in all."""
    out, used = [], 0
    for text, background in lines:
        if used >= BUBBLE_CHARS:
            left = sum(len(t) + 1 for t, _ in lines) - used
            out.append(muted(f"… {left:,} more chars"))
            break
        shown, _ = clip(text, BUBBLE_CHARS - used)
        used += len(text) + 1
        style = f"background:{background};" if background else ""
        cut = muted(" …") if len(shown) < len(text) else ""
        out.append(f'<div style="{style}min-height:1.2em">{esc(shown)}{cut}</div>')
    return "".join(out)


def _side_by_side(before: str, after: str) -> tuple[str, str]:
    """Both texts, line by line, removed lines marked on the left and added ones on the right."""
    a, b = before.splitlines() or [""], after.splitlines() or [""]
    left: list[tuple[str, str | None]] = []
    right: list[tuple[str, str | None]] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        left.extend((line, None if tag == "equal" else _REMOVED_BG) for line in a[i1:i2])
        right.extend((line, None if tag == "equal" else _ADDED_BG) for line in b[j1:j2])
    return _lines_html(left), _lines_html(right)


def _cell(role: str, index: int | None, hash: str | None, body: str, background: str = "") -> str:
    colour = ROLE_COLOURS.get(role, GREY)
    place = f" {muted(f'#{index}')}" if index is not None else ""
    commit = f" {mono(short(hash, 8), hash)}" if hash else ""
    style = f"background:{background};" if background else ""
    return (
        f'<div style="{style}padding:3px 6px;border-radius:5px;border-left:3px solid {colour}">'
        f'<div style="font-size:11.5px"><b style="color:{colour}">{esc(role)}</b>{place}{commit}</div>'
        f'<div style="white-space:pre-wrap;word-break:break-word;overflow-wrap:anywhere">{body}</div></div>'
    )


def diff_html(diff: Any) -> str:
    """A :class:`~tract_core.ContextDiff` side by side: the first context's messages on the left, the
    second's on the right; removed ones red, added ones green, changed ones line by line."""
    changes = diff.changes
    delta = diff.token_delta
    sign = "+" if delta >= 0 else ""
    delta_colour = RED if delta > 0 else GREEN if delta < 0 else GREY
    title = (
        f"ContextDiff {mono(short(diff.a))} → {mono(short(diff.b))} · "
        f"{badge(f'+{len(diff.added)} added', GREEN)}{badge(f'-{len(diff.removed)} removed', RED)}"
        f"{badge(f'~{len(diff.changed)} changed', '#d97706')} · "
        f'<span style="color:{delta_colour}">{sign}{number(delta)} tokens</span>'
    )
    if not changes:
        return panel(title, muted("no differences"), GREY)

    def row(i: int) -> str:
        change = changes[i]
        if change.kind == "added":
            text = message_text(change.after or {})
            left = ""
            right = _cell(change.role, change.index_b, change.hash_b, clipped_html(text), _ADDED_BG)
        elif change.kind == "removed":
            text = message_text(change.before or {})
            left = _cell(change.role, change.index_a, change.hash_a, clipped_html(text), _REMOVED_BG)
            right = ""
        else:
            before_html, after_html = _side_by_side(message_text(change.before or {}), message_text(change.after or {}))
            before_role = str((change.before or {}).get("role", change.role))
            left = _cell(before_role, change.index_a, change.hash_a, before_html)
            right = _cell(change.role, change.index_b, change.hash_b, after_html)
        kind = {"added": ("+", GREEN), "removed": ("−", RED)}.get(change.kind, ("~", "#d97706"))
        sign_html = f'<b style="color:{kind[1]}">{kind[0]}</b>'
        cell = "padding:3px 4px;vertical-align:top;width:48%"
        return (
            f'<tr><td style="padding:3px 4px;vertical-align:top;text-align:center">{sign_html}</td>'
            f'<td style="{cell}">{left}</td><td style="{cell}">{right}</td></tr>'
        )

    head, tail = shown_indexes(len(changes))
    rows = "".join(row(i) for i in head)
    if tail:
        left_out = len(changes) - len(head) - len(tail)
        rows += f'<tr><td colspan="3">{elided(left_out, "changes")}</td></tr>' + "".join(row(i) for i in tail)
    header = (
        '<tr><th></th><th style="text-align:left;padding:2px 4px;opacity:0.75">'
        f"before ({esc(short(diff.a))})</th>"
        f'<th style="text-align:left;padding:2px 4px;opacity:0.75">after ({esc(short(diff.b))})</th></tr>'
    )
    body = f'<table style="border-collapse:collapse;width:100%;color:inherit">{header}{rows}</table>'
    return panel(title, body, "#d97706")
