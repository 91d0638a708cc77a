"""Dialler contacts and do-not-call lists over the API: uploads, listings, figures.

Theory of operation:
- An upload (contacts or do-not-call entries) is a CSV body. It is streamed to a temporary file
  as it arrives, checked to be UTF-8 on the way (so a binary file is refused before anything is
  stored), then imported batch by batch by the same importer as `holdfast contacts import`
  (app/store/contact_import.py): rows are never held in memory all at once.
- A campaign must be in the settings; its contacts are checked with its number rules
  (`campaigns.<id>.eligibility`, as for callbacks).
- Every change of a do-not-call list and every upload is written to the admin log (who, when,
  what), also one refused or failed part way: the rows before the problem are stored (batch by
  batch, as a 100 000-row file in one transaction would hold up the service's own commits), and
  the answer and the log line say how many.
- The store holds the lists (the engine takes them from there at start-up); a change is stored
  first, then given to the running engine (`DncUpdated`), which checks do-not-call at dial time:
  an entry added after an upload stops the next dial of that number. What the engine would
  refuse (a campaign deleted meanwhile) is refused before anything is stored; once stored, a
  change is answered and logged as stored (app/web/stored.py).
"""

from __future__ import annotations

import codecs
import io
import tempfile
from collections.abc import Awaitable, Callable
from typing import IO

from aiohttp import web

from app.core.errors import CoreError
from app.core.events import ContactsChanged, DncUpdated
from app.core.settings import EligibilityRules
from app.store import StoreError
from app.store.base import Store
from app.store.contact_import import (
    ImportRefused,
    ImportReport,
    campaign_rules,
    dnc_entry,
    import_contacts,
    import_dnc,
    known_campaigns,
)
from app.store.contact_records import CampaignFigures, ContactRecord, DialFigures, DncEntry
from app.store.contacts_schema import CONTACT_STATES
from app.telephony.errors import ServiceStopping
from app.telephony.service import TelephonyService
from app.web.auth import scope_of, who
from app.web.body import read_body
from app.web.campaign_models import (
    ContactList,
    ContactView,
    DialFiguresView,
    DncBody,
    DncChange,
    DncList,
    DncView,
    FiguresView,
    ImportResult,
    RefusedRow,
)
from app.web.commit import refuse_if_stopping
from app.web.context import SERVICE_KEY
from app.web.errors import ApiError
from app.web.models import control_problem
from app.web.stored import after_store, checked, log_stored
from app.web.times import iso, iso_or_none

MAX_UPLOAD_BYTES = 64 * 1024 * 1024  # 100 000 contacts with a few fields are about 10 MB
CHUNK = 256 * 1024
MAX_PAGE = 1000


def configured_campaign_rules(service: TelephonyService, campaign: str) -> EligibilityRules | None:
    """The number rules of `campaign`, or None when it is not in the running settings."""
    return campaign_rules(service.engine.settings, campaign)


def _campaign(request: web.Request) -> tuple[TelephonyService, Store, str, EligibilityRules]:
    service = request.app[SERVICE_KEY]
    campaign = request.match_info["campaign"]
    rules = configured_campaign_rules(service, campaign)
    scope = scope_of(request)
    if rules is not None and not scope.sees_campaign(campaign):
        # Not one of theirs: answered as if it did not exist, and the known list is not given.
        raise ApiError(404, f"no campaign {campaign!r} among yours")
    if rules is not None and request.method not in ("GET", "HEAD") and not scope.may_act_on_campaign(campaign):
        raise ApiError(403, f"{scope.principal.name} may not change campaign {campaign!r}")
    if rules is None:  # the known list names only campaigns the caller may see
        known = ", ".join(c for c in known_campaigns(service.engine.settings) if scope.sees_campaign(c)) or "none"
        raise ApiError(404, f"no campaign {campaign!r} in the settings (campaigns: {known})")
    return service, _store(service), campaign, rules


def _store(service: TelephonyService) -> Store:
    if service.store is None:
        raise ApiError(503, "the service runs without a store; contacts and do-not-call lists need one")
    return service.store


# ------------------------------------------------------------------ contacts


async def upload_contacts(request: web.Request) -> web.Response:
    service, store, campaign, rules = _campaign(request)
    by = _by(request)
    refuse_if_stopping(service)  # before the body is read: nothing would be kept
    report = ImportReport()

    def detail() -> dict[str, object]:
        counts = {"rows": report.rows, "inserted": report.inserted, "merged": report.merged, "refused": report.refused}
        return {"campaign": campaign, **counts}

    async def to_engine() -> None:
        if report.imported:  # the engine asks for contacts at once, not at its next poll
            await service.feed_and_commit(ContactsChanged(service.clock(), campaign))

    with await _spooled(request) as raw:
        checked(service, ContactsChanged(service.clock(), campaign))  # still running, not deleted meanwhile
        text = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
        run = import_contacts(store, campaign, text, rules, service.clock(), report=report)
        await _import(service, report, by, "contacts_import", detail, run)
    what = f"the upload to campaign {campaign!r} ({report.inserted} new, {report.merged} merged)"
    await after_store(
        service,
        what,
        to_engine,
        at=service.clock(),
        by=by,
        action="contacts_import",
        detail=detail(),
        **_counts(report),
    )
    return _import_answer(campaign, report)


async def list_contacts(request: web.Request) -> web.Response:
    _, store, campaign, _ = _campaign(request)
    state = request.query.get("state")
    if state is not None and state not in CONTACT_STATES:
        raise ApiError(422, f"state is {state!r}; allowed {', '.join(CONTACT_STATES)}")
    offset, limit = _page(request)
    contacts = await store.list_contacts(campaign, state, offset, limit)
    scope = scope_of(request)
    views = [contact_view(c, scope.number) for c in contacts]
    answer = ContactList(campaign=campaign, offset=offset, limit=limit, contacts=views)
    return web.json_response(answer.model_dump(mode="json"))


async def one_contact(request: web.Request) -> web.Response:
    _, store, campaign, _ = _campaign(request)
    raw = request.match_info["contact_id"]
    contact = await store.contact(campaign, int(raw)) if raw.isdigit() and len(raw) < 19 else None
    if contact is None:
        raise ApiError(404, f"campaign {campaign!r} has no contact {raw!r}")
    return web.json_response(contact_view(contact, scope_of(request).number).model_dump(mode="json"))


async def campaign_figures(request: web.Request) -> web.Response:
    service, store, campaign, _ = _campaign(request)
    figures = await store.campaign_figures(campaign, service.clock())
    settings = service.engine.campaigns.get(campaign)
    fp = settings.amd_false_positive if settings is not None else 0.0
    return web.json_response(figures_view(figures, fp).model_dump(mode="json"))


# ------------------------------------------------------------------ do-not-call


def _dnc_scope(request: web.Request) -> tuple[TelephonyService, Store, str | None, str]:
    """(service, store, campaign or None for the global list, region for national numbers)."""
    if "campaign" in request.match_info:
        service, store, campaign, rules = _campaign(request)
        return service, store, campaign, rules.default_region
    service = request.app[SERVICE_KEY]
    return service, _store(service), None, "ZZ"


async def _dnc_list(request: web.Request) -> web.Response:
    _, store, campaign, _ = _dnc_scope(request)
    offset, limit = _page(request)
    entries = await store.dnc_list(campaign, offset, limit)
    answer = DncList(campaign=campaign, offset=offset, limit=limit, entries=[dnc_view(e) for e in entries])
    return web.json_response(answer.model_dump(mode="json"))


async def _dnc_change(request: web.Request, add: bool) -> web.Response:
    service, store, campaign, region = _dnc_scope(request)
    body = await read_body(request, DncBody)
    parsed = [(text, dnc_entry(text, region)) for text in body.entries]
    bad = [text for text, entry in parsed if entry is None]
    if bad:
        problems = [
            {"field": "entries", "problem": f"{text!r} is neither a number nor a prefix like +4590*"} for text in bad
        ]
        raise ApiError(422, f"the body is not valid: {problems[0]['problem']}", problems=problems)
    entries = list(dict.fromkeys(entry for _, entry in parsed if entry is not None))
    by = who(request, body.by)  # a logged-in user is recorded as themselves
    now = service.clock()
    update = (
        DncUpdated(now, campaign, added=tuple(entries)) if add else DncUpdated(now, campaign, removed=tuple(entries))
    )
    checked(service, update)  # a campaign deleted while the body came in: nothing stored
    changed = await (store.dnc_add(campaign, entries, now, by) if add else store.dnc_remove(campaign, entries))

    async def to_engine() -> None:
        await service.feed_and_commit(update)
        # Contacts held back by these entries may be due again. Told even when nothing was there:
        # a removal retried after its answer was lost (StoreIOError) finds 0 rows, yet stored it.
        if not add:
            for affected in [campaign] if campaign is not None else known_campaigns(service.engine.settings):
                await service.feed_and_commit(ContactsChanged(now, affected))

    shown = [e + "*" if is_prefix else e for e, is_prefix in entries]
    detail = {"campaign": campaign, "entries": shown, "changed": changed, "reason": body.reason}
    where = _dnc_list_name(campaign)
    change = (
        f"addition of {len(entries)} entries ({changed} new) to"
        if add
        else f"removal of {len(entries)} entries ({changed} there) from"
    )
    what = f"the {change} {where}"
    action = "dnc_add" if add else "dnc_remove"
    await after_store(service, what, to_engine, at=now, by=by, action=action, detail=detail)
    answer = DncChange(campaign=campaign, entries=shown, changed=changed)
    return web.json_response(answer.model_dump(mode="json"), status=201 if add else 200)


async def _dnc_upload(request: web.Request) -> web.Response:
    service, store, campaign, region = _dnc_scope(request)
    by = _by(request)
    refuse_if_stopping(service)  # before the body is read: nothing would be kept

    async def to_engine(batch: list[tuple[str, bool]]) -> None:  # each batch once stored
        await service.feed_and_commit(DncUpdated(service.clock(), campaign, added=tuple(batch)))

    def detail() -> dict[str, object]:
        return {"campaign": campaign, "rows": report.rows, "added": report.inserted, "refused": report.refused}

    report = ImportReport()
    with await _spooled(request) as raw:
        checked(service, DncUpdated(service.clock(), campaign))  # a campaign deleted meanwhile: nothing stored
        text = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
        now = service.clock()
        run = import_dnc(store, campaign, text, now, by, region, report=report, after_batch=to_engine)
        await _import(service, report, by, "dnc_import", detail, run)
    where = _dnc_list_name(campaign)
    what = f"the import into {where} ({report.inserted} added)"
    # the engine has had each batch as it was stored (to_engine)
    await after_store(service, what, None, at=service.clock(), by=by, action="dnc_import", detail=detail())
    return _import_answer(campaign, report)


# One handler per route (their names are the OpenAPI operation ids); the path tells the list.


async def global_dnc_list(request: web.Request) -> web.Response:
    return await _dnc_list(request)


async def campaign_dnc_list(request: web.Request) -> web.Response:
    return await _dnc_list(request)


async def global_dnc_add(request: web.Request) -> web.Response:
    return await _dnc_change(request, add=True)


async def campaign_dnc_add(request: web.Request) -> web.Response:
    return await _dnc_change(request, add=True)


async def global_dnc_remove(request: web.Request) -> web.Response:
    return await _dnc_change(request, add=False)


async def campaign_dnc_remove(request: web.Request) -> web.Response:
    return await _dnc_change(request, add=False)


async def global_dnc_import(request: web.Request) -> web.Response:
    return await _dnc_upload(request)


async def campaign_dnc_import(request: web.Request) -> web.Response:
    return await _dnc_upload(request)


# ------------------------------------------------------------------ plumbing


async def _spooled(request: web.Request) -> IO[bytes]:
    """The body, streamed into a temporary file: at most MAX_UPLOAD_BYTES, UTF-8 text."""
    if request.content_length is not None and request.content_length > MAX_UPLOAD_BYTES:
        raise ApiError(413, f"the file is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MiB; split it")
    kind = request.content_type
    if kind not in ("text/csv", "text/plain", "application/octet-stream"):
        raise ApiError(415, f"the body is {kind}; send the CSV file itself as text/csv")
    # handed to the caller, who closes it
    spool = tempfile.TemporaryFile()  # noqa: SIM115
    try:
        decoder = codecs.getincrementaldecoder("utf-8")()
        size = 0
        async for chunk in request.content.iter_chunked(CHUNK):
            size += len(chunk)
            if size > MAX_UPLOAD_BYTES:
                raise ApiError(413, f"the file is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MiB; split it")
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as error:
                raise ApiError(400, f"the file is not UTF-8 text (byte {size - len(chunk) + error.start})") from None
            spool.write(chunk)
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            raise ApiError(400, "the file is not UTF-8 text (it ends in the middle of a character)") from None
        spool.seek(0)
        return spool
    except BaseException:
        spool.close()
        raise


async def _import(
    service: TelephonyService,
    report: ImportReport,
    by: str,
    action: str,
    detail: Callable[[], dict[str, object]],
    run: Awaitable[ImportReport],
) -> None:
    """Run an import. A refused file is 400, a store that failed midway 503, a campaign gone
    meanwhile 409, a service stopping 503: each says how many rows were stored before, and rows
    stored are written to the change log (with what stopped the import)."""
    try:
        await run
        return
    except ImportRefused as error:
        problem = ApiError(400, f"the file is refused: {error}; {report.stored_note()}", **_counts(report))
    except StoreError as error:
        text = f"the store failed: {error}; {report.stored_note()}"
        problem = ApiError(503, text, retry_after=2, **_counts(report))
    except CoreError as error:  # a do-not-call batch the engine refused: the campaign is gone
        problem = ApiError(409, f"the running engine refused it: {error}; {report.stored_note()}", **_counts(report))
    except ServiceStopping as error:
        text = f"the service is stopping ({error}); {report.stored_note()}"
        problem = ApiError(503, text, **_counts(report))
    if report.imported:
        note = await log_stored(service, service.clock(), by, action, {**detail(), "stopped_by": problem.message})
        problem = ApiError(problem.status, problem.message + note, stored=True, **problem.extra)
    raise problem


def _dnc_list_name(campaign: str | None) -> str:
    return "the global do-not-call list" if campaign is None else f"the do-not-call list of campaign {campaign!r}"


def _counts(report: ImportReport) -> dict[str, int]:
    return {"rows": report.rows, "inserted": report.inserted, "merged": report.merged, "refused": report.refused}


def _by(request: web.Request) -> str:
    """Who uploads, for the admin log: a logged-in user is themselves; for the global token (or
    an open service) the query's `by`, one line like a body's `by`."""
    by = request.query.get("by", "admin")[:64] or "admin"
    problem = control_problem(by)
    if problem is not None:
        raise ApiError(422, f"by: {problem}", problems=[{"field": "by", "problem": problem}])
    return who(request, by)


def _page(request: web.Request) -> tuple[int, int]:
    values = []
    for name, default, top in (("offset", 0, 10**9), ("limit", 100, MAX_PAGE)):
        raw = request.query.get(name, str(default))
        if not raw.isdigit() or int(raw) > top or (name == "limit" and int(raw) == 0):
            raise ApiError(422, f"{name} is {raw!r}; use a whole number {1 if name == 'limit' else 0}..{top}")
        values.append(int(raw))
    return values[0], values[1]


def _import_answer(campaign: str | None, report: ImportReport) -> web.Response:
    answer = ImportResult(
        campaign=campaign,
        rows=report.rows,
        inserted=report.inserted,
        merged=report.merged,
        refused=report.refused,
        refusals=[RefusedRow(line=r.line, reason=r.reason, detail=r.detail) for r in report.refusals],
        reasons=dict(report.reasons),
        seconds=round(report.seconds, 3),
    )
    return web.json_response(answer.model_dump(mode="json"))


def contact_view(c: ContactRecord, shown: Callable[[str | None], str | None]) -> ContactView:
    """A contact as the asking user sees it: `shown` masks the number for roles in web.mask_numbers."""
    return ContactView(
        campaign=c.campaign,
        contact_id=c.contact_id,
        number=shown(c.number) or "",
        name=c.name,
        fields=dict(c.fields),
        timezone=c.timezone,
        priority=c.priority,
        state=c.state,
        attempts=c.attempts,
        next_due=iso_or_none(c.next_due),
        next_due_epoch=c.next_due,
        last_outcome=c.last_outcome,
        reserved_agent=c.reserved_agent,
        updated_at=iso(c.updated_at),
        updated_at_epoch=c.updated_at,
    )


def _rate(rate: float | None) -> float | None:
    return None if rate is None else round(rate, 4)


def _dial(f: DialFigures, amd_false_positive: float) -> DialFiguresView:
    return DialFiguresView(
        attempts=f.attempts,
        connects=f.connects,
        machines=f.machines,
        abandoned=f.abandoned,
        abandon_rate=_rate(f.abandon_rate),
        amd_false_positives=round(f.machines * amd_false_positive, 3),
        judged_abandon_rate=_rate(f.judged_abandon_rate(amd_false_positive)),
    )


def figures_view(f: CampaignFigures, amd_false_positive: float = 0.0) -> FiguresView:
    """`amd_false_positive`: the campaign's assumed share of machine verdicts that were persons."""
    return FiguresView(
        campaign=f.campaign,
        contacts=dict(f.contacts),
        left=f.left,
        last_24h=_dial(f.last_24h, amd_false_positive),
        last_30d=_dial(f.last_30d, amd_false_positive),
        at=iso(f.at),
        at_epoch=f.at,
    )


def dnc_view(e: DncEntry) -> DncView:
    return DncView(
        entry=e.entry + "*" if e.is_prefix else e.entry,
        is_prefix=e.is_prefix,
        added_at=iso(e.added_at),
        added_at_epoch=e.added_at,
        added_by=e.added_by,
    )
