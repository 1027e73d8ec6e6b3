"""Rules about the suite itself (docs/DEVELOPING.md, "Skips that must not skip").

- No test skips for a missing Python dependency: ``importorskip`` and ``except
  ImportError: skip`` turn a broken install into a green run, so neither may appear.
- ``skip_unless`` skips what lives outside the Python install, and fails instead when
  ANIMATEPAINTER_REQUIRE names it (as ``.ci/run`` does for Chromium and rosidl).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from conftest import REQUIRABLE, required_extras, skip_unless

TESTS = Path(__file__).resolve().parent


def _skips_on_import(tree: ast.AST) -> list[int]:
    """Line numbers of ``importorskip`` uses and of ``except ImportError`` handlers that skip."""
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr == "importorskip":
            lines.append(node.lineno)
        elif isinstance(node, ast.Name) and node.id == "importorskip":
            lines.append(node.lineno)
        elif isinstance(node, ast.ExceptHandler) and node.type is not None:
            names = {n.id if isinstance(n, ast.Name) else getattr(n, "attr", "") for n in ast.walk(node.type)}
            if names & {"ImportError", "ModuleNotFoundError"}:
                body = ast.Module(body=node.body, type_ignores=[])
                if any(isinstance(n, ast.Attribute) and n.attr == "skip" for n in ast.walk(body)):
                    lines.append(node.lineno)
    return lines


def test_the_scan_finds_both_kinds_of_import_skip():
    """The scan itself, on hand-written snippets: both forms are found, a plain import is not."""
    assert _skips_on_import(ast.parse("import pytest\nvpype = pytest.importorskip('vpype')\n")) == [2]
    assert _skips_on_import(ast.parse("try:\n    import ray\nexcept ImportError:\n    pytest.skip('no ray')\n")) == [3]
    assert _skips_on_import(ast.parse("try:\n    import ray\nexcept (OSError, ModuleNotFoundError):\n    pytest.skip('x')\n")) == [3]
    assert _skips_on_import(ast.parse("import ray\ntry:\n    f()\nexcept OSError:\n    pytest.skip('x')\n")) == []


def test_no_test_skips_for_a_missing_python_dependency():
    """Every declared dependency is imported plainly: a broken install fails, it does not skip."""
    found = {p.name: _skips_on_import(ast.parse(p.read_text(), filename=str(p))) for p in sorted(TESTS.glob("*.py"))}
    found.pop(Path(__file__).name)  # this file's snippets are strings, but be explicit
    assert not {k: v for k, v in found.items() if v}, found


def test_skip_unless_skips_and_fails_when_required(monkeypatch):
    """Missing and not required: a skip with the reason. Missing and required: a failure
    naming what is missing. Available: nothing happens. A name outside REQUIRABLE, or an
    unknown name in ANIMATEPAINTER_REQUIRE, is an error rather than a quiet no-op."""
    monkeypatch.delenv("ANIMATEPAINTER_REQUIRE", raising=False)
    with pytest.raises(pytest.skip.Exception, match="no browser here"):
        skip_unless("chromium", False, "no browser here")
    skip_unless("chromium", True, "unused")
    monkeypatch.setenv("ANIMATEPAINTER_REQUIRE", "rosidl, Chromium")
    assert required_extras() == {"rosidl", "chromium"}
    with pytest.raises(pytest.fail.Exception, match="chromium is required .* no browser here"):
        skip_unless("chromium", False, "no browser here")
    with pytest.raises(pytest.skip.Exception):
        skip_unless("cuda", False, "no GPU")  # not named, so it still skips
    with pytest.raises(ValueError, match="not one of"):
        skip_unless("ray", False, "x")
    monkeypatch.setenv("ANIMATEPAINTER_REQUIRE", "chromuim")
    with pytest.raises(pytest.UsageError, match="unknown chromuim"):
        required_extras()
    assert set(REQUIRABLE) == {"chromium", "rosidl", "cuda"}
