//! What maia logs, as an operator reads it: JSON lines without the build machine's paths,
//! and a warning at start that says what an unreachable Ollama means.

use std::time::Duration;

use serde_json::Value;

use crate::kit::process::{self, output, text};
use crate::kit::{free_port, fresh_database, maia, wait_for_200, Process};

/// JSON lines from maia's own events and from the libraries that log through `log`
/// (refinery, tokio-postgres): none names a source file or line, which would be paths on
/// the machine that built the binary.
#[tokio::test(flavor = "multi_thread")]
async fn json_log_lines_carry_no_source_location() {
    let db = fresh_database().await;
    let mut migrate = maia();
    migrate
        .arg("migrate")
        .env("MAIA_DATABASE__URL", &db.url)
        .env("MAIA_LOG__FORMAT", "json")
        .env("MAIA_LOG__LEVEL", "debug");

    let out = output(migrate).await;

    assert!(out.status.success(), "{}", text(&out));
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stderr)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not JSON: {l}")))
        .collect();
    let targets: Vec<&str> = lines.iter().filter_map(|l| l["target"].as_str()).collect();
    assert!(
        targets.iter().any(|t| t.starts_with("refinery"))
            && targets.iter().any(|t| t.starts_with("maia")),
        "lines from a library and from maia: {targets:?}"
    );
    for line in &lines {
        let fields = line.as_object().unwrap();
        assert!(
            !fields
                .keys()
                .any(|k| k.contains("file") || k.contains("line") || k.starts_with("log.")),
            "{line}"
        );
        assert!(!line.to_string().contains("/src/"), "{line}");
    }
}

/// The server starts without Ollama (degraded), and says at once what that means; the
/// credentials in Ollama's URL (a proxy's) are not shown.
#[tokio::test(flavor = "multi_thread")]
async fn serve_warns_at_start_that_an_unreachable_ollama_means_503s() {
    let db = fresh_database().await;
    let port = free_port();
    let ollama_port = free_port();
    let ollama_url = format!("http://proxy:hunter2@127.0.0.1:{ollama_port}");
    let mut server = Process::spawn(process::serve(maia(), port, &db.url, &ollama_url));

    let ready = wait_for_200(
        &format!("http://127.0.0.1:{port}/readyz"),
        Duration::from_secs(30),
    )
    .await;
    server.assert_stops_cleanly(Duration::from_secs(10)).await;

    let log = server.log();
    assert!(ready, "{log}");
    assert!(
        log.contains(&format!(
            "Ollama at http://127.0.0.1:{ollama_port}/ (credentials [redacted]) is unreachable: \
             queries will get 503 llm_unavailable until it answers"
        )),
        "{log}"
    );
    assert!(!log.contains("hunter2"), "{log}");
}
