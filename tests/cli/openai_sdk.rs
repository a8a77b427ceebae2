//! The official `openai` Python package (PyPI) as maia's client, against `maia serve` and
//! the fake Ollama: plain and streamed completions, the model list, a persona's model, an
//! answer cut at max_tokens, a wrong token, an unknown model, a bad parameter, maia's
//! knowledge extension (sent with `extra_body`, answered with citations) and an answer
//! failing mid-stream. The script (`tests/support/openai_sdk.py`) validates every
//! answer against the SDK's own types, so a drift in the wire format fails it.
//!
//! The Python is a venv's interpreter named by MAIA_TEST_OPENAI_PYTHON (`.ci/run` makes one
//! with a pinned `openai`). Without it the test says so and skips, unless
//! MAIA_TEST_REQUIRE_OPENAI is set (CI sets it), where it fails.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use crate::kit::knowledge::pgvector_or_skip;
use crate::kit::process::{output, serving, text};
use crate::kit::tokens::issue_token;
use serde_json::json;

use crate::kit::{http_client, stored_traces, Behavior, MODEL};

/// The interpreter, or `None` to skip (or a panic, when it is required).
fn python() -> Option<PathBuf> {
    match std::env::var_os("MAIA_TEST_OPENAI_PYTHON") {
        Some(path) => Some(PathBuf::from(path)),
        None if std::env::var_os("MAIA_TEST_REQUIRE_OPENAI").is_some() => {
            panic!("MAIA_TEST_REQUIRE_OPENAI is set but MAIA_TEST_OPENAI_PYTHON is not")
        }
        None => {
            eprintln!(
                "SKIPPED: openai_sdk needs MAIA_TEST_OPENAI_PYTHON, a Python with the openai \
                 package (python3 -m venv V && V/bin/pip install openai); set \
                 MAIA_TEST_REQUIRE_OPENAI=1 to make this a failure"
            );
            None
        }
    }
}

/// Runs the script's `checks` against maia's `/v1` at `base` as `token`.
async fn run_checks(python: &Path, base: &str, token: &str, checks: &[&str]) -> Output {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/openai_sdk.py");
    let mut command = std::process::Command::new(python);
    command
        .arg(script)
        .args([&format!("{base}/v1"), token, MODEL])
        .args(checks)
        // Loopback only: no proxy from the environment, and none of OpenAI's own settings.
        .env("NO_PROXY", "*")
        .env_remove("OPENAI_BASE_URL")
        .env_remove("OPENAI_API_KEY");
    for proxy in ["HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"] {
        command.env_remove(proxy).env_remove(proxy.to_lowercase());
    }
    output(command).await
}

#[tokio::test(flavor = "multi_thread")]
async fn the_official_openai_python_client_reads_maias_answers_and_errors() {
    let Some(python) = python() else { return };
    let (mut server, base, db_url, ollama) = serving(&[]).await;
    // A token that may only ask: the whole surface works with it.
    let token = issue_token(&db_url, "sdk", &["query"]).await.token;
    // Knowledge's extension needs pgvector: without it (and not required), that check
    // alone is left out.
    let knowledge = pgvector_or_skip(&db_url).await;
    if knowledge {
        let note = json!({"title": "Backups", "content": "The dump runs nightly at 01:15."});
        let added = http_client()
            .post(format!("{base}/api/documents"))
            .bearer_auth(&token)
            .json(&note)
            .send()
            .await
            .unwrap();
        assert_eq!(added.status(), 201);
    }

    let mut checks = vec![
        "plain",
        "stream",
        "models",
        "persona",
        "length",
        "wrong-token",
        "unknown-model",
        "bad-request",
    ];
    if knowledge {
        checks.push("knowledge");
    }
    let answered = run_checks(&python, &base, &token, &checks).await;
    ollama.set_behavior(Behavior::MidStreamError("out of memory".into()));
    let failed = run_checks(&python, &base, &token, &["mid-stream-error"]).await;

    assert!(answered.status.success(), "{}", text(&answered));
    assert!(failed.status.success(), "{}", text(&failed));
    let said = text(&answered);
    for check in &checks {
        assert!(said.contains(&format!("ok: {check}")), "{said}");
    }
    // Four answers (plain, streamed, persona, cut short), two more with knowledge, and the
    // one that failed, each kept.
    let traces = stored_traces(&db_url).await;
    let ok = traces.iter().filter(|t| t.is_ok()).count();
    let failed: Vec<_> = traces.iter().filter(|t| !t.is_ok()).collect();
    let answers = if knowledge { 6 } else { 4 };
    assert_eq!((ok, failed.len()), (answers, 1), "{traces:?}");
    assert!(failed[0]
        .response
        .as_deref()
        .is_some_and(|r| r.starts_with("echo:")));
    server.assert_stops_cleanly(Duration::from_secs(10)).await;
}
