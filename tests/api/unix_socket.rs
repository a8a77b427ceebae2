//! PostgreSQL over a unix socket, as the NixOS module connects (`host=/run/postgresql`):
//! never TLS, whatever `sslmode` says, for every command that opens a connection.

use std::process::{Output, Stdio};
use std::time::Duration;

use serde_json::json;

use crate::fake_ollama::FakeOllama;
use crate::helpers::*;

/// A fresh database's name and its socket directory in the test cluster.
async fn socket_database() -> (String, String) {
    let tcp_url = fresh_database().await;
    let name = tcp_url.rsplit('/').next().unwrap().to_string();
    let dir = cluster()
        .socket_dir()
        .expect("the test cluster has a unix socket")
        .display()
        .to_string();
    (name, dir)
}

/// The URL forms users write for a socket, with and without an `sslmode`.
fn socket_urls(name: &str, dir: &str) -> Vec<String> {
    let port = cluster().port();
    let url = cluster().socket_url(name).unwrap();
    vec![
        url.clone(),
        format!("{url}&sslmode=disable"),
        format!("{url}&sslmode=require"),
        format!("{url}&sslmode=verify-full"),
        format!("host={dir} port={port} user=maia dbname={name} sslmode=require"),
    ]
}

fn run(args: &[&str], db_url: &str, ollama_url: &str) -> Output {
    maia()
        .args(args)
        .env("MAIA_DATABASE__URL", db_url)
        .env("MAIA_OLLAMA__URL", ollama_url)
        .env("MAIA_OLLAMA__MODEL", MODEL)
        .env("MAIA_OLLAMA__DEEP_MODEL", MODEL)
        .output()
        .unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn migrate_and_check_connect_over_a_socket_whatever_the_sslmode() {
    let ollama = FakeOllama::start(&[MODEL]).await;
    for url in {
        let (name, dir) = socket_database().await;
        socket_urls(&name, &dir)
    } {
        let (ollama_url, db) = (ollama.url(), url.clone());
        let (migrate, status, check) = tokio::task::spawn_blocking(move || {
            (
                run(&["migrate"], &db, &ollama_url),
                run(&["migrate", "--status"], &db, &ollama_url),
                run(&["check", "--json"], &db, &ollama_url),
            )
        })
        .await
        .unwrap();
        assert!(
            migrate.status.success(),
            "migrate with {url}: {}",
            text(&migrate)
        );
        assert!(
            status.status.success() && text(&status).contains("0 pending"),
            "migrate --status with {url}: {}",
            text(&status)
        );
        let report: serde_json::Value = serde_json::from_slice(&check.stdout)
            .unwrap_or_else(|_| panic!("check with {url}: {}", text(&check)));
        assert_eq!(report["ok"], true, "check with {url}: {report}");
    }
    ollama.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_answers_and_is_healthy_over_a_socket_even_with_sslmode_require() {
    let ollama = FakeOllama::start(&[MODEL]).await;
    let (name, dir) = socket_database().await;
    let urls = socket_urls(&name, &dir);
    // The plain URL (the module's default form) and a key=value string asking for TLS.
    for url in [&urls[2], &urls[4]] {
        let port = closed_port();
        let child = maia()
            .arg("serve")
            .env("MAIA_HTTP__LISTEN", format!("127.0.0.1:{port}"))
            .env("MAIA_DATABASE__URL", url)
            .env("MAIA_OLLAMA__URL", ollama.url())
            .env("MAIA_OLLAMA__MODEL", MODEL)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut child = Process(child);
        let base = format!("http://127.0.0.1:{port}");
        assert!(
            wait_for_200(&format!("{base}/readyz"), Duration::from_secs(20)).await,
            "not ready with {url}"
        );
        let health: serde_json::Value = reqwest::get(format!("{base}/api/health"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(health["database"], "connected", "{url}: {health}");

        let health_url = format!("{base}/api/health");
        let healthcheck = tokio::task::spawn_blocking(move || {
            maia()
                .args(["healthcheck", "--url", &health_url])
                .output()
                .unwrap()
        })
        .await
        .unwrap();
        assert!(healthcheck.status.success(), "{}", text(&healthcheck));

        let answer = reqwest::Client::new()
            .post(format!("{base}/api/consciousness/query"))
            .json(&json!({ "query": "over a socket" }))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status().as_u16(), 200, "{url}");

        signal(&child.0, "TERM");
        let status = wait_exit(&mut child.0, Duration::from_secs(10))
            .await
            .expect("exits");
        assert!(status.success(), "{status}");
    }
    ollama.stop().await;
}
