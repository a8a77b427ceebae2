//! Answers drawn from the owner's documents (`"knowledge": true`): the sources found go
//! into the prompt, numbered, and come back as `citations` with the answer, its streamed
//! `done`, the conversation's message, the trace and `/v1`'s completion; a question whose
//! sources cannot be found is kept as a failed trace and answered with a clear error.

use std::time::Duration;

use serde_json::{json, Value};

use crate::kit::knowledge::{
    bindir_without_pgvector, database_from, spawn_on, spawn_with_knowledge,
};
use crate::kit::sse::last_is;
use crate::kit::traces::stored_messages;
use crate::kit::{error_code, TestApp, MODEL, QUERY_PATH};
use crate::knowledge::add_corpus;
use crate::openai::{complete, sse_data};

const LIMIT: Duration = Duration::from_secs(10);
const QUESTION: &str = "When does the database backup run?";

/// Citations as an answer carries them: each with exactly its four fields; the titles.
fn cited_titles(citations: &Value) -> Vec<String> {
    let citations = citations
        .as_array()
        .unwrap_or_else(|| panic!("no citations: {citations}"));
    citations
        .iter()
        .map(|c| {
            let mut keys: Vec<&str> = c.as_object().unwrap().keys().map(String::as_str).collect();
            keys.sort_unstable();
            assert_eq!(keys, ["chunk", "document_id", "score", "title"], "{c}");
            assert!(c["score"].as_f64().unwrap() > 0.0, "{c}");
            c["title"].as_str().unwrap().to_string()
        })
        .collect()
}

/// The system message Ollama got with the sources, from the last chat it was asked.
fn sources_told(app: &TestApp) -> String {
    let chats = app.ollama.chat_requests();
    let messages = chats.last().expect("a chat")["messages"]
        .as_array()
        .unwrap()
        .clone();
    let last = messages.last().unwrap();
    assert_eq!(
        last["role"], "user",
        "the question comes last: {messages:?}"
    );
    let sources = &messages[messages.len() - 2];
    assert_eq!(sources["role"], "system", "{messages:?}");
    sources["content"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_query_with_knowledge_cites_its_sources_in_the_answer_the_prompt_and_the_trace() {
    let Some(app) = spawn_with_knowledge().await else {
        return;
    };
    add_corpus(&app).await;

    let (status, answered) = app
        .query(json!({"query": QUESTION, "knowledge": true, "k": 2}))
        .await;

    assert_eq!(status, 200, "{answered}");
    let titles = cited_titles(&answered["citations"]);
    assert_eq!(titles.len(), 2);
    assert_eq!(titles[0], "Backups");
    let told = sources_told(&app);
    assert!(told.contains("[1] Backups\n# Backups"), "{told}");
    assert!(told.contains(&format!("[2] {}", titles[1])), "{told}");
    let id = answered["id"].as_str().unwrap();
    let (_, trace) = app.get(&format!("/api/traces/{id}")).await;
    assert_eq!(trace["citations"], answered["citations"]);

    let (_, plain) = app.query(json!({"query": QUESTION})).await;
    assert!(plain.get("citations").is_none(), "{plain}");
    let (_, trace) = app
        .get(&format!("/api/traces/{}", plain["id"].as_str().unwrap()))
        .await;
    assert!(trace["citations"].is_null(), "{trace}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn streamed_answers_and_a_conversations_messages_carry_their_citations() {
    let Some(app) = spawn_with_knowledge().await else {
        return;
    };
    add_corpus(&app).await;
    let body = json!({"query": QUESTION, "knowledge": true, "stream": true});
    let events = app.stream(QUERY_PATH, &body).await.rest(LIMIT).await;
    let done = last_is(&events, "done");
    assert_eq!(cited_titles(&done["citations"])[0], "Backups");
    assert_eq!(
        cited_titles(&done["citations"]).len(),
        5,
        "k is 5 by default"
    );

    let conversation = app.start_conversation(json!({})).await;
    let messages = format!("/api/conversations/{conversation}/messages");
    let ask = json!({"content": "How often should I oil the chain?", "knowledge": true, "k": 1});
    let (status, turn) = app.post_json(&messages, &ask).await;
    assert_eq!(status, 200, "{turn}");
    assert_eq!(cited_titles(&turn["citations"]), ["Bike"]);
    let ask = json!({"content": "And the tyres?", "knowledge": true, "k": 1, "stream": true});
    let events = app.stream(&messages, &ask).await.rest(LIMIT).await;
    assert_eq!(
        cited_titles(&last_is(&events, "done")["citations"]),
        ["Bike"]
    );
    assert!(
        sources_told(&app).contains("[1] Bike"),
        "the sources precede the question"
    );

    let (_, view) = app.get(&format!("/api/conversations/{conversation}")).await;
    let kept: Vec<(&str, Option<&Value>)> = view["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["role"].as_str().unwrap(), m.get("citations")))
        .collect();
    assert_eq!(kept.len(), 4, "{view}");
    assert_eq!(kept[0], ("user", None));
    assert_eq!(kept[1].1, Some(&turn["citations"]), "{view}");
    assert_eq!(stored_messages(&app.db_url).await.len(), 4);
    let (_, trace) = app
        .get(&format!(
            "/api/traces/{}",
            turn["trace_id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(trace["citations"], turn["citations"]);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_openai_route_takes_maias_extension_and_answers_with_citations() {
    let Some(app) = spawn_with_knowledge().await else {
        return;
    };
    add_corpus(&app).await;
    let mut body = json!({
        "model": MODEL,
        "messages": [{"role": "user", "content": "Where do I renew my passport?"}],
        "maia": {"knowledge": true, "k": 3},
    });
    let (status, _, text) = complete(&app, &body).await;
    assert_eq!(status, 200, "{text}");
    let completion: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(cited_titles(&completion["citations"])[0], "Passport");
    assert!(sources_told(&app).contains("[1] Passport"));

    body["stream"] = json!(true);
    let (_, _, streamed) = complete(&app, &body).await;
    let chunks = sse_data(&streamed);
    let finish = chunks
        .iter()
        .find(|c| c["choices"][0]["finish_reason"].is_string())
        .expect("a chunk with the finish reason");
    assert_eq!(finish["citations"], completion["citations"]);
    assert_eq!(
        chunks
            .iter()
            .filter(|c| c.get("citations").is_some())
            .count(),
        1
    );

    body["maia"] = json!({"knowledge": true, "k": 0});
    let (status, _, text) = complete(&app, &body).await;
    let error: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        (status, &error["error"]["param"]),
        (400, &json!("maia.k")),
        "{text}"
    );
    body["maia"] = json!({"knowledge": true, "top": 3});
    let (status, _, text) = complete(&app, &body).await;
    assert_eq!(status, 400, "{text}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn k_goes_from_one_to_twenty_and_only_with_knowledge() {
    let app = TestApp::spawn().await;
    for body in [
        json!({"query": "q", "knowledge": true, "k": 0}),
        json!({"query": "q", "knowledge": true, "k": 21}),
        json!({"query": "q", "k": 3}),
        json!({"query": "q", "knowledge": false, "k": 3}),
        json!({"query": "q", "knowledge": "yes"}),
    ] {
        let (status, answer) = app.query(body.clone()).await;
        assert_eq!(
            (status, error_code(&answer)),
            (422, "validation_failed"),
            "{body}"
        );
    }
    assert!(app.traces().await.is_empty(), "nothing was asked");
    app.stop().await;
}

/// The embedding model is missing from Ollama: the question is kept, failed, with the
/// code the answer gives, and in a conversation the question's message is kept too.
#[tokio::test(flavor = "multi_thread")]
async fn a_question_whose_sources_cannot_be_found_is_kept_as_failed() {
    let Some(probe) = spawn_with_knowledge().await else {
        return;
    };
    probe.stop().await;
    let app =
        TestApp::spawn_configured(|s| s.knowledge.embed_model = "absent-embedder".into()).await;

    let (status, body) = app
        .query(json!({"query": QUESTION, "knowledge": true}))
        .await;

    assert_eq!(
        (status, error_code(&body)),
        (502, "model_not_found"),
        "{body}"
    );
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("sources")
            && message.contains("absent-embedder")
            && message.contains("saved as failed"),
        "{message}"
    );
    let traces = app.traces().await;
    assert_eq!(traces.len(), 1);
    assert_eq!(
        (
            traces[0].status.as_str(),
            traces[0].error_code.as_deref(),
            traces[0].query.as_str()
        ),
        ("failed", Some("model_not_found"), QUESTION)
    );
    assert_eq!(
        app.ollama.chat_count(),
        0,
        "not answered without its sources"
    );

    let conversation = app.start_conversation(json!({})).await;
    let ask = json!({"content": "and the restore?", "knowledge": true, "stream": true});
    let (status, body) = app
        .post_json(&format!("/api/conversations/{conversation}/messages"), &ask)
        .await;
    assert_eq!(status, 502, "{body}");
    let kept = stored_messages(&app.db_url).await;
    assert_eq!(kept.len(), 1, "the question is kept");
    let traces = app.traces().await;
    assert_eq!(traces[0].message_id, Some(kept[0].id));
    assert_eq!(traces[0].status, "failed");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn without_pgvector_a_question_with_knowledge_is_kept_and_told_what_to_install() {
    let Some(bindir) = bindir_without_pgvector() else {
        eprintln!("skipped: no PostgreSQL without pgvector on this machine");
        return;
    };
    let (_cluster, db) = database_from(bindir, "no-pgvector-answer").await;
    let app = spawn_on(&db).await;

    let (status, body) = app
        .query(json!({"query": QUESTION, "knowledge": true}))
        .await;

    assert_eq!(
        (status, error_code(&body)),
        (503, "knowledge_unavailable"),
        "{body}"
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("pgvector"),
        "{body}"
    );
    let traces = app.traces().await;
    assert_eq!(
        (traces[0].status.as_str(), traces[0].error_code.as_deref()),
        ("failed", Some("knowledge_unavailable"))
    );
    let (status, _) = app.query(json!({"query": QUESTION})).await;
    assert_eq!(status, 200, "without knowledge it is answered");
    app.stop().await;
}
