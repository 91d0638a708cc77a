"""docs/grafana-holdfast.json: valid JSON whose every query names only metrics that /metrics
exposes (app/telephony/metrics.py), and that shows every one of them."""

from __future__ import annotations

import json
import re
from pathlib import Path

from prometheus_client import generate_latest

from app.telephony.metrics import Metrics

DASHBOARD = Path(__file__).resolve().parents[2] / "docs" / "grafana-holdfast.json"
SUFFIXES = ("_total", "_bucket", "_count", "_sum", "")


def exposed() -> set[str]:
    """Every metric family name /metrics writes (HELP lines are written even for empty ones)."""
    text = generate_latest(Metrics().registry).decode()
    names = re.findall(r"^# HELP (\w+)", text, re.M)
    # *_created is prometheus_client's creation time of a series, not something to chart
    return {n.removesuffix("_total") for n in names if not n.endswith("_created")}


def test_the_dashboard_queries_only_exposed_metrics_and_shows_them_all() -> None:
    dash = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in dash["panels"] for t in p["targets"]]
    exprs.append(dash["templating"]["list"][0]["query"])
    used = set(re.findall(r"\bholdfast_\w+", " ".join(exprs)))
    families = exposed()
    assert {"holdfast_callers_waiting", "holdfast_agents", "holdfast_answered"} <= families

    def family(name: str) -> str | None:
        for suffix in SUFFIXES:
            base = name.removesuffix(suffix) if suffix else name
            if name.endswith(suffix) and base in families:
                return base
        return None

    assert all(family(n) for n in used), sorted(n for n in used if not family(n))
    assert {family(n) for n in used} == families  # every gauge and counter has a panel
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids))
