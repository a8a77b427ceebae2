//! R2: Ollama down, erroring, dying mid-answer or slower than the timeout: every query gets
//! a clear JSON error within the timeout plus a small margin, showing nothing of maia's
//! internals, and is stored as failed with its cause.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::kit::settings::unreachable_ollama;
use crate::kit::{decode, error_code, fresh_database, settings, start_ollama};
use crate::kit::{Behavior, FakeOllama, TestApp, Trace, MODEL, QUERY_PATH};

/// `ollama.timeout` in these tests, in seconds.
const TIMEOUT_S: u64 = 1;
/// What an error may take beyond the timeout (scheduling on a busy CI machine).
const MARGIN: Duration = Duration::from_millis(1500);
/// Concurrent queries per scenario.
const QUERIES: usize = 4;

/// What every query of a scenario must get.
struct Expected {
    status: u16,
    code: &'static str,
    /// In every stored error: what went wrong.
    cause: &'static str,
    /// Stored, but never shown to the client: Ollama's own words or an address.
    hidden: &'static str,
}

/// An app with a fresh database, `ollama.timeout = TIMEOUT_S`, talking to `ollama_url`;
/// it holds `ollama`, which is the one at `ollama_url` unless a test points it elsewhere.
async fn app(ollama_url: &str, ollama: FakeOllama) -> TestApp {
    let db = fresh_database().await;
    let mut s = settings(&db.url, ollama_url);
    s.ollama.timeout = TIMEOUT_S;
    TestApp::spawn_with(s, ollama).await
}

async fn app_on_its_fake() -> TestApp {
    let ollama = start_ollama().await;
    app(&ollama.url(), ollama).await
}

/// Sends `QUERIES` queries at once tagged `tag`; each must fail as `expected` says within
/// the timeout plus the margin, and be stored as failed. `during` runs while they are in
/// flight.
async fn expect_failures<F: std::future::Future<Output = ()>>(
    app: &TestApp,
    tag: &str,
    expected: &Expected,
    during: F,
) {
    let queries: Vec<String> = (0..QUERIES).map(|i| format!("r2 {tag} {i}")).collect();
    let requests: Vec<_> = queries
        .iter()
        .map(|q| {
            let request = app
                .http
                .post(app.url(QUERY_PATH))
                .json(&json!({ "query": q }));
            tokio::spawn(async move {
                let started = Instant::now();
                let response = request
                    .send()
                    .await
                    .expect("an answer, not a dropped connection");
                let (status, body) = decode(response).await;
                (status, body, started.elapsed())
            })
        })
        .collect();
    during.await;
    let limit = Duration::from_secs(TIMEOUT_S) + MARGIN;
    for r in requests {
        let (status, body, took) = r.await.unwrap();
        assert_eq!(status, expected.status, "{tag}: {body}");
        assert_eq!(error_code(&body), expected.code, "{tag}: {body}");
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(
            message.contains("saved as failed"),
            "{tag}: the message should say the query was kept: {message}"
        );
        assert!(
            !body.to_string().contains(expected.hidden),
            "{tag}: internals shown: {body}"
        );
        assert!(
            took <= limit,
            "{tag}: answered after {took:?} (limit {limit:?})"
        );
    }
    assert_kept_as_failed(&app.traces().await, &queries, tag, expected.cause);
}

/// Each of `queries` is stored once, as failed, without a response, with `cause` in its
/// error.
fn assert_kept_as_failed(stored: &[Trace], queries: &[String], tag: &str, cause: &str) {
    for q in queries {
        let traces: Vec<_> = stored.iter().filter(|t| &t.query == q).collect();
        assert_eq!(
            traces.len(),
            1,
            "{tag}: query {q:?} stored {} times",
            traces.len()
        );
        let trace = traces[0];
        assert_eq!(trace.status, "failed", "{tag}: {q:?}");
        assert!(
            trace.response.is_none(),
            "{tag}: {q:?} failed with a response"
        );
        let error = trace.error.as_deref().unwrap_or_default();
        assert!(
            error.contains(cause),
            "{tag}: {q:?} stored with the error {error:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn ollama_down_is_a_503_and_every_query_is_kept_as_failed() {
    // Nothing listens there; the app's fake Ollama is never asked.
    let app = app(&unreachable_ollama(), start_ollama().await).await;
    let expected = Expected {
        status: 503,
        code: "llm_unavailable",
        cause: "unreachable",
        hidden: "127.0.0.1",
    };

    expect_failures(&app, "nothing listening", &expected, async {}).await;

    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn ollama_dying_mid_answer_is_a_clear_error_and_every_query_is_kept_as_failed() {
    let dying = start_ollama().await;
    dying.set_behavior(Behavior::Hang);
    // The app talks to `dying`, which the test stops; it holds a fake it never asks.
    let app = app(&dying.url(), start_ollama().await).await;
    let expected = Expected {
        status: 502,
        code: "llm_error",
        // What failed and when, not "timed out".
        cause: "the connection to Ollama failed after 0.",
        hidden: "127.0.0.1",
    };
    let stop_it = async {
        let deadline = Instant::now() + Duration::from_secs(5);
        while dying.chat_count() < QUERIES && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(
            dying.chat_count(),
            QUERIES,
            "the queries never reached Ollama"
        );
        dying.stop().await;
    };

    expect_failures(&app, "killed mid-answer", &expected, stop_it).await;

    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn ollama_errors_are_502_and_every_query_is_kept_as_failed() {
    let app = app_on_its_fake().await;
    let error = |status: u16, message: &str| Behavior::Error {
        status,
        message: message.into(),
    };
    let llm_error = |words: &'static str| Expected {
        status: 502,
        code: "llm_error",
        cause: words,
        hidden: words,
    };
    let model_gone = format!("model \"{MODEL}\" not found, try pulling it first");
    let cases = [
        (
            "error 500",
            error(500, "llama runner process has terminated: exit status 2"),
            llm_error("llama runner process has terminated"),
        ),
        (
            "error 503",
            error(503, "server busy, please try again"),
            llm_error("server busy, please try again"),
        ),
        (
            "failed generation",
            Behavior::MidStreamError("out of memory".into()),
            llm_error("out of memory"),
        ),
        (
            "model gone",
            error(404, &model_gone),
            Expected {
                status: 502,
                code: "model_not_found",
                cause: MODEL,
                hidden: "try pulling it first",
            },
        ),
    ];

    for (tag, behavior, expected) in cases {
        app.ollama.set_behavior(behavior);
        expect_failures(&app, tag, &expected, async {}).await;
    }

    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn ollama_slower_than_the_timeout_is_a_504_in_time_and_every_query_is_kept_as_failed() {
    let app = app_on_its_fake().await;
    let expected = Expected {
        status: 504,
        code: "llm_timeout",
        cause: "Ollama sent nothing for 1 s (ollama.timeout)",
        hidden: "127.0.0.1",
    };

    app.ollama
        .set_behavior(Behavior::Delay(Duration::from_secs(TIMEOUT_S + 3)));
    expect_failures(&app, "slow", &expected, async {}).await;
    app.ollama.set_behavior(Behavior::Hang);
    expect_failures(&app, "silent", &expected, async {}).await;
    // Silence after the answer has begun counts the same.
    app.ollama.set_behavior(Behavior::StallAfter(2));
    expect_failures(&app, "stalled mid answer", &expected, async {}).await;

    app.stop().await;
}

/// `ollama.timeout` bounds silence, as the README says: a model that keeps writing, more
/// slowly in all than the timeout, still finishes.
#[tokio::test(flavor = "multi_thread")]
async fn a_model_that_keeps_writing_is_not_cut_off_by_the_silence_timeout() {
    let app = app_on_its_fake().await;
    // Five lines (four pieces and the final one), 0.4 s apart: 2 s in all.
    let pause = Duration::from_millis(400);
    app.ollama.set_behavior(Behavior::Trickle(pause));
    let query = "r2 slow but steady";

    let started = Instant::now();
    let (status, body) = app.query(json!({ "query": query })).await;

    assert_eq!(status, 200, "{body}");
    assert_eq!(body["response"], format!("echo: {query}"));
    assert!(started.elapsed() >= pause * 5, "{:?}", started.elapsed());
    assert!(app.traces().await[0].is_ok());
    app.stop().await;
}

/// `ollama.max_answer_seconds` bounds the whole answer, however steadily it comes.
#[tokio::test(flavor = "multi_thread")]
async fn max_answer_seconds_bounds_a_whole_answer_that_keeps_coming() {
    let db = fresh_database().await;
    let ollama = start_ollama().await;
    let mut s = settings(&db.url, &ollama.url());
    s.ollama.timeout = 30;
    s.ollama.max_answer_seconds = TIMEOUT_S;
    let app = TestApp::spawn_with(s, ollama).await;
    // Ten lines or more, 0.3 s apart: 3 s at least, never silent for long.
    app.ollama
        .set_behavior(Behavior::Trickle(Duration::from_millis(300)));
    let expected = Expected {
        status: 504,
        code: "llm_timeout",
        cause: "Ollama's answer took longer than 1 s (ollama.max_answer_seconds)",
        hidden: "127.0.0.1",
    };

    expect_failures(&app, "a long answer in many words", &expected, async {}).await;

    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_answer_postgresql_cannot_store_as_is_is_still_answered_and_kept() {
    let app = app_on_its_fake().await;
    // PostgreSQL text cannot hold NUL characters.
    app.ollama
        .set_behavior(Behavior::ReplyWith("before\u{0}after".into()));

    let (status, body) = app.query(json!({ "query": "r2 nul in the answer" })).await;

    assert_eq!(status, 200, "{body}");
    assert_eq!(body["response"], "before\u{fffd}after");
    let stored = app.traces().await;
    assert_eq!(stored.len(), 1);
    assert!(stored[0].is_ok());
    app.stop().await;
}
