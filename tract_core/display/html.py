"""HTML building blocks for the notebook views: escaping, badges, bars, bubbles, tables and cards.

Everything here is pure string building. Every piece of text that comes from a user, a model or a
store (message content, names, metadata, tool arguments) goes through :func:`esc` before it reaches
the page, so hostile content (``<script>``, ``"><img onerror=...>``) is shown as text and never
runs. Styles are inline ``style=`` attributes only (no ``<style>`` block, no JavaScript), so the
views survive renderers that strip both, such as GitHub's notebook viewer. Colours are mid-tones on
translucent backgrounds and text inherits the page's colour, so the views read on light and dark
themes alike.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable, Sequence
from typing import Any

__all__ = [
    "BUBBLE_CHARS",
    "MESSAGE_LIMIT",
    "HEAD_MESSAGES",
    "TAIL_MESSAGES",
    "ROLE_COLOURS",
    "esc",
    "clip",
    "clipped_html",
    "short",
    "number",
    "to_json",
    "fill_colour",
    "badge",
    "bar",
    "muted",
    "mono",
    "panel",
    "table",
    "fields",
    "bubble",
    "elided",
    "shown_indexes",
]

BUBBLE_CHARS = 2_000
"""At most this many characters of a message's text are shown; the rest is counted ("… N more chars")."""
MESSAGE_LIMIT = 200
"""A list longer than this shows its first :data:`HEAD_MESSAGES` and last :data:`TAIL_MESSAGES` items."""
HEAD_MESSAGES = 50
"""Leading items shown of a list over :data:`MESSAGE_LIMIT`."""
TAIL_MESSAGES = 100
"""Trailing items shown of a list over :data:`MESSAGE_LIMIT` (the newest messages matter most)."""

ROLE_COLOURS = {
    "system": "#a855f7",
    "developer": "#a855f7",
    "user": "#3b82f6",
    "assistant": "#22c55e",
    "tool": "#f59e0b",
}
"""The colour of each message role (others are grey)."""
GREY = "#94a3b8"
GREEN, AMBER, RED = "#16a34a", "#d97706", "#dc2626"
FONT = "font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;font-size:13px;line-height:1.45"
MONO = "font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12px"


def esc(value: Any) -> str:
    """``value`` as text that HTML shows as is: ``&``, ``<``, ``>`` and both quotes escaped.

    Example:
        >>> esc('<script>alert("x")</script>')
        '&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;'
    """
    return html.escape(value if isinstance(value, str) else str(value), quote=True)


def clip(text: str, limit: int = BUBBLE_CHARS) -> tuple[str, int]:
    """The first ``limit`` characters of ``text`` and how many were left out."""
    return (text, 0) if len(text) <= limit else (text[:limit], len(text) - limit)


def clipped_html(text: str, limit: int = BUBBLE_CHARS) -> str:
    """``text`` escaped, cut to ``limit`` characters with a "… N more chars" note when longer."""
    shown, more = clip(text, limit)
    tail = f" {muted(f'… {more:,} more chars')}" if more else ""
    return esc(shown) + tail


def short(hash: str | None, length: int = 12) -> str:
    """A commit hash cut to ``length`` characters (``-`` for none)."""
    return hash[:length] if hash else "-"


def number(value: int | float | None) -> str:
    """A count with thousands separators (``-`` for none)."""
    if value is None:
        return "-"
    return f"{value:,}" if isinstance(value, int) else f"{value:,.4g}"


def to_json(data: Any, indent: int | None = None) -> str:
    """Data as JSON text (anything JSON cannot encode as its ``str``), for showing, not for storing."""
    return json.dumps(data, ensure_ascii=False, indent=indent, sort_keys=True, default=str)


def fill_colour(ratio: float) -> str:
    """Green below 60 % of a budget, amber to 85 %, red above."""
    return GREEN if ratio < 0.6 else AMBER if ratio < 0.85 else RED


def badge(text: str, colour: str = GREY, title: str | None = None) -> str:
    """A small pill of white text on ``colour`` (``text`` and ``title`` are escaped)."""
    hover = f' title="{esc(title)}"' if title else ""
    return (
        f'<span{hover} style="display:inline-block;padding:0 6px;margin:0 2px;border-radius:8px;'
        f'font-size:10.5px;font-weight:600;letter-spacing:0.03em;line-height:16px;background:{colour};color:#fff">'
        f"{esc(text)}</span>"
    )


def bar(used: int, budget: int | None, width: int = 220) -> str:
    """A budget bar: ``used`` tokens of ``budget``, coloured by how full it is (a bare count without a budget)."""
    if not budget:
        return f"<span>{number(used)} tokens</span> {muted('(no budget set)')}"
    ratio = used / budget
    filled = max(0.0, min(ratio, 1.0)) * 100
    over = f" {badge('OVER BUDGET', RED)}" if used > budget else ""
    return (
        f'<span style="display:inline-flex;align-items:center;gap:8px;vertical-align:middle">'
        f'<span style="display:inline-block;width:{width}px;height:10px;border-radius:5px;'
        f'background:rgba(148,163,184,0.25);overflow:hidden">'
        f'<span style="display:block;width:{filled:.1f}%;height:100%;background:{fill_colour(ratio)}"></span></span>'
        f"<span>{number(used)} / {number(budget)} tokens ({ratio:.0%})</span>{over}</span>"
    )


def muted(text: str) -> str:
    """Escaped ``text`` in a quieter tone."""
    return f'<span style="opacity:0.65">{esc(text)}</span>'


def mono(text: str, title: str | None = None) -> str:
    """Escaped ``text`` in a monospace font."""
    hover = f' title="{esc(title)}"' if title else ""
    return f'<span{hover} style="{MONO}">{esc(text)}</span>'


def panel(title_html: str, body_html: str, colour: str = GREY) -> str:
    """The outer box of a view: a title line (already HTML) over a body (already HTML)."""
    return (
        f'<div style="{FONT};color:inherit;max-width:960px;border:1px solid rgba(148,163,184,0.45);'
        f'border-top:3px solid {colour};border-radius:8px;padding:8px 12px;margin:4px 0">'
        f'<div style="font-weight:600;margin-bottom:6px">{title_html}</div>'
        f'<div style="overflow-x:auto">{body_html}</div></div>'
    )


_CELL = "padding:3px 8px;border-bottom:1px solid rgba(148,163,184,0.25);text-align:left;vertical-align:top"


def table(headers: Sequence[str], rows: Iterable[Sequence[str]], *, cell_style: str = "") -> str:
    """A table: ``headers`` (plain text, escaped here) over ``rows`` of cells that are already HTML."""
    head = "".join(f'<th style="{_CELL};font-weight:600;opacity:0.8">{esc(h)}</th>' for h in headers)
    body = "".join(
        "<tr>" + "".join(f'<td style="{_CELL};{cell_style}">{c}</td>' for c in row) + "</tr>" for row in rows
    )
    return f'<table style="border-collapse:collapse;margin:2px 0;color:inherit"><tr>{head}</tr>{body}</table>'


def fields(pairs: Iterable[tuple[str, str]]) -> str:
    """Label / value lines: labels are plain text (escaped here), values are already HTML."""
    rows = "".join(
        f'<tr><td style="padding:1px 12px 1px 0;opacity:0.65;vertical-align:top;white-space:nowrap">{esc(label)}</td>'
        f'<td style="padding:1px 0;vertical-align:top">{value}</td></tr>'
        for label, value in pairs
    )
    return f'<table style="border-collapse:collapse;color:inherit">{rows}</table>'


def _tint(colour: str, alpha: float) -> str:
    """``#rrggbb`` as ``rgba(r,g,b,alpha)``."""
    red, green, blue = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({red},{green},{blue},{alpha})"


def bubble(role: str, header_html: str, body_html: str) -> str:
    """One chat message: a box coloured by ``role`` (user messages sit to the right) with a header line
    and a body, both already HTML."""
    colour = ROLE_COLOURS.get(role, GREY)
    side = "margin:5px 0 5px 12%" if role == "user" else "margin:5px 12% 5px 0"
    return (
        f'<div style="{side};padding:5px 10px;border-radius:8px;border-left:4px solid {colour};'
        f'background:{_tint(colour, 0.10)}">'
        f'<div style="font-size:11.5px;margin-bottom:2px">{header_html}</div>'
        f'<div style="white-space:pre-wrap;word-break:break-word;overflow-wrap:anywhere">{body_html}</div></div>'
    )


def elided(count: int, what: str = "messages") -> str:
    """The line standing in for ``count`` items left out of a long list."""
    return (
        f'<div style="margin:6px 0;padding:4px;text-align:center;border:1px dashed rgba(148,163,184,0.6);'
        f'border-radius:6px;opacity:0.75">… {count:,} more {esc(what)} …</div>'
    )


def shown_indexes(total: int) -> tuple[range, range]:
    """The indexes shown of a list of ``total`` items: all of them, or its head and tail when it is
    over :data:`MESSAGE_LIMIT` (the items between are counted, not drawn)."""
    if total <= MESSAGE_LIMIT:
        return range(total), range(0)
    return range(HEAD_MESSAGES), range(total - TAIL_MESSAGES, total)
