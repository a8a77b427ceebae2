//! `GET /metrics`: only a token with the `metrics` scope reads it; after a query and a
//! conversation's message its counters say so, by route template, model and status; the
//! output parses with Prometheus' own Python parser; the example Grafana dashboard asks
//! only for metrics it exposes.
//!
//! The parser is `prometheus_client` (PyPI) in the venv whose interpreter
//! MAIA_TEST_PROMETHEUS_PYTHON names (`.ci/run` makes one, pinned). Without it that test
//! says so and skips, unless MAIA_TEST_REQUIRE_PROMETHEUS is set (CI sets it): then it fails.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{json, Value};

use crate::kit::tokens::{client_with, issue_token};
use crate::kit::{error_code, TestApp, MODEL};

/// `GET /metrics` with `client`: status, content type, body.
async fn scrape(app: &TestApp, client: &reqwest::Client) -> (u16, String, String) {
    let response = client.get(app.url("/metrics")).send().await.unwrap();
    let status = response.status().as_u16();
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_string();
    (status, content_type, response.text().await.unwrap())
}

/// The metrics as a scraper with only the `metrics` scope reads them.
async fn scraped(app: &TestApp) -> String {
    let token = issue_token(&app.db_url, "scraper", &["metrics"])
        .await
        .token;
    let (status, _, text) = scrape(app, &client_with(&token)).await;
    assert_eq!(status, 200, "{text}");
    text
}

/// The value of the sample `name` whose labels are exactly `labels`, in any order.
fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let mut wanted: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
    wanted.sort();
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (metric, rest) = series.split_once('{').unwrap_or((series, "}"));
            let mut found: Vec<String> = rest
                .trim_end_matches('}')
                .split(',')
                .filter(|l| !l.is_empty())
                .map(String::from)
                .collect();
            found.sort();
            (metric == name && found == wanted).then(|| value.parse().unwrap())
        })
}

#[tokio::test(flavor = "multi_thread")]
async fn only_a_token_with_the_metrics_scope_reads_the_metrics_and_it_reads_nothing_else() {
    let app = TestApp::spawn().await;

    let (status, _, body) = scrape(&app, &app.anonymous).await;
    assert_eq!(status, 401, "{body}");
    for scope in ["query", "read", "admin"] {
        let token = issue_token(&app.db_url, scope, &[scope]).await.token;
        let (status, _, body) = scrape(&app, &client_with(&token)).await;
        let body: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            (status, error_code(&body)),
            (403, "insufficient_scope"),
            "{scope}"
        );
    }
    let all_but = ["query", "read", "admin"];
    let token = issue_token(&app.db_url, "all-but", &all_but).await.token;
    assert_eq!(scrape(&app, &client_with(&token)).await.0, 403);
    let scraper = client_with(
        &issue_token(&app.db_url, "scraper", &["metrics"])
            .await
            .token,
    );
    let (status, content_type, text) = scrape(&app, &scraper).await;
    let traces = scraper.get(app.url("/api/traces")).send().await.unwrap();

    assert_eq!(status, 200, "{text}");
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    assert!(
        text.contains("# TYPE maia_http_requests_total counter"),
        "{text}"
    );
    assert_eq!(traces.status(), 403);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_query_and_a_conversation_message_are_counted_by_route_template_model_and_status() {
    let app = TestApp::spawn().await;
    let (status, answered) = app.query(json!({"query": "count me"})).await;
    assert_eq!(status, 200, "{answered}");
    let conversation = app.start_conversation(json!({})).await;
    let messages = format!("/api/conversations/{conversation}/messages");
    let (said, reply) = app
        .post_json(&messages, &json!({"content": "and me"}))
        .await;
    assert!(said < 300, "{reply}");
    let trace = format!("/api/traces/{}", answered["id"].as_str().unwrap());
    assert_eq!(app.get(&trace).await.0, 200);
    assert_eq!(app.get("/no/such/path").await.0, 404);

    let text = scraped(&app).await;

    let http = |method, route, status: &str| {
        let labels = [("method", method), ("route", route), ("status", status)];
        sample(&text, "maia_http_requests_total", &labels)
    };
    let said = said.to_string();
    assert_eq!(http("POST", "/api/consciousness/query", "200"), Some(1.0));
    assert_eq!(
        http("POST", "/api/conversations/{id}/messages", &said),
        Some(1.0)
    );
    assert_eq!(http("GET", "/api/traces/{id}", "200"), Some(1.0));
    assert_eq!(http("GET", "unmatched", "404"), Some(1.0));
    assert!(
        !text.contains(&conversation) && !text.contains("/no/such"),
        "{text}"
    );
    let timed = [("method", "POST"), ("route", "/api/consciousness/query")];
    let count = "maia_http_request_duration_seconds_count";
    assert_eq!(sample(&text, count, &timed), Some(1.0));
    // The scrape itself is the one request in flight.
    assert_eq!(
        sample(&text, "maia_http_requests_in_flight", &[]),
        Some(1.0)
    );
    assert_llm_and_traces(&app, &text).await;
    app.stop().await;
}

/// Two calls to the model, both answered: timed, their tokens summed as the traces say.
async fn assert_llm_and_traces(app: &TestApp, text: &str) {
    let ok = [("model", MODEL), ("status", "ok")];
    let traces = app.traces().await;
    let sum = |f: fn(&crate::kit::traces::Trace) -> Option<i32>| {
        traces.iter().filter_map(f).map(f64::from).sum::<f64>()
    };
    let count = |name| sample(text, name, &ok);
    assert_eq!(count("maia_llm_call_duration_seconds_count"), Some(2.0));
    assert_eq!(
        count("maia_llm_time_to_first_token_seconds_count"),
        Some(2.0)
    );
    let prompt = sum(|t| t.prompt_tokens);
    assert!(prompt > 0.0);
    assert_eq!(count("maia_llm_prompt_tokens_total"), Some(prompt));
    assert_eq!(
        count("maia_llm_completion_tokens_total"),
        Some(sum(|t| t.completion_tokens))
    );
    let traced = |status| sample(text, "maia_traces_total", &[("status", status)]);
    assert_eq!((traced("ok"), traced("failed")), (Some(2.0), Some(0.0)));
    let migrations = std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations"))
        .unwrap()
        .count();
    assert_eq!(
        sample(text, "maia_migrations_applied", &[]),
        Some(migrations as f64)
    );
    assert_eq!(sample(text, "maia_migrations_pending", &[]), Some(0.0));
    let version = [("version", env!("CARGO_PKG_VERSION"))];
    assert_eq!(sample(text, "maia_build_info", &version), Some(1.0));
    let pool = sample(text, "maia_db_pool_max_connections", &[]).unwrap();
    assert!(pool >= 1.0, "{text}");
    assert_eq!(sample(text, "maia_db_pool_waiting", &[]), Some(0.0));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_call_the_model_could_not_answer_is_counted_with_its_error_and_its_trace_as_failed() {
    let app = TestApp::spawn_with_ollama_down().await;
    let (status, body) = app.query(json!({"query": "anyone there?"})).await;
    assert_eq!(status, 503, "{body}");

    let text = scraped(&app).await;

    let failed = [("model", MODEL), ("status", "llm_unavailable")];
    assert_eq!(
        sample(&text, "maia_llm_call_duration_seconds_count", &failed),
        Some(1.0)
    );
    let traced = |status| sample(&text, "maia_traces_total", &[("status", status)]);
    assert_eq!((traced("ok"), traced("failed")), (Some(0.0), Some(1.0)));
    app.stop().await;
}

/// The interpreter of a venv with `prometheus_client`, or `None` to skip (or a panic,
/// when it is required).
fn prometheus_python() -> Option<PathBuf> {
    match std::env::var_os("MAIA_TEST_PROMETHEUS_PYTHON") {
        Some(path) => Some(PathBuf::from(path)),
        None if std::env::var_os("MAIA_TEST_REQUIRE_PROMETHEUS").is_some() => {
            panic!("MAIA_TEST_REQUIRE_PROMETHEUS is set but MAIA_TEST_PROMETHEUS_PYTHON is not")
        }
        None => {
            eprintln!(
                "SKIPPED: the metrics' parse needs MAIA_TEST_PROMETHEUS_PYTHON, a Python with \
                 prometheus_client (python3 -m venv V && V/bin/pip install prometheus_client); \
                 set MAIA_TEST_REQUIRE_PROMETHEUS=1 to make this a failure"
            );
            None
        }
    }
}

/// `text` parsed by `prometheus_client`: each family's name and type, one a line.
fn parse_with_prometheus_client(python: &Path, text: &str) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/prometheus_parse.py");
    let mut child = Command::new(python)
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the Python runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    let said = String::from_utf8_lossy(&output.stdout).to_string();
    let complained = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{said}{complained}\n{text}");
    said
}

#[tokio::test(flavor = "multi_thread")]
async fn the_metrics_parse_with_prometheus_own_parser_each_of_its_type() {
    let Some(python) = prometheus_python() else {
        return;
    };
    let app = TestApp::spawn().await;
    assert_eq!(app.query(json!({"query": "parse me"})).await.0, 200);
    let text = scraped(&app).await;

    let families = parse_with_prometheus_client(&python, &text);

    for expected in [
        "maia_http_requests counter",
        "maia_http_request_duration_seconds histogram",
        "maia_http_requests_in_flight gauge",
        "maia_llm_call_duration_seconds histogram",
        "maia_llm_time_to_first_token_seconds histogram",
        "maia_llm_prompt_tokens counter",
        "maia_llm_completion_tokens counter",
        "maia_traces counter",
        "maia_db_pool_connections_in_use gauge",
        "maia_migrations_applied gauge",
        "maia_build_info gauge",
    ] {
        assert!(
            families.lines().any(|l| l == expected),
            "{expected}:\n{families}"
        );
    }
    app.stop().await;
}

/// Every `maia_…` metric a query of the example dashboard names.
fn dashboard_metrics() -> Vec<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("oci/grafana-dashboard.json");
    let dashboard: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap())
        .expect("the dashboard is JSON");
    let panels = dashboard["panels"].as_array().expect("panels");
    let mut names: Vec<String> = panels
        .iter()
        .flat_map(|p| p["targets"].as_array().expect("targets").iter())
        .flat_map(|t| {
            let expr = t["expr"].as_str().expect("an expr");
            let words = expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'));
            words
                .filter(|w| w.starts_with("maia_"))
                .map(String::from)
                .collect::<Vec<_>>()
        })
        .collect();
    names.sort();
    names.dedup();
    names
}

#[tokio::test(flavor = "multi_thread")]
async fn the_example_dashboard_queries_only_metrics_maia_exposes() {
    let app = TestApp::spawn().await;
    assert_eq!(app.query(json!({"query": "chart me"})).await.0, 200);
    let text = scraped(&app).await;

    let names = dashboard_metrics();

    assert!(names.len() >= 8, "{names:?}");
    for name in names {
        let exposed = text
            .lines()
            .any(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")));
        assert!(exposed, "{name} is not in:\n{text}");
    }
    app.stop().await;
}
