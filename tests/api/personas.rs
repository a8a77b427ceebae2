//! Personas changed by the owner: `POST /api/personas`, `PUT` and `DELETE
//! /api/personas/{name}`, with the `admin` scope; each refusal in the API's usual words.
//! (`maia personas reset` is `tests/cli/personas.rs`; the listing is in `traces.rs`.)

use reqwest::Method;
use serde_json::{json, Value};

use crate::kit::tokens::{client_with, issue_token};
use crate::kit::{decode, error_code, TestApp};

/// `method path` from `client`, with `body` as JSON if there is one: status and body.
async fn send(
    app: &TestApp,
    client: &reqwest::Client,
    method: Method,
    path: &str,
    body: Option<&Value>,
) -> (u16, Value) {
    let mut request = client.request(method.clone(), app.url(path));
    if let Some(body) = body {
        request = request.json(body);
    }
    let response = request
        .send()
        .await
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
    decode(response).await
}

/// `method path` with `body`, from the app's token (every scope).
async fn as_admin(app: &TestApp, method: Method, path: &str, body: Option<&Value>) -> (u16, Value) {
    send(app, &app.http, method, path, body).await
}

/// A new persona's body, `Tutor` (kept as `tutor`).
fn tutor() -> Value {
    json!({
        "name": "Tutor",
        "display_name": " Tutor ",
        "description": "One step at a time.",
        "system_prompt": "You are a patient tutor.",
    })
}

/// A persona's new text, as `PUT` takes it.
fn rewritten(system_prompt: &str) -> Value {
    json!({
        "display_name": "Rewritten",
        "description": "",
        "system_prompt": system_prompt,
    })
}

/// `body` with `field` set to `value`.
fn with(mut body: Value, field: &str, value: &str) -> Value {
    body[field] = json!(value);
    body
}

/// The persona named `name` as `GET /api/personas` lists it, if it does.
async fn listed(app: &TestApp, name: &str) -> Option<Value> {
    let (status, body) = app.get("/api/personas").await;
    assert_eq!(status, 200, "{body}");
    body["personas"]
        .as_array()
        .expect("a list")
        .iter()
        .find(|p| p["name"] == name)
        .cloned()
}

/// `body` refused with `status` and `code`, its message containing `words`.
fn assert_refused(answer: &(u16, Value), status: u16, code: &str, words: &str) {
    let (got, body) = answer;
    assert_eq!((*got, error_code(body)), (status, code), "{body}");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains(words), "{message:?} lacks {words:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_admin_adds_rewrites_and_deletes_a_persona() {
    let app = TestApp::spawn().await;

    let (created, persona) = as_admin(&app, Method::POST, "/api/personas", Some(&tutor())).await;
    let listed_new = listed(&app, "tutor").await;
    let replace = rewritten("Be brief.");
    let (replaced, changed) =
        as_admin(&app, Method::PUT, "/api/personas/TUTOR", Some(&replace)).await;
    let listed_changed = listed(&app, "tutor").await;
    let (deleted, nothing) = as_admin(&app, Method::DELETE, "/api/personas/tutor", None).await;
    let listed_after = listed(&app, "tutor").await;
    let again = as_admin(&app, Method::DELETE, "/api/personas/tutor", None).await;

    assert_eq!(created, 201, "{persona}");
    let expected = json!({
        "name": "tutor",
        "display_name": "Tutor",
        "description": "One step at a time.",
        "system_prompt": "You are a patient tutor.",
    });
    assert_eq!(persona, expected);
    assert_eq!(listed_new, Some(expected));
    assert_eq!(replaced, 200, "{changed}");
    let expected = with(rewritten("Be brief."), "name", "tutor");
    assert_eq!(changed, expected);
    assert_eq!(listed_changed, Some(expected));
    assert_eq!((deleted, nothing), (204, Value::Null));
    assert_eq!(listed_after, None);
    assert_refused(&again, 404, "not_found", "\"tutor\"");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn changing_a_persona_needs_a_token_with_the_admin_scope() {
    let app = TestApp::spawn().await;
    let reader = issue_token(&app.db_url, "reader", &["query", "read"]).await;
    let reader = client_with(&reader.token);
    let before = listed(&app, "socratic").await;
    let new_text = rewritten("Agree with everything.");
    let changes = [
        (Method::POST, "/api/personas", Some(tutor())),
        (Method::PUT, "/api/personas/socratic", Some(new_text)),
        (Method::DELETE, "/api/personas/socratic", None),
    ];

    for (method, path, body) in &changes {
        let forbidden = send(&app, &reader, method.clone(), path, body.as_ref()).await;
        let anonymous = send(&app, &app.anonymous, method.clone(), path, body.as_ref()).await;

        assert_refused(&forbidden, 403, "insufficient_scope", "admin");
        assert_refused(&anonymous, 401, "token_missing", "");
    }
    assert_eq!(listed(&app, "socratic").await, before);
    assert_eq!(listed(&app, "tutor").await, None);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_name_taken_already_in_any_case_is_409_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let socratic = listed(&app, "socratic").await;
    let (created, _) = as_admin(&app, Method::POST, "/api/personas", Some(&tutor())).await;
    let tutor_before = listed(&app, "tutor").await;

    let second = with(tutor(), "system_prompt", "Another prompt.");
    let twice = as_admin(&app, Method::POST, "/api/personas", Some(&second)).await;
    let shipped = with(tutor(), "name", "SOCRATIC");
    let over_shipped = as_admin(&app, Method::POST, "/api/personas", Some(&shipped)).await;

    assert_eq!(created, 201);
    assert_refused(&twice, 409, "conflict", "a persona named \"tutor\" exists");
    assert_refused(&over_shipped, 409, "conflict", "\"socratic\"");
    assert_eq!(listed(&app, "tutor").await, tutor_before);
    assert_eq!(listed(&app, "socratic").await, socratic);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_persona_that_does_not_exist_is_404_to_rewrite_or_delete() {
    let app = TestApp::spawn().await;

    let rewrite = rewritten("x");
    let replaced = as_admin(&app, Method::PUT, "/api/personas/oracle", Some(&rewrite)).await;
    let deleted = as_admin(&app, Method::DELETE, "/api/personas/oracle", None).await;

    assert_refused(&replaced, 404, "not_found", "no persona named \"oracle\"");
    assert_refused(&deleted, 404, "not_found", "no persona named \"oracle\"");
    assert_eq!(listed(&app, "oracle").await, None);
    app.stop().await;
}

/// One validator: a body's name is refused as a question's persona is (422), a path's as
/// a bad trace id is (400), in the same words.
#[tokio::test(flavor = "multi_thread")]
async fn a_name_that_cannot_be_a_personas_is_refused_in_the_words_a_question_gets() {
    let app = TestApp::spawn().await;
    let too_long = "a".repeat(65);

    for bad in ["2tutor", "_tutor", "tu.tor", too_long.as_str()] {
        let (_, asked) = app.query(json!({"query": "hi", "persona": bad})).await;
        let words = asked["error"]["message"].as_str().unwrap().to_string();
        let body = with(tutor(), "name", bad);
        let path = format!("/api/personas/{bad}");

        let created = as_admin(&app, Method::POST, "/api/personas", Some(&body)).await;
        let text = rewritten("x");
        let replaced = as_admin(&app, Method::PUT, &path, Some(&text)).await;
        let deleted = as_admin(&app, Method::DELETE, &path, None).await;

        assert!(words.contains("not a valid persona name"), "{words}");
        assert_refused(&created, 422, "validation_failed", &words);
        assert_refused(&replaced, 400, "bad_request", &words);
        assert_refused(&deleted, 400, "bad_request", &words);
    }
    let (_, all) = app.get("/api/personas").await;
    assert_eq!(all["personas"].as_array().unwrap().len(), 5, "{all}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_field_blank_past_its_limit_or_on_two_lines_is_422_naming_it() {
    let app = TestApp::spawn().await;
    let socratic = listed(&app, "socratic").await;
    let cases = [
        (
            "display_name",
            "é".repeat(101),
            "display_name has 101 characters",
        ),
        (
            "description",
            "é".repeat(501),
            "description has 501 characters",
        ),
        (
            "system_prompt",
            "é".repeat(8001),
            "system_prompt has 8001 characters",
        ),
        (
            "system_prompt",
            " \n ".into(),
            "system_prompt must not be blank",
        ),
        (
            "display_name",
            "two\nlines".into(),
            "display_name must be one line",
        ),
        (
            "description",
            "a\u{0}b".into(),
            "description must not contain NUL",
        ),
    ];

    for (field, value, words) in &cases {
        let body = with(tutor(), field, value);
        let created = as_admin(&app, Method::POST, "/api/personas", Some(&body)).await;
        let text = with(rewritten("x"), field, value);
        let path = "/api/personas/socratic";
        let replaced = as_admin(&app, Method::PUT, path, Some(&text)).await;

        assert_refused(&created, 422, "validation_failed", words);
        assert_refused(&replaced, 422, "validation_failed", words);
    }
    let at_the_limits = json!({
        "name": "z".repeat(64),
        "display_name": "é".repeat(100),
        "description": "é".repeat(500),
        "system_prompt": "é".repeat(8000),
    });
    let (created, body) = as_admin(&app, Method::POST, "/api/personas", Some(&at_the_limits)).await;
    assert_eq!(created, 201, "{body}");
    assert_eq!(listed(&app, "tutor").await, None);
    assert_eq!(listed(&app, "socratic").await, socratic);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rewrite_keeps_the_name_and_refuses_a_new_one() {
    let app = TestApp::spawn().await;
    let socratic = listed(&app, "socratic").await;

    let renamed = with(rewritten("x"), "name", "oracle");
    let answer = as_admin(&app, Method::PUT, "/api/personas/socratic", Some(&renamed)).await;

    assert_refused(&answer, 422, "validation_failed", "unknown field \"name\"");
    assert_eq!(listed(&app, "socratic").await, socratic);
    assert_eq!(listed(&app, "oracle").await, None);
    app.stop().await;
}

/// What Ollama was last asked with as its system prompt.
fn last_system_prompt(app: &TestApp) -> Value {
    let chats = app.ollama.chat_requests();
    let first = &chats.last().expect("a chat")["messages"][0];
    assert_eq!(first["role"], "system", "{first}");
    first["content"].clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_persona_added_or_rewritten_is_the_system_prompt_of_questions_asked_with_it() {
    let app = TestApp::spawn().await;
    as_admin(&app, Method::POST, "/api/personas", Some(&tutor())).await;
    let terse = rewritten("You are terse.");
    as_admin(&app, Method::PUT, "/api/personas/socratic", Some(&terse)).await;

    let (asked, answer) = app.query(json!({"query": "hi", "persona": "TUTOR"})).await;
    let tutor_prompt = last_system_prompt(&app);
    let (asked_shipped, _) = app
        .query(json!({"query": "hi", "persona": "socratic"}))
        .await;
    let socratic_prompt = last_system_prompt(&app);

    assert_eq!(asked, 200, "{answer}");
    assert_eq!(answer["persona"], "tutor");
    assert_eq!(tutor_prompt, "You are a patient tutor.");
    assert_eq!(asked_shipped, 200);
    assert_eq!(socratic_prompt, "You are terse.");
    app.stop().await;
}

/// Traces and conversations name their persona as text (no foreign key): deleting one
/// keeps the history as it was, and a conversation with it is asked again once given
/// another.
#[tokio::test(flavor = "multi_thread")]
async fn deleting_a_persona_keeps_the_history_that_names_it() {
    let app = TestApp::spawn().await;
    as_admin(&app, Method::POST, "/api/personas", Some(&tutor())).await;
    let (_, answer) = app.query(json!({"query": "hi", "persona": "tutor"})).await;
    let conversation = app.start_conversation(json!({"persona": "tutor"})).await;
    let conversation = format!("/api/conversations/{conversation}");
    let messages = format!("{conversation}/messages");
    let question = json!({"content": "and now?"});

    let (deleted, _) = as_admin(&app, Method::DELETE, "/api/personas/tutor", None).await;
    let (_, trace) = app
        .get(&format!("/api/traces/{}", answer["id"].as_str().unwrap()))
        .await;
    let (_, kept) = app.get(&conversation).await;
    let orphaned = app.post_json(&messages, &question).await;
    let coach = json!({"persona": "coach"});
    let (changed, _) = as_admin(&app, Method::PATCH, &conversation, Some(&coach)).await;
    let (asked, _) = app.post_json(&messages, &question).await;

    assert_eq!(deleted, 204);
    assert_eq!(
        (&trace["persona"], &trace["status"]),
        (&json!("tutor"), &json!("ok"))
    );
    assert_eq!(kept["persona"], "tutor");
    assert_refused(
        &orphaned,
        422,
        "validation_failed",
        "unknown persona \"tutor\"",
    );
    assert_eq!((changed, asked), (200, 200));
    app.stop().await;
}
