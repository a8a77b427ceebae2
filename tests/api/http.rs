//! HTTP details: HEAD wherever GET, 405 with `Allow`, `nosniff` and `no-store` on every
//! response, and history pages that stop short of `http.max_response_bytes`.

use std::time::Duration;

use serde_json::json;

use crate::kit::raw::{head, RawConnection, HERE};
use crate::kit::{decode, error_code, fresh_database, settings, start_ollama, TestApp};

#[tokio::test(flavor = "multi_thread")]
async fn head_is_served_wherever_get_is_without_a_body() {
    let app = TestApp::spawn().await;
    for path in [
        "/livez",
        "/readyz",
        "/api/health",
        "/api/traces",
        "/api/personas",
    ] {
        let response = app.http.head(app.url(path)).send().await.unwrap();
        let status = response.status().as_u16();
        let body = response.bytes().await.unwrap();
        assert_eq!(status, 200, "HEAD {path}");
        assert!(body.is_empty(), "HEAD {path} sent a body");
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_405_says_which_methods_are_allowed() {
    let app = TestApp::spawn().await;
    for (method, path, allowed) in [
        (reqwest::Method::GET, "/api/consciousness/query", "POST"),
        (reqwest::Method::POST, "/api/health", "GET, HEAD"),
        (reqwest::Method::PUT, "/api/traces/x", "GET, HEAD, DELETE"),
    ] {
        let response = app
            .http
            .request(method.clone(), app.url(path))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 405, "{method} {path}");
        assert_eq!(response.headers()["allow"], allowed, "{method} {path}");
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn every_response_says_nosniff_and_no_store() {
    let app = TestApp::spawn().await;
    let ok = app.http.get(app.url("/api/traces")).send().await.unwrap();
    let refused = app
        .anonymous
        .get(app.url("/api/traces"))
        .send()
        .await
        .unwrap();
    let missing = app.http.get(app.url("/nowhere")).send().await.unwrap();
    let probe = app.anonymous.get(app.url("/livez")).send().await.unwrap();
    for response in [ok, refused, missing, probe] {
        let headers = response.headers();
        assert_eq!(
            headers["x-content-type-options"],
            "nosniff",
            "{}",
            response.status()
        );
        assert_eq!(
            headers["cache-control"],
            "no-store",
            "{}",
            response.status()
        );
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_history_page_stops_short_of_the_byte_limit_and_paging_goes_on() {
    let db = fresh_database().await;
    let ollama = start_ollama().await;
    let mut s = settings(&db.url, &ollama.url());
    s.http.max_response_bytes = 40_000;
    let app = TestApp::spawn_with(s, ollama).await;
    // Each answer echoes its 10 KB question: about 20 KB a trace.
    for i in 0..5 {
        let (status, body) = app
            .query(json!({ "query": format!("{i}{}", "x".repeat(10_000)) }))
            .await;
        assert_eq!(status, 200, "{body}");
    }

    let mut seen = 0;
    let mut pages = 0;
    let mut before = String::new();
    loop {
        let response = app
            .http
            .get(app.url(&format!("/api/traces?limit=100{before}")))
            .send()
            .await
            .unwrap();
        let bytes = response.content_length();
        let (status, page) = decode(response).await;
        assert_eq!(status, 200, "{page}");
        assert!(
            bytes.unwrap_or(0) <= 40_000 + 200,
            "a page of {bytes:?} bytes"
        );
        seen += page["traces"].as_array().unwrap().len();
        pages += 1;
        match page["next_before"].as_str() {
            Some(next) => before = format!("&before={next}"),
            None => break,
        }
    }

    assert_eq!(seen, 5, "every trace once, across pages");
    assert!(pages >= 3, "{pages} pages");
    app.stop().await;
}

/// actix serves heads up to its 128 KiB read buffer and refuses larger ones itself, with an
/// empty body and no request id; maia's limit is 64 KiB, refused like every other error.
#[tokio::test(flavor = "multi_thread")]
async fn a_request_head_over_64_kib_gets_a_json_error_with_a_request_id() {
    let app = TestApp::spawn().await;
    let filler = "a".repeat(70 * 1024);
    let bearer = format!("Bearer {}", app.token);
    let mut connection = RawConnection::open(app.port, HERE).await.unwrap();

    connection
        .send(
            head(
                "GET",
                "/api/traces",
                &[("authorization", &bearer), ("x-filler", &filler)],
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    let response = connection.response(Duration::from_secs(10)).await;

    let response = response.expect("an answer");
    assert_eq!(response.status, 431, "{response:?}");
    assert_eq!(error_code(&response.json()), "request_head_too_large");
    let id = response.header("x-request-id").expect("a request id");
    assert!(!id.is_empty());
    assert_eq!(response.header("connection"), Some("close"));
    app.stop().await;
}
