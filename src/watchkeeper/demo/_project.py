"""The tiny Python project the demo's agent works on (written into the sandbox's work dir)."""

from __future__ import annotations

from pathlib import Path

PROJECT: dict[str, str] = {
    "calc.py": '''"""Small statistics helpers."""


def mean(values):
    """The arithmetic mean of a non-empty list of numbers."""
    return sum(values) / (len(values) - 1)


def spread(values):
    """Largest minus smallest value."""
    return max(values) - min(values)
''',
    "test_calc.py": '''import unittest

from calc import mean, spread


class MeanTest(unittest.TestCase):
    def test_mean(self):
        self.assertEqual(mean([1, 2, 3, 6]), 3)

    def test_single(self):
        self.assertEqual(mean([5]), 5)


class SpreadTest(unittest.TestCase):
    def test_spread(self):
        self.assertEqual(spread([4, 1, 9]), 8)


if __name__ == "__main__":
    unittest.main()
''',
    "README.md": "# calc\n\nRun the tests with `python3 -m unittest`.\n",
}
"""File name -> content. ``mean`` divides by ``len - 1``: one test fails, one errors."""


def write_project(workdir: str | Path) -> list[Path]:
    """Write the project into ``workdir``; returns the files written."""
    written = []
    for name, text in PROJECT.items():
        path = Path(workdir) / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
