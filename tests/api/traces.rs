//! The trace API: listing with keyset pagination, fetching, deleting; and personas.

use serde_json::{json, Value};

use crate::kit::tokens::{client_with, issue_token};
use crate::kit::{error_code, TestApp};

/// The ids on a page of `GET /api/traces`, in order.
fn ids(page: &Value) -> Vec<&str> {
    page["traces"]
        .as_array()
        .unwrap_or_else(|| panic!("not a page of traces: {page}"))
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn traces_list_newest_first_with_keyset_pagination() {
    let app = TestApp::spawn().await;
    let mut stored = Vec::new();
    for i in 0..5 {
        let (status, body) = app.query(json!({ "query": format!("q{i}") })).await;
        assert_eq!(status, 200);
        stored.push(body["id"].as_str().unwrap().to_string());
    }
    stored.reverse(); // newest first

    let (status, page1) = app.get("/api/traces?limit=2").await;
    let next1 = page1["next_before"].as_str().unwrap();
    let (_, page2) = app
        .get(&format!("/api/traces?limit=2&before={next1}"))
        .await;
    let next2 = page2["next_before"].as_str().unwrap();
    let (_, page3) = app
        .get(&format!("/api/traces?limit=2&before={next2}"))
        .await;
    let (_, all) = app.get("/api/traces").await;

    assert_eq!(status, 200, "{page1}");
    assert_eq!(ids(&page1), &stored[0..2]);
    assert_eq!(ids(&page2), &stored[2..4]);
    assert_eq!(ids(&page3), &stored[4..5]);
    assert!(page3["next_before"].is_null());
    assert_eq!(ids(&all).len(), 5);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_trace_can_be_fetched_and_deleted() {
    let app = TestApp::spawn().await;
    let (_, body) = app.query(json!({ "query": "delete me" })).await;
    let id = body["id"].as_str().unwrap();
    let (status, trace) = app.get(&format!("/api/traces/{id}")).await;
    assert_eq!(status, 200);
    assert_eq!(trace["query"], "delete me");
    assert_eq!(trace["status"], "ok");

    let r = app
        .http
        .delete(app.url(&format!("/api/traces/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 204);
    assert_eq!(app.get(&format!("/api/traces/{id}")).await.0, 404);
    let r = app
        .http
        .delete(app.url(&format!("/api/traces/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);
    assert!(app.traces().await.is_empty());
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_and_malformed_trace_ids() {
    let app = TestApp::spawn().await;
    let (status, body) = app
        .get(&format!("/api/traces/{}", uuid::Uuid::new_v4()))
        .await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(error_code(&body), "not_found");
    let (status, body) = app.get("/api/traces/not-a-uuid").await;
    assert_eq!(status, 400, "{body}");
    let r = app
        .http
        .delete(app.url("/api/traces/not-a-uuid"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_list_parameters_are_client_errors() {
    let app = TestApp::spawn().await;
    for limit in ["0", "101", "-1", "ten"] {
        let (status, body) = app.get(&format!("/api/traces?limit={limit}")).await;
        assert_eq!(status, 422, "limit={limit}: {body}");
    }
    assert_eq!(app.get("/api/traces?limit=100").await.0, 200);
    // A trace id is not a cursor (it was one, before cursors named a position), nor is a
    // time before any PostgreSQL can store (about 98,600 BC here: schemathesis found it).
    let before_time = "0_OLjTInh11p6m-R0LJ5fuhxOmP8YBk0".to_string();
    for before in [
        "nope".to_string(),
        uuid::Uuid::new_v4().to_string(),
        before_time,
    ] {
        let (status, body) = app.get(&format!("/api/traces?before={before}")).await;
        assert_eq!(
            (status, error_code(&body)),
            (400, "bad_request"),
            "{before}"
        );
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains("next_before"), "{message}");
    }
    // PostgreSQL's earliest time is a position like any other: before every trace.
    let (status, page) = app
        .get("/api/traces?before=_RLZwnxXgAAAAAAAAAAAAAAAAAAAAAAA")
        .await;
    assert_eq!(
        (status, page["traces"].as_array().map(Vec::len)),
        (200, Some(0)),
        "{page}"
    );
    app.stop().await;
}

/// The cursor names a position in the history, not a trace: deleting the trace a page
/// ended on does not stop the paging.
#[tokio::test(flavor = "multi_thread")]
async fn paging_goes_on_after_the_trace_it_ended_on_is_deleted() {
    let app = TestApp::spawn().await;
    for i in 0..4 {
        let (status, body) = app.query(json!({ "query": format!("q{i}") })).await;
        assert_eq!(status, 200, "{body}");
    }
    let (_, page1) = app.get("/api/traces?limit=2").await;
    let next = page1["next_before"].as_str().unwrap().to_string();
    let last_shown = ids(&page1)[1].to_string();

    let deleted = app
        .http
        .delete(app.url(&format!("/api/traces/{last_shown}")))
        .send()
        .await
        .unwrap()
        .status();
    let (status, page2) = app.get(&format!("/api/traces?limit=2&before={next}")).await;

    assert_eq!(deleted, 204);
    assert_eq!(status, 200, "{page2}");
    let stored: Vec<String> = app
        .traces()
        .await
        .iter()
        .map(|t| t.id.to_string())
        .collect();
    // The two oldest, still in order: the ones page 1 did not show.
    assert_eq!(ids(&page2), &stored[1..3]);
    assert!(
        page2["next_before"].is_string(),
        "a full page says where to go on"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn personas_are_listed() {
    let app = TestApp::spawn().await;
    let (status, body) = app.get("/api/personas").await;
    assert_eq!(status, 200, "{body}");
    let names: Vec<&str> = body["personas"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    for expected in [
        "socratic",
        "contrarian",
        "pragmatist",
        "synthesizer",
        "coach",
    ] {
        assert!(names.contains(&expected), "{names:?}");
    }
    app.stop().await;
}

/// A failure's detail names internal addresses and operating-system errors: the owner sees
/// it, a token that may only read sees the code and a general sentence.
#[tokio::test(flavor = "multi_thread")]
async fn a_failures_detail_is_shown_to_admin_tokens_only() {
    let app = TestApp::spawn_with_ollama_down().await;
    let (status, body) = app.query(json!({ "query": "who is there?" })).await;
    assert_eq!(status, 503, "{body}");
    let stored = &app.traces().await[0];
    let detail = stored.error.clone().expect("the detail is stored");
    assert_eq!(stored.error_code.as_deref(), Some("llm_unavailable"));
    assert!(detail.contains("127.0.0.1"), "the stored detail: {detail}");

    let reader = issue_token(&app.db_url, "reader", &["read"]).await;
    let reader = client_with(&reader.token);
    let path = format!("/api/traces/{}", stored.id);
    for url in [app.url("/api/traces"), app.url(&path)] {
        let as_reader: Value = reader.get(&url).send().await.unwrap().json().await.unwrap();
        let as_admin: Value = app
            .http
            .get(&url)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let (as_reader, as_admin) = match as_reader.get("traces") {
            Some(traces) => (traces[0].clone(), as_admin["traces"][0].clone()),
            None => (as_reader, as_admin),
        };
        assert_eq!(as_reader["error_code"], "llm_unavailable", "{as_reader}");
        assert_eq!(
            as_reader["error"],
            "the language model (Ollama) was unreachable"
        );
        assert_eq!(as_admin["error_code"], "llm_unavailable");
        assert_eq!(as_admin["error"], detail.as_str());
    }
    app.stop().await;
}
