"""A stand-in for Ollama in the VM tests (which have no network and no models).

Speaks the part of Ollama's HTTP API that maia uses: GET /api/version, GET /api/tags,
POST /api/chat (non-streaming, and streaming as newline-delimited JSON for completeness) and
POST /api/embed (a hashed bag of words: texts that share words point the same way). Each
answer echoes the last user message, so a test can find its query in the reply. Standard
library only.
"""

import argparse
import hashlib
import json
import math
import re
import time
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

VERSION = "0.9.0"
# nomic-embed-text's length, maia's default knowledge.embed_dimensions.
DIMENSIONS = 768


def embedding(text: str) -> list[float]:
    """Each word adds 1 to one of DIMENSIONS numbers picked by its hash; length 1."""
    vector = [0.0] * DIMENSIONS
    vector[0] = 0.01  # a text without words still points somewhere
    for word in re.findall(r"\w+", text.lower()):
        slot = int.from_bytes(hashlib.sha256(word.encode()).digest()[:4], "big") % DIMENSIONS
        vector[slot] += 1.0
    length = math.sqrt(sum(x * x for x in vector))
    return [x / length for x in vector]


def now() -> str:
    return datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")


class Handler(BaseHTTPRequestHandler):
    models: list[str] = []
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # to the journal, one line per request
        print("fake-ollama: " + fmt % args, flush=True)

    def send_json(self, status: int, body) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json; charset=utf-8")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/":
            data = b"Ollama is running"
            self.send_response(200)
            self.send_header("content-type", "text/plain; charset=utf-8")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        elif self.path == "/api/version":
            self.send_json(200, {"version": VERSION})
        elif self.path == "/api/tags":
            self.send_json(
                200,
                {
                    "models": [
                        {
                            "name": name,
                            "model": name,
                            "modified_at": "2026-01-01T00:00:00Z",
                            "size": 2019393189,
                            "digest": "0" * 64,
                            "details": {
                                "format": "gguf",
                                "family": "llama",
                                "parameter_size": "3.2B",
                                "quantization_level": "Q4_K_M",
                            },
                        }
                        for name in self.models
                    ]
                },
            )
        else:
            self.send_json(404, {"error": "not found"})

    def do_POST(self):
        if self.path not in ("/api/chat", "/api/embed"):
            self.send_json(404, {"error": "not found"})
            return
        length = int(self.headers.get("content-length", "0"))
        try:
            request = json.loads(self.rfile.read(length) or b"{}")
        except json.JSONDecodeError:
            self.send_json(400, {"error": "invalid JSON"})
            return
        model = request.get("model", "")
        if model not in self.models and f"{model}:latest" not in self.models:
            self.send_json(404, {"error": f"model '{model}' not found"})
            return
        if self.path == "/api/embed":
            texts = request.get("input", [])
            texts = [texts] if isinstance(texts, str) else texts
            self.send_json(200, {"model": model, "embeddings": [embedding(t) for t in texts]})
            return
        messages = request.get("messages") or []
        question = next(
            (m.get("content", "") for m in reversed(messages) if m.get("role") == "user"),
            "",
        )
        reply = f"fake-ollama heard: {question}"
        prompt_tokens = sum(len(m.get("content", "").split()) for m in messages)
        final = {
            "model": model,
            "created_at": now(),
            "message": {"role": "assistant", "content": reply},
            "done": True,
            "done_reason": "stop",
            "total_duration": 5_000_000,
            "load_duration": 1_000_000,
            "prompt_eval_count": prompt_tokens,
            "prompt_eval_duration": 1_000_000,
            "eval_count": len(reply.split()),
            "eval_duration": 2_000_000,
        }
        if request.get("stream", True) is False:
            self.send_json(200, final)
            return
        # Streaming: one chunk with the content, then the final object with empty content.
        chunk = {
            "model": model,
            "created_at": now(),
            "message": {"role": "assistant", "content": reply},
            "done": False,
        }
        final["message"]["content"] = ""
        body = (json.dumps(chunk) + "\n" + json.dumps(final) + "\n").encode()
        self.send_response(200)
        self.send_header("content-type", "application/x-ndjson")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=11434)
    parser.add_argument("--model", action="append", default=[], help="a model to offer (repeatable)")
    args = parser.parse_args()
    Handler.models = args.model or ["llama3.2:3b"]
    server = ThreadingHTTPServer((args.host, args.port), Handler)
    print(f"fake-ollama: listening on {args.host}:{args.port}, models {Handler.models}", flush=True)
    started = time.monotonic()
    try:
        server.serve_forever()
    finally:
        print(f"fake-ollama: stopped after {time.monotonic() - started:.0f}s", flush=True)


if __name__ == "__main__":
    main()
