"""The route table: every route once, with its method, body model and answers.

`app/web/api.py` registers the handlers from this table and `app/web/openapi.py` writes the
OpenAPI document from it, so the two cannot drift: a route added here is served and published.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from app.store.contacts_schema import CONTACT_STATES
from app.web import (
    agents,
    auth,
    callbacks,
    campaign_crud,
    campaign_state,
    campaigns,
    changelog,
    dispositions,
    export,
    live_api,
    notifications,
    pacing_view,
    queues,
    recordings,
    stats,
    status,
)
from app.web.agents import ACTIONS
from app.web.campaign_models import (
    CampaignStateBody,
    CampaignStateView,
    ContactList,
    ContactView,
    DncBody,
    DncChange,
    DncList,
    FiguresView,
    ImportResult,
)
from app.web.errors import Handler
from app.web.models import (
    AdminResult,
    AgentActionBody,
    AgentList,
    AgentView,
    CallbackList,
    CallbackRequestBody,
    CallbackView,
    ErrorAnswer,
    ExtendWrapUpBody,
    Health,
    MoveCallbackBody,
    PositionCallbackBody,
    QueueList,
    ReloadResult,
    RemoveCallbackBody,
    WrapUpExtension,
)


@dataclass(frozen=True)
class Answer:
    status: int
    description: str
    model: type[BaseModel] | None = ErrorAnswer
    content_type: str = "application/json"


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    handler: Handler
    summary: str
    answers: tuple[Answer, ...]
    body: type[BaseModel] | None = None
    parameters: dict[str, dict[str, Any]] = field(default_factory=dict)  # JSON schema of path parameters
    query: dict[str, dict[str, Any]] = field(default_factory=dict)  # JSON schema of query parameters
    csv_body: bool = False  # the body is a CSV file (text/csv), streamed
    # Who may call it (app/web/auth.py): "public", "read" (any user; answers cut to their filter),
    # "act" (supervisors and admins, on what their filter shows), "admin", or "metrics" (the metrics
    # token or an admin). Unsaid: admin only.
    access: str = "admin"

    @property
    def protected(self) -> bool:
        """Behind a bearer token or a session once `service.admin_token` or users are set."""
        return self.access != "public"


NO_AGENT = Answer(404, "no such agent, or an unknown action")
NO_CAMPAIGN = Answer(404, "no such campaign in the settings")
NO_STORE = Answer(503, "the service runs without a store")
CAMPAIGN_ID = {"campaign": {"type": "string", "description": "a campaign id from the settings"}}
PAGE = {
    "offset": {"type": "integer", "minimum": 0, "default": 0},
    "limit": {"type": "integer", "minimum": 1, "maximum": campaigns.MAX_PAGE, "default": 100},
}
BY = {"by": {"type": "string", "maxLength": 64, "description": "who uploads (for the admin log)"}}
UPLOAD_ANSWERS = (
    Answer(
        400,
        "the file is refused: not UTF-8, no header or no number column (nothing stored); or a line further down "
        "cannot be read, and the rows before it are stored and admin-logged (`stored: true`, the counts and the "
        "error say how many; importing the fixed file again merges them)",
    ),
    Answer(413, "the file is larger than 64 MiB"),
    Answer(415, "the body is not text/csv"),
)
NO_CALLBACK = Answer(404, "no waiting request with this id, or (move) no such queue")
NOT_STORED = Answer(503, "the change could not be stored: the service is stopping; try again later")
# Routes that write the store themselves, then tell the engine (app/web/stored.py).
WRITE_503 = Answer(
    503,
    "nothing stored: the service runs without a store or is stopping (try again later), or the store is busy "
    "(Retry-After); or, with `stored: true`, stored just before the service began stopping: it applies when the "
    "service starts again and is in the change log",
)
STORED_TOO = "; with `stored: true`: stored, then refused by the running engine (a reload came between); logged"
STORED_409 = Answer(
    409,
    "with `stored: true`: stored, but the running engine no longer has the campaign (removed meanwhile by a reload "
    "or a delete); the error says what is stored, and the change log has it",
)
CALLBACK_ID = {"request_id": {"type": "string", "description": "the request id from GET /api/callbacks"}}

ROUTES: tuple[Route, ...] = (
    Route(
        "GET",
        "/healthz",
        status.healthz,
        "200 when the service can take and move calls, 503 with the reasons otherwise",
        (Answer(200, "working", Health), Answer(503, "not working; `problems` says why", Health)),
        access="public",
    ),
    Route(
        "GET",
        "/metrics",
        status.metrics,
        "Prometheus metrics (every queue: an operator's view). Open on an open service; else it needs the "
        "metrics token (web.metrics_token, for the scraper) or an admin's bearer token or session",
        (Answer(200, "Prometheus text format", None, "text/plain"),),
        access="metrics",
    ),
    Route(
        "GET",
        "/api/openapi.json",
        status.openapi_document,
        "this API described as OpenAPI 3.1, written from the same table that registers the routes",
        (Answer(200, "the OpenAPI document", None),),
        access="read",
    ),
    Route(
        "GET",
        "/api/queues",
        queues.queues,
        "queues with every active request: `waiting` (holding a place, in place order) and `requests` "
        "(all of them with state, agent, attempts, waits, and when a scheduled or quarantined callback is due)",
        (Answer(200, "the queues", QueueList),),
        access="read",
    ),
    Route(
        "GET",
        "/api/agents",
        agents.list_agents,
        "agents with state, pause reason, reachability",
        (Answer(200, "the agents", AgentList),),
        access="read",
    ),
    Route(  # before the general route below, which would take "extend" for an unknown action
        "POST",
        "/api/agents/{agent_id}/extend",
        agents.extend_wrap_up,
        "extend an agent's wrap-up (more time for notes before the next call) by `seconds` (default 60, the "
        "extension code's step), cut to what service.max_wrap_up_extension leaves",
        (
            Answer(
                200, "extended (stored): the seconds granted, the new end, what the cap still leaves", WrapUpExtension
            ),
            Answer(404, "no such agent"),
            Answer(409, "the agent is not in wrap-up, or the cap is reached (nothing extended); the error says which"),
            NOT_STORED,
        ),
        body=ExtendWrapUpBody,
        parameters={"agent_id": {"type": "string", "description": "an agent id from the settings"}},
        access="act",
    ),
    Route(
        "POST",
        "/api/agents/{agent_id}/{action}",
        agents.agent_action,
        "an agent's state change: login, ready, pause (with an optional reason) or logout",
        (
            Answer(200, "the agent after the change (stored)", AgentView),
            NO_AGENT,
            Answer(409, "not possible in the agent's state (e.g. pause while ringing)"),
            NOT_STORED,
        ),
        body=AgentActionBody,
        parameters={
            "agent_id": {"type": "string", "description": "an agent id from the settings"},
            "action": {"type": "string", "enum": list(ACTIONS)},
        },
        access="act",
    ),
    Route(
        "POST",
        "/api/reload",
        status.reload_settings,
        "re-read the settings file (as SIGHUP does); the running settings stay if it is refused",
        (
            Answer(200, "applied and stored; `restart_needed` lists changes that wait for a restart", ReloadResult),
            Answer(400, "refused, with every problem of the file; nothing changed", ReloadResult),
            Answer(503, "the service is stopping: not applied (it reads the file again when it starts)"),
        ),
        access="admin",
    ),
    Route(
        "GET",
        "/api/callbacks",
        callbacks.list_callbacks,
        "waiting callbacks: in place order per queue, then those in quarantine between attempts",
        (Answer(200, "the callbacks", CallbackList),),
        access="read",
    ),
    Route(
        "POST",
        "/api/callbacks",
        callbacks.request_callback,
        "ask for a callback (web form, CRM); it joins the end of the queue",
        (
            Answer(201, "accepted and stored", CallbackView),
            Answer(404, "no such queue"),
            Answer(409, "refused by the queue's rules, e.g. the number already waits (the error names the request)"),
            Answer(422, "invalid body, or the number is refused (`reason`: hidden, foreign, premium_rate, ...)"),
            Answer(429, "the number had its `callback.max_per_number_per_day` callbacks; Retry-After says when"),
            NOT_STORED,
        ),
        body=CallbackRequestBody,
        access="act",
    ),
    Route(
        "DELETE",
        "/api/callbacks/{request_id}",
        callbacks.remove_callback,
        "remove a waiting callback; who and why are recorded in the admin log",
        (
            Answer(200, "removed (stored)", AdminResult),
            NO_CALLBACK,
            Answer(409, "not a waiting callback (e.g. it is being dialled)"),
            NOT_STORED,
        ),
        body=RemoveCallbackBody,
        parameters=CALLBACK_ID,
        access="act",
    ),
    Route(
        "POST",
        "/api/callbacks/{request_id}/move",
        callbacks.move_callback,
        "move a waiting callback to another queue (its place is not kept); recorded in the admin log",
        (
            Answer(200, "moved (stored)", AdminResult),
            NO_CALLBACK,
            Answer(409, "not a waiting callback (e.g. it is being dialled), or its number has one in that queue"),
            NOT_STORED,
        ),
        body=MoveCallbackBody,
        parameters=CALLBACK_ID,
        access="act",
    ),
    Route(
        "POST",
        "/api/callbacks/{request_id}/position",
        callbacks.reposition_callback,
        "put a waiting callback at a position of its queue (1: first, the next one served); the others keep their "
        "order; recorded in the admin log with the position before and after",
        (
            Answer(200, "moved (stored)", AdminResult),
            NO_CALLBACK,
            Answer(
                409,
                "not a callback holding a place (in quarantine, being dialled), or the queue does not serve "
                "callbacks by place (callback.order other than keep_place)",
            ),
            Answer(422, "invalid body, or a position beyond the number waiting"),
            NOT_STORED,
        ),
        body=PositionCallbackBody,
        parameters=CALLBACK_ID,
        access="act",
    ),
    Route(
        "POST",
        "/api/session",
        auth.login,
        "log in to the live page: sets the session cookie; answers the CSRF token to send with changes",
        (
            Answer(200, "logged in", auth.SessionView),
            Answer(401, "wrong user name or password"),
            Answer(415, "not sent as application/json"),
            Answer(429, "too many wrong passwords for this user or from this address; Retry-After says when"),
            Answer(503, "too many log-ins waiting for their password check; Retry-After says when"),
        ),
        body=auth.LoginBody,
        access="public",
    ),
    Route(
        "GET",
        "/api/session",
        auth.current_session,
        "who is asking (session, personal token or the admin token), their role and what they see",
        (Answer(200, "the principal", auth.SessionView),),
        access="read",
    ),
    Route(
        "DELETE",
        "/api/session",
        auth.logout,
        "log out: the session cookie is removed and no longer accepted",
        (Answer(200, "logged out", None),),
        access="public",
    ),
    Route(
        "GET",
        "/api/live",
        live_api.live,
        "what the live page shows, cut to the caller's filter: ongoing requests, agents, queues "
        "(the websocket /ws/live pushes the same rows as they change)",
        (Answer(200, "the live rows", live_api.LiveView),),
        access="read",
    ),
    Route(
        "GET",
        "/api/changelog",
        changelog.list_changes,
        "the admin change log, newest first: who, when, what, before and after (entries about the "
        "caller's queues and agents only; the newest 500, or those after `since_id`)",
        (Answer(200, "the changes", changelog.ChangeList), Answer(400, "since_id is not a whole number 0..2**63-1")),
        query={"since_id": {"type": "integer", "minimum": 0, "maximum": 2**63 - 1, "default": 0}},
        access="read",
    ),
    Route(
        "GET",
        "/api/stats",
        stats.stats,
        "statistics from the event log between `from` and `to` per queue, campaign or agent and per "
        "interval: offered, answered, abandoned (short ones apart), callbacks, speed of answer (avg, p90), handle "
        "time, SLA on net wait (gross beside it), occupancy, dials; `rows` per bucket and `totals` per key; "
        "format=csv for the same as CSV; only the caller's queues, campaigns and agents",
        (
            Answer(200, "the statistics (JSON, or CSV with format=csv)", None),
            Answer(400, "a bad parameter, or a report of more than 100 000 rows (the error says what fits)"),
            NO_STORE,
        ),
        query=stats.QUERY,
        access="read",
    ),
    Route(
        "GET",
        "/api/events/export",
        export.export_events,
        "raw events as CSV (format=csv, the default) or JSON lines (format=jsonl) between `from` and `to` "
        "(epoch seconds or ISO 8601, UTC when it names no zone; default the last 24 h), optionally of one "
        "`queue` and some `kind`s (comma-separated); only events about the caller's queues and agents, "
        "numbers masked as for the page",
        (
            Answer(200, "the events, one per line, oldest first", None, "text/csv"),
            Answer(400, "a bad parameter"),
            Answer(404, "no such queue (or not one of the caller's)"),
        ),
        access="read",
    ),
    Route(
        "GET",
        "/api/campaigns",
        campaign_crud.list_campaigns,
        "every campaign the engine runs, with its state and source: yaml (the settings file) or api (stored)",
        (Answer(200, "the campaigns", campaign_crud.CampaignDefList), NO_STORE),
    ),
    Route(
        "POST",
        "/api/campaigns",
        campaign_crud.create_campaign,
        "create a campaign (the keys of a campaigns.<id> entry of the settings file); stored, then run; admin-logged",
        (
            Answer(201, "created (stored) and running as its state says", campaign_crud.CampaignDefView),
            Answer(
                409,
                "the id exists (a settings-file campaign is edited in the file), or the engine refuses it" + STORED_TOO,
            ),
            Answer(422, "invalid body; the problems name the key path, e.g. campaigns.spring.max_attempts"),
            WRITE_503,
        ),
        body=campaign_crud.CampaignDefBody,
    ),
    Route(
        "PUT",
        "/api/campaigns/{campaign}",
        campaign_crud.edit_campaign,
        "replace an API campaign's settings; stored, then applied as a reload would; admin-logged with before/after",
        (
            Answer(200, "edited (stored)", campaign_crud.CampaignDefView),
            Answer(404, "no campaign of that id created over the API"),
            Answer(
                409,
                "a settings-file campaign (edit the file and reload), or the engine refuses the change" + STORED_TOO,
            ),
            Answer(422, "invalid body; the problems name the key path"),
            WRITE_503,
        ),
        body=campaign_crud.CampaignDefBody,
        parameters=CAMPAIGN_ID,
    ),
    Route(
        "POST",
        "/api/campaigns/{campaign}/stop",
        campaign_crud.stop_campaign,
        "stop a campaign: state stopped stored (it outlives a restart), then no new dials; admin-logged",
        (Answer(200, "stopped (stored)", campaign_crud.CampaignDefView), NO_CAMPAIGN, STORED_409, WRITE_503),
        body=campaign_crud.CampaignActBody,
        parameters=CAMPAIGN_ID,
    ),
    Route(
        "DELETE",
        "/api/campaigns/{campaign}",
        campaign_crud.delete_campaign,
        "delete a stopped API campaign (its contacts stay stored); admin-logged",
        (
            Answer(200, "deleted", None),
            Answer(404, "no campaign of that id created over the API"),
            Answer(
                409,
                "a settings-file campaign, or not stopped" + STORED_TOO,
            ),
            WRITE_503,
        ),
        body=campaign_crud.CampaignActBody,
        parameters=CAMPAIGN_ID,
    ),
    Route(
        "POST",
        "/api/campaigns/{campaign}/contacts",
        campaigns.upload_contacts,
        "upload contacts as CSV (columns number, name, optional timezone and priority, any other column kept as a "
        "free field); each row is checked with the campaign's number rules; a number the campaign has is merged",
        (
            Answer(200, "imported; refused rows with line and reason", ImportResult),
            *UPLOAD_ANSWERS,
            NO_CAMPAIGN,
            STORED_409,
            WRITE_503,
        ),
        parameters=CAMPAIGN_ID,
        query=BY,
        csv_body=True,
    ),
    Route(
        "GET",
        "/api/campaigns/{campaign}/contacts",
        campaigns.list_contacts,
        "a campaign's contacts by id with state and attempts, a page at a time, optionally in one state",
        (Answer(200, "the contacts", ContactList), NO_CAMPAIGN, Answer(422, "a bad state, offset or limit"), NO_STORE),
        parameters=CAMPAIGN_ID,
        query={"state": {"type": "string", "enum": list(CONTACT_STATES)}, **PAGE},
        access="read",
    ),
    Route(
        "GET",
        "/api/campaigns/{campaign}/contacts/{contact_id}",
        campaigns.one_contact,
        "one contact: its uploaded fields, state, attempts, last outcome, when it is due",
        (Answer(200, "the contact", ContactView), Answer(404, "no such campaign or contact"), NO_STORE),
        parameters={**CAMPAIGN_ID, "contact_id": {"type": "integer", "minimum": 1}},
        access="read",
    ),
    Route(
        "GET",
        "/api/campaigns/{campaign}/figures",
        campaigns.campaign_figures,
        "contacts left, attempts, connects, answering machines, abandoned and abandon rate (24 h, 30 days)",
        (Answer(200, "the figures", FiguresView), NO_CAMPAIGN, NO_STORE),
        parameters=CAMPAIGN_ID,
        access="read",
    ),
    Route(
        "GET",
        "/api/campaigns/{campaign}/pacing",
        pacing_view.campaign_pacing,
        "a predictive campaign's pacing: calls to place now, dial level, measured live rate, abandon rate"
        " 24 h and 30 days as the closed loop counts them, AMD false-positive estimate",
        (
            Answer(200, "the pacing figures", pacing_view.PacingFiguresView),
            NO_CAMPAIGN,
            Answer(409, "the campaign is not in predictive mode"),
            NO_STORE,
        ),
        parameters=CAMPAIGN_ID,
        access="read",
    ),
    Route(
        "GET",
        "/api/campaigns/{campaign}/state",
        campaign_state.campaign_state,
        "a campaign's state: as stored (set over the API) or as in the settings, and what the engine does now",
        (Answer(200, "the state", CampaignStateView), NO_CAMPAIGN, NO_STORE),
        parameters=CAMPAIGN_ID,
        access="read",
    ),
    Route(
        "POST",
        "/api/campaigns/{campaign}/pause",
        campaign_state.pause_campaign,
        "pause a campaign: stored (it stays paused after a restart), then no new dials; admin-logged",
        (Answer(200, "paused (stored)", CampaignStateView), NO_CAMPAIGN, STORED_409, WRITE_503),
        body=CampaignStateBody,
        parameters=CAMPAIGN_ID,
        access="act",
    ),
    Route(
        "POST",
        "/api/campaigns/{campaign}/resume",
        campaign_state.resume_campaign,
        "resume (start) a campaign: stored, then it dials again within its dates and hours; admin-logged",
        (Answer(200, "running (stored)", CampaignStateView), NO_CAMPAIGN, STORED_409, WRITE_503),
        body=CampaignStateBody,
        parameters=CAMPAIGN_ID,
        access="act",
    ),
    Route(
        "GET",
        "/api/notifications",
        notifications.list_notifications,
        "the notification outbox, newest first: each SMS or webhook with its state, tries and last error",
        (
            Answer(200, "the notifications of the queues you may see", notifications.NotificationList),
            Answer(422, "a bad state or limit"),
            NO_STORE,
        ),
        query={
            "state": {"type": "string", "enum": ["pending", "delivered", "failed"]},
            "limit": {"type": "integer", "minimum": 1, "maximum": notifications.MAX_ROWS, "default": 100},
        },
        access="read",
    ),
    Route(
        "GET",
        "/api/requests/{request_id}/recordings",
        recordings.list_recordings,
        "a request's call recordings from the event log: name, format, when started and (retention) deleted, "
        "whether Asterisk still stores the file; only requests of the caller's queues",
        (
            Answer(200, "the recordings", recordings.RecordingList),
            Answer(404, "no such request (or not one of the caller's queues)"),
            Answer(502, "Asterisk did not answer"),
            NO_STORE,
        ),
        parameters={"request_id": {"type": "string", "description": "a request id (callback, call or dial)"}},
        access="read",
    ),
    Route(
        "GET",
        "/api/recordings/{name}",
        recordings.stream_recording,
        "a recording's file (holdfast-<request id>), streamed from Asterisk; only of the caller's queues",
        (
            Answer(200, "the audio file in the queue's recording format", None, "application/octet-stream"),
            Answer(404, "no such recording, deleted, or not one of the caller's queues"),
            Answer(502, "Asterisk did not give the file"),
            NO_STORE,
        ),
        parameters={"name": {"type": "string", "description": "a recording name from the list"}},
        access="read",
    ),
    Route(
        "GET",
        "/api/dnc",
        campaigns.global_dnc_list,
        "the entries of the global do-not-call list, by entry",
        (Answer(200, "the entries", DncList), Answer(422, "a bad offset or limit"), NO_STORE),
        parameters={},
        query=PAGE,
    ),
    Route(
        "POST",
        "/api/dnc",
        campaigns.global_dnc_add,
        "add numbers or prefixes (+4590*) to the global do-not-call list; admin-logged",
        (Answer(201, "added (stored)", DncChange), WRITE_503),
        body=DncBody,
        parameters={},
    ),
    Route(
        "DELETE",
        "/api/dnc",
        campaigns.global_dnc_remove,
        "remove numbers or prefixes from the global do-not-call list; admin-logged",
        (Answer(200, "removed (stored)", DncChange), WRITE_503),
        body=DncBody,
        parameters={},
    ),
    Route(
        "POST",
        "/api/dnc/import",
        campaigns.global_dnc_import,
        "import a CSV (column number; +4590* for a prefix) into the global do-not-call list; admin-logged",
        (
            Answer(200, "imported; refused rows with line and reason", ImportResult),
            *UPLOAD_ANSWERS,
            WRITE_503,
        ),
        parameters={},
        query=BY,
        csv_body=True,
    ),
    Route(
        "GET",
        "/api/campaigns/{campaign}/dnc",
        campaigns.campaign_dnc_list,
        "the entries of a campaign's own do-not-call list, by entry",
        (Answer(200, "the entries", DncList), NO_CAMPAIGN, Answer(422, "a bad offset or limit"), NO_STORE),
        parameters=CAMPAIGN_ID,
        query=PAGE,
    ),
    Route(
        "POST",
        "/api/campaigns/{campaign}/dnc",
        campaigns.campaign_dnc_add,
        "add numbers or prefixes (+4590*) to a campaign's own do-not-call list; admin-logged",
        (Answer(201, "added (stored)", DncChange), NO_CAMPAIGN, STORED_409, WRITE_503),
        body=DncBody,
        parameters=CAMPAIGN_ID,
    ),
    Route(
        "DELETE",
        "/api/campaigns/{campaign}/dnc",
        campaigns.campaign_dnc_remove,
        "remove numbers or prefixes from a campaign's own do-not-call list; admin-logged",
        (Answer(200, "removed (stored)", DncChange), NO_CAMPAIGN, STORED_409, WRITE_503),
        body=DncBody,
        parameters=CAMPAIGN_ID,
    ),
    Route(
        "POST",
        "/api/campaigns/{campaign}/dnc/import",
        campaigns.campaign_dnc_import,
        "import a CSV (column number; +4590* for a prefix) into a campaign's own do-not-call list; admin-logged",
        (
            Answer(200, "imported; refused rows with line and reason", ImportResult),
            *UPLOAD_ANSWERS,
            NO_CAMPAIGN,
            STORED_409,
            WRITE_503,
        ),
        parameters=CAMPAIGN_ID,
        query=BY,
        csv_body=True,
    ),
    *dispositions.routes(),  # the dialler at the agent's desk (app/web/dispositions.py)
)
