"""Which settings a reload cannot apply to a running service.

Theory of operation: a reload swaps the settings the engine and the API read on every use
(queues, agents, prompts, `service.admin_token`, ...). A few settings are used once, at start:
the HTTP listener's address, the store, the log set-up and the ARI connection. A changed value of
one of those is accepted by a reload but only takes effect after a restart, and the admin must be
told so rather than be left believing it is in force.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, SecretStr

from app.config.schema import AsteriskConfig, HoldfastConfig

__all__ = ["RESTART_KEYS", "restart_needed"]

# Read once at start: the listener (runner), the store (runner), logging (cli), the ARI client.
RESTART_KEYS: tuple[str, ...] = (
    "service.http_host",
    "service.http_port",
    "service.database",
    "service.data_dir",
    "service.log_level",
    *(f"asterisk.{name}" for name in AsteriskConfig.model_fields),
)


def restart_needed(running: HoldfastConfig, new: HoldfastConfig) -> list[str]:
    """The key paths, in RESTART_KEYS order, whose value differs between `running` and `new`."""
    return [key for key in RESTART_KEYS if _plain(_at(running, key)) != _plain(_at(new, key))]


def _at(config: BaseModel, key: str) -> Any:
    value: Any = config
    for part in key.split("."):
        value = getattr(value, part)
    return value


def _plain(value: Any) -> Any:
    # Compare secrets by their value (a changed ARI password needs a restart too).
    return value.get_secret_value() if isinstance(value, SecretStr) else value
