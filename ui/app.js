// The page: signing in and out, and the service's health always in view.
import { call, ApiError } from "./api.js";
import { startChat } from "./chat.js";
import { startHistory } from "./history.js";
import { startKnowledge } from "./knowledge.js";

const HEALTH_EVERY_MS = 10_000;

const $ = (id) => document.getElementById(id);

/// Whether the session cookie is still good: any read that needs it tells.
async function signedIn() {
  try {
    await call("GET", "/api/conversations?limit=1");
    return true;
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) {
      return false;
    }
    throw e;
  }
}

function show(isSignedIn) {
  $("sign-in-area").hidden = isSignedIn;
  $("sign-in").hidden = isSignedIn;
  $("signed-in").hidden = !isSignedIn;
  $("sign-out").hidden = !isSignedIn;
  if (isSignedIn) {
    showView("chat-view");
    startChat().catch((e) => {
      $("chat-error").textContent = e.message;
    });
  } else {
    $("token").focus();
  }
}

async function signIn(event) {
  event.preventDefault();
  const field = $("token");
  $("sign-in-error").textContent = "";
  try {
    await call("POST", "/api/session", { token: field.value.trim() });
    // maia makes the cookie Secure unless the page came over plain HTTP from its own
    // machine; over plain HTTP from elsewhere the browser drops it.
    if (!(await signedIn())) {
      $("sign-in-error").textContent = "The token is good, but this browser will not keep " +
        "the session over plain HTTP from another machine: reach maia over HTTPS (behind a " +
        "reverse proxy) or through an SSH tunnel (ssh -L 8080:127.0.0.1:8080 HOST).";
      return;
    }
    field.value = "";
    show(true);
  } catch (e) {
    $("sign-in-error").textContent = e.message;
  }
}

async function signOut() {
  try {
    await call("DELETE", "/api/session");
  } finally {
    show(false);
  }
}

/// The status line: the database and Ollama as `/api/health` reports them.
async function refreshHealth() {
  const status = $("status");
  try {
    const report = await call("GET", "/api/health");
    const ollamaDown = report.ollama !== "available";
    status.textContent = `database ${report.database} · Ollama ${report.ollama}` +
      (ollamaDown ? ": answers cannot be written until it is back" : "");
    status.className = "status " + (report.status === "healthy" ? "good" : "bad");
  } catch (e) {
    status.textContent = "maia does not answer: " + e.message;
    status.className = "status bad";
  }
}

const VIEWS = { "chat-view": () => Promise.resolve(), "knowledge-view": startKnowledge,
  "history-view": startHistory };

/// Shows one view (chat, knowledge, history), loading what it shows afresh.
function showView(name) {
  for (const tab of document.querySelectorAll(".tab")) {
    const on = tab.dataset.view === name;
    tab.setAttribute("aria-pressed", String(on));
    $(tab.dataset.view).hidden = !on;
  }
  VIEWS[name]();
}

async function start() {
  for (const tab of document.querySelectorAll(".tab")) {
    tab.addEventListener("click", () => showView(tab.dataset.view));
  }
  $("sign-in").addEventListener("submit", signIn);
  $("sign-out").addEventListener("click", signOut);
  refreshHealth();
  setInterval(refreshHealth, HEALTH_EVERY_MS);
  try {
    show(await signedIn());
  } catch (e) {
    $("sign-in-error").textContent = e.message;
    show(false);
  }
}

start();
