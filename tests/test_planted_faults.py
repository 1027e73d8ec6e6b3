"""scripts/planted_faults.py's fault list stays true to the tree: every snippet is found
exactly once in its module, and every module has tests mapped."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_every_planted_fault_applies_to_the_current_tree():
    spec = importlib.util.spec_from_file_location("planted_faults", ROOT / "scripts" / "planted_faults.py")
    pf = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(pf)
    assert len(pf.FAULTS) >= 25
    names = [f[0] for f in pf.FAULTS]
    assert len(set(names)) == len(names)
    assert {"loop_no_replan", "replan_no_action_redo"} <= set(names)
    for name, file, snippet, repl, _ in pf.FAULTS:
        assert (ROOT / file).read_text().count(snippet) == 1, name
        assert repl != snippet, name
        assert pf.TESTS[file], name
