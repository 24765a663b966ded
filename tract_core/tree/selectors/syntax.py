"""Parsing selectors: the grammar of ``selector.lark`` (lark, LALR), read into a :class:`SelectorQuery`.

:func:`parse_selector` turns query text into plain frozen data (what each compound tests, picks and
which combinator joins it to the previous one); :mod:`.engine` evaluates that data on a snapshot's
nodes. Parsing is cached per query string, so a query used in a loop is parsed once. Every malformed
query raises :class:`~tract_core.SelectorSyntaxError` with the column, a caret under the query and
what was expected there; nothing else escapes the parser.

Example:
    >>> query = parse_selector("^seq .tool_result(d11..d*)")
    >>> [c.region for c in query.selectors[0].compounds], query.selectors[0].combinators
    (['^seq', None], (' ',))
    >>> parse_selector("^seq .tool_result(d11..d*)") is query  # cached
    True
"""

from __future__ import annotations

import functools
import re
import threading
from dataclasses import dataclass
from importlib import resources
from typing import Any

from ...errors import InvalidInputError, SelectorSyntaxError, TemporalAddressError, shown
from ..coordinates import AH, SEQ, SYS
from ..temporal import parse_temporal

__all__ = [
    "OPERATORS",
    "compare",
    "BEHAVIOURS",
    "Literal",
    "TypeTest",
    "KeyTest",
    "TagTest",
    "AttributeTest",
    "BehaviourTest",
    "PositionTest",
    "OffsetTest",
    "ContainsTest",
    "Compound",
    "Complex",
    "SelectorQuery",
    "parse_selector",
]

OPERATORS = ("=", "!=", "<", "<=", ">", ">=", "~=")
"""The comparison operators of attributes (``~=``: a regular expression, searched)."""
BEHAVIOURS = ("ttl", "cadence", "window", "elapsed", "sticky", "pinned", "skipped", "keyed")
"""The behaviours ``[name]`` tests: the four lifecycle numbers, then flags."""
_NUMBERED = frozenset({"ttl", "cadence", "window", "elapsed"})
_MAX_DIGITS = 18
_REGIONS = {"sys": SYS, "seq": SEQ, "ah": AH}

_READABLE = {
    "TEMPORAL": "a temporal address (@t0, @t-3, @t-5..@t-1, @history)",
    "LIMIT": "@limit=N",
    "CHILD": '">"',
    "COMMA": '","',
    "DESCENDANT": "a space (descendant)",
    "REGION_NAME": "a region name (sys, seq, ah)",
    "STAR": '"*"',
    "TYPE": "a type (.user, .tool_result, ...)",
    "NAME": "a name",
    "STRING": 'a quoted string ("...")',
    "LBRACE": '"{"',
    "RBRACE": '"}"',
    "LBRACKET": '"["',
    "RBRACKET": '"]"',
    "ATTRIBUTE": "an attribute name",
    "BEHAVIOUR": "a behaviour (" + ", ".join(BEHAVIOURS) + ")",
    "OPERATOR": "an operator (" + " ".join(OPERATORS) + ")",
    "NUMBER": "a number",
    "WORD": "a word",
    "PSEUDO": 'a pseudo-class (pre, core, post, first, last, nth(n), contains("text"))',
    "NTH": "nth",
    "CONTAINS": "contains",
    "DEPTH": "a depth (d0, d3, d*)",
    "SIGNED": "a number",
    "RANGE": '".."',
    "$END": "the end of the query",
}
"""How the error messages name the grammar's terminals."""


# -- the data a query is read into ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Literal:
    """A value written in a query.

    Attributes:
        kind: ``"string"`` (quoted), ``"number"`` or ``"word"`` (bare).
        text: The text it stands for (a quoted string unescaped, the others as written).
        number: Its value as a number (``"number"`` only), else None.
    """

    kind: str
    text: str
    number: int | float | None = None

    def equals(self, actual: Any) -> bool:
        """Whether a node's value equals this literal (see docs/selectors.md: numbers compare as
        numbers, text as text, ``true``/``false``/``null`` as JSON's, a list when one item does)."""
        if isinstance(actual, (list, tuple)):
            return any(self.equals(item) for item in actual)
        if actual is None:
            return self.kind == "word" and self.text == "null"
        if isinstance(actual, bool):
            return self.kind == "word" and self.text == ("true" if actual else "false")
        if isinstance(actual, (int, float)):
            return self.number is not None and actual == self.number
        if isinstance(actual, str):
            return actual == self.text
        return False


def _number(actual: Any) -> bool:
    return isinstance(actual, (int, float)) and not isinstance(actual, bool)


def compare(op: str, actual: Any, literal: Literal, pattern: re.Pattern[str] | None = None) -> bool:
    """``actual op literal``: what attributes and behaviours test. A missing value is None: only
    ``!=`` holds for it (unless the literal is ``null``)."""
    if op == "=":
        return literal.equals(actual)
    if op == "!=":
        return not literal.equals(actual)
    if op == "~=":
        assert pattern is not None
        items = actual if isinstance(actual, (list, tuple)) else (actual,)
        return any(isinstance(item, str) and pattern.search(item) is not None for item in items)
    if not _number(actual) or literal.number is None:
        return False
    if op == "<":
        return bool(actual < literal.number)
    if op == "<=":
        return bool(actual <= literal.number)
    if op == ">":
        return bool(actual > literal.number)
    return bool(actual >= literal.number)


@dataclass(frozen=True, slots=True)
class TypeTest:
    """``.name``: the node's role or content type is ``name``."""

    name: str


@dataclass(frozen=True, slots=True)
class KeyTest:
    """``#key``: the node's key is ``key``."""

    key: str


@dataclass(frozen=True, slots=True)
class TagTest:
    """``+tag``: the node carries ``tag``."""

    tag: str


@dataclass(frozen=True, slots=True)
class AttributeTest:
    """``{name op value}``: a node field, else a metadata key, else a generation_config key."""

    name: str
    op: str
    value: Literal
    pattern: re.Pattern[str] | None = None


@dataclass(frozen=True, slots=True)
class BehaviourTest:
    """``[name]`` or ``[name op value]``: a lifecycle number, or a flag (sticky, pinned, skipped, keyed)."""

    name: str
    op: str | None = None
    value: Literal | None = None


@dataclass(frozen=True, slots=True)
class PositionTest:
    """``(dA..dB, I, O)``: depth, index and offset within bounds (None: open)."""

    depth: tuple[int | None, int | None]
    index: tuple[int | None, int | None]
    offset: tuple[int | None, int | None]


@dataclass(frozen=True, slots=True)
class OffsetTest:
    """``:pre`` (offset < 0), ``:core`` (offset 0) or ``:post`` (offset > 0)."""

    kind: str


@dataclass(frozen=True, slots=True)
class ContainsTest:
    """``:contains("text")``: the node's text holds ``text`` (case-sensitive)."""

    text: str


Test = TypeTest | KeyTest | TagTest | AttributeTest | BehaviourTest | PositionTest | OffsetTest | ContainsTest


@dataclass(frozen=True, slots=True)
class Compound:
    """One compound selector: a region, or tests every node must pass, then picks.

    Attributes:
        region: ``^sys``, ``^seq`` or ``^ah`` for a region compound, else None.
        tests: What a node must pass (all of them; none for ``*``).
        picks: Positional pseudo-classes in order (``:first`` 0, ``:last`` -1, ``:nth(n)`` n), each
            applied to the ordered nodes matched so far.
    """

    region: str | None
    tests: tuple[Test, ...] = ()
    picks: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class Complex:
    """Compounds joined by combinators (``">"``: child, ``" "``: descendant), left to right."""

    compounds: tuple[Compound, ...]
    combinators: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SelectorQuery:
    """A parsed query.

    Attributes:
        text: The query as written.
        temporal: Its temporal prefix (``"@t-3"``, ``"@t-5..@t-1"``, ``"@history"``), or None.
        selectors: The complex selectors of the union (one for a query without ``,``).
        limit: ``@limit=N``, or None.
    """

    text: str
    temporal: str | None
    selectors: tuple[Complex, ...]
    limit: int | None

    @property
    def needs_config(self) -> bool:
        """Whether an attribute may be looked up in generation configs (one not a node field)."""
        from ..snapshot import NODE_FIELDS

        return any(
            isinstance(test, AttributeTest) and test.name not in NODE_FIELDS
            for complex_ in self.selectors
            for compound in complex_.compounds
            for test in compound.tests
        )


# -- the parser ------------------------------------------------------------------------------------

_lock = threading.Lock()
_parser: Any = None


def _lark() -> Any:
    """The LALR parser of ``selector.lark``, built on first use (lark is imported only then)."""
    global _parser
    with _lock:
        if _parser is None:
            from lark import Lark

            grammar = resources.files(__package__).joinpath("selector.lark").read_text(encoding="utf-8")
            _parser = Lark(grammar, parser="lalr", lexer="contextual", maybe_placeholders=False)
        return _parser


class _Problem(Exception):
    """A semantic problem found while reading the parse tree, at an offset of the stripped query."""

    def __init__(self, position: int, problem: str, expected: tuple[str, ...] = ()) -> None:
        super().__init__(problem)
        self.position = position
        self.problem = problem
        self.expected = expected


def _error(query: str, position: int, problem: str, expected: tuple[str, ...] = ()) -> SelectorSyntaxError:
    return SelectorSyntaxError(query, position + 1, problem, expected)


@functools.lru_cache(maxsize=1)
def _literals() -> dict[str, str]:
    """The grammar's punctuation terminals (lark names them LPAR, HASH, ...) as their quoted text."""
    from lark.lexer import PatternStr

    return {t.name: f'"{t.pattern.value}"' for t in _lark().terminals if isinstance(t.pattern, PatternStr)}


def _readable(names: Any) -> tuple[str, ...]:
    literals = _literals()
    shown_names = {_READABLE.get(name) or literals.get(name, name) for name in names or ()}
    return tuple(sorted(shown_names))


_AFTER_REGION = re.compile(r"\^(?:sys|seq|ah)$")


def _unescape(token: str) -> str:
    return re.sub(r"\\(.)", r"\1", token[1:-1], flags=re.S)


def _int(text: str, position: int, what: str) -> int:
    if len(text.lstrip("+-")) > _MAX_DIGITS:
        raise _Problem(position, f"{what} {text[:24]}... has too many digits")
    return int(text)


def _literal(token: Any) -> Literal:
    if token.type == "STRING":
        return Literal("string", _unescape(str(token)))
    if token.type == "NUMBER":
        text = str(token)
        if len(text) > _MAX_DIGITS + 2:
            raise _Problem(token.start_pos, f"the number {text[:24]}... has too many digits")
        number: int | float = float(text) if "." in text else int(text)
        return Literal("number", text, number)
    return Literal("word", str(token))


def _name(token: Any) -> str:
    text = _unescape(str(token)) if token.type == "STRING" else str(token)
    if not text:
        raise _Problem(token.start_pos, "an empty quoted name; write the key or tag between the quotes")
    return text


def _axis_value(token: Any, what: str) -> int | None:
    text = str(token)
    if token.type == "DEPTH":
        text = text[1:]
    return None if text == "*" else _int(text, token.start_pos, what)


def _bounds(children: list[Any], what: str) -> tuple[int | None, int | None]:
    """The bounds of one axis of a position: ``A``, ``A..B``, ``*``, ``A..*``, ``*..B`` (``*``: open)."""
    ends = [c for c in children if c.type != "RANGE"]
    low = _axis_value(ends[0], what)
    if len(ends) == 1:
        return (low, low)
    high = _axis_value(ends[1], what)
    if low is not None and high is not None and high < low:
        raise _Problem(
            ends[0].start_pos, f"the {what} range {ends[0]}..{ends[1]} is empty; write the smaller end first"
        )
    return (low, high)


def _position(tree: Any) -> PositionTest:
    depth_axis, *axes = [c for c in tree.children if getattr(c, "data", None) in ("depth_axis", "axis")]
    depth = _bounds(depth_axis.children, "depth")
    index = _bounds(axes[0].children, "index") if axes else (None, None)
    offset = _bounds(axes[1].children, "offset") if len(axes) > 1 else (None, None)
    for bound in index:
        if bound is not None and bound < 0:
            raise _Problem(axes[0].children[0].start_pos, f"an index is 0 or more, not {bound}")
    return PositionTest(depth, index, offset)


def _attribute(tree: Any) -> AttributeTest:
    _, name, op_token, value_tree, _ = tree.children
    op = str(op_token).strip()
    literal = _literal(value_tree.children[0])
    start = value_tree.children[0].start_pos
    pattern = None
    if op == "~=":
        try:
            pattern = re.compile(literal.text)
        except (re.error, RecursionError, OverflowError, ValueError) as exc:
            raise _Problem(start, f"{literal.text[:40]!r} is not a regular expression ({exc})") from None
    elif op in ("<", "<=", ">", ">=") and literal.number is None:
        raise _Problem(start, f"{op} compares numbers; {shown(literal.text, 40)} is not one", ("a number",))
    return AttributeTest(str(name), op, literal, pattern)


def _behaviour(tree: Any) -> BehaviourTest:
    parts = tree.children[1:-1]
    name = str(parts[0])
    if len(parts) == 1:
        return BehaviourTest(name)
    op, literal = str(parts[1]).strip(), _literal(parts[2].children[0])
    start = parts[2].children[0].start_pos
    if name in _NUMBERED:
        if op == "~=" or literal.number is None or isinstance(literal.number, float):
            raise _Problem(start, f"[{name}] compares whole numbers with = != < <= > >=: [{name}=3]", ("a number",))
    elif op not in ("=", "!=") or literal.text not in ("true", "false"):
        raise _Problem(start, f"[{name}] is a flag: write [{name}] (or [{name}=false])", ("true", "false"))
    return BehaviourTest(name, op, literal)


def _compound(tree: Any, first: bool) -> Compound:
    only = tree.children[0]
    if getattr(only, "data", None) == "region":
        name = only.children[0]
        if not first:
            raise _Problem(
                name.start_pos - 1,
                f"a region (^{name}) can only start a selector: it holds the nodes, it is not inside one",
            )
        return Compound(_REGIONS[str(name)])
    tests: list[Test] = []
    picks: list[int] = []
    for child in tree.children:
        kind = child.type if hasattr(child, "type") else child.data
        if kind == "STAR":
            continue
        if kind == "type_":
            tests.append(TypeTest(str(child.children[0])[1:]))
        elif kind == "key":
            tests.append(KeyTest(_name(child.children[-1])))
        elif kind == "tag":
            tests.append(TagTest(_name(child.children[-1])))
        elif kind == "attribute":
            tests.append(_attribute(child))
        elif kind == "behaviour":
            tests.append(_behaviour(child))
        elif kind == "position":
            tests.append(_position(child))
        elif kind == "pseudo":
            name = str(child.children[-1])
            if name in ("pre", "core", "post"):
                tests.append(OffsetTest(name))
            else:
                picks.append(0 if name == "first" else -1)
        elif kind == "nth":
            picks.append(_int(str(child.children[-1]), child.children[-1].start_pos, ":nth"))
        elif kind == "contains":
            tests.append(ContainsTest(_unescape(str(child.children[-1]))))
    return Compound(None, tuple(tests), tuple(picks))


def _complex(tree: Any) -> Complex:
    compounds: list[Compound] = []
    combinators: list[str] = []
    for child in tree.children:
        if child.data == "compound":
            compounds.append(_compound(child, first=not compounds))
        else:
            combinators.append(">" if child.children[0].type == "CHILD" else " ")
    return Complex(tuple(compounds), tuple(combinators))


def _read(tree: Any, text: str) -> SelectorQuery:
    temporal = None
    limit = None
    selectors: tuple[Complex, ...] = (Complex((Compound(None),), ()),)  # "@t-3" alone: every node
    for child in tree.children:
        if hasattr(child, "data"):
            selectors = tuple(_complex(c) for c in child.children if hasattr(c, "data"))
        elif child.type == "TEMPORAL":
            try:
                parse_temporal(str(child))
            except TemporalAddressError as exc:
                raise _Problem(child.start_pos, str(exc)) from None
            temporal = str(child)
        elif child.type == "LIMIT":
            limit = _int(str(child).split("=")[1].strip(), child.start_pos, "@limit")
    return SelectorQuery(text, temporal, selectors, limit)


def parse_selector(query: str) -> SelectorQuery:
    """Parse a selector query (cached per query string).

    Args:
        query: A query such as ``"^seq .tool_result(d11..d*)"`` (docs/selectors.md lists the syntax).

    Returns:
        The parsed :class:`SelectorQuery`.

    Raises:
        SelectorSyntaxError: The query is malformed: the error has the column, a caret line under the
            query and what was expected there.
        InvalidInputError: ``query`` is not a string.
    """
    if not isinstance(query, str):
        raise InvalidInputError(f"a selector query is text such as '^seq .tool_result', not {shown(query)}")
    return _parse_cached(query)


def _parse(query: str) -> SelectorQuery:
    """:func:`parse_selector` without the cache."""
    from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

    stripped = query.strip()
    lead = len(query) - len(query.lstrip())
    if not stripped:
        raise _error(query, lead, "the query is empty", ("a selector (.user, ^seq, *, ...)",))
    try:
        tree = _lark().parse(stripped)
        return _read(tree, query)
    except _Problem as bad:
        raise _error(query, lead + bad.position, bad.problem, bad.expected) from None
    except UnexpectedCharacters as exc:
        where = exc.pos_in_stream or 0
        raise _error(query, lead + where, f"unexpected {stripped[where]!r}", _readable(exc.allowed)) from None
    except UnexpectedToken as exc:
        if exc.token.type == "$END":
            raise _error(query, len(query.rstrip()), "the query ends too soon", _readable(exc.expected)) from None
        token = str(exc.token)
        at = (exc.pos_in_stream or 0) + (len(token) - len(token.lstrip()))
        what = f"unexpected {token.strip() or 'space'!r}"
        if _AFTER_REGION.search(stripped[:at]):
            what += f"; a region stands alone: write {stripped[:at]} {token.strip()} for the nodes inside it"
        raise _error(query, lead + at, what, _readable(exc.expected)) from None
    except UnexpectedEOF as exc:
        raise _error(query, len(query.rstrip()), "the query ends too soon", _readable(exc.expected)) from None
    except UnexpectedInput as exc:  # any other parse failure lark may grow
        raise _error(query, lead, f"cannot read the query ({exc.__class__.__name__})") from None


_parse_cached = functools.lru_cache(maxsize=512)(_parse)
