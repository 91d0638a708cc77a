"""`make run`: a sandboxed Asterisk from asterisk-conf/ plus the service, for trying Holdfast out.

Secrets the example config reads from the environment are generated when unset and printed, so
a first run needs nothing but `make run`. Agent endpoints are generated from the config's agents,
so an agent is added in one place. Ctrl-C stops the service, then Asterisk.
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import sys
from pathlib import Path
from urllib.parse import urlsplit

from app import logs
from app.config import ConfigError, HoldfastConfig, load_config
from app.sandbox import AgentEndpoint, AsteriskInstance, AsteriskNotFound, find_asterisk, render_agent_endpoints
from app.telephony.prompts import PromptBook, install_prompts

REPO = Path(__file__).resolve().parents[1]
ENV_REF = re.compile(r"\$\{([A-Z0-9_]+)\}|env:([A-Z0-9_]+)")


def _fill_missing_secrets(path: Path) -> dict[str, str]:
    """Generate a value for every ${VAR}/env:VAR the file names that the environment lacks."""
    made: dict[str, str] = {}
    text = "\n".join(re.sub(r"(^|\s)#.*", "", line) for line in path.read_text().splitlines())
    for match in ENV_REF.finditer(text):
        name = match.group(1) or match.group(2)
        if name not in os.environ:
            os.environ[name] = made[name] = secrets.token_urlsafe(12)
    return made


def agent_endpoints(config: HoldfastConfig) -> list[AgentEndpoint]:
    """The agents of the YAML as Asterisk endpoints: an agent is added in one place."""
    return [
        AgentEndpoint(agent_id, agent.password.get_secret_value(), agent.name or agent_id)
        for agent_id, agent in config.agents.items()
    ]


def _asterisk_for(config: HoldfastConfig) -> AsteriskInstance:
    url = urlsplit(config.asterisk.ari_url)
    return AsteriskInstance(
        "dev",
        find_asterisk(),
        REPO / "asterisk-conf",
        {
            "SIP_PORT": str(config.asterisk.sip_port),
            "SIP_BIND": config.asterisk.sip_host,
            "HTTP_PORT": str(url.port or 8088),
            "RTP_START": "10000",
            "RTP_END": "10999",
            "ARI_USER": config.asterisk.ari_user.get_secret_value(),
            "ARI_PASSWORD": config.asterisk.ari_password.get_secret_value(),
            "ARI_APP": config.asterisk.app,
            "TRUNK_MATCH": "127.0.0.2",  # no carrier in the sandbox: agents' phones place test calls
            "TRUNK_CONTACT": "sip:127.0.0.2:5060",
            "AGENT_QUALIFY_FREQUENCY": "15",
            "VERBOSE": "1",
        },
        extra_files={"pjsip_agents.conf": render_agent_endpoints(agent_endpoints(config))},
    )


def prompts_for(config: HoldfastConfig, asterisk: AsteriskInstance) -> PromptBook:
    """Shipped prompts copied where the (possibly chrooted) Asterisk can read them."""
    install_prompts(asterisk.sounds_dir)
    return PromptBook.from_config(
        config.prompts, config.service.language, asterisk.sounds_dir, asterisk_path=f"{asterisk.dir}/sounds"
    )


def _banner(config: HoldfastConfig, made: dict[str, str]) -> str:
    a, s = config.asterisk, config.service
    lines = ["", "Holdfast is running.", f"  SIP: agents register at {a.sip_host}:{a.sip_port} (UDP)"]
    for agent_id, agent in config.agents.items():
        lines.append(f"    user {agent_id}  password {agent.password.get_secret_value()}  ({agent.name or agent_id})")
    for number, queue in config.inbound.items():
        lines.append(f"  Dial {number} from a registered phone to reach queue '{queue}'")
    codes = config.feature_codes
    lines.append(f"  Feature codes: {codes.ready} ready, {codes.pause} pause, {codes.logout} log out")
    lines.append(f"  API:     http://{s.http_host}:{s.http_port}/api/queues  (agents: /api/agents)")
    if s.admin_token is not None:
        token = s.admin_token.get_secret_value()
        lines.append(f'           curl -H "Authorization: Bearer {token}" http://{s.http_host}:{s.http_port}/api/queues')
    lines.append(f"  Metrics: http://{s.http_host}:{s.http_port}/metrics   Health: /healthz")
    if made:
        lines.append("  Generated for this run (set them in the environment to keep them):")
        lines += [f"    {name}={value}" for name, value in made.items()]
    lines.append("  Ctrl-C stops the service and Asterisk.")
    return "\n".join(lines)


def dev_run(config_path: str) -> int:
    path = Path(config_path)
    made = _fill_missing_secrets(path)
    try:
        config = load_config(path)
    except ConfigError as error:
        print(error, file=sys.stderr)
        return 2
    logs.configure(config.service.log_level)
    try:
        asterisk = _asterisk_for(config)
    except AsteriskNotFound as error:
        print(f"{error}\nRun `make asterisk` first.", file=sys.stderr)
        return 2
    from app.runner import serve

    asterisk.start()
    try:
        asterisk.wait_ready(60)
        print(_banner(config, made), file=sys.stderr, flush=True)
        asyncio.run(serve(config, prompts_for(config, asterisk), config_path=path))
    except KeyboardInterrupt:
        pass
    finally:
        asterisk.stop()
    return 0
