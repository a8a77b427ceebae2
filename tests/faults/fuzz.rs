//! R5: arbitrary bytes and JSON shapes sent to every endpoint of an in-process app: every
//! request gets an answer (no panic, no dropped connection), never a 5xx, always JSON (or
//! a stream of events whose every datum is JSON: maia's ending with `done` or `error`, a
//! streamed chat completion's with `[DONE]`; the web UI's page and files are what they are).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Once;
use std::time::Duration;

use proptest::collection::{btree_map, vec};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use reqwest::{Method, Url};
use serde_json::Value;

use crate::kit::{psql, wait_for_200, TestApp, MODEL};

/// A conversation the requests may name (stored before they run).
const CONVERSATION: &str = "2f0b6c1e-8d5a-4c3e-9b7a-1d2e3f405162";

/// How often each status was answered, reported at the end (a run that never reached the
/// handlers proves little).
static STATUSES: std::sync::Mutex<std::collections::BTreeMap<u16, usize>> =
    std::sync::Mutex::new(std::collections::BTreeMap::new());

/// Panics on the server's worker threads, counted by a hook installed once.
static WORKER_PANICS: AtomicUsize = AtomicUsize::new(0);

fn count_worker_panics() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if std::thread::current()
                .name()
                .is_some_and(|n| n.starts_with("actix-"))
            {
                WORKER_PANICS.fetch_add(1, Ordering::SeqCst);
            }
            previous(info);
        }));
    });
}

fn config(cases: u32) -> Config {
    Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    }
}

#[derive(Debug, Clone)]
struct Request {
    method: Method,
    /// Path segments, each percent-encoded when sent.
    segments: Vec<String>,
    params: Vec<(String, String)>,
    content_type: Option<String>,
    request_id: Option<String>,
    /// The Authorization header's value: mostly the app's token, sometimes anything.
    authorization: Option<Authorization>,
    /// A `Cookie` header, sometimes with a session id of any shape.
    cookie: Option<String>,
    csrf: Option<String>,
    body: Vec<u8>,
}

#[derive(Debug, Clone)]
enum Authorization {
    /// The app's own token.
    Valid,
    Other(String),
}

fn authorization() -> impl Strategy<Value = Option<Authorization>> {
    proptest::option::weighted(
        0.9,
        prop_oneof![
            8 => Just(Authorization::Valid),
            1 => "[ -~]{0,90}".prop_map(Authorization::Other),
            1 => "[A-Za-z0-9_-]{40,46}".prop_map(|t| Authorization::Other(format!("Bearer maia_{t}"))),
            1 => "(Bearer|bearer|Basic|Token)( {0,3})[ -~]{0,60}".prop_map(Authorization::Other),
        ],
    )
}

fn cookie() -> impl Strategy<Value = Option<String>> {
    proptest::option::weighted(
        0.15,
        prop_oneof![
            "[A-Za-z0-9_-]{43}".prop_map(|s| format!("maia_session={s}")),
            "[ -~]{0,80}",
        ],
    )
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        ".{0,24}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 32, 6, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..6).prop_map(Value::Array),
            btree_map(".{0,8}", inner, 0..6).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Either a sensible value for a field or anything at all.
fn field(sensible: &'static [&'static str]) -> impl Strategy<Value = Option<Value>> {
    proptest::option::of(prop_oneof![
        proptest::sample::select(sensible).prop_map(Value::from),
        "\\PC{0,40}".prop_map(Value::from),
        json_value(),
    ])
}

/// Objects shaped like a query, with every field sometimes wrong.
fn query_shaped() -> impl Strategy<Value = Value> {
    (
        field(&["What is a lock?", "", "   ", "\u{0}", "日本語の質問"]),
        field(&["fast", "deep", "FAST", "slow"]),
        field(&["socratic", "pragmatist", "coach", "nobody", "../etc"]),
        field(&[MODEL, "llama3.2", "../../x", "a b"]),
        (
            field(&["Hello again", "", "\u{0}", "two\nlines"]),
            proptest::option::of(prop_oneof![
                any::<bool>().prop_map(Value::from),
                json_value()
            ]),
        ),
        btree_map("[a-z]{1,6}", json_value(), 0..3),
    )
        .prop_map(|(query, mode, persona, model, (content, stream), extra)| {
            let mut object: serde_json::Map<String, Value> = extra.into_iter().collect();
            for (key, value) in [
                ("query", query),
                ("mode", mode),
                ("persona", persona),
                ("model", model),
                ("content", content.clone()),
                ("title", content),
                ("stream", stream),
            ] {
                if let Some(v) = value {
                    object.insert(key.into(), v);
                }
            }
            Value::Object(object)
        })
}

/// A sensible value written as JSON text (`"2.5"`, `"true"`) as the JSON it is; anything
/// else as it is.
fn as_json(value: Option<Value>) -> Option<Value> {
    value.map(|v| match v.as_str().map(serde_json::from_str::<Value>) {
        Some(Ok(parsed)) => parsed,
        _ => v,
    })
}

/// Objects shaped like an OpenAI chat completion, with every field sometimes wrong.
fn completion_shaped() -> impl Strategy<Value = Value> {
    let message = (
        field(&["user", "system", "developer", "assistant", "tool"]),
        field(&["Hello", "", " ", "\u{0}", "日本語"]),
    )
        .prop_map(|(role, content)| serde_json::json!({"role": role, "content": content}));
    let messages = prop_oneof![
        3 => vec(message, 0..4).prop_map(Value::Array),
        1 => json_value(),
    ];
    let numbers = &["0", "1", "2.5", "-3", "64", "null", "true"];
    let sampling = (
        field(numbers),
        field(numbers),
        field(numbers),
        field(&["END"]),
    );
    (
        field(&[MODEL, "maia-socratic", "maia-nobody", "gpt-4o", ""]),
        proptest::option::of(messages),
        field(&["true", "false"]),
        sampling,
        btree_map("[a-z_]{1,12}", json_value(), 0..2),
    )
        .prop_map(|(model, messages, stream, sampling, extra)| {
            let (temperature, top_p, max_tokens, stop) = sampling;
            let mut object: serde_json::Map<String, Value> = extra.into_iter().collect();
            for (key, value) in [
                ("model", model),
                ("messages", messages),
                ("stream", as_json(stream)),
                ("temperature", as_json(temperature)),
                ("top_p", as_json(top_p)),
                ("max_tokens", as_json(max_tokens)),
                ("stop", stop),
            ] {
                if let Some(v) = value {
                    object.insert(key.into(), v);
                }
            }
            Value::Object(object)
        })
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        2 => vec(any::<u8>(), 0..512),
        2 => json_value().prop_map(|v| serde_json::to_vec(&v).unwrap()),
        4 => query_shaped().prop_map(|v| serde_json::to_vec(&v).unwrap()),
        3 => completion_shaped().prop_map(|v| serde_json::to_vec(&v).unwrap()),
        // Around the 16 KiB query limit and the 64 KiB body limit.
        1 => (16_370usize..16_400).prop_map(|n| {
            serde_json::to_vec(&serde_json::json!({ "query": "q".repeat(n) })).unwrap()
        }),
        1 => (65_520usize..65_560).prop_map(|n| vec![b'{'; n]),
    ]
}

fn any_method() -> impl Strategy<Value = Method> {
    proptest::sample::select(vec![
        Method::GET,
        Method::POST,
        Method::PUT,
        Method::DELETE,
        Method::PATCH,
        Method::HEAD,
        Method::OPTIONS,
    ])
}

fn path(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|p| p.to_string()).collect()
}

/// Mostly a route with the method it serves; sometimes anything.
fn endpoint() -> impl Strategy<Value = (Method, Vec<String>)> {
    let text = "\\PC{0,40}";
    let trace_id = prop_oneof![
        text.prop_map(|s| s.to_string()),
        any::<u128>().prop_map(|n| uuid::Uuid::from_u128(n).to_string()),
    ];
    let conversation_id = prop_oneof![
        3 => Just(CONVERSATION.to_string()),
        1 => text.prop_map(|s| s.to_string()),
    ];
    let get = |parts: &'static [&'static str]| Just((Method::GET, path(parts)));
    prop_oneof![
        1 => get(&["livez"]),
        1 => get(&["readyz"]),
        1 => get(&["api", "health"]),
        1 => get(&["api", "consciousness", "health"]),
        1 => get(&["api", "personas"]),
        1 => get(&["api", "openapi.json"]),
        1 => (
            proptest::sample::select(vec![Method::POST, Method::DELETE]),
            Just(path(&["api", "session"])),
        ),
        2 => get(&["api", "traces"]),
        8 => Just((Method::POST, path(&["api", "consciousness", "query"]))),
        6 => Just((Method::POST, path(&["v1", "chat", "completions"]))),
        1 => get(&["v1", "models"]),
        2 => (
            proptest::sample::select(vec![Method::GET, Method::DELETE]),
            trace_id,
        )
            .prop_map(|(m, id)| (m, vec!["api".into(), "traces".into(), id])),
        2 => (
            proptest::sample::select(vec![Method::GET, Method::POST]),
            Just(path(&["api", "conversations"])),
        ),
        4 => (
            proptest::sample::select(vec![Method::GET, Method::PATCH, Method::DELETE, Method::POST]),
            conversation_id,
        )
            .prop_map(|(m, id)| {
                let mut segments = vec!["api".into(), "conversations".into(), id];
                if m == Method::POST {
                    segments.push("messages".into());
                }
                (m, segments)
            }),
        2 => (any_method(), vec(text, 0..4)),
        2 => (
            any_method(),
            proptest::sample::select(vec![
                path(&["api", "consciousness", "query"]),
                path(&["api", "traces"]),
                path(&["api", "health"]),
                path(&["readyz"]),
            ]),
        ),
    ]
}

fn params() -> impl Strategy<Value = Vec<(String, String)>> {
    let key = prop_oneof![
        Just("limit".to_string()),
        Just("before".to_string()),
        "\\PC{0,8}"
    ];
    let value = prop_oneof![
        (-5i64..200).prop_map(|n| n.to_string()),
        any::<u128>().prop_map(|n| uuid::Uuid::from_u128(n).to_string()),
        "\\PC{0,30}",
    ];
    vec((key, value), 0..3)
}

fn request() -> impl Strategy<Value = Request> {
    let content_type = proptest::option::of(prop_oneof![
        Just("application/json".to_string()),
        Just("text/plain; charset=latin1".to_string()),
        Just("application/x-www-form-urlencoded".to_string()),
        "[ -~]{0,30}",
    ]);
    let request_id = proptest::option::of("[ -~]{0,80}");
    let headers = (
        authorization(),
        cookie(),
        proptest::option::weighted(0.3, "[ -~]{0,4}"),
    );
    (
        endpoint(),
        params(),
        content_type,
        request_id,
        headers,
        body(),
    )
        .prop_map(
            |(
                (method, segments),
                params,
                content_type,
                request_id,
                (authorization, cookie, csrf),
                body,
            )| {
                Request {
                    method,
                    segments,
                    params,
                    content_type,
                    request_id,
                    authorization,
                    cookie,
                    csrf,
                    body,
                }
            },
        )
}

async fn check(http: &reqwest::Client, token: &str, base: &Url, r: Request) -> Result<(), String> {
    let mut url = base.clone();
    url.path_segments_mut()
        .expect("a base URL")
        .extend(&r.segments);
    if !r.params.is_empty() {
        url.query_pairs_mut().extend_pairs(&r.params);
    }
    let mut builder = http.request(r.method.clone(), url.clone()).body(r.body);
    if let Some(ct) = &r.content_type {
        builder = builder.header("content-type", ct);
    }
    if let Some(id) = &r.request_id {
        builder = builder.header("x-request-id", id);
    }
    match &r.authorization {
        Some(Authorization::Valid) => builder = builder.bearer_auth(token),
        Some(Authorization::Other(value)) => builder = builder.header("authorization", value),
        None => {}
    }
    if let Some(cookie) = &r.cookie {
        builder = builder.header("cookie", cookie);
    }
    if let Some(csrf) = &r.csrf {
        builder = builder.header("x-maia-csrf", csrf);
    }
    let response = builder
        .send()
        .await
        .map_err(|e| format!("{} {url}: no answer: {e}", r.method))?;
    let status = response.status().as_u16();
    *STATUSES.lock().unwrap().entry(status).or_default() += 1;
    if response.headers().get("x-request-id").is_none() {
        return Err(format!("{} {url}: {status} without x-request-id", r.method));
    }
    let streamed = response
        .headers()
        .get("content-type")
        .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
    let text = response.text().await.map_err(|e| e.to_string())?;
    if r.method == Method::HEAD || status == 204 || is_ui_content(&url, status) {
        return Ok(());
    }
    if streamed {
        return stream_is_json(url.path(), &text)
            .map_err(|e| format!("{} {url}: {status} {e}", r.method));
    }
    let body: Value = serde_json::from_str(&text).map_err(|_| {
        format!(
            "{} {url}: {status} with a body that is not JSON: {text:?}",
            r.method
        )
    })?;
    // A well-formed query naming a model Ollama does not have is Ollama's answer, not ours.
    let upstream_model = status == 502 && body["error"]["code"] == "model_not_found";
    if status >= 500 && !upstream_model {
        return Err(format!("{} {url}: {status} {body}", r.method));
    }
    Ok(())
}

/// Whether this is the web UI's page or a file of it: HTML, CSS or JavaScript (its
/// refusals are JSON).
fn is_ui_content(url: &Url, status: u16) -> bool {
    status == 200 && (url.path() == "/" || url.path().starts_with("/assets/"))
}

/// A stream as its route writes it: OpenAI's chunks under `/v1`, maia's events elsewhere.
fn stream_is_json(path: &str, text: &str) -> Result<(), String> {
    if path.starts_with("/v1/") {
        server_sent_json(text)
    } else {
        events_are_json(text)
    }
}

/// Every `data:` line of a stream of events is JSON, and the stream ends with `done` or
/// `error`.
fn events_are_json(text: &str) -> Result<(), String> {
    let mut last = "";
    for line in text.lines() {
        if let Some(name) = line.strip_prefix("event: ") {
            last = name;
        } else if let Some(data) = line.strip_prefix("data: ") {
            serde_json::from_str::<Value>(data).map_err(|_| format!("data not JSON: {data:?}"))?;
        }
    }
    match last {
        "done" | "error" => Ok(()),
        _ => Err(format!("a stream that ended with {last:?}: {text:?}")),
    }
}

/// A stream of `data: {json}` events ending with `data: [DONE]` (or an error event).
fn server_sent_json(text: &str) -> Result<(), String> {
    let mut events = text.split("\n\n").filter(|e| !e.is_empty()).peekable();
    while let Some(event) = events.next() {
        let data = event
            .strip_prefix("data: ")
            .ok_or_else(|| format!("an event that is not data: {event:?}"))?;
        if data == "[DONE]" && events.peek().is_none() {
            return Ok(());
        }
        let value: Value = serde_json::from_str(data)
            .map_err(|_| format!("an event that is not JSON: {data:?}"))?;
        if value.get("error").is_some() {
            return Err(format!("an error in the stream: {value}"));
        }
    }
    Err(format!("a stream without [DONE]: {text:?}"))
}

/// Sends `bytes` on a raw connection and reads what comes back; a status, if any, must be
/// below 500.
fn raw_exchange(port: u16, bytes: &[u8]) -> Result<(), String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    stream.write_all(bytes).map_err(|e| e.to_string())?;
    let _ = stream.shutdown(std::net::Shutdown::Write);
    let mut answer = Vec::new();
    match stream.read_to_end(&mut answer) {
        Ok(_) => {}
        // A reset after an error answer is fine; what was read before it counts.
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        Err(e) => return Err(format!("no end of answer: {e}")),
    }
    let head = String::from_utf8_lossy(&answer[..answer.len().min(12)]).to_string();
    if let Some(code) = head
        .strip_prefix("HTTP/1.1 ")
        .and_then(|s| s.get(..3))
        .and_then(|s| s.parse::<u16>().ok())
    {
        if code >= 500 {
            return Err(format!("{code}: {}", String::from_utf8_lossy(&answer)));
        }
    }
    Ok(())
}

fn raw_bytes() -> impl Strategy<Value = Vec<u8>> {
    let prefixes = proptest::sample::select(vec![
        "",
        "GET / HTTP/1.1\r\n",
        "POST /api/consciousness/query HTTP/1.1\r\nHost: x\r\n",
        "POST /api/consciousness/query HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 12\r\n\r\n",
        "GET /api/traces?limit= HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
        "DELETE /api/traces/ HTTP/1.0\r\n",
    ]);
    (prefixes, vec(any::<u8>(), 0..300)).prop_map(|(p, tail)| {
        let mut bytes = p.as_bytes().to_vec();
        bytes.extend(tail);
        bytes
    })
}

#[test]
fn arbitrary_requests_to_every_endpoint_get_a_json_answer_never_a_5xx() {
    count_worker_panics();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let app = rt.block_on(TestApp::spawn());
    rt.block_on(async {
        psql(&app.db_url)
            .await
            .execute(
                &format!("INSERT INTO conversations (id, mode) VALUES ('{CONVERSATION}', 'fast')"),
                &[],
            )
            .await
            .expect("a conversation to name")
    });
    let app_port = app.port;
    let base = Url::parse(&app.url("/")).unwrap();
    let http = app.anonymous.clone();
    let token = app.token.clone();

    let mut runner = TestRunner::new(config(256));
    let result = runner.run(&request(), |r| {
        rt.block_on(check(&http, &token, &base, r))
            .map_err(TestCaseError::fail)
    });
    let mut raw_runner = TestRunner::new(config(64));
    let raw_result = raw_runner.run(&raw_bytes(), |bytes| {
        raw_exchange(app_port, &bytes).map_err(TestCaseError::fail)
    });

    let alive = rt.block_on(wait_for_200(&app.url("/livez"), Duration::from_secs(2)));
    rt.block_on(async { app.stop().await.stop().await });
    let statuses = STATUSES.lock().unwrap().clone();
    eprintln!("R5: statuses answered: {statuses:?}");
    assert!(
        statuses.contains_key(&200) && statuses.contains_key(&422) && statuses.contains_key(&400),
        "the requests never reached the handlers' outcomes: {statuses:?}"
    );
    if let Err(e) = result {
        panic!("HTTP requests: {e}");
    }
    if let Err(e) = raw_result {
        panic!("raw bytes: {e}");
    }
    assert!(alive, "the server stopped answering");
    assert_eq!(
        WORKER_PANICS.load(Ordering::SeqCst),
        0,
        "a server worker panicked"
    );
}
