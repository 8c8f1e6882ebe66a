"""Format detection: sniff the shape of the first document or record."""

from __future__ import annotations

from typing import Any

from watchkeeper.errors import Location, UnknownFormatError
from watchkeeper.trajectories._base import Reader
from watchkeeper.trajectories.anthropic import AnthropicReader
from watchkeeper.trajectories.atif import AtifReader
from watchkeeper.trajectories.claude_code import ClaudeCodeReader
from watchkeeper.trajectories.commands_jsonl import CommandsJsonlReader
from watchkeeper.trajectories.inspect import InspectReader
from watchkeeper.trajectories.mini_swe_agent import MiniSweAgentReader
from watchkeeper.trajectories.openai_chat import OpenAIChatReader
from watchkeeper.trajectories.openai_responses import OpenAIResponsesReader
from watchkeeper.trajectories.openhands import OpenHandsReader
from watchkeeper.trajectories.swe_agent import SweAgentReader

#: Readers in sniffing order: the most specific shapes first, plain chat last.
READERS: tuple[Reader, ...] = (
    AtifReader(),
    MiniSweAgentReader(),
    SweAgentReader(),
    InspectReader(),
    OpenHandsReader(),
    CommandsJsonlReader(),
    ClaudeCodeReader(),
    OpenAIResponsesReader(),
    AnthropicReader(),
    OpenAIChatReader(),
)

#: The names accepted by ``read_trajectories(fmt=...)``.
FORMATS: tuple[str, ...] = tuple(reader.name for reader in READERS)

_BY_NAME = {reader.name: reader for reader in READERS}


def reader_for(name: str) -> Reader:
    """The reader of a format name; UnknownFormatError naming the supported formats if none."""
    reader = _BY_NAME.get(name.strip().lower().replace("_", "-"))
    if reader is None:
        raise UnknownFormatError(
            f"unknown trajectory format {name!r}; supported: {', '.join(FORMATS)}"
        )
    return reader


def detect_document(doc: Any) -> Reader | None:
    """The reader whose document shape ``doc`` has (a whole file, or a JSONL line)."""
    for reader in READERS:
        if reader.sniff(doc):
            return reader
    return None


def detect_record(record: Any) -> Reader | None:
    """The reader whose stream record shape ``record`` has (one JSONL line of a stream)."""
    for reader in READERS:
        if reader.sniff_record(record):
            return reader
    return None


def undetected(location: Location) -> UnknownFormatError:
    """The error for input whose format could not be recognised."""
    return UnknownFormatError(
        "cannot tell the trajectory format from the first record; pass a format "
        f"(one of: {', '.join(FORMATS)})",
        location,
    )
