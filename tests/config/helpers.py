"""Helpers for config tests: a minimal valid file and a way to change one key in it."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from app.config import ConfigError, HoldfastConfig, validate_config

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "holdfast.yaml"
EXAMPLE_ENV = {
    "HOLDFAST_ARI_PASSWORD": "ari-secret",
    "HOLDFAST_ADMIN_TOKEN": "token-secret-for-the-api",
    "HOLDFAST_AGENT_1001_PASSWORD": "pw1001",
    "HOLDFAST_AGENT_1002_PASSWORD": "pw1002",
}

BASE: dict[str, Any] = {
    "asterisk": {"ari_user": "holdfast", "ari_password": "secret"},
    "queues": {"support": {}, "sales": {}},
    "agents": {"1001": {"password": "pw", "skills": ["support"]}},
}


def with_value(path: str, value: Any, base: dict[str, Any] | None = None) -> dict[str, Any]:
    """A copy of `base` (BASE by default) with the dotted `path` set to `value`."""
    data = copy.deepcopy(BASE if base is None else base)
    node = data
    *parents, last = path.split(".")
    for part in parents:
        if not isinstance(node.get(part), dict):
            node[part] = {}
        node = node[part]
    node[last] = value
    return data


def problems(data: Any, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        validate_config(data, env=env or {})
    return info.value.problems


def valid(data: Any, env: dict[str, str] | None = None) -> HoldfastConfig:
    return validate_config(data, env=env or {})
