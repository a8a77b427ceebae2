//! Connection limits: a deadline for request bodies (`http.body_timeout`), connections per
//! client address (`http.max_connections_per_client`) and in all (`http.max_connections`).
//! Clients by hand (`kit::raw`), since a client library sends whole bodies and pools its
//! connections.

use std::time::{Duration, Instant};

use crate::kit::raw::{elsewhere, head, RawConnection, RawResponse, HERE};
use crate::kit::{error_code, TestApp, QUERY_PATH};

const BODY_TIMEOUT: Duration = Duration::from_secs(1);
/// What a deadline may overrun by on a busy machine, and still count as kept.
const MARGIN: Duration = Duration::from_millis(1500);

async fn app_with_body_timeout() -> TestApp {
    TestApp::spawn_configured(|s| s.http.body_timeout = BODY_TIMEOUT.as_secs()).await
}

/// Asserts `response` is the 408 of a late body, closing its connection.
fn assert_body_timeout(response: &RawResponse) {
    assert_eq!(response.status, 408, "{response:?}");
    assert_eq!(error_code(&response.json()), "body_timeout");
    assert_eq!(response.header("connection"), Some("close"));
    assert!(response.header("x-request-id").is_some(), "{response:?}");
}

/// Asserts the server closes `connection` soon (actix lingers a second for the client).
async fn assert_closed(connection: &mut RawConnection) {
    let closed = connection.read_until_closed(Duration::from_secs(3)).await;
    assert!(closed.is_some(), "the server kept the connection open");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_body_trickled_slower_than_the_deadline_gets_408_and_its_connection_is_closed() {
    let app = app_with_body_timeout().await;
    let mut client = RawConnection::open(app.port, HERE).await.unwrap();
    let announce = [
        ("content-type", "application/json"),
        ("content-length", "1000"),
    ];
    // Before the head is sent: the server's deadline cannot start earlier.
    let started = Instant::now();
    client
        .send(head("POST", "/api/session", &announce).as_bytes())
        .await
        .unwrap();

    let response = loop {
        assert!(
            started.elapsed() < BODY_TIMEOUT + MARGIN,
            "no answer in time"
        );
        // One byte every 200 ms: the body is always coming, never complete.
        if client.send(b" ").await.is_err() {
            panic!("the connection closed before an answer");
        }
        if let Some(response) = client.response(Duration::from_millis(200)).await {
            break response;
        }
    };
    let waited = started.elapsed();

    assert_body_timeout(&response);
    assert!(waited >= BODY_TIMEOUT, "answered after {waited:?}");
    assert_closed(&mut client).await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_body_that_never_comes_gets_408_within_the_deadline_too() {
    let app = app_with_body_timeout().await;
    let mut client = RawConnection::open(app.port, HERE).await.unwrap();
    let bearer = format!("Bearer {}", app.token);
    let announce = [
        ("authorization", bearer.as_str()),
        ("content-type", "application/json"),
        ("content-length", "100"),
    ];
    // Before the head is sent: the server's deadline cannot start earlier.
    let started = Instant::now();
    client
        .send(head("POST", QUERY_PATH, &announce).as_bytes())
        .await
        .unwrap();

    let response = client.response(BODY_TIMEOUT + MARGIN).await;
    let waited = started.elapsed();

    let response = response.expect("an answer within the deadline and its margin");
    assert_body_timeout(&response);
    assert!(waited >= BODY_TIMEOUT, "answered after {waited:?}");
    assert_closed(&mut client).await;
    assert!(app.traces().await.is_empty(), "no body, no trace");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_request_answered_before_its_chunked_body_arrived_closes_its_connection() {
    // Refused at the door (no token), its body never read: actix would otherwise drain the
    // rest of the chunks for as long as they trickle, with no deadline.
    let app = app_with_body_timeout().await;
    let mut client = RawConnection::open(app.port, HERE).await.unwrap();
    let chunked = [("transfer-encoding", "chunked")];
    let mut request = head("POST", QUERY_PATH, &chunked);
    request.push_str("1\r\n{\r\n");
    client.send(request.as_bytes()).await.unwrap();

    let response = client.response(Duration::from_secs(2)).await.expect("401");

    assert_eq!(response.status, 401);
    assert_eq!(response.header("connection"), Some("close"));
    for _ in 0..10 {
        if client.send(b"1\r\n \r\n").await.is_err() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_closed(&mut client).await;
    app.stop().await;
}

/// Sends `request` on a new connection from `from` and reads the answer.
async fn ask(app: &TestApp, from: std::net::IpAddr, request: &str) -> (RawConnection, RawResponse) {
    let mut connection = RawConnection::open(app.port, from).await.unwrap();
    connection.send(request.as_bytes()).await.unwrap();
    let response = connection.response(Duration::from_secs(5)).await;
    (connection, response.expect("an answer"))
}

#[tokio::test(flavor = "multi_thread")]
async fn connections_over_the_per_client_cap_get_429_while_other_clients_and_freed_places_are_served(
) {
    const CAP: usize = 3;
    let app = TestApp::spawn_configured(|s| s.http.max_connections_per_client = CAP).await;
    let bearer = format!("Bearer {}", app.token);
    let personas = head("GET", "/api/personas", &[("authorization", &bearer)]);
    // Each kept open after its answer (keep-alive): CAP places taken from here.
    let mut held = Vec::new();
    for _ in 0..CAP {
        let (connection, response) = ask(&app, HERE, &personas).await;
        assert_eq!(response.status, 200, "{response:?}");
        held.push(connection);
    }

    let (mut over, refused) = ask(&app, HERE, &personas).await;
    let (_, probe) = ask(&app, HERE, &head("GET", "/livez", &[])).await;
    let (_, other_client) = ask(&app, elsewhere(1), &personas).await;
    drop(held.pop());
    let mut freed = None;
    for _ in 0..40 {
        let (_, response) = ask(&app, HERE, &personas).await;
        if response.status != 429 {
            freed = Some(response);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    assert_eq!(refused.status, 429, "{refused:?}");
    assert_eq!(error_code(&refused.json()), "too_many_connections");
    assert_eq!(refused.header("retry-after"), Some("1"));
    assert_eq!(refused.header("connection"), Some("close"));
    assert!(refused.header("x-request-id").is_some());
    assert_closed(&mut over).await;
    // A health check from a busy address still sees maia alive.
    assert_eq!(probe.status, 200, "{probe:?}");
    assert_eq!(probe.header("connection"), Some("close"));
    assert_eq!(other_client.status, 200, "{other_client:?}");
    let freed = freed.expect("a freed place is used again");
    assert_eq!(freed.status, 200, "{freed:?}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn connections_beyond_the_total_wait_until_one_closes() {
    // Two workers, so one connection each: actix counts per worker, maia in all.
    let app = TestApp::spawn_configured(|s| {
        s.http.workers = 2;
        s.http.max_connections = 2;
        s.http.max_connections_per_client = 2;
    })
    .await;
    let livez = head("GET", "/livez", &[]);
    let (first, _) = ask(&app, HERE, &livez).await;
    let (_second, _) = ask(&app, HERE, &livez).await;

    let mut third = RawConnection::open(app.port, elsewhere(1)).await.unwrap();
    third.send(livez.as_bytes()).await.unwrap();
    let while_full = third.response(Duration::from_secs(1)).await;
    drop(first);
    let once_freed = third.response(Duration::from_secs(3)).await;

    assert!(
        while_full.is_none(),
        "served beyond the total: {while_full:?}"
    );
    let once_freed = once_freed.expect("served once a place is free");
    assert_eq!(once_freed.status, 200);
    app.stop().await;
}

/// Fills the history with `rows` answers of `bytes` each, straight into the table.
async fn fill_history(app: &TestApp, rows: i32, bytes: i32) {
    crate::kit::database::psql(&app.db_url)
        .await
        .execute(
            "INSERT INTO consciousness_traces (id, query, response, mode, model, status, latency_ms) \
             SELECT gen_random_uuid(), 'q' || n, repeat('a', $2), 'fast', 'm', 'ok', 1 \
             FROM generate_series(1, $1) AS n",
            &[&rows, &bytes],
        )
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_response_its_client_does_not_read_is_dropped_after_the_write_timeout() {
    const WRITE_TIMEOUT: Duration = Duration::from_secs(1);
    let app = TestApp::spawn_configured(|s| s.http.write_timeout = WRITE_TIMEOUT.as_secs()).await;
    fill_history(&app, 100, 9_000).await;
    let bearer = format!("Bearer {}", app.token);
    let page = head(
        "GET",
        "/api/traces?limit=100",
        &[("authorization", &bearer)],
    );
    // A small receive window that the client never empties: the server's writes stall.
    let mut client = RawConnection::open_with(app.port, HERE, Some(4096))
        .await
        .unwrap();
    client.send(page.as_bytes()).await.unwrap();

    tokio::time::sleep(WRITE_TIMEOUT * 4).await;
    let read = client.read_until_closed(Duration::from_secs(5)).await;

    let read = read.expect("the connection ended");
    assert!(
        read < 500_000,
        "the whole page ({read} bytes) was still there for a client that read nothing for {:?}",
        WRITE_TIMEOUT * 4
    );
    // The same page, read at once, is whole: the deadline is for clients that stop reading.
    let mut reader = RawConnection::open_with(app.port, HERE, Some(4096))
        .await
        .unwrap();
    reader.send(page.as_bytes()).await.unwrap();
    let whole = reader
        .response(Duration::from_secs(5))
        .await
        .expect("a page");
    assert_eq!(whole.status, 200);
    assert!(whole.body.len() > 500_000, "{} bytes", whole.body.len());
    app.stop().await;
}
