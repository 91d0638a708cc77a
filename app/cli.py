"""holdfast — the command line.

holdfast run --config FILE [--standby]  run the service (--standby: wait to take over from the leader)
holdfast dev-run --config FILE        start a sandboxed Asterisk too (what `make run` does)
holdfast check-config FILE            validate a settings file and print a summary
holdfast sim SCENARIO.yaml            run the contact-centre simulator
holdfast contacts import --config FILE --campaign ID CSV     upload a campaign's contacts
holdfast dnc import --config FILE [--campaign ID] CSV        add to a do-not-call list (global by default)
holdfast user add NAME --role ROLE    print a `users:` entry with a password hash (and API token)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from collections.abc import Iterator
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

    config = _load(args.config)
    agents = agent_endpoints(config)
    if args.server is not None:  # several Asterisk servers: each registers its own agents
        from app.config.servers import server_of_agent
        from app.sandbox.pjsip_peers import check_server

        try:
            check_server(config, args.server)
        except ValueError as error:
            print(f"holdfast: {error}", file=sys.stderr)
            return 2
        servers = config.asterisk.server_list()
        agents = [a for a in agents if server_of_agent(servers, a.username) == args.server]
    print(render_agent_endpoints(agents), end="")
    return 0


def _pjsip_peers(args: argparse.Namespace) -> int:
    """Several Asterisk servers: the SIP trunk from one of them to the others (pjsip_peers.conf)."""
    import os

    from app.sandbox.pjsip_peers import check_server, peer_servers, render_peer_endpoints

    config = _load(args.config)
    try:
        check_server(config, args.server)
        text = render_peer_endpoints(args.server, peer_servers(config), os.environ.get("HOLDFAST_PEER_SECRET", ""))
    except ValueError as error:
        print(f"holdfast: {error} (the shared secret comes from HOLDFAST_PEER_SECRET)", file=sys.stderr)
        return 2
    print(text, end="")
    return 0


@contextlib.contextmanager
def _private_files() -> Iterator[None]:
    """What the service and its backups write (the store: callers' numbers, contact lists) is
    readable by its own user only, whatever umask it was started with."""
    import os

    before = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(before)


def _run(args: argparse.Namespace) -> int:
    import structlog

    from app import logs
    from app.runner import EXIT_FATAL, serve
    from app.store import SchemaTooNew, StoreCorrupt, StoreError
    from app.telephony.instance_lock import AnotherInstanceRunning

    config = _load(args.config)
    logs.configure(config.service.log_level)
    try:
        with _private_files():
            code = asyncio.run(serve(config, config_path=Path(args.config), standby=args.standby))
    except AnotherInstanceRunning as error:
        print(f"holdfast: refusing to start: {error}", file=sys.stderr)
        return 2
    except StoreError as error:
        # The store could not be opened or read at the start. A store this version cannot use
        # (newer schema, corrupt) will not mend by restarting: 2, which the unit does not restart.
        # Anything else (a full disk, an I/O error, a database away) may: 3, restarted.
        refused = isinstance(error, SchemaTooNew | StoreCorrupt)
        structlog.get_logger("holdfast").critical(
            "store_unusable_at_start", error=f"{type(error).__name__}: {error}", exit_code=2 if refused else EXIT_FATAL
        )
        print(f"holdfast: {'refusing to start' if refused else 'cannot start'}: {error}", file=sys.stderr)
        return 2 if refused else EXIT_FATAL
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


def _backup(args: argparse.Namespace) -> int:
    """A consistent copy of the SQLite store (the web log-in key in it), taken while the service runs
    (app/store/backup.py)."""
    from app.store.backup import BackupError, backup, store_file

    dsn = _load(args.config).service.database_dsn()
    try:
        with _private_files():
            contents = backup(store_file(dsn), Path(args.target), keep=args.keep)
    except BackupError as error:
        print(f"holdfast backup: {error}", file=sys.stderr)
        return 2
    print(f"backed up: {contents.describe()}")
    return 0


def _restore(args: argparse.Namespace) -> int:
    """Put a backup in place of the SQLite store (the web log-in key in it), the service stopped
    (app/store/backup.py)."""
    from app.store.backup import BackupError, restore, store_file
    from app.web.sessions import KEY_FILE

    service = _load(args.config).service
    try:
        with _private_files():
            contents, aside = restore(Path(args.backup), store_file(service.database_dsn()))
    except BackupError as error:
        print(f"holdfast restore: {error}", file=sys.stderr)
        return 2
    print(f"restored: {contents.describe()}")
    if aside is not None:
        print(f"what it replaced (the store and its WAL files, those there were) is kept as {aside}*")
    if not contents.session_key:
        print(
            "the backup holds no web log-in key (made before the store kept it): the service takes the one in "
            f"{service.data_dir / KEY_FILE} if there is one, else makes a new key and users log in again"
        )
    print("start the service: it reconciles with Asterisk as after any restart")
    return 0


def _user_add(args: argparse.Namespace) -> int:
    """Print a `users:` entry to paste into the settings file: the password is hashed here and
    never written anywhere; a personal API token is shown once and only its hash is kept."""
    import getpass

    import yaml

    from app.config.users import ROLES
    from app.web.passwords import hash_password, hash_token, new_token

    if args.role not in ROLES:
        print(f"holdfast: --role is {args.role!r}; allowed: {', '.join(ROLES)}", file=sys.stderr)
        return 2
    entry: dict[str, object] = {"role": args.role}
    if not args.no_password:
        if args.password_stdin:
            password = sys.stdin.readline().rstrip("\n")
        else:
            password = getpass.getpass(f"password for {args.name}: ")
            if getpass.getpass("again: ") != password:
                print("holdfast: the passwords differ; nothing written", file=sys.stderr)
                return 2
        if len(password) < 8:
            print("holdfast: use a password of 8 characters or more", file=sys.stderr)
            return 2
        entry["password_hash"] = hash_password(password)
    token = new_token() if args.token else None
    if token is not None:
        entry["api_token_hash"] = hash_token(token)
    if "password_hash" not in entry and token is None:
        print("holdfast: a user needs a password or --token", file=sys.stderr)
        return 2
    if args.role != "admin":
        entry["queues"] = [q for q in args.queues.split(",") if q] if args.queues else []
        if args.agent_groups:
            entry["agent_groups"] = [g for g in args.agent_groups.split(",") if g]
    print("# paste under `users:` in the settings file, then reload (SIGHUP or POST /api/reload)")
    print(yaml.safe_dump({"users": {args.name: entry}}, sort_keys=False), end="")
    if token is not None:
        print(f"# API token for {args.name} (shown once; send it as 'Authorization: Bearer <token>'):")
        print(f"# {token}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="holdfast", description="Callback and dialler service for Asterisk")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("check-config", help="validate a settings file")
    p.add_argument("file")
    p.set_defaults(func=_check_config)
    p = sub.add_parser("pjsip-agents", help="print pjsip_agents.conf for the configured agents")
    p.add_argument("--config", required=True)
    p.add_argument("--server", help="only the agents registered on this Asterisk server (asterisk.servers)")
    p.set_defaults(func=_pjsip_agents)
    p = sub.add_parser(
        "pjsip-peers", help="print pjsip_peers.conf: the SIP trunk from one Asterisk server to the others"
    )
    p.add_argument("--config", required=True)
    p.add_argument("--server", required=True, help="the server it is for (a name in asterisk.servers)")
    p.set_defaults(func=_pjsip_peers)
    p = sub.add_parser("run", help="run the service")
    p.add_argument("--config", required=True)
    p.add_argument(
        "--standby",
        action="store_true",
        help="PostgreSQL store: wait for the leadership lease instead of refusing while another node leads",
    )
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
    p = sub.add_parser("backup", help="copy the SQLite store, consistent, while the service runs")
    p.add_argument("--config", required=True)
    p.add_argument("--keep", type=int, default=None, help="with a directory: keep this many backups, the newest")
    p.add_argument("target", help="a new file, or a directory for a time-stamped holdfast-<UTC time>.db")
    p.set_defaults(func=_backup)
    p = sub.add_parser("restore", help="put a backup in place of the SQLite store (the service stopped)")
    p.add_argument("--config", required=True)
    p.add_argument("backup", help="a file made by holdfast backup")
    p.set_defaults(func=_restore)
    p = sub.add_parser("sim", help="run the contact-centre simulator", add_help=False)
    p.add_argument("rest", nargs=argparse.REMAINDER)
    p.set_defaults(func=_sim)
    p = sub.add_parser("user", help="manage users of the live page and the API")
    user_sub = p.add_subparsers(dest="user_command", required=True)
    p = user_sub.add_parser("add", help="print a users: entry with a password hash to paste into the settings")
    p.add_argument("name")
    p.add_argument("--role", required=True, help="admin, supervisor or viewer")
    p.add_argument("--queues", default="", help='queues the user sees, comma-separated ("*" for all)')
    p.add_argument("--agent-groups", default="", help="agent groups the user sees, comma-separated")
    p.add_argument("--token", action="store_true", help="also make a personal API token")
    p.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    p.add_argument("--no-password", action="store_true", help="API token only, no log-in to the page")
    p.set_defaults(func=_user_add)
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except _Invalid:
        return 2


if __name__ == "__main__":
    sys.exit(main())
