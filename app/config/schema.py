"""The YAML file as pydantic models, and how they build the core's frozen settings.

Theory of operation: every model forbids unknown keys, so a typo is an error and not a silently
ignored setting. Scalars are read by small "plain" validators that accept what an admin writes
(durations as "5m", digits given as YAML numbers, "off" for a disabled timer) and raise
`PydanticCustomError` with a reason an admin understands; `loader.py` turns those into
"<key path> is <value>; <reason>". A reason of type `holdfast_plain` is printed without the value
(used for secrets, whose value must never be echoed). Checks that need the whole file (does a
skill name an existing queue?) live in `loader.py`, so they run even when other keys are wrong.
`HoldfastConfig.core()` builds `app.core.settings.CoreSettings`.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Callable
from datetime import date
from enum import Enum
from pathlib import Path
from string import Formatter
from typing import Annotated, Any, TypeVar
from urllib.parse import urlsplit

import phonenumbers
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    SecretStr,
    ValidationInfo,
    model_validator,
)
from pydantic_core import PydanticCustomError

from app.config.amd import AFTER_GREETING_SILENCE_MAX_MS, AmdTuning
from app.config.durations import DurationError, format_duration, parse_duration
from app.config.errors import bad, bad_key, bad_plain, stored_definition
from app.config.notifications import NotificationsConfig
from app.config.places import language_code, region_code, suggest, timezone_name
from app.config.secrets import UnsetSecret, read_secret
from app.config.servers import AsteriskServer, server_list, servers_problem
from app.config.users import AgentGroups, UserConfig, UserName, WebConfig
from app.core.settings import (
    MIN_RING_TIME,
    RECORDING_FORMATS,
    AgentSettings,
    AnnounceSettings,
    CallbackMode,
    CallbackOrder,
    CallbackSettings,
    CampaignMode,
    CampaignSettings,
    CampaignState,
    CoreSettings,
    DispatchPolicy,
    EligibilityRules,
    OfferMode,
    OpeningHours,
    QueueSettings,
    RecordingSettings,
    RetryIntervals,
    TimeRange,
)

__all__ = [
    "DAYS",
    "NUMBER_TYPES",
    "AgentConfig",
    "AnnounceConfig",
    "AsteriskConfig",
    "AsteriskServerConfig",
    "CallbackConfig",
    "CampaignConfig",
    "EligibilityConfig",
    "FeatureCodes",
    "HoldfastConfig",
    "HoursConfig",
    "PromptsConfig",
    "QueueConfig",
    "ServiceConfig",
    "UnsetSecret",
    "parse_day",
]

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

# phonenumbers.PhoneNumberType names, lower snake case (UNKNOWN is never a useful choice).
NUMBER_TYPES = (
    "mobile",
    "fixed_line",
    "fixed_line_or_mobile",
    "toll_free",
    "premium_rate",
    "shared_cost",
    "voip",
    "personal_number",
    "pager",
    "uan",
    "voicemail",
)

LOG_LEVELS = ("debug", "info", "warning", "error", "critical")

E = TypeVar("E", bound=Enum)


# --- errors -------------------------------------------------------------------------------------


# --- scalar readers -----------------------------------------------------------------------------


def _text(value: object) -> str:
    if isinstance(value, bool) or value is None:
        raise bad("expected text")
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return str(value)
    raise bad("expected text")


def _boolean(value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        low = value.strip().lower()
        if low in ("true", "yes", "on"):
            return True
        if low in ("false", "no", "off"):
            return False
    raise bad("expected true or false")


def _whole(value: object) -> int:
    if isinstance(value, bool):
        raise bad("expected a whole number")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"\s*-?\d+\s*", value):
        return int(value)
    raise bad("expected a whole number")


def _int_range(lo: int | None, hi: int | None) -> Callable[[object], int]:
    def check(value: object) -> int:
        n = _whole(value)
        if lo is not None and hi is not None and not lo <= n <= hi:
            raise bad(f"allowed {lo}-{hi}")
        if lo is not None and n < lo:
            raise bad(f"allowed {lo} or more")
        if hi is not None and n > hi:
            raise bad(f"allowed {hi} or less")
        return n

    return check


def _duration(
    lo: float = 0.0, hi: float | None = None, *, above: bool = False, hi_text: str = ""
) -> Callable[[object], float]:
    """A duration reader; `above` makes `lo` exclusive (must be longer than lo)."""

    def check(value: object) -> float:
        try:
            seconds = parse_duration(value)
        except DurationError as e:
            raise bad(str(e)) from None
        if above and seconds <= lo:
            raise bad(f"must be longer than {format_duration(lo)}")
        if hi is not None and not lo <= seconds <= hi:
            if lo == 0:
                raise bad(f"allowed at most {hi_text or format_duration(hi)}")
            raise bad(f"allowed {format_duration(lo)}-{hi_text or format_duration(hi)}")
        if seconds < lo:
            raise bad(f"allowed {format_duration(lo)} or more")
        return seconds

    return check


_OFF_WORDS = ("off", "none", "never", "no")


def _optional_duration(value: object) -> float | None:
    if value is None or value is False:
        return None
    if isinstance(value, str) and value.strip().lower() in _OFF_WORDS:
        return None
    try:
        return parse_duration(value)
    except DurationError as e:
        raise bad(f'{e}, or "off"') from None


# The dialler's 30-day abandonment window is read back from the event log after a restart.
MIN_KEEP_HISTORY = 35 * 86400.0


def _keep_history(value: object) -> float | None:
    seconds = _optional_duration(value)
    if seconds is not None and seconds < MIN_KEEP_HISTORY:
        raise bad(
            f"allowed {format_duration(MIN_KEEP_HISTORY)} or more, or off: a campaign's 30-day abandonment "
            "window is read back from the event log"
        )
    return seconds


def _enum(cls: type[E]) -> Callable[[object], E]:
    choices = [str(m.value) for m in cls]

    def check(value: object) -> E:
        if isinstance(value, cls):
            return value
        if isinstance(value, str):
            low = value.strip().lower()
            for member in cls:
                if member.value == low:
                    return member
            raise bad(f"allowed: {', '.join(choices)}{suggest(low, choices)}")
        raise bad(f"allowed: {', '.join(choices)}")

    return check


def _pattern(regex: str, reason: str, *, lower: bool = False) -> Callable[[object], str]:
    compiled = re.compile(regex)

    def check(value: object) -> str:
        text = _text(value)
        if lower:
            text = text.lower()
        if not compiled.fullmatch(text):
            raise bad(reason)
        return text

    return check


def _string_list(value: object) -> list[object]:
    if value is None:
        return []
    if isinstance(value, str | int):
        return [value]
    if isinstance(value, list | tuple):
        return list(value)
    raise bad("expected a list")


# --- opening hours ------------------------------------------------------------------------------

_DAY_EXPECTED = 'expected "HH:MM-HH:MM" ranges, "closed" or a list of them'
_RANGE = re.compile(r"\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*")


def _clock(hours: str, minutes: str) -> int | None:
    h, m = int(hours), int(minutes)
    if m > 59 or h > 24 or (h == 24 and m != 0):
        return None
    return h * 3600 + m * 60


def _hhmm(seconds: int) -> str:
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}"


def parse_day(value: object) -> tuple[TimeRange, ...]:
    """One day's opening: "closed", "08:00-16:00", "08:00-12:00, 13:00-16:00" or a list of ranges."""
    if value is None or value is False:
        return ()
    if isinstance(value, str):
        if value.strip().lower() == "closed":
            return ()
        items: list[object] = list(value.split(","))
    elif isinstance(value, list | tuple):
        items = list(value)
        if any(isinstance(i, str) and i.strip().lower() == "closed" for i in items) and len(items) > 1:
            raise bad('"closed" cannot be mixed with opening ranges')
        if len(items) == 1 and isinstance(items[0], str) and items[0].strip().lower() == "closed":
            return ()
    else:
        raise bad(_DAY_EXPECTED)
    ranges: list[TimeRange] = []
    for raw in items:
        m = _RANGE.fullmatch(raw) if isinstance(raw, str) else None
        if m is None:
            raise bad(_DAY_EXPECTED)
        item = m.group(0)
        start, end = _clock(m.group(1), m.group(2)), _clock(m.group(3), m.group(4))
        if start is None or end is None or start >= 86400:
            raise bad(f'"{item.strip()}" is not a time of day; hours are 00:00-23:59 (24:00 as an end)')
        if end <= start:
            raise bad(f'"{item.strip()}" ends before it starts; a range must end after it starts')
        if ranges and start < ranges[-1].end:
            prev = ranges[-1]
            raise bad(
                f'"{item.strip()}" starts before "{_hhmm(prev.start)}-{_hhmm(prev.end)}" ends; '
                "ranges must be in order and must not overlap"
            )
        ranges.append(TimeRange(start, end))
    return tuple(ranges)


def _date_key(value: object) -> str:
    text = _text(value).strip()
    try:
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            raise ValueError(text)
        return date.fromisoformat(text).isoformat()
    except ValueError:
        raise bad('expected a date "YYYY-MM-DD"') from None


# --- keys ---------------------------------------------------------------------------------------

_NAME_RE = r"[A-Za-z0-9][A-Za-z0-9_-]*"

QueueName = Annotated[str, PlainValidator(_pattern(_NAME_RE, "a queue name uses letters, digits, '-' and '_'"))]
AgentId = Annotated[
    str,
    PlainValidator(_pattern(r"[A-Za-z0-9][A-Za-z0-9_.-]*", "an agent id uses letters, digits, '.', '-', '_'")),
]
DialledNumber = Annotated[
    str,
    PlainValidator(_pattern(r"\+?[0-9*#]+", "a dialled number uses digits, '*', '#', optional leading +")),
]
PromptName = Annotated[
    str,
    PlainValidator(_pattern(r"[A-Za-z0-9][A-Za-z0-9_./-]*", "a prompt name uses letters, digits, '_', '-', '/'")),
]

Text = Annotated[str, PlainValidator(_text)]
Bool = Annotated[bool, PlainValidator(_boolean)]
Duration = Annotated[float, PlainValidator(_duration())]
Secret = Annotated[SecretStr, PlainValidator(read_secret)]
DaySpec = Annotated[tuple[TimeRange, ...], PlainValidator(parse_day)]
DateKey = Annotated[str, PlainValidator(_date_key)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="before")
    @classmethod
    def _empty_is_defaults(cls, data: Any) -> Any:
        # "sales:" with nothing under it means "all defaults", not an error.
        return {} if data is None else data


# --- asterisk and service -----------------------------------------------------------------------


def _ari_url(value: object) -> str:
    text = _text(value).strip()
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise bad('expected an http(s) URL like "http://127.0.0.1:8088/ari"')
    return text.rstrip("/")


def _endpoint_format(field: str) -> Callable[[object], str]:
    def check(value: object) -> str:
        text = _text(value).strip()
        try:
            names = [f for _, f, _, _ in Formatter().parse(text) if f is not None]
        except ValueError:
            raise bad(f'expected a dial string with "{{{field}}}", like "PJSIP/{{{field}}}"') from None
        if field not in names:
            raise bad(f'must contain "{{{field}}}"')
        others = sorted({n for n in names if n != field})
        if others:
            raise bad(f'may only use the placeholder "{{{field}}}", not "{{{others[0]}}}"')
        return text

    return check


Port = Annotated[int, PlainValidator(_int_range(1, 65535))]


def _peer_endpoint_format(value: object) -> str:
    text = _text(value).strip()
    try:
        names = {f for _, f, _, _ in Formatter().parse(text) if f is not None}
    except ValueError:
        names = set()
    if names != {"username", "server"}:
        raise bad(
            'must contain "{username}" and "{server}" and no other placeholder, '
            'like "PJSIP/{username}@holdfast-peer-{server}"'
        )
    return text


ServerName = Annotated[str, PlainValidator(_pattern(_NAME_RE, "a server name uses letters, digits, '-' and '_'"))]


class AsteriskServerConfig(_Model):
    """One Asterisk server of several: its ARI connection and the agents whose phones register there."""

    name: ServerName
    ari_url: Annotated[str, PlainValidator(_ari_url)]
    ari_user: Secret | None = None  # default: asterisk.ari_user
    ari_password: Secret | None = None  # default: asterisk.ari_password
    sip_host: Text = "127.0.0.1"
    sip_port: Port = 5060
    agents: list[AgentId] = Field(default_factory=list)


class AsteriskConfig(_Model):
    ari_url: Annotated[str, PlainValidator(_ari_url)] = "http://127.0.0.1:8088/ari"
    ari_user: Secret
    ari_password: Secret
    app: Annotated[str, PlainValidator(_pattern(_NAME_RE, "a Stasis app name uses letters, digits, '-', '_'"))] = (
        "holdfast"
    )
    sip_host: Text = "127.0.0.1"
    sip_port: Port = 5060
    agent_endpoint_format: Annotated[str, PlainValidator(_endpoint_format("username"))] = "PJSIP/{username}"
    trunk_endpoint_format: Annotated[str, PlainValidator(_endpoint_format("number"))] = "PJSIP/{number}@trunk"

    # Several Asterisk servers (app/config/servers.py): each with its own ARI connection and the
    # agents registered there. Empty: the single server above. The credentials above are every
    # server's default.
    servers: list[AsteriskServerConfig] = Field(default_factory=list)
    default_server: ServerName | None = None  # where agents listed under no server are registered
    # How one server reaches an agent registered on another: through the SIP trunk named after it.
    peer_endpoint_format: Annotated[str, PlainValidator(_peer_endpoint_format)] = (
        "PJSIP/{username}@holdfast-peer-{server}"
    )

    def agent_endpoint(self, username: str) -> str:
        return self.agent_endpoint_format.format(username=username)

    def trunk_endpoint(self, number: str) -> str:
        return self.trunk_endpoint_format.format(number=number)

    def peer_endpoint(self, username: str, server: str) -> str:
        return self.peer_endpoint_format.format(username=username, server=server)

    @model_validator(mode="after")
    def _servers_agree(self) -> AsteriskConfig:
        problem = servers_problem(self)
        if problem:
            raise bad_plain(problem)
        return self

    def server_list(self) -> list[AsteriskServer]:
        """The Asterisk servers to connect to; the single form is a list of one holding every agent."""
        return server_list(self)


def _log_level(value: object) -> str:
    text = _text(value).strip().lower()
    if text not in LOG_LEVELS:
        raise bad(f"allowed: {', '.join(LOG_LEVELS)}{suggest(text, LOG_LEVELS)}")
    return text


def _path(value: object) -> Path:
    text = _text(value).strip()
    if not text:
        raise bad("expected a folder path")
    return Path(text)


MIN_TOKEN_LENGTH = 16


def _loopback(host: str) -> bool:
    """Whether only this machine can reach `host` (an empty host means every interface)."""
    host = host.strip().strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


def _admin_token(value: object, info: ValidationInfo) -> SecretStr | None:
    """The API's bearer token: long enough to resist guessing, and required off loopback."""
    host = info.data.get("http_host")  # absent when http_host itself was invalid
    if value is None:
        if isinstance(host, str) and not _loopback(host):
            raise bad_plain(
                f'is required when service.http_host is "{host}" (not a loopback address): without it anyone '
                f"who can reach the port can remove and move callbacks; set a token of {MIN_TOKEN_LENGTH} "
                "characters or more, or listen on 127.0.0.1"
            )
        return None
    token = read_secret(value, info)
    if isinstance(token, UnsetSecret):  # only checking the file: its length is not known here
        return token
    length = len(token.get_secret_value())
    if length < MIN_TOKEN_LENGTH:
        raise bad_plain(
            f"is {length} characters long; use at least {MIN_TOKEN_LENGTH} so it cannot be guessed "
            "(e.g. the output of `openssl rand -hex 16`)"
        )
    return token


class ServiceConfig(_Model):
    # http_host comes before admin_token: the token's check reads it.
    http_host: Text = "127.0.0.1"
    http_port: Port = 8080
    data_dir: Annotated[Path, PlainValidator(_path)] = Path("./var")
    log_level: Annotated[str, PlainValidator(_log_level)] = "info"
    language: Annotated[str, PlainValidator(language_code)] = "en"
    admin_token: Annotated[SecretStr | None, PlainValidator(_admin_token)] = Field(default=None, validate_default=True)
    menu_timeout: Annotated[float, PlainValidator(_duration(0.0, above=True))] = 10.0
    max_wrap_up_extension: Duration = 300.0
    # Ended requests, event-log lines and sent notifications older than this are deleted
    # (app/telephony/history.py); off, the default, keeps them for ever.
    keep_history: Annotated[float | None, PlainValidator(_keep_history)] = None
    # Where requests and the event log are kept: empty for SQLite at data_dir/holdfast.db, or a
    # postgresql://user:password@host/db DSN (secrets allowed) for several nodes.
    database: Secret | None = None

    def database_dsn(self) -> str:
        if self.database is not None and self.database.get_secret_value():
            return self.database.get_secret_value()
        return str(self.data_dir / "holdfast.db")


# --- feature codes and prompts ------------------------------------------------------------------

FeatureCode = Annotated[
    str, PlainValidator(_pattern(r"\*\d+", 'expected "*" followed by digits, like "*21" (quote it in YAML)'))
]


class FeatureCodes(_Model):
    ready: FeatureCode = "*21"
    pause: FeatureCode = "*22"
    logout: FeatureCode = "*23"
    extend_wrap_up: FeatureCode = "*24"  # one more minute of wrap-up, within service.max_wrap_up_extension

    @model_validator(mode="after")
    def _distinct(self) -> FeatureCodes:
        seen: dict[str, str] = {}
        for name in ("ready", "pause", "logout", "extend_wrap_up"):
            code = getattr(self, name)
            if code in seen:
                raise bad_plain(f'uses "{code}" for both {seen[code]} and {name}; each code must be different')
            seen[code] = name
        return self


_AUDIO_EXT = re.compile(r"\.(wav|wav16|gsm|ulaw|ul|alaw|al|sln\d*|g722|g729|mp3|ogg|opus)$", re.IGNORECASE)


def _prompt_path(value: object) -> str:
    text = _text(value).strip()
    if not text:
        raise bad("expected a file path without extension")
    if _AUDIO_EXT.search(text):
        raise bad("give the file path without its extension; Asterisk picks the best format itself")
    return text


class PromptsConfig(_Model):
    dir: Annotated[str, PlainValidator(_prompt_path)] | None = None
    overrides: dict[PromptName, Annotated[str, PlainValidator(_prompt_path)]] = Field(default_factory=dict)

    def path_for(self, name: str) -> str | None:
        """The admin's file for prompt `name` (relative paths are inside `dir`), or None."""
        path = self.overrides.get(name)
        if path is None:
            return None
        if self.dir and not path.startswith("/"):
            return f"{self.dir.rstrip('/')}/{path}"
        return path


# --- queues -------------------------------------------------------------------------------------


class HoursConfig(_Model):
    timezone: Annotated[str, PlainValidator(timezone_name)] = "UTC"
    mon: DaySpec = ()
    tue: DaySpec = ()
    wed: DaySpec = ()
    thu: DaySpec = ()
    fri: DaySpec = ()
    sat: DaySpec = ()
    sun: DaySpec = ()
    exceptions: dict[DateKey, DaySpec] = Field(default_factory=dict)

    def to_settings(self) -> OpeningHours:
        return OpeningHours(
            timezone=self.timezone,
            weekly=tuple(getattr(self, d) for d in DAYS),
            exceptions=tuple(sorted(self.exceptions.items())),
        )


def _key_digit(value: object) -> str:
    text = _text(value).strip()
    if not re.fullmatch(r"[0-9]", text):
        raise bad("allowed a single digit 0-9")
    return text


def _share(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise bad("allowed a number in (0, 1], e.g. 0.5")
    try:
        share = float(value.strip().rstrip("%")) / 100 if isinstance(value, str) and "%" in value else float(value)
    except ValueError:
        raise bad("allowed a number in (0, 1], e.g. 0.5") from None
    if math.isnan(share) or not 0 < share <= 1:
        raise bad("allowed a number in (0, 1], e.g. 0.5")
    return share


def _caller_id(value: object) -> str:
    if value is None:
        return ""
    text = _text(value).strip()
    if text and not re.fullmatch(r"\+?\d{1,20}", text):
        raise bad("expected digits with an optional leading + (quote it in YAML)")
    return text


def _home_digits(number: str, regions: tuple[str, ...]) -> str:
    """The digits a person in the campaign's country (its first allowed region) dials for
    `number`, as the information message says them: the national form for a number of that
    country ("+4533445566" in DK: 33445566; "+442071234567" in GB: 02071234567), else the digits
    as written (a foreign number, no region, or one phonenumbers does not know)."""
    digits = number.lstrip("+")
    if not number or not regions:
        return digits
    try:
        parsed = phonenumbers.parse(number, regions[0])
    except phonenumbers.NumberParseException:
        return digits
    if not phonenumbers.is_valid_number_for_region(parsed, regions[0]):
        return digits
    return re.sub(r"\D", "", phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.NATIONAL))


def _optional_prompt(value: object) -> str | None:
    if value is None:
        return None
    return _pattern(r"[A-Za-z0-9][A-Za-z0-9_./-]*", "expected a prompt name")(value)


class CallbackConfig(_Model):
    enabled: Bool = True
    key: Annotated[str, PlainValidator(_key_digit)] = "1"
    offer_mode: Annotated[OfferMode, PlainValidator(_enum(OfferMode))] = OfferMode.REPEAT
    mode: Annotated[CallbackMode, PlainValidator(_enum(CallbackMode))] = CallbackMode.QUEUE  # queue | ticket
    min_wait_before_offer: Duration = 20.0
    offer_threshold: Duration = 60.0
    reoffer_interval: Annotated[float, PlainValidator(_duration(0.0, above=True))] = 30.0
    allow_other_number: Bool = True
    abandon_callback_after: Annotated[float | None, PlainValidator(_optional_duration)] = None
    callback_delay: Duration = 0.0
    max_attempts: Annotated[int, PlainValidator(_int_range(1, 3))] = 1
    sec_between_retries: Duration = 300.0
    give_up_on_busy: Bool = False
    vip_on_retry: Annotated[int, PlainValidator(_int_range(0, None))] = 0
    max_age: Annotated[float, PlainValidator(_duration(0.0, 72 * 3600.0, above=True, hi_text="72h"))] = 72 * 3600.0
    dispatch: Annotated[DispatchPolicy, PlainValidator(_enum(DispatchPolicy))] = DispatchPolicy.ALWAYS
    max_callback_agent_share: Annotated[float, PlainValidator(_share)] = 1.0
    order: Annotated[CallbackOrder, PlainValidator(_enum(CallbackOrder))] = CallbackOrder.KEEP_PLACE
    random_seed: Annotated[int, PlainValidator(_whole)] = 0
    customer_ring_timeout: Annotated[float, PlainValidator(_duration(5.0, 120.0))] = 30.0
    caller_id: Annotated[str, PlainValidator(_caller_id)] = ""
    amd: Bool = False
    voicemail_message: Annotated[str | None, PlainValidator(_optional_prompt)] = None
    allow_duplicate_numbers: Bool = False
    max_per_number_per_day: Annotated[int, PlainValidator(_int_range(0, 100))] = 0
    cancel_when_served_by_phone: Bool = True

    @model_validator(mode="after")
    def _attempts_fit_in_max_age(self) -> CallbackConfig:
        """A callback expires `max_age` after its promise; attempt n cannot start before
        `callback_delay + (n - 1) * sec_between_retries`. Timings that leave no room lose promises."""
        delay, age, gap = self.callback_delay, self.max_age, self.sec_between_retries
        if delay >= age:
            raise bad_key(
                "callback_delay",
                f"is {format_duration(delay)}, not shorter than max_age {format_duration(age)}: every callback "
                "would expire before it may be dialled",
            )
        fit = self.max_attempts if gap <= 0 else min(self.max_attempts, math.ceil((age - delay) / gap))
        if fit < self.max_attempts:
            after = f"callback_delay {format_duration(delay)}, then " if delay else ""
            fits = "1 attempt fits" if fit == 1 else f"{fit} attempts fit"
            raise bad_key(
                "max_attempts",
                f"is {self.max_attempts}, but only {fits} "
                f"before max_age {format_duration(age)} ({after}sec_between_retries {format_duration(gap)} between "
                "attempts): the later ones could never be made; lower max_attempts or sec_between_retries, "
                "or raise max_age",
            )
        return self

    def to_settings(self) -> CallbackSettings:
        return CallbackSettings(**{name: getattr(self, name) for name in CallbackConfig.model_fields})


def _regions(value: object) -> tuple[str, ...]:
    out: list[str] = []
    for item in _string_list(value):
        code = region_code(item)
        if code not in out:
            out.append(code)
    return tuple(out)


def _number_types(value: object) -> tuple[str, ...]:
    out: list[str] = []
    for item in _string_list(value):
        name = item.strip().lower() if isinstance(item, str) else ""
        if name not in NUMBER_TYPES:
            allowed = ", ".join(NUMBER_TYPES)
            raise bad(f'"{item}" is not a number type; allowed: {allowed}{suggest(name, NUMBER_TYPES)}')
        if name not in out:
            out.append(name)
    return tuple(out)


def _number_patterns(value: object) -> tuple[str, ...]:
    """Block/allow list entries: exact numbers in canonical E.164 form, or prefixes ending in "*".

    Callers are matched by their E.164 form (app/core/eligibility.py), so an exact entry written
    otherwise ("+4407400123456", the trunk 0 kept) or not a valid number could never match: refused.
    Prefixes are only checked for their shape."""
    out: list[str] = []
    for item in _string_list(value):
        if not isinstance(item, str) or not re.fullmatch(r"\+\d{1,15}\*?", item.strip()):
            raise bad(
                f'{_show(item)} is not an E.164 number like "+4532123456" or a prefix like "+4590*" (quote it in YAML)'
            )
        entry = item.strip()
        if not entry.endswith("*"):
            _exact_number(entry)
        out.append(entry)
    return tuple(out)


def _exact_number(entry: str) -> None:
    """Refuse an exact list entry that no caller's number (always E.164) can ever equal."""
    try:
        parsed = phonenumbers.parse(entry, None)
    except phonenumbers.NumberParseException:
        parsed = None
    if parsed is None or not phonenumbers.is_valid_number(parsed):
        raise bad(
            f'"{entry}" is not a valid phone number, so it would never match a caller (such numbers are '
            'refused as invalid anyway); give the full number with its country code, or a prefix like "+4590*"'
        )
    canonical = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    if canonical != entry:
        raise bad(
            f'"{entry}" is not in the E.164 form callers are matched in, so it would never match; '
            f'did you mean "{canonical}"?'
        )


def _show(item: object) -> str:
    return f'"{item}"' if isinstance(item, str) else str(item)


class EligibilityConfig(_Model):
    allowed_regions: Annotated[tuple[str, ...], PlainValidator(_regions)] = ("DK",)
    allowed_types: Annotated[tuple[str, ...], PlainValidator(_number_types)] = (
        "mobile",
        "fixed_line",
        "fixed_line_or_mobile",
    )
    blocklist: Annotated[tuple[str, ...], PlainValidator(_number_patterns)] = ()
    allowlist: Annotated[tuple[str, ...], PlainValidator(_number_patterns)] = ()

    def to_settings(self) -> EligibilityRules:
        return EligibilityRules(
            allowed_regions=self.allowed_regions,
            allowed_types=self.allowed_types,
            blocklist=self.blocklist,
            allowlist=self.allowlist,
        )


class AnnounceConfig(_Model):
    position: Bool = False
    estimated_wait: Bool = False
    interval: Annotated[float, PlainValidator(_duration(0.0, above=True))] = 60.0

    def to_settings(self) -> AnnounceSettings:
        return AnnounceSettings(position=self.position, estimated_wait=self.estimated_wait, interval=self.interval)


def _announce(value: object) -> str | None:
    """A prompt name, or off (YAML's `off`/`false` too): no announcement."""
    if value is None or value is False or (isinstance(value, str) and value.strip().lower() in ("off", "none", "")):
        return None
    return _optional_prompt(value)


_recording_format = _pattern("|".join(RECORDING_FORMATS), f"allowed: {', '.join(RECORDING_FORMATS)}", lower=True)


class RecordingConfig(_Model):
    """How recorded calls are stored (queue `record_calls`, and campaigns of the queue)."""

    format: Annotated[str, PlainValidator(_recording_format)] = "wav"
    retention: Annotated[float, PlainValidator(_duration(3600.0, 3650 * 86400.0))] = 30 * 86400.0
    # a prompt heard before a recorded conversation (`recording_notice` is shipped), or off
    announce: Annotated[str | None, PlainValidator(_announce)] = None

    def to_settings(self) -> RecordingSettings:
        return RecordingSettings(format=self.format, retention=self.retention, announce=self.announce)


class CampaignRecordingConfig(_Model):
    """A campaign's recorded calls: stored in its queue's format and retention; the announcement
    is the campaign's own when given (a prompt name, or off), else its queue's."""

    announce: Annotated[str | None, PlainValidator(_announce)] = None

    def announce_setting(self) -> str | None:
        """CampaignSettings.recording_announce: None when unset (the queue's), "" when off."""
        if "announce" not in self.model_fields_set:
            return None
        return self.announce or ""


class QueueConfig(_Model):
    display_name: Text = ""
    service_level: Duration = 20.0
    # Bounded where a larger figure can only be a typo ("100000d"): an agent's phone ringing past
    # ten minutes, or an hour's wrap-up after every call, serves no caller.
    ring_timeout: Annotated[float, PlainValidator(_duration(0.0, 600.0, above=True))] = 15.0
    max_agent_refusals: Annotated[int, PlainValidator(_int_range(1, 10))] = 1
    wrap_up: Annotated[float, PlainValidator(_duration(0.0, 3600.0))] = 10.0
    max_wait_after_close: Duration = 3600.0
    hours: HoursConfig | None = None
    callback: CallbackConfig = Field(default_factory=CallbackConfig)
    eligibility: EligibilityConfig = Field(default_factory=EligibilityConfig)
    announce: AnnounceConfig = Field(default_factory=AnnounceConfig)
    auto_answer_agents: Bool = False
    record_calls: Bool = False
    recording: RecordingConfig = Field(default_factory=RecordingConfig)

    def to_settings(self, name: str) -> QueueSettings:
        return QueueSettings(
            name=name,
            display_name=self.display_name,
            service_level=self.service_level,
            ring_timeout=self.ring_timeout,
            max_agent_refusals=self.max_agent_refusals,
            wrap_up=self.wrap_up,
            max_wait_after_close=self.max_wait_after_close,
            hours=self.hours.to_settings() if self.hours is not None else None,
            callback=self.callback.to_settings(),
            eligibility=self.eligibility.to_settings(),
            announce=self.announce.to_settings(),
            auto_answer_agents=self.auto_answer_agents,
            record_calls=self.record_calls,
            recording=self.recording.to_settings(),
        )


# --- agents -------------------------------------------------------------------------------------


def _skills(value: object) -> dict[str, int]:
    """A list of queue names (penalty 0) or a mapping queue -> penalty (whole number >= 0)."""
    name_check = _pattern(_NAME_RE, "")
    skills: dict[str, int] = {}
    if value is None:
        return skills
    if isinstance(value, list | tuple):
        pairs: list[tuple[object, object]] = [(item, 0) for item in value]
    elif isinstance(value, dict):
        pairs = list(value.items())
    else:
        raise bad("expected a list of queue names or a mapping queue: penalty")
    for queue, penalty in pairs:
        try:
            name = name_check(queue)
        except PydanticCustomError:
            raise bad(f"{_show(queue)} is not a queue name") from None
        if name in skills:
            raise bad(f'queue "{name}" is listed twice')
        if isinstance(penalty, bool) or not isinstance(penalty, int | None) or (penalty or 0) < 0:
            raise bad(f'the penalty for "{name}" is {_show(penalty)}; allowed a whole number 0 or more')
        skills[name] = penalty or 0
    return skills


class AgentConfig(_Model):
    name: Text = ""
    password: Secret
    skills: Annotated[dict[str, int], PlainValidator(_skills)] = Field(default_factory=dict)
    auto_answer: Bool = False

    def to_settings(self, agent_id: str) -> AgentSettings:
        return AgentSettings(
            id=agent_id, name=self.name, skills=tuple(self.skills.items()), auto_answer=self.auto_answer
        )


# --- dialler campaigns --------------------------------------------------------------------------


class CallingHoursConfig(_Model):
    """Weekly calling hours in the contact's local time (no time zone of their own)."""

    mon: DaySpec = ()
    tue: DaySpec = ()
    wed: DaySpec = ()
    thu: DaySpec = ()
    fri: DaySpec = ()
    sat: DaySpec = ()
    sun: DaySpec = ()
    exceptions: dict[DateKey, DaySpec] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _opens_sometime(self) -> CallingHoursConfig:
        """Hours that never open would leave the dialler nothing to do but look again every day;
        an admin who wants no calls for now means a pause, which also shows on the live page."""
        if not any(getattr(self, d) for d in DAYS) and not any(self.exceptions.values()):
            raise bad_plain(
                "are closed every day, so no contact could ever be called: give at least one day hours. "
                "To stop dialling for now, pause the campaign instead (state: paused, or its pause button)"
            )
        return self

    def to_settings(self, timezone: str) -> OpeningHours:
        return OpeningHours(
            timezone=timezone,
            weekly=tuple(getattr(self, d) for d in DAYS),
            exceptions=tuple(sorted(self.exceptions.items())),
        )


class RetryConfig(_Model):
    busy: Duration = 600.0
    no_answer: Duration = 3600.0
    machine: Duration = 7200.0
    failed: Duration = 1800.0


def _number_between(low: float, high: float, allowed: str) -> Callable[[object], float]:
    """A plain number within [low, high]; `allowed` is the admin's hint when it is not."""

    def check(value: object) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise bad(allowed)
        try:
            number = float(value)
        except ValueError:
            raise bad(allowed) from None
        if math.isnan(number) or not low <= number <= high:
            raise bad(allowed)
        return number

    return check


_lines = _number_between(1.0, 3.0, "allowed a number from 1.0 to 3.0, e.g. 1.5")


def _percent(low: float, high: float, example: str) -> Callable[[object], float]:
    """A share written as "3%" or 0.03, within (low, high] (low excluded only when it is 0 and high
    is the cap: a cap of 0 would never dial)."""
    allowed = f"allowed {100 * low:g}% to {100 * high:g}%, written as {example} or {float(example[:-1]) / 100:g}"

    def check(value: object) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise bad(allowed)
        text = str(value).strip()
        try:
            share = float(text[:-1]) / 100 if text.endswith("%") else float(text)
        except ValueError:
            raise bad(allowed) from None
        if math.isnan(share) or not low <= share <= high:
            hint = " (a share: 3% is 0.03, not 3)" if not text.endswith("%") and share > 1 else ""
            raise bad(allowed + hint)
        return share

    return check


_dial_level = _number_between(1.0, 10.0, "allowed a number from 1.0 to 10.0 (calls in flight per agent), e.g. 4")


PREDICTIVE_ONLY = ("abandon_cap", "amd_false_positive", "max_dial_level")


def _dispositions(value: object) -> tuple[str, ...]:
    check = _pattern(r"[a-z0-9][a-z0-9_]*", "")
    out: list[str] = []
    for item in _string_list(value):
        try:
            name = check(item)
        except PydanticCustomError:
            raise bad(f"{_show(item)} is not a disposition name (lower case letters, digits and '_')") from None
        if name in out:
            raise bad(f'"{name}" is listed twice')
        out.append(name)
    if not out:
        raise bad("list at least one disposition, e.g. [sale, not_interested, call_back]")
    return tuple(out)


class CampaignConfig(_Model):
    """One dialler campaign: its contacts are uploaded to the store (API or holdfast contacts import)."""

    name: Text = ""
    mode: Annotated[CampaignMode, PlainValidator(_enum(CampaignMode))] = CampaignMode.PREVIEW
    queue: QueueName
    state: Annotated[CampaignState, PlainValidator(_enum(CampaignState))] = CampaignState.RUNNING
    timezone: Annotated[str, PlainValidator(timezone_name)] = "UTC"
    active_from: Annotated[str, PlainValidator(_date_key)] | None = None
    active_to: Annotated[str, PlainValidator(_date_key)] | None = None
    calling_hours: CallingHoursConfig | None = None
    max_attempts: Annotated[int, PlainValidator(_int_range(1, 20))] = 3
    retry: RetryConfig = Field(default_factory=RetryConfig)
    ring_time: Annotated[float, PlainValidator(_duration(MIN_RING_TIME, 120.0))] = 25.0
    caller_id: Annotated[str, PlainValidator(_caller_id)] = ""
    record_calls: Bool = False
    recording: CampaignRecordingConfig = Field(default_factory=CampaignRecordingConfig)
    order: Annotated[int, PlainValidator(_int_range(0, 1000))] = 0
    parity: Annotated[int, PlainValidator(_int_range(1, 100))] = 1
    agent_share: Annotated[float, PlainValidator(_share)] = 1.0
    inbound_first: Bool = True
    lines_per_agent: Annotated[float, PlainValidator(_lines)] = 1.0
    review_time: Annotated[float, PlainValidator(_duration(0.0, 600.0))] = 0.0
    reserve_for: Annotated[float, PlainValidator(_duration(0.0, 7 * 86400.0))] = 1800.0
    dispositions: Annotated[tuple[str, ...], PlainValidator(_dispositions)] = (
        "sale",
        "not_interested",
        "call_back",
        "wrong_number",
    )
    information_prompt: Annotated[
        str, PlainValidator(_pattern(r"[A-Za-z0-9][A-Za-z0-9_./-]*", "expected a prompt name"))
    ] = "dialler_information"
    # the number the information message says to call back; "": caller_id
    information_number: Annotated[str, PlainValidator(_caller_id)] = ""
    amd: Bool = False
    amd_tuning: AmdTuning = Field(default_factory=AmdTuning)
    machine_message: Annotated[str | None, PlainValidator(_optional_prompt)] = None
    window: Annotated[int, PlainValidator(_int_range(1, 500))] = 20
    eligibility: EligibilityConfig = Field(default_factory=EligibilityConfig)
    # predictive mode: abandoned / live answers over any 24 h and 30 days (UK Ofcom, US FTC: 3 %)
    abandon_cap: Annotated[float, PlainValidator(_percent(0.001, 0.1, "3%"))] = 0.03
    # predictive mode: the share of AMD machine verdicts assumed to be people (counted as abandoned)
    amd_false_positive: Annotated[float, PlainValidator(_percent(0.0, 0.5, "2%"))] = 0.0
    max_dial_level: Annotated[float, PlainValidator(_dial_level)] = 4.0

    @model_validator(mode="after")
    def _predictive_settings_need_predictive_mode(self) -> CampaignConfig:
        misplaced = [k for k in PREDICTIVE_ONLY if k in self.model_fields_set]
        if misplaced and self.mode is not CampaignMode.PREDICTIVE:
            raise bad(
                f"{', '.join(misplaced)} only apply to mode: predictive (this campaign is {self.mode.value}); "
                "remove them or set mode: predictive"
            )
        return self

    @model_validator(mode="after")
    def _abandoning_modes_show_a_number(self, info: ValidationInfo) -> CampaignConfig:
        """Power and predictive calls can be abandoned (no agent within 2 s): the regulators (UK
        Ofcom) then want a caller ID presented and a number to call back said in the message.
        Not for a definition the store kept from before this rule (context STORED_DEFINITION): an
        upgrade must not stop the service on it; the service logs it at start-up instead."""
        if stored_definition(info):
            return self
        if self.abandons_without_caller_id:
            raise bad_key(
                "caller_id",
                f"is required in mode: {self.mode.value}: such a campaign abandons the calls no agent takes "
                "within 2 s, and an abandoned call must present a number and say one to call back (the "
                'information message); give the number to show, e.g. "+4533445566" (preview campaigns '
                "may leave it out)",
            )
        return self

    @model_validator(mode="after")
    def _detection_leaves_time_for_an_agent(self, info: ValidationInfo) -> CampaignConfig:
        """The 2 s to an agent count from the end of the contact's greeting, and AMD() says HUMAN
        only after_greeting_silence after it: a silence that eats the 2 s abandons every person."""
        if stored_definition(info) or self.mode is CampaignMode.PREVIEW or not self.amd:
            return self
        silence = self.amd_tuning.after_greeting_silence
        if silence is not None and silence > AFTER_GREETING_SILENCE_MAX_MS:
            raise bad_key(
                "amd_tuning.after_greeting_silence",
                f"is {format_duration(silence / 1000)}, "
                f"at most {format_duration(AFTER_GREETING_SILENCE_MAX_MS / 1000)} in mode: {self.mode.value}: "
                "a contact must hear an agent within 2 s of the end of their greeting, and detection "
                "waits this long after it before it says the contact is a person, "
                "which would leave an agent no time (the default, amd.conf's, is 0.8s)",
            )
        return self

    @property
    def abandons_without_caller_id(self) -> bool:
        """A power or predictive campaign (its calls may be abandoned) with no number to present."""
        return self.mode is not CampaignMode.PREVIEW and not self.caller_id

    @model_validator(mode="after")
    def _dates_in_order(self) -> CampaignConfig:
        if self.active_from and self.active_to and self.active_to < self.active_from:
            raise bad(
                f"active_to {self.active_to} is before active_from {self.active_from}; the campaign would never run"
            )
        return self

    def to_settings(self, campaign_id: str) -> CampaignSettings:
        return CampaignSettings(
            id=campaign_id,
            queue=self.queue,
            name=self.name,
            mode=self.mode,
            state=self.state,
            timezone=self.timezone,
            active_from=self.active_from,
            active_to=self.active_to,
            calling_hours=self.calling_hours.to_settings(self.timezone) if self.calling_hours else None,
            max_attempts=self.max_attempts,
            retry=RetryIntervals(self.retry.busy, self.retry.no_answer, self.retry.machine, self.retry.failed),
            ring_time=self.ring_time,
            caller_id=self.caller_id,
            record_calls=self.record_calls,
            recording_announce=self.recording.announce_setting(),
            order=self.order,
            parity=self.parity,
            agent_share=self.agent_share,
            inbound_first=self.inbound_first,
            lines_per_agent=self.lines_per_agent,
            review_time=self.review_time,
            reserve_for=self.reserve_for,
            dispositions=self.dispositions,
            information_prompt=self.information_prompt,
            information_number=_home_digits(
                self.information_number or self.caller_id, self.eligibility.allowed_regions
            ),
            amd=self.amd,
            amd_args=self.amd_tuning.dial_arguments(),
            amd_analysis_time=self.amd_tuning.analysis_time(),
            amd_after_greeting_silence=self.amd_tuning.silence_before_human(),
            machine_message=self.machine_message,
            window=self.window,
            eligibility=self.eligibility.to_settings(),
            abandon_cap=self.abandon_cap,
            amd_false_positive=self.amd_false_positive,
            max_dial_level=self.max_dial_level,
        )


# --- the file -----------------------------------------------------------------------------------


def _some_queue(queues: dict[str, QueueConfig]) -> dict[str, QueueConfig]:
    if not queues:
        raise bad("define at least one queue")
    return queues


def _one_queue_per_number(value: object) -> object:
    """4000 and "4000" are one dialled number: refuse the mapping rather than keep the last silently."""
    if not isinstance(value, dict):
        return value
    queues: dict[str, list[object]] = {}
    for number, queue in value.items():
        queues.setdefault(str(number).strip(), []).append(queue)
    for number, targets in queues.items():
        if len(targets) > 1:
            listed = " and ".join(str(t) for t in targets)
            raise PydanticCustomError(
                "holdfast_key",
                "{reason}",
                {"key": number, "reason": f"is given {len(targets)} times (for {listed}); a number goes to one queue"},
            )
    return value


class HoldfastConfig(_Model):
    """A validated configuration file. `core()` gives the engine's settings."""

    asterisk: AsteriskConfig
    service: ServiceConfig = Field(default_factory=ServiceConfig)
    inbound: Annotated[dict[DialledNumber, QueueName], BeforeValidator(_one_queue_per_number)] = Field(
        default_factory=dict
    )
    feature_codes: FeatureCodes = Field(default_factory=FeatureCodes)
    prompts: PromptsConfig = Field(default_factory=PromptsConfig)
    queues: Annotated[dict[QueueName, QueueConfig], AfterValidator(_some_queue)]
    agents: dict[AgentId, AgentConfig] = Field(default_factory=dict)
    campaigns: dict[QueueName, CampaignConfig] = Field(default_factory=dict)
    # Who may use the live page and the API (app/config/users.py, decided in app/web/access.py).
    agent_groups: AgentGroups = Field(default_factory=dict)
    users: dict[UserName, UserConfig] = Field(default_factory=dict)
    web: WebConfig = Field(default_factory=WebConfig)
    notifications: NotificationsConfig = Field(default_factory=NotificationsConfig)  # app/config/notifications.py

    @model_validator(mode="after")
    def _history_outlives_recordings(self) -> HoldfastConfig:
        keep = self.service.keep_history
        longest = max(self.queues.items(), key=lambda item: item[1].recording.retention, default=None)
        if keep is not None and longest is not None and keep < longest[1].recording.retention + 86400.0:
            name, queue = longest
            raise bad_plain(
                f"service.keep_history {format_duration(keep)} must be a day longer than "
                f"queues.{name}.recording.retention {format_duration(queue.recording.retention)}: a recording "
                "is found for deletion by its line in the event log"
            )
        return self

    def core(self) -> CoreSettings:
        return CoreSettings(
            queues=tuple(q.to_settings(name) for name, q in self.queues.items()),
            agents=tuple(a.to_settings(agent_id) for agent_id, a in self.agents.items()),
            campaigns=tuple(c.to_settings(cid) for cid, c in self.campaigns.items()),
            menu_timeout=self.service.menu_timeout,
            max_wrap_up_extension=self.service.max_wrap_up_extension,
        )
