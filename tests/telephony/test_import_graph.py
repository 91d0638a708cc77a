"""app/telephony's modules import one another without a circle (issue 13: committer -> metrics ->
service was one; test_committer_batch.py checks metrics loads alone), read from the source."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "app" / "telephony"


def _imports() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in PACKAGE.glob("*.py"):
        tree = ast.parse(path.read_text())
        found = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        found |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        graph[path.stem] = {m.rsplit(".", 1)[1] for m in found if m.startswith("app.telephony.")}
    return graph


def test_no_module_of_the_telephony_layer_imports_itself_round_a_circle() -> None:
    graph = _imports()

    def reaches(start: str, target: str, seen: set[str]) -> bool:
        for nxt in graph.get(start, set()):
            if nxt == target or (nxt not in seen and reaches(nxt, target, seen | {nxt})):
                return True
        return False

    assert [m for m in graph if reaches(m, m, {m})] == []
