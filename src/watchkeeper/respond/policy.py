"""The response policy: which action an alert gets, loaded from a small YAML file.

Decision order for an alert: the entry under ``rules`` whose key is exactly the alert's rule id;
else the most specific glob that matches it (most literal characters, then file order); else the
action under ``defaults`` for the alert's severity. The shipped default is
``respond/default_policy.yml`` (see docs/policy.md).

Every mistake in a policy file is an error with its file, line and field: an unknown key, action,
severity or rule id, a glob that matches no known rule, a duplicate key, a wrong type.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from importlib import resources
from pathlib import Path

import yaml

from watchkeeper.alerts import Alert, Severity
from watchkeeper.errors import Location, PolicyError


class Action(StrEnum):
    """A response, ordered from weakest to strongest (see :attr:`strength`)."""

    ALERT = "alert"
    CUT_NETWORK = "cut_network"
    FREEZE = "freeze"
    KILL = "kill"
    END_EPISODE = "end_episode"

    @property
    def strength(self) -> int:
        """0 for alert up to 4 for end_episode."""
        return list(Action).index(self)


class FailMode(StrEnum):
    """What the watchdog does to a sandbox when its monitoring dies."""

    FREEZE = "freeze"
    KILL = "kill"


BUILTIN_DEFAULTS: Mapping[Severity, Action] = {
    Severity.CRITICAL: Action.KILL,
    Severity.HIGH: Action.KILL,
    Severity.MEDIUM: Action.ALERT,
    Severity.LOW: Action.ALERT,
    Severity.INFORMATIONAL: Action.ALERT,
}
"""Used for a severity the file's ``defaults`` leaves out."""

_KEYS = ("version", "defaults", "rules", "fail_mode", "heartbeat_timeout_ms", "dry_run")
_GLOB_CHARS = frozenset("*?[")


@dataclass(frozen=True, slots=True)
class RuleEntry:
    """One entry under ``rules``: a rule id or glob and its action, with its line."""

    pattern: str
    action: Action
    line: int | None = None

    @property
    def is_glob(self) -> bool:
        """True when the pattern has glob characters."""
        return any(c in _GLOB_CHARS for c in self.pattern)

    @property
    def specificity(self) -> int:
        """Literal characters in the pattern: a longer glob is more specific."""
        return sum(1 for c in self.pattern if c not in _GLOB_CHARS)


@dataclass(frozen=True, slots=True)
class Policy:
    """A loaded response policy.

    Attributes:
        defaults: Action per severity.
        rules: Entries by rule id or glob, in file order.
        fail_mode: What the watchdog does when monitoring dies.
        heartbeat_timeout_ms: Silence after which a sensor counts as dead.
        dry_run: Decide and record, but act on nothing.
        source: Where the policy came from (a path, or "<default>").
    """

    defaults: Mapping[Severity, Action] = field(default_factory=lambda: dict(BUILTIN_DEFAULTS))
    rules: tuple[RuleEntry, ...] = ()
    fail_mode: FailMode = FailMode.FREEZE
    heartbeat_timeout_ms: int = 2000
    dry_run: bool = False
    source: str = "<builtin>"

    # --- loading ------------------------------------------------------------------------

    @classmethod
    def load(cls, path: str | Path, known_rule_ids: Iterable[str] | None = None) -> Policy:
        """Load and check a policy file.

        Args:
            path: The YAML file.
            known_rule_ids: Rule and detector ids that exist; every id in ``rules`` must be one
                of them (and every glob must match one). None skips this check.

        Raises:
            PolicyError: with file:line and field (a :class:`PolicyErrors` lists every error).
        """
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise PolicyError(
                f"cannot read the policy: {exc.strerror}", Location(str(path))
            ) from exc
        return cls.loads(text, str(path), known_rule_ids)

    @classmethod
    def default(cls, known_rule_ids: Iterable[str] | None = None) -> Policy:
        """The shipped default policy (``respond/default_policy.yml``)."""
        text = resources.files("watchkeeper.respond").joinpath("default_policy.yml").read_text()
        return cls.loads(text, "<default>", known_rule_ids)

    @classmethod
    def loads(
        cls, text: str, source: str = "<string>", known_rule_ids: Iterable[str] | None = None
    ) -> Policy:
        """Parse policy YAML text; see :meth:`load`."""
        return _Parser(source, None if known_rule_ids is None else set(known_rule_ids)).parse(text)

    # --- deciding -----------------------------------------------------------------------

    def decide(self, alert: Alert) -> Action:
        """The action for ``alert``."""
        entry = self.entry_for(alert.rule_id)
        if entry is not None:
            return entry.action
        return self.defaults.get(alert.severity, BUILTIN_DEFAULTS[alert.severity])

    def entry_for(self, rule_id: str) -> RuleEntry | None:
        """The ``rules`` entry that decides for ``rule_id`` (None: the severity default)."""
        best: RuleEntry | None = None
        for entry in self.rules:
            if not entry.is_glob:
                if entry.pattern == rule_id:
                    return entry
                continue
            if fnmatch.fnmatchcase(rule_id, entry.pattern) and (
                best is None or entry.specificity > best.specificity
            ):
                best = entry
        return best

    def explain(self, alert: Alert) -> str:
        """Why :meth:`decide` chose what it chose, in words."""
        entry = self.entry_for(alert.rule_id)
        if entry is not None:
            where = f"{self.source}:{entry.line}" if entry.line else self.source
            return f"{entry.action} (rules[{entry.pattern!r}] at {where})"
        action = self.decide(alert)
        return f"{action} (defaults.{alert.severity.label} in {self.source})"

    def actions(self) -> set[Action]:
        """Every action this policy can return (and the fail mode's)."""
        out = set(self.defaults.values()) | {e.action for e in self.rules}
        out.add(Action(self.fail_mode.value))
        return out


class PolicyErrors(PolicyError):
    """A policy with one or more errors: the first is the message, ``errors`` has them all."""

    def __init__(self, errors: list[PolicyError]) -> None:
        first = errors[0]
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        super().__init__(first.message + more, first.location)
        self.errors = list(errors)


class _Parser:
    """Walks the YAML node tree so every error gets its line."""

    def __init__(self, source: str, known: set[str] | None) -> None:
        self.source = source
        self.known = known
        self.errors: list[PolicyError] = []

    def error(self, message: str, node: yaml.Node | None, fieldname: str | None) -> None:
        line = node.start_mark.line + 1 if node is not None else None
        self.errors.append(PolicyError(message, Location(self.source, line, fieldname)))

    def parse(self, text: str) -> Policy:
        try:
            root = yaml.compose(text, Loader=yaml.SafeLoader)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line = mark.line + 1 if mark is not None else None
            raise PolicyError(
                f"invalid YAML: {exc.problem or exc.context}", Location(self.source, line)
            ) from exc
        except yaml.YAMLError as exc:
            raise PolicyError(f"invalid YAML: {exc}", Location(self.source)) from exc
        if not isinstance(root, yaml.MappingNode):
            raise PolicyError(
                "a policy is a mapping with a 'version' key", Location(self.source, 1)
            )
        policy = self._top(root)
        if self.errors:
            raise PolicyErrors(self.errors)
        assert policy is not None
        return policy

    def _pairs(self, node: yaml.MappingNode, where: str) -> list[tuple[yaml.Node, yaml.Node, str]]:
        out: list[tuple[yaml.Node, yaml.Node, str]] = []
        seen: set[str] = set()
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                self.error("keys must be plain text", key_node, where or None)
                continue
            key = str(key_node.value)
            name = f"{where}.{key}" if where else key
            if key in seen:
                self.error(f"duplicate key {key!r}", key_node, name)
                continue
            seen.add(key)
            out.append((key_node, value_node, key))
        return out

    def _scalar(self, node: yaml.Node, fieldname: str) -> str | None:
        if not isinstance(node, yaml.ScalarNode):
            self.error("expected a single value", node, fieldname)
            return None
        return str(node.value)

    def _action(self, node: yaml.Node, fieldname: str) -> Action | None:
        value = self._scalar(node, fieldname)
        if value is None:
            return None
        try:
            return Action(value)
        except ValueError:
            names = ", ".join(a.value for a in Action)
            self.error(f"unknown action {value!r} (expected one of: {names})", node, fieldname)
            return None

    def _top(self, root: yaml.MappingNode) -> Policy | None:
        values: dict[str, yaml.Node] = {}
        for key_node, value_node, key in self._pairs(root, ""):
            if key not in _KEYS:
                self.error(f"unknown key {key!r} (expected: {', '.join(_KEYS)})", key_node, key)
                continue
            values[key] = value_node
        version = values.get("version")
        if version is None:
            self.error("missing 'version: 1'", root, "version")
        elif self._scalar(version, "version") not in (None, "1"):
            self.error("unsupported version (expected 1)", version, "version")
        defaults = self._defaults(values.get("defaults"))
        rules = self._rules(values.get("rules"))
        fail_mode = FailMode.FREEZE
        if (node := values.get("fail_mode")) is not None:
            value = self._scalar(node, "fail_mode")
            try:
                fail_mode = FailMode(value or "")
            except ValueError:
                if value is not None:
                    self.error(
                        f"unknown fail_mode {value!r} (expected freeze or kill)", node, "fail_mode"
                    )
        timeout = 2000
        if (node := values.get("heartbeat_timeout_ms")) is not None:
            value = self._scalar(node, "heartbeat_timeout_ms")
            if value is not None:
                if not value.isdigit() or not 50 <= int(value) <= 600_000:
                    self.error(
                        f"heartbeat_timeout_ms must be a whole number from 50 to 600000, not {value!r}",
                        node,
                        "heartbeat_timeout_ms",
                    )
                else:
                    timeout = int(value)
        dry_run = False
        if (node := values.get("dry_run")) is not None:
            value = self._scalar(node, "dry_run")
            if value is not None:
                if value.lower() not in ("true", "false"):
                    self.error(f"dry_run must be true or false, not {value!r}", node, "dry_run")
                dry_run = value.lower() == "true"
        if self.errors:
            return None
        return Policy(defaults, rules, fail_mode, timeout, dry_run, self.source)

    def _defaults(self, node: yaml.Node | None) -> dict[Severity, Action]:
        out = dict(BUILTIN_DEFAULTS)
        if node is None:
            return out
        if not isinstance(node, yaml.MappingNode):
            self.error("'defaults' maps severities to actions", node, "defaults")
            return out
        for key_node, value_node, key in self._pairs(node, "defaults"):
            try:
                severity = Severity.parse(key)
            except ValueError as exc:
                self.error(str(exc), key_node, f"defaults.{key}")
                continue
            action = self._action(value_node, f"defaults.{key}")
            if action is not None:
                out[severity] = action
        return out

    def _rules(self, node: yaml.Node | None) -> tuple[RuleEntry, ...]:
        if node is None or (isinstance(node, yaml.ScalarNode) and node.value in ("", "null", "~")):
            return ()
        if not isinstance(node, yaml.MappingNode):
            self.error("'rules' maps rule ids (or globs) to actions", node, "rules")
            return ()
        out: list[RuleEntry] = []
        for key_node, value_node, key in self._pairs(node, "rules"):
            fieldname = f"rules.{key}"
            action = self._action(value_node, fieldname)
            entry = RuleEntry(key, action or Action.ALERT, key_node.start_mark.line + 1)
            if self.known is not None:
                if entry.is_glob:
                    if not any(fnmatch.fnmatchcase(k, key) for k in self.known):
                        self.error(
                            f"glob {key!r} matches no known rule or detector", key_node, fieldname
                        )
                elif key not in self.known:
                    self.error(f"unknown rule id {key!r}", key_node, fieldname)
            if action is not None:
                out.append(entry)
        return tuple(out)
