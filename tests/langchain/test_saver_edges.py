"""Edges of the checkpointer contract the conformance suite does not reach."""

from __future__ import annotations

import copy
from typing import Any

from langchain_core.messages import AIMessage, HumanMessage
from langgraph.checkpoint.base import empty_checkpoint

from tract_langchain import TractSaver


def _put(saver: TractSaver, thread: str, values: dict[str, Any], parent: str | None = None, **meta: Any) -> Any:
    checkpoint = empty_checkpoint()
    versions = {name: saver.get_next_version(None, None) for name in values}
    checkpoint["channel_values"] = values
    checkpoint["channel_versions"] = versions
    config = {"configurable": {"thread_id": thread, "checkpoint_ns": ""}}
    if parent:
        config["configurable"]["checkpoint_id"] = parent
    return saver.put(config, checkpoint, {"source": "input", "step": -1, **meta}, versions)


def test_versions_are_ordered_strings_like_the_stock_savers(tmp_path) -> None:
    with TractSaver.from_conn_string(str(tmp_path / "s.db")) as saver:
        first = saver.get_next_version(None, None)
        second = saver.get_next_version(first, None)
        assert first.split(".")[0] == "0" * 31 + "1" and second.split(".")[0] == "0" * 31 + "2"
        assert second > first and saver.get_next_version(7, None).startswith("0" * 31 + "8")


def test_a_shallow_copy_works_like_the_original(tmp_path) -> None:
    """LangGraph's ``with_allowlist`` returns ``copy.copy(saver)`` with another serde."""
    with TractSaver.from_conn_string(str(tmp_path / "s.db")) as saver:
        clone = copy.copy(saver)
        config = _put(clone, "t", {"messages": [HumanMessage("hi", id="1")], "topic": {"a": [1, 2]}})
        assert saver.get_tuple(config).checkpoint["channel_values"]["topic"] == {"a": [1, 2]}
        assert clone.get_tuple(config).checkpoint["channel_values"]["messages"][0].content == "hi"


def test_values_that_only_look_like_message_lists(tmp_path) -> None:
    with TractSaver.from_conn_string(str(tmp_path / "s.db")) as saver:
        mixed = [HumanMessage("a", id="1"), {"not": "a message"}, AIMessage("b", id="2")]
        config = _put(saver, "t", {"mixed": mixed, "empty": [], "none": None})
        values = saver.get_tuple(config).checkpoint["channel_values"]
        assert values["mixed"][1] == {"not": "a message"} and values["mixed"][2].content == "b"
        assert values["empty"] == [] and values["none"] is None
        assert saver.tract("t").log() == []  # no message channel: nothing became commits


def test_list_across_threads_and_metadata_filters(tmp_path) -> None:
    with TractSaver.from_conn_string(str(tmp_path / "s.db")) as saver:
        _put(saver, "a", {"messages": [HumanMessage("x", id="1")]}, user="ann", score=3, flags={"x": 1})
        _put(saver, "b", {"messages": [HumanMessage("y", id="2")]}, user="bob", score=3.0)
        assert {t.config["configurable"]["thread_id"] for t in saver.list(None)} == {"a", "b"}
        assert [t.metadata["user"] for t in saver.list(None, filter={"score": 3})] in (["ann", "bob"], ["bob", "ann"])
        assert [t.metadata["user"] for t in saver.list(None, filter={"flags": {"x": 1}})] == ["ann"]
        assert list(saver.list(None, filter={"user": "carol"})) == []


def test_the_same_messages_twice_share_every_commit_and_blob(tmp_path) -> None:
    with TractSaver.from_conn_string(str(tmp_path / "s.db")) as saver:
        messages = [HumanMessage("same question", id="q"), AIMessage("same answer", id="a")]
        one = _put(saver, "t", {"messages": messages})
        two = _put(saver, "t", {"messages": list(messages)}, parent=one["configurable"]["checkpoint_id"])
        assert saver.checkpoint_commit(one) == saver.checkpoint_commit(two)
        assert len(saver.tract("t").log(limit=None)) == 2
