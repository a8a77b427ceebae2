//! An in-process fake Ollama speaking Ollama's HTTP wire protocol, for integration tests.
//!
//! Endpoints: `GET /` ("Ollama is running"), `GET /api/version`, `GET /api/tags`,
//! `POST /api/chat` (non-streaming JSON, or streaming NDJSON, Ollama's default),
//! `POST /api/embed` (hashed bag-of-words embeddings, `kit::embeddings`), and a plain-text
//! 404 for anything else, like Ollama's router. A chat's `options.num_predict` is honoured
//! as Ollama does: the answer stops after that many pieces, with `done_reason: "length"`.
//! How `/api/chat` answers is chosen with [`FakeOllama::set_behavior`]; every chat request
//! body is recorded.
//!
//! Part of the test kit (`kit::fake_ollama`); `kit::start_ollama` starts one with the
//! models the kit's settings name. It runs on the caller's Tokio runtime (`#[tokio::test]`
//! of either flavour, or `#[actix_web::test]`); its one actix worker runs on a thread of
//! its own.

use std::convert::Infallible;
use std::future::Future;
use std::net::{SocketAddr, TcpListener};
use std::os::fd::AsFd;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use actix_web::dev::ServerHandle;
use actix_web::http::StatusCode;
use actix_web::web::{self, Bytes};
use actix_web::{App, HttpRequest, HttpResponse, HttpServer};
use futures_util::stream::{self, Stream, StreamExt};
use serde_json::{json, Map, Value};

/// Ollama's version, as `/api/version` reports it.
pub const VERSION: &str = "0.12.0";

/// Timing figures (nanoseconds) in the final chat object. Fixed, so tests can assert them.
pub const TOTAL_DURATION: u64 = 1_234_567_890;
pub const LOAD_DURATION: u64 = 12_345_678;
pub const PROMPT_EVAL_DURATION: u64 = 23_456_789;
pub const EVAL_DURATION: u64 = 987_654_321;

/// The pause between two written pieces of a body when chunks are split, so that they
/// reach the client as separate reads rather than one coalesced buffer.
const SPLIT_PAUSE: Duration = Duration::from_millis(3);
/// The longest piece written when chunks are split (cuts also fall inside every
/// multi-byte UTF-8 character).
const SPLIT_SIZE: usize = 11;

/// How `POST /api/chat` answers (once the request is valid and the model exists).
#[derive(Clone, Debug)]
pub enum Behavior {
    /// Normal answer: `echo: {content of the last user message}`.
    Reply,
    /// Normal answer with this content.
    ReplyWith(String),
    /// `{"error": message}` with this status, streaming or not.
    Error { status: u16, message: String },
    /// Sleep, then the normal answer (headers are sent only after the sleep).
    Delay(Duration),
    /// Accept the request and never answer (no headers); ends with [`FakeOllama::stop`].
    Hang,
    /// A model that writes slowly: each line (the pieces, then the final one) comes `pause`
    /// after the one before. Non-streaming: nothing until all that time has passed, as
    /// Ollama answers when told `"stream": false`.
    Trickle(Duration),
    /// Streaming: this many pieces, then silence until the server stops (a model that
    /// stalls mid-answer). Non-streaming: as `Hang`.
    StallAfter(usize),
    /// Streaming: the first half of the pieces, then a `{"error": ...}` line, then the end
    /// of the body (the status is already 200), as Ollama does when generation fails.
    /// Non-streaming: 500 `{"error": ...}`, as Ollama answers when it cannot finish.
    MidStreamError(String),
}

struct Config {
    behavior: Behavior,
    /// Behaviours for the chats whose first system message contains the text, before
    /// `behavior`: the first that matches wins.
    by_system: Vec<(String, Behavior)>,
    split_chunks: bool,
    omit_zero_metrics: bool,
}

struct Shared {
    models: Vec<String>,
    config: Mutex<Config>,
    chat_requests: Mutex<Vec<Value>>,
    /// The client's address of each `POST /api/chat`: one per connection it came on.
    chat_peers: Mutex<Vec<Option<SocketAddr>>>,
    /// Texts embedded, in all.
    embedded: AtomicUsize,
    requests: AtomicUsize,
    /// When each streamed answer cut off by its client (the connection closed before the
    /// body's end) was dropped.
    cut_streams: Mutex<Vec<Instant>>,
    /// Chat requests being answered (until the response's head), and the most at once.
    chatting: AtomicUsize,
    most_chatting: AtomicUsize,
}

impl Shared {
    fn config(&self) -> MutexGuard<'_, Config> {
        self.config.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn chats(&self) -> MutexGuard<'_, Vec<Value>> {
        self.chat_requests.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A running fake Ollama on `127.0.0.1` and a port of its own.
pub struct FakeOllama {
    addr: SocketAddr,
    shared: Arc<Shared>,
    handle: ServerHandle,
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl FakeOllama {
    /// Starts a fake Ollama that has `models` (names as given, e.g. `llama3.2:3b`; a name
    /// without a tag also matches `name:latest`, as in Ollama).
    pub async fn start(models: &[&str]) -> FakeOllama {
        let shared = Arc::new(Shared {
            models: models.iter().map(|m| m.to_string()).collect(),
            config: Mutex::new(Config {
                behavior: Behavior::Reply,
                by_system: Vec::new(),
                split_chunks: false,
                omit_zero_metrics: false,
            }),
            chat_requests: Mutex::new(Vec::new()),
            chat_peers: Mutex::new(Vec::new()),
            embedded: AtomicUsize::new(0),
            requests: AtomicUsize::new(0),
            cut_streams: Mutex::new(Vec::new()),
            chatting: AtomicUsize::new(0),
            most_chatting: AtomicUsize::new(0),
        });
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the fake Ollama");
        let addr = listener.local_addr().expect("the fake Ollama's address");
        let data = web::Data::from(shared.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                // Ollama takes long prompts; actix's default body limit is 256 KiB.
                .app_data(web::PayloadConfig::new(64 * 1024 * 1024))
                .route("/", web::get().to(root))
                .route("/", web::head().to(root))
                .route("/api/version", web::get().to(version))
                .route("/api/tags", web::get().to(tags))
                .route("/api/chat", web::post().to(chat))
                .route("/api/embed", web::post().to(embed))
                .default_service(web::to(not_found))
        })
        .workers(1)
        // As Ollama's Go server does: each line goes out when written.
        .tcp_nodelay(true)
        .on_connect(keep_socket)
        .disable_signals()
        .listen(listener)
        .expect("listen on the fake Ollama's socket")
        .run();
        let handle = server.handle();
        let server = tokio::spawn(server);
        FakeOllama {
            addr,
            shared,
            handle,
            server: Some(server),
        }
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// How the following chat requests are answered.
    pub fn set_behavior(&self, b: Behavior) {
        self.shared.config().behavior = b;
    }

    /// How the following chat requests whose first system message contains `system` are
    /// answered (whatever [`FakeOllama::set_behavior`] says for the others).
    pub fn set_behavior_for_system(&self, system: &str, b: Behavior) {
        self.shared.config().by_system.push((system.to_string(), b));
    }

    /// The most chat requests that were being answered at once (each counted from its
    /// arrival to its response's head).
    pub fn most_concurrent_chats(&self) -> usize {
        self.shared.most_chatting.load(Ordering::SeqCst)
    }

    /// Streaming bodies are written in small pieces that cut lines mid-JSON and cut
    /// multi-byte UTF-8 characters in two.
    pub fn set_split_chunks(&self, on: bool) {
        self.shared.config().split_chunks = on;
    }

    /// The final chat object leaves out `load_duration`, `prompt_eval_count` and
    /// `prompt_eval_duration`, as Ollama does when they are zero (model loaded, prompt
    /// cached: its fields are `omitempty`).
    pub fn set_omit_zero_metrics(&self, on: bool) {
        self.shared.config().omit_zero_metrics = on;
    }

    /// Every `POST /api/chat` body received, in order (a body that is not JSON is kept
    /// as a JSON string of its text).
    pub fn chat_requests(&self) -> Vec<Value> {
        self.shared.chats().clone()
    }

    pub fn chat_count(&self) -> usize {
        self.shared.chats().len()
    }

    /// How many connections the chat requests came on (their distinct client addresses).
    pub fn chat_connections(&self) -> usize {
        let peers = self
            .shared
            .chat_peers
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        peers.iter().collect::<std::collections::HashSet<_>>().len()
    }

    /// How many texts `/api/embed` has embedded.
    pub fn embedded_count(&self) -> usize {
        self.shared.embedded.load(Ordering::SeqCst)
    }

    /// When each streamed answer whose client closed the connection before the answer's
    /// end was given up, in order: maia hanging up on a model mid-answer.
    pub fn cut_streams(&self) -> Vec<Instant> {
        self.shared
            .cut_streams
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Every HTTP request received, on any path (probes included).
    pub fn request_count(&self) -> usize {
        self.shared.requests.load(Ordering::SeqCst)
    }

    /// Stops listening and drops open connections (a hanging request included); the port
    /// then refuses connections.
    pub async fn stop(mut self) {
        self.kill().await;
    }

    /// Stops it as [`stop`](Self::stop) does, keeping the fake to read what it counted
    /// (its answers cut off by the stop are in [`cut_streams`](Self::cut_streams)).
    pub async fn kill(&mut self) {
        self.handle.stop(false).await;
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
    }
}

impl Drop for FakeOllama {
    fn drop(&mut self) {
        if self.server.is_some() {
            // Sending the command is synchronous; the server task then winds down.
            drop(self.handle.stop(false));
        }
    }
}

fn error_body(message: &str) -> Value {
    json!({ "error": message })
}

fn json_response(status: StatusCode, body: &Value) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("application/json; charset=utf-8")
        .body(body.to_string())
}

async fn root(shared: web::Data<Shared>) -> HttpResponse {
    shared.requests.fetch_add(1, Ordering::SeqCst);
    HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .body("Ollama is running")
}

async fn not_found(shared: web::Data<Shared>) -> HttpResponse {
    shared.requests.fetch_add(1, Ordering::SeqCst);
    HttpResponse::NotFound()
        .content_type("text/plain")
        .body("404 page not found")
}

async fn version(shared: web::Data<Shared>) -> HttpResponse {
    shared.requests.fetch_add(1, Ordering::SeqCst);
    json_response(StatusCode::OK, &json!({ "version": VERSION }))
}

async fn tags(shared: web::Data<Shared>) -> HttpResponse {
    shared.requests.fetch_add(1, Ordering::SeqCst);
    let models: Vec<Value> = shared
        .models
        .iter()
        .enumerate()
        .map(|(i, name)| {
            json!({
                "name": name,
                "model": name,
                "modified_at": "2026-01-01T00:00:00Z",
                "size": 123,
                "digest": format!("sha256:{:064x}", i + 1),
                "details": {
                    "parent_model": "",
                    "format": "gguf",
                    "family": "llama",
                    "families": ["llama"],
                    "parameter_size": "3.2B",
                    "quantization_level": "Q4_K_M"
                }
            })
        })
        .collect();
    json_response(StatusCode::OK, &json!({ "models": models }))
}

/// `POST /api/embed`: `{"model", "input": "text" | ["text", ...]}` answered
/// `{"model", "embeddings": [[...], ...], ...}` as Ollama does, or its errors: 400 without
/// a model or input, 404 for a model it lacks.
async fn embed(shared: web::Data<Shared>, body: Bytes) -> HttpResponse {
    shared.requests.fetch_add(1, Ordering::SeqCst);
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let bad = |message: &str| json_response(StatusCode::BAD_REQUEST, &error_body(message));
    let Some(model) = request.get("model").and_then(Value::as_str) else {
        return bad("model is required");
    };
    if !shared
        .models
        .iter()
        .any(|m| canonical(m) == canonical(model))
    {
        let message = format!("model {model:?} not found, try pulling it first");
        return json_response(StatusCode::NOT_FOUND, &error_body(&message));
    }
    let texts: Vec<&str> = match request.get("input") {
        Some(Value::String(text)) => vec![text.as_str()],
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
        _ => return bad("invalid input type"),
    };
    shared.embedded.fetch_add(texts.len(), Ordering::SeqCst);
    let embeddings: Vec<Vec<f32>> = texts.iter().map(|t| super::embeddings::embed(t)).collect();
    let words: usize = texts.iter().map(|t| t.split_whitespace().count()).sum();
    json_response(
        StatusCode::OK,
        &json!({
            "model": model,
            "embeddings": embeddings,
            "total_duration": TOTAL_DURATION,
            "load_duration": LOAD_DURATION,
            "prompt_eval_count": words,
        }),
    )
}

/// `name` with Ollama's default tag when it has none.
fn canonical(name: &str) -> String {
    let last = name.rsplit('/').next().unwrap_or(name);
    if last.contains(':') {
        name.to_string()
    } else {
        format!("{name}:latest")
    }
}

async fn chat(req: HttpRequest, shared: web::Data<Shared>, body: Bytes) -> HttpResponse {
    shared
        .chat_peers
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(req.peer_addr());
    let socket = req.conn_data::<Socket>().and_then(|s| s.0.try_clone().ok());
    let now = shared.chatting.fetch_add(1, Ordering::SeqCst) + 1;
    shared.most_chatting.fetch_max(now, Ordering::SeqCst);
    let counted = shared.clone();
    let response = answer_chat(Peer { shared, socket }, body).await;
    counted.chatting.fetch_sub(1, Ordering::SeqCst);
    response
}

/// The text of a chat's first system message, if it has one.
fn first_system(request: &Map<String, Value>) -> Option<&str> {
    let messages = request.get("messages")?.as_array()?;
    let system = messages.iter().find(|m| m["role"] == "system")?;
    system["content"].as_str()
}

#[allow(clippy::too_many_lines, reason = "one short arm per behaviour")]
async fn answer_chat(to: Peer, body: Bytes) -> HttpResponse {
    let shared = &to.shared;
    let (request, model) = match accept(shared, &body) {
        Ok(accepted) => accepted,
        Err((status, refusal)) => return json_response(status, &refusal),
    };
    // Ollama streams unless told `"stream": false`.
    let streaming = request
        .get("stream")
        .and_then(Value::as_bool)
        .unwrap_or(true);

    let (behavior, split, omit) = {
        let c = shared.config();
        let system = first_system(&request).unwrap_or_default();
        let chosen = c
            .by_system
            .iter()
            .find(|(text, _)| system.contains(text.as_str()))
            .map_or(&c.behavior, |(_, b)| b);
        (chosen.clone(), c.split_chunks, c.omit_zero_metrics)
    };
    let reply = match behavior {
        Behavior::Reply => echo(&request),
        Behavior::ReplyWith(content) => content,
        Behavior::Error { status, message } => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            return json_response(status, &error_body(&message));
        }
        Behavior::Delay(pause) => {
            tokio::time::sleep(pause).await;
            echo(&request)
        }
        // Never completes: no status line, no headers, until the server stops.
        Behavior::Hang => std::future::pending::<String>().await,
        Behavior::Trickle(pause) => {
            let reply = echo(&request);
            let mut lines = piece_lines(&model, &pieces(&reply));
            lines.push(final_line(&request, &model, &reply, omit, "stop"));
            if !streaming {
                tokio::time::sleep(pause * lines.len() as u32).await;
                return whole_answer(&request, &model, &reply, omit, "stop");
            }
            return paced(&to, lines, pause);
        }
        Behavior::StallAfter(count) => {
            if !streaming {
                std::future::pending::<()>().await;
            }
            let pieces = pieces(&echo(&request));
            let lines = piece_lines(&model, &pieces[..count.min(pieces.len())]);
            let body = stream::iter(lines.into_iter().map(Ok::<Bytes, Infallible>))
                .chain(stream::pending());
            return ndjson_response().streaming(Noted::new(&to, body));
        }
        Behavior::MidStreamError(message) => {
            if !streaming {
                return json_response(StatusCode::INTERNAL_SERVER_ERROR, &error_body(&message));
            }
            let pieces = pieces(&echo(&request));
            let keep = pieces.len().div_ceil(2).max(1).min(pieces.len());
            let mut lines = piece_lines(&model, &pieces[..keep]);
            lines.push(line(&error_body(&message)));
            return ndjson(&to, lines, split);
        }
    };
    answer(&to, &request, &model, &reply, streaming, (split, omit))
}

/// `reply` as one JSON object, or streamed as NDJSON pieces and a final object (cut as
/// `split` says, the zero counts left out as `omit` says).
fn answer(
    to: &Peer,
    request: &Map<String, Value>,
    model: &str,
    reply: &str,
    streaming: bool,
    (split, omit): (bool, bool),
) -> HttpResponse {
    let (reply, done_reason) = within_num_predict(request, reply);
    if !streaming {
        return whole_answer(request, model, &reply, omit, done_reason);
    }
    let mut lines = piece_lines(model, &pieces(&reply));
    lines.push(final_line(request, model, &reply, omit, done_reason));
    ndjson(to, lines, split)
}

/// Records the request, then checks it as Ollama does: a JSON object naming a model the
/// server has. The request and its model, or the status and body of Ollama's refusal.
fn accept(
    shared: &Shared,
    body: &[u8],
) -> Result<(Map<String, Value>, String), (StatusCode, Value)> {
    shared.requests.fetch_add(1, Ordering::SeqCst);
    let parsed: Result<Value, _> = serde_json::from_slice(body);
    let recorded = match &parsed {
        Ok(v) => v.clone(),
        Err(_) => Value::String(String::from_utf8_lossy(body).into_owned()),
    };
    shared.chats().push(recorded);

    let bad = |message: &str| (StatusCode::BAD_REQUEST, error_body(message));
    let request = match parsed {
        Ok(Value::Object(map)) => map,
        Ok(_) => {
            return Err(bad(
                "json: cannot unmarshal into Go value of type api.ChatRequest",
            ))
        }
        Err(e) => return Err(bad(&e.to_string())),
    };
    let model = match request.get("model").and_then(Value::as_str) {
        Some(m) if !m.is_empty() => m.to_string(),
        _ => return Err(bad("model is required")),
    };
    let wanted = canonical(&model);
    if !shared.models.iter().any(|m| canonical(m) == wanted) {
        let message = format!("model {model:?} not found, try pulling it first");
        return Err((StatusCode::NOT_FOUND, error_body(&message)));
    }
    Ok((request, model))
}

/// `reply` as one JSON object, as Ollama answers `"stream": false`.
fn whole_answer(
    request: &Map<String, Value>,
    model: &str,
    reply: &str,
    omit: bool,
    done_reason: &str,
) -> HttpResponse {
    let pieces = pieces(reply);
    let mut object = message_object(model, pieces.len(), reply, true);
    add_final_data(
        &mut object,
        prompt_eval_count(request),
        pieces.len().max(1) as u64,
        omit,
        done_reason,
    );
    json_response(StatusCode::OK, &Value::Object(object))
}

/// `reply` cut after `options.num_predict` pieces, if the request sets it and the reply is
/// longer, and why the answer ended: `length` then, else `stop`.
fn within_num_predict(request: &Map<String, Value>, reply: &str) -> (String, &'static str) {
    let limit = request
        .get("options")
        .and_then(|o| o.get("num_predict"))
        .and_then(Value::as_u64);
    let pieces = pieces(reply);
    match limit {
        Some(n) if (n as usize) < pieces.len() => (pieces[..n as usize].concat(), "length"),
        _ => (reply.to_string(), "stop"),
    }
}

/// The last NDJSON line of a streamed `reply`: done, with the counts.
fn final_line(
    request: &Map<String, Value>,
    model: &str,
    reply: &str,
    omit: bool,
    done_reason: &str,
) -> Bytes {
    let pieces = pieces(reply);
    let mut last = message_object(model, pieces.len(), "", true);
    add_final_data(
        &mut last,
        prompt_eval_count(request),
        pieces.len().max(1) as u64,
        omit,
        done_reason,
    );
    line(&Value::Object(last))
}

/// One NDJSON line per piece of an answer.
fn piece_lines(model: &str, pieces: &[String]) -> Vec<Bytes> {
    pieces
        .iter()
        .enumerate()
        .map(|(i, piece)| line(&piece_object(model, i, piece)))
        .collect()
}

/// `echo: ` and the content of the last user message.
fn echo(request: &Map<String, Value>) -> String {
    let last_user = request
        .get("messages")
        .and_then(Value::as_array)
        .and_then(|messages| {
            messages
                .iter()
                .rev()
                .find(|m| m.get("role").and_then(Value::as_str) == Some("user"))
        })
        .and_then(|m| m.get("content"))
        .and_then(Value::as_str)
        .unwrap_or("");
    format!("echo: {last_user}")
}

/// A deterministic stand-in for the prompt's token count: its words, plus the chat
/// template's tokens per message.
fn prompt_eval_count(request: &Map<String, Value>) -> u64 {
    let messages = request
        .get("messages")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    let words: usize = messages
        .iter()
        .filter_map(|m| m.get("content").and_then(Value::as_str))
        .map(|c| c.split_whitespace().count())
        .sum();
    (words + 4 * messages.len()).max(1) as u64
}

/// The reply cut into token-like pieces: each whitespace run starts a new piece
/// (`"echo: a b"` → `"echo:"`, `" a"`, `" b"`). Concatenated, they are the reply.
pub fn pieces(reply: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut current = String::new();
    let mut previous_was_space = false;
    for c in reply.chars() {
        let space = c.is_whitespace();
        if space && !previous_was_space && !current.is_empty() {
            out.push(std::mem::take(&mut current));
        }
        current.push(c);
        previous_was_space = space;
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// RFC 3339 with nanoseconds, like Ollama's; fixed date, one millisecond per piece.
fn created_at(index: usize) -> String {
    let ms = index as u64;
    format!(
        "2026-01-01T00:00:{:02}.{:03}000000Z",
        (ms / 1000) % 60,
        ms % 1000
    )
}

fn message_object(model: &str, index: usize, content: &str, done: bool) -> Map<String, Value> {
    let mut object = Map::new();
    object.insert("model".into(), json!(model));
    object.insert("created_at".into(), json!(created_at(index)));
    object.insert(
        "message".into(),
        json!({ "role": "assistant", "content": content }),
    );
    object.insert("done".into(), json!(done));
    object
}

fn piece_object(model: &str, index: usize, piece: &str) -> Value {
    Value::Object(message_object(model, index, piece, false))
}

fn add_final_data(
    object: &mut Map<String, Value>,
    prompt_tokens: u64,
    eval_count: u64,
    omit: bool,
    done_reason: &str,
) {
    object.insert("done_reason".into(), json!(done_reason));
    object.insert("total_duration".into(), json!(TOTAL_DURATION));
    if !omit {
        object.insert("load_duration".into(), json!(LOAD_DURATION));
        object.insert("prompt_eval_count".into(), json!(prompt_tokens));
        object.insert("prompt_eval_duration".into(), json!(PROMPT_EVAL_DURATION));
    }
    object.insert("eval_count".into(), json!(eval_count));
    object.insert("eval_duration".into(), json!(EVAL_DURATION));
}

fn line(value: &Value) -> Bytes {
    let mut text = value.to_string();
    text.push('\n');
    Bytes::from(text)
}

fn ndjson_response() -> actix_web::HttpResponseBuilder {
    let mut b = HttpResponse::Ok();
    b.content_type("application/x-ndjson");
    b
}

/// A 200 NDJSON body, each line `pause` after the one before (the first too).
fn paced(to: &Peer, lines: Vec<Bytes>, pause: Duration) -> HttpResponse {
    let body = stream::iter(lines).then(move |line| async move {
        tokio::time::sleep(pause).await;
        Ok::<Bytes, Infallible>(line)
    });
    ndjson_response().streaming(Noted::new(to, body))
}

/// A 200 NDJSON body written line by line, or cut across lines and characters.
fn ndjson(to: &Peer, lines: Vec<Bytes>, split: bool) -> HttpResponse {
    if !split {
        let body = stream::iter(lines.into_iter().map(Ok::<Bytes, Infallible>));
        return ndjson_response().streaming(Noted::new(to, body));
    }
    let all: Vec<u8> = lines.iter().flat_map(|l| l.iter().copied()).collect();
    let chunks = split_bytes(&all);
    let body = stream::iter(chunks).then(|chunk| async move {
        tokio::time::sleep(SPLIT_PAUSE).await;
        Ok::<Bytes, Infallible>(chunk)
    });
    ndjson_response().streaming(Noted::new(to, body))
}

/// A second handle on a connection's socket, made when it is accepted: actix notices a
/// client that hangs up only when it next writes, and a stalled answer writes nothing.
struct Socket(std::net::TcpStream);

fn keep_socket(connection: &dyn std::any::Any, data: &mut actix_web::dev::Extensions) {
    let Some(tcp) = connection.downcast_ref::<actix_web::rt::net::TcpStream>() else {
        return;
    };
    if let Ok(fd) = tcp.as_fd().try_clone_to_owned() {
        data.insert(Socket(std::net::TcpStream::from(fd)));
    }
}

/// Who an answer goes to: the fake's state, and the client's socket if it is known.
struct Peer {
    shared: web::Data<Shared>,
    socket: Option<std::net::TcpStream>,
}

/// Resolves once the client at the other end of `socket` has closed it (peeking only).
async fn hung_up(socket: std::net::TcpStream) {
    let Ok(socket) = tokio::net::TcpStream::from_std(socket) else {
        return std::future::pending().await;
    };
    let mut byte = [0u8; 1];
    // Zero bytes (or an error) is the end; anything else, a client still talking.
    if let Ok(1..) = socket.peek(&mut byte).await {
        std::future::pending::<()>().await;
    }
}

type Body = Pin<Box<dyn Stream<Item = Result<Bytes, Infallible>>>>;

/// A streamed body that notes when its client hung up before its end: seen on the socket
/// while the body waits, or when actix drops it after a write failed.
struct Noted {
    body: Body,
    shared: web::Data<Shared>,
    hung_up: Option<Pin<Box<dyn Future<Output = ()>>>>,
    ended: bool,
}

impl Noted {
    fn new(to: &Peer, body: impl Stream<Item = Result<Bytes, Infallible>> + 'static) -> Noted {
        let socket = to.socket.as_ref().and_then(|s| s.try_clone().ok());
        Noted {
            body: Box::pin(body),
            shared: to.shared.clone(),
            hung_up: socket.map(|s| Box::pin(hung_up(s)) as Pin<Box<dyn Future<Output = ()>>>),
            ended: false,
        }
    }

    /// The client left before the end: noted once, and the body ends here.
    fn cut(&mut self) {
        if !self.ended {
            self.ended = true;
            let mut cut = self
                .shared
                .cut_streams
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            cut.push(Instant::now());
        }
    }
}

impl Stream for Noted {
    type Item = Result<Bytes, Infallible>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.ended {
            return Poll::Ready(None);
        }
        if let Some(hung_up) = self.hung_up.as_mut() {
            if hung_up.as_mut().poll(cx).is_ready() {
                self.cut();
                return Poll::Ready(None);
            }
        }
        let next = self.body.as_mut().poll_next(cx);
        if let Poll::Ready(None) = next {
            self.ended = true;
        }
        next
    }
}

impl Drop for Noted {
    fn drop(&mut self) {
        self.cut();
    }
}

/// Cuts `all` at most every `SPLIT_SIZE` bytes and after the first byte of every
/// multi-byte UTF-8 character, so no line and no such character arrives whole.
pub fn split_bytes(all: &[u8]) -> Vec<Bytes> {
    let mut chunks = Vec::new();
    let mut start = 0;
    for (i, byte) in all.iter().enumerate() {
        let lead_of_multibyte = *byte >= 0xC0;
        if i + 1 - start >= SPLIT_SIZE || lead_of_multibyte {
            chunks.push(Bytes::copy_from_slice(&all[start..=i]));
            start = i + 1;
        }
    }
    if start < all.len() {
        chunks.push(Bytes::copy_from_slice(&all[start..]));
    }
    chunks
}
