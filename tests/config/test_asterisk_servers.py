"""Several Asterisk servers in `asterisk.servers`; the single form stays a list of one."""

from __future__ import annotations

import copy
from typing import Any

from app.config.servers import SINGLE_SERVER, server_of_agent
from tests.config.helpers import BASE, problems, valid


def two_servers(**asterisk: Any) -> dict[str, Any]:
    data = copy.deepcopy(BASE)
    data["agents"] = {
        "1001": {"password": "pw", "skills": ["support"]},
        "1002": {"password": "pw", "skills": ["support"]},
    }
    data["asterisk"] = {
        "ari_user": "holdfast",
        "ari_password": "secret",
        "servers": [
            {"name": "a", "ari_url": "http://10.0.0.1:8088/ari", "agents": ["1001"]},
            {
                "name": "b",
                "ari_url": "http://10.0.0.2:8088/ari",
                "ari_password": "other",
                "sip_host": "10.0.0.2",
                "agents": ["1002"],
            },
        ],
        **asterisk,
    }
    return data


def test_the_single_form_is_a_list_of_one_server_holding_every_agent() -> None:
    (server,) = valid(BASE).asterisk.server_list()
    assert (server.name, server.ari_url, server.ari_user, server.ari_password) == (
        SINGLE_SERVER,
        "http://127.0.0.1:8088/ari",
        "holdfast",
        "secret",
    )
    assert server.agents is None  # every agent
    assert server_of_agent([server], "1001") == SINGLE_SERVER


def test_servers_take_the_section_credentials_unless_they_give_their_own() -> None:
    a, b = valid(two_servers()).asterisk.server_list()
    assert (a.name, a.ari_url, a.ari_user, a.ari_password, a.agents) == (
        "a",
        "http://10.0.0.1:8088/ari",
        "holdfast",
        "secret",
        frozenset({"1001"}),
    )
    assert (b.ari_password, b.sip_host, b.agents) == ("other", "10.0.0.2", frozenset({"1002"}))
    assert server_of_agent([a, b], "1002") == "b"
    assert server_of_agent([a, b], "9999") is None


def test_the_default_server_holds_the_agents_no_server_lists() -> None:
    data = two_servers(default_server="b")
    data["agents"]["1003"] = {"password": "pw", "skills": ["support"]}
    servers = valid(data).asterisk.server_list()
    assert server_of_agent(servers, "1003") == "b"
    assert server_of_agent(servers, "1001") == "a"


def test_the_peer_endpoint_names_the_agent_and_the_server_it_is_on() -> None:
    config = valid(two_servers())
    assert config.asterisk.peer_endpoint("1002", "b") == "PJSIP/1002@holdfast-peer-b"
    bad = problems(two_servers(peer_endpoint_format="PJSIP/{username}@trunk"))
    assert any(p.startswith("asterisk.peer_endpoint_format is ") and '"{server}"' in p for p in bad), bad


def test_two_servers_with_one_name_are_refused() -> None:
    data = two_servers()
    data["asterisk"]["servers"][1]["name"] = "a"
    assert 'asterisk lists 2 servers named "a"; give each server its own name' in problems(data)


def test_an_agent_on_two_servers_is_refused() -> None:
    data = two_servers()
    data["asterisk"]["servers"][1]["agents"] = ["1002", "1001"]
    found = problems(data)
    assert any('agent "1001" on servers a and b' in p for p in found), found


def test_an_unknown_default_server_is_refused_with_the_known_ones() -> None:
    found = problems(two_servers(default_server="c"))
    assert any('default_server names unknown server "c"; known servers: a, b' in p for p in found), found


def test_an_unknown_agent_under_a_server_is_refused() -> None:
    data = two_servers()
    data["asterisk"]["servers"][0]["agents"] = ["1001", "1009"]
    assert 'asterisk.servers.a.agents names unknown agent "1009"; known agents: 1001, 1002' in problems(data)


def test_an_agent_on_no_server_is_refused_unless_there_is_a_default_server() -> None:
    data = two_servers()
    data["asterisk"]["servers"][1]["agents"] = []
    found = problems(data)
    assert any(p.startswith("agents.1002 is registered on no Asterisk server") for p in found), found
    data["asterisk"]["default_server"] = "a"
    assert valid(data).asterisk.server_list()[0].agents is None


def test_the_single_connection_keys_cannot_be_mixed_with_servers() -> None:
    found = problems(two_servers(ari_url="http://127.0.0.1:8088/ari"))
    assert any("asterisk.ari_url cannot be given along with asterisk.servers" in p for p in found), found


def test_a_server_without_ari_url_or_with_a_bad_name_is_refused() -> None:
    data = two_servers()
    del data["asterisk"]["servers"][0]["ari_url"]
    data["asterisk"]["servers"][1]["name"] = "b c"
    found = problems(data)
    assert "asterisk.servers.0.ari_url is required" in found, found
    assert any(p.startswith('asterisk.servers.1.name is "b c"') for p in found), found


def test_default_server_without_servers_is_refused() -> None:
    data = copy.deepcopy(BASE)
    data["asterisk"]["default_server"] = "a"
    assert "asterisk default_server is set but asterisk.servers lists no server" in problems(data)


def test_the_summary_names_each_server_and_its_agents() -> None:
    from app.config import summarize

    data = two_servers(default_server="b")
    text = summarize(valid(data))
    assert "Asterisk: 2 servers" in text and "(on another server: PJSIP/{username}@holdfast-peer-{server})" in text
    assert "  a: ARI http://10.0.0.1:8088/ari, SIP registrations at 127.0.0.1:5060, agents: 1001" in text
    assert "  b: ARI http://10.0.0.2:8088/ari, SIP registrations at 10.0.0.2:5060, agents: every agent" in text
    assert "Asterisk: ARI http://127.0.0.1:8088/ari" in summarize(valid(BASE))  # one server: as before
