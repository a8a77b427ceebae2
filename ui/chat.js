// Conversations: the list in the nav, one conversation in the main area, and asking in it
// with the answer streamed in as it is written.
import { call, postStream } from "./api.js";
import { render } from "./markdown.js";
import { events } from "./sse.js";

const $ = (id) => document.getElementById(id);

let conversations = [];
let current = null;
let asking = null;

function listItem(conversation) {
  const li = document.createElement("li");
  const button = document.createElement("button");
  button.type = "button";
  button.className = "conversation";
  button.textContent = conversation.title || "Untitled";
  if (current && current.id === conversation.id) {
    button.setAttribute("aria-current", "true");
  }
  button.addEventListener("click", () => open(conversation.id));
  li.append(button);
  return li;
}

function showList() {
  const wanted = $("conversation-search").value.trim().toLowerCase();
  const list = $("conversation-list");
  list.replaceChildren(...conversations
    .filter((c) => (c.title || "Untitled").toLowerCase().includes(wanted))
    .map(listItem));
}

export async function loadConversations() {
  const page = await call("GET", "/api/conversations?limit=100");
  conversations = page.conversations;
  showList();
}

/// The sources an answer drew on: each a link that opens the chunk it cites.
function citationsNode(citations) {
  const list = document.createElement("ol");
  list.className = "citations";
  list.setAttribute("aria-label", "Sources");
  for (const citation of citations) {
    const li = document.createElement("li");
    const open = document.createElement("a");
    open.href = `#chunk-${citation.document_id}`;
    open.textContent = citation.title;
    const chunk = document.createElement("blockquote");
    chunk.textContent = citation.chunk;
    chunk.hidden = true;
    open.addEventListener("click", (event) => {
      event.preventDefault();
      chunk.hidden = !chunk.hidden;
    });
    li.append(open, chunk);
    list.append(li);
  }
  return list;
}

function messageNode(role, content, status, citations) {
  const article = document.createElement("article");
  article.className = "message " + role;
  const who = document.createElement("h2");
  who.className = "who";
  who.textContent = role === "user" ? "You" : "maia";
  const body = document.createElement("div");
  body.className = "body";
  body.append(render(content));
  article.append(who, body);
  if (citations && citations.length) {
    article.append(citationsNode(citations));
  }
  if (status && status !== "ok") {
    const note = document.createElement("p");
    note.className = "note";
    note.textContent = status;
    article.append(note);
  }
  return article;
}

/// Sets a picker to `value`, adding it if the list lacks it (a persona or model the
/// conversation names that is gone since, or not pulled into Ollama yet).
function pick(id, value) {
  const select = $(id);
  if (![...select.options].some((o) => o.value === value)) {
    select.append(option(value, value));
  }
  select.value = value;
}

function showConversation(conversation) {
  current = conversation;
  $("chat").hidden = false;
  $("conversation-title").textContent = conversation.title || "Untitled";
  pick("persona", conversation.persona || "");
  pick("model", conversation.model || "");
  pick("mode", conversation.mode || "fast");
  $("messages").replaceChildren(...(conversation.messages || [])
    .map((m) => messageNode(m.role, m.content, m.role === "assistant" ? m.status : null,
      m.citations)));
  showList();
  $("message").focus();
}

async function open(id) {
  showConversation(await call("GET", `/api/conversations/${id}`));
}

async function create() {
  const body = { mode: $("mode").value };
  if ($("model").value) {
    body.model = $("model").value;
  }
  if ($("persona").value) {
    body.persona = $("persona").value;
  }
  const conversation = await call("POST", "/api/conversations", body);
  conversations.unshift(conversation);
  showConversation({ ...conversation, messages: [] });
}

async function rename() {
  const title = prompt("New title", current.title || "");
  if (title === null) {
    return;
  }
  const changed = await call("PATCH", `/api/conversations/${current.id}`,
    { title: title.trim() || null });
  current.title = changed.title;
  conversations = conversations.map((c) => (c.id === changed.id ? changed : c));
  $("conversation-title").textContent = changed.title || "Untitled";
  showList();
}

async function remove() {
  if (!confirm(`Delete "${current.title || "Untitled"}" and its messages?`)) {
    return;
  }
  await call("DELETE", `/api/conversations/${current.id}`);
  conversations = conversations.filter((c) => c.id !== current.id);
  current = null;
  $("chat").hidden = true;
  showList();
}

/// A picker changed: the open conversation asks its next question with the new choice
/// (with none open, the choice is for the next new conversation).
async function changeChoice(field) {
  if (current) {
    const changed = await call("PATCH", `/api/conversations/${current.id}`,
      { [field]: $(field).value || null });
    current = { ...current, ...changed };
  }
}

/// Reads the answer's events into `body`; what ended it.
async function readAnswer(response, body) {
  let text = "";
  for await (const event of events(response)) {
    if (event.name === "token") {
      text += event.data.content;
      body.replaceChildren(render(text));
      $("messages").lastElementChild.scrollIntoView({ block: "end" });
    } else if (event.name === "done") {
      return { ok: true, done: event.data };
    } else if (event.name === "error") {
      return { ok: false, message: event.data.error.message };
    }
  }
  return { ok: false, message: "the answer stopped before its end" };
}

async function send(event) {
  event.preventDefault();
  const box = $("message");
  const content = box.value.trim();
  if (!content || !current || asking) {
    return;
  }
  asking = new AbortController();
  $("send").disabled = true;
  $("stop").hidden = false;
  $("chat-error").textContent = "";
  const question = messageNode("user", content);
  const answer = messageNode("assistant", "");
  $("messages").append(question);
  try {
    const response = await postStream(`/api/conversations/${current.id}/messages`,
      { content, stream: true, knowledge: $("use-notes").checked }, asking.signal);
    box.value = "";
    $("messages").append(answer);
    const end = await readAnswer(response, answer.querySelector(".body"));
    if (end.ok && end.done.title) {
      current.title = end.done.title;
      $("conversation-title").textContent = end.done.title;
    }
    if (end.ok && end.done.citations && end.done.citations.length) {
      answer.append(citationsNode(end.done.citations));
    }
    if (!end.ok) {
      $("chat-error").textContent = end.message;
    }
  } catch (e) {
    if (e.name === "AbortError") {
      $("chat-error").textContent = "stopped: the answer so far is kept";
    } else {
      // Not asked (or not answered at all): the question stays in the box.
      question.remove();
      $("chat-error").textContent = e.message;
    }
  } finally {
    asking = null;
    $("send").disabled = false;
    $("stop").hidden = true;
    loadConversations().catch(() => {});
  }
}

function keys(event) {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    $("chat-form").requestSubmit();
  }
}

function option(value, label) {
  const o = document.createElement("option");
  o.value = value;
  o.textContent = label;
  return o;
}

/// The pickers' lists. Without Ollama there are no models to list, only the mode's.
async function loadChoices() {
  const [personas, models] = await Promise.allSettled([
    call("GET", "/api/personas"), call("GET", "/v1/models")]);
  if (personas.status === "rejected") {
    throw personas.reason;
  }
  $("persona").replaceChildren(option("", "Default persona"),
    ...personas.value.personas.map((p) => option(p.name, p.display_name)));
  const ollamas = models.status === "fulfilled"
    ? models.value.data.filter((m) => m.owned_by === "ollama") : [];
  $("model").replaceChildren(option("", "The mode's model"),
    ...ollamas.map((m) => option(m.id, m.id)));
}

const guarded = (action) => () => action().catch((e) => {
  $("chat-error").textContent = e.message;
});

let bound = false;

/// Wires the controls (once) and loads the conversations and the choices (at each sign-in).
export function startChat() {
  if (!bound) {
    bind();
    bound = true;
  }
  current = null;
  $("chat").hidden = true;
  return Promise.all([loadConversations(), loadChoices()]);
}

function bind() {
  $("new-conversation").addEventListener("click", guarded(create));
  $("rename").addEventListener("click", guarded(rename));
  $("delete").addEventListener("click", guarded(remove));
  for (const field of ["persona", "model", "mode"]) {
    $(field).addEventListener("change", guarded(() => changeChoice(field)));
  }
  $("conversation-search").addEventListener("input", showList);
  $("chat-form").addEventListener("submit", send);
  $("message").addEventListener("keydown", keys);
  $("stop").addEventListener("click", () => asking && asking.abort());
}
