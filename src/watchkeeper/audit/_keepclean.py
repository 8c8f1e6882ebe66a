"""``--keep-clean``: copy the input without the flagged trajectories (safety-aligned data sets).

The copy is JSONL. A trajectory read from line L of a JSONL file owns lines L up to the next
trajectory's first line (formats where a trajectory spans several consecutive records); a trajectory
that is a whole JSON file becomes one compact JSON line. Malformed records are not copied: they
could not be checked. The output is written to a temporary file and renamed, so it is complete or
absent.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from watchkeeper.errors import InputError


def _split_source(source: str) -> tuple[str, int | None, int | None]:
    """(file, line, list index): ``file:12`` -> line 12; ``file[3]`` -> element 3 of a JSON list."""
    path, sep, tail = source.rpartition(":")
    if sep and tail.isdigit():
        return path, int(tail), None
    if source.endswith("]") and "[" in source:
        head, _, idx = source[:-1].rpartition("[")
        if idx.isdigit():
            return head, None, int(idx)
    return source, None, None


def write_clean_copy(
    inputs: Iterable[Path],
    output: Path,
    seen_sources: list[str],
    flagged_sources: set[str],
) -> tuple[int, int]:
    """Write unflagged trajectories to ``output``; returns (kept, dropped)."""
    del inputs  # the sources already name every file that held a trajectory
    files: dict[str, list[tuple[int | None, str]]] = {}
    elements: dict[str, list[tuple[int, str]]] = {}
    for src in seen_sources:
        path, line, index = _split_source(src)
        if index is not None:
            elements.setdefault(path, []).append((index, src))
            continue
        files.setdefault(path, []).append((line, src))

    parent = output.resolve().parent
    if not parent.is_dir():
        raise InputError(f"output folder does not exist: {parent}")
    fd, tmp = tempfile.mkstemp(prefix=f".{output.name}.", dir=parent)
    kept = dropped = 0
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            for path, entries in files.items():
                whole = [src for line, src in entries if line is None]
                if whole:
                    for src in whole:
                        if src in flagged_sources:
                            dropped += 1
                            continue
                        try:
                            data = json.loads(Path(path).read_text(encoding="utf-8"))
                        except (OSError, ValueError, UnicodeDecodeError):
                            dropped += 1  # not a plain JSON file (e.g. a zip): cannot be copied as a line
                            continue
                        out.write(json.dumps(data, ensure_ascii=False) + "\n")
                        kept += 1
                    continue
                starts = sorted((line, src) for line, src in entries if line is not None)
                k, d = _copy_lines(Path(path), starts, flagged_sources, out)
                kept += k
                dropped += d
            for path, items in elements.items():
                try:
                    data = json.loads(Path(path).read_text(encoding="utf-8"))
                except (OSError, ValueError, UnicodeDecodeError):
                    data = None
                for index, src in items:
                    if src in flagged_sources or not isinstance(data, list) or index >= len(data):
                        dropped += 1
                        continue
                    out.write(json.dumps(data[index], ensure_ascii=False) + "\n")
                    kept += 1
        os.replace(tmp, output)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return kept, dropped


def _copy_lines(
    path: Path, starts: list[tuple[int, str]], flagged: set[str], out: object
) -> tuple[int, int]:
    import io

    assert isinstance(out, io.TextIOBase)
    kept = dropped = 0
    idx = -1  # index into starts of the trajectory owning the current line
    keep_current = False
    owner_line = 0
    with path.open("rb") as f:
        for lineno, raw in enumerate(f, start=1):
            while idx + 1 < len(starts) and starts[idx + 1][0] <= lineno:
                idx += 1
                keep_current = starts[idx][1] not in flagged
                if keep_current:
                    kept += 1
                else:
                    dropped += 1
                owner_line = starts[idx][0]
            if idx < 0 or not keep_current:
                continue
            if lineno != owner_line and not raw.strip():
                continue
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                continue
            if lineno != owner_line:
                try:
                    json.loads(text)  # a malformed line between records is not copied
                except ValueError:
                    continue
            out.write(text if text.endswith("\n") else text + "\n")
    return kept, dropped
