"""Small, defensive helpers shared by the readers: typed field access, text, timestamps, ids.

Every helper accepts any JSON value and never raises on a wrong type: a field with the wrong
type reads as absent. Readers are built from these so that hostile input cannot crash them.
"""

from __future__ import annotations

import json
import json.scanner
import math
from datetime import UTC, datetime
from typing import Any, cast

#: Longest text kept from one field (command, output, content). Longer text is cut.
MAX_TEXT = 8 * 1024 * 1024
#: Most items read from one list (messages, steps, events, content blocks).
MAX_ITEMS = 1_000_000


def as_dict(value: Any) -> dict[str, Any]:
    """``value`` if it is a dict, else an empty dict."""
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    """``value`` if it is a list, else an empty list."""
    return value if isinstance(value, list) else []


def as_str(value: Any) -> str | None:
    """``value`` if it is a string (cut to MAX_TEXT), else None."""
    if isinstance(value, str):
        return value if len(value) <= MAX_TEXT else value[:MAX_TEXT]
    return None


def scalar_str(value: Any) -> str | None:
    """A string, or an int/float shown as text (ids are often numbers); else None."""
    if isinstance(value, str):
        return value[:4096]
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return str(value) if not isinstance(value, float) or math.isfinite(value) else None
    return None


def dumps(value: Any) -> str:
    """JSON text of a parsed value; never raises (deep or odd values give a placeholder)."""
    if isinstance(value, str):
        return value if len(value) <= MAX_TEXT else value[:MAX_TEXT]
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (RecursionError, ValueError, TypeError):
        return "<arguments too deeply nested to show>"
    return text if len(text) <= MAX_TEXT else text[:MAX_TEXT]


def text_of(value: Any) -> str | None:
    """Readable text of a message or tool-result content.

    Strings are returned as they are. Lists of content blocks (``{"type": "text", "text": ...}``,
    plain strings, nested ``content``) are joined with newlines, one level deep. Other objects
    are shown as JSON. ``None`` stays ``None``.
    """
    if value is None:
        return None
    if isinstance(value, str):
        return as_str(value)
    if isinstance(value, list):
        parts: list[str] = []
        for block in value[:MAX_ITEMS]:
            if isinstance(block, str):
                parts.append(block)
            elif isinstance(block, dict):
                text = block.get("text")
                if not isinstance(text, str):
                    text = block.get("content") if isinstance(block.get("content"), str) else None
                if not isinstance(text, str):
                    text = block.get("output") if isinstance(block.get("output"), str) else None
                if isinstance(text, str):
                    parts.append(text)
        joined = "\n".join(parts)
        return joined if len(joined) <= MAX_TEXT else joined[:MAX_TEXT]
    if isinstance(value, dict):
        for key in ("text", "content", "output", "stdout"):
            text = value.get(key)
            if isinstance(text, str):
                return as_str(text)
    return dumps(value)


_SCAN: Any = json.scanner.make_scanner(cast(Any, json.JSONDecoder()))


def loads(text: str) -> Any:
    """``json.loads`` for one short document, through the C scanner without the wrappers.

    Anything unusual (leading whitespace, errors, trailing data) falls back to ``json.loads``,
    so values and exceptions are the same as ``json.loads``.
    """
    try:
        value, end = _SCAN(text, 0)
    except StopIteration:
        return json.loads(text)
    if end != len(text) and not text[end:].isspace():
        return json.loads(text)
    return value


def parse_json_text(text: str) -> tuple[Any, bool]:
    """Parse ``text`` as JSON: ``(value, True)``, or ``(None, False)`` when it is not valid JSON."""
    try:
        return loads(text), True
    except (ValueError, RecursionError):
        return None, False


def parse_ts(value: Any) -> float | None:
    """Epoch seconds (UTC) from an ISO 8601 string or an epoch number; None if unreadable.

    Numbers above 1e11 are taken as milliseconds, above 1e14 as microseconds and above 1e17 as
    nanoseconds. ISO strings without an offset are taken as UTC.
    """
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return _epoch(float(value))
    if isinstance(value, str):
        text = value.strip()
        if not text or len(text) > 64:
            return None
        if text[0].isdigit() and text.replace(".", "", 1).isdigit():
            try:
                return _epoch(float(text))
            except ValueError:
                return None
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            return None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        try:
            return parsed.timestamp()
        except (OverflowError, ValueError, OSError):
            return None
    return None


def _epoch(number: float) -> float | None:
    if not math.isfinite(number) or number < 0:
        return None
    if number > 1e17:
        number /= 1e9
    elif number > 1e14:
        number /= 1e6
    elif number > 1e11:
        number /= 1e3
    return number if number < 1e11 else None


_ID_KEYS = (
    "id",
    "trajectory_id",
    "session_id",
    "sessionId",
    "conversation_id",
    "instance_id",
    "sample_id",
    "episode_id",
    "run_id",
    "uuid",
)


def pick_id(doc: dict[str, Any], default: str, keys: tuple[str, ...] = _ID_KEYS) -> str:
    """The first id-like field of ``doc`` that holds a string or number, else ``default``."""
    for key in keys:
        found = scalar_str(doc.get(key))
        if found:
            return found
    return default


def small_metadata(doc: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    """The scalar values (str, int, float, bool) of ``keys`` in ``doc``, strings cut to 512."""
    out: dict[str, Any] = {}
    for key in keys:
        value = doc.get(key)
        if isinstance(value, str):
            out[key] = value[:512]
        elif isinstance(value, bool | int) or (isinstance(value, float) and math.isfinite(value)):
            out[key] = value
    return out
