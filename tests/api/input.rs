//! What the API does with bad input: a clear 4xx in JSON, and nothing asked of Ollama.

use serde_json::{json, Value};

use crate::kit::{decode, error_code, TestApp, QUERY_PATH};

async fn raw_post(
    app: &TestApp,
    body: impl Into<reqwest::Body>,
    content_type: &str,
) -> (u16, Value) {
    let r = app
        .http
        .post(app.url(QUERY_PATH))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    decode(r).await
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_gets_a_clear_4xx_and_ollama_is_never_asked() {
    let app = TestApp::spawn().await;
    let cases: Vec<(&str, String, u16)> = vec![
        ("malformed JSON", "{\"query\": ".into(), 400),
        ("not an object", "[1,2]".into(), 422),
        ("missing query", "{}".into(), 422),
        ("query of the wrong type", "{\"query\": 5}".into(), 422),
        ("empty query", json!({"query": ""}).to_string(), 422),
        (
            "whitespace query",
            json!({"query": " \n\t "}).to_string(),
            422,
        ),
        (
            "query over 16 KiB",
            json!({"query": "a".repeat(16 * 1024 + 1)}).to_string(),
            422,
        ),
        (
            "body over 64 KiB",
            json!({"query": "a".repeat(70 * 1024)}).to_string(),
            413,
        ),
        (
            "unknown mode",
            json!({"query": "x", "mode": "turbo"}).to_string(),
            422,
        ),
        (
            "unknown persona",
            json!({"query": "x", "persona": "oracle"}).to_string(),
            422,
        ),
        (
            "bad model name",
            json!({"query": "x", "model": "../../etc"}).to_string(),
            422,
        ),
    ];
    for (name, body, expected) in cases {
        let (status, response) = raw_post(&app, body, "application/json").await;
        assert_eq!(status, expected, "{name}: {response}");
        assert!(response["error"]["code"].is_string(), "{name}: {response}");
        assert!(
            response["error"]["message"].is_string(),
            "{name}: {response}"
        );
    }
    assert_eq!(app.ollama.chat_count(), 0);
    assert!(app.traces().await.is_empty());
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_modes_and_personas_name_the_allowed_values() {
    let app = TestApp::spawn().await;
    let (_, body) = app.query(json!({"query": "x", "mode": "turbo"})).await;
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("fast") && message.contains("deep"),
        "{message}"
    );
    let (_, body) = app.query(json!({"query": "x", "persona": "oracle"})).await;
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("socratic") && message.contains("coach"),
        "{message}"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_query_of_exactly_16_kib_is_accepted() {
    let app = TestApp::spawn().await;
    let (status, body) = app.query(json!({"query": "é".repeat(8 * 1024)})).await;
    assert_eq!(status, 200, "{body}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_routes_and_wrong_methods_are_json() {
    let app = TestApp::spawn().await;

    let (unknown, unknown_body) = app.get("/api/nope").await;
    let (get_query, get_query_body) = app.get(QUERY_PATH).await;
    let put = app.http.put(app.url("/api/health")).send().await.unwrap();
    let (put_health, put_health_body) = decode(put).await;

    assert_eq!(unknown, 404);
    assert_eq!(error_code(&unknown_body), "not_found");
    assert_eq!(get_query, 405);
    assert_eq!(error_code(&get_query_body), "method_not_allowed");
    assert_eq!(put_health, 405);
    assert_eq!(error_code(&put_health_body), "method_not_allowed");
    app.stop().await;
}

/// A misspelt optional field would otherwise be dropped without a word: every JSON body
/// refuses fields it does not have, by name, with the ones it accepts.
#[tokio::test(flavor = "multi_thread")]
async fn unknown_fields_are_refused_by_name_on_every_json_body() {
    let app = TestApp::spawn().await;

    let (query, query_body) = app
        .query(json!({"query": "x", "persnoa": "socratic"}))
        .await;
    let (session, session_body) = decode(
        app.anonymous
            .post(app.url("/api/session"))
            .json(&json!({"token": app.token, "remember": true}))
            .send()
            .await
            .unwrap(),
    )
    .await;

    assert_eq!((query, error_code(&query_body)), (422, "validation_failed"));
    assert_eq!(
        query_body["error"]["message"],
        "unknown field \"persnoa\"; accepted: query, mode, persona, model, stream, knowledge, k"
    );
    assert_eq!(
        (session, error_code(&session_body)),
        (422, "validation_failed")
    );
    assert_eq!(
        session_body["error"]["message"],
        "unknown field \"remember\"; accepted: token"
    );
    assert_eq!(app.ollama.chat_count(), 0);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_model_name_is_told_what_a_valid_one_looks_like() {
    let app = TestApp::spawn().await;

    let (status, body) = app.query(json!({"query": "x", "model": "../../etc"})).await;

    assert_eq!((status, error_code(&body)), (422, "validation_failed"));
    let message = body["error"]["message"].as_str().unwrap();
    for part in [
        "\"../../etc\"",
        "'.', '_', '-', ':' and '/'",
        "at most 200",
        "\"llama3.2:3b\"",
        "\"namespace/model:tag\"",
    ] {
        assert!(message.contains(part), "{part} in {message}");
    }
    app.stop().await;
}
