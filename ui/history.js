// The history: every exchange's trace, newest first, filtered by status or words, and
// deleted one by one (with the admin scope).
import { call } from "./api.js";

const $ = (id) => document.getElementById(id);

let traces = [];
let nextBefore = null;

function traceRow(trace) {
  const li = document.createElement("li");
  li.className = "row trace";
  const status = document.createElement("span");
  status.className = "badge " + trace.status;
  status.textContent = trace.status;
  const when = document.createElement("time");
  when.dateTime = trace.created_at;
  when.textContent = new Date(trace.created_at).toLocaleString();
  const query = document.createElement("span");
  query.className = "grow";
  query.textContent = trace.query;
  const remove = document.createElement("button");
  remove.type = "button";
  remove.textContent = "Delete";
  remove.setAttribute("aria-label", `Delete the trace of ${trace.query.slice(0, 40)}`);
  remove.addEventListener("click", async () => {
    try {
      await call("DELETE", `/api/traces/${trace.id}`);
      traces = traces.filter((t) => t.id !== trace.id);
      show();
    } catch (e) {
      $("history-error").textContent = e.message;
    }
  });
  li.append(status, when, query, remove);
  return li;
}

function show() {
  const status = $("history-status").value;
  const words = $("history-words").value.trim().toLowerCase();
  $("trace-list").replaceChildren(...traces
    .filter((t) => !status || t.status === status)
    .filter((t) => !words || t.query.toLowerCase().includes(words))
    .map(traceRow));
  $("history-more").hidden = !nextBefore;
}

async function load(more) {
  const cursor = more && nextBefore ? `&before=${encodeURIComponent(nextBefore)}` : "";
  try {
    const page = await call("GET", `/api/traces?limit=50${cursor}`);
    traces = more ? traces.concat(page.traces) : page.traces;
    nextBefore = page.next_before;
    $("history-error").textContent = "";
    show();
  } catch (e) {
    $("history-error").textContent = e.message;
  }
}

let bound = false;

export function startHistory() {
  if (!bound) {
    $("history-status").addEventListener("change", show);
    $("history-words").addEventListener("input", show);
    $("history-more").addEventListener("click", () => load(true));
    bound = true;
  }
  return load(false);
}
