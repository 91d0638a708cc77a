"use strict";
// The change log page: GET /api/changelog (already cut to what this user may see), newest first.
const H = Holdfast;
const ACTION = {
  remove_callback: "removed a callback",
  move_callback: "moved a callback",
  agent_ready: "set an agent ready",
  agent_pause: "paused an agent",
  agent_logout: "logged an agent out",
  agent_login: "logged an agent in",
};

async function load() {
  const { ok, answer } = await H.api("GET", "/api/changelog");
  if (!ok) return;
  const rows = answer.changes.map((c) => {
    const d = c.detail || {};
    const subject = d.agent_id ? `agent ${d.agent_id}` : [d.queue, c.request_id].filter(Boolean).join(" · ");
    return H.el(
      "tr",
      { "data-id": String(c.id) },
      H.el("td", { class: "mono", text: new Date(c.at_epoch * 1000).toLocaleString([], { dateStyle: "medium", timeStyle: "medium" }) }),
      H.el("td", { text: c.who }),
      H.el("td", { class: "action", text: ACTION[c.action] || c.action }),
      H.el("td", { class: "mono", text: subject }),
      H.el("td", { text: d.before ?? "" }),
      H.el("td", { text: d.after ?? (d.to_queue ? `in ${d.to_queue}` : "") }),
      H.el("td", { class: "reason", text: d.reason ?? "" }),
    );
  });
  document.querySelector("#changes tbody").replaceChildren(...rows);
  document.getElementById("no-changes").hidden = rows.length > 0;
}

(async () => {
  await H.loadSession();
  H.header("changelog");
  await load();
  setInterval(load, 5000);
})();
