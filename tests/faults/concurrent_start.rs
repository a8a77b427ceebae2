//! R3: four `maia serve` processes started at once against an empty database.

use std::time::Duration;

use crate::kit::database::{applied_versions, count_rows, embedded_versions};
use crate::kit::http::{free_ports, post_query};
use crate::kit::process::serve;
use crate::kit::tokens::{issue_token, ALL_SCOPES};
use crate::kit::Process;
use crate::kit::{fresh_database, maia, start_ollama, wait_for_200};

const PROCESSES: usize = 4;

#[tokio::test(flavor = "multi_thread")]
async fn four_servers_at_once_on_an_empty_database_all_serve_and_migrate_once() {
    let db = fresh_database().await;
    let ollama = start_ollama().await;
    let ports = free_ports(PROCESSES);

    let mut servers: Vec<Process> = ports
        .iter()
        .map(|port| Process::spawn(serve(maia(), *port, &db.url, &ollama.url())))
        .collect();
    let mut token = None;
    for (server, port) in servers.iter().zip(&ports) {
        let base = format!("http://127.0.0.1:{port}");
        assert!(
            wait_for_200(&format!("{base}/readyz"), Duration::from_secs(20)).await,
            "the server on {port} never became ready; its log:\n{}",
            server.log()
        );
        // The schema is there once one server is ready.
        if token.is_none() {
            token = Some(issue_token(&db.url, "r3", ALL_SCOPES).await.token);
        }
        let token = token.as_deref().unwrap();
        let (status, body) = post_query(&base, token, &format!("r3 via {port}")).await;
        assert_eq!(status, 200, "{body}");
    }

    assert_eq!(
        applied_versions(&db.url).await,
        embedded_versions(),
        "each embedded migration must be recorded exactly once"
    );
    assert_eq!(count_rows(&db.url, "consciousness_traces").await, PROCESSES);
    for server in &mut servers {
        server.assert_stops_cleanly(Duration::from_secs(15)).await;
    }
    ollama.stop().await;
}
