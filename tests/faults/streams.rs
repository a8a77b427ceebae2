//! R8: streamed answers when something breaks: the client leaving mid-answer, Ollama dying
//! mid-answer, and SIGTERM with many streams open. The answer so far is always kept.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::kit::process::serve_when_ready;
use crate::kit::sse::{last_is, open, text_of, Event, EventStream};
use crate::kit::tokens::{client_with, issue_token, ALL_SCOPES};
use crate::kit::{error_code, fresh_database, settings, start_ollama, stored_traces, wait_until};
use crate::kit::{Behavior, TestApp, Trace, QUERY_PATH};

const LIMIT: Duration = Duration::from_secs(10);

/// A question whose echo is long: `words` pieces after `echo:`.
fn long_question(tag: &str, words: usize) -> String {
    let words: Vec<String> = (0..words).map(|n| format!("w{n}")).collect();
    format!("{tag} {}", words.join(" "))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_leaving_mid_stream_stops_ollama_within_a_second_and_the_text_is_kept() {
    let db = fresh_database().await;
    let ollama = start_ollama().await;
    // Three pieces, then silence: only maia's watch on its client can notice it leave.
    ollama.set_behavior(Behavior::StallAfter(3));
    let more = [("MAIA_OLLAMA__TIMEOUT", "30")];
    let (server, base) = serve_when_ready(&db.url, &ollama.url(), 10, &more).await;
    let token = issue_token(&db.url, "r8-leaves", ALL_SCOPES).await;
    let question = long_question("r8 leaving", 100);
    let client = client_with(&token.token);
    let body = json!({"query": question, "stream": true});
    let mut stream = open(&client, &format!("{base}{QUERY_PATH}"), &body).await;
    let mut read = stream.first_token(LIMIT).await;
    read.push(stream.next(LIMIT).await.expect("a second piece"));

    drop(stream);
    drop(client);
    let left_at = Instant::now();
    let mut stopped_after = None;
    while left_at.elapsed() < Duration::from_secs(3) && stopped_after.is_none() {
        stopped_after = ollama
            .cut_streams()
            .first()
            .map(|at| at.duration_since(left_at));
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    let stopped_after = stopped_after.expect("maia never hung up on Ollama");
    assert!(
        stopped_after < Duration::from_secs(1),
        "Ollama stopped {stopped_after:?} after the client left"
    );
    let found = wait_until(Duration::from_secs(3), || {
        let url = db.url.clone();
        async move { !stored_traces(&url).await.is_empty() }
    })
    .await;
    assert!(found, "no trace; log:\n{}", server.log());
    let trace = &stored_traces(&db.url).await[0];
    assert_eq!(trace.status, "cancelled", "{trace:?}");
    assert_eq!(trace.error_code.as_deref(), Some("client_closed_request"));
    let kept = trace.response.clone().unwrap_or_default();
    let full = format!("echo: {question}");
    assert!(
        kept.starts_with(&text_of(&read)),
        "{kept:?} lacks what was read"
    );
    assert!(
        kept.len() < full.len() && full.starts_with(&kept),
        "{kept:?}"
    );
    let log = server.log();
    assert!(log.contains("stored as cancelled"), "{log}");
}

#[tokio::test(flavor = "multi_thread")]
async fn ollama_dying_mid_stream_is_an_error_event_and_a_failed_trace_with_the_text_so_far() {
    let dying = start_ollama().await;
    dying.set_behavior(Behavior::StallAfter(2));
    let db = fresh_database().await;
    let mut s = settings(&db.url, &dying.url());
    s.ollama.timeout = 30;
    let app = TestApp::spawn_with(s, start_ollama().await).await;
    let question = "r8 dies one two three";
    let mut stream = app
        .stream(QUERY_PATH, &json!({"query": question, "stream": true}))
        .await;
    let mut events = stream.first_token(LIMIT).await;
    events.push(stream.next(LIMIT).await.expect("the second piece"));

    dying.stop().await;
    events.extend(stream.rest(LIMIT).await);

    let error = last_is(&events, "error");
    assert_eq!(error_code(error), "llm_error", "{error}");
    assert_eq!(text_of(&events), "echo: r8");
    let trace = &app.traces().await[0];
    assert_eq!(trace.status, "failed");
    assert_eq!(trace.response.as_deref(), Some("echo: r8"));
    let cause = trace.error.as_deref().unwrap_or_default();
    assert!(cause.contains("the connection to Ollama failed"), "{cause}");
    app.stop().await;
}

const STREAMS: usize = 50;
const GRACE_S: u64 = 3;

/// A stream per question to `base`, each read up to its first piece: the streams and the
/// events read.
async fn open_streams(
    base: &str,
    token: &str,
    questions: &[String],
) -> (Vec<EventStream>, Vec<Vec<Event>>) {
    let mut streams = Vec::new();
    for question in questions {
        let body = json!({"query": question, "stream": true});
        let client = client_with(token);
        streams.push(open(&client, &format!("{base}{QUERY_PATH}"), &body).await);
    }
    let mut read = Vec::new();
    for stream in &mut streams {
        read.push(stream.first_token(LIMIT).await);
    }
    (streams, read)
}

/// Each question's stream ended with `done` or a `shutdown` error, and its trace keeps at
/// least what the client read.
fn assert_each_ended_cleanly(questions: &[String], events: &[Vec<Event>], stored: &[Trace]) {
    for (question, events) in questions.iter().zip(events) {
        let last = events.last().expect("a stream ended without a word");
        match last.name.as_str() {
            "done" => {}
            "error" => assert_eq!(error_code(&last.data), "shutdown", "{}", last.data),
            other => panic!("a stream ended with {other}: {}", last.data),
        }
        let trace = stored
            .iter()
            .find(|t| &t.query == question)
            .expect("its trace");
        let read = text_of(events);
        let kept = trace.response.as_deref().unwrap_or_default();
        assert!(kept.starts_with(&read), "kept {kept:?}, read {read:?}");
        let shutdown = trace.error_code.as_deref() == Some("shutdown");
        assert!(trace.is_ok() || shutdown, "{trace:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_during_fifty_streams_ends_each_cleanly_keeps_every_trace_and_exits_zero() {
    let db = fresh_database().await;
    let ollama = start_ollama().await;
    // 200 pieces, 0.1 s apart: far longer than the grace.
    ollama.set_behavior(Behavior::Trickle(Duration::from_millis(100)));
    let more = [
        ("MAIA_OLLAMA__MAX_CONCURRENT", "64"),
        ("MAIA_OLLAMA__TIMEOUT", "30"),
    ];
    let (mut server, base) = serve_when_ready(&db.url, &ollama.url(), GRACE_S, &more).await;
    let token = issue_token(&db.url, "r8-sigterm", ALL_SCOPES).await;
    let questions: Vec<String> = (0..STREAMS)
        .map(|n| long_question(&format!("r8 sigterm {n}"), 200))
        .collect();
    let (mut streams, mut events) = open_streams(&base, &token.token, &questions).await;

    let signalled = Instant::now();
    server.signal("TERM");
    let rest = futures_util::future::join_all(streams.iter_mut().map(|s| s.rest(LIMIT))).await;
    let exit = server.wait_exit(Duration::from_secs(GRACE_S + 5)).await;
    let stopped_after = signalled.elapsed();

    assert!(
        exit.is_some_and(|s| s.success()),
        "after SIGTERM: {exit:?}; log:\n{}",
        server.log()
    );
    assert!(
        stopped_after <= Duration::from_secs(GRACE_S) + Duration::from_millis(500),
        "took {stopped_after:?}"
    );
    let stored = stored_traces(&db.url).await;
    assert_eq!(stored.len(), STREAMS, "every stream's trace");
    events
        .iter_mut()
        .zip(rest)
        .for_each(|(read, rest)| read.extend(rest));
    assert_each_ended_cleanly(&questions, &events, &stored);
    ollama.stop().await;
}
