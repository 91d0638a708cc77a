"""holdfast — the command line.

holdfast run --config FILE            run the service against the configured Asterisk
holdfast dev-run --config FILE        start a sandboxed Asterisk too (what `make run` does)
holdfast check-config FILE            validate a settings file and print a summary
holdfast sim SCENARIO.yaml            run the contact-centre simulator
holdfast contacts import --config FILE --campaign ID CSV     upload a campaign's contacts
holdfast dnc import --config FILE [--campaign ID] CSV        add to a do-not-call list (global by default)
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from app.config import ConfigError, HoldfastConfig, load_config, summarize


class _Invalid(Exception):
    """The settings file was refused; the message has already been printed."""


def _load(path: str) -> HoldfastConfig:
    try:
        return load_config(path)
    except ConfigError as error:
        print(f"{path}: invalid\n{error}", file=sys.stderr)
        raise _Invalid from error


def _check_config(args: argparse.Namespace) -> int:
    # The file is checked without its secrets: an unset ${VAR} is a note in the summary, not an
    # error (`holdfast run` still refuses to start without it).
    from app.config import check_config

    try:
        config = check_config(args.file)
    except ConfigError as error:
        print(f"{args.file}: invalid\n{error}", file=sys.stderr)
        return 2
    print(summarize(config))
    return 0


def _pjsip_agents(args: argparse.Namespace) -> int:
    """Agents are listed once, in the YAML; Asterisk's endpoints for them are generated from it."""
    from app.devrun import agent_endpoints
    from app.sandbox import render_agent_endpoints

    print(render_agent_endpoints(agent_endpoints(_load(args.config))), end="")
    return 0


def _run(args: argparse.Namespace) -> int:
    from app import logs
    from app.runner import serve
    from app.telephony.instance_lock import AnotherInstanceRunning

    config = _load(args.config)
    logs.configure(config.service.log_level)
    try:
        code = asyncio.run(serve(config, config_path=Path(args.config)))
    except AnotherInstanceRunning as error:
        print(f"holdfast: refusing to start: {error}", file=sys.stderr)
        return 2
    if code != 0:
        print(f"holdfast: stopped on a fault (exit {code}); see the critical log line above", file=sys.stderr)
    return code


def _dev_run(args: argparse.Namespace) -> int:
    from app.devrun import dev_run

    return dev_run(args.config)


def _sim(args: argparse.Namespace) -> int:
    from app.sim.cli import main as sim_main

    return sim_main(args.rest)


def _contacts_import(args: argparse.Namespace) -> int:
    from app.contacts_cli import contacts_import

    return contacts_import(_load(args.config), args)


def _dnc_import(args: argparse.Namespace) -> int:
    from app.contacts_cli import dnc_import

    return dnc_import(_load(args.config), args)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="holdfast", description="Callback and dialler service for Asterisk")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("check-config", help="validate a settings file")
    p.add_argument("file")
    p.set_defaults(func=_check_config)
    p = sub.add_parser("pjsip-agents", help="print pjsip_agents.conf for the configured agents")
    p.add_argument("--config", required=True)
    p.set_defaults(func=_pjsip_agents)
    p = sub.add_parser("run", help="run the service")
    p.add_argument("--config", required=True)
    p.set_defaults(func=_run)
    p = sub.add_parser("dev-run", help="start a sandboxed Asterisk and the service")
    p.add_argument("--config", required=True)
    p.set_defaults(func=_dev_run)
    p = sub.add_parser("contacts", help="a dialler campaign's contacts")
    p.add_argument("action", choices=["import"])
    p.add_argument("--config", required=True)
    p.add_argument("--campaign", required=True, help="a campaign id from the settings")
    p.add_argument("file", help="CSV: number, name, optional timezone and priority, any other column a free field")
    p.set_defaults(func=_contacts_import)
    p = sub.add_parser("dnc", help="do-not-call lists")
    p.add_argument("action", choices=["import"])
    p.add_argument("--config", required=True)
    p.add_argument("--campaign", default=None, help="a campaign's own list (default: the global list)")
    p.add_argument("--by", default="holdfast-cli", help="who adds the entries (kept with each entry)")
    p.add_argument("file", help="CSV with a number column; +4590* is a prefix")
    p.set_defaults(func=_dnc_import)
    p = sub.add_parser("sim", help="run the contact-centre simulator", add_help=False)
    p.add_argument("rest", nargs=argparse.REMAINDER)
    p.set_defaults(func=_sim)
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except _Invalid:
        return 2


if __name__ == "__main__":
    sys.exit(main())
