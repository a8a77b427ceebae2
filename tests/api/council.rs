//! Council mode: the personas of `council.personas` asked at once, the synthesizer merging
//! their answers; each voice and the synthesis kept in the response and the trace; a voice
//! that fails named as missing, and nothing lost when the whole council or its synthesis
//! fails.

use std::time::Duration;

use serde_json::{json, Value};

use crate::kit::sse::{last_is, text_of};
use crate::kit::{error_code, wait_until, Behavior, TestApp, MODEL};

const VOICES: [&str; 3] = ["socratic", "contrarian", "pragmatist"];
const LIMIT: Duration = Duration::from_secs(10);

/// The system prompt of the persona `name`, as `GET /api/personas` lists it.
async fn prompt_of(app: &TestApp, name: &str) -> String {
    let (status, body) = app.get("/api/personas").await;
    assert_eq!(status, 200, "{body}");
    let personas = body["personas"].as_array().expect("a list");
    let persona = personas.iter().find(|p| p["name"] == name).expect(name);
    persona["system_prompt"].as_str().unwrap().to_string()
}

/// Each chat Ollama was asked, as (its system prompt, its last message's text).
fn chats(app: &TestApp) -> Vec<(String, String)> {
    let text = |m: Option<&Value>| m.and_then(|m| m["content"].as_str()).map(String::from);
    app.ollama
        .chat_requests()
        .iter()
        .map(|chat| {
            let messages = chat["messages"].as_array().unwrap();
            let system = messages.iter().find(|m| m["role"] == "system");
            (
                text(system).unwrap_or_default(),
                text(messages.last()).unwrap(),
            )
        })
        .collect()
}

/// The council of a response, `done` event or trace as (persona, answer, error code).
fn voices(council: &Value) -> Vec<(String, Option<String>, Option<String>)> {
    let text = |v: &Value| v.as_str().map(String::from);
    council
        .as_array()
        .unwrap_or_else(|| panic!("a council: {council}"))
        .iter()
        .map(|v| {
            (
                v["persona"].as_str().unwrap().to_string(),
                text(&v["answer"]),
                text(&v["error_code"]),
            )
        })
        .collect()
}

/// `GET /api/traces/{id}`.
async fn trace(app: &TestApp, id: &Value) -> Value {
    let (status, trace) = app
        .get(&format!("/api/traces/{}", id.as_str().unwrap()))
        .await;
    assert_eq!(status, 200, "{trace}");
    trace
}

/// Each voice answers as its persona is named: `"<name> says so."`.
async fn distinct_voices(app: &TestApp) {
    for name in VOICES {
        let prompt = prompt_of(app, name).await;
        let says = Behavior::ReplyWith(format!("{name} says so."));
        app.ollama.set_behavior_for_system(&prompt, says);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_council_asks_its_personas_at_once_with_their_own_prompts() {
    let app = TestApp::spawn().await;
    app.ollama
        .set_behavior(Behavior::Delay(Duration::from_millis(700)));

    let (status, body) = app
        .query(json!({"query": "Is it worth it?", "mode": "council"}))
        .await;

    assert_eq!(status, 200, "{body}");
    assert_eq!(
        app.ollama.most_concurrent_chats(),
        VOICES.len(),
        "the voices overlap, the synthesis comes after"
    );
    let asked = chats(&app);
    assert_eq!(asked.len(), VOICES.len() + 1, "{asked:?}");
    let mut systems: Vec<String> = asked[..3].iter().map(|(s, _)| s.clone()).collect();
    let mut expected = Vec::new();
    for name in VOICES {
        expected.push(prompt_of(&app, name).await);
    }
    systems.sort();
    expected.sort();
    assert_eq!(systems, expected);
    assert!(asked[..3].iter().all(|(_, q)| q == "Is it worth it?"));
    assert_eq!(asked[3].0, prompt_of(&app, "synthesizer").await);
    assert_eq!(body["mode"], "council");
    assert_eq!(body["model"], MODEL);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_synthesis_merges_every_answer_and_the_response_and_trace_keep_them_all() {
    let app = TestApp::spawn().await;
    distinct_voices(&app).await;

    let (status, body) = app
        .query(json!({"query": "Should I move?", "mode": "Council"}))
        .await;

    assert_eq!(status, 200, "{body}");
    let (_, synthesis_request) = chats(&app).pop().unwrap();
    assert!(
        synthesis_request.contains("Should I move?"),
        "{synthesis_request}"
    );
    for name in VOICES {
        let labelled = format!("The answer of {name}:\n{name} says so.");
        assert!(synthesis_request.contains(&labelled), "{synthesis_request}");
    }
    assert!(!synthesis_request.contains("Missing voices"));
    assert_eq!(body["response"], format!("echo: {synthesis_request}"));
    let expected: Vec<_> = VOICES
        .iter()
        .map(|n| (n.to_string(), Some(format!("{n} says so.")), None))
        .collect();
    assert_eq!(voices(&body["council"]), expected);
    let kept = trace(&app, &body["id"]).await;
    assert_eq!(kept["status"], "ok");
    assert_eq!(kept["mode"], "council");
    assert_eq!(kept["response"], body["response"]);
    assert_eq!(voices(&kept["council"]), expected);
    let voice_tokens: i64 = kept["council"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["prompt_tokens"].as_i64().unwrap())
        .sum();
    assert!(
        kept["prompt_tokens"].as_i64().unwrap() > voice_tokens,
        "every call's tokens together: {kept}"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_voice_that_fails_is_named_missing_and_the_council_still_answers() {
    let app = TestApp::spawn().await;
    let contrarian = prompt_of(&app, "contrarian").await;
    let broken = Behavior::Error {
        status: 500,
        message: "out of memory".into(),
    };
    // Before the others: the first behaviour that matches a prompt wins.
    app.ollama.set_behavior_for_system(&contrarian, broken);
    distinct_voices(&app).await;

    let (status, body) = app
        .query(json!({"query": "Tea or coffee?", "mode": "council"}))
        .await;

    assert_eq!(status, 200, "{body}");
    let council = voices(&body["council"]);
    assert_eq!(
        council[1],
        ("contrarian".into(), None, Some("llm_error".into()))
    );
    assert_eq!(council[0].1.as_deref(), Some("socratic says so."));
    let (_, synthesis_request) = chats(&app).pop().unwrap();
    assert!(
        synthesis_request.contains("Missing voices: contrarian (llm_error)"),
        "{synthesis_request}"
    );
    assert!(!synthesis_request.contains("The answer of contrarian"));
    let response = body["response"].as_str().unwrap();
    assert!(response.contains("contrarian (llm_error)"), "{response}");
    let kept = trace(&app, &body["id"]).await;
    assert_eq!(kept["status"], "ok");
    assert_eq!(voices(&kept["council"]), council);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_council_whose_every_voice_fails_fails_as_the_model_did_and_keeps_their_errors() {
    let app = TestApp::spawn().await;
    app.ollama.set_behavior(Behavior::Error {
        status: 500,
        message: "out of memory".into(),
    });

    let (status, body) = app
        .query(json!({"query": "Anyone there?", "mode": "council"}))
        .await;

    assert_eq!((status, error_code(&body)), (502, "llm_error"), "{body}");
    assert_eq!(
        app.ollama.chat_count(),
        VOICES.len(),
        "no synthesis of nothing"
    );
    let (_, page) = app.get("/api/traces").await;
    let kept = &page["traces"][0];
    assert_eq!(kept["status"], "failed", "{kept}");
    assert_eq!(kept["error_code"], "llm_error");
    assert!(kept["response"].is_null());
    let expected: Vec<_> = VOICES
        .iter()
        .map(|n| (n.to_string(), None, Some("llm_error".to_string())))
        .collect();
    assert_eq!(voices(&kept["council"]), expected);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_synthesis_fails_the_question_and_keeps_every_voice() {
    let app = TestApp::spawn().await;
    let synthesizer = prompt_of(&app, "synthesizer").await;
    app.ollama.set_behavior_for_system(
        &synthesizer,
        Behavior::Error {
            status: 500,
            message: "out of memory".into(),
        },
    );
    distinct_voices(&app).await;

    let (status, body) = app
        .query(json!({"query": "Which way?", "mode": "council"}))
        .await;

    assert_eq!((status, error_code(&body)), (502, "llm_error"), "{body}");
    let (_, page) = app.get("/api/traces").await;
    let kept = &page["traces"][0];
    assert_eq!(kept["status"], "failed", "{kept}");
    let expected: Vec<_> = VOICES
        .iter()
        .map(|n| (n.to_string(), Some(format!("{n} says so.")), None))
        .collect();
    assert_eq!(voices(&kept["council"]), expected, "nothing lost");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_streamed_council_streams_the_synthesis_and_gives_the_voices_in_done() {
    let app = TestApp::spawn().await;
    distinct_voices(&app).await;

    let body = json!({"query": "Stream it?", "mode": "council", "stream": true});
    let events = app
        .stream(crate::kit::QUERY_PATH, &body)
        .await
        .rest(LIMIT)
        .await;

    let (_, synthesis_request) = chats(&app).pop().unwrap();
    assert!(events.iter().filter(|e| e.name == "token").count() > 1);
    assert_eq!(text_of(&events), format!("echo: {synthesis_request}"));
    let done = last_is(&events, "done");
    let expected: Vec<_> = VOICES
        .iter()
        .map(|n| (n.to_string(), Some(format!("{n} says so.")), None))
        .collect();
    assert_eq!(voices(&done["council"]), expected);
    let kept = trace(&app, &done["trace_id"]).await;
    assert_eq!(kept["response"].as_str(), Some(text_of(&events).as_str()));
    assert_eq!(voices(&kept["council"]), expected);
    assert_eq!(kept["prompt_tokens"], done["prompt_tokens"]);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_conversation_in_council_mode_asks_the_voices_with_its_history() {
    let app = TestApp::spawn().await;
    let id = app.start_conversation(json!({"persona": "coach"})).await;
    let path = format!("/api/conversations/{id}/messages");
    let (status, _) = app.post_json(&path, &json!({"content": "First?"})).await;
    assert_eq!(status, 200);
    let request = app.http.patch(app.url(&format!("/api/conversations/{id}")));
    let (status, changed) = crate::kit::decode(
        request
            .json(&json!({"mode": "council"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, &changed["mode"]),
        (200, &json!("council")),
        "{changed}"
    );
    distinct_voices(&app).await;

    let (status, turn) = app.post_json(&path, &json!({"content": "Second?"})).await;

    assert_eq!(status, 200, "{turn}");
    assert_eq!(voices(&turn["council"]).len(), VOICES.len());
    let requests = app.ollama.chat_requests();
    for voice in &requests[1..4] {
        let texts: Vec<&str> = voice["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["content"].as_str().unwrap())
            .collect();
        assert_eq!(
            &texts[1..],
            ["First?", "echo: First?", "Second?"],
            "{voice}"
        );
    }
    let coach = prompt_of(&app, "coach").await;
    assert!(chats(&app)[1..].iter().all(|(system, _)| *system != coach));
    let (_, view) = app.get(&format!("/api/conversations/{id}")).await;
    let answer = view["messages"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        answer["content"], turn["content"],
        "the synthesis is the answer"
    );
    let kept = trace(&app, &turn["trace_id"]).await;
    assert_eq!(voices(&kept["council"]), voices(&turn["council"]));
    assert_eq!(kept["mode"], "council");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_that_leaves_cancels_every_voice_and_the_council_is_kept_cancelled() {
    let app = TestApp::spawn().await;
    app.ollama.set_behavior(Behavior::Hang);

    let body = json!({"query": "Wait for it", "mode": "council", "stream": true});
    let stream = app.stream(crate::kit::QUERY_PATH, &body).await;
    assert!(
        wait_until(LIMIT, || async { app.ollama.chat_count() == VOICES.len() }).await,
        "every voice was asked"
    );
    drop(stream);

    let cancelled = || async {
        let traces = app.traces().await;
        traces.first().is_some_and(|t| t.status == "cancelled")
    };
    assert!(
        wait_until(LIMIT, cancelled).await,
        "{:?}",
        app.traces().await
    );
    let (_, page) = app.get("/api/traces").await;
    let kept = &page["traces"][0];
    assert_eq!(kept["error_code"], "client_closed_request");
    let cut_off: Vec<_> = VOICES
        .iter()
        .map(|n| (n.to_string(), None, Some("client_closed_request".into())))
        .collect();
    assert_eq!(voices(&kept["council"]), cut_off);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_council_question_that_names_a_persona_is_422() {
    let app = TestApp::spawn().await;

    let (status, body) = app
        .query(json!({"query": "Who?", "mode": "council", "persona": "coach"}))
        .await;

    assert_eq!((status, error_code(&body)), (422, "validation_failed"));
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("council.personas"));
    assert_eq!(app.ollama.chat_count(), 0);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn with_one_slot_at_ollama_the_voices_and_the_synthesis_take_it_in_turn() {
    let app = TestApp::spawn_configured(|s| s.ollama.max_concurrent = 1).await;

    let (status, body) = app
        .query(json!({"query": "One at a time?", "mode": "council"}))
        .await;

    assert_eq!(status, 200, "{body}");
    assert_eq!(app.ollama.most_concurrent_chats(), 1);
    assert_eq!(app.ollama.chat_count(), VOICES.len() + 1);
    let council = voices(&body["council"]);
    assert!(
        council.iter().all(|(_, answer, _)| answer.is_some()),
        "{council:?}"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_persona_of_the_council_deleted_since_is_a_missing_voice() {
    let app = TestApp::spawn().await;
    let deleted = app.http.delete(app.url("/api/personas/pragmatist"));
    assert_eq!(deleted.send().await.unwrap().status(), 204);

    let (status, body) = app
        .query(json!({"query": "Still three?", "mode": "council"}))
        .await;

    assert_eq!(status, 200, "{body}");
    assert_eq!(
        app.ollama.chat_count(),
        2 + 1,
        "two voices and the synthesis"
    );
    let council = voices(&body["council"]);
    let missing = (
        "pragmatist".to_string(),
        None,
        Some("persona_not_found".to_string()),
    );
    assert_eq!(council[2], missing);
    let (_, synthesis_request) = chats(&app).pop().unwrap();
    assert!(
        synthesis_request.contains("Missing voices: pragmatist (persona_not_found)"),
        "{synthesis_request}"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn one_message_may_ask_the_council_and_the_conversation_keeps_its_mode() {
    let app = TestApp::spawn().await;
    let id = app.start_conversation(json!({})).await;
    let path = format!("/api/conversations/{id}/messages");

    let (status, turn) = app
        .post_json(&path, &json!({"content": "Once?", "mode": "council"}))
        .await;
    let (_, plain) = app.post_json(&path, &json!({"content": "Again?"})).await;
    let (refused, body) = app
        .post_json(&path, &json!({"content": "Turbo?", "mode": "turbo"}))
        .await;

    assert_eq!(status, 200, "{turn}");
    assert_eq!(voices(&turn["council"]).len(), VOICES.len());
    assert_eq!(app.ollama.chat_count(), VOICES.len() + 1 + 1);
    assert!(plain.get("council").is_none(), "{plain}");
    assert_eq!(plain["content"], "echo: Again?");
    assert_eq!((refused, error_code(&body)), (422, "validation_failed"));
    let (_, conversation) = app.get(&format!("/api/conversations/{id}")).await;
    assert_eq!(conversation["mode"], "fast");
    app.stop().await;
}
