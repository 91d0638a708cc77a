"""Which Asterisk server places a leg, and what it dials (app/telephony/routing.py)."""

from __future__ import annotations

from typing import Any, cast

from app.ari import AriClient
from app.telephony.legs import Leg, LegRegistry
from app.telephony.routing import Router
from app.telephony.servers import Server, ServerSet


def router(*, b_up: bool = True, legs: LegRegistry | None = None) -> Router:
    fake = cast(AriClient, object())  # the router never talks to Asterisk
    servers = ServerSet(
        [
            Server("a", fake, frozenset({"1001"}), frozenset({"1001"}), up=True),
            Server("b", fake, frozenset({"1002"}), frozenset({"1002"}), up=b_up),
            Server("c", fake, None, up=True),  # the default server: agents listed nowhere
        ]
    )
    return Router(
        servers,
        legs or LegRegistry(),
        agent_endpoint=lambda u: f"PJSIP/{u}",
        customer_endpoint=lambda n: f"PJSIP/{n}@trunk",
        peer_endpoint=lambda u, s: f"PJSIP/{u}@holdfast-peer-{s}",
    )


def with_leg(role: str, request_id: str, server: str, **kwargs: Any) -> LegRegistry:
    legs = LegRegistry()
    legs.add(Leg(f"{request_id}:{role}", f"chan-{request_id}-{role}", role, request_id, server=server, **kwargs))
    return legs


def test_an_agent_on_the_callers_server_is_dialled_there_directly() -> None:
    r = router(legs=with_leg("inbound", "r1", "a"))
    assert r.agent_leg("1001", "r1") == ("a", "PJSIP/1001")


def test_an_agent_on_another_server_is_dialled_from_the_callers_server_through_the_trunk() -> None:
    r = router(legs=with_leg("inbound", "r1", "a"))
    assert r.agent_leg("1002", "r1") == ("a", "PJSIP/1002@holdfast-peer-b")
    assert r.agent_leg("1003", "r1") == ("a", "PJSIP/1003@holdfast-peer-c")  # on the default server


def test_a_callbacks_agent_is_rung_on_their_own_server_and_the_customer_follows_there() -> None:
    r = router()
    assert r.agent_leg("1002", "cb1") == ("b", "PJSIP/1002")
    r.legs.add(Leg("cb1:agent", "chan-agent", "agent", "cb1", server="b"))
    assert r.customer_leg("+4520123456", "cb1") == ("b", "PJSIP/+4520123456@trunk")


def test_with_the_agents_server_down_the_callback_goes_round_robin_through_the_trunk() -> None:
    r = router(b_up=False)
    placed = [r.agent_leg("1002", f"cb{i}") for i in range(4)]
    assert [server for server, _ in placed] == ["a", "c", "a", "c"]  # b is down: not chosen
    assert {endpoint for _, endpoint in placed} == {"PJSIP/1002@holdfast-peer-b"}


def test_customers_without_a_leg_yet_go_round_robin_over_the_servers_that_are_up() -> None:
    r = router()
    assert [r.customer_leg("+4520123456", f"d{i}")[0] for i in range(4)] == ["a", "b", "c", "a"]


def test_an_ended_leg_is_no_anchor() -> None:
    r = router(legs=with_leg("inbound", "r1", "b", ended=True))
    assert r.agent_leg("1001", "r1") == ("a", "PJSIP/1001")


def test_one_server_takes_every_leg_and_dials_agents_directly() -> None:
    servers = ServerSet.single(cast(AriClient, object()))
    legs = with_leg("inbound", "r1", "")  # a leg made without a server name
    r = Router(
        servers,
        legs,
        agent_endpoint=lambda u: f"PJSIP/{u}",
        customer_endpoint=lambda n: f"PJSIP/{n}@trunk",
        peer_endpoint=lambda u, s: "never",
    )
    assert r.agent_leg("1001", "r1") == ("main", "PJSIP/1001")
    assert r.customer_leg("+4520123456", "r2") == ("main", "PJSIP/+4520123456@trunk")
    assert servers.client("anything") is servers.first.ari
