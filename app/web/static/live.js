"use strict";
// The live page: rows pushed over /ws/live (a snapshot, then patches), waits ticking every second,
// actions confirmed in a dialog. It reconnects by itself (e.g. after a restart of the service).
// Who the user is (role, queues) is read again when an action is refused (403), when the feed
// reconnects and every SESSION_EVERY: an admin may demote a supervisor while the page is open, and
// the page must stop offering what the server now refuses.
const H = Holdfast;
const data = { requests: new Map(), agents: new Map(), queues: new Map(), campaigns: new Map() };
const rowsOf = { requests: new Map(), agents: new Map(), campaigns: new Map() }; // id -> <tr>
const OUTBOX_EVERY = 5000; // ms between reads of the notification outbox (admins)
const SESSION_EVERY = 30000; // ms between reads of who we are (a role changed by a reload)
let offset = 0; // server clock - browser clock, seconds
let socket = null;
let retry = 0;
let shown = ["connecting…", "down"]; // the connection state, kept for a header drawn again
let outboxTimer = null;

const STATE_LABEL = {
  waiting: "waiting",
  scheduled: "scheduled",
  ringing_agent: "ringing agent",
  whisper: "whisper",
  dialling_customer: "dialling customer",
  connected: "talking",
  quarantine: "quarantine",
};
const STATE_ORDER = ["connected", "dialling_customer", "whisper", "ringing_agent", "waiting", "scheduled", "quarantine"];
const AGENT_LABEL = { logged_off: "logged off", ready: "ready", ringing: "ringing", busy: "busy", wrap_up: "wrap-up", paused: "paused" };

const now = () => Date.now() / 1000 + offset;

function connection(text, cls) {
  shown = [text, cls];
  const node = document.getElementById("connection");
  if (node) {
    node.textContent = text;
    node.className = `connection ${cls}`;
  }
}

function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  socket = new WebSocket(`${scheme}://${location.host}/ws/live`);
  socket.onopen = () => {
    retry = 0;
    connection("live", "up");
  };
  socket.onmessage = (event) => receive(JSON.parse(event.data));
  socket.onclose = async (event) => {
    if (event.code === 4401) {
      location.href = "/login?next=/live&expired=1";
      return;
    }
    connection("reconnecting…", "down");
    const delay = Math.min(500 * 2 ** retry, 5000);
    retry += 1;
    setTimeout(async () => {
      // A refused upgrade (401) closes the same way: ask who we are first; a 401 goes to log-in.
      try {
        await refreshSession();
      } catch (e) {
        if (e.message === "not logged in") return;
      }
      connect();
    }, delay);
  };
}

function receive(message) {
  if (message.type === "expired") {
    location.href = "/login?next=/live&expired=1";
    return;
  }
  offset = message.now - Date.now() / 1000;
  for (const [section, key] of [["requests", "id"], ["agents", "id"], ["queues", "name"], ["campaigns", "name"]]) {
    const store = data[section];
    if (message.type === "snapshot") {
      store.clear();
      for (const row of message[section]) store.set(String(row[key]), row);
    } else {
      for (const row of message[section].upsert) store.set(String(row[key]), row);
      for (const id of message[section].remove) store.delete(id);
    }
  }
  render();
}

// ------------------------------------------------------------------ rendering

function render() {
  renderQueues();
  renderCampaigns();
  renderRequests();
  renderAgents();
  tick();
}

function queueLabel(name) {
  const q = data.queues.get(name);
  return q ? q.label : name ?? "";
}

function campaignLabel(name) {
  const c = data.campaigns.get(name);
  return c ? c.label : name;
}

// A dialler contact is listed under its campaign; other requests under their queue.
function sourceLabel(r) {
  return r.campaign ? campaignLabel(r.campaign) : queueLabel(r.queue);
}

function figure(value, suffix = "") {
  return value === null || value === undefined ? "–" : `${value}${suffix}`;
}

function campaignRow(c) {
  const actions = [];
  if (H.session.can_act) {
    if (c.state === "running") actions.push(["pause", "Pause"]);
    if (c.state === "paused") actions.push(["resume", "Resume"]);
  }
  return [
    H.el("td", {}, H.el("strong", { text: c.label }), c.label === c.name ? null : H.el("span", { class: "muted", text: ` ${c.name}` })),
    H.el("td", { text: c.mode }),
    H.el("td", { class: "state" }, H.el("span", { class: `badge c-${c.state}`, text: c.state })),
    H.el("td", { class: "num left", text: figure(c.left) }),
    H.el("td", { class: "num dialling", text: String(c.dialling) }),
    H.el("td", { class: "num dialled", text: figure(c.dialled_24h) }),
    H.el("td", { class: "num connects", text: figure(c.connects_24h) }),
    H.el("td", { class: "num abandon", text: figure(c.abandon_rate_24h, "%") }),
    H.el("td", { class: "actions" }, ...actions.map(([action, label]) =>
      H.el("button", { class: `small campaign-${action}`, "data-action": action, text: label, onclick: () => confirmCampaign(c, action, label) }))),
  ];
}

function renderCampaigns() {
  const rows = [...data.campaigns.values()].map((c) => ({ ...c, id: c.name })).sort((a, b) => a.label.localeCompare(b.label));
  document.getElementById("campaigns-section").hidden = rows.length === 0;
  renderTable("campaigns", rows, campaignRow);
}

function renderQueues() {
  const box = document.getElementById("queues");
  const cards = [...data.queues.values()].sort((a, b) => a.label.localeCompare(b.label)).map((q) => {
    const a = q.agents;
    const sla = q.sla_today === null ? "–" : `${q.sla_today}%`;
    return H.el(
      "article",
      { class: `queue-card${q.open ? "" : " closed"}`, "data-queue": q.name },
      H.el("header", {}, H.el("h3", { text: q.label }), H.el("span", { class: `badge ${q.open ? "open" : "closed"}`, text: q.open ? "open" : "closed" })),
      H.el("div", { class: "big" }, H.el("span", { class: "value waiting", text: String(q.waiting) }), H.el("span", { class: "label", text: "waiting" })),
      H.el(
        "dl",
        {},
        H.el("dt", { text: "Callers / callbacks" }),
        H.el("dd", { text: `${q.callers_waiting} / ${q.callbacks_waiting}` }),
        H.el("dt", { text: "In quarantine" }),
        H.el("dd", { text: String(q.callbacks_quarantine) }),
        H.el("dt", { text: "Oldest wait" }),
        H.el("dd", { class: "tick", "data-since": q.oldest_arrived_at ?? "", text: "–" }),
        H.el("dt", { text: "Est. wait, new caller" }),
        H.el("dd", { text: q.estimated_wait === null ? "–" : H.duration(q.estimated_wait) }),
      ),
      H.el("div", { class: "chips" },
        H.el("span", { class: "chip s-ready", text: `${a.ready} ready` }),
        H.el("span", { class: "chip s-busy", text: `${a.busy + a.ringing} busy` }),
        H.el("span", { class: "chip s-wrap_up", text: `${a.wrap_up} wrap-up` }),
        H.el("span", { class: "chip s-paused", text: `${a.paused} paused` })),
      H.el("div", { class: "today" },
        "Today ", H.el("b", { class: "answered", text: String(q.answered_today) }), " answered · ",
        H.el("b", { class: "abandoned", text: String(q.abandoned_today) }), " abandoned · SLA ",
        H.el("b", { text: sla })),
    );
  });
  box.replaceChildren(...cards);
}

function requestOrder(a, b) {
  return (
    sourceLabel(a).localeCompare(sourceLabel(b)) ||
    STATE_ORDER.indexOf(a.state) - STATE_ORDER.indexOf(b.state) ||
    (a.position ?? 1e9) - (b.position ?? 1e9) ||
    a.arrived_at - b.arrived_at
  );
}

function stateText(r) {
  const label = STATE_LABEL[r.state] || r.state;
  if ((r.state === "quarantine" || r.state === "scheduled") && r.until) {
    return `${label} ${r.state === "quarantine" ? "until" : "for"} ${H.clock(r.until)}`;
  }
  return label;
}

function requestRow(r) {
  const removable = H.session.can_act && r.kind === "callback" && ["waiting", "scheduled", "quarantine"].includes(r.state);
  const movable = removable && r.state !== "quarantine" && data.queues.size > 1;
  const placeable = removable && r.state !== "quarantine" && r.position != null;
  return [
    H.el("td", { text: sourceLabel(r) }),
    H.el("td", {}, H.el("span", { class: `kind kind-${r.kind}`, text: r.kind })),
    H.el("td", { class: "state" }, H.el("span", { class: `badge r-${r.state}`, text: stateText(r) })),
    H.el("td", { class: "num position", text: r.position ?? "" }),
    H.el("td", { class: "number mono", text: r.number ?? "unknown" }),
    H.el("td", { class: "agent", text: r.agent_name || r.agent_id || "" }),
    H.el("td", { class: "num mono tick gross", "data-since": r.arrived_at, "data-until": r.talking_since ?? "" }),
    H.el("td", { class: "num mono tick net", "data-since": r.queued_since, "data-until": r.talking_since ?? "" }),
    H.el("td", { class: "num mono tick", "data-since": r.talking_since ?? "" }),
    H.el("td", { class: "actions" },
      placeable ? H.el("button", { class: "small position-callback", text: "Position", onclick: () => confirmPosition(r) }) : null,
      movable ? H.el("button", { class: "small move-callback", text: "Move", onclick: () => confirmMove(r) }) : null,
      removable ? H.el("button", { class: "small danger remove-callback", text: "Remove", onclick: () => confirmRemove(r) }) : null),
  ];
}

function agentRow(a) {
  const actions = [];
  if (H.session.can_act) {
    const talking = a.state === "ringing" || a.state === "busy";
    if (a.state !== "ready" && !talking) actions.push(["ready", "Ready"]);
    if (a.state !== "paused" && a.state !== "logged_off") actions.push(["pause", "Pause"]);
    if (a.state !== "logged_off") actions.push(["logout", "Log out"]);
    if (a.state === "wrap_up") actions.push(["extend", "Extend"]); // one more minute, within the cap
  }
  const current = a.request_id ? `${queueLabel(a.request_queue)} · ${(data.requests.get(a.request_id) || {}).number || a.request_id}` : a.on_other_queue ? "(another queue)" : "";
  return [
    H.el("td", {}, H.el("strong", { text: a.name || a.id }), (a.name || "").includes(a.id) ? null : H.el("span", { class: "muted", text: ` ${a.id}` }), a.reachable ? null : H.el("span", { class: "badge warn", text: "unreachable" })),
    H.el("td", { class: "state" }, H.el("span", { class: `badge a-${a.state}`, text: AGENT_LABEL[a.state] || a.state })),
    H.el("td", { class: "num mono" }, H.el("span", { class: "tick", "data-since": a.state_since ?? "" }),
      a.wrap_up_until == null ? null // in wrap-up: what is left of it (extensions included)
        : H.el("span", { class: "muted" }, " · ", H.el("span", { class: "wrap-left", "data-until": a.wrap_up_until }), " left")),
    H.el("td", { text: a.pause_reason || "" }),
    H.el("td", { class: "current", text: current }),
    H.el("td", { class: "muted", text: a.queues.map(queueLabel).join(", ") }),
    H.el("td", { class: "num handled", text: String(a.handled_today) }),
    H.el("td", { class: "actions" }, ...actions.map(([action, label]) =>
      H.el("button", { class: `small agent-${action}`, "data-action": action, text: label, onclick: () => confirmAgent(a, action, label) }))),
  ];
}

// Keyed rows: a row is rebuilt only when its data changed, and moved into place otherwise.
function renderTable(section, rows, build) {
  const body = document.querySelector(`#${section} tbody`);
  const known = rowsOf[section];
  const seen = new Set();
  let previous = null;
  for (const row of rows) {
    const id = String(row.id);
    seen.add(id);
    // The buttons depend on the role too: a row is drawn again when the user may no longer act.
    const signature = JSON.stringify(row) + (section === "agents" ? queueLabel(row.request_queue) : "") + H.session.can_act;
    let tr = known.get(id);
    if (!tr || tr.dataset.signature !== signature) {
      const fresh = H.el("tr", { "data-id": id }, ...build(row));
      fresh.dataset.signature = signature;
      if (tr) tr.replaceWith(fresh);
      tr = fresh;
      known.set(id, tr);
    }
    const expected = previous ? previous.nextSibling : body.firstChild;
    if (expected !== tr) body.insertBefore(tr, expected);
    previous = tr;
  }
  for (const [id, tr] of known) {
    if (!seen.has(id)) {
      tr.remove();
      known.delete(id);
    }
  }
}

function renderRequests() {
  const rows = [...data.requests.values()].sort(requestOrder);
  renderTable("requests", rows, requestRow);
  document.getElementById("request-count").textContent = `(${rows.length})`;
  document.getElementById("no-requests").hidden = rows.length > 0;
}

function renderAgents() {
  const rows = [...data.agents.values()].sort((a, b) => (a.name || a.id).localeCompare(b.name || b.id) || a.id.localeCompare(b.id));
  renderTable("agents", rows, agentRow);
  document.getElementById("agent-count").textContent = `(${rows.length})`;
}

function tick() {
  const t = now();
  for (const node of document.querySelectorAll(".tick")) {
    const since = parseFloat(node.dataset.since);
    const until = parseFloat(node.dataset.until); // a wait stops when the talk starts
    node.textContent = isFinite(since) ? H.duration((isFinite(until) ? until : t) - since) : "–";
  }
  for (const node of document.querySelectorAll(".wrap-left")) { // what is left of a wrap-up
    node.textContent = H.duration(Math.max(0, parseFloat(node.dataset.until) - t));
  }
}

// ------------------------------------------------------------------ actions

function ask({ title, text, reason, reasonRequired, ok, run, queues, position }) {
  const dialog = document.getElementById("confirm");
  const queueLabelNode = document.getElementById("confirm-queue-label");
  const select = document.getElementById("confirm-queue");
  const positionInput = document.getElementById("confirm-position");
  document.getElementById("confirm-position-label").hidden = position == null;
  positionInput.value = position ?? "";
  queueLabelNode.hidden = !queues;
  select.replaceChildren(...(queues || []).map((q) => H.el("option", { value: q.name, text: q.label })));
  document.getElementById("confirm-title").textContent = title;
  document.getElementById("confirm-text").textContent = text;
  const label = document.getElementById("confirm-reason-label");
  const input = document.getElementById("confirm-reason");
  label.hidden = !reason;
  input.value = reason && reason !== true ? reason : "";
  input.placeholder = reasonRequired ? "required: why (for the change log)" : "";
  const error = document.getElementById("confirm-error");
  error.hidden = true;
  const okButton = document.getElementById("confirm-ok");
  okButton.textContent = ok;
  okButton.disabled = false;
  const form = document.getElementById("confirm-form");
  form.onsubmit = async (event) => {
    event.preventDefault();
    if (reasonRequired && !input.value.trim()) {
      error.textContent = "A reason is required.";
      error.hidden = false;
      return;
    }
    okButton.disabled = true;
    const result = await run(input.value.trim(), select.value, Number(positionInput.value));
    okButton.disabled = false;
    if (result.ok) {
      dialog.close();
      return;
    }
    let text = result.answer.error || `refused (${result.status})`;
    if (result.status === 403) {
      // Perhaps our role changed since the page was loaded: ask, and stop offering what is refused.
      const before = H.session.role;
      await refreshSession().catch(() => {});
      if (!H.session.can_act) {
        text = before !== H.session.role
          ? `Refused: your role was changed from ${before} to ${H.session.role} while this page was open, ` +
            "so you can no longer change anything here. The page no longer offers changes."
          : `Refused: as a ${H.session.role} you cannot change anything here.`;
        okButton.disabled = true;
      }
    }
    error.textContent = text;
    error.hidden = false;
  };
  document.getElementById("confirm-cancel").onclick = () => dialog.close();
  dialog.showModal();
  if (reason) input.focus();
}

function confirmRemove(r) {
  ask({
    title: "Remove this callback?",
    text: `${r.number ?? "unknown number"} in ${queueLabel(r.queue)} (${stateText(r)}). The customer will not be called back.`,
    reason: true,
    reasonRequired: true,
    ok: "Remove callback",
    run: (reason) => H.api("DELETE", `/api/callbacks/${encodeURIComponent(r.id)}`, { reason }),
  });
}

function confirmMove(r) {
  const queues = [...data.queues.values()].filter((q) => q.name !== r.queue).sort((a, b) => a.label.localeCompare(b.label));
  ask({
    title: "Move this callback?",
    text: `${r.number ?? "unknown number"} in ${queueLabel(r.queue)} (${stateText(r)}) goes to the end of the queue you choose.`,
    queues,
    reason: true,
    reasonRequired: true,
    ok: "Move callback",
    run: (reason, queue) => H.api("POST", `/api/callbacks/${encodeURIComponent(r.id)}/move`, { queue, reason }),
  });
}

function confirmPosition(r) {
  ask({
    title: "Move this callback in its queue?",
    text: `${r.number ?? "unknown number"} in ${queueLabel(r.queue)} is at position ${r.position}. ` +
      "Put it at the position you choose; the others keep their order.",
    position: 1,
    reason: true,
    reasonRequired: true,
    ok: "Move callback",
    run: (reason, _queue, position) =>
      H.api("POST", `/api/callbacks/${encodeURIComponent(r.id)}/position`, { position, reason }),
  });
}

function confirmCampaign(c, action, label) {
  ask({
    title: `${label} campaign ${c.label}?`,
    text: action === "pause"
      ? `${c.label} stops starting new dials; calls in progress go on. ${figure(c.left)} contacts left.`
      : `${c.label} dials again within its dates and calling hours. ${figure(c.left)} contacts left.`,
    reason: true,
    ok: `${label} campaign`,
    run: (reason) => H.api("POST", `/api/campaigns/${encodeURIComponent(c.name)}/${action}`, { reason }),
  });
}

// ------------------------------------------------------------------ notification outbox (admins)

async function loadOutbox() {
  const result = await H.api("GET", "/api/notifications?limit=50");
  if (!result.ok) return;
  const rows = result.answer.notifications;
  document.getElementById("outbox-count").textContent = `(${rows.length})`;
  document.getElementById("no-outbox").hidden = rows.length > 0;
  document.querySelector("#outbox tbody").replaceChildren(...rows.map((n) =>
    H.el("tr", { "data-id": n.id },
      H.el("td", { class: "mono", text: H.clock(n.created_at_epoch) }),
      H.el("td", { text: n.event }),
      H.el("td", { text: n.channel }),
      H.el("td", { text: n.queue ? queueLabel(n.queue) : "" }),
      H.el("td", { class: "mono", text: n.number ?? "" }),
      H.el("td", { class: "state" }, H.el("span", { class: `badge n-${n.state}`, text: n.state })),
      H.el("td", { class: "num", text: String(n.attempts) }),
      H.el("td", { class: "error-text", text: n.last_error ?? "" }))));
}

function confirmAgent(a, action, label) {
  ask({
    title: `${label}: ${a.name || a.id}?`,
    text: action === "extend" ? `${a.name || a.id}'s wrap-up gets one more minute (within the most allowed).` : `${a.name || a.id} is ${AGENT_LABEL[a.state] || a.state} now.`,
    reason: action === "pause" ? "break" : false,
    ok: label,
    run: (reason) => H.api("POST", `/api/agents/${encodeURIComponent(a.id)}/${action}`, action === "pause" ? { reason: reason || "break" } : undefined),
  });
}

// ------------------------------------------------------------------ start

// Draw what depends on who we are: the header, the admins' outbox and the rows' buttons.
function applySession() {
  H.header("live");
  connection(...shown);
  document.getElementById("outbox-section").hidden = !H.session.is_admin;
  if (H.session.is_admin && outboxTimer === null) {
    loadOutbox();
    outboxTimer = setInterval(loadOutbox, OUTBOX_EVERY);
  } else if (!H.session.is_admin && outboxTimer !== null) {
    clearInterval(outboxTimer);
    outboxTimer = null;
  }
  render();
}

async function refreshSession() {
  await H.loadSession(); // a 401 goes to the log-in page
  applySession();
}

(async () => {
  await H.loadSession();
  applySession();
  connect();
  setInterval(tick, 1000);
  setInterval(() => refreshSession().catch(() => {}), SESSION_EVERY);
})();
