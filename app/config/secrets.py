"""Secrets in the file: written literally, or read from the environment as `${VAR}` or `env:VAR`.

Theory of operation: one reader for every secret of every section (asterisk, service, agents,
web, notifications), so they all follow the same rules. `holdfast check-config` validates a
file where the secrets are not set (they are set where the service runs): with `unset_env` in
the validation context an unset or empty variable gives an `UnsetSecret` placeholder, which
`loader.unset_secrets` finds for the summary's notes. `holdfast run` and reloads validate
without it, and a missing variable is an error naming the key (pydantic's location) and the
variable, never the value.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

from pydantic import SecretStr, ValidationInfo

from app.config.errors import bad_plain

ENV_REF = re.compile(r"\$\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}|env:\s*([A-Za-z_][A-Za-z0-9_]*)")


class UnsetSecret(SecretStr):
    """A `${VAR}` secret whose variable is not set (or is empty) while a file is only checked.

    `holdfast check-config` validates a file without the secrets present (they are set where the
    service runs); the placeholder is never a usable secret: `holdfast run` and reloads refuse it.
    """

    def __init__(self, variable: str, empty: bool) -> None:
        super().__init__(f"${{{variable}}}")
        self.variable = variable
        self.empty = empty


def read_secret(value: object, info: ValidationInfo) -> SecretStr:
    """A literal secret, or `${VAR}` / `env:VAR` read from the environment given in the context.

    With `unset_env` in the context (a list, when only checking a file), a variable that is not
    set or is empty is appended to it and an `UnsetSecret` placeholder is returned instead of an error.
    """
    if isinstance(value, bool) or value is None or not isinstance(value, str | int):
        raise bad_plain("must be text (a literal secret, ${VAR} or env:VAR)")
    text = str(value)
    ref = ENV_REF.fullmatch(text.strip())
    if ref is None:
        if text.startswith(("${", "env:")):
            raise bad_plain("looks like an environment reference but is not ${VAR} or env:VAR")
        if not text:
            raise bad_plain("is empty")
        return SecretStr(text)
    var = ref.group(1) or ref.group(2)
    env: Mapping[str, str] = os.environ
    if isinstance(info.context, dict) and info.context.get("env") is not None:
        env = info.context["env"]
    if not env.get(var):
        unset = info.context.get("unset_env") if isinstance(info.context, dict) else None
        if isinstance(unset, list):
            placeholder = UnsetSecret(var, empty=var in env)
            unset.append(placeholder)
            return placeholder
        if var not in env:
            raise bad_plain(f"refers to environment variable {var}, which is not set")
        raise bad_plain(f"refers to environment variable {var}, which is empty")
    return SecretStr(env[var])
