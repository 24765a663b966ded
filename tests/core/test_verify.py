"""``verify()`` finds every kind of damage, and reading a damaged row raises ``CorruptObjectError``.

Damage is made the way it happens: raw SQL behind tract's back (foreign keys off, as after a
partial restore or a hand edit), or bytes of a page of a real SQLite file overwritten. Each case
checks that the reads a user makes (a cold ``compile`` in a new handle, ``log``, ``show``, ...)
raise :class:`~tract_core.CorruptObjectError` naming the damaged commit or row and saying what to
do, never ``KeyError``/``JSONDecodeError``/``TypeError``/``sqlite3.DatabaseError``, and that
``verify()`` reports it. The checks with no damage (gc, rebase, copies, concurrent writers,
unborn branches) show that ``verify()`` raises no false alarms.
"""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tract_core import CorruptObjectError, DatabaseNotFoundError, Tract
from tract_core.records import VerifyReport
from tract_core.store.chain import annotation_digest
from tract_core.testing.processes import WAIT_FOR_FILE, ChildProcess, wait_for_files
from tract_core.tokens import MESSAGE_OVERHEAD

DATABASES = ["sqlite", "postgres"]
"""Raw damage behaves the same on a SQLite file and in memory; both engines are covered."""

WHAT_TO_DO = re.compile(r"backup|reflog")


# -- helpers ------------------------------------------------------------------------------------


def tamper(t: Tract, *statements: str) -> None:
    """Run SQL on the tract's database behind tract's back, with foreign keys off."""
    with t.store.engine.connect() as conn:
        raw: Any = conn.connection.dbapi_connection
        if t.store.dialect == "sqlite":  # autocommit: tract issues BEGIN itself
            raw.execute("PRAGMA foreign_keys=OFF")
            try:
                for statement in statements:
                    raw.execute(statement)
            finally:
                raw.execute("PRAGMA foreign_keys=ON")
        else:  # psycopg runs in autocommit under tract: one explicit transaction
            with raw.transaction(), raw.cursor() as cursor:
                cursor.execute("SET LOCAL session_replication_role = replica")
                for statement in statements:
                    cursor.execute(statement)


def cold(t: Tract) -> Tract:
    """A new handle on the same store: no cached state, so compile reads the history in bulk."""
    return Tract.open(store=t.store, tract_id=t.tract_id, create=False)


def build(t: Tract) -> dict[str, str]:
    """A small history with every kind of row: messages, an EDIT, an annotation, a merge, usage
    and a pending compression."""
    h = {"system": t.system("You are a terse support agent.").hash}
    h["user"] = t.user("Where is my order 1234?").hash
    h["reply"] = t.assistant(
        "It ships today.", generation_config={"model": "m-1", "temperature": 0.2}, metadata={"turn": 1}
    ).hash
    h["edit"] = t.commit("It ships today, by courier.", role="assistant", operation="edit", response_to=h["reply"]).hash
    t.annotate(h["user"], "pinned", reason="the question")
    t.branch("side", switch=True)
    h["side"] = t.user("Can it come sooner?").hash
    t.switch("main")
    h["thanks"] = t.user("Thanks.").hash
    merged = t.merge("side")
    assert merged.merge_commit is not None
    h["merge"] = merged.merge_commit
    t.record_usage(prompt_tokens=40, completion_tokens=7)
    t.compress("The customer asked about order 1234.", from_commit=h["user"], to_commit=h["edit"], auto_commit=False)
    return h


def blob_of(t: Tract, commit: str) -> str:
    return f"(SELECT blob_hash FROM tract_commits WHERE tract_id = '{t.tract_id}' AND hash = '{commit}')"


def expect_damage(call: Callable[[], Any], *names: str) -> CorruptObjectError:
    """``call()`` raises CorruptObjectError naming each of ``names`` and saying what to do."""
    with pytest.raises(CorruptObjectError) as caught:
        call()
    message = str(caught.value)
    for name in names:
        assert name in message, f"{name!r} not named in: {message}"
    assert WHAT_TO_DO.search(message), f"no advice in: {message}"
    return caught.value


# -- damaged rows -------------------------------------------------------------------------------


class Case:
    """One kind of damaged row: how to make it, what must name it, which reads must refuse it."""

    def __init__(
        self,
        damage: Callable[[Tract, dict[str, str]], list[str]],
        subject: Callable[[Tract, dict[str, str]], str],
        reads: tuple[str, ...],
        sqlite_only: bool = False,
    ) -> None:
        self.damage, self.subject, self.reads, self.sqlite_only = damage, subject, reads, sqlite_only


def _short(name: str) -> Callable[[Tract, dict[str, str]], str]:
    return lambda t, h: h[name][:12]


CASES = {
    "blob content is not JSON": Case(
        lambda t, h: [
            f'UPDATE tract_blobs SET content = \'{{"v":1,"body":{{"content":"cut\' WHERE hash = {blob_of(t, h["user"])}'
        ],
        _short("user"),
        ("compile", "log", "show", "verify"),
    ),
    "blob body is not a mapping": Case(
        lambda t, h: [
            f'UPDATE tract_blobs SET content = \'{{"body":["a"],"v":1}}\' WHERE hash = {blob_of(t, h["user"])}'
        ],
        _short("user"),
        ("compile", "log", "show", "verify"),
    ),
    "blob is missing": Case(
        lambda t, h: [f"DELETE FROM tract_blobs WHERE hash = {blob_of(t, h['user'])}"],
        _short("user"),
        ("compile", "log", "show", "verify"),
    ),
    "unknown operation": Case(
        lambda t, h: [f"UPDATE tract_commits SET operation = 'rewrite' WHERE hash = '{h['user']}'"],
        _short("user"),
        ("compile", "log", "show", "verify"),
    ),
    "extra_parents is not JSON": Case(
        lambda t, h: [f"UPDATE tract_commits SET extra_parents = '[\"abc' WHERE hash = '{h['merge']}'"],
        _short("merge"),
        ("compile", "log", "show", "verify"),
    ),
    "extra_parents holds a number": Case(
        lambda t, h: [f"UPDATE tract_commits SET extra_parents = '[42]' WHERE hash = '{h['merge']}'"],
        _short("merge"),
        ("compile", "log", "show", "verify"),
    ),
    "parent is missing": Case(
        lambda t, h: [f"DELETE FROM tract_commits WHERE hash = '{h['system']}'"],
        _short("user"),
        ("compile", "log", "verify"),
    ),
    "depth is not a number": Case(
        lambda t, h: [f"UPDATE tract_commits SET depth = 'deep' WHERE hash = '{h['user']}'"],
        _short("user"),
        ("log", "show", "verify"),
        sqlite_only=True,  # PostgreSQL's column types refuse it
    ),
    "role is bytes": Case(
        lambda t, h: [f"UPDATE tract_commits SET role = x'75736572' WHERE hash = '{h['user']}'"],
        _short("user"),
        ("compile", "log", "show", "verify"),
        sqlite_only=True,
    ),
    "metadata is not JSON": Case(
        lambda t, h: [f"UPDATE tract_commits SET metadata = '{{\"turn\":' WHERE hash = '{h['reply']}'"],
        _short("reply"),
        ("log", "show", "verify"),
    ),
    "generation_config is not JSON": Case(
        lambda t, h: [f"UPDATE tract_commits SET generation_config = '{{\"model\":' WHERE hash = '{h['reply']}'"],
        _short("reply"),
        ("log", "show", "query", "verify"),
    ),
    "usage is not JSON": Case(
        lambda t, h: [f"UPDATE tract_commits SET usage = '{{\"prompt' WHERE hash = '{h['merge']}'"],
        _short("merge"),
        ("log", "show", "status", "verify"),
    ),
    "annotation priority is unknown": Case(
        lambda t, h: [f"UPDATE tract_annotations SET priority = 'urgent' WHERE tract_id = '{t.tract_id}'"],
        lambda t, h: "annotation",
        ("compile", "show", "verify"),
    ),
    "annotation exclusions are not JSON": Case(
        lambda t, h: [f"UPDATE tract_annotations SET excluded = '[\"abc' WHERE tract_id = '{t.tract_id}'"],
        lambda t, h: "annotation",
        ("compile", "show", "verify"),
    ),
    "compression details are not JSON": Case(
        lambda t, h: [f"UPDATE tract_compressions SET details = '{{\"summary' WHERE tract_id = '{t.tract_id}'"],
        lambda t, h: "compression",
        ("compressions", "pending", "verify"),
    ),
    "tract settings are not JSON": Case(
        lambda t, h: [f"UPDATE tract_tracts SET config = '{{\"token' WHERE tract_id = '{t.tract_id}'"],
        lambda t, h: repr(t.tract_id),
        ("open", "verify"),
    ),
}


def _read(t: Tract, h: dict[str, str], read: str) -> Any:
    if read == "compile":
        return cold(t).compile().messages
    if read == "log":
        return cold(t).log(limit=None)
    if read == "show":
        subject = {"reply": h["reply"], "merge": h["merge"]}
        return [cold(t).show(subject.get(k, h["user"])) for k in ("user", "reply", "merge")]
    if read == "status":
        return cold(t).status()
    if read == "query":
        return cold(t).query_by_config("temperature", ">", 0.1)
    if read == "compressions":
        return cold(t).compressions()
    if read == "pending":
        return cold(t).pending_compressions()
    if read == "open":
        return Tract.open(store=t.store, tract_id=t.tract_id, create=False)
    assert read == "verify"
    return t.verify()


@pytest.mark.parametrize(
    ("case", "backend"),
    [
        (case, backend)
        for case, spec in CASES.items()
        for backend in DATABASES
        if backend == "sqlite" or not spec.sqlite_only
    ],
)
def test_a_damaged_row_raises_corrupt_object_error_naming_it(factory, case: str) -> None:
    spec = CASES[case]
    t = factory.open(tract_id="damaged")
    h = build(t)
    assert t.verify() > 0
    tamper(t, *spec.damage(t, h))
    subject = spec.subject(t, h)
    for read in spec.reads:
        error = expect_damage(lambda read=read: _read(t, h, read), subject)
        if read == "verify":
            assert error.problems and any(subject in p for p in error.problems)


@pytest.mark.parametrize("backend", DATABASES)
def test_verify_lists_every_damaged_row_not_only_the_first(factory) -> None:
    t = factory.open(tract_id="many")
    h = build(t)
    tamper(
        t,
        f"UPDATE tract_commits SET operation = 'rewrite' WHERE hash = '{h['user']}'",
        f"UPDATE tract_commits SET metadata = '{{\"turn\":' WHERE hash = '{h['reply']}'",
        f"DELETE FROM tract_blobs WHERE hash = {blob_of(t, h['thanks'])}",
    )
    error = expect_damage(t.verify, h["user"][:12], h["reply"][:12], h["thanks"][:12])
    assert len(error.problems) >= 3


@pytest.mark.parametrize("backend", DATABASES)
def test_an_incremental_compile_names_the_commit_of_a_damaged_message(factory) -> None:
    t = factory.open(tract_id="warm")
    t.user("first")
    t.compile()  # a cached state: the next compile extends it commit by commit
    other = cold(t)
    second = other.user("second").hash
    tamper(t, f"UPDATE tract_blobs SET content = '{{\"v\":1}}' WHERE hash = {blob_of(t, second)}")
    expect_damage(t.compile, second[:12])


# -- annotations ----------------------------------------------------------------------------------


def _annotated(factory) -> tuple[Tract, dict[str, str], list[dict[str, Any]]]:
    """Three messages and four annotations, anchored at different commits."""
    t = factory.open(tract_id="notes")
    h = {"a": t.user("a").hash}
    t.annotate(h["a"], "skip", reason="noise")
    h["b"] = t.user("b").hash
    t.annotate(h["b"], "pinned")
    h["c"] = t.user("c").hash
    t.annotate(h["a"], "normal", reason="needed after all")
    t.annotate(h["c"], "skip")
    return t, h, _annotation_rows(t)


def _annotation_rows(t: Tract) -> list[dict[str, Any]]:
    with t.store.read() as session:
        rows = session.conn.exec_driver_sql(
            f"SELECT * FROM tract_annotations WHERE tract_id = '{t.tract_id}' ORDER BY id"
        ).mappings()
        return [dict(r) for r in rows]


def _forge_with_digest(t: Tract, rows: list[dict[str, Any]], h: dict[str, str]) -> list[str]:
    """A row whose own digest is right (computed with tract's function) but which tract never wrote."""
    created = rows[-1]["created_at"] + 1.0
    digest = annotation_digest(rows[-1]["digest"], h["b"], "skip", None, rows[-1]["anchor"], None, created)
    return [
        "INSERT INTO tract_annotations (tract_id, target, priority, reason, anchor, excluded, created_at, digest) "
        f"VALUES ('{t.tract_id}', '{h['b']}', 'skip', NULL, '{rows[-1]['anchor']}', NULL, {created!r}, '{digest}')"
    ]


ANNOTATION_DAMAGE: dict[str, Callable[[Tract, list[dict[str, Any]], dict[str, str]], list[str]]] = {
    "changed priority": lambda t, rows, h: [
        f"UPDATE tract_annotations SET priority = 'skip' WHERE id = {rows[1]['id']}"
    ],
    "changed reason": lambda t, rows, h: [f"UPDATE tract_annotations SET reason = 'forged' WHERE id = {rows[0]['id']}"],
    "forged without a digest": lambda t, rows, h: [
        "INSERT INTO tract_annotations (tract_id, target, priority, reason, anchor, excluded, created_at) "
        f"VALUES ('{t.tract_id}', '{h['b']}', 'skip', NULL, '{rows[-1]['anchor']}', NULL, 1.0)"
    ],
    "forged with a digest": _forge_with_digest,
    "deleted from the middle": lambda t, rows, h: [f"DELETE FROM tract_annotations WHERE id = {rows[1]['id']}"],
    "deleted the newest": lambda t, rows, h: [f"DELETE FROM tract_annotations WHERE id = {rows[-1]['id']}"],
    "reordered": lambda t, rows, h: [
        f"UPDATE tract_annotations SET id = -1 WHERE id = {rows[0]['id']}",
        f"UPDATE tract_annotations SET id = {rows[0]['id']} WHERE id = {rows[2]['id']}",
        f"UPDATE tract_annotations SET id = {rows[2]['id']} WHERE id = -1",
    ],
}


CHANGES_THE_CONTEXT = {"changed priority", "forged without a digest", "forged with a digest", "deleted the newest"}


@pytest.mark.parametrize("backend", DATABASES)
@pytest.mark.parametrize("tampering", list(ANNOTATION_DAMAGE))
def test_verify_finds_annotations_changed_forged_or_deleted(factory, tampering: str) -> None:
    t, h, rows = _annotated(factory)
    before = cold(t).compile().digest
    assert t.verify() > 0
    tamper(t, *ANNOTATION_DAMAGE[tampering](t, rows, h))
    expect_damage(t.verify, "annotation")
    if tampering in CHANGES_THE_CONTEXT:  # why it matters: the model would silently see something else
        assert cold(t).compile().digest != before


@pytest.mark.parametrize("backend", DATABASES)
def test_annotations_deleted_by_reset_and_gc_keep_the_chain_valid(factory) -> None:
    t, h, rows = _annotated(factory)
    t.reset(h["b"], "hard")  # deletes c and the two annotations anchored at it (the newest rows)
    assert [r["id"] for r in _annotation_rows(t)] == [rows[0]["id"], rows[1]["id"]]
    assert t.verify().annotations == 2
    d = t.user("d")
    t.annotate(d, "pinned")
    t.reset(h["b"])  # d becomes an orphan
    t.annotate(h["b"], "skip")  # a row after the orphan's: gc deletes from the middle of the chain
    t.gc(orphan_retention_days=0, now=_far_future())
    assert d.hash not in {r["target"] for r in _annotation_rows(t)}
    assert t.verify().annotations == 3
    t.annotate(h["a"], "pinned")
    assert t.verify().annotations == 4


def _orphan_with_a_note(t: Tract, h: dict[str, str], name: str) -> None:
    """An annotated commit that becomes an orphan, then an annotation after it (on the line kept)."""
    orphan = t.user(name)
    t.annotate(orphan, "pinned")
    t.reset(h["c"])
    t.annotate(h["a"], "skip", reason=f"after {name}")


@pytest.mark.parametrize("backend", DATABASES)
def test_damage_survives_a_gc_that_rechains_the_annotations_after_it(factory) -> None:
    """gc re-links the rows after the ones it deletes, but never blesses a row that was already damaged."""
    t, h, _ = _annotated(factory)
    _orphan_with_a_note(t, h, "orphan 1")
    rows = _annotation_rows(t)
    tamper(t, f"UPDATE tract_annotations SET reason = 'forged' WHERE id = {rows[4]['id']}")
    t.gc(orphan_retention_days=0, now=_far_future())  # the damaged row goes with its orphan
    assert t.verify().annotations == 5

    _orphan_with_a_note(t, h, "orphan 2")
    rows = _annotation_rows(t)
    damaged = rows[-1]["id"]  # after the orphan's row: gc re-links it
    tamper(
        t,
        f"UPDATE tract_annotations SET reason = 'forged' WHERE id = {damaged}",
        f"UPDATE tract_annotations SET priority = 'pinned' WHERE id = {rows[0]['id']}",  # before it
    )
    t.gc(orphan_retention_days=0, now=_far_future())
    error = expect_damage(t.verify, "annotation")
    named = " ".join(error.problems)
    assert f"annotation {damaged} " in named and f"annotation {rows[0]['id']} " in named


def _far_future() -> float:
    import time

    return time.time() + 365 * 86_400


@pytest.mark.parametrize("backend", DATABASES)
def test_rebase_and_copied_tracts_keep_valid_chains(factory) -> None:
    t, h, _ = _annotated(factory)
    t.branch("topic", switch=True)
    t.annotate(t.user("on topic"), "skip")  # the rebase annotates its copy too
    t.switch("main")
    t.user("on main")
    t.switch("topic")
    t.rebase("main")
    assert t.verify().annotations == 6
    with t.store.write() as session:
        session.tracts.copy(t.tract_id, "notes-copy")
    copy = Tract.open(store=t.store, tract_id="notes-copy", create=False)
    assert copy.verify().annotations == t.verify().annotations
    copy.annotate(copy.head, "pinned")
    assert copy.verify().annotations == t.verify().annotations + 1
    tamper(copy, "UPDATE tract_annotations SET priority = 'normal' WHERE tract_id = 'notes-copy' AND priority = 'skip'")
    expect_damage(copy.verify, "annotation")
    assert t.verify().annotations == 6  # the original is untouched


ANNOTATOR = (
    """
import json, sys
from tract_core import Tract
"""
    + WAIT_FOR_FILE
    + """
args = json.loads(sys.argv[1])
t = Tract.open(tract_id="shared", **args["location"])
targets = [c.hash for c in t.log(limit=None)]
write_atomically(args["ready"], "ready")
wait_for_file(args["go"])
for i in range(args["count"]):
    t.annotate(targets[i % len(targets)], ("pinned", "skip", "normal")[i % 3], reason=f"{args['worker']} {i}")
print(json.dumps({"done": args["count"]}))
"""
)


@pytest.mark.slow
@pytest.mark.parametrize("backend", DATABASES)
def test_concurrent_annotators_in_two_processes_leave_a_valid_chain(factory, tmp_path: Path) -> None:
    t = factory.open(tract_id="shared")
    for i in range(5):
        t.user(f"message {i}")
    go = tmp_path / "go"
    children = [
        ChildProcess(
            ANNOTATOR,
            {
                "location": factory.location,
                "ready": str(tmp_path / f"ready-{w}"),
                "go": str(go),
                "count": 25,
                "worker": w,
            },
            tmp_path,
            f"annotator-{w}",
        )
        for w in ("a", "b")
    ]
    try:
        wait_for_files([tmp_path / "ready-a", tmp_path / "ready-b"], children)
        go.write_text("go")
        assert [c.result() for c in children] == [{"done": 25}, {"done": 25}]
    finally:
        for child in children:
            child.kill()
    report = cold(t).verify()
    assert report.annotations == 50
    reasons = {r["reason"] for r in _annotation_rows(t)}
    assert reasons == {f"{w} {i}" for w in "ab" for i in range(25)}


# -- HEAD and branches ----------------------------------------------------------------------------


@pytest.mark.parametrize("backend", DATABASES)
def test_verify_finds_head_on_a_branch_removed_outside_tract(factory) -> None:
    t = factory.open(tract_id="heads")
    t.user("one")
    tip = t.user("two").hash
    tamper(t, "DELETE FROM tract_refs WHERE tract_id = 'heads' AND name = 'main'")
    error = expect_damage(t.verify, "HEAD", "'main'", tip[:12])
    assert any("main" in p for p in error.problems)


@pytest.mark.parametrize("backend", DATABASES)
def test_verify_finds_a_missing_or_garbled_head(factory) -> None:
    t = factory.open(tract_id="heads")
    tip = t.user("one").hash
    tamper(t, f"UPDATE tract_refs SET commit_hash = '{tip}' WHERE tract_id = 'heads' AND name = 'HEAD'")
    expect_damage(t.verify, "HEAD")
    tamper(t, "DELETE FROM tract_refs WHERE tract_id = 'heads' AND name = 'HEAD'")
    expect_damage(t.verify, "HEAD")


@pytest.mark.parametrize("backend", DATABASES)
def test_unborn_and_emptied_branches_are_not_damage(factory) -> None:
    """HEAD may name a branch with no row: on a new tract, and after start_over()/reset(None)
    emptied it (the reflog records that), or after delete_branch from another handle."""
    t = factory.open(tract_id="unborn")
    assert t.verify() == 0
    t.user("one")
    t.start_over()
    assert t.head is None and t.verify() > 0
    t.user("again")
    t.reset(None)
    assert t.verify() > 0


# -- token counts ---------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", DATABASES)
def test_verify_recounts_cached_token_counts(factory) -> None:
    t = factory.open(tract_id="tokens")
    t.system("Be brief.")
    user = t.user("How many tokens is this sentence?")
    before = t.compile().token_count
    assert t.verify() > 0
    tamper(t, f"UPDATE tract_blobs SET token_count = token_count + 5 WHERE hash = {blob_of(t, user.hash)}")
    assert cold(t).compile().token_count == before + 5  # a cold compile trusts the cached count
    error = expect_damage(t.verify, user.hash[:12], "token")
    counted = user.token_count - MESSAGE_OVERHEAD
    assert f"{counted + 5}" in str(error) and f"{counted}" in str(error)


@pytest.mark.parametrize("backend", DATABASES)
def test_counts_of_another_tokenizer_are_not_recounted(factory) -> None:
    t = factory.open(tract_id="tokens")
    user = t.user("Counted by someone else.")
    assert t.verify().token_counts == 1
    tamper(
        t, f"UPDATE tract_blobs SET token_count = 999, tokenizer = 'o200k_base' WHERE hash = {blob_of(t, user.hash)}"
    )
    assert t.verify().token_counts == 0


# -- SQLite pages ---------------------------------------------------------------------------------


def _page_size_and_root(path: Path, table: str) -> tuple[int, int]:
    with sqlite3.connect(path) as conn:
        size = conn.execute("PRAGMA page_size").fetchone()[0]
        root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = ?", (table,)).fetchone()[0]
    return size, root


def _leaf_under(path: Path, page_size: int, root: int) -> int:
    """A leaf page of the b-tree rooted at ``root`` (following the right-most child pointers)."""
    data = path.read_bytes()
    page = root
    while data[(page - 1) * page_size] in (0x02, 0x05):  # interior index / table page
        start = (page - 1) * page_size
        page = int.from_bytes(data[start + 8 : start + 12], "big")
    return page


def _damaged_copy(tmp_path: Path, damage: str) -> Path:
    original = tmp_path / "good.db"
    with Tract.open(original, tract_id="pages") as t:
        for i in range(40):
            t.user(f"message {i}: " + "lorem ipsum " * 30)
    with sqlite3.connect(original) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    copy = tmp_path / "damaged.db"
    shutil.copy(original, copy)
    size, root = _page_size_and_root(copy, "tract_blobs")
    with copy.open("r+b") as handle:
        if damage == "zeroed root page":
            handle.seek((root - 1) * size)
            handle.write(b"\0" * size)
        else:  # garbage over the cell area of a leaf: free-space and cell damage
            leaf = _leaf_under(copy, size, root)
            handle.seek((leaf - 1) * size + 8)
            handle.write(bytes(range(256)) * 8)
    return copy


@pytest.mark.parametrize("damage", ["zeroed root page", "garbage in a leaf page"])
def test_page_damage_in_a_sqlite_file_is_found_and_reported(tmp_path: Path, damage: str) -> None:
    path = _damaged_copy(tmp_path, damage)
    with Tract.open(path, tract_id="pages", create=False) as t:
        error = expect_damage(t.verify, "tract_blobs", "page")
        assert any("tract_blobs" in p for p in error.problems)
        expect_damage(lambda: t.compile(), "damaged")
        expect_damage(lambda: t.log(limit=None), "damaged")


@pytest.mark.parametrize("table", ["sqlite_master", "tract_tracts"])
def test_opening_a_sqlite_file_with_damaged_pages_raises_corrupt_object_error(tmp_path: Path, table: str) -> None:
    path = tmp_path / "open.db"
    with Tract.open(path) as t:
        t.user("hello")
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    size, root = (4096, 1) if table == "sqlite_master" else _page_size_and_root(path, table)
    with path.open("r+b") as handle:  # the schema's b-tree starts after the 100-byte file header
        handle.seek((root - 1) * size + (100 if root == 1 else 0))
        handle.write(b"\xff" * 8)
    expect_damage(lambda: Tract.open(path, create=False), "damaged")


def test_a_file_that_is_not_a_database_is_still_a_wrong_path(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("not a database " * 400)
    with pytest.raises(DatabaseNotFoundError, match="is a database"):
        Tract.open(path)


def test_a_healthy_sqlite_file_passes_the_page_check(tmp_path: Path) -> None:
    with Tract.open(tmp_path / "fine.db") as t:
        t.user("hello")
        report = t.verify()
    assert report.pages is True and report == report.commits + report.blobs == 2


def test_the_report_says_what_was_checked(factory) -> None:
    t = factory.open(tract_id="report")
    h = build(t)
    report = t.verify()
    assert isinstance(report, VerifyReport) and isinstance(report, int)
    assert report.commits == len(t.log(limit=None)) + 0 and report.commits >= len(h)
    assert report == report.commits + report.blobs
    assert report.annotations == 1 and report.refs == 2 and report.compressions == 1
    assert report.token_counts == report.blobs  # every message was counted by this tract's tokenizer
    assert report.pages is (True if factory.backend != "postgres" else None)
    assert json.loads(json.dumps(report.as_dict()))["commits"] == report.commits


# -- the command line -----------------------------------------------------------------------------


def test_tract_verify_reports_what_it_checked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tract_core.cli import main

    path = tmp_path / "cli.db"
    with Tract.open(path) as t:
        t.user("hello")
        t.annotate(t.assistant("hi"), "pinned")
    code = main(["--db", str(path), "verify"])
    out, err = capsys.readouterr()
    out = " ".join(out.split())
    assert (code, err) == (0, "")
    assert "tract 'default' is sound." in out
    assert "Re-hashed 2 commits and 2 blobs." in out
    assert "Checked 1 annotation (chain intact), 1 branch and HEAD" in out
    assert "every page of the SQLite file checked" in out


def test_tract_verify_lists_every_problem_and_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tract_core.cli import main

    path = tmp_path / "cli.db"
    with Tract.open(path) as t:
        first = t.user("hello").hash
        t.annotate(first, "skip")
        tamper(
            t,
            f"UPDATE tract_commits SET operation = 'rewrite' WHERE hash = '{first}'",
            "UPDATE tract_annotations SET priority = 'pinned'",
        )
    code = main(["--db", str(path), "verify"])
    out, err = capsys.readouterr()
    assert (code, out) == (1, "")
    lines = err.splitlines()
    assert lines[0] == "tract: verify: tract 'default' is damaged (2 problems):"
    assert lines[1].startswith(f"  commit {first[:12]} of tract 'default': its operation 'rewrite'")
    assert lines[2].startswith("  annotation 1 of tract 'default': it does not match the annotation chain")
    assert lines[-1].startswith("hint: restore the database from a backup")
