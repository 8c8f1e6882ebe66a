"""OpenAI Chat Completions conversations: assistant ``tool_calls`` and ``tool`` results."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from watchkeeper.trajectories._base import Reader, ReadIssue, Source, each_document
from watchkeeper.trajectories._chat import (
    extract_messages,
    flavour,
    parse_openai_tool_call,
    split_arguments,
)
from watchkeeper.trajectories._classify import make_call
from watchkeeper.trajectories._fast import new_step, new_trajectory
from watchkeeper.trajectories._model import Step, ToolCall, Trajectory
from watchkeeper.trajectories._util import (
    MAX_ITEMS,
    as_dict,
    parse_ts,
    pick_id,
    scalar_str,
    small_metadata,
    text_of,
)


class OpenAIChatReader(Reader):
    """Reads Chat Completions message lists.

    Accepted documents: a list of messages, ``{"messages": [...]}`` (dataset rows, Invariant
    traces), a ``{"request": {...}, "response": {...}}`` log record, or a ``chat.completion``
    response; a JSON list of such conversations gives one trajectory each. Each assistant
    message is a step; ``tool_calls[].function.arguments`` may be JSON text (kept verbatim,
    even when invalid) or an object. ``tool`` messages are joined to their call by
    ``tool_call_id``; legacy ``function_call``/``function`` pairs are joined by order.
    """

    name = "openai-chat"

    def sniff(self, doc: Any) -> bool:
        """A conversation (or list of them) whose messages use OpenAI tool calling."""
        if isinstance(doc, list) and doc and isinstance(doc[0], dict) and "role" not in doc[0]:
            doc = doc[0]
        messages = extract_messages(doc)
        if messages is None:
            return False
        return flavour(messages) not in ("anthropic", "responses")

    def read(self, doc: Any, src: Source) -> Iterator[Trajectory | ReadIssue]:
        """One trajectory per conversation."""
        return each_document(doc, src, self.read_one, _is_conversation)

    def read_one(self, doc: Any, src: Source) -> Trajectory:
        """One conversation."""
        messages = extract_messages(doc)
        if messages is None:
            raise src.error("not a chat conversation (no messages list)", "messages")
        if len(messages) > MAX_ITEMS:
            messages = messages[:MAX_ITEMS]
        outputs, legacy = _results(messages)
        steps: list[Step] = []
        for position, message in enumerate(messages):
            if not isinstance(message, dict) or message.get("role") != "assistant":
                continue
            ts = _message_ts(message)
            calls: list[ToolCall] = []
            end_ts: float | None = None
            tool_calls = message.get("tool_calls")
            if isinstance(tool_calls, list):
                for entry in tool_calls[:MAX_ITEMS]:
                    parsed = parse_openai_tool_call(entry)
                    if parsed is None:
                        continue
                    name, args, raw, call_id = parsed
                    output, done = outputs.get(call_id, _NO_RESULT) if call_id else _NO_RESULT
                    calls.append(make_call(name, args, raw=raw, call_id=call_id,
                                           output=output, ts=ts))
                    if done is not None and (end_ts is None or done > end_ts):
                        end_ts = done
            function_call = message.get("function_call")
            if isinstance(function_call, dict):
                args, raw = split_arguments(function_call.get("arguments"))
                legacy_name = function_call.get("name")
                output, done = legacy.get(position, _NO_RESULT)
                calls.append(make_call(legacy_name if isinstance(legacy_name, str) else "",
                                       args, raw=raw,
                                       output=output, ts=ts))
                if done is not None:
                    end_ts = done
            steps.append(new_step(index=len(steps), tool_calls=tuple(calls), ts=ts,
                                  end_ts=end_ts))
        meta_doc = as_dict(doc)
        request = as_dict(meta_doc.get("request"))
        response = as_dict(meta_doc.get("response"))
        metadata = small_metadata(meta_doc, ("model",)) or small_metadata(request, ("model",))
        if not metadata:
            metadata = small_metadata(response, ("model",))
        default = str(src)
        ident = pick_id(meta_doc, "") or pick_id(response, default)
        if len(steps) == 1 and steps[0].ts is None:
            created = parse_ts(meta_doc.get("created", response.get("created")))
            if created is not None:
                steps[0] = new_step(index=0, tool_calls=steps[0].tool_calls, ts=created,
                                    end_ts=steps[0].end_ts)
        return new_trajectory(id=ident, source=default, format=self.name, steps=tuple(steps),
                              metadata=metadata)


_Result = tuple[str | None, float | None]
_NO_RESULT: _Result = (None, None)


def _results(messages: list[Any]) -> tuple[dict[str, _Result], dict[int, _Result]]:
    """Tool results by ``tool_call_id``, and legacy ``function`` results by the position of
    the assistant message whose ``function_call`` they answer."""
    outputs: dict[str, _Result] = {}
    legacy: dict[int, _Result] = {}
    pending: int | None = None
    for position, message in enumerate(messages):
        if not isinstance(message, dict):
            continue
        role = message.get("role")
        if role == "tool":
            call_id = message.get("tool_call_id")
            if not isinstance(call_id, str):
                call_id = scalar_str(call_id)
            if call_id:
                text = text_of(message.get("content"))
                previous = outputs.get(call_id)
                if previous is not None and previous[0] is not None and text is not None:
                    text = previous[0] + "\n" + text
                outputs[call_id] = (text, _message_ts(message))
        elif role == "assistant":
            pending = position if isinstance(message.get("function_call"), dict) else None
        elif role == "function" and pending is not None:
            legacy[pending] = (text_of(message.get("content")), _message_ts(message))
            pending = None
    return outputs, legacy


def _is_conversation(element: dict[str, Any]) -> bool:
    return "role" not in element and extract_messages(element) is not None


def _message_ts(message: dict[str, Any]) -> float | None:
    value = message.get("timestamp")
    if value is None:
        value = message.get("created_at")
        if value is None:
            value = message.get("created")
    return parse_ts(value) if value is not None else None
