//! `maia check`: what it reports against the world, and `--offline` on the config alone.

use std::process::{Command, Output};

use serde_json::Value;

use crate::kit::process::{output, text};
use crate::kit::settings::unreachable_ollama;
use crate::kit::{fresh_database, maia, start_ollama, Scratch, MODEL};

/// `maia check ARGS` against `db_url` and `ollama_url`, with `extra` variables.
fn check(args: &[&str], db_url: &str, ollama_url: &str, extra: &[(&str, &str)]) -> Command {
    let mut command = maia();
    command
        .arg("check")
        .args(args)
        .env("MAIA_DATABASE__URL", db_url)
        .env("MAIA_OLLAMA__URL", ollama_url)
        .env("MAIA_OLLAMA__MODEL", MODEL)
        .envs(extra.iter().copied());
    command
}

/// The report `check --json` printed.
fn report(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("not JSON: {}", text(out)))
}

/// The names of the checks that failed.
fn failed_checks(report: &Value) -> Vec<&str> {
    report["checks"]
        .as_array()
        .unwrap_or_else(|| panic!("no checks: {report}"))
        .iter()
        .filter(|c| c["ok"] == false)
        .map(|c| c["name"].as_str().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn check_passes_when_everything_is_there_and_fails_naming_what_is_not() {
    let db = fresh_database().await;
    let ollama = start_ollama().await;
    let json = |extra: &[(&str, &str)]| output(check(&["--json"], &db.url, &ollama.url(), extra));

    let pending = json(&[]).await;
    let mut migrate = maia();
    migrate.arg("migrate").env("MAIA_DATABASE__URL", &db.url);
    let migrated = output(migrate).await;
    let passing = json(&[]).await;
    let missing_deep_model = json(&[("MAIA_OLLAMA__DEEP_MODEL", "mixtral:8x7b")]).await;
    let ollama_down = json(&[("MAIA_OLLAMA__URL", &unreachable_ollama())]).await;
    let readable = output(check(&[], &db.url, &ollama.url(), &[])).await;

    // Migrations pending: fails, and says so.
    assert!(!pending.status.success());
    let pending = report(&pending);
    assert_eq!(pending["ok"], false);
    assert_eq!(failed_checks(&pending), ["migrations"], "{pending}");
    assert!(migrated.status.success(), "{}", text(&migrated));
    assert!(passing.status.success(), "{}", text(&passing));
    assert!(!missing_deep_model.status.success());
    assert!(
        text(&missing_deep_model).contains("mixtral:8x7b is missing"),
        "{}",
        text(&missing_deep_model)
    );
    assert!(!ollama_down.status.success());
    assert!(
        text(&readable).contains("all checks passed"),
        "{}",
        text(&readable)
    );
}

#[test]
fn check_offline_validates_the_config_without_connecting() {
    let dir = Scratch::new("check");
    let good = dir.write(
        "good.toml",
        "[database]\nurl = \"postgresql://maia@10.0.0.5/maia\"\n[ollama]\nurl = \"http://127.0.0.1:1\"\n",
    );
    let public = dir.write(
        "public.toml",
        "[ollama]\nurl = \"http://203.0.113.9:11434\"\n",
    );
    let bad = dir.write("bad.toml", "[ollama]\nmodle = \"x\"\n");
    let offline = |json: bool, config: &std::path::Path| {
        let mut command = maia();
        command.args(["check", "--offline"]);
        if json {
            command.arg("--json");
        }
        command.arg("--config").arg(config).output().unwrap()
    };

    let good = offline(false, &good);
    let public = offline(false, &public);
    let bad = offline(true, &bad);

    assert!(good.status.success(), "{}", text(&good));
    assert!(!public.status.success(), "{}", text(&public));
    assert_eq!(bad.status.code(), Some(2), "{}", text(&bad));
    let detail = report(&bad)["checks"][0]["detail"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        detail.contains("modle") && detail.contains("bad.toml"),
        "{detail}"
    );
}

/// A refused endpoint is never contacted, not even for a login: here the database's host is
/// public while its `hostaddr` is a local listener that counts the connections it gets.
#[tokio::test(flavor = "multi_thread")]
async fn check_never_contacts_an_endpoint_sovereignty_refused() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let connections = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = connections.clone();
    let counter = tokio::spawn(async move {
        while listener.accept().await.is_ok() {
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    });
    let db_url = format!("host=203.0.113.7 hostaddr=127.0.0.1 port={port} user=maia dbname=maia");

    let out = output(check(&["--json"], &db_url, "http://203.0.113.9:11434", &[])).await;

    counter.abort();
    assert!(!out.status.success(), "{}", text(&out));
    let checks = report(&out)["checks"].clone();
    let detail = |name: &str| {
        checks
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .map(|c| c["detail"].as_str().unwrap().to_string())
            .unwrap_or_else(|| panic!("no {name} check: {checks}"))
    };
    for service in ["database", "ollama"] {
        assert!(detail(service).contains("not contacted"), "{checks}");
    }
    assert_eq!(connections.load(std::sync::atomic::Ordering::SeqCst), 0);
}

/// With several Ollama servers, a line each: one down is a warning while another answers
/// (the check passes), each model says where it is, and none answering fails.
#[tokio::test(flavor = "multi_thread")]
async fn check_lists_each_ollama_server_and_where_each_model_is() {
    let db = fresh_database().await;
    let mut migrate = maia();
    migrate.arg("migrate").env("MAIA_DATABASE__URL", &db.url);
    assert!(output(migrate).await.status.success());
    let ollama = start_ollama().await;
    let down = unreachable_ollama();
    let urls = format!("{},{down}", ollama.url());
    let both = [("MAIA_OLLAMA__URLS", urls.as_str())];
    let none_up = format!("{down},{}", unreachable_ollama());

    let out = output(check(&[], &db.url, &ollama.url(), &both)).await;
    let failing = output(check(
        &["--json"],
        &db.url,
        &down,
        &[("MAIA_OLLAMA__URLS", &none_up)],
    ))
    .await;

    let shown = text(&out);
    assert!(out.status.success(), "{shown}");
    let up_line = format!("ok   ollama       {} answers (version", ollama.url());
    assert!(shown.contains(&up_line), "{shown}");
    let down_line = format!("warn ollama       {down}: Ollama is unreachable");
    assert!(shown.contains(&down_line), "{shown}");
    assert!(
        shown.contains(&format!("{MODEL} is present on {}", ollama.url())),
        "{shown}"
    );
    assert!(!failing.status.success(), "{}", text(&failing));
    let failing = report(&failing);
    assert_eq!(failed_checks(&failing), ["ollama", "ollama"], "{failing}");
}
