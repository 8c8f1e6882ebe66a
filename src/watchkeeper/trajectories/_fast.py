"""Fast constructors for the frozen model classes.

A frozen dataclass ``__init__`` sets each field through ``object.__setattr__``, which costs
about 0.35 us per field: constructing the ToolCall, Step and Trajectory of one command line
costs more than parsing its JSON. For slotted classes without ``__post_init__`` this module
builds an equivalent constructor.

A class whose only base is ``object`` is filled through a *twin*: a plain class with the same
slots (so the same memory layout) where ``obj.name = value`` is the interpreter's fast slot
store; then ``obj.__class__ = cls``, which Python allows between classes of the same layout.
Measured on an 11-field Finding: 0.4-0.5 us, against 1.0-1.5 us through the slot descriptors'
``__set__`` (each a slot-wrapper call that packs its arguments into a tuple). Other classes
(the events, whose fields are split between ``BaseEvent`` and the subclass) are filled through
the slot descriptors: 3.7-4.5 us for a ProcessEvent, against 6.1-7.2 us through ``__init__``.
The objects are the same class with the same field values; a class that gains
``__post_init__`` or loses its slots falls back to the normal constructor.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, TypeVar

from watchkeeper.trajectories._model import Step, ToolCall, Trajectory

T = TypeVar("T")


def _slots(cls: type[Any]) -> set[str]:
    """Every slot of ``cls``, its bases' included."""
    names: set[str] = set()
    for klass in cls.__mro__:
        own = klass.__dict__.get("__slots__", ())
        names.update((own,) if isinstance(own, str) else own)
    return names


def _slotted_fields(cls: type[Any]) -> tuple[dataclasses.Field[Any], ...] | None:
    """The fields of a dataclass whose every field is an init slot (its own or a base's) and that
    has no ``__post_init__`` (those a generated constructor can set directly), else None."""
    if not dataclasses.is_dataclass(cls) or hasattr(cls, "__post_init__"):
        return None
    slots = _slots(cls)
    fields = dataclasses.fields(cls)
    if not all(f.name in slots and f.init for f in fields):
        return None
    if any(f.name.startswith("_") for f in fields):
        return None  # the generated code's own names (_new, _cls, _default0...) start with "_"
    return fields


def _twin(cls: type[Any]) -> type[Any] | None:
    """A plain class with the slots of ``cls`` (so the same layout, which Python checks when
    ``__class__`` is assigned: probed here) and no methods; or None. Only for classes whose sole
    base is ``object``: Python requires the same bases, and a twin of a frozen base would need a
    ``__setattr__`` of its own, which makes every store slower than the slot setters (measured)."""
    own = cls.__dict__.get("__slots__")
    if cls.__bases__ != (object,) or not isinstance(own, tuple):
        return None
    twin = type(f"_{cls.__name__}Builder", (), {"__slots__": own, "__module__": cls.__module__})
    probe: Any = object.__new__(twin)
    try:
        probe.__class__ = cls
    except TypeError:
        return None
    return twin


def _generate(cls: type[Any], name: str, params: str, values: list[tuple[str, str]], env: dict[str, Any]) -> Any:
    """``def name(params)`` returning a ``cls`` whose field ``f`` holds ``expr`` for each (f, expr)."""
    twin = _twin(cls)
    if twin is not None:
        env.update(_new=object.__new__, _twin=twin, _cls=cls)
        body = ["obj = _new(_twin)", *(f"obj.{f} = {expr}" for f, expr in values), "obj.__class__ = _cls"]
    else:
        env.update(_new=object.__new__, _cls=cls)
        for index, (f, _) in enumerate(values):
            env[f"_set{index}"] = getattr(cls, f).__set__
        body = ["obj = _new(_cls)", *(f"_set{i}(obj, {expr})" for i, (_, expr) in enumerate(values))]
    source = f"def {name}({params}):\n" + "".join(f"    {line}\n" for line in body) + "    return obj\n"
    exec(compile(source, f"<fast {cls.__name__}>", "exec"), env)  # noqa: S102 - fixed template
    return env[name]


def fast_constructor(cls: type[T]) -> Callable[..., T]:
    """A keyword-only constructor for dataclass ``cls`` equivalent to ``cls(**kwargs)``."""
    fields = _slotted_fields(cls)
    if fields is None:
        return cls
    params: list[str] = []
    values: list[tuple[str, str]] = []
    env: dict[str, Any] = {"_MISSING": dataclasses.MISSING}
    for index, field in enumerate(fields):
        if field.default is not dataclasses.MISSING:
            env[f"_default{index}"] = field.default
            params.append(f"{field.name}=_default{index}")
            values.append((field.name, field.name))
        elif field.default_factory is not dataclasses.MISSING:
            env[f"_factory{index}"] = field.default_factory
            params.append(f"{field.name}=_MISSING")
            values.append((field.name, f"_factory{index}() if {field.name} is _MISSING else {field.name}"))
        else:
            params.append(field.name)
            values.append((field.name, field.name))
    made: Callable[..., T] = _generate(cls, "make", "*, " + ", ".join(params), values, env)
    made.__doc__ = f"Build a {cls.__name__} (same as {cls.__name__}(**kwargs))."
    return made


def positional_maker(cls: type[T], name: str = "make") -> Callable[[tuple[Any, ...]], T] | None:
    """``name(values)``, equivalent to ``cls(*values)`` with a value for every field in order
    (what unpickling needs), or None for a class :func:`fast_constructor` cannot speed up."""
    fields = _slotted_fields(cls)
    if fields is None:
        return None
    values = [(field.name, f"v[{index}]") for index, field in enumerate(fields)]
    made: Callable[[tuple[Any, ...]], T] = _generate(cls, name, "v", values, {})
    return made


#: Same as ``ToolCall(**kwargs)``, faster.
new_call: Callable[..., ToolCall] = fast_constructor(ToolCall)
#: Same as ``Step(**kwargs)``, faster.
new_step: Callable[..., Step] = fast_constructor(Step)
#: Same as ``Trajectory(**kwargs)``, faster.
new_trajectory: Callable[..., Trajectory] = fast_constructor(Trajectory)
