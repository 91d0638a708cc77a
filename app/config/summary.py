"""A human summary of a validated configuration, for `holdfast check-config`.

Theory of operation: one line per queue (hours and callback settings, and whether callbacks keep
their place, which decides whether the offer promises it), one per agent, one per inbound number,
so an admin can check at a glance that the file says what they meant. Secrets are never printed,
only whether they are set; a `${VAR}` secret whose variable is not set where the file is checked
(`check_config`) is a note at the end, not an error: `holdfast run` is where it must be set.
"""

from __future__ import annotations

from pydantic import SecretStr

from app.config.durations import format_duration as dur
from app.config.loader import unset_secrets
from app.config.promise import place_promise
from app.config.schema import DAYS, CallbackConfig, HoldfastConfig, HoursConfig, QueueConfig, UnsetSecret
from app.config.users import campaign_filter_notes
from app.core.settings import OfferMode, TimeRange

__all__ = ["summarize"]


def summarize(cfg: HoldfastConfig) -> str:
    a, s = cfg.asterisk, cfg.service
    if a.servers:  # several Asterisk servers: one line each, with the agents registered there
        servers = a.server_list()
        lines = [
            f'Asterisk: {len(servers)} servers, Stasis app "{a.app}", agents dialled as {a.agent_endpoint_format} '
            f"(on another server: {a.peer_endpoint_format}), customers as {a.trunk_endpoint_format}",
        ]
        for server in servers:
            agents = "every agent no other server lists" if server.agents is None else ", ".join(sorted(server.listed))
            lines.append(
                f"  {server.name}: ARI {server.ari_url}, SIP registrations at {server.sip_host}:{server.sip_port}, "
                f"agents: {agents or '(none)'}"
            )
    else:
        lines = [
            f'Asterisk: ARI {a.ari_url}, Stasis app "{a.app}", agents dialled as {a.agent_endpoint_format}, '
            f"customers as {a.trunk_endpoint_format}, SIP registrations at {a.sip_host}:{a.sip_port}",
        ]
    lines += [
        f"Service: HTTP {s.http_host}:{s.http_port}, data in {s.data_dir}, language {s.language}, "
        f"log level {s.log_level}, admin token {_token(s.admin_token)}, "
        f"menu timeout {dur(s.menu_timeout)}",
        f"Queues ({len(cfg.queues)}):",
    ]
    lines += [f"  {_queue(name, q)}" for name, q in cfg.queues.items()]
    lines.append(f"Agents ({len(cfg.agents)}):")
    for agent_id, agent in cfg.agents.items():
        skills = ", ".join(f"{q} ({p})" for q, p in agent.skills.items()) or "no skills"
        label = f"{agent_id} {agent.name}".strip()
        lines.append(f"  {label}: {skills}")
    lines.append(f"Inbound numbers ({len(cfg.inbound)}):")
    lines += [f"  {number} -> {queue}" for number, queue in cfg.inbound.items()]
    fc = cfg.feature_codes
    lines.append(
        f"Feature codes: ready {fc.ready}, pause {fc.pause}, logout {fc.logout}, extend wrap-up {fc.extend_wrap_up}"
    )
    if cfg.prompts.dir or cfg.prompts.overrides:
        lines.append(
            f"Prompts: folder {cfg.prompts.dir or '(none)'}, {len(cfg.prompts.overrides)} override(s)"
            + (f": {', '.join(cfg.prompts.overrides)}" if cfg.prompts.overrides else "")
        )
    lines += _unset_notes(cfg)
    lines += [f"Note: {text}" for text in campaign_filter_notes(cfg.users, cfg.campaigns)]
    return "\n".join(lines)


def _token(token: SecretStr | None) -> str:
    if token is None:
        return "not set (API open)"
    if isinstance(token, UnsetSecret):
        return f"from ${{{token.variable}}}"
    return "set"


def _unset_notes(cfg: HoldfastConfig) -> list[str]:
    """One note per variable (several keys may name it), in file order."""
    keys: dict[str, list[str]] = {}
    empty: dict[str, bool] = {}
    for path, secret in unset_secrets(cfg):
        keys.setdefault(secret.variable, []).append(path)
        empty[secret.variable] = secret.empty
    return [
        f"note: ${{{var}}} is {'empty' if empty[var] else 'not set'} ({', '.join(paths)}); `holdfast run` needs it"
        for var, paths in keys.items()
    ]


def _queue(name: str, q: QueueConfig) -> str:
    title = f'{name} "{q.display_name}"' if q.display_name else name
    parts = [
        _hours(q.hours),
        _callback(q.callback),
        *([_promise(q.callback)] if q.callback.enabled else []),
        f"SLA {dur(q.service_level)}, agent ring {dur(q.ring_timeout)}, wrap-up {dur(q.wrap_up)}",
        f"callback numbers from {'/'.join(q.eligibility.allowed_regions) or 'nowhere'}",
    ]
    return f"{title}: " + "; ".join(parts)


def _ranges(day: tuple[TimeRange, ...]) -> str:
    if not day:
        return "closed"
    return ",".join(f"{_hhmm(r.start)}-{_hhmm(r.end)}" for r in day)


def _hhmm(seconds: int) -> str:
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}"


def _hours(hours: HoursConfig | None) -> str:
    if hours is None:
        return "always open"
    groups: list[tuple[int, int, str]] = []  # first day, last day, ranges
    for i, day in enumerate(DAYS):
        text = _ranges(getattr(hours, day))
        if groups and groups[-1][2] == text:
            groups[-1] = (groups[-1][0], i, text)
        else:
            groups.append((i, i, text))
    names = [d.capitalize() for d in DAYS]
    week = ", ".join(
        f"{names[first]}{'-' + names[last] if last != first else ''} {text}" for first, last, text in groups
    )
    extra = f" (+{len(hours.exceptions)} date exceptions)" if hours.exceptions else ""
    return f"hours {hours.timezone} {week}{extra}"


def _callback(c: CallbackConfig) -> str:
    if not c.enabled:
        return "callback off"
    if c.offer_mode is OfferMode.ON_ARRIVAL:
        offer = "offered on arrival"
    else:
        offer = (
            f"offered after {dur(c.min_wait_before_offer)} if wait > {dur(c.offer_threshold)}, "
            f"again every {dur(c.reoffer_interval)}"
        )
    attempts = f"{c.max_attempts} attempt{'s' if c.max_attempts != 1 else ''}"
    if c.max_attempts > 1:
        attempts += f" {dur(c.sec_between_retries)} apart"
    text = (
        f"callback on key {c.key}, {offer}, {attempts}, max age {dur(c.max_age)}, "
        f"dispatch {c.dispatch.value}, order {c.order.value}"
    )
    if c.max_callback_agent_share < 1:
        text += f", at most {c.max_callback_agent_share:.0%} of agents"
    if c.abandon_callback_after is not None:
        text += f", auto-callback on hang-up after {dur(c.abandon_callback_after)}"
    return text


def _promise(c: CallbackConfig) -> str:
    promise = place_promise(c)
    if promise.kept:
        return "callbacks keep their place"
    return f"callbacks do NOT keep their place ({', '.join(promise.breaks)}): the offer omits the promise"
