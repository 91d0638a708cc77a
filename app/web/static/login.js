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
    const next = new URLSearchParams(location.search).get("next");
    location.href = next && next.startsWith("/") && !next.startsWith("//") ? next : "/live";
    return;
  }
  const answer = await resp.json().catch(() => ({}));
  error.textContent = answer.error || `log-in failed (${resp.status})`;
  error.hidden = false;
  document.getElementById("password").select();
});
if (new URLSearchParams(location.search).get("expired")) {
  const error = document.getElementById("login-error");
  error.textContent = "Your session has expired; log in again.";
  error.hidden = false;
}
