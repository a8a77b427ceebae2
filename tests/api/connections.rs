//! Connection limits: a deadline for request bodies (`http.body_timeout`). Clients by hand
//! (`kit::raw`), since a client library sends whole bodies and pools its connections.

use std::time::{Duration, Instant};

use crate::kit::raw::{head, RawConnection, RawResponse, HERE};
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
