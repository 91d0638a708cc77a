"use strict";
// Shared by the pages: the session, API calls with the CSRF header, formatting, the header bar.
const Holdfast = {
  session: null,

  async loadSession() {
    const resp = await fetch("/api/session", { credentials: "same-origin" });
    if (resp.status === 401) {
      const answer = await resp.json().catch(() => ({}));
      const expired = /expired/.test(answer.error || "") ? "&expired=1" : "";
      location.href = `/login?next=${encodeURIComponent(location.pathname)}${expired}`;
      throw new Error("not logged in");
    }
    this.session = await resp.json();
    return this.session;
  },

  async api(method, path, body) {
    const headers = { "Content-Type": "application/json" };
    if (this.session && this.session.csrf_token) headers["X-CSRF-Token"] = this.session.csrf_token;
    const resp = await fetch(path, {
      method,
      headers,
      credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const answer = await resp.json().catch(() => ({}));
    if (resp.status === 401) {
      location.href = `/login?next=${encodeURIComponent(location.pathname)}&expired=1`;
    }
    return { ok: resp.ok, status: resp.status, answer };
  },

  async logout() {
    await fetch("/api/session", { method: "DELETE", credentials: "same-origin" });
    location.href = "/login";
  },

  // 75 -> "1:15", 3725 -> "1:02:05"
  duration(seconds) {
    if (seconds === null || seconds === undefined || !isFinite(seconds)) return "–";
    const s = Math.max(0, Math.floor(seconds));
    const h = Math.floor(s / 3600);
    const m = Math.floor((s % 3600) / 60);
    const sec = String(s % 60).padStart(2, "0");
    return h ? `${h}:${String(m).padStart(2, "0")}:${sec}` : `${m}:${sec}`;
  },

  clock(epoch) {
    if (!epoch) return "–";
    return new Date(epoch * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  },

  el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs)) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "text") node.textContent = value;
      else if (key === "class") node.className = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : value);
    }
    for (const child of children) if (child !== null && child !== undefined) node.append(child);
    return node;
  },

  header(active) {
    const s = this.session;
    const nav = document.getElementById("topbar");
    nav.replaceChildren(
      this.el("span", { class: "brand", text: "Holdfast" }),
      this.el("a", { href: "/live", class: active === "live" ? "active" : null, text: "Live" }),
      this.el("a", { href: "/changelog", class: active === "changelog" ? "active" : null, text: "Change log" }),
      this.el("a", { href: "/stats", class: active === "stats" ? "active" : null, text: "Statistics" }),
      this.el("span", { class: "spacer" }),
      this.el("span", { id: "connection", class: "connection" }),
      this.el("span", { class: "user", text: `${s.user} · ${s.role}` }),
      s.via === "session" ? this.el("button", { class: "link", id: "logout", text: "Log out", onclick: () => this.logout() }) : null,
    );
  },
};
