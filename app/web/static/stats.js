"use strict";
// The statistics page: GET /api/stats (already cut to what this user may see) drawn as tables and
// two inline SVG charts. Nothing is computed here but sums over keys for the "all" view.
const H = Holdfast;
const SVG = "http://www.w3.org/2000/svg";
const pct = (v) => (v === null || v === undefined ? "–" : `${(v * 100).toFixed(1)} %`);
const secs = (v) => (v === null || v === undefined ? "–" : v < 600 ? `${v.toFixed(1)} s` : H.duration(v));
const int = (v) => (v === null || v === undefined ? "–" : String(v));
const hours = (v) => (v ? `${(v / 3600).toFixed(1)} h` : "–");

// Columns per dimension: [field, header, format, tooltip]
const COLUMNS = {
  queue: [
    ["offered", "Offered", int], ["answered", "Answered", int], ["abandoned", "Abandoned", int],
    ["short_abandoned", "Short ab.", int], ["abandon_rate", "Abandon rate", pct],
    ["callbacks_requested", "CB asked", int], ["callbacks_served", "CB served", int],
    ["callbacks_missed", "CB missed", int], ["callbacks_expired", "CB expired", int], ["callbacks_removed", "CB removed", int],
    ["tickets", "Tickets", int, "Callers given a ticket: staff call them back, Holdfast places no call"],
    ["moved_in", "Moved in", int, "Callbacks a supervisor moved into this queue from another"],
    ["moved_out", "Moved out", int, "Callbacks a supervisor moved out of this queue to another"],
    ["asa", "ASA", secs], ["asa_p90", "ASA p90", secs], ["gross_wait_avg", "Gross wait", secs],
    ["handle_avg", "Handle", secs], ["sla_net", "SLA net", pct], ["sla_gross", "SLA gross", pct],
    ["wrap_up_avg", "Wrap-up / call", secs],
  ],
  agent: [
    ["offered", "Rung", int], ["answered", "Answered", int], ["asa", "ASA", secs], ["handle_avg", "Handle", secs],
    ["logged_in_seconds", "Logged in", hours], ["busy_seconds", "Busy", hours], ["occupancy", "Occupancy", pct],
    ["wrap_up_seconds", "Wrap-up", hours], ["wrap_up_avg", "Wrap-up / call", secs],
  ],
  campaign: [
    ["dial_attempts", "Dials", int], ["dial_connects", "Connects", int], ["dial_abandoned", "Abandoned", int],
    ["dial_abandon_rate", "Abandon rate", pct], ["answered", "Talked", int], ["handle_avg", "Handle", secs],
  ],
};
const BARS = {
  queue: [["offered", "Offered", "offered"], ["answered", "Answered", "answered"], ["abandoned", "Abandoned", "abandoned"], ["short_abandoned", "Short abandons", "short"]],
  agent: [["offered", "Rung", "offered"], ["answered", "Answered", "answered"]],
  campaign: [["dial_attempts", "Dials", "offered"], ["dial_connects", "Connects", "answered"], ["dial_abandoned", "Abandoned", "abandoned"]],
};
const LINES = {
  queue: [["sla_net", "SLA net wait", "sla"], ["sla_gross", "SLA gross wait", "gross"]],
  agent: [["occupancy", "Occupancy", "sla"]],
  campaign: [["dial_abandon_rate", "Abandon rate", "sla"]],
};
let last = null;

function today() {
  const d = new Date();
  return `${d.getUTCFullYear()}-${String(d.getUTCMonth() + 1).padStart(2, "0")}-${String(d.getUTCDate()).padStart(2, "0")}`;
}

function params(format) {
  const from = Date.parse(`${document.getElementById("day").value}T00:00:00Z`) / 1000;
  const days = Math.max(1, Number(document.getElementById("days").value) || 1);
  const q = new URLSearchParams({
    from: String(from), to: String(from + days * 86400),
    by: document.getElementById("by").value, interval: document.getElementById("interval").value,
    short_abandon: document.getElementById("short").value || "5",
  });
  if (format) q.set("format", format);
  return q;
}

function table(id, cols, rows, first) {
  const el = document.getElementById(id);
  el.querySelector("thead").replaceChildren(H.el("tr", {}, H.el("th", { text: first }), ...cols.map(([, h, , tip]) => H.el("th", { class: "num", text: h, title: tip }))));
  el.querySelector("tbody").replaceChildren(...rows.map(([label, r]) => H.el(
    "tr", { "data-key": label },
    H.el("td", { class: "mono", text: label }),
    ...cols.map(([f, , fmt]) => H.el("td", { class: `num mono${f === "sla_net" && r[f] !== null && r[f] < 0.8 ? " bad" : ""}`, text: fmt(r[f]) })),
  )));
}

// Sum the rows of every key per bucket (ratios weighted by their denominators).
function merged(rows, key) {
  const byBucket = new Map();
  for (const r of rows) {
    if (key !== "*" && r.key !== key) continue;
    const m = byBucket.get(r.bucket) || { bucket: r.bucket, _w: {} };
    for (const [k, v] of Object.entries(r)) {
      if (typeof v !== "number" || k === "bucket" || k.startsWith("_")) continue;
      if (k === "asa_p90") {  // a percentile does not add up over keys: shown only for one key
        m.asa_p90 = m._keys ? null : v;
      } else if (["sla_net", "sla_gross", "asa", "handle_avg", "gross_wait_avg"].includes(k)) {
        m._w[k] = (m._w[k] || 0) + (r.answered || 0);
        m[k] = (m[k] || 0) + v * (r.answered || 0);
      } else m[k] = (m[k] || 0) + v;
    }
    m._keys = (m._keys || 0) + 1;
    byBucket.set(r.bucket, m);
  }
  const out = [...byBucket.values()].sort((a, b) => a.bucket - b.bucket);
  for (const m of out) {
    for (const [k, w] of Object.entries(m._w)) m[k] = w ? m[k] / w : null;
    const counted = (m.offered || 0) - (m.short_abandoned || 0);  // short abandons stay out of the rate
    m.abandon_rate = counted > 0 ? ((m.abandoned || 0) - (m.short_abandoned || 0)) / counted : null;
    m.occupancy = m.logged_in_seconds ? m.busy_seconds / m.logged_in_seconds : null;
    m.wrap_up_avg = m.answered && m.wrap_up_seconds !== undefined ? m.wrap_up_seconds / m.answered : null;
    m.dial_abandon_rate = m.dial_connects + m.dial_abandoned ? m.dial_abandoned / (m.dial_connects + m.dial_abandoned) : null;
  }
  return out;
}

function svg(tag, attrs, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

function label(bucket, width) {
  const d = new Date(bucket * 1000);
  if (width >= 86400) return `${d.getUTCMonth() + 1}/${d.getUTCDate()}`;
  return `${String(d.getUTCHours()).padStart(2, "0")}:${String(d.getUTCMinutes()).padStart(2, "0")}`;
}

function frame(el, maxY, fmtY, buckets, width) {
  const W = el.clientWidth || 600, Ht = 220, L = 44, R = 10, T = 8, B = 22;
  el.setAttribute("viewBox", `0 0 ${W} ${Ht}`);
  el.replaceChildren();
  const plotW = W - L - R, plotH = Ht - T - B;
  for (let i = 0; i <= 4; i++) {
    const y = T + plotH - (plotH * i) / 4;
    el.append(svg("line", { x1: L, x2: W - R, y1: y, y2: y, class: "grid-line" }));
    el.append(svg("text", { x: L - 6, y: y + 4, "text-anchor": "end" }, fmtY((maxY * i) / 4)));
  }
  const step = Math.max(1, Math.ceil(buckets.length / 12));
  buckets.forEach((b, i) => {
    if (i % step) return;
    el.append(svg("text", { x: L + (plotW * (i + 0.5)) / buckets.length, y: Ht - 6, "text-anchor": "middle" }, label(b, width)));
  });
  return { L, T, plotW, plotH };
}

function legend(id, items, prefix) {
  document.getElementById(id).replaceChildren(...items.map(([, name, cls]) => H.el("span", {}, H.el("i", { class: `${prefix}${cls}` }), name)));
}

function charts(series, by, width) {
  const buckets = series.map((r) => r.bucket);
  const bars = BARS[by];
  const vol = document.getElementById("volume");
  const maxV = Math.max(1, ...series.flatMap((r) => bars.map(([f]) => r[f] || 0)));
  const niceMax = Math.ceil(maxV / 4) * 4;
  const f = frame(vol, niceMax, (v) => String(Math.round(v)), buckets, width);
  const slot = f.plotW / Math.max(1, series.length);
  const barW = Math.max(1, (slot * 0.8) / bars.length);
  series.forEach((r, i) => bars.forEach(([field, , cls], j) => {
    const h = ((r[field] || 0) / niceMax) * f.plotH;
    vol.append(svg("rect", { x: f.L + i * slot + slot * 0.1 + j * barW, y: f.T + f.plotH - h, width: barW, height: h, class: `c-${cls}` }));
  }));
  legend("volume-legend", bars, "k-");
  const sla = document.getElementById("sla");
  const g = frame(sla, 1, (v) => `${Math.round(v * 100)}%`, buckets, width);
  const lines = [...LINES[by]];
  const asaMax = by === "queue" ? Math.max(1, ...series.map((r) => r.asa || 0)) : 0;
  if (by === "queue") lines.push(["asa", `ASA (100% = ${asaMax.toFixed(0)} s)`, "asa"]);
  for (const [field, , cls] of lines) {
    const pts = series.map((r, i) => [r[field], i]).filter(([v]) => v !== null && v !== undefined)
      .map(([v, i]) => `${(g.L + g.plotW * (i + 0.5) / series.length).toFixed(1)},${(g.T + g.plotH - (field === "asa" ? v / asaMax : v) * g.plotH).toFixed(1)}`);
    if (pts.length) sla.append(svg("polyline", { points: pts.join(" "), class: `l-${cls}` }));
  }
  legend("sla-legend", lines, "k-");
}

function showKey() {
  if (!last) return;
  const key = document.getElementById("key").value;
  const series = merged(last.rows, key);
  charts(series, last.by, last.interval);
  table("rows", COLUMNS[last.by], series.map((r) => [label(r.bucket, last.interval === 86400 ? 86400 : 0) + (last.interval < 86400 ? ` ${new Date(r.bucket * 1000).toISOString().slice(5, 10)}` : ""), r]), "Interval (UTC)");
}

async function load(event) {
  if (event) event.preventDefault();
  const q = params();
  document.getElementById("csv").href = `/api/stats?${params("csv")}`;
  const started = performance.now();
  const { ok, answer } = await H.api("GET", `/api/stats?${q}`);
  const problem = document.getElementById("problem");
  problem.hidden = ok;
  if (!ok) {
    problem.textContent = answer.error || "the statistics could not be read";
    // The last report's figures would read as this range's: take them away.
    last = null;
    for (const id of ["totals", "rows"]) for (const part of ["thead", "tbody"]) document.querySelector(`#${id} ${part}`).replaceChildren();
    for (const id of ["volume", "sla", "volume-legend", "sla-legend", "range", "took"]) document.getElementById(id).replaceChildren();
    document.getElementById("pruned").hidden = true;
    return;
  }
  // The history keeper deleted the events before its cut: this range's figures before it are short.
  const pruned = document.getElementById("pruned");
  pruned.hidden = !answer.pruned_before;
  if (answer.pruned_before) {
    pruned.textContent = `History before ${answer.pruned_before.slice(0, 16).replace("T", " ")} UTC was deleted `
      + "(service.keep_history): the figures before then are missing, so they are lower than what happened.";
  }
  document.getElementById("took").textContent = `${answer.rows.length} rows in ${Math.round(performance.now() - started)} ms`;
  last = answer;
  document.getElementById("range").textContent = `— ${answer.from.slice(0, 16).replace("T", " ")} to ${answer.to.slice(0, 16).replace("T", " ")} UTC, by ${answer.by}`;
  const totals = answer.totals.map((t) => [t.key, t]);
  if (totals.length > 1) totals.push(["all", merged(answer.totals.map((t) => ({ ...t, bucket: 0 })), "*")[0]]);
  table("totals", COLUMNS[answer.by], totals, answer.by[0].toUpperCase() + answer.by.slice(1));
  document.getElementById("no-data").hidden = answer.totals.length > 0;
  const select = document.getElementById("key");
  const keep = select.value;
  select.replaceChildren(H.el("option", { value: "*", text: `all ${answer.by}s` }), ...answer.totals.map((t) => H.el("option", { value: t.key, text: t.key })));
  if ([...select.options].some((o) => o.value === keep)) select.value = keep;
  showKey();
}

(async () => {
  await H.loadSession();
  H.header("stats");
  const q = new URLSearchParams(location.search);
  document.getElementById("day").value = q.get("day") || today();
  for (const name of ["days", "by", "interval"]) if (q.get(name)) document.getElementById(name).value = q.get(name);
  document.getElementById("controls").addEventListener("submit", load);
  document.getElementById("key").addEventListener("change", showKey);
  await load();
})();
