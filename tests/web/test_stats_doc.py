"""docs/statistics.md's scope of campaign figures against the routes: a supervisor or viewer gets
the campaigns of their `users.*.campaigns` filter (statistics by campaign and the figures route
alike, as tests/web/test_campaign_scope_api.py shows); the doc said they were for admins only."""

from __future__ import annotations

import re
from pathlib import Path

from app.web.routes import ROUTES

DOC = Path(__file__).resolve().parents[2] / "docs" / "statistics.md"


def test_the_doc_gives_campaign_figures_to_the_users_of_the_campaign() -> None:
    access = {(route.method, route.path): route.access for route in ROUTES}
    assert access[("GET", "/api/campaigns/{campaign}/figures")] == "read"  # not "admin"
    match = re.search(r"^- Scope: (.*?)(?=^\S|^- )", DOC.read_text(), re.S | re.M)
    assert match is not None
    scope = " ".join(match.group(1).split())
    assert "by campaign, only the campaigns of their `users.*.campaigns` filter" in scope, scope
    assert "for admins" not in scope, scope
