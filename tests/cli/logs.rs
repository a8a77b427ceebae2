//! What maia logs, as an operator reads it: JSON lines without the build machine's paths,
//! and a warning at start that says what an unreachable Ollama means.

use serde_json::Value;

use crate::kit::process::{output, text};
use crate::kit::{fresh_database, maia};

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
