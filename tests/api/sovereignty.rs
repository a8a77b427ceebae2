//! Sovereignty in-process: a public endpoint is refused at start, unless allowed. (The
//! binary's refusal is in `tests/cli`.)

use std::time::{Duration, Instant};

use maia::Application;

use crate::kit::{fresh_database, settings, start_ollama, TestApp};

/// 192.0.2.0/24 (TEST-NET-1) is public by classification and reaches nobody.
const PUBLIC_OLLAMA: &str = "http://192.0.2.10:11434";

#[tokio::test(flavor = "multi_thread")]
async fn a_public_ollama_address_is_refused_before_any_connection() {
    let db = fresh_database().await;
    let s = settings(&db.url, PUBLIC_OLLAMA);

    // The refusal happens on the literal address, with no connection attempted.
    let started = Instant::now();
    let result = Application::build(s).await;
    let took = started.elapsed();

    let Err(e) = result else {
        panic!("a public Ollama endpoint must be refused");
    };
    let text = e.to_string();
    assert!(took < Duration::from_secs(2), "took {took:?}");
    assert!(text.starts_with("sovereignty check failed"), "{text}");
    assert!(text.contains("192.0.2.10"), "{text}");
    assert!(text.contains("allow_hosts"), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_allowed_host_or_strict_off_lets_it_start() {
    let db = fresh_database().await;
    let mut allowed = settings(&db.url, PUBLIC_OLLAMA);
    allowed.sovereignty.allow_hosts = vec!["192.0.2.10".to_string().try_into().unwrap()];
    let mut not_strict = settings(&db.url, PUBLIC_OLLAMA);
    not_strict.sovereignty.strict = false;

    let app = TestApp::spawn_with(allowed, start_ollama().await).await;
    let ollama = app.stop().await;
    TestApp::spawn_with(not_strict, ollama).await.stop().await;
}
