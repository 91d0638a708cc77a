"""app/web/access.py without I/O: scopes per role and filter, masking, and the property that a
filtered view never contains anything of a resource the user may not see."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from app.web.access import (
    Principal,
    Role,
    campaign_of_event,
    campaign_of_request,
    changelog_entry_visible,
    filter_changelog,
    filter_live,
    is_dialler_request,
    mask_number,
    scope_for,
)

QUEUES = ["q-alpha", "q-bravo", "q-charlie", "q-delta"]
AGENTS = ["ag-1", "ag-2", "ag-3", "ag-4", "ag-5"]
GROUPS = {"grp-x": ["ag-1", "ag-2"], "grp-y": ["ag-3"], "grp-z": ["ag-4", "ag-5"]}
CAMPAIGNS = ["cmp-north", "cmp-south", "cmp-east"]


def principal(
    role: Role,
    queues: set[str],
    groups: set[str] = frozenset(),  # type: ignore[assignment]
    campaigns: set[str] = frozenset(),  # type: ignore[assignment]
) -> Principal:
    return Principal("u", role, frozenset(queues), frozenset(groups), "session", "sid", frozenset(campaigns))


def test_admin_sees_everything_whatever_the_filter() -> None:
    skills = {"ag-1": ["q-alpha"], "ag-2": []}
    scope = scope_for(principal(Role.ADMIN, set()), QUEUES, skills, GROUPS)
    assert scope.queues == set(QUEUES) and scope.agents == {"ag-1", "ag-2"} and scope.can_act


def test_a_supervisor_sees_their_queues_and_the_agents_serving_them() -> None:
    skills = {"ag-1": ["q-alpha"], "ag-2": ["q-bravo"], "ag-3": ["q-alpha", "q-bravo"]}
    scope = scope_for(principal(Role.SUPERVISOR, {"q-alpha"}), QUEUES, skills, GROUPS)
    assert scope.queues == {"q-alpha"} and scope.agents == {"ag-1", "ag-3"}
    assert scope.may_act_on_queue("q-alpha") and not scope.may_act_on_queue("q-bravo")
    assert scope.may_act_on_agent("ag-1") and not scope.may_act_on_agent("ag-2")


def test_agent_groups_replace_the_skill_rule() -> None:
    skills = {"ag-1": ["q-alpha"], "ag-2": ["q-alpha"], "ag-3": ["q-bravo"]}
    scope = scope_for(principal(Role.SUPERVISOR, {"q-alpha"}, {"grp-y"}), QUEUES, skills, GROUPS)
    assert scope.agents == {"ag-3"}


def test_star_is_every_queue_and_unknown_names_are_ignored() -> None:
    scope = scope_for(principal(Role.VIEWER, {"*", "gone"}), QUEUES, {}, GROUPS)
    assert scope.queues == set(QUEUES) and not scope.can_act
    scope = scope_for(principal(Role.VIEWER, {"gone"}), QUEUES, {}, GROUPS)
    assert scope.queues == frozenset()


def test_masking_keeps_the_last_three_digits_and_the_layout() -> None:
    assert mask_number("+4520123456") == "+•••••••456"
    assert mask_number("12") == "12"
    scope = scope_for(principal(Role.VIEWER, {"q-alpha"}), QUEUES, {}, GROUPS, masked_roles=["viewer"])
    assert scope.number("+4520123456") == "+•••••••456" and scope.number(None) is None
    scope = scope_for(principal(Role.SUPERVISOR, {"q-alpha"}), QUEUES, {}, GROUPS, masked_roles=["viewer"])
    assert scope.number("+4520123456") == "+4520123456"


def test_change_log_entries_need_every_named_resource_visible() -> None:
    skills = {"ag-1": ["q-alpha"]}
    scope = scope_for(principal(Role.SUPERVISOR, {"q-alpha"}), QUEUES, skills, GROUPS)
    assert changelog_entry_visible(scope, {"queue": "q-alpha"})
    assert not changelog_entry_visible(scope, {"queue": "q-alpha", "to_queue": "q-bravo"})  # a move names both
    assert changelog_entry_visible(scope, {"agent_id": "ag-1"})
    assert not changelog_entry_visible(scope, {"agent_id": "ag-2"})
    assert not changelog_entry_visible(scope, {})  # a settings reload: admins only


def test_a_stored_line_is_placed_in_its_campaign_by_its_field_or_its_contacts_id() -> None:
    assert campaign_of_request("dial-cmp-north-7-12") == "cmp-north"  # a campaign id may hold "-"
    assert campaign_of_request("dial-x-7") is None and campaign_of_request("1733.12") is None
    assert campaign_of_request(None) is None
    assert campaign_of_event("dial-cmp-north-7-12", {}) == "cmp-north"
    assert campaign_of_event(None, {"campaign": "cmp-south"}) == "cmp-south"
    assert campaign_of_event("web-1", {}) is None
    assert is_dialler_request("dial-x-7") and not is_dialler_request("web-1")


def test_campaigns_are_filtered_on_their_own_and_contacts_go_with_their_campaign() -> None:
    scope = scope_for(
        principal(Role.SUPERVISOR, {"q-alpha"}, campaigns={"cmp-north"}), QUEUES, {}, GROUPS, campaign_names=CAMPAIGNS
    )
    assert scope.campaigns == {"cmp-north"}
    assert scope.may_act_on_campaign("cmp-north") and not scope.may_act_on_campaign("cmp-south")
    # a contact dialled for cmp-south with agents of q-alpha is not seen through the queue
    assert scope.sees_request("q-alpha", None) and not scope.sees_request("q-alpha", "cmp-south")
    assert scope.sees_request("q-bravo", "cmp-north")
    assert changelog_entry_visible(scope, {"campaign": "cmp-north"})
    assert not changelog_entry_visible(scope, {"campaign": "cmp-south"})
    star = scope_for(principal(Role.VIEWER, set(), campaigns={"*"}), QUEUES, {}, GROUPS, campaign_names=CAMPAIGNS)
    assert star.campaigns == set(CAMPAIGNS) and not star.may_act_on_campaign("cmp-north")
    none = scope_for(principal(Role.SUPERVISOR, {"*"}), QUEUES, {}, GROUPS, campaign_names=CAMPAIGNS)
    assert none.campaigns == frozenset()  # no campaign filter: no campaign
    admin = scope_for(principal(Role.ADMIN, set()), QUEUES, {}, GROUPS, campaign_names=CAMPAIGNS)
    assert admin.campaigns == set(CAMPAIGNS)


# ---- the property ---------------------------------------------------------------------------------

queue_names = st.sampled_from(QUEUES)


@st.composite
def live_rows(draw: st.DrawFn) -> dict[str, Any]:
    requests = []
    for i in range(draw(st.integers(0, 12))):
        kind = draw(st.sampled_from(["inbound", "callback", "contact"]))
        requests.append(
            {
                "id": f"req-{i}",
                "queue": draw(queue_names),
                "kind": kind,
                "state": "waiting",
                "number": f"+4599{i:02d}{draw(st.integers(1000, 9999))}",  # unique per request
                "agent_id": draw(st.none() | st.sampled_from(AGENTS)),
                "campaign": draw(st.sampled_from(CAMPAIGNS)) if kind == "contact" else None,
            }
        )
    agents = []
    for agent in AGENTS:
        current = draw(st.none() | st.sampled_from(requests)) if requests else None
        skills = draw(st.lists(queue_names, unique=True, max_size=3))
        agents.append(
            {
                "id": agent,
                "state": "busy" if current else "ready",
                "request_id": current["id"] if current else None,
                "request_queue": current["queue"] if current else None,
                "request_campaign": current["campaign"] if current else None,
                "queues": skills,
                "groups": [g for g, members in GROUPS.items() if agent in members],
                "handled_by_queue": {q: draw(st.integers(0, 5)) for q in skills},
                "handled_by_campaign": {c: draw(st.integers(0, 5)) for c in CAMPAIGNS},
            }
        )
    queues = [{"name": q, "label": q.upper(), "waiting": draw(st.integers(0, 9))} for q in QUEUES]
    campaigns = [{"name": c, "label": c.upper(), "queue": draw(queue_names), "left": 3} for c in CAMPAIGNS]
    return {"requests": requests, "agents": agents, "queues": queues, "campaigns": campaigns}


@settings(max_examples=300, deadline=None)
@given(
    live=live_rows(),
    role=st.sampled_from(list(Role)),
    wanted=st.sets(st.sampled_from([*QUEUES, "*"]), max_size=3),
    groups=st.sets(st.sampled_from(sorted(GROUPS)), max_size=2),
    campaigns=st.sets(st.sampled_from([*CAMPAIGNS, "*"]), max_size=2),
    masked=st.booleans(),
)
def test_a_filtered_view_never_contains_another_resource(
    live: dict[str, Any], role: Role, wanted: set[str], groups: set[str], campaigns: set[str], masked: bool
) -> None:
    skills = {a["id"]: a["queues"] for a in live["agents"]}
    scope = scope_for(
        principal(role, wanted, groups, campaigns),
        QUEUES,
        skills,
        GROUPS,
        ["viewer", "supervisor"] if masked else [],
        CAMPAIGNS,
    )
    seen = filter_live(scope, live)
    hidden_queues = [q for q in QUEUES if q not in scope.queues]
    hidden_campaigns = [c for c in CAMPAIGNS if c not in scope.campaigns]

    def visible(r: dict[str, Any]) -> bool:
        return r["campaign"] in scope.campaigns if r["campaign"] else r["queue"] in scope.queues

    hidden_requests = [r for r in live["requests"] if not visible(r)]
    hidden_agents = [a for a in AGENTS if a not in scope.agents]
    text = json.dumps(seen)
    for name in hidden_queues:  # not a row, not a skill, not a count's key: not a byte
        assert name not in text and name.upper() not in text
    for name in hidden_campaigns:  # no campaign row, no contact, no agent's current contact
        assert name not in text and name.upper() not in text
    for r in hidden_requests:
        assert f'"{r["id"]}"' not in text and r["number"] not in text
    for agent in hidden_agents:
        assert not any(a["id"] == agent for a in seen["agents"])
    for group in GROUPS:
        if group not in scope.groups:
            assert group not in text
    # ... and what may be seen is all there (the filter is not simply "nothing")
    assert {r["id"] for r in seen["requests"]} == {r["id"] for r in live["requests"] if visible(r)}
    assert {c["name"] for c in seen["campaigns"]} == set(scope.campaigns)
    assert {a["id"] for a in seen["agents"]} == set(scope.agents)
    for a in seen["agents"]:
        source = next(x for x in live["agents"] if x["id"] == a["id"])
        assert a["handled_today"] == sum(n for q, n in source["handled_by_queue"].items() if q in scope.queues) + sum(
            n for c, n in source["handled_by_campaign"].items() if c in scope.campaigns
        )
    if scope.mask:
        assert all(
            r["number"].endswith(src["number"][-3:]) and "•" in r["number"]
            for r, src in zip(seen["requests"], [x for x in live["requests"] if visible(x)], strict=True)
        )


@given(
    entries=st.lists(
        st.fixed_dictionaries(
            {
                "id": st.integers(1, 99),
                "detail": st.fixed_dictionaries(
                    {}, optional={"queue": queue_names, "to_queue": queue_names, "agent_id": st.sampled_from(AGENTS)}
                ),
            }
        ),
        max_size=10,
    ),
    wanted=st.sets(queue_names, max_size=3),
)
def test_a_filtered_change_log_never_names_another_resource(entries: list[dict[str, Any]], wanted: set[str]) -> None:
    skills = {"ag-1": ["q-alpha"], "ag-2": ["q-bravo"], "ag-3": [], "ag-4": ["q-charlie"], "ag-5": ["q-delta"]}
    scope = scope_for(principal(Role.SUPERVISOR, wanted), QUEUES, skills, GROUPS)
    for entry in filter_changelog(scope, entries):
        detail = entry["detail"]
        assert all(detail[k] in scope.queues for k in ("queue", "to_queue") if k in detail)
        assert "agent_id" not in detail or detail["agent_id"] in scope.agents
        assert detail  # an entry naming nothing is for admins only
