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
from array import array
from pathlib import Path

from watchkeeper._files import special_file
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


class SourceIndex:
    """Where each audited trajectory came from, kept compactly (an int per JSONL trajectory).

    Only trajectories read from JSONL lines are numerous; their start lines go into one
    ``array('q')`` per file, so indexing ten million trajectories costs about 80 MB, not gigabytes.
    """

    def __init__(self) -> None:
        self.lines: dict[str, array[int]] = {}
        self.whole: dict[str, list[str]] = {}
        self.elements: dict[str, list[tuple[int, str]]] = {}
        self.flagged: set[str] = set()

    def add(self, source: str, *, flagged: bool) -> None:
        path, line, index = _split_source(source)
        if line is not None:
            self.lines.setdefault(path, array("q")).append(line)
        elif index is not None:
            self.elements.setdefault(path, []).append((index, source))
        else:
            self.whole.setdefault(path, []).append(source)
        if flagged:
            self.flagged.add(source)


def write_clean_copy(index: SourceIndex, output: Path) -> tuple[int, int]:
    """Write the unflagged trajectories of ``index`` to ``output``; returns (kept, dropped)."""
    in_place = special_file(output)  # a device or pipe: written in place, never replaced
    parent = output.resolve().parent
    if not in_place and not parent.is_dir():
        raise InputError(f"output folder does not exist: {parent}")
    if in_place:
        fd, tmp = os.open(output, os.O_WRONLY), ""
    else:
        fd, tmp = tempfile.mkstemp(prefix=f".{output.name}.", dir=parent)
    flagged = index.flagged
    kept = dropped = 0
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            for path, sources in index.whole.items():
                for src in sources:
                    if src in flagged:
                        dropped += 1
                        continue
                    try:
                        data = json.loads(Path(path).read_text(encoding="utf-8"))
                    except (OSError, ValueError, UnicodeDecodeError):
                        dropped += 1  # not a plain JSON file (e.g. a zip): cannot be copied as a line
                        continue
                    out.write(json.dumps(data, ensure_ascii=False) + "\n")
                    kept += 1
            for path, starts in index.lines.items():
                k, d = _copy_lines(path, sorted(set(starts)), flagged, out)
                kept += k
                dropped += d
            for path, items in index.elements.items():
                try:
                    data = json.loads(Path(path).read_text(encoding="utf-8"))
                except (OSError, ValueError, UnicodeDecodeError):
                    data = None
                for i, src in items:
                    if src in flagged or not isinstance(data, list) or i >= len(data):
                        dropped += 1
                        continue
                    out.write(json.dumps(data[i], ensure_ascii=False) + "\n")
                    kept += 1
        if tmp:
            os.replace(tmp, output)
    except BaseException:
        try:
            if tmp:
                os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return kept, dropped


def _copy_lines(path: str, starts: list[int], flagged: set[str], out: object) -> tuple[int, int]:
    import io

    assert isinstance(out, io.TextIOBase)
    kept = dropped = 0
    idx = -1  # index into starts of the trajectory owning the current line
    keep_current = False
    owner_line = 0
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, start=1):
            while idx + 1 < len(starts) and starts[idx + 1] <= lineno:
                idx += 1
                owner_line = starts[idx]
                keep_current = f"{path}:{owner_line}" not in flagged
                if keep_current:
                    kept += 1
                else:
                    dropped += 1
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
