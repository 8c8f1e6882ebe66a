"""Fast constructors build the same objects as the dataclass constructors."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from watchkeeper.trajectories import Step, ToolCall, ToolKind, Trajectory
from watchkeeper.trajectories._fast import (
    fast_constructor,
    new_call,
    new_step,
    new_trajectory,
    positional_maker,
)


def test_same_objects():
    kwargs = {"id": "a", "name": "bash", "kind": ToolKind.SHELL, "command": "ls",
              "arguments_text": "ls", "ts": 1.5}
    assert new_call(**kwargs) == ToolCall(**kwargs)
    assert type(new_call(**kwargs)) is ToolCall
    assert new_call() == ToolCall()
    assert new_step(index=2) == Step(index=2)
    one = new_trajectory(id="t", source="s", format="f")
    two = new_trajectory(id="t", source="s", format="f")
    assert one == Trajectory(id="t", source="s", format="f")
    assert one.metadata is not two.metadata  # default factory runs per object
    with pytest.raises(TypeError):
        new_step()  # index is required
    with pytest.raises(TypeError):
        new_call(bogus=1)


def test_frozen_after_fast_construction():
    call = new_call(id="x")
    with pytest.raises(AttributeError):
        call.id = "y"  # type: ignore[misc]


def test_falls_back_for_post_init_and_unslotted():
    @dataclass(frozen=True, slots=True)
    class Checked:
        value: int

        def __post_init__(self) -> None:
            if self.value < 0:
                raise ValueError("negative")

    @dataclass(frozen=True)
    class Plain:
        tags: list[str] = field(default_factory=list)

    assert fast_constructor(Checked) is Checked
    assert fast_constructor(Plain) is Plain
    assert positional_maker(Checked) is None and positional_maker(Plain) is None


def test_positional_maker_is_the_constructor_over_every_field():
    call = ToolCall(id="a", name="bash", kind=ToolKind.SHELL, command="ls", argv=("ls",), ts=2.0)
    make = positional_maker(ToolCall, "_make_call")
    assert make is not None and make.__name__ == "_make_call"
    values = tuple(getattr(call, f) for f in ToolCall.__dataclass_fields__)
    built = make(values)
    assert built == call and type(built) is ToolCall
    with pytest.raises(AttributeError):
        built.id = "b"  # type: ignore[misc]


def test_built_through_a_layout_twin_or_the_slot_setters():
    """A class of plain slots is filled through its layout twin; one with another base through
    the slot descriptors (its own and its base's); both build what the class does."""

    @dataclass(frozen=True, slots=True)
    class Base:
        a: int = 0

    @dataclass(frozen=True, slots=True)
    class Child(Base):
        b: str = ""

    @dataclass(frozen=True, slots=True)
    class Flat:
        a: int
        b: tuple[str, ...] = ()

    make_flat = fast_constructor(Flat)
    assert "_twin" in make_flat.__globals__
    built = make_flat(a=1, b=("x",))
    assert type(built) is Flat and built == Flat(a=1, b=("x",)) and hash(built) == hash(Flat(a=1, b=("x",)))
    with pytest.raises(AttributeError):
        built.a = 2  # type: ignore[misc]
    flat_values = positional_maker(Flat)
    assert flat_values is not None and flat_values((3, ())) == Flat(a=3)

    # Child's fields are split between its slots and Base's: the slot setters
    make_child = fast_constructor(Child)
    assert "_twin" not in make_child.__globals__ and "_set0" in make_child.__globals__
    child = make_child(a=1, b="x")
    assert type(child) is Child and child == Child(a=1, b="x")
    with pytest.raises(AttributeError):
        child.a = 2  # type: ignore[misc]

    class Mixin:
        __slots__ = ()

    @dataclass(frozen=True, slots=True)
    class Mixed(Mixin):
        a: int = 0

    make_mixed = fast_constructor(Mixed)  # a base other than object: the slot setters
    assert "_twin" not in make_mixed.__globals__ and "_set0" in make_mixed.__globals__
    assert type(make_mixed(a=4)) is Mixed and make_mixed(a=4) == Mixed(a=4)


def test_fields_named_like_the_generated_code_keep_the_class():
    @dataclass(frozen=True, slots=True)
    class Private:
        _cls: int = 0

    assert fast_constructor(Private) is Private
    assert positional_maker(Private) is None
