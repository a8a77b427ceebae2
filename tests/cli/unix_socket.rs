//! PostgreSQL over a unix socket, as the NixOS module connects (`host=/run/postgresql`):
//! never TLS, whatever `sslmode` says, for every command that opens a connection.

use std::time::Duration;

use serde_json::Value;

use crate::kit::database::shared_cluster;
use crate::kit::http::{get, post_query};
use crate::kit::process::{output, serve, text};
use crate::kit::{free_port, fresh_database, maia, start_ollama, wait_for_200, Process, MODEL};

/// The URL forms users write for a fresh database's socket, with and without an `sslmode`.
async fn socket_urls() -> Vec<String> {
    let db = fresh_database().await;
    let cluster = shared_cluster();
    let dir = cluster
        .socket_dir()
        .expect("the test cluster has a unix socket")
        .display()
        .to_string();
    let url = cluster.socket_url(&db.name).expect("a socket URL");
    let password = std::fs::read_to_string(cluster.superuser_password_file())
        .expect("the superuser's password file");
    vec![
        url.clone(),
        format!("{url}&sslmode=disable"),
        format!("{url}&sslmode=require"),
        format!("{url}&sslmode=verify-full"),
        format!(
            "host={dir} port={} user=maia password={} dbname={} sslmode=require",
            cluster.port(),
            password.trim(),
            db.name
        ),
    ]
}

/// `maia ARGS` against `db_url` and `ollama_url`, run to its end.
async fn run(args: &[&str], db_url: &str, ollama_url: &str) -> std::process::Output {
    let mut command = maia();
    command
        .args(args)
        .env("MAIA_DATABASE__URL", db_url)
        .env("MAIA_OLLAMA__URL", ollama_url)
        .env("MAIA_OLLAMA__MODEL", MODEL)
        .env("MAIA_OLLAMA__DEEP_MODEL", MODEL);
    output(command).await
}

#[tokio::test(flavor = "multi_thread")]
async fn migrate_and_check_connect_over_a_socket_whatever_the_sslmode() {
    let ollama = start_ollama().await;

    for url in socket_urls().await {
        let migrate = run(&["migrate"], &url, &ollama.url()).await;
        let status = run(&["migrate", "--status"], &url, &ollama.url()).await;
        let check = run(&["check", "--json"], &url, &ollama.url()).await;

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
        let report: Value = serde_json::from_slice(&check.stdout)
            .unwrap_or_else(|_| panic!("check with {url}: {}", text(&check)));
        assert_eq!(report["ok"], true, "check with {url}: {report}");
    }
    ollama.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_answers_and_is_healthy_over_a_socket_even_with_sslmode_require() {
    let ollama = start_ollama().await;
    let urls = socket_urls().await;

    // A URL asking for TLS, and the key=value form asking for it too.
    for url in [&urls[2], &urls[4]] {
        let port = free_port();
        let mut server = Process::spawn(serve(maia(), port, url, &ollama.url()));
        let base = format!("http://127.0.0.1:{port}");
        let ready = wait_for_200(&format!("{base}/readyz"), Duration::from_secs(20)).await;
        assert!(ready, "not ready with {url}; its log:\n{}", server.log());

        let (_, health) = get(&format!("{base}/api/health")).await;
        let mut healthcheck = maia();
        healthcheck.args(["healthcheck", "--url", &format!("{base}/api/health")]);
        let healthcheck = output(healthcheck).await;
        let token = create_token(url).await;
        let (answer, _) = post_query(&base, &token, "over a socket").await;

        assert_eq!(health["database"], "connected", "{url}: {health}");
        assert!(healthcheck.status.success(), "{}", text(&healthcheck));
        assert_eq!(answer, 200, "{url}");
        server.assert_stops_cleanly(Duration::from_secs(10)).await;
    }
    ollama.stop().await;
}

/// `maia token create` against `db_url`: the token it prints.
async fn create_token(db_url: &str) -> String {
    let mut create = maia();
    create
        .args([
            "token",
            "create",
            "--name",
            &format!("socket-{}", crate::kit::free_port()),
        ])
        .env("MAIA_DATABASE__URL", db_url);
    let created = output(create).await;
    assert!(created.status.success(), "{}", text(&created));
    String::from_utf8(created.stdout)
        .unwrap()
        .trim()
        .to_string()
}
