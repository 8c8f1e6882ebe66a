"""Anthropic Messages conversations: ``tool_use`` blocks and their ``tool_result`` blocks."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from watchkeeper.trajectories._base import Reader, ReadIssue, Source, StepsBuilder, each_document
from watchkeeper.trajectories._chat import extract_messages, flavour
from watchkeeper.trajectories._fast import new_trajectory
from watchkeeper.trajectories._model import Trajectory
from watchkeeper.trajectories._util import (
    MAX_ITEMS,
    as_dict,
    as_list,
    as_str,
    parse_ts,
    pick_id,
    scalar_str,
    small_metadata,
    text_of,
)

#: Assistant content blocks that are tool calls.
CALL_BLOCKS = frozenset({"tool_use", "server_tool_use", "mcp_tool_use"})


def add_blocks(builder: StepsBuilder, content: Any, ts: float | None) -> None:
    """Add the tool calls and server-tool results of one assistant message's content."""
    for block in as_list(content)[:MAX_ITEMS]:
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        if not isinstance(kind, str):
            continue
        if kind in CALL_BLOCKS:
            name = as_str(block.get("name")) or ""
            builder.add(name, block.get("input"), call_id=scalar_str(block.get("id")) or "", ts=ts)
        elif kind.endswith("_tool_result"):
            call_id = scalar_str(block.get("tool_use_id"))
            if call_id:
                builder.set_output(call_id, text_of(block.get("content")))


def add_results(builder: StepsBuilder, content: Any, ts: float | None) -> None:
    """Join the ``tool_result`` blocks of a user message to their calls."""
    for block in as_list(content)[:MAX_ITEMS]:
        if isinstance(block, dict) and block.get("type") == "tool_result":
            call_id = scalar_str(block.get("tool_use_id"))
            if call_id:
                builder.set_output(call_id, text_of(block.get("content")), ts)


class AnthropicReader(Reader):
    """Reads Anthropic Messages conversations.

    Accepted documents: a list of messages, a request body ``{"model", "system",
    "messages"}``, a ``{"request": {...}, "response": {...}}`` log record, or one response
    message; a JSON list of conversations gives one trajectory each. Each assistant message is
    a step; each ``tool_use`` (also ``server_tool_use``, ``mcp_tool_use``) block is a call whose
    ``input`` object is classified by tool name (``bash`` -> ``input.command``,
    ``str_replace_based_edit_tool`` -> ``command``/``path``/``file_text``/``new_str``...).
    ``tool_result`` blocks in the next user message give the outputs, joined by
    ``tool_use_id``. The API has no timestamps; per-message ``timestamp`` fields are used
    when a log adds them.
    """

    name = "anthropic"

    def sniff(self, doc: Any) -> bool:
        """A conversation (or list of them) with Anthropic content blocks."""
        if isinstance(doc, list) and doc and isinstance(doc[0], dict) and "role" not in doc[0]:
            doc = doc[0]
        messages = extract_messages(doc)
        return messages is not None and flavour(messages) == "anthropic"

    def read(self, doc: Any, src: Source) -> Iterator[Trajectory | ReadIssue]:
        """One trajectory per conversation."""
        return each_document(doc, src, self.read_one, _is_conversation)

    def read_one(self, doc: Any, src: Source) -> Trajectory:
        """One conversation."""
        messages = extract_messages(doc)
        if messages is None:
            raise src.error("not a chat conversation (no messages list)", "messages")
        builder = StepsBuilder()
        for message in messages[:MAX_ITEMS]:
            if not isinstance(message, dict):
                continue
            ts = parse_ts(message.get("timestamp"))
            role = message.get("role")
            content = message.get("content")
            if role == "assistant":
                builder.step(ts)
                add_blocks(builder, content, ts)
            elif role == "user":
                add_results(builder, content, ts)
        meta_doc = as_dict(doc)
        request = as_dict(meta_doc.get("request"))
        response = as_dict(meta_doc.get("response"))
        metadata = (
            small_metadata(meta_doc, ("model",))
            or small_metadata(request, ("model",))
            or small_metadata(response, ("model",))
        )
        default = str(src)
        ident = pick_id(meta_doc, "") or pick_id(response, default)
        return new_trajectory(id=ident, source=default, format=self.name, steps=builder.build(),
                          metadata=metadata)


def _is_conversation(element: dict[str, Any]) -> bool:
    return "role" not in element and extract_messages(element) is not None
