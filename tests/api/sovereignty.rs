use std::time::{Duration, Instant};

use maia::startup::{Application, StartupError};

use crate::helpers::*;

#[tokio::test(flavor = "multi_thread")]
async fn a_public_ollama_address_is_refused_before_any_connection() {
    let db = fresh_database().await;
    // 192.0.2.0/24 (TEST-NET-1) is public by classification and reaches nobody; the refusal
    // happens on the literal address, with no connection attempted.
    let s = settings(&db, "http://192.0.2.10:11434");
    let started = Instant::now();
    let result = Application::build(s).await;
    assert!(started.elapsed() < Duration::from_secs(2));
    match result {
        Err(StartupError::Sovereignty(e)) => {
            let text = e.to_string();
            assert!(text.contains("192.0.2.10"), "{text}");
            assert!(text.contains("allow_hosts"), "{text}");
        }
        Err(other) => panic!("wrong error: {other}"),
        Ok(_) => panic!("a public Ollama endpoint must be refused"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn maia_serve_refuses_a_public_database_and_says_why() {
    let out = maia()
        .arg("serve")
        .env("MAIA_HTTP__LISTEN", "127.0.0.1:0")
        .env("MAIA_DATABASE__URL", "postgresql://maia@8.8.8.8:5432/maia")
        .env("MAIA_OLLAMA__URL", "http://127.0.0.1:11434")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("sovereignty") && err.contains("8.8.8.8"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_allowed_host_or_strict_off_lets_it_start() {
    let db = fresh_database().await;
    let ollama = crate::fake_ollama::FakeOllama::start(&[MODEL]).await;
    let mut s = settings(&db, "http://192.0.2.10:11434");
    s.sovereignty.allow_hosts = vec!["192.0.2.10".into()];
    let app = TestApp::spawn_with(s, ollama).await;
    let ollama = app.stop().await;
    let mut s = settings(&db, "http://192.0.2.10:11434");
    s.sovereignty.strict = false;
    TestApp::spawn_with(s, ollama).await.stop().await;
}
