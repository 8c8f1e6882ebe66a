"""Shared parts of the chat-message formats (OpenAI Chat Completions, Anthropic Messages)."""

from __future__ import annotations

from typing import Any

from watchkeeper.trajectories._base import StepsBuilder
from watchkeeper.trajectories._util import (
    MAX_TEXT,
    as_dict,
    as_list,
    dumps,
    parse_json_text,
    scalar_str,
)

_SNIFF_MESSAGES = 2000
_ANTHROPIC_BLOCKS = frozenset(
    {"tool_use", "tool_result", "server_tool_use", "thinking", "redacted_thinking",
     "web_search_tool_result", "code_execution_tool_result", "mcp_tool_use", "mcp_tool_result"}
)


_RESPONSES_PARTS = frozenset({"input_text", "output_text", "input_image", "input_file"})


def response_messages(response: Any) -> list[Any]:
    """The assistant message(s) of an API response object (Chat Completions or Anthropic)."""
    resp = as_dict(response)
    choices = as_list(resp.get("choices"))
    if choices:
        message = as_dict(choices[0]).get("message")
        return [message] if isinstance(message, dict) else []
    if resp.get("type") == "message" and isinstance(resp.get("content"), list):
        return [{"role": resp.get("role", "assistant"), "content": resp["content"]}]
    return []


def extract_messages(doc: Any) -> list[Any] | None:
    """The message list of a conversation document, or None if ``doc`` is not one.

    Accepts a list of messages, ``{"messages": [...]}`` (optionally with a ``response``), a
    ``{"request": {...}, "response": {...}}`` log record, or a single API response object.
    """
    if isinstance(doc, list):
        first = doc[0] if doc else None
        if isinstance(first, dict) and "role" in first:
            return doc
        return None
    if not isinstance(doc, dict):
        return None
    messages = doc.get("messages")
    request = doc.get("request")
    if not isinstance(messages, list) and isinstance(request, dict):
        messages = request.get("messages")
    if isinstance(messages, list):
        extra = response_messages(doc.get("response"))
        return messages + extra if extra else messages
    if doc.get("object") == "chat.completion" or (
        isinstance(doc.get("choices"), list) and "messages" not in doc
    ):
        return response_messages(doc) or None
    if doc.get("type") == "message" and doc.get("role") == "assistant":
        return response_messages(doc) or None
    return None


def flavour(messages: list[Any]) -> str | None:
    """"openai", "anthropic" or "responses" from the first messages that tell them apart.

    None when no message does (text-only conversations read the same either way).
    """
    for message in messages[:_SNIFF_MESSAGES]:
        if not isinstance(message, dict):
            continue
        if "tool_calls" in message or "function_call" in message:
            return "openai"
        role = message.get("role")
        if role in ("tool", "function"):
            return "openai"
        content = message.get("content")
        if isinstance(content, list):
            for block in content[:64]:
                if isinstance(block, dict):
                    kind = block.get("type")
                    if not isinstance(kind, str):
                        continue
                    if kind in _ANTHROPIC_BLOCKS:
                        return "anthropic"
                    if kind in ("image_url", "input_audio", "refusal"):
                        return "openai"
                    if kind in _RESPONSES_PARTS:
                        return "responses"
    return None


def split_arguments(value: Any) -> tuple[Any, str | None]:
    """``(arguments, raw)`` for make_call from recorded arguments (JSON text or an object).

    Text that parses to an object gives the object and keeps the text; text that does not
    parse gives ``(None, text)`` so the classifier can salvage it.
    """
    if isinstance(value, str):
        if len(value) > MAX_TEXT:
            value = value[:MAX_TEXT]
        parsed, ok = parse_json_text(value)
        if ok and isinstance(parsed, dict | list | str):
            return parsed, value
        return None, value
    if isinstance(value, dict | list):
        return value, None
    if value is None:
        return None, ""
    return None, dumps(value)


def parse_openai_tool_call(call: Any) -> tuple[str, Any, str | None, str] | None:
    """``(name, arguments, raw, call_id)`` of one Chat Completions ``tool_calls[]`` entry.

    Also accepts Inspect's flat variant (``function`` is the name, ``arguments`` an object).
    None if the entry is not an object.
    """
    if not isinstance(call, dict):
        return None
    function = call.get("function")
    if isinstance(function, dict):
        name = function.get("name")
        arguments = function.get("arguments")
    elif isinstance(function, str):  # Inspect: function is the name, arguments is a dict
        name = function
        arguments = call.get("arguments")
    else:
        name = call.get("name")
        arguments = call.get("arguments", call.get("input"))
    args, raw = split_arguments(arguments)
    call_id = call.get("id")
    if not isinstance(call_id, str):
        call_id = scalar_str(call_id) or ""
    return (name[:4096] if isinstance(name, str) else ""), args, raw, call_id


def add_openai_tool_call(builder: StepsBuilder, call: Any, ts: float | None = None) -> None:
    """Add one Chat Completions ``tool_calls[]`` entry to the current step."""
    parsed = parse_openai_tool_call(call)
    if parsed is not None:
        name, args, raw, call_id = parsed
        builder.add(name, args, raw=raw, call_id=call_id, ts=ts)
