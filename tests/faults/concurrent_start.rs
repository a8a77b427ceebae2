//! R3: four `maia serve` processes started at once against an empty database.

use std::time::Duration;

use serde_json::json;

use crate::fake_ollama::FakeOllama;
use crate::support::*;

const PROCESSES: usize = 4;

#[tokio::test(flavor = "multi_thread")]
async fn four_servers_at_once_on_an_empty_database_all_serve_and_migrate_once() {
    let db = fresh_database(shared_cluster()).await;
    let ollama = FakeOllama::start(&[MODEL]).await;
    // Hold every port until all are chosen, so no two processes get the same one.
    let listeners: Vec<_> = (0..PROCESSES)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    let ports: Vec<u16> = listeners
        .iter()
        .map(|l| l.local_addr().unwrap().port())
        .collect();
    drop(listeners);
    let mut servers: Vec<Process> = ports
        .iter()
        .map(|port| serve(*port, &db, &ollama.url()))
        .collect();

    for (server, port) in servers.iter().zip(&ports) {
        let base = format!("http://127.0.0.1:{port}");
        assert!(
            wait_for_200(&format!("{base}/readyz"), Duration::from_secs(20)).await,
            "the server on {port} never became ready; its log:\n{}",
            server.log_text()
        );
        let response = http()
            .post(format!("{base}{QUERY_PATH}"))
            .json(&json!({ "query": format!("r3 via {port}") }))
            .send()
            .await
            .expect("a query");
        let (status, body) = decode(response).await;
        assert_eq!(status, 200, "{body}");
    }

    let client = psql(&db).await;
    let rows = client
        .query(
            "SELECT version, COUNT(*) FROM refinery_schema_history GROUP BY version ORDER BY version",
            &[],
        )
        .await
        .expect("the migration history");
    let history: Vec<(i32, i64)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    let embedded: Vec<(i32, i64)> = maia::db::embedded_migrations()
        .iter()
        .map(|(v, _)| (*v, 1))
        .collect();
    assert_eq!(
        history, embedded,
        "each embedded migration must be recorded exactly once"
    );
    let total: i64 = client
        .query_one("SELECT COUNT(*) FROM refinery_schema_history", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(total as usize, embedded.len());
    let traces: i64 = client
        .query_one("SELECT COUNT(*) FROM consciousness_traces", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(traces as usize, PROCESSES);

    for server in &mut servers {
        server.signal("TERM");
        let status = server
            .wait_exit(Duration::from_secs(15))
            .await
            .expect("maia serve exits after SIGTERM");
        assert!(status.success(), "{status}; log:\n{}", server.log_text());
    }
    ollama.stop().await;
}
