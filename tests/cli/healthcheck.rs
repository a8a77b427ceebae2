//! `maia healthcheck`: its exit code follows the health endpoint.

use std::process::ExitStatus;
use std::time::{Duration, Instant};

use crate::kit::process::{output, text};
use crate::kit::{free_port, maia, TestApp};

async fn healthcheck(url: &str) -> ExitStatus {
    let mut command = maia();
    command.args(["healthcheck", "--url", url]);
    output(command).await.status
}

#[tokio::test(flavor = "multi_thread")]
async fn healthcheck_exit_codes_follow_the_health_endpoint() {
    let healthy = TestApp::spawn().await;
    let degraded = TestApp::spawn_with_ollama_down().await;
    let unhealthy = TestApp::spawn_with_database_down().await;
    let unmigrated = TestApp::spawn_unmigrated().await;

    let mut statuses = Vec::new();
    for app in [healthy, degraded, unhealthy, unmigrated] {
        statuses.push(healthcheck(&app.url("/api/health")).await);
        app.stop().await;
    }
    let started = Instant::now();
    let nothing_listening =
        healthcheck(&format!("http://127.0.0.1:{}/api/health", free_port())).await;
    let took = started.elapsed();

    assert!(statuses[0].success(), "healthy → 0");
    // Degraded (Ollama gone) is still 0: the container is serving.
    assert!(statuses[1].success(), "degraded → 0");
    assert!(
        !statuses[2].success(),
        "database down, 503 unhealthy → non-zero"
    );
    assert!(
        !statuses[3].success(),
        "migrations pending, 503 unhealthy → non-zero"
    );
    assert!(!nothing_listening.success(), "nothing listening → non-zero");
    assert!(
        took < Duration::from_secs(5),
        "nothing listening took {took:?}"
    );
}

/// On every interface, IPv4's or IPv6's, the server is asked at 127.0.0.1 (where the app
/// listens here): what the README says, and what works where IPv6 is disabled.
#[tokio::test(flavor = "multi_thread")]
async fn healthcheck_without_url_uses_the_configured_port_on_127_0_0_1() {
    let app = TestApp::spawn().await;
    let mut statuses = Vec::new();
    for every_interface in ["0.0.0.0", "[::]"] {
        let mut command = maia();
        command.arg("healthcheck").env(
            "MAIA_HTTP__LISTEN",
            format!("{every_interface}:{}", app.port),
        );
        statuses.push(output(command).await);
    }

    for out in statuses {
        assert!(out.status.success(), "{}", text(&out));
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_url_that_is_not_one_is_refused_saying_what_is_wrong() {
    let mut not_a_url = maia();
    not_a_url.args(["healthcheck", "--url", "notaurl"]);
    let mut not_http = maia();
    not_http.args(["healthcheck", "--url", "unix:/run/maia.sock"]);

    let not_a_url = output(not_a_url).await;
    let not_http = output(not_http).await;

    for (out, said) in [
        (&not_a_url, "--url notaurl: relative URL without a base"),
        (&not_http, "--url unix:/run/maia.sock: not an http(s) URL"),
    ] {
        let shown = text(out);
        assert_eq!(out.status.code(), Some(2), "{shown}");
        assert!(
            shown.contains(said)
                && shown.contains("expected e.g. http://127.0.0.1:8080/api/health"),
            "{shown}"
        );
    }
}
