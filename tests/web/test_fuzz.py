"""Fuzzing the running API: whatever a client sends to a route with a body, the answer is never a
5xx, and every 4xx says why in "error".

Three kinds of input per route: bodies shaped by the route's model (right keys, wrong, missing
and extra ones, values near and beyond the bounds), arbitrary JSON, and arbitrary bytes. The app
is the real one (engine, executor, ARI client on the fake Asterisk); state builds up across
examples, so later examples also meet callbacks that exist, agents who ring, and so on.
"""

from __future__ import annotations

import json
import os
from typing import Any

from aiohttp.test_utils import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from app.web.agents import ACTIONS
from app.web.models import AgentActionBody, CallbackRequestBody, MoveCallbackBody, RemoveCallbackBody
from tests.telephony.conftest import AGENTS, CALLER, Shell

FUZZ = settings(
    max_examples=300,
    deadline=None,
    derandomize=bool(os.environ.get("CI")),  # the same examples on every CI run; new ones locally
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

NUMBERS = [CALLER, "+4520999888", "+4590123456", "+12025550123", "20123456", "", "+", "abc", "0" * 33]
QUEUES = ["support", "sales", "nope", "", "q" * 65]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=40),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)


def field_values(name: str, schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values for one field: valid ones, values at and past its bounds, and any JSON at all."""
    kind = schema.get("type")
    if kind == "integer":
        lo, hi = schema.get("minimum", -(2**31)), schema.get("maximum", 2**31)
        near = st.integers(lo - 3, lo + 3) | st.integers(hi - 3, hi + 3) | st.integers(lo, hi)
        wild = st.sampled_from([2**63, -(2**63), 2**64 + 1, 10**30]) | st.floats() | st.integers().map(str)
        return near | wild | json_values
    known = {"queue": QUEUES, "number": NUMBERS}.get(name, ["admin", "eva", "lunch", ""])
    longest = schema.get("maxLength", 64)
    text = st.sampled_from(known) | st.text(max_size=longest + 2) | st.text(min_size=longest - 1, max_size=longest + 1)
    return text | json_values


def model_bodies(model: type[BaseModel]) -> st.SearchStrategy[Any]:
    """Objects with some of the model's keys (maybe all, maybe none) and maybe unknown ones."""
    props = model.model_json_schema()["properties"]
    fields = {name: field_values(name, schema) for name, schema in props.items()}
    return st.builds(
        lambda present, values, extra: {**{k: v for k, v in values.items() if k in present}, **extra},
        st.sets(st.sampled_from(sorted(fields))),
        st.fixed_dictionaries(fields),
        st.dictionaries(st.text(max_size=8), json_values, max_size=2),
    )


def raw_of(body: Any) -> bytes:
    return json.dumps(body).encode()


bodies_for = {
    "ask": CallbackRequestBody,
    "remove": RemoveCallbackBody,
    "move": MoveCallbackBody,
    "agent": AgentActionBody,
}


def payloads(route: str) -> st.SearchStrategy[bytes]:
    return (
        model_bodies(bodies_for[route]).map(raw_of)
        | json_values.map(raw_of)
        | st.binary(max_size=64)
        | st.sampled_from(
            [
                b"NaN",
                b'{"priority": 1e999}',
                b"[" * 300,
                b"[" * 3000 + b"]" * 3000,
                b'{"reason": Infinity}',
                b"\xef\xbb\xbf{}",
            ]
        )
    )


async def send(http: TestClient, shell: Shell, route: str, raw: bytes, data: st.DataObject) -> None:
    headers = {"Content-Type": "application/json"}
    if route == "ask":
        resp = await http.post("/api/callbacks", data=raw, headers=headers)
    elif route == "agent":
        agent = data.draw(st.sampled_from([*AGENTS, "nobody"]))
        action = data.draw(st.sampled_from([*ACTIONS, "dance"]))
        resp = await http.post(f"/api/agents/{agent}/{action}", data=raw, headers=headers)
    else:
        # an index, not sampled_from(the ids): the strategy must not depend on the app's state
        ids = [*sorted(shell.engine.requests), "nobody"]
        request_id = ids[data.draw(st.integers(0, 20)) % len(ids)]
        if route == "remove":
            resp = await http.delete(f"/api/callbacks/{request_id}", data=raw, headers=headers)
        else:
            resp = await http.post(f"/api/callbacks/{request_id}/move", data=raw, headers=headers)
    text = await resp.text()
    assert resp.status < 500, f"{resp.status} for {route} {raw[:200]!r}: {text}"
    if resp.status >= 400:
        body = json.loads(text)
        assert isinstance(body["error"], str) and body["error"], f"{resp.status} without an error: {text}"
    else:
        assert resp.status in (200, 201), text


@FUZZ
@given(data=st.data())
async def test_fuzz_ask_for_a_callback(shell: Shell, http: TestClient, data: st.DataObject) -> None:
    await send(http, shell, "ask", data.draw(payloads("ask")), data)


@FUZZ
@given(data=st.data())
async def test_fuzz_remove_and_move(shell: Shell, http: TestClient, data: st.DataObject) -> None:
    if data.draw(st.booleans()):  # keep callbacks around to remove and move
        await http.post("/api/callbacks", json={"queue": "support", "number": CALLER})
    route = data.draw(st.sampled_from(["remove", "move"]))
    await send(http, shell, route, data.draw(payloads(route)), data)


@FUZZ
@given(data=st.data())
async def test_fuzz_agent_actions(shell: Shell, http: TestClient, data: st.DataObject) -> None:
    await send(http, shell, "agent", data.draw(payloads("agent")), data)
