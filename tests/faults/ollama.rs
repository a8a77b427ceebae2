//! R2: Ollama down, erroring, or slower than the timeout: every query gets a clear JSON
//! error within the timeout plus a small margin, and is stored as failed.

use std::time::{Duration, Instant};

use maia::startup::Application;
use serde_json::json;

use crate::fake_ollama::{Behavior, FakeOllama};
use crate::support::*;

/// `ollama.timeout` in these tests, in seconds.
const TIMEOUT_S: u64 = 1;
/// What an error may take beyond the timeout (scheduling on a busy CI machine).
const MARGIN: Duration = Duration::from_millis(1500);
/// Concurrent queries per scenario.
const QUERIES: usize = 4;

struct App {
    base: String,
    db: String,
    handle: actix_web::dev::ServerHandle,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

async fn app(ollama_url: &str) -> App {
    let db = fresh_database(shared_cluster()).await;
    let mut s = settings(&db, ollama_url);
    s.ollama.timeout = TIMEOUT_S;
    let app = Application::build(s).await.expect("the app starts");
    let base = format!("http://127.0.0.1:{}", app.port());
    let handle = app.handle();
    let server = tokio::spawn(app.run_until_stopped());
    App {
        base,
        db,
        handle,
        server,
    }
}

impl App {
    async fn stop(self) {
        self.handle.stop(true).await;
        let _ = self.server.await;
    }
}

/// Sends `QUERIES` queries at once tagged `tag`; each must fail with `status`/`code`
/// within the timeout plus the margin, and be stored as failed. `during` runs while they
/// are in flight.
async fn expect_failures<F: std::future::Future<Output = ()>>(
    app: &App,
    tag: &str,
    status: u16,
    code: &str,
    during: F,
) {
    let queries: Vec<String> = (0..QUERIES).map(|i| format!("r2 {tag} {i}")).collect();
    let requests: Vec<_> = queries
        .iter()
        .map(|q| {
            let url = format!("{}{QUERY_PATH}", app.base);
            let body = json!({ "query": q });
            tokio::spawn(async move {
                let started = Instant::now();
                let response = http().post(url).json(&body).send().await;
                let response = response.expect("an answer, not a dropped connection");
                let (status, body) = decode(response).await;
                (status, body, started.elapsed())
            })
        })
        .collect();
    during.await;
    let limit = Duration::from_secs(TIMEOUT_S) + MARGIN;
    for r in requests {
        let (got, body, took) = r.await.unwrap();
        assert_eq!(got, status, "{tag}: {body}");
        assert_eq!(error_code(&body), code, "{tag}: {body}");
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(
            message.contains("saved as failed"),
            "{tag}: the message should say the query was kept: {message}"
        );
        assert!(
            took <= limit,
            "{tag}: answered after {took:?} (limit {limit:?})"
        );
    }
    let stored = stored_traces(&app.db).await;
    for q in &queries {
        let rows: Vec<_> = stored.iter().filter(|(_, _, _, text)| text == q).collect();
        assert_eq!(
            rows.len(),
            1,
            "{tag}: query {q:?} stored {} times",
            rows.len()
        );
        let (_, status, error, _) = rows[0];
        assert_eq!(status, "failed", "{tag}: {q:?}");
        assert!(
            error.as_deref().is_some_and(|e| !e.is_empty()),
            "{tag}: {q:?} stored without its error"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn ollama_down_is_a_503_and_every_query_is_kept_as_failed() {
    // Nothing listens there.
    let app = app(&format!("http://127.0.0.1:{}", free_port())).await;
    expect_failures(&app, "nothing listening", 503, "llm_unavailable", async {}).await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn ollama_dying_mid_answer_is_a_clear_error_and_every_query_is_kept_as_failed() {
    let ollama = FakeOllama::start(&[MODEL]).await;
    ollama.set_behavior(Behavior::Hang);
    let app = app(&ollama.url()).await;
    let stop_it = async {
        let deadline = Instant::now() + Duration::from_secs(5);
        while ollama.chat_count() < QUERIES && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(
            ollama.chat_count(),
            QUERIES,
            "the queries never reached Ollama"
        );
        ollama.stop().await;
    };
    expect_failures(&app, "killed mid-answer", 502, "llm_error", stop_it).await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn ollama_errors_are_502_and_every_query_is_kept_as_failed() {
    let ollama = FakeOllama::start(&[MODEL]).await;
    let app = app(&ollama.url()).await;
    let cases = [
        (
            "error 500",
            Behavior::Error {
                status: 500,
                message: "llama runner process has terminated".into(),
            },
            "llm_error",
        ),
        (
            "error 503",
            Behavior::Error {
                status: 503,
                message: "server busy, please try again".into(),
            },
            "llm_error",
        ),
        (
            "failed generation",
            Behavior::MidStreamError("out of memory".into()),
            "llm_error",
        ),
        (
            "model gone",
            Behavior::Error {
                status: 404,
                message: format!("model \"{MODEL}\" not found, try pulling it first"),
            },
            "model_not_found",
        ),
    ];
    for (tag, behavior, code) in cases {
        ollama.set_behavior(behavior);
        expect_failures(&app, tag, 502, code, async {}).await;
    }
    app.stop().await;
    ollama.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn ollama_slower_than_the_timeout_is_a_504_in_time_and_every_query_is_kept_as_failed() {
    let ollama = FakeOllama::start(&[MODEL]).await;
    let app = app(&ollama.url()).await;
    ollama.set_behavior(Behavior::Delay(Duration::from_secs(TIMEOUT_S + 3)));
    expect_failures(&app, "slow", 504, "llm_timeout", async {}).await;
    ollama.set_behavior(Behavior::Hang);
    expect_failures(&app, "silent", 504, "llm_timeout", async {}).await;
    app.stop().await;
    ollama.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_answer_postgresql_cannot_store_as_is_is_still_answered_and_kept() {
    let ollama = FakeOllama::start(&[MODEL]).await;
    // PostgreSQL text cannot hold NUL characters.
    ollama.set_behavior(Behavior::ReplyWith("before\u{0}after".into()));
    let app = app(&ollama.url()).await;
    let response = http()
        .post(format!("{}{QUERY_PATH}", app.base))
        .json(&json!({ "query": "r2 nul in the answer" }))
        .send()
        .await
        .expect("an answer");
    let (status, body) = decode(response).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["response"], "before\u{fffd}after");
    let stored = stored_traces(&app.db).await;
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].1, "ok");
    app.stop().await;
    ollama.stop().await;
}
