"""The `notifications:` section: channels, message templates, routes per queue, retry policy.

Theory of operation: a notification (app/core Notify: closed, missed_callback, ...) is routed by
`routes` (a campaign's events by the campaign's own entry if it has one, else per queue, `"*"`
for every queue) to channels: `sms` (the HTTP SMS gateway, to the caller's number when it can
take SMS) or the name of a webhook under `webhooks`. The outbox
(app/notify) renders the message when the step is committed and delivers it with retries:
`retry.first_delay` doubling up to `retry.max_delay`, until `retry.expire_after` has passed since
the notification was made; then it is marked failed (kept, with its last error). Placeholders in
templates and in the gateway's body and headers are written `%name%` (see docs/settings.md).
Errors name their key path like the rest of the file (pydantic locations).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, PlainValidator, SecretStr, ValidationInfo, model_validator

from app.config.durations import DurationError, parse_duration
from app.config.errors import bad, one_of
from app.config.places import language_code, region_code, timezone_name
from app.config.secrets import UnsetSecret, read_secret

EVENTS = (
    "closed",
    "missed_callback",
    "callback_expired",
    "callback_removed",
    "callback_requested",
    "abandoned",
    "abandoned_call",
    "campaign_finished",
    "dropped",
    "ticket",
)
# Template names besides the events: a callback_requested without an estimate (nobody serves the
# queue yet) uses this one, so no message says "at about ." with the time left out.
NO_TIME = "callback_requested_no_time"
# A callback expected on a later day than the confirmation (the queue closed meanwhile, or a long
# wait in the evening) names that day too: "at about 08:05" alone would read as today.
ANOTHER_DAY = "callback_requested_another_day"
TEMPLATES = (*EVENTS, NO_TIME, ANOTHER_DAY)
SMS = "sms"
PLACEHOLDER = re.compile(r"%([a-z_]+)%")
# What a message template may name; the gateway's body and headers also take %to%, %message% and %id%.
MESSAGE_FIELDS = (
    "number",
    "queue",
    "queue_name",
    "event",
    "request_id",
    "time",
    "date",
    "arrived_time",
    "waited",
    "waited_minutes",
    "expected_time",
    "expected_date",
    "campaign",
)
GATEWAY_FIELDS = ("to", "message", "id")
_NAME_RE = r"[a-z][a-z0-9_-]*"
# `${VAR}` inside a header's text ("Bearer ${SMS_TOKEN}"); a whole secret may also be `env:VAR`.
_HEADER_REF = re.compile(r"\$\{\s*[A-Za-z_][A-Za-z0-9_]*\s*\}")

DEFAULT_TEMPLATES: dict[str, dict[str, str]] = {
    "en": {
        "closed": "We are closed now and could not take your call to %queue_name% at %arrived_time%. "
        "Please call again when we are open.",
        "missed_callback": "We tried to call you back from %queue_name% but could not reach you.",
        "callback_expired": "We could not call you back from %queue_name% in time. Please call us again.",
        "callback_removed": "Your callback from %queue_name% was cancelled. Please call us again if you still need us.",
        "callback_requested": "We will call you back from %queue_name% at about %expected_time%.",
        NO_TIME: "We will call you back from %queue_name% as soon as we can.",
        ANOTHER_DAY: "We will call you back from %queue_name% on %expected_date% at about %expected_time%.",
        "abandoned": "You waited %waited_minutes% min for %queue_name% at %arrived_time%. We are sorry.",
        "abandoned_call": "We called you from %queue_name% at %time%, but nobody was free to take the call. "
        "We are sorry.",
        "ticket": "Missed call from %number%",
        "campaign_finished": "Campaign %campaign% has finished: no contact is left to call (%time%).",
        "dropped": "Your call to %queue_name% was cut off by a fault on our side at %time%. We are sorry; "
        "please call again.",
    },
    "da": {
        "closed": "Vi har lukket og kunne ikke tage dit opkald til %queue_name% kl. %arrived_time%. "
        "Ring igen, når vi har åbent.",
        "missed_callback": "Vi forsøgte at ringe dig op fra %queue_name%, men fik ikke fat i dig.",
        "callback_expired": "Vi nåede ikke at ringe dig op fra %queue_name%. Ring venligst igen.",
        "callback_removed": "Dit opkald fra %queue_name% er aflyst. Ring venligst igen, "
        "hvis du stadig har brug for os.",
        "callback_requested": "Vi ringer dig op fra %queue_name% omkring kl. %expected_time%.",
        NO_TIME: "Vi ringer dig op fra %queue_name% så hurtigt vi kan.",
        ANOTHER_DAY: "Vi ringer dig op fra %queue_name% den %expected_date% omkring kl. %expected_time%.",
        "abandoned": "Du ventede %waited_minutes% min på %queue_name% kl. %arrived_time%. Vi beklager.",
        "abandoned_call": "Vi ringede til dig fra %queue_name% kl. %time%, men ingen var ledig til at tage "
        "samtalen. Vi beklager.",
        "ticket": "Ubesvaret opkald fra %number%",
        "campaign_finished": "Kampagnen %campaign% er færdig: der er ingen kontakter tilbage at ringe til (%time%).",
        "dropped": "Dit opkald til %queue_name% blev afbrudt af en fejl hos os kl. %time%. Vi beklager; "
        "ring venligst igen.",
    },
}


def _duration(value: object) -> float:
    try:
        seconds = parse_duration(value)
    except DurationError as error:
        raise bad(str(error)) from None
    if seconds <= 0:
        raise bad("expected a duration above 0, like 30s")
    return seconds


def _url(value: object) -> str:
    if not isinstance(value, str) or urlsplit(value).scheme not in ("http", "https") or not urlsplit(value).hostname:
        raise bad('expected an http(s) URL like "https://crm.example.com/hooks/holdfast"')
    return value


def _text(value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise bad("expected text")
    return str(value)


def _placeholders(allowed: tuple[str, ...]) -> Any:
    def check(value: object) -> str:
        text = _text(value)
        unknown = sorted({name for name in PLACEHOLDER.findall(text) if name not in allowed})
        if unknown:
            raise bad(f"names unknown placeholder %{unknown[0]}%; allowed: {', '.join(f'%{a}%' for a in allowed)}")
        return text

    return check


_event = one_of(EVENTS, "events")


def _template_name(value: object) -> str:
    if value not in TEMPLATES:
        raise bad(f"allowed templates: {', '.join(TEMPLATES)}")
    return str(value)


def _method(value: object) -> str:
    text = _text(value).upper()
    if text not in ("POST", "PUT", "GET"):
        raise bad("allowed: POST, PUT, GET")
    return text


def _header(value: object, info: ValidationInfo) -> str | UnsetSecret:
    """A gateway header: placeholders as in the body, and `${VAR}` parts read from the environment
    as any secret is (app/config/secrets.py): a missing variable is an error naming the header for
    `holdfast run`, and only a note for `holdfast check-config`, where the header becomes the
    first unset variable's placeholder (a checked file is never run)."""
    text = _placeholders(GATEWAY_FIELDS)(value)
    values = {ref.group(0): read_secret(ref.group(0), info) for ref in _HEADER_REF.finditer(text)}
    unset = [secret for secret in values.values() if isinstance(secret, UnsetSecret)]
    if unset:
        return unset[0]
    return _HEADER_REF.sub(lambda m: values[m.group(0)].get_secret_value(), text)


Duration = Annotated[float, PlainValidator(_duration)]
Url = Annotated[str, PlainValidator(_url)]
Secret = Annotated[SecretStr, PlainValidator(read_secret)]
Template = Annotated[str, PlainValidator(_placeholders(MESSAGE_FIELDS))]
GatewayText = Annotated[str, PlainValidator(_placeholders(GATEWAY_FIELDS))]
EventName = Annotated[str, PlainValidator(_event)]
ChannelName = Annotated[str, PlainValidator(lambda v: _text(v))]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="before")
    @classmethod
    def _empty_is_defaults(cls, data: Any) -> Any:
        return {} if data is None else data


class RetryPolicy(_Model):
    first_delay: Duration = 5.0
    max_delay: Duration = 600.0
    expire_after: Duration = 24 * 3600.0

    def delay(self, attempts: int) -> float:
        """Seconds before the next try after `attempts` failed tries (1, 2, ...): doubling."""
        return min(self.max_delay, self.first_delay * 2.0 ** max(0, attempts - 1))


class WebhookConfig(_Model):
    url: Url
    secret: Secret
    timeout: Duration = 10.0
    verify_tls: bool = True


class SmsGatewayConfig(_Model):
    url: Url
    method: Annotated[str, PlainValidator(_method)] = "POST"
    headers: dict[str, Annotated[str, PlainValidator(_header)]] = Field(default_factory=dict)
    # JSON by default: placeholders are JSON-escaped; any other content type URL-encodes them.
    content_type: str = "application/json"
    body: GatewayText = '{"to": "%to%", "text": "%message%", "reference": "%id%"}'
    timeout: Duration = 10.0
    verify_tls: bool = True
    region: Annotated[str, PlainValidator(region_code)] = "DK"  # how a number without a country code is read


class NotificationsConfig(_Model):
    # templates' language; default: service.language (the same codes)
    language: Annotated[str, PlainValidator(language_code)] | None = None
    timezone: Annotated[str, PlainValidator(timezone_name)] = "UTC"  # times in messages
    retry: RetryPolicy = Field(default_factory=RetryPolicy)
    webhooks: dict[Annotated[str, PlainValidator(lambda v: _text(v))], WebhookConfig] = Field(default_factory=dict)
    sms: SmsGatewayConfig | None = None
    templates: dict[str, dict[Annotated[str, PlainValidator(_template_name)], Template]] = Field(default_factory=dict)
    # campaign, queue (or "*") -> event -> channels ("sms" or a webhook's name)
    routes: dict[str, dict[EventName, list[ChannelName]]] = Field(default_factory=dict)

    def channels_for(self, queue: str, event: str, campaign: str | None = None) -> list[str]:
        """The channels `event` goes to: the campaign's own route (a campaign's events), else the
        queue's, else the "*" route."""
        for key in (campaign, queue, "*"):
            if key is None:
                continue
            route = self.routes.get(key)
            if route is not None and event in route:
                return list(route[event])
        return []

    def template(self, language: str, event: str) -> str | None:
        """The text for `event` in `language`: the exact code's, else its base language's
        (`da_DK` -> `da`, as prompts are chosen), else English; templates written in the file
        first, then the built-in ones."""
        for lang in dict.fromkeys((language, language.split("_")[0], "en")):
            text = self.templates.get(lang, {}).get(event) or DEFAULT_TEMPLATES.get(lang, {}).get(event)
            if text:
                return text
        return None

    @property
    def active(self) -> bool:
        return bool(self.routes)


def notifications_cross_check(
    data: dict[Any, Any], queue_names: list[str], campaign_names: Sequence[str] = ()
) -> list[tuple[str, str]]:
    """Routes naming unknown queues or campaigns, or unknown channels; ticket queues whose tickets
    reach no webhook (with the loader's other cross checks)."""
    section = data.get("notifications")
    found = _tickets_unrouted(data, section)
    if not isinstance(section, dict) or not isinstance(section.get("routes"), dict):
        return found
    webhooks = section.get("webhooks") if isinstance(section.get("webhooks"), dict) else {}
    channels = ([SMS] if section.get("sms") else []) + [str(w) for w in webhooks or {}]
    for queue, events in section["routes"].items():
        if str(queue) != "*" and str(queue) not in queue_names and str(queue) not in campaign_names:
            known = ", ".join(["*", *queue_names])
            if campaign_names:
                known += f"; campaigns: {', '.join(campaign_names)}"
            message = f'notifications.routes.{queue} names unknown queue "{queue}"; known: {known}'
            found.append(("notifications", message))
        for event, targets in events.items() if isinstance(events, dict) else ():
            for i, target in enumerate(targets if isinstance(targets, list) else []):
                if str(target) not in channels:
                    found.append(
                        (
                            "notifications",
                            f'notifications.routes.{queue}.{event}.{i} names unknown channel "{target}"; '
                            f"configured: {', '.join(channels) or 'none (set notifications.sms or webhooks)'}",
                        )
                    )
    return found


def _tickets_unrouted(data: dict[Any, Any], section: object) -> list[tuple[str, str]]:
    """A queue in callback.mode ticket promises the caller a callback that Holdfast never places:
    its `ticket` notification is all staff hear of it, so it must reach a webhook (a route to
    "sms" alone would text the caller "Missed call from" their own number). Routes are looked up
    as `channels_for` does: the queue's own `ticket` route, else the "*" one."""
    queues = data.get("queues")
    if not isinstance(queues, dict):
        return []
    notifications: dict[Any, Any] = section if isinstance(section, dict) else {}
    routes = notifications.get("routes")
    routes = routes if isinstance(routes, dict) else {}
    webhooks = notifications.get("webhooks")
    webhooks = webhooks if isinstance(webhooks, dict) else {}
    found = []
    for name, queue in queues.items():
        callback = queue.get("callback") if isinstance(queue, dict) else None
        if not isinstance(callback, dict) or callback.get("mode") != "ticket":
            continue
        route: object = next(
            (r["ticket"] for key in (str(name), "*") if isinstance(r := routes.get(key), dict) and "ticket" in r),
            [],
        )
        if not any(str(target) in webhooks for target in (route if isinstance(route, list) else [])):
            found.append(
                (
                    "notifications",
                    f"queues.{name}.callback.mode is ticket, but no webhook gets its tickets: add "
                    f'notifications.routes.{name}.ticket (or under "*") naming a webhook; without one a '
                    "caller is promised a callback that nobody hears of",
                )
            )
    return found
