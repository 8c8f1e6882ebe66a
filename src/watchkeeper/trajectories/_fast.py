"""Fast constructors for the frozen model classes.

A frozen dataclass ``__init__`` sets each field through ``object.__setattr__``, which costs
about 0.35 us per field: constructing the ToolCall, Step and Trajectory of one command line
costs more than parsing its JSON. For slotted classes without ``__post_init__`` this module
builds an equivalent constructor that stores fields through the slot descriptors directly
(about twice as fast). The objects are the same class with the same field values; a class
that gains ``__post_init__`` or loses its slots falls back to the normal constructor.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, TypeVar

from watchkeeper.trajectories._model import Step, ToolCall, Trajectory

T = TypeVar("T")


def _slotted_fields(cls: type[Any]) -> tuple[dataclasses.Field[Any], ...] | None:
    """The fields of a dataclass whose every field is an init slot and that has no
    ``__post_init__`` (those a generated constructor can set directly), else None."""
    if not dataclasses.is_dataclass(cls) or hasattr(cls, "__post_init__"):
        return None
    slots = getattr(cls, "__slots__", ())
    fields = dataclasses.fields(cls)
    if not all(f.name in slots and f.init for f in fields):
        return None
    return fields


def _generate(cls: type[Any], name: str, params: str, body: list[str], env: dict[str, Any]) -> Any:
    env.update(_new=object.__new__, _cls=cls)
    source = f"def {name}({params}):\n    obj = _new(_cls)\n" + "".join(f"    {line}\n" for line in body)
    source += "    return obj\n"
    exec(compile(source, f"<fast {cls.__name__}>", "exec"), env)  # noqa: S102 - fixed template
    return env[name]


def fast_constructor(cls: type[T]) -> Callable[..., T]:
    """A keyword-only constructor for dataclass ``cls`` equivalent to ``cls(**kwargs)``."""
    fields = _slotted_fields(cls)
    if fields is None:
        return cls
    params: list[str] = []
    body: list[str] = []
    env: dict[str, Any] = {"_MISSING": dataclasses.MISSING}
    for index, field in enumerate(fields):
        setter = f"_set{index}"
        env[setter] = getattr(cls, field.name).__set__
        if field.default is not dataclasses.MISSING:
            env[f"_default{index}"] = field.default
            params.append(f"{field.name}=_default{index}")
            body.append(f"{setter}(obj, {field.name})")
        elif field.default_factory is not dataclasses.MISSING:
            env[f"_factory{index}"] = field.default_factory
            params.append(f"{field.name}=_MISSING")
            body.append(f"{setter}(obj, _factory{index}() if {field.name} is _MISSING else {field.name})")
        else:
            params.append(field.name)
            body.append(f"{setter}(obj, {field.name})")
    made: Callable[..., T] = _generate(cls, "make", "*, " + ", ".join(params), body, env)
    made.__doc__ = f"Build a {cls.__name__} (same as {cls.__name__}(**kwargs))."
    return made


def positional_maker(cls: type[T], name: str = "make") -> Callable[[tuple[Any, ...]], T] | None:
    """``name(values)``, equivalent to ``cls(*values)`` with a value for every field in order
    (what unpickling needs), or None for a class :func:`fast_constructor` cannot speed up."""
    fields = _slotted_fields(cls)
    if fields is None:
        return None
    env: dict[str, Any] = {}
    body: list[str] = []
    for index, field in enumerate(fields):
        env[f"_set{index}"] = getattr(cls, field.name).__set__
        body.append(f"_set{index}(obj, v[{index}])")
    made: Callable[[tuple[Any, ...]], T] = _generate(cls, name, "v", body, env)
    return made


#: Same as ``ToolCall(**kwargs)``, faster.
new_call: Callable[..., ToolCall] = fast_constructor(ToolCall)
#: Same as ``Step(**kwargs)``, faster.
new_step: Callable[..., Step] = fast_constructor(Step)
#: Same as ``Trajectory(**kwargs)``, faster.
new_trajectory: Callable[..., Trajectory] = fast_constructor(Trajectory)
