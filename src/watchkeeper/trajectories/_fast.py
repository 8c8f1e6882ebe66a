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


def fast_constructor(cls: type[T]) -> Callable[..., T]:
    """A keyword-only constructor for dataclass ``cls`` equivalent to ``cls(**kwargs)``."""
    if not dataclasses.is_dataclass(cls) or hasattr(cls, "__post_init__"):
        return cls
    slots = getattr(cls, "__slots__", ())
    params: list[str] = []
    body: list[str] = ["    obj = _new(_cls)"]
    env: dict[str, Any] = {"_new": object.__new__, "_cls": cls}
    for index, field in enumerate(dataclasses.fields(cls)):
        if field.name not in slots or not field.init:
            return cls
        setter = f"_set{index}"
        env[setter] = getattr(cls, field.name).__set__
        if field.default is not dataclasses.MISSING:
            default = f"_default{index}"
            env[default] = field.default
            params.append(f"{field.name}={default}")
            body.append(f"    {setter}(obj, {field.name})")
        elif field.default_factory is not dataclasses.MISSING:
            factory = f"_factory{index}"
            env[factory] = field.default_factory
            params.append(f"{field.name}=_MISSING")
            env["_MISSING"] = dataclasses.MISSING
            body.append(
                f"    {setter}(obj, {factory}() if {field.name} is _MISSING else {field.name})"
            )
        else:
            params.append(field.name)
            body.append(f"    {setter}(obj, {field.name})")
    body.append("    return obj")
    source = f"def make(*, {', '.join(params)}):\n" + "\n".join(body) + "\n"
    exec(compile(source, f"<fast {cls.__name__}>", "exec"), env)  # noqa: S102 - fixed template
    made: Callable[..., T] = env["make"]
    made.__doc__ = f"Build a {cls.__name__} (same as {cls.__name__}(**kwargs))."
    return made


#: Same as ``ToolCall(**kwargs)``, faster.
new_call: Callable[..., ToolCall] = fast_constructor(ToolCall)
#: Same as ``Step(**kwargs)``, faster.
new_step: Callable[..., Step] = fast_constructor(Step)
#: Same as ``Trajectory(**kwargs)``, faster.
new_trajectory: Callable[..., Trajectory] = fast_constructor(Trajectory)
