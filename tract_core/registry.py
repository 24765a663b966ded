"""The tracts a store holds: opening one (creating it with its saved config), and listing them.

One database holds many tracts, each a row with its id, its saved :class:`~tract_core.TractConfig`
(the budget and model; never the LLM or the token counter, which are objects of the process) and,
for a spawned sub-agent, its parent.
"""

from __future__ import annotations

import json
import os
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from .checkout import Checkout, stored_checkout
from .config import TractConfig
from .errors import InvalidInputError, TractNotFoundError, shown
from .objects import canonical_json, check_text
from .refs import DEFAULT_BRANCH
from .store.sql import SqlSession, SqlStore

__all__ = ["check_tract_id", "attach_tract", "list_tract_ids"]


def check_tract_id(tract_id: Any) -> str:
    """Validate a tract id: a non-empty string of at most 255 characters; return it."""
    if not isinstance(tract_id, str) or not tract_id.strip() or len(tract_id) > 255:
        raise InvalidInputError(f"tract_id must be a non-empty string of at most 255 characters, not {shown(tract_id)}")
    return check_text(tract_id, "tract_id")


def attach_tract(
    store: SqlStore, tract_id: str, config: TractConfig | None, create: bool
) -> tuple[TractConfig, Checkout]:
    """Make sure tract ``tract_id`` exists in ``store``; return the config a handle on it uses and
    where its HEAD starts (the HEAD stored with the tract now, not when the handle is first used).

    A new tract is created with ``config`` (or the default) and HEAD on ``main``. An existing one
    keeps its saved config unless ``config`` is given and differs, which then replaces it. Inside a
    batch of the store, the batch's transaction is used.

    Raises:
        TractNotFoundError: ``create`` is False and the tract does not exist.
    """
    active = store.join_batch()  # opened inside a batch on this store: use the batch's transaction

    def reading() -> AbstractContextManager[SqlSession]:
        return nullcontext(active) if active is not None else store.read()

    def writing() -> AbstractContextManager[SqlSession]:
        return nullcontext(active) if active is not None else store.write()

    with reading() as session:
        entry = session.tracts.get(tract_id)
        start = stored_checkout(session.refs, tract_id) if entry is not None else None
    if entry is None and not create:
        with reading() as session:
            known = [t.tract_id for t in session.tracts.list()]
        listing = ", ".join(known[:20]) or "none"
        raise TractNotFoundError(f"no tract {tract_id!r} in {store.url} (tracts: {listing})")
    stored = TractConfig.from_stored(json.loads(entry.config_json) if entry and entry.config_json else None)
    wanted = config if config is not None else stored
    stored_json = canonical_json(wanted.to_stored())
    if entry is None or (config is not None and stored_json != entry.config_json):
        with writing() as session:
            if not session.tracts.create(tract_id, stored_json, None):
                session.tracts.set_config(tract_id, stored_json)
            session.refs.init_head(tract_id, DEFAULT_BRANCH)
            start = stored_checkout(session.refs, tract_id)
    assert start is not None  # read with the entry, or after creating it
    return (wanted if config is not None else stored.with_counter(None)), start


def list_tract_ids(path: str | os.PathLike[str] | None = None, *, url: str | None = None) -> list[str]:
    """The ids of the tracts in a database (which must exist)."""
    store = SqlStore(path=path, url=url, create=False)
    try:
        with store.read() as session:
            return [t.tract_id for t in session.tracts.list()]
    finally:
        store.close()
