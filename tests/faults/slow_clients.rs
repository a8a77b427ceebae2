//! R7: a slowloris. 300 connections from one client announce a body and trickle it a byte
//! at a time, reconnecting whenever maia drops them, against `maia serve` limited to 256
//! open files. `/livez`, asked from another address, answers throughout, and maia never
//! runs out of files.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::kit::process::{maia_with_open_files, serve};
use crate::kit::raw::{elsewhere, head, RawConnection, HERE};
use crate::kit::{free_port, fresh_database, start_ollama, wait_for_200, Process};

const ATTACKERS: usize = 300;
const OPEN_FILES: u64 = 256;
const ATTACK: Duration = Duration::from_secs(6);
/// The longest a probe may wait for `/livez`, on a loaded machine. It waits in the listen
/// queue behind the attackers' connections, so this bounds how long a refusal holds a
/// worker's place: ~30 ms here, seconds when refused connections lingered until their
/// client closed them, or when the queue overflowed and the kernel dropped connections.
const PROBE_BOUND: Duration = Duration::from_secs(1);

/// What the attackers' connections ended with.
#[derive(Default)]
struct Outcomes {
    body_timeout: AtomicUsize,
    too_many_connections: AtomicUsize,
    other: AtomicUsize,
}

/// One attacker: a connection to a route that reads its body (`/api/session` takes the
/// token from it), trickled until maia answers or drops it; then again, until `stop`.
async fn attack(port: u16, stop: Arc<AtomicBool>, outcomes: Arc<Outcomes>) {
    let announce = head(
        "POST",
        "/api/session",
        &[
            ("content-type", "application/json"),
            ("content-length", "1000"),
        ],
    );
    while !stop.load(Ordering::Relaxed) {
        let Ok(mut connection) = RawConnection::open(port, HERE).await else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let mut answer = None;
        if connection.send(announce.as_bytes()).await.is_ok() {
            while !stop.load(Ordering::Relaxed) && connection.send(b" ").await.is_ok() {
                answer = connection.response(Duration::from_millis(500)).await;
                if answer.is_some() || connection.ended() {
                    break;
                }
            }
        }
        let counter = match answer.map(|a| a.status) {
            Some(408) => &outcomes.body_timeout,
            Some(429) => &outcomes.too_many_connections,
            _ => &outcomes.other,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        // Refused at once: come back a little later, as a patient attacker would.
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// `/livez` on a new connection from another client: its status (none if it did not come
/// within twice the bound) and how long it took.
async fn probe(port: u16) -> (Option<u16>, Duration) {
    let started = Instant::now();
    let asked = async {
        let mut connection = RawConnection::open(port, elsewhere(9)).await.ok()?;
        connection
            .send(head("GET", "/livez", &[]).as_bytes())
            .await
            .ok()?;
        connection.response(PROBE_BOUND * 2).await.map(|r| r.status)
    };
    let status = tokio::time::timeout(PROBE_BOUND * 2, asked)
        .await
        .ok()
        .flatten();
    (status, started.elapsed())
}

#[tokio::test(flavor = "multi_thread")]
async fn slow_bodies_from_one_client_leave_the_server_answering() {
    let db = fresh_database().await;
    let ollama = start_ollama().await;
    let port = free_port();
    let mut command = serve(
        maia_with_open_files(OPEN_FILES, Some(OPEN_FILES)),
        port,
        &db.url,
        &ollama.url(),
    );
    command
        .env("MAIA_HTTP__BODY_TIMEOUT", "2")
        .env("MAIA_HTTP__WORKERS", "2")
        // Up to three files per connection, and the pool's: within 256.
        .env("MAIA_HTTP__MAX_CONNECTIONS", "56")
        .env("MAIA_HTTP__MAX_CONNECTIONS_PER_CLIENT", "48");
    let server = Process::spawn(command);
    let livez = format!("http://127.0.0.1:{port}/livez");
    assert!(
        wait_for_200(&livez, Duration::from_secs(20)).await,
        "never up; its log:\n{}",
        server.log()
    );

    let stop = Arc::new(AtomicBool::new(false));
    let outcomes = Arc::new(Outcomes::default());
    let attackers: Vec<_> = (0..ATTACKERS)
        .map(|_| tokio::spawn(attack(port, stop.clone(), outcomes.clone())))
        .collect();
    let started = Instant::now();
    let mut probes = Vec::new();
    while started.elapsed() < ATTACK {
        probes.push(probe(port).await);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    stop.store(true, Ordering::Relaxed);
    for attacker in attackers {
        attacker.await.unwrap();
    }

    let slowest = probes.iter().map(|(_, took)| *took).max().unwrap();
    eprintln!(
        "R7 figures: {} probes, slowest {slowest:?}; attackers' connections: {} got 408, {} got 429, {} other",
        probes.len(),
        outcomes.body_timeout.load(Ordering::Relaxed),
        outcomes.too_many_connections.load(Ordering::Relaxed),
        outcomes.other.load(Ordering::Relaxed),
    );
    for (status, took) in &probes {
        assert_eq!(*status, Some(200), "a probe after {took:?}");
        assert!(*took < PROBE_BOUND, "a probe took {took:?}");
    }
    assert!(
        outcomes.body_timeout.load(Ordering::Relaxed) > 0,
        "no body timed out"
    );
    assert!(
        outcomes.too_many_connections.load(Ordering::Relaxed) > 0,
        "no connection was over the per-client cap"
    );
    let log = server.log();
    assert!(!log.contains("Too many open files"), "{log}");
    assert!(!log.contains("open-files limit is"), "warned: {log}");
}
