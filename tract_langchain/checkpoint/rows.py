"""SQL for the checkpointer's own tables: checkpoints, channel versions, values and writes."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, NamedTuple

from langgraph.checkpoint.base import writes_sort_key
from sqlalchemy import JSON, BindParameter, and_, bindparam, cast, delete, literal, or_, select, text, type_coerce
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import JSONB

from tract_core import storage
from tract_core.storage import DEFAULT_BRANCH, PreparedStatement, Transaction

from .schema import CHANNELS, CHECKPOINTS, ID_COLUMNS, SAVER_TABLES, SEALED, VALUES, WRITES

__all__ = ["CheckpointStore", "CheckpointRecord", "ChannelRecord", "WriteRecord", "create_tables", "tables_ready"]


class CheckpointRecord(NamedTuple):
    """A checkpoint row."""

    thread_id: str
    checkpoint_ns: str
    checkpoint_id: str
    parent_checkpoint_id: str | None
    type: str
    checkpoint: bytes
    versions: str
    metadata_type: str
    metadata_blob: bytes
    metadata_json: str


class ChannelRecord(NamedTuple):
    """A channel-version row."""

    thread_id: str
    checkpoint_ns: str
    channel: str
    version: str
    kind: str
    value_hash: str | None
    tract_id: str | None
    commit_hash: str | None
    length: int


class WriteRecord(NamedTuple):
    """A pending-write row."""

    task_id: str
    idx: int
    channel: str
    type: str
    data: bytes
    task_path: str


_K = CHECKPOINTS
_CH = CHANNELS
_V = VALUES
_W = WRITES
_S = SEALED
_CHECKPOINT_FIELDS = (
    "parent_checkpoint_id",
    "type",
    "checkpoint",
    "versions",
    "metadata_type",
    "metadata_blob",
    "metadata_json",
    "run_id",
)
_CHANNEL = tuple(_CH.c)
_CHANNELS_PER_READ = 16
_WRITE = (_W.c.task_id, _W.c.idx, _W.c.channel, _W.c.type, _W.c.data, _W.c.task_path)
_ROW = (
    _K.c.thread_id,
    _K.c.checkpoint_ns,
    _K.c.checkpoint_id,
    _K.c.parent_checkpoint_id,
    _K.c.type,
    _K.c.checkpoint,
    _K.c.versions,
    _K.c.metadata_type,
    _K.c.metadata_blob,
    _K.c.metadata_json,
)


class _Prepared:
    """The hot statements of one dialect, each compiled once and run on the DBAPI cursor."""

    def __init__(self, dialect: str) -> None:
        module: Any = postgresql if dialect == "postgresql" else sqlite
        thread: BindParameter[str] = bindparam("thread_id")
        ns: BindParameter[str] = bindparam("checkpoint_ns")
        by_ns = select(*_ROW).where(_K.c.thread_id == thread, _K.c.checkpoint_ns == ns)
        self.by_id = PreparedStatement(by_ns.where(_K.c.checkpoint_id == bindparam("checkpoint_id")))
        self.latest = PreparedStatement(by_ns.order_by(_K.c.checkpoint_id.desc()).limit(1))
        checkpoint = module.insert(_K)
        self.put_checkpoint = PreparedStatement(
            checkpoint.on_conflict_do_update(
                index_elements=["thread_id", "checkpoint_ns", "checkpoint_id"],
                set_={k: checkpoint.excluded[k] for k in _CHECKPOINT_FIELDS},
            ),
        )
        channel = module.insert(_CH)
        self.put_channel = PreparedStatement(
            channel.on_conflict_do_update(
                index_elements=["thread_id", "checkpoint_ns", "channel", "version"],
                set_={k: channel.excluded[k] for k in ("kind", "value_hash", "tract_id", "commit_hash", "count")},
            ),
        )
        self.put_value = PreparedStatement(module.insert(_V).on_conflict_do_nothing())
        self.value = PreparedStatement(select(_V.c.type, _V.c.data).where(_V.c.hash == bindparam("hash")))
        self.channel = PreparedStatement(
            select(*_CHANNEL).where(
                _CH.c.thread_id == thread,
                _CH.c.checkpoint_ns == ns,
                _CH.c.channel == bindparam("channel"),
                _CH.c.version == bindparam("version"),
            ),
        )
        self.writes = PreparedStatement(
            select(*_WRITE).where(
                _W.c.thread_id == thread, _W.c.checkpoint_ns == ns, _W.c.checkpoint_id == bindparam("checkpoint_id")
            ),
        )
        write = module.insert(_W)
        self.put_writes_replace = PreparedStatement(
            write.on_conflict_do_update(
                index_elements=["thread_id", "checkpoint_ns", "checkpoint_id", "task_id", "idx"],
                set_={k: write.excluded[k] for k in ("channel", "type", "data", "task_path")},
            ),
        )
        self.put_writes_keep = PreparedStatement(write.on_conflict_do_nothing())
        self.recorded_tract = PreparedStatement(
            select(_CH.c.tract_id)
            .where(_CH.c.thread_id == thread, _CH.c.checkpoint_ns == ns, _CH.c.tract_id.is_not(None))
            .limit(1),
        )
        self.claims = PreparedStatement(
            select(_CH.c.tract_id)
            .where(_CH.c.thread_id == thread, _CH.c.checkpoint_ns == ns, _CH.c.tract_id == bindparam("tract_id"))
            .limit(1),
        )
        self.put_sealed = PreparedStatement(module.insert(_S).on_conflict_do_nothing())
        self._channel_sets: dict[int, PreparedStatement] = {}

    def channel_set(self, count: int) -> PreparedStatement:
        """Rows of ``count`` (channel, version) pairs of a thread and namespace, with the serialized
        value of ``value`` rows, in one statement (parameters ``c0``, ``v0``, ``c1``, ...)."""
        found = self._channel_sets.get(count)
        if found is None:
            pairs = [
                and_(_CH.c.channel == bindparam(f"c{i}"), _CH.c.version == bindparam(f"v{i}")) for i in range(count)
            ]
            found = self._channel_sets[count] = PreparedStatement(
                select(*_CHANNEL, _V.c.type, _V.c.data)
                .select_from(_CH.outerjoin(_V, _V.c.hash == _CH.c.value_hash))
                .where(_CH.c.thread_id == bindparam("thread_id"), _CH.c.checkpoint_ns == bindparam("checkpoint_ns"))
                .where(or_(*pairs))
            )
        return found


_prepared: dict[str, _Prepared] = {}


def _q(tx: Transaction) -> _Prepared:
    dialect = tx.dialect
    found = _prepared.get(dialect)
    if found is None:
        found = _prepared[dialect] = _Prepared(dialect)
    return found


def _channel_rows(
    versions: dict[str, Any], results: list[list[tuple[Any, ...]]]
) -> dict[str, tuple[ChannelRecord, tuple[str, bytes] | None]]:
    """The channel rows of the versions wanted, from the results of :meth:`CheckpointStore._channel_reads`."""
    wanted = {channel: str(version) for channel, version in versions.items()}
    found: dict[str, tuple[ChannelRecord, tuple[str, bytes] | None]] = {}
    for rows in results:
        for raw in rows:
            row = ChannelRecord._make(raw[: len(_CHANNEL)])
            if wanted.get(row.channel) != row.version:
                continue
            typed = None if raw[-2] is None else (raw[-2], bytes(raw[-1]))
            found[row.channel] = (row, typed)
    return found


def _write_records(found: list[tuple[Any, ...]]) -> list[Any]:
    """Pending-write rows in LangGraph's order."""
    rows = [WriteRecord._make(w) for w in found]
    return sorted(rows, key=lambda w: writes_sort_key(w.task_path, w.task_id, w.idx))


class CheckpointStore:
    """Queries over the saver's tables, within a tract unit of work."""

    # -- checkpoints --------------------------------------------------------------------------

    def locate(
        self, tx: Transaction, thread_id: str, checkpoint_ns: str, checkpoint_id: str | None
    ) -> tuple[Any, dict[str, Any]] | None:
        """The checkpoint row with that id (or the latest of the thread and namespace) and its versions."""
        params = {"thread_id": thread_id, "checkpoint_ns": checkpoint_ns}
        if checkpoint_id:
            found = _q(tx).by_id.one(tx, {**params, "checkpoint_id": checkpoint_id})
        else:
            found = _q(tx).latest.one(tx, params)
        if found is None:
            return None
        row = CheckpointRecord._make(found)
        return row, json.loads(row.versions)

    def matching(
        self,
        tx: Transaction,
        thread_id: str | None,
        checkpoint_ns: str | None,
        checkpoint_id: str | None,
        *,
        filter: dict[str, Any] | None,
        before_id: str | None,
        limit: int | None,
    ) -> list[Any]:
        """Checkpoint rows newest first, narrowed as ``BaseCheckpointSaver.list`` specifies (None: any)."""
        query = select(*_ROW)
        if thread_id is not None:
            query = query.where(_K.c.thread_id == thread_id)
        if checkpoint_ns is not None:
            query = query.where(_K.c.checkpoint_ns == checkpoint_ns)
        if checkpoint_id:
            query = query.where(_K.c.checkpoint_id == checkpoint_id)
        if before_id:
            query = query.where(_K.c.checkpoint_id < before_id)
        exact = True
        for key, value in (filter or {}).items():
            condition = self._metadata_condition(tx, key, value)
            if condition is None:
                exact = False
            else:
                query = query.where(condition)
        query = query.order_by(_K.c.checkpoint_id.desc())
        if limit is not None and exact:
            query = query.limit(max(limit, 0))
        rows = []
        for found in tx.execute(query):
            row = CheckpointRecord._make(found)
            if not exact:
                metadata = json.loads(row.metadata_json)
                if not all(metadata.get(k) == v for k, v in (filter or {}).items()):
                    continue
            rows.append(row)
            if limit is not None and len(rows) >= limit:
                break
        return rows

    @staticmethod
    def _metadata_condition(tx: Transaction, key: str, value: Any) -> Any:
        """A SQL condition for ``metadata[key] == value`` (None: check in Python instead)."""
        if value is None or not isinstance(value, (str, int, float, bool)):
            return None
        column = (
            cast(_K.c.metadata_json, JSONB) if tx.dialect == "postgresql" else type_coerce(_K.c.metadata_json, JSON)
        )
        element = column[key]
        if isinstance(value, bool):
            return element.as_boolean() == value
        if isinstance(value, (int, float)):
            return element.as_float() == value
        return element.as_string() == value

    def put_checkpoint(
        self,
        tx: Transaction,
        thread_id: str,
        checkpoint_ns: str,
        checkpoint_id: str,
        parent_id: str | None,
        typed: tuple[str, bytes],
        versions_json: str,
        metadata_typed: tuple[str, bytes],
        metadata_json: str,
        run_id: Any,
    ) -> None:
        values = {
            "thread_id": thread_id,
            "checkpoint_ns": checkpoint_ns,
            "checkpoint_id": checkpoint_id,
            "parent_checkpoint_id": parent_id,
            "type": typed[0],
            "checkpoint": typed[1],
            "versions": versions_json,
            "metadata_type": metadata_typed[0],
            "metadata_blob": metadata_typed[1],
            "metadata_json": metadata_json,
            "run_id": None if run_id is None else str(run_id),
        }
        _q(tx).put_checkpoint.defer(tx, values)

    # -- channel versions and values ----------------------------------------------------------

    def put_channel(
        self,
        tx: Transaction,
        thread_id: str,
        checkpoint_ns: str,
        channel: str,
        version: str,
        *,
        kind: str,
        value_hash: str | None = None,
        tract_id: str | None = None,
        commit_hash: str | None = None,
        count: int = 0,
    ) -> None:
        values = {
            "thread_id": thread_id,
            "checkpoint_ns": checkpoint_ns,
            "channel": channel,
            "version": version,
            "kind": kind,
            "value_hash": value_hash,
            "tract_id": tract_id,
            "commit_hash": commit_hash,
            "count": count,
        }
        _q(tx).put_channel.defer(tx, values)

    def put_value(self, tx: Transaction, value_hash: str, typed: tuple[str, bytes]) -> None:
        _q(tx).put_value.defer(tx, {"hash": value_hash, "type": typed[0], "data": typed[1]})

    def value(self, tx: Transaction, value_hash: str) -> tuple[str, bytes]:
        found = _q(tx).value.one(tx, {"hash": value_hash})
        assert found is not None, f"value {value_hash[:12]} is missing"
        return found[0], bytes(found[1])

    def channel(self, tx: Transaction, thread_id: str, checkpoint_ns: str, channel: str, version: str) -> Any:
        found = _q(tx).channel.one(
            tx,
            {"thread_id": thread_id, "checkpoint_ns": checkpoint_ns, "channel": channel, "version": version},
        )
        return None if found is None else ChannelRecord._make(found)

    def channels(
        self, tx: Transaction, thread_id: str, checkpoint_ns: str, versions: dict[str, Any]
    ) -> dict[str, tuple[ChannelRecord, tuple[str, bytes] | None]]:
        """A checkpoint's channel rows (unknown versions left out; ``empty`` markers included), each
        with its serialized value for ``value`` rows: one statement per 16 channels."""
        batch = self._channel_reads(tx, thread_id, checkpoint_ns, versions)
        return _channel_rows(versions, [statement.all(tx, params) for statement, params in batch])

    def channels_and_writes(
        self, tx: Transaction, thread_id: str, checkpoint_ns: str, checkpoint_id: str, versions: dict[str, Any]
    ) -> tuple[dict[str, tuple[ChannelRecord, tuple[str, bytes] | None]], list[Any]]:
        """:meth:`channels` and :meth:`writes` of a checkpoint, read together (one round trip on PostgreSQL)."""
        batch = self._channel_reads(tx, thread_id, checkpoint_ns, versions)
        ids = {"thread_id": thread_id, "checkpoint_ns": checkpoint_ns, "checkpoint_id": checkpoint_id}
        *channel_rows, write_rows = storage.read_together(tx, [*batch, (_q(tx).writes, ids)])
        return _channel_rows(versions, channel_rows), _write_records(write_rows)

    @staticmethod
    def _channel_reads(
        tx: Transaction, thread_id: str, checkpoint_ns: str, versions: dict[str, Any]
    ) -> list[tuple[PreparedStatement, dict[str, Any]]]:
        """The statements reading a checkpoint's channel rows, one per 16 channels."""
        pairs = [(channel, str(version)) for channel, version in versions.items()]
        batch = []
        for start in range(0, len(pairs), _CHANNELS_PER_READ):
            chunk = pairs[start : start + _CHANNELS_PER_READ]
            params: dict[str, Any] = {"thread_id": thread_id, "checkpoint_ns": checkpoint_ns}
            for i, (channel, version) in enumerate(chunk):
                params[f"c{i}"], params[f"v{i}"] = channel, version
            batch.append((_q(tx).channel_set(len(chunk)), params))
        return batch

    def previous_tips(
        self,
        tx: Transaction,
        thread_id: str,
        checkpoint_ns: str,
        channel: str,
        parent_id: str | None,
        tract_id: str,
    ) -> tuple[list[str | None], str | None]:
        """Where a new message list most likely continues: the parent checkpoint's list, then ``main``;
        and ``main``'s tip as read (None: no commit yet)."""
        tips: list[str | None] = []
        if parent_id:
            found = self.locate(tx, thread_id, checkpoint_ns, parent_id)
            if found is not None and channel in found[1]:
                row = self.channel(tx, thread_id, checkpoint_ns, channel, str(found[1][channel]))
                if row is not None and row.kind == "messages":
                    tips.append(row.commit_hash)
        main = tx.branch_tip(tract_id, DEFAULT_BRANCH)
        if main is not None:
            tips.append(main)
        return tips or [None], main

    # -- writes -------------------------------------------------------------------------------

    def put_writes(self, tx: Transaction, rows: Sequence[dict[str, Any]], *, replace: bool) -> None:
        if not rows:
            return
        statement = _q(tx).put_writes_replace if replace else _q(tx).put_writes_keep
        for row in rows:
            statement.defer(tx, row)

    def writes(self, tx: Transaction, thread_id: str, checkpoint_ns: str, checkpoint_id: str) -> list[Any]:
        found = _q(tx).writes.all(
            tx, {"thread_id": thread_id, "checkpoint_ns": checkpoint_ns, "checkpoint_id": checkpoint_id}
        )
        return _write_records(found)

    # -- whole threads ------------------------------------------------------------------------

    def namespaces(self, tx: Transaction, thread_id: str) -> list[str]:
        rows = tx.execute(select(_K.c.checkpoint_ns).where(_K.c.thread_id == thread_id).distinct())
        return sorted(rows.scalars())

    def recorded_tract(self, tx: Transaction, thread_id: str, checkpoint_ns: str) -> str | None:
        """The tract the thread's messages in that namespace went to, if any were stored."""
        found = _q(tx).recorded_tract.one(tx, {"thread_id": thread_id, "checkpoint_ns": checkpoint_ns})
        return None if found is None else found[0]

    def claims(self, tx: Transaction, thread_id: str, checkpoint_ns: str, tract_id: str) -> bool:
        """Whether messages of the thread in that namespace were stored in ``tract_id``."""
        params = {"thread_id": thread_id, "checkpoint_ns": checkpoint_ns, "tract_id": tract_id}
        return _q(tx).claims.one(tx, params) is not None

    def tracts_of(self, tx: Transaction, thread_id: str) -> list[str]:
        rows = tx.execute(
            select(_CH.c.tract_id).where(_CH.c.thread_id == thread_id, _CH.c.tract_id.is_not(None)).distinct()
        )
        return sorted(rows.scalars())

    def delete_thread(self, tx: Transaction, thread_id: str) -> None:
        values = tx.execute(
            select(_CH.c.value_hash).where(_CH.c.thread_id == thread_id, _CH.c.value_hash.is_not(None)).distinct()
        ).scalars()
        hashes = set(values)
        for table in (_W, _CH, _K):
            tx.execute(delete(table).where(table.c.thread_id == thread_id))
        self._drop_values(tx, hashes)

    @staticmethod
    def _drop_values(tx: Transaction, hashes: set[str]) -> None:
        """Delete those serialized values no channel row references any more (any thread)."""
        if not hashes:
            return
        still = select(_CH.c.value_hash).where(_CH.c.value_hash.in_(sorted(hashes)))
        tx.execute(delete(_V).where(_V.c.hash.in_(sorted(hashes)), _V.c.hash.not_in(still)))

    def delete_runs(self, tx: Transaction, run_ids: list[str]) -> set[tuple[str, str]]:
        """Delete the checkpoints of these runs and their writes; return the namespaces touched."""
        doomed = tx.execute(
            select(_K.c.thread_id, _K.c.checkpoint_ns, _K.c.checkpoint_id).where(_K.c.run_id.in_(run_ids))
        ).all()
        for thread_id, checkpoint_ns, checkpoint_id in doomed:
            for table in (_W, _K):
                tx.execute(
                    delete(table).where(
                        table.c.thread_id == thread_id,
                        table.c.checkpoint_ns == checkpoint_ns,
                        table.c.checkpoint_id == checkpoint_id,
                    )
                )
        return {(thread_id, checkpoint_ns) for thread_id, checkpoint_ns, _ in doomed}

    def keep_latest(self, tx: Transaction, thread_id: str) -> list[str]:
        """Keep only the newest checkpoint (and its writes) of each namespace; return the namespaces."""
        touched = []
        for checkpoint_ns in self.namespaces(tx, thread_id):
            latest = tx.execute(
                select(_K.c.checkpoint_id)
                .where(_K.c.thread_id == thread_id, _K.c.checkpoint_ns == checkpoint_ns)
                .order_by(_K.c.checkpoint_id.desc())
                .limit(1)
            ).scalar_one()
            for table in (_W, _K):
                tx.execute(
                    delete(table).where(
                        table.c.thread_id == thread_id,
                        table.c.checkpoint_ns == checkpoint_ns,
                        table.c.checkpoint_id != latest,
                    )
                )
            touched.append(checkpoint_ns)
        return touched

    def collect_channels(self, tx: Transaction, thread_id: str, checkpoint_ns: str) -> set[str]:
        """Delete channel rows no checkpoint of the namespace references; return the commits still used."""
        versions = tx.execute(
            select(_K.c.versions).where(_K.c.thread_id == thread_id, _K.c.checkpoint_ns == checkpoint_ns)
        ).scalars()
        needed = {(channel, str(version)) for text in versions for channel, version in json.loads(text).items()}
        rows = tx.execute(
            select(_CH.c.channel, _CH.c.version, _CH.c.commit_hash, _CH.c.value_hash).where(
                _CH.c.thread_id == thread_id, _CH.c.checkpoint_ns == checkpoint_ns
            )
        ).all()
        kept: set[str] = set()
        dropped_values: set[str] = set()
        for row in rows:
            if (row.channel, row.version) in needed:
                if row.commit_hash:
                    kept.add(row.commit_hash)
                continue
            if row.value_hash:
                dropped_values.add(row.value_hash)
            tx.execute(
                delete(_CH).where(
                    _CH.c.thread_id == thread_id,
                    _CH.c.checkpoint_ns == checkpoint_ns,
                    _CH.c.channel == row.channel,
                    _CH.c.version == row.version,
                )
            )
        self._drop_values(tx, dropped_values)
        return kept

    def copy_thread(self, tx: Transaction, source: str, target: str, tract_ids: dict[str, str]) -> None:
        """Copy every row of ``source`` to ``target`` (message channels pointing at ``tract_ids[ns]``)."""
        for table in (_K, _W):
            columns = [c for c in table.c if c.name != "thread_id"]
            tx.execute(
                table.insert().from_select(
                    ["thread_id", *[c.name for c in columns]],
                    select(literal(target), *columns).where(table.c.thread_id == source),
                )
            )
        rows = tx.execute(select(_CH).where(_CH.c.thread_id == source)).all()
        copies = [
            {**row._mapping, "thread_id": target, "tract_id": tract_ids[row.checkpoint_ns] if row.tract_id else None}
            for row in rows
        ]
        if copies:
            tx.execute(_CH.insert(), copies)

    # -- sealed messages ----------------------------------------------------------------------

    def put_sealed(self, tx: Transaction, blob_hash: str, typed: tuple[str, bytes]) -> None:
        _q(tx).put_sealed.defer(tx, {"hash": blob_hash, "type": typed[0], "data": typed[1]})

    def sealed_many(self, tx: Transaction, blob_hashes: Sequence[str]) -> dict[str, tuple[str, bytes]]:
        found: dict[str, tuple[str, bytes]] = {}
        for start in range(0, len(blob_hashes), 500):
            chunk = list(blob_hashes[start : start + 500])
            for row in tx.execute(select(_S.c.hash, _S.c.type, _S.c.data).where(_S.c.hash.in_(chunk))):
                found[row.hash] = (row.type, bytes(row.data))
        return found

    def delete_sealed(self, tx: Transaction, blob_hashes: set[str]) -> None:
        ordered = sorted(blob_hashes)
        for start in range(0, len(ordered), 500):
            tx.execute(delete(_S).where(_S.c.hash.in_(ordered[start : start + 500])))


def tables_ready(tx: Transaction) -> bool:
    """PostgreSQL: whether every saver table exists with its id columns already ``TEXT``, in one
    catalog read (then :func:`create_tables` has nothing to do and opening needs no write). False
    on other databases, where creating the tables if missing is as cheap."""
    if tx.dialect != "postgresql":
        return False
    rows = tx.execute(
        text(
            "SELECT c.relname, coalesce(bool_or(a.attname IN :columns "
            "AND a.atttypid = 'character varying'::regtype), false) "
            "FROM pg_catalog.pg_class c LEFT JOIN pg_catalog.pg_attribute a "
            "ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped "
            "WHERE c.relnamespace = (SELECT oid FROM pg_catalog.pg_namespace WHERE nspname = current_schema()) "
            "AND c.relname IN :tables AND c.relkind IN ('r', 'p') GROUP BY c.relname"
        ).bindparams(bindparam("tables", expanding=True), bindparam("columns", expanding=True)),
        {"tables": [t.name for t in SAVER_TABLES], "columns": list(ID_COLUMNS)},
    ).all()
    return len(rows) == len(SAVER_TABLES) and not any(narrow for _name, narrow in rows)


def create_tables(tx: Transaction) -> None:
    """Create the saver's tables if missing, and widen id columns an older version made ``VARCHAR(255)``."""
    tx.create_tables(SAVER_TABLES)
    if tx.dialect != "postgresql":
        return  # SQLite does not enforce VARCHAR lengths
    narrow = tx.execute(
        text(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name IN :tables AND column_name IN :columns "
            "AND data_type = 'character varying'"
        ).bindparams(bindparam("tables", expanding=True), bindparam("columns", expanding=True)),
        {"tables": [t.name for t in SAVER_TABLES], "columns": list(ID_COLUMNS)},
    ).all()
    for table, column in narrow:
        tx.execute(text(f'ALTER TABLE "{table}" ALTER COLUMN "{column}" TYPE TEXT'))
