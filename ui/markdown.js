// Markdown to DOM nodes, never to HTML: every piece of the model's text goes in as a text
// node, so a `<script>` or an `<img onerror>` in an answer is shown, not run. What it knows:
// fenced code (with a copy button), headings, lists, paragraphs, `code`, **bold**, *italic*
// and [links](https://...) whose address is http(s).

function inline(parent, text) {
  const pattern = /(`[^`]+`|\*\*[^*]+\*\*|\*[^*\s][^*]*\*|\[[^\]]+\]\([^)\s]+\))/;
  for (const part of text.split(pattern)) {
    if (!part) {
      continue;
    }
    let node;
    if (part.startsWith("`") && part.endsWith("`") && part.length > 1) {
      node = document.createElement("code");
      node.textContent = part.slice(1, -1);
    } else if (part.startsWith("**") && part.endsWith("**") && part.length > 4) {
      node = document.createElement("strong");
      node.textContent = part.slice(2, -2);
    } else if (part.startsWith("*") && part.endsWith("*") && part.length > 2) {
      node = document.createElement("em");
      node.textContent = part.slice(1, -1);
    } else if (part.startsWith("[") && part.endsWith(")")) {
      node = link(part);
    } else {
      node = document.createTextNode(part);
    }
    parent.append(node);
  }
}

function link(source) {
  const close = source.indexOf("](");
  const label = source.slice(1, close);
  const address = source.slice(close + 2, -1);
  if (!/^https?:\/\//i.test(address)) {
    return document.createTextNode(source);
  }
  const a = document.createElement("a");
  a.href = address;
  a.textContent = label;
  a.rel = "noopener noreferrer";
  a.target = "_blank";
  return a;
}

function codeBlock(lines) {
  const figure = document.createElement("div");
  figure.className = "code";
  const pre = document.createElement("pre");
  const code = document.createElement("code");
  code.textContent = lines.join("\n");
  pre.append(code);
  const copy = document.createElement("button");
  copy.type = "button";
  copy.className = "copy";
  copy.textContent = "Copy";
  copy.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(code.textContent);
      copy.textContent = "Copied";
    } catch {
      copy.textContent = "Copy failed";
    }
    setTimeout(() => { copy.textContent = "Copy"; }, 1500);
  });
  figure.append(copy, pre);
  return figure;
}

/// `text` as a fragment of block elements.
export function render(text) {
  const out = document.createDocumentFragment();
  const lines = text.replace(/\r\n/g, "\n").split("\n");
  let paragraph = [];
  let list = null;
  const flush = () => {
    if (paragraph.length) {
      const p = document.createElement("p");
      inline(p, paragraph.join(" "));
      out.append(p);
      paragraph = [];
    }
    list = null;
  };
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (line.startsWith("```")) {
      flush();
      const code = [];
      for (i++; i < lines.length && !lines[i].startsWith("```"); i++) {
        code.push(lines[i]);
      }
      out.append(codeBlock(code));
      continue;
    }
    const heading = /^(#{1,6})\s+(.*)$/.exec(line);
    const item = /^\s*(?:[-*+]|\d+[.)])\s+(.*)$/.exec(line);
    if (heading) {
      flush();
      const h = document.createElement("h" + Math.min(heading[1].length + 2, 6));
      inline(h, heading[2]);
      out.append(h);
    } else if (item) {
      if (paragraph.length) {
        flush();
      }
      if (!list) {
        list = document.createElement(/^\s*\d/.test(line) ? "ol" : "ul");
        out.append(list);
      }
      const li = document.createElement("li");
      inline(li, item[1]);
      list.append(li);
    } else if (line.trim() === "") {
      flush();
    } else {
      list = null;
      paragraph.push(line.trim());
    }
  }
  flush();
  return out;
}
