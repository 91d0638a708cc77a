"""`make run`: a sandboxed Asterisk from asterisk-conf/ plus the service, for trying Holdfast out.

Secrets the example config reads from the environment are generated when unset and printed, so
a first run needs nothing but `make run`. Agent endpoints are generated from the config's agents,
so an agent is added in one place. The sandbox has no carrier: a "customer" softphone account
(app.sandbox.customer) places the callers' calls and receives every callback, whatever the number.
Ctrl-C stops the service, then Asterisk.
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import sys
import time
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from app import logs
from app.config import ConfigError, HoldfastConfig, load_config
from app.core.hours import is_open, next_change
from app.sandbox import (
    AgentEndpoint,
    AsteriskError,
    AsteriskInstance,
    AsteriskNotFound,
    CustomerAccount,
    find_asterisk,
    free_port_range,
    render_agent_endpoints,
    render_customer_endpoint,
)
from app.sandbox.customer import SANDBOX_FILE
from app.telephony.prompts import PromptBook, install_prompts

REPO = Path(__file__).resolve().parents[1]
ENV_REF = re.compile(r"\$\{([A-Z0-9_]+)\}|env:([A-Z0-9_]+)")
CUSTOMER_PASSWORD_ENV = "HOLDFAST_CUSTOMER_PASSWORD"
EXAMPLE_CALLER_ID = "+4520123456"  # a Danish mobile number: eligible under the example's rules
RTP_PORTS = 1000
RTP_PREFERRED_START = 10000
# A leg whose phone died without a BYE ends after a minute of no RTP; 30 min while the phone itself
# holds the call (asterisk-conf/README.md, "Dead legs"): the trunk, the agents and the sandbox's customer.
RTP_TIMEOUT = 60
RTP_TIMEOUT_HOLD = 1800


def _fill_missing_secrets(path: Path) -> dict[str, str]:
    """Generate a value for every ${VAR}/env:VAR the file names that the environment lacks."""
    made: dict[str, str] = {}
    text = "\n".join(re.sub(r"(^|\s)#.*", "", line) for line in path.read_text().splitlines())
    for match in ENV_REF.finditer(text):
        name = match.group(1) or match.group(2)
        if name not in os.environ:
            os.environ[name] = made[name] = secrets.token_urlsafe(12)
    return made


def sandbox_customer(made: dict[str, str]) -> CustomerAccount:
    """The customer softphone's account; its password is generated (and added to `made`) when unset."""
    if CUSTOMER_PASSWORD_ENV not in os.environ:
        os.environ[CUSTOMER_PASSWORD_ENV] = made[CUSTOMER_PASSWORD_ENV] = secrets.token_urlsafe(12)
    return CustomerAccount(os.environ[CUSTOMER_PASSWORD_ENV])


def sandbox_config(config: HoldfastConfig, customer: CustomerAccount) -> HoldfastConfig:
    """The settings as the sandbox runs them: callbacks ring the customer softphone, not the trunk
    (which leads nowhere here). Reloads keep this: the asterisk section needs a restart anyway."""
    asterisk = config.asterisk.model_copy(update={"trunk_endpoint_format": customer.endpoint_format})
    return config.model_copy(update={"asterisk": asterisk})


def agent_endpoints(config: HoldfastConfig) -> list[AgentEndpoint]:
    """The agents of the YAML as Asterisk endpoints: an agent is added in one place."""
    return [
        AgentEndpoint(agent_id, agent.password.get_secret_value(), agent.name or agent_id)
        for agent_id, agent in config.agents.items()
    ]


def instance_name(sip_port: int) -> str:
    """The sandbox Asterisk's instance directory name: one per SIP port, so sandboxes on other ports
    run side by side, and a run on the same port ends what a killed earlier one left behind."""
    return f"dev-{sip_port}"


def sandbox_asterisk(config: HoldfastConfig, customer: CustomerAccount) -> AsteriskInstance:
    """The sandbox's Asterisk for `config`: asterisk-conf/ plus the agents' and the customer's
    endpoints. RTP uses 10000-10999 unless a port there is taken."""
    url = urlsplit(config.asterisk.ari_url)
    rtp_start, rtp_end = free_port_range(RTP_PORTS, low=RTP_PREFERRED_START, high=30000, prefer=RTP_PREFERRED_START)
    return AsteriskInstance(
        instance_name(config.asterisk.sip_port),
        find_asterisk(),
        REPO / "asterisk-conf",
        {
            "SIP_PORT": str(config.asterisk.sip_port),
            "SIP_BIND": config.asterisk.sip_host,
            "HTTP_PORT": str(url.port or 8088),
            "RTP_START": str(rtp_start),
            "RTP_END": str(rtp_end),
            "ARI_USER": config.asterisk.ari_user.get_secret_value(),
            "ARI_PASSWORD": config.asterisk.ari_password.get_secret_value(),
            "ARI_APP": config.asterisk.app,
            # No carrier in the sandbox: nothing sends from or listens at 127.0.0.2; the customer
            # softphone plays the phone network instead.
            "TRUNK_MATCH": "127.0.0.2",
            "TRUNK_CONTACT": "sip:127.0.0.2:5060",
            "AGENT_QUALIFY_FREQUENCY": "15",
            "RTP_TIMEOUT": str(RTP_TIMEOUT),
            "RTP_TIMEOUT_HOLD": str(RTP_TIMEOUT_HOLD),
            "VERBOSE": "1",
        },
        extra_files={
            "pjsip_agents.conf": render_agent_endpoints(agent_endpoints(config)),
            SANDBOX_FILE: render_customer_endpoint(customer, config.agents, RTP_TIMEOUT, RTP_TIMEOUT_HOLD),
        },
    )


def prompts_for(config: HoldfastConfig, asterisk: AsteriskInstance) -> PromptBook:
    """Shipped prompts copied where the (possibly chrooted) Asterisk can read them."""
    install_prompts(asterisk.sounds_dir)
    return PromptBook.from_config(
        config.prompts, config.service.language, asterisk.sounds_dir, asterisk_path=f"{asterisk.dir}/sounds"
    )


def _opening(config: HoldfastConfig, queue: str, now: float) -> str:
    """Empty when the queue is open now, else when it opens (in its own time zone)."""
    settings = config.queues[queue].hours
    hours = settings.to_settings() if settings is not None else None
    if is_open(hours, now):
        return ""
    opens = next_change(hours, now)
    if hours is None or opens is None:
        return "  (closed)"
    local = datetime.fromtimestamp(opens, ZoneInfo(hours.timezone))
    return f"  (closed now; opens {local:%a %H:%M} {hours.timezone})"


def banner(config: HoldfastConfig, customer: CustomerAccount, made: dict[str, str], now: float) -> str:
    """What `make run` prints once everything is up: the two softphone accounts and what to try."""
    a, s = config.asterisk, config.service
    web = f"http://{s.http_host}:{s.http_port}"
    lines = ["", "Holdfast is running.", f"  SIP server {a.sip_host}:{a.sip_port} (UDP). Softphone accounts:"]
    for agent_id, agent in config.agents.items():
        password = agent.password.get_secret_value()
        lines.append(f"    agent     user {agent_id}  password {password}  ({agent.name or agent_id})")
    lines.append(
        f"    customer  user {EXAMPLE_CALLER_ID} (the caller id: any number)  auth user {customer.username}"
        f"  password {customer.password}"
    )
    for number, queue in config.inbound.items():
        lines.append(f"  Customer: dial {number} for queue '{queue}'{_opening(config, queue, now)}")
    lines.append("  Callbacks to any number ring the customer softphone.")
    codes = config.feature_codes
    lines.append(
        f"  Agents dial {codes.ready} ready, {codes.pause} pause, {codes.logout} log out,"
        f" {codes.extend_wrap_up} extend wrap-up"
    )
    lines.append(f"  API:     {web}/api/queues  (agents: /api/agents, callbacks: /api/callbacks)")
    if s.admin_token is not None:
        lines.append(f'           curl -H "Authorization: Bearer {s.admin_token.get_secret_value()}" {web}/api/queues')
    lines.append(f"  Metrics: {web}/metrics   Health: {web}/healthz")
    lines.append('  Walkthrough: README.md, "Try it".')
    if made:
        lines.append("  Generated for this run (set them in the environment to keep them):")
        lines += [f"    {name}={value}" for name, value in made.items()]
    lines.append("  Ctrl-C stops the service and Asterisk.")
    return "\n".join(lines)


def dev_run(config_path: str) -> int:
    path = Path(config_path)
    made = _fill_missing_secrets(path)
    try:
        loaded = load_config(path)
    except ConfigError as error:
        print(error, file=sys.stderr)
        return 2
    customer = sandbox_customer(made)
    config = sandbox_config(loaded, customer)
    logs.configure(config.service.log_level)
    try:
        asterisk = sandbox_asterisk(config, customer)
    except AsteriskNotFound as error:
        print(f"{error}\nRun `make asterisk` first.", file=sys.stderr)
        return 2
    except ValueError as error:  # an agent id the sandbox cannot use
        print(error, file=sys.stderr)
        return 2
    from app.runner import serve
    from app.telephony.instance_lock import AnotherInstanceRunning

    asterisk.start()
    exit_code = 0
    try:
        asterisk.wait_ready(60)
        print(banner(config, customer, made, time.time()), file=sys.stderr, flush=True)
        # a fatal stop of the service is a non-zero exit here too (runner.EXIT_FATAL)
        exit_code = asyncio.run(serve(config, prompts_for(config, asterisk), config_path=path))
    except KeyboardInterrupt:
        pass
    except AsteriskError as error:
        print(f"holdfast: the sandbox's Asterisk did not start: {error}", file=sys.stderr)
        return 2
    except AnotherInstanceRunning as error:
        print(f"holdfast: refusing to start: {error}", file=sys.stderr)
        return 2
    finally:
        asterisk.stop()
    return exit_code
