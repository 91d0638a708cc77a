"""People who use the live page and the API: accounts, roles, resource filters, web settings.

Theory of operation: accounts live in the YAML under `users:` with a password hash made by
`holdfast user add` (scrypt with a per-user salt; never the password itself) and optionally the
SHA-256 of a personal API token. A role says what a user may do (admin: everything; supervisor:
see and act within their filter; viewer: see within their filter); the filter names the queues,
dialler campaigns and agent groups (`agent_groups:` at the top of the file) they may see. What that means for each
route is decided in one place, `app/web/access.py`. Cross-section checks (a user's queue or an
agent group's agent must exist) run with the loader's other cross checks. A campaign filter may
name a campaign created over the API, which the file cannot know: such a name is accepted, noted
by `holdfast check-config`, and warned of at run time while no campaign of that id exists.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, PlainValidator, SecretStr, ValidationInfo, model_validator

from app.config.durations import DurationError, parse_duration
from app.config.errors import bad, bad_plain, one_of
from app.config.secrets import UnsetSecret, read_secret

PASSWORD_HASH_RE = r"scrypt\$\d+\$\d+\$\d+\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+"
TOKEN_HASH_RE = r"sha256\$[0-9a-f]{64}"
USER_NAME_RE = r"[A-Za-z0-9][A-Za-z0-9_.@-]*"
ROLES = ("admin", "supervisor", "viewer")


def _hash(regex: str, what: str) -> Any:
    def check(value: object) -> str:
        # The value is never echoed back: a pasted password instead of a hash must not be logged.
        if not isinstance(value, str) or not re.fullmatch(regex, value):
            raise bad_plain(f"is not a {what} made by `holdfast user add` (never write a password here)")
        return value

    return check


_role = one_of(ROLES, "roles")


def _names(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    names = value if isinstance(value, list | tuple) else None
    if names is None or not all(isinstance(v, str | int) and not isinstance(v, bool) for v in names):
        raise bad("expected a list of names")
    return tuple(str(v) for v in names)


def _duration(value: object) -> float:
    try:
        seconds = parse_duration(value)
    except DurationError as error:
        raise bad(str(error)) from None
    if seconds <= 0:
        raise bad("expected a duration above 0, like 12h")
    return seconds


def _session_lifetime(value: object) -> float:
    """A minute at least: the cookie's Max-Age is whole seconds, and under a second it is 0 (no
    log-in would stick); a month at most, as a session is a log-in on one browser."""
    seconds = _duration(value)
    if not 60 <= seconds <= 30 * 86400:
        raise bad("allowed 1m-30d")
    return seconds


def _roles(value: object) -> tuple[str, ...]:
    roles = _names(value)
    unknown = [r for r in roles if r not in ROLES]
    if unknown:
        raise bad(f"names unknown role {unknown[0]!r}; roles: {', '.join(ROLES)}")
    return roles


Names = Annotated[tuple[str, ...], PlainValidator(_names)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="before")
    @classmethod
    def _empty_is_defaults(cls, data: Any) -> Any:
        return {} if data is None else data


class UserConfig(_Model):
    role: Annotated[str, PlainValidator(_role)]
    password_hash: Annotated[str | None, PlainValidator(_hash(PASSWORD_HASH_RE, "password hash"))] = None
    api_token_hash: Annotated[str | None, PlainValidator(_hash(TOKEN_HASH_RE, "token hash"))] = None
    # The resource filter. "*" in queues means every queue (also those added later).
    queues: Names = ()
    agent_groups: Names = ()
    # Dialler campaigns they may see (and, as supervisor, pause or resume); "*" is every campaign.
    campaigns: Names = ()
    display_name: str = ""

    @model_validator(mode="after")
    def _can_log_in(self) -> UserConfig:
        if self.password_hash is None and self.api_token_hash is None:
            raise bad_plain("needs password_hash or api_token_hash (made by `holdfast user add`)")
        return self


def _metrics_token(value: object, info: ValidationInfo) -> SecretStr | None:
    """A secret as service.admin_token is (literal, ${VAR} or env:VAR; 16 characters or more)."""
    from app.config.schema import MIN_TOKEN_LENGTH  # schema imports this module

    if value is None:
        return None
    token = read_secret(value, info)
    if isinstance(token, UnsetSecret):  # only checking the file: its length is not known here
        return token
    length = len(token.get_secret_value())
    if length < MIN_TOKEN_LENGTH:
        raise bad_plain(f"is {length} characters long; use at least {MIN_TOKEN_LENGTH} (e.g. `openssl rand -hex 16`)")
    return token


def _networks(value: object) -> tuple[str, ...]:
    items = value if isinstance(value, list | tuple) else [] if value in (None, "") else [value]
    out = []
    for item in items:
        try:
            out.append(str(ipaddress.ip_network(str(item).strip(), strict=False)))
        except ValueError:
            raise bad(f"{item!r} is not an address or network, like 127.0.0.1 or 10.0.0.0/8") from None
    return tuple(out)


HOST_NAME_RE = r"[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*"  # "_": compose service names


def _host_names(value: object) -> tuple[str, ...]:
    items = value if isinstance(value, list | tuple) else [] if value in (None, "") else [value]
    out = []
    for item in items:
        name = str(item).strip().lower().removesuffix(".")
        if not isinstance(item, str) or not re.fullmatch(HOST_NAME_RE, name):
            raise bad(f"{item!r} is not a host name; write it without scheme or port, like holdfast.example.com")
        out.append(name)
    return tuple(out)


class WebConfig(_Model):
    """The page's sessions and what each role sees of callers' numbers."""

    session_lifetime: Annotated[float, PlainValidator(_session_lifetime)] = 12 * 3600.0
    # "auto": Secure cookies when the request came over TLS (or X-Forwarded-Proto says https).
    secure_cookies: Literal["auto", "always", "never"] = "auto"
    # Roles that see numbers masked ("+•••••••456"): all but the last three digits hidden.
    mask_numbers: Annotated[tuple[str, ...], PlainValidator(_roles)] = ("viewer",)
    # /metrics is an operator's view of every queue, not a supervisor's: with users or an admin
    # token it needs this bearer token (for the Prometheus scraper) or an admin's.
    metrics_token: Annotated[SecretStr | None, PlainValidator(_metrics_token)] = None
    # Reverse proxies in front of the service (addresses or networks): from them, the client's
    # address is read from X-Forwarded-For (the log-in throttle counts wrong passwords per client).
    # Empty: the TCP peer's address, and X-Forwarded-For is ignored (anyone can send it).
    trusted_proxies: Annotated[tuple[str, ...], PlainValidator(_networks)] = ()
    # Names, besides loopback, IP addresses and service.http_host, that a request's Host may give
    # (app/web/hosts.py: the guard against DNS rebinding); behind a reverse proxy, its public name.
    allowed_hosts: Annotated[tuple[str, ...], PlainValidator(_host_names)] = ()


UserName = Annotated[str, PlainValidator(lambda v: _checked_name(v))]
AgentGroups = dict[str, Annotated[tuple[str, ...], PlainValidator(_names)]]


def _checked_name(value: object) -> str:
    text = str(value) if isinstance(value, str | int) and not isinstance(value, bool) else ""
    if not re.fullmatch(USER_NAME_RE, text):
        raise bad("a user name uses letters, digits, '.', '_', '-', '@'")
    return text


def users_cross_check(data: dict[Any, Any], queue_names: list[str]) -> list[tuple[str, str]]:
    """Users naming unknown queues or agent groups, groups naming unknown agents."""
    found: list[tuple[str, str]] = []
    agents = data.get("agents") if isinstance(data.get("agents"), dict) else {}
    groups = data.get("agent_groups") if isinstance(data.get("agent_groups"), dict) else {}
    for group, members in (groups or {}).items():
        for agent in members if isinstance(members, list) else []:
            if str(agent) not in {str(a) for a in agents or {}}:
                found.append(("agent_groups", f'agent_groups.{group} names unknown agent "{agent}"'))
    users = data.get("users")
    if not isinstance(users, dict):
        return found
    for name, user in users.items():
        if not isinstance(user, dict):
            continue
        queues = user.get("queues") or []
        for queue in [queues] if isinstance(queues, str) else queues if isinstance(queues, list) else []:
            if str(queue) != "*" and str(queue) not in queue_names:
                known = ", ".join(queue_names)
                found.append(("users", f'users.{name}.queues names unknown queue "{queue}"; known: {known}'))
        wanted = user.get("agent_groups") or []
        for group in [wanted] if isinstance(wanted, str) else wanted if isinstance(wanted, list) else []:
            if str(group) not in {str(g) for g in groups or {}}:
                found.append(("users", f'users.{name}.agent_groups names unknown group "{group}"'))
        # `campaigns` may name campaigns created over the API, which this file cannot know: a name
        # unknown here is a note (check-config) and a warning at run time (unknown_filter_campaigns),
        # not an error.
    return found


def unknown_filter_campaigns(users: Mapping[str, UserConfig], campaigns: Iterable[str]) -> list[tuple[str, str]]:
    """(user, campaign) for every name in a user's campaign filter that is not one of `campaigns`
    ("*" aside): the user sees nothing of it until a campaign of that id is created."""
    known = set(campaigns)
    return [(name, c) for name, user in users.items() for c in user.campaigns if c != "*" and c not in known]


def campaign_filter_notes(users: Mapping[str, UserConfig], file_campaigns: Iterable[str]) -> list[str]:
    """What `holdfast check-config` says of filters naming campaigns this file does not define."""
    return [
        f'users.{user}.campaigns names "{campaign}", which this file does not define: it must be a campaign '
        f"created over the API (POST /api/campaigns); until one of that id exists, {user} sees nothing of it"
        for user, campaign in unknown_filter_campaigns(users, file_campaigns)
    ]


__all__ = [
    "ROLES",
    "AgentGroups",
    "UserConfig",
    "UserName",
    "WebConfig",
    "campaign_filter_notes",
    "unknown_filter_campaigns",
    "users_cross_check",
]
