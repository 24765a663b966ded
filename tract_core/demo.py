"""The store behind ``tract demo``: a customer-support chat that tours usage scenarios 1.1 to 2.3.

Read :func:`build_demo` top to bottom: each step names the scenario it shows. There is no LLM and
no network; the assistant's replies are scripted text, so the demo runs in about a second.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from . import EDIT, SKIP, Tract, TractConfig
from .tract import DEFAULT_TRACT_ID

__all__ = ["DEFAULT_DEMO_PATH", "DemoStore", "build_demo"]

DEFAULT_DEMO_PATH = "tract-demo.db"
"""Where ``tract demo`` writes its store when no ``--db`` is given (in the current directory)."""

SYSTEM_PROMPT = (
    "You are the support assistant of Stride Outfitters, an online shoe store. "
    "Answer in at most three sentences. Quote policy numbers exactly as the policy documents "
    "state them; never guess a number."
)

RETURNS_POLICY = (
    "[kb/returns-policy.md] Unworn shoes can be returned within 30 days of delivery for a full "
    "refund. Shoes worn indoors only count as unworn. Return shipping is free with the prepaid "
    "label from the order page."
)

GPT_4O = {"model": "gpt-4o", "temperature": 0.7}
"""The generation settings every scripted reply claims to come from."""

ORDER_API_RESPONSE = {
    "order_id": "SO-48213",
    "customer_id": "C-1042",
    "status": "DELIVERED",
    "delivered_at": "2025-03-02T14:31:07Z",
    "items": [{"sku": "TR-RUN-0442-BLK-43", "name": "Ridgeback Trail Runner", "qty": 1, "price_cents": 12900}],
    "warehouse": {"code": "FRA-3", "picker_id": 88172, "pack_station": "P-14", "batch": "2025-02-27-B"},
    "carrier": {"name": "DHL", "service": "PAKET", "tracking": "JJD000390007781234567"},
    "tracking_events": [
        {"at": "2025-02-28T06:02:11Z", "code": "PU", "where": "Frankfurt hub"},
        {"at": "2025-03-01T03:47:55Z", "code": "TR", "where": "Leipzig sort centre"},
        {"at": "2025-03-02T09:12:40Z", "code": "OD", "where": "Local depot"},
        {"at": "2025-03-02T14:31:07Z", "code": "DL", "where": "Front door"},
    ],
    "fraud_score": 0.013,
    "ab_bucket": "checkout-v7",
    "internal_notes": None,
}
"""A verbose order-API payload: the noise scenario 2.2 hides from the model."""


@dataclass(frozen=True)
class DemoStore:
    """What :func:`build_demo` wrote (commit hashes are full SHA-256 hex).

    Attributes:
        path: The SQLite file.
        tract_id: The tract holding the conversation.
        replaced: Whether an existing file at ``path`` was replaced.
        question: The user's first question.
        wrong_answer: The assistant reply that hallucinated "60 days".
        retrieval: The retrieved policy document (content type ``retrieval``).
        tool_call: The assistant's ``lookup_order`` tool call (left out of the context with its result).
        tool_result: The noisy order-API result (SKIPped).
        before_fix: HEAD just before the correction: the last reply, whose context still
            showed "60 days" and the tool output.
        correction: The EDIT that replaces the wrong answer with "30 days" (HEAD).
    """

    path: Path
    tract_id: str
    replaced: bool
    question: str
    wrong_answer: str
    retrieval: str
    tool_call: str
    tool_result: str
    before_fix: str
    correction: str


def build_demo(path: str | os.PathLike[str] = DEFAULT_DEMO_PATH, *, tract_id: str = DEFAULT_TRACT_ID) -> DemoStore:
    """Write the demo conversation to a fresh SQLite file, replacing any file already there.

    Args:
        path: The SQLite file to (re)create.
        tract_id: The tract to write the conversation to.

    Returns:
        The file and the hashes of the commits worth inspecting.
    """
    target = Path(path)
    replaced = _remove_sqlite_file(target)
    # 1.2: a budget and a model (which picks the tokenizer), saved with the tract.
    config = TractConfig(token_budget=128_000, model="gpt-4o")
    with Tract.open(path=target, tract_id=tract_id, config=config) as t:
        # 1.1: a first conversation. System messages are instructions, PINNED by default (2.2).
        t.system(SYSTEM_PROMPT)
        question = t.user(
            "Hi! I bought trail running shoes three weeks ago and they pinch. How long do I have to return them?",
            metadata={"customer_id": "C-1042", "channel": "web-chat"},
        )
        wrong_answer = t.assistant(
            "No problem! You have 60 days from delivery to return unworn shoes for a full refund.",
            generation_config=GPT_4O,
        )
        # 1.2: feed back the provider's real numbers (OpenAI's `response.usage` shape).
        t.record_usage({"prompt_tokens": 61, "completion_tokens": 22, "total_tokens": 83})

        # 1.3: retrieval, follow-up question and reply land together or not at all.
        with t.batch():
            retrieval = t.commit(
                {"role": "system", "content": RETURNS_POLICY},
                content_type="retrieval",
                metadata={"source": "kb/returns-policy.md", "score": 0.91},
            )
            t.user("I only wore them around the house. Does that still count as unworn?")
            t.assistant(
                "Yes: shoes worn indoors only count as unworn, so yours qualify. "
                "Let me check when your order was delivered.",
                generation_config=GPT_4O,
            )
            t.record_usage(
                {
                    "prompt_tokens": 152,
                    "completion_tokens": 27,
                    "total_tokens": 179,
                    "prompt_tokens_details": {"cached_tokens": 64},
                }
            )

        # A tool round-trip whose raw output is long and noisy.
        tool_call = t.assistant(
            tool_calls=[
                {
                    "id": "call_lookup_1",
                    "type": "function",
                    "function": {"name": "lookup_order", "arguments": json.dumps({"customer_id": "C-1042"})},
                }
            ],
            generation_config=GPT_4O,
        )
        tool_result = t.tool_result("call_lookup_1", json.dumps(ORDER_API_RESPONSE, indent=2), name="lookup_order")
        before_fix = t.assistant(
            "Your order SO-48213 was delivered on 2 March, so you can return the shoes until 1 April. "
            "I have emailed you a prepaid return label.",
            generation_config=GPT_4O,
        )
        t.record_usage({"prompt_tokens": 498, "completion_tokens": 35, "total_tokens": 533})

        # 2.1: a reviewer spots the hallucinated "60 days" and corrects it in place. The next
        # compile serves the fix as if the mistake never happened; the original stays in history.
        correction = t.commit(
            "No problem! You have 30 days from delivery to return unworn shoes for a full refund.",
            role="assistant",
            operation=EDIT,
            response_to=wrong_answer,
            commit_message="Fix the hallucinated return window: the policy says 30 days",
        )

        # 2.2: hide the noise from the model, keep it for audit. Compile drops the tool call with
        # its skipped result, since providers reject a call whose result is missing.
        t.annotate(tool_result, SKIP, reason="raw order-API dump; the reply after it summarises it")

    return DemoStore(
        path=target,
        tract_id=tract_id,
        replaced=replaced,
        question=question.hash,
        wrong_answer=wrong_answer.hash,
        retrieval=retrieval.hash,
        tool_call=tool_call.hash,
        tool_result=tool_result.hash,
        before_fix=before_fix.hash,
        correction=correction.hash,
    )


def _remove_sqlite_file(target: Path) -> bool:
    """Delete a SQLite file and its journal files; True if the file existed."""
    existed = target.exists()
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{target}{suffix}").unlink(missing_ok=True)
    return existed
