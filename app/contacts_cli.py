"""`holdfast contacts import` and `holdfast dnc import`: CSV files into the configured store.

The same streaming importer as the API (app/store/contact_import.py). Refused rows are printed
to stderr as they are met ("line 12: premium_rate: …"), the summary to stdout. Exit status: 0
when the file was read (refused rows or not), 2 when the settings, the campaign or the file are
refused (nothing stored), 1 when the store failed (the batches before the failure are stored;
running the same import again merges them).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

from app.config import HoldfastConfig
from app.store import Store, StoreError
from app.store.contact_import import (
    ImportRefused,
    ImportReport,
    Refused,
    campaign_rules,
    import_contacts,
    import_dnc,
    known_campaigns,
)
from app.telephony.cli_changes import CONTACTS_IMPORT, DNC_IMPORT, VIA_CLI


def _print_refused(refused: Refused) -> None:
    print(f"line {refused.line}: {refused.reason}: {refused.detail}", file=sys.stderr)


def _summary(report: ImportReport, what: str) -> str:
    reasons = ", ".join(f"{k} {v}" for k, v in sorted(report.reasons.items()))
    return (
        f"{report.rows} rows in {report.seconds:.1f} s: {report.inserted} new {what}, {report.merged} merged, "
        f"{report.refused} refused{f' ({reasons})' if reasons else ''}"
    )


async def _import(config: HoldfastConfig, args: argparse.Namespace, dnc: bool) -> int:
    from app.runner import open_store

    settings = config.core()
    rules = None
    if args.campaign is not None:
        rules = campaign_rules(settings, args.campaign)
        if rules is None:
            known = ", ".join(known_campaigns(settings)) or "none"
            print(f"holdfast: no campaign {args.campaign!r} in the settings (campaigns: {known})", file=sys.stderr)
            return 2
    try:
        # closed by the `with` below
        stream = Path(args.file).open(encoding="utf-8-sig", newline="")  # noqa: SIM115
    except OSError as error:
        print(f"holdfast: cannot read {args.file}: {error.strerror}", file=sys.stderr)
        return 2
    with stream:
        try:
            store = await open_store(config)
        except StoreError as error:
            print(f"holdfast: {error}", file=sys.stderr)
            return 1
        report = ImportReport(listener=_print_refused)
        try:
            if dnc:
                region = rules.default_region if rules is not None else "ZZ"
                await import_dnc(store, args.campaign, stream, time.time(), args.by, region, report=report)
            else:
                assert rules is not None
                await import_contacts(store, args.campaign, stream, rules, time.time(), report=report)
        except ImportRefused as error:
            print(f"holdfast: {args.file} is refused: {error}; {report.stored_note()}", file=sys.stderr)
            return 2
        except UnicodeDecodeError as error:
            print(f"holdfast: {args.file} is not UTF-8 text ({error.reason}); {report.stored_note()}", file=sys.stderr)
            return 2
        except StoreError as error:
            print(f"holdfast: {error}; {report.stored_note()}", file=sys.stderr)
            return 1
        finally:
            await _tell_running_service(store, args, dnc, report)
            await store.close()
    print(_summary(report, "entries" if dnc else "contacts"))
    return 0


async def _tell_running_service(store: Store, args: argparse.Namespace, dnc: bool, report: ImportReport) -> None:
    """A line in the admin log, read by a running service within seconds (cli_changes.py): its
    dial-time do-not-call check and its window of contacts learn of what was stored, even when the
    import stopped part-way. Also the admin's record of who imported what."""
    changed = report.inserted if dnc else report.imported
    if not changed:
        return
    action = DNC_IMPORT if dnc else CONTACTS_IMPORT
    detail = {"via": VIA_CLI, "campaign": args.campaign, "file": str(args.file), "inserted": report.inserted}
    try:
        await store.append_admin(time.time(), getattr(args, "by", None) or "holdfast-cli", action, None, detail)
    except StoreError as error:  # the rows are stored; only the running service's news is late
        print(
            f"holdfast: stored, but a running Holdfast was not told ({error}); it applies them at its next start",
            file=sys.stderr,
        )


def contacts_import(config: HoldfastConfig, args: argparse.Namespace) -> int:
    return asyncio.run(_import(config, args, dnc=False))


def dnc_import(config: HoldfastConfig, args: argparse.Namespace) -> int:
    return asyncio.run(_import(config, args, dnc=True))
