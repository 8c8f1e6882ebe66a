"""Inspect AI eval logs: ``.eval`` zip archives and ``.json`` logs, one trajectory per sample."""

from __future__ import annotations

import json
import zipfile
import zlib
from collections.abc import Iterator
from typing import Any

from watchkeeper.errors import InputError
from watchkeeper.trajectories._base import Reader, ReadIssue, Source, StepsBuilder
from watchkeeper.trajectories._chat import split_arguments
from watchkeeper.trajectories._model import Trajectory
from watchkeeper.trajectories._util import (
    MAX_ITEMS,
    as_dict,
    as_list,
    as_str,
    parse_ts,
    scalar_str,
    small_metadata,
    text_of,
)

ATTACHMENT = "attachment://"
_HEADERS = ("header.json", "_journal/start.json", "start.json")
_MAX_HEADER = 64 * 1024 * 1024


def _is_sample(doc: Any) -> bool:
    return (
        isinstance(doc, dict)
        and isinstance(doc.get("messages"), list)
        and "epoch" in doc
        and "id" in doc
    )


def _is_log(doc: Any) -> bool:
    return isinstance(doc, dict) and isinstance(doc.get("eval"), dict) and (
        "samples" in doc or "version" in doc or "status" in doc
    )


def eval_metadata(header: dict[str, Any]) -> dict[str, Any]:
    """Small facts about the eval (task, model, run id) from a log header."""
    spec = as_dict(header.get("eval"))
    metadata = small_metadata(spec, ("task", "task_id", "model", "run_id", "created"))
    return {f"eval_{k}" if k == "created" else k: v for k, v in metadata.items()}


class _Attachments:
    """Resolves ``attachment://<hash>`` references against a sample's ``attachments``."""

    __slots__ = ("table",)

    def __init__(self, table: Any) -> None:
        self.table = as_dict(table)

    def text(self, value: Any) -> Any:
        if self.table and isinstance(value, str) and value.startswith(ATTACHMENT):
            found = self.table.get(value[len(ATTACHMENT):])
            return found if isinstance(found, str) else value
        return value

    def args(self, value: Any) -> Any:
        if self.table and isinstance(value, dict):
            return {k: self.text(v) for k, v in value.items()}
        return self.text(value)

    def content(self, value: Any) -> str | None:
        if isinstance(value, list) and self.table:
            value = [
                {**b, "text": self.text(b.get("text"))} if isinstance(b, dict) else self.text(b)
                for b in value[:MAX_ITEMS]
            ]
        return text_of(self.text(value))


class InspectReader(Reader):
    """Reads Inspect AI eval logs.

    ``.eval`` files are zip archives: ``header.json`` (or ``_journal/start.json``) gives the
    task and model; each ``samples/<id>_epoch_<n>.json`` member is read on its own (bounded
    memory; a re-written member counts once, the last copy wins). ``.json`` logs hold the
    samples under ``samples``; a lone sample object is read too. Each sample is one
    trajectory with id ``<id>_epoch_<epoch>``. Assistant messages are steps; their
    ``tool_calls[]{id, function, arguments}`` are the calls (``bash``: ``cmd``, ``python``:
    ``code``, ``text_editor``: ``command``/``path``/...), ``tool`` messages the outputs
    (``tool_call_id``). ``tool`` events (``event: "tool"``) give ToolCall.ts (``timestamp``)
    and the step end (``completed``). ``attachment://`` references are resolved.
    """

    name = "inspect"

    def sniff(self, doc: Any) -> bool:
        """An eval log, a sample, or a list of samples."""
        if isinstance(doc, list) and doc:
            return _is_sample(doc[0])
        return _is_log(doc) or _is_sample(doc)

    def read(self, doc: Any, src: Source) -> Iterator[Trajectory | ReadIssue]:
        """One trajectory per sample."""
        if _is_log(doc):
            metadata = eval_metadata(doc)
            samples = doc.get("samples")
            for index, sample in enumerate(as_list(samples)[:MAX_ITEMS]):
                where = src.at(index)
                try:
                    yield self.read_sample(sample, where, metadata)
                except InputError as exc:
                    yield ReadIssue(exc.location or where.location(), exc.message)
            return
        if isinstance(doc, list):
            for index, sample in enumerate(doc[:MAX_ITEMS]):
                where = src.at(index)
                try:
                    yield self.read_sample(sample, where, {})
                except InputError as exc:
                    yield ReadIssue(exc.location or where.location(), exc.message)
            return
        yield self.read_sample(doc, src, {})

    def read_zip(self, path: str, max_member: int) -> Iterator[Trajectory | ReadIssue]:
        """The samples of an ``.eval`` archive, one member at a time."""
        src = Source(path)
        try:
            archive = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError, ValueError) as exc:
            raise src.error(f"not a readable .eval (zip) archive: {exc}") from None
        with archive:
            latest: dict[str, zipfile.ZipInfo] = {}
            for info in archive.infolist():
                latest[info.filename] = info
            metadata: dict[str, Any] = {}
            for name in _HEADERS:
                if name in latest:
                    try:
                        header = _load_member(archive, latest[name],
                                              min(max_member, _MAX_HEADER))
                    except InputError:
                        continue  # the samples are still worth reading
                    if isinstance(header, dict):
                        metadata = eval_metadata(header)
                        break
            for name, info in latest.items():
                if not (name.startswith("samples/") and name.endswith(".json")):
                    continue
                where = Source(path, member=name)
                try:
                    sample = _load_member(archive, info, max_member)
                    yield self.read_sample(sample, where, metadata)
                except InputError as exc:
                    yield ReadIssue(exc.location or where.location(), exc.message)

    def read_sample(self, sample: Any, src: Source, metadata: dict[str, Any]) -> Trajectory:
        """One sample."""
        if not isinstance(sample, dict) or not isinstance(sample.get("messages"), list):
            raise src.error("Inspect sample without a messages list", "messages")
        attachments = _Attachments(sample.get("attachments"))
        timing: dict[str, tuple[float | None, float | None, Any]] = {}
        for event in as_list(sample.get("events"))[:MAX_ITEMS]:
            if isinstance(event, dict) and event.get("event") == "tool":
                call_id = scalar_str(event.get("id"))
                if call_id:
                    timing[call_id] = (parse_ts(event.get("timestamp")),
                                       parse_ts(event.get("completed")), event)
        builder = StepsBuilder()
        for message in sample["messages"][:MAX_ITEMS]:
            if not isinstance(message, dict):
                continue
            role = message.get("role")
            if role == "assistant":
                builder.step()
                for call in as_list(message.get("tool_calls"))[:MAX_ITEMS]:
                    self._add_call(builder, call, attachments, timing)
            elif role == "tool":
                call_id = scalar_str(message.get("tool_call_id"))
                if not call_id:
                    continue
                output = attachments.content(message.get("content"))
                error = as_dict(message.get("error"))
                if not output and as_str(error.get("message")):
                    output = as_str(error.get("message"))
                end = timing.get(call_id, (None, None, None))[1]
                builder.set_output(call_id, output, end)
        if not len(builder):
            for call_id, (start, end, event) in timing.items():
                builder.step(start)
                name = as_str(event.get("function")) or ""
                args, raw = split_arguments(attachments.args(event.get("arguments")))
                builder.add(name, args, raw=raw, call_id=call_id, ts=start,
                            output=attachments.content(event.get("result")))
                builder.set_step_time(end_ts=end)
        sample_id = scalar_str(sample.get("id")) or str(src)
        epoch = scalar_str(sample.get("epoch"))
        ident = f"{sample_id}_epoch_{epoch}" if epoch is not None else sample_id
        meta = dict(metadata)
        for key, value in small_metadata(as_dict(sample.get("output")), ("model",)).items():
            meta.setdefault(key, value)
        return Trajectory(id=ident, source=str(src), format=self.name, steps=builder.build(),
                          metadata=meta)

    @staticmethod
    def _add_call(
        builder: StepsBuilder,
        call: Any,
        attachments: _Attachments,
        timing: dict[str, tuple[float | None, float | None, Any]],
    ) -> None:
        if not isinstance(call, dict):
            return
        function = call.get("function")
        if isinstance(function, dict):  # OpenAI-style, seen in converted logs
            name = as_str(function.get("name")) or ""
            arguments = function.get("arguments")
        else:
            name = as_str(function) or ""
            arguments = call.get("arguments")
        call_id = scalar_str(call.get("id")) or ""
        start, end, _event = timing.get(call_id, (None, None, None)) if call_id else (None, None, None)
        args, raw = split_arguments(attachments.args(arguments))
        builder.add(name, args, raw=raw, call_id=call_id, ts=start)
        if end is not None:
            builder.set_step_time(end_ts=end)


def _load_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int) -> Any:
    where = Source(archive.filename or "", member=info.filename)
    if info.file_size > limit:
        raise where.error(f"archive member is {info.file_size} bytes, over the {limit}-byte limit")
    try:
        with archive.open(info) as handle:
            data = handle.read(limit + 1)
    except (zipfile.BadZipFile, zlib.error, OSError, NotImplementedError, RuntimeError,
            EOFError, ValueError) as exc:
        raise where.error(f"cannot read archive member: {exc}") from None
    if len(data) > limit:
        raise where.error(f"archive member is over the {limit}-byte limit")
    try:
        return json.loads(data)
    except RecursionError:
        raise where.error("JSON nested too deeply") from None
    except ValueError as exc:
        raise where.error(f"invalid JSON: {exc}") from None
