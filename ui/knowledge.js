// Knowledge: notes uploaded as .md/.txt files, listed and deleted, and searched.
import { call, upload } from "./api.js";

const $ = (id) => document.getElementById(id);

function documentRow(doc) {
  const li = document.createElement("li");
  li.className = "row";
  const title = document.createElement("span");
  title.className = "grow";
  title.textContent = doc.title;
  const remove = document.createElement("button");
  remove.type = "button";
  remove.textContent = "Delete";
  remove.setAttribute("aria-label", `Delete ${doc.title}`);
  remove.addEventListener("click", async () => {
    try {
      await call("DELETE", `/api/documents/${doc.id}`);
      li.remove();
    } catch (e) {
      $("knowledge-error").textContent = e.message;
    }
  });
  li.append(title, remove);
  return li;
}

export async function loadDocuments() {
  const page = await call("GET", "/api/documents?limit=100");
  $("document-list").replaceChildren(...page.documents.map(documentRow));
}

async function uploadFiles(event) {
  event.preventDefault();
  const files = [...$("note-files").files];
  $("knowledge-error").textContent = "";
  for (const file of files) {
    const form = new FormData();
    form.append("file", file, file.name);
    try {
      await upload("/api/documents", form);
      $("knowledge-status").textContent = `added ${file.name}`;
    } catch (e) {
      $("knowledge-error").textContent = `${file.name}: ${e.message}`;
      break;
    }
  }
  $("note-files").value = "";
  await loadDocuments();
}

function hitRow(hit) {
  const li = document.createElement("li");
  const head = document.createElement("strong");
  head.textContent = `${hit.title} (${hit.score.toFixed(3)})`;
  const text = document.createElement("p");
  text.textContent = hit.chunk;
  li.append(head, text);
  return li;
}

async function search(event) {
  event.preventDefault();
  const q = $("search-words").value.trim();
  if (!q) {
    return;
  }
  try {
    const found = await call("GET", `/api/search?k=10&q=${encodeURIComponent(q)}`);
    $("search-hits").replaceChildren(...found.hits.map(hitRow));
    $("knowledge-error").textContent = found.hits.length ? "" : "nothing found";
  } catch (e) {
    $("knowledge-error").textContent = e.message;
  }
}

let bound = false;

export function startKnowledge() {
  if (!bound) {
    $("upload-form").addEventListener("submit", uploadFiles);
    $("search-form").addEventListener("submit", search);
    bound = true;
  }
  return loadDocuments().catch((e) => {
    $("knowledge-error").textContent = e.message;
  });
}
