"use strict";
// Log-in form: POST /api/session; the cookie is set by the answer (HttpOnly, not readable here).
document.getElementById("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const error = document.getElementById("login-error");
  error.hidden = true;
  const body = {
    username: document.getElementById("username").value,
    password: document.getElementById("password").value,
  };
  const resp = await fetch("/api/session", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
    credentials: "same-origin",
  });
  if (resp.ok) {
    location.href = sameSiteTarget(new URLSearchParams(location.search).get("next"));
    return;
  }
  const answer = await resp.json().catch(() => ({}));
  error.textContent = answer.error || `log-in failed (${resp.status})`;
  error.hidden = false;
  document.getElementById("password").select();
});
// Where to go after log-in: `next` only if the browser's own URL parser puts it on this origin.
// A prefix check is not enough: the parser reads a backslash as "/" and drops tabs and newlines,
// so "/%5Cattacker.example" and "/%09/attacker.example" lead to another site. The absolute URL, not
// its path: a path of "//attacker.example" (from "http://this-host//attacker.example") would be
// read as another site again.
function sameSiteTarget(next) {
  if (!next) return "/live";
  let url;
  try {
    url = new URL(next, location.origin);
  } catch {
    return "/live";
  }
  return url.origin === location.origin ? url.href : "/live";
}
if (new URLSearchParams(location.search).get("expired")) {
  const error = document.getElementById("login-error");
  error.textContent = "Your session has expired; log in again.";
  error.hidden = false;
}
