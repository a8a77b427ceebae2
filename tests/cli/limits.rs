//! The open-files limit: maia raises a low soft limit to what its connection caps need,
//! and says what to change when the hard limit is lower.

use std::time::Duration;

use crate::kit::process::{maia_with_open_files, serve};
use crate::kit::{free_port, fresh_database, start_ollama, wait_for_200, Process};

/// `maia serve` with these limits, once it answers: its log.
async fn log_of_serve_with(soft: u64, hard: Option<u64>) -> String {
    let db = fresh_database().await;
    let ollama = start_ollama().await;
    let port = free_port();
    let mut server = Process::spawn(serve(
        maia_with_open_files(soft, hard),
        port,
        &db.url,
        &ollama.url(),
    ));
    let up = wait_for_200(
        &format!("http://127.0.0.1:{port}/livez"),
        Duration::from_secs(20),
    )
    .await;
    assert!(up, "never up; its log:\n{}", server.log());
    server.assert_stops_cleanly(Duration::from_secs(10)).await;
    server.log()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_low_soft_limit_is_raised_to_what_the_connection_caps_need() {
    let hard = rustix::process::getrlimit(rustix::process::Resource::Nofile).maximum;
    let log = log_of_serve_with(256, None).await;
    // 1621 for the defaults, or as much as the hard limit allows.
    let to = hard.unwrap_or(u64::MAX).min(1621);
    assert!(log.contains("raised the open-files limit"), "{log}");
    assert!(log.contains(&format!("to={to}")), "{log}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hard_limit_below_the_need_is_named_with_what_to_change() {
    let log = log_of_serve_with(256, Some(256)).await;
    assert!(
        log.contains(
            "the open-files limit is 256, below the 1621 that http.max_connections = 512 needs"
        ),
        "{log}"
    );
    assert!(log.contains("LimitNOFILE"), "{log}");
}
