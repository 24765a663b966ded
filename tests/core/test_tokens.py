"""Token counting: the protocol, the tiktoken default, the offline fallback and the per-blob cache."""

from __future__ import annotations

import warnings

import pytest

from tract_core import TiktokenCounter, TokenCounter, TokenizerFallbackWarning, Tract, TractConfig
from tract_core.errors import ConfigError
from tract_core.tokens import OFFLINE_ENCODING


class CountingCounter:
    """A real (whitespace) tokenizer that records how often it is asked to count."""

    name = "words-v1"

    def __init__(self) -> None:
        self.calls = 0

    def count_text(self, text: str) -> int:
        self.calls += 1
        return len(text.split())


def test_default_counter_is_cl100k_from_the_offline_copy() -> None:
    counter = TiktokenCounter()
    assert counter.name == "cl100k_base"
    assert counter.fallback_reason is None
    assert counter.count_text("hello world") == 2
    assert counter.count_text("<|endoftext|>") > 1  # special tokens in user text are plain text


def test_unloadable_encoding_falls_back_with_one_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRACT_TIKTOKEN_OFFLINE", raising=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        first = TiktokenCounter(encoding="no_such_encoding_v9")
        second = TiktokenCounter(encoding="no_such_encoding_v9")
    fallbacks = [w for w in caught if issubclass(w.category, TokenizerFallbackWarning)]
    assert len(fallbacks) == 1
    assert fallbacks[0].filename == __file__  # points at the caller, not at tract's internals
    for counter in (first, second):
        assert counter.name == "cl100k_base"
        assert OFFLINE_ENCODING in counter.fallback_reason
        assert "set TRACT_TIKTOKEN_OFFLINE=1" in counter.fallback_reason  # how to skip the download attempt
        assert counter.count_text("hello world") == 2


def test_status_says_when_counts_are_estimates(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACT_TIKTOKEN_OFFLINE", "1")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TokenizerFallbackWarning)  # emitted once per process, maybe earlier
        t = Tract.open(config=TractConfig(model="gpt-4o"))
    status = t.status()
    assert status.tokenizer == "cl100k_base"
    assert "o200k_base" in status.tokenizer_note
    assert "unset TRACT_TIKTOKEN_OFFLINE" in status.tokenizer_note  # why, and what to change


def test_a_custom_counter_is_used_everywhere() -> None:
    counter = CountingCounter()
    assert isinstance(counter, TokenCounter)
    t = Tract.open(config=TractConfig(token_counter=counter))
    t.user("one two three")
    assert t.compile().token_count == 3 + 3 + 3  # words + per-message overhead + reply priming
    assert t.status().tokenizer == "words-v1"


def test_counts_are_cached_per_blob_in_the_store(tmp_path) -> None:
    path = tmp_path / "cache.db"
    writer_counter = CountingCounter()
    with Tract.open(path=path, config=TractConfig(token_counter=writer_counter)) as t:
        for i in range(20):
            t.user(f"message number {i}")
        expected = t.compile().token_count
    assert writer_counter.calls == 20

    reader_counter = CountingCounter()
    with Tract.open(path=path, config=TractConfig(token_counter=reader_counter)) as t:
        assert t.compile().token_count == expected
    assert reader_counter.calls == 0  # a cold compile reads the stored counts


def test_a_counter_without_the_protocol_is_refused() -> None:
    with pytest.raises(ConfigError, match="count_text"):
        TractConfig(token_counter=object())  # type: ignore[arg-type]
