"""Load Sigma rules from files, folders and the builtin pack, collecting every problem.

A rule that cannot be supported becomes a :class:`RuleIssue` (file:line and reason); the other
rules still load. Only a path that does not exist is an error (:class:`RuleError`).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from watchkeeper.alerts import Severity
from watchkeeper.errors import Location, RuleError
from watchkeeper.normalize import canonical_category
from watchkeeper.rules._compile import compile_detection
from watchkeeper.rules._model import LogSource, RuleIssue, RuleSet, SigmaRule, attack_ids
from watchkeeper.rules._yaml import MAX_FILE_BYTES, YamlDocument, load_documents

RULE_SUFFIXES = (".yml", ".yaml")
PRODUCTS = frozenset({"", "linux"})


_SCALARS = (str, int, float, bool)


def _text(value: Any) -> str:
    """A metadata value as text; lists are joined, nested structures are ignored."""
    if isinstance(value, list):
        return ", ".join(str(v) for v in value[:1000] if isinstance(v, _SCALARS))
    return str(value) if isinstance(value, _SCALARS) else ""


def _texts(value: Any) -> tuple[str, ...]:
    """A metadata list as a tuple of text; nested structures are ignored."""
    if isinstance(value, list):
        return tuple(str(v) for v in value[:1000] if isinstance(v, _SCALARS))
    return (str(value),) if isinstance(value, _SCALARS) else ()


def _line(node: Any, key: str, default: int) -> int:
    line_of = getattr(node, "line_of", None)
    return int(line_of(key)) if line_of is not None else default


class _Collector:
    def __init__(self) -> None:
        self.rules: list[SigmaRule] = []
        self.issues: list[RuleIssue] = []
        self.ids: dict[str, SigmaRule] = {}

    def document(self, doc: YamlDocument, path: str, stem: str, index: int, source: str) -> None:
        data, line = doc.data, doc.line
        if data is None:
            return
        fallback_id = stem if index == 0 else f"{stem}#{index + 1}"
        if not isinstance(data, dict):
            self.issues.append(RuleIssue(path, line, "", "", "document is not a mapping", "meta"))
            return
        rule_id = _text(data.get("id")) or fallback_id
        title = _text(data.get("title"))

        def issue(reason: str, at: int | None, kind: str) -> None:
            self.issues.append(RuleIssue(path, at, rule_id, title, reason, kind))

        if "action" in data:
            issue("rule collections (action: global/reset/repeat) are not supported",
                  _line(data, "action", line), "meta")
            return
        if "correlation" in data:
            issue("correlation rules are not supported", _line(data, "correlation", line),
                  "correlation")
            return
        if "filter" in data and "detection" not in data:
            issue("Sigma filter documents are not supported", _line(data, "filter", line), "meta")
            return
        if not title:
            issue("rule has no title", line, "meta")
            return
        for key in ("logsource", "detection"):
            if not isinstance(data.get(key), dict):
                issue(f"rule has no {key} mapping", _line(data, key, line), "meta")
                return
        try:
            level = Severity.parse(_text(data.get("level")) or "medium")
        except ValueError as exc:
            issue(str(exc), _line(data, "level", line), "meta")
            return
        ls = data["logsource"]
        logsource = LogSource(
            category=_text(ls.get("category")),
            product=_text(ls.get("product")),
            service=_text(ls.get("service")),
        )
        ls_line = _line(data, "logsource", line)
        if logsource.product.lower() not in PRODUCTS:
            issue(f"product {logsource.product} is not supported (only linux)",
                  _line(ls, "product", ls_line), "logsource")
            return
        if logsource.service:
            issue(f"service {logsource.service}: no events for this log source",
                  _line(ls, "service", ls_line), "logsource")
            return
        category = canonical_category(logsource.category)
        if not logsource.category:
            issue("logsource has no category (generic Linux log rule): no events for it",
                  ls_line, "logsource")
            return
        if category is None:
            issue(f"category {logsource.category}: no events for this log source",
                  _line(ls, "category", ls_line), "logsource")
            return
        detection, problems = compile_detection(
            data["detection"], category, _line(data, "detection", line)
        )
        for p in problems:
            issue(p.reason, p.line, p.kind)
        if detection is None:
            return
        if rule_id in self.ids:
            first = self.ids[rule_id]
            issue(f"duplicate rule id (first at {first.path}:{first.line})", line, "duplicate")
            return
        tags = _texts(data.get("tags"))
        rule = SigmaRule(
            id=rule_id,
            title=title,
            detection=detection,
            status=_text(data.get("status")),
            description=_text(data.get("description")).strip(),
            references=_texts(data.get("references")),
            author=_text(data.get("author")),
            date=_text(data.get("date")),
            modified=_text(data.get("modified")),
            level=level,
            tags=tags,
            attack=attack_ids(tags),
            falsepositives=_texts(data.get("falsepositives")),
            logsource=logsource,
            path=path,
            line=line,
            source=source,
        )
        self.ids[rule_id] = rule
        self.rules.append(rule)

    def text(self, text: str, path: str, source: str) -> None:
        stem = Path(path).stem
        index = 0
        for doc in load_documents(text):
            if isinstance(doc, YamlDocument):
                self.document(doc, path, stem, index, source)
                index += 1
            else:
                self.issues.append(RuleIssue(path, doc.line, "", "", doc.reason, "yaml"))

    def file(self, path: Path | Traversable, shown: str, source: str) -> None:
        try:
            with path.open("rb") as fh:
                data = fh.read(MAX_FILE_BYTES + 1)
        except OSError as exc:
            self.issues.append(RuleIssue(shown, None, "", "", f"cannot read: {exc.strerror}", "yaml"))
            return
        if len(data) > MAX_FILE_BYTES:
            self.issues.append(
                RuleIssue(shown, None, "", "", f"file larger than {MAX_FILE_BYTES} bytes", "yaml")
            )
            return
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            self.issues.append(RuleIssue(shown, None, "", "", f"not UTF-8 text: {exc.reason}", "yaml"))
            return
        self.text(text, shown, source)

    def result(self) -> RuleSet:
        return RuleSet(tuple(self.rules), tuple(self.issues))


def _rule_files(root: Path) -> Iterator[Path]:
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        found.extend(Path(dirpath) / f for f in filenames if f.lower().endswith(RULE_SUFFIXES))
    yield from sorted(found)


def _builtin_files(root: Traversable, prefix: str = "") -> Iterator[tuple[Traversable, str]]:
    children = sorted(root.iterdir(), key=lambda t: t.name)
    for child in children:
        if child.is_dir() and not child.name.startswith((".", "_")):
            yield from _builtin_files(child, f"{prefix}{child.name}/")
        elif child.is_file() and child.name.lower().endswith(RULE_SUFFIXES):
            yield child, f"{prefix}{child.name}"


BUILTIN_PREFIX = "builtin:"
"""How builtin rule paths are shown: ``builtin:<file>``."""


def load_rules(paths: Iterable[Path | str] = (), *, builtin: bool = True) -> RuleSet:
    """Load the builtin pack (unless ``builtin=False``) and every rule under ``paths``.

    Folders are searched recursively for ``*.yml``/``*.yaml``; a file named directly is loaded
    whatever its suffix. Multi-document files are supported. Returns the rules that compiled
    and an issue (file:line, reason) for each one that did not.

    Raises:
        RuleError: A path does not exist.
    """
    collector = _Collector()
    if builtin:
        root = resources.files("watchkeeper.rules").joinpath("builtin")
        if root.is_dir():
            for entry, name in _builtin_files(root):
                collector.file(entry, f"{BUILTIN_PREFIX}{name}", "builtin")
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            for file in _rule_files(path):
                collector.file(file, str(file), "user")
        elif path.is_file():
            collector.file(path, str(path), "user")
        else:
            raise RuleError("no such rule file or folder", Location(str(path)))
    return collector.result()


def parse_rules(text: str, *, path: str = "<string>", source: str = "user") -> RuleSet:
    """Load rules from YAML text (one or more documents), as :func:`load_rules` would."""
    collector = _Collector()
    collector.text(text, path, source)
    return collector.result()
