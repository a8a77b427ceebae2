//! Conversations: started, listed newest activity first, read with their messages,
//! changed and deleted; each question asked with the earlier messages as context, each
//! exchange kept as messages and a trace; a token sees its own.

use serde_json::{json, Value};
use uuid::Uuid;

use crate::kit::database::count_rows;
use crate::kit::tokens::{client_with, issue_token};
use crate::kit::traces::stored_messages;
use crate::kit::{decode, error_code, Behavior, TestApp, DEEP_MODEL, MODEL};

/// `POST /api/conversations/{id}/messages` with `content`, not streamed.
async fn say(app: &TestApp, id: &str, content: &str) -> (u16, Value) {
    let path = format!("/api/conversations/{id}/messages");
    app.post_json(&path, &json!({ "content": content })).await
}

/// `PATCH /api/conversations/{id}` with `body`: the status and the answer.
async fn change(app: &TestApp, id: &str, body: Value) -> (u16, Value) {
    let request = app.http.patch(app.url(&format!("/api/conversations/{id}")));
    decode(request.json(&body).send().await.unwrap()).await
}

/// The messages Ollama was last asked with, as `(role, content)`.
fn last_chat(app: &TestApp) -> Vec<(String, String)> {
    let requests = app.ollama.chat_requests();
    let last = requests.last().expect("Ollama was asked");
    last["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let text = |k: &str| m[k].as_str().unwrap().to_string();
            (text("role"), text("content"))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_conversation_starts_with_its_settings_and_the_defaults() {
    let app = TestApp::spawn().await;

    let (status, plain) = app.post_json("/api/conversations", &json!({})).await;
    let (_, set) = app
        .post_json(
            "/api/conversations",
            &json!({"title": " Plans ", "persona": "Coach", "mode": "Deep", "model": DEEP_MODEL}),
        )
        .await;

    assert_eq!(status, 201, "{plain}");
    assert!(plain["id"].as_str().unwrap().parse::<Uuid>().is_ok());
    assert!(plain["title"].is_null() && plain["persona"].is_null() && plain["model"].is_null());
    assert_eq!(plain["mode"], "fast");
    assert_eq!(plain["message_count"], 0);
    assert!(plain["created_at"].is_string() && plain["last_activity_at"].is_string());
    assert_eq!(
        (&set["title"], &set["persona"], &set["mode"], &set["model"]),
        (
            &json!("Plans"),
            &json!("coach"),
            &json!("deep"),
            &json!(DEEP_MODEL)
        )
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_conversation_with_an_unknown_persona_a_model_not_allowed_or_a_bad_title_is_422() {
    let app = TestApp::spawn().await;

    for body in [
        json!({"persona": "oracle"}),
        json!({"model": "huge:70b"}),
        json!({"title": "two\nlines"}),
        json!({"title": "x".repeat(201)}),
        json!({"mode": "turbo"}),
        json!({"titel": "typo"}),
    ] {
        let (status, answer) = app.post_json("/api/conversations", &body).await;
        assert_eq!(
            (status, error_code(&answer)),
            (422, "validation_failed"),
            "{body}: {answer}"
        );
    }
    assert_eq!(count_rows(&app.db_url, "conversations").await, 0);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_message_is_answered_stored_with_its_answer_and_kept_as_a_linked_trace() {
    let app = TestApp::spawn().await;
    let id = app.start_conversation(json!({})).await;

    let (status, body) = say(&app, &id, "What is sovereignty?").await;

    assert_eq!(status, 200, "{body}");
    assert_eq!(body["content"], "echo: What is sovereignty?");
    assert_eq!(body["conversation_id"], json!(id));
    assert_eq!(body["context_messages"], 0);
    assert_eq!(body["model"], MODEL);
    assert_eq!(
        body["title"], "What is sovereignty?",
        "a title from the question"
    );
    let messages = stored_messages(&app.db_url).await;
    assert_eq!(messages.len(), 2, "{messages:?}");
    let (question, answer) = (&messages[0], &messages[1]);
    assert_eq!(
        (question.role.as_str(), answer.role.as_str()),
        ("user", "assistant")
    );
    assert_eq!(
        question.id.to_string(),
        body["question_id"].as_str().unwrap()
    );
    assert_eq!(answer.id.to_string(), body["message_id"].as_str().unwrap());
    assert_eq!(answer.content, "echo: What is sovereignty?");
    let traces = app.traces().await;
    assert_eq!(traces.len(), 1);
    let trace = &traces[0];
    assert!(trace.is_ok());
    assert_eq!(trace.id.to_string(), body["trace_id"].as_str().unwrap());
    assert_eq!(
        trace.message_id,
        Some(question.id),
        "the trace points at its question"
    );
    assert_eq!(
        answer.trace_id,
        Some(trace.id),
        "the answer points at its trace"
    );
    assert_eq!(trace.query, "What is sovereignty?");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn each_question_is_asked_with_the_persona_and_the_earlier_messages() {
    let app = TestApp::spawn().await;
    let id = app
        .start_conversation(json!({"persona": "pragmatist", "title": "Mine"}))
        .await;

    say(&app, &id, "first").await;
    let (status, body) = say(&app, &id, "second").await;

    assert_eq!(status, 200, "{body}");
    assert_eq!(body["context_messages"], 2);
    assert_eq!(body["title"], "Mine", "a title given is kept");
    let chat = last_chat(&app);
    let roles: Vec<&str> = chat.iter().map(|(r, _)| r.as_str()).collect();
    assert_eq!(roles, ["system", "user", "assistant", "user"]);
    assert!(
        chat[0].1.to_lowercase().contains("pragmatic"),
        "{}",
        chat[0].1
    );
    assert_eq!(
        chat[1..]
            .iter()
            .map(|(_, c)| c.as_str())
            .collect::<Vec<_>>(),
        ["first", "echo: first", "second"]
    );
    let (_, view) = app.get(&format!("/api/conversations/{id}")).await;
    assert_eq!(view["message_count"], 4);
    let contents: Vec<&str> = view["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["content"].as_str().unwrap())
        .collect();
    assert_eq!(contents, ["first", "echo: first", "second", "echo: second"]);
    assert_eq!(view["messages"][0]["status"], "ok");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_oldest_messages_beyond_the_budget_are_left_out_and_the_answer_says_how_many_went() {
    let app = TestApp::spawn_configured(|s| s.chat.context_messages = 3).await;
    let id = app.start_conversation(json!({})).await;
    for n in 1..=3 {
        say(&app, &id, &format!("question {n}")).await;
    }

    let (_, body) = say(&app, &id, "question 4").await;

    assert_eq!(body["context_messages"], 3, "{body}");
    let chat = last_chat(&app);
    let sent: Vec<&str> = chat[1..].iter().map(|(_, c)| c.as_str()).collect();
    assert_eq!(
        sent,
        [
            "echo: question 2",
            "question 3",
            "echo: question 3",
            "question 4"
        ]
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_token_estimate_bounds_the_context_too() {
    // 30 tokens: 120 bytes, a long earlier exchange does not fit, a short one does.
    let app = TestApp::spawn_configured(|s| s.chat.context_tokens = 30).await;
    let id = app.start_conversation(json!({})).await;
    say(&app, &id, &"long ".repeat(40)).await;
    say(&app, &id, "short").await;

    let (_, body) = say(&app, &id, "now").await;

    assert_eq!(body["context_messages"], 2, "{body}");
    let chat = last_chat(&app);
    let sent: Vec<&str> = chat[1..].iter().map(|(_, c)| c.as_str()).collect();
    assert_eq!(sent, ["short", "echo: short", "now"]);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_long_first_question_makes_a_short_title() {
    let app = TestApp::spawn().await;
    let id = app.start_conversation(json!({})).await;
    let question = "How should I plan the migration of a large PostgreSQL cluster to new \
                    hardware without any downtime at all?";

    let (_, body) = say(&app, &id, question).await;
    let (_, again) = say(&app, &id, "and then?").await;

    let title = body["title"].as_str().unwrap();
    assert!(
        title.ends_with('…') && title.chars().count() <= 61,
        "{title}"
    );
    assert!(question.starts_with(title.trim_end_matches('…')), "{title}");
    assert_eq!(
        again["title"], body["title"],
        "only the first question names it"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn conversations_are_listed_newest_activity_first_one_page_at_a_time() {
    let app = TestApp::spawn().await;
    let mut ids = Vec::new();
    for n in 0..3 {
        ids.push(
            app.start_conversation(json!({"title": format!("c{n}")}))
                .await,
        );
    }
    // The first one has the newest activity now.
    say(&app, &ids[0], "back to the first").await;

    let (status, first) = app.get("/api/conversations?limit=2").await;
    let cursor = first["next_before"].as_str().unwrap().to_string();
    let (_, second) = app
        .get(&format!("/api/conversations?limit=2&before={cursor}"))
        .await;

    assert_eq!(status, 200, "{first}");
    let titles = |page: &Value| -> Vec<String> {
        page["conversations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["title"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(titles(&first), ["c0", "c2"]);
    assert_eq!(titles(&second), ["c1"]);
    assert!(second["next_before"].is_null(), "{second}");
    assert_eq!(first["conversations"][0]["message_count"], 2);
    let (bad, body) = app.get("/api/conversations?before=nope").await;
    assert_eq!((bad, error_code(&body)), (400, "bad_request"));
    let (bad, body) = app.get("/api/conversations?limit=0").await;
    assert_eq!((bad, error_code(&body)), (422, "validation_failed"));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_sees_and_changes_only_its_own_conversations_and_admin_sees_all() {
    let app = TestApp::spawn().await;
    let mine = app.start_conversation(json!({"title": "mine"})).await;
    let other = issue_token(&app.db_url, "other", &["query", "read"]).await;
    let other = client_with(&other.token);
    let theirs = decode(
        other
            .post(app.url("/api/conversations"))
            .json(&json!({"title": "theirs"}))
            .send()
            .await
            .unwrap(),
    )
    .await
    .1["id"]
        .as_str()
        .unwrap()
        .to_string();

    let (_, listed) = decode(
        other
            .get(app.url("/api/conversations"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let mut answers = Vec::new();
    for request in [
        other.get(app.url(&format!("/api/conversations/{mine}"))),
        other
            .patch(app.url(&format!("/api/conversations/{mine}")))
            .json(&json!({"title": "taken"})),
        other
            .post(app.url(&format!("/api/conversations/{mine}/messages")))
            .json(&json!({"content": "hello?"})),
    ] {
        answers.push(decode(request.send().await.unwrap()).await);
    }
    let (_, everything) = app.get("/api/conversations").await;

    let titles: Vec<&Value> = listed["conversations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| &c["title"])
        .collect();
    assert_eq!(titles, [&json!("theirs")]);
    for (status, body) in &answers {
        assert_eq!((*status, error_code(body)), (404, "not_found"), "{body}");
    }
    assert_eq!(
        app.ollama.chat_count(),
        0,
        "nothing was asked in another's conversation"
    );
    assert_eq!(everything["conversations"].as_array().unwrap().len(), 2);
    let (status, _) = app.get(&format!("/api/conversations/{theirs}")).await;
    assert_eq!(status, 200, "admin reads any");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_title_and_persona_change_and_null_clears_them() {
    let app = TestApp::spawn().await;
    let id = app.start_conversation(json!({"title": "old"})).await;
    let patch = |body: Value| change(&app, &id, body);

    let (status, changed) = patch(json!({"title": "new", "persona": "Socratic"})).await;
    let (_, persona_only) = patch(json!({"persona": null})).await;
    let (_, cleared) = patch(json!({"title": null})).await;
    let (nothing, nothing_body) = patch(json!({})).await;
    let (unknown, unknown_body) = patch(json!({"persona": "oracle"})).await;
    let (missing, _) = {
        let request = app
            .http
            .patch(app.url(&format!("/api/conversations/{}", Uuid::new_v4())));
        decode(request.json(&json!({"title": "x"})).send().await.unwrap()).await
    };

    assert_eq!(status, 200, "{changed}");
    assert_eq!(
        (&changed["title"], &changed["persona"]),
        (&json!("new"), &json!("socratic"))
    );
    assert_eq!(
        (&persona_only["title"], &persona_only["persona"]),
        (&json!("new"), &Value::Null)
    );
    assert!(cleared["title"].is_null());
    assert_eq!(
        (nothing, error_code(&nothing_body)),
        (422, "validation_failed")
    );
    assert_eq!(
        (unknown, error_code(&unknown_body)),
        (422, "validation_failed")
    );
    assert_eq!(missing, 404);
    let (_, answered) = say(&app, &id, "a title again").await;
    assert_eq!(
        answered["title"], "a title again",
        "untitled again, titled again"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_model_and_mode_change_for_the_next_question_and_null_clears_them() {
    let app = TestApp::spawn().await;
    let id = app.start_conversation(json!({})).await;
    let patch = |body: Value| change(&app, &id, body);
    let model_of_next_answer = |question: &'static str| {
        let app = &app;
        let id = &id;
        async move { say(app, id, question).await.1["model"].clone() }
    };

    assert_eq!(model_of_next_answer("fast").await, MODEL);
    let (status, deep) = patch(json!({"mode": "Deep"})).await;
    assert_eq!(status, 200, "{deep}");
    assert_eq!(
        (&deep["mode"], &deep["model"]),
        (&json!("deep"), &Value::Null)
    );
    assert_eq!(model_of_next_answer("deep").await, DEEP_MODEL);
    let (_, named) = patch(json!({"model": MODEL})).await;
    assert_eq!(
        (&named["mode"], &named["model"]),
        (&json!("deep"), &json!(MODEL))
    );
    assert_eq!(
        model_of_next_answer("named").await,
        MODEL,
        "a model named wins"
    );

    for bad in [
        json!({"model": "huge:70b"}),
        json!({"mode": "turbo"}),
        json!({"model": "../x"}),
    ] {
        let (status, body) = patch(bad.clone()).await;
        assert_eq!(
            (status, error_code(&body)),
            (422, "validation_failed"),
            "{bad}: {body}"
        );
    }
    let (_, cleared) = patch(json!({"model": null, "mode": null})).await;
    assert_eq!(
        (&cleared["mode"], &cleared["model"]),
        (&json!("fast"), &Value::Null)
    );
    assert_eq!(model_of_next_answer("cleared").await, MODEL);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn deleting_a_conversation_takes_its_messages_and_traces_and_nothing_else() {
    let app = TestApp::spawn().await;
    let gone = app.start_conversation(json!({})).await;
    let kept = app.start_conversation(json!({})).await;
    say(&app, &gone, "forget me").await;
    say(&app, &gone, "me too").await;
    say(&app, &kept, "keep me").await;
    app.query(json!({"query": "a query of its own"})).await;

    let response = app
        .http
        .delete(app.url(&format!("/api/conversations/{gone}")))
        .send()
        .await
        .unwrap();
    let again = app
        .http
        .delete(app.url(&format!("/api/conversations/{gone}")))
        .send()
        .await
        .unwrap();

    assert_eq!(response.status().as_u16(), 204);
    assert_eq!(again.status().as_u16(), 404);
    let messages = stored_messages(&app.db_url).await;
    assert!(
        messages
            .iter()
            .all(|m| m.conversation_id.to_string() == kept),
        "{messages:?}"
    );
    assert_eq!(messages.len(), 2);
    let queries: Vec<String> = app.traces().await.into_iter().map(|t| t.query).collect();
    assert_eq!(queries, ["a query of its own", "keep me"]);
    let (status, _) = app.get(&format!("/api/conversations/{gone}")).await;
    assert_eq!(status, 404);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_conversation_read_whole_shows_its_newest_messages_within_the_response_limit() {
    let app = TestApp::spawn_configured(|s| s.http.max_response_bytes = 4096).await;
    let id = app.start_conversation(json!({})).await;
    for n in 0..4 {
        say(&app, &id, &format!("{n} {}", "words ".repeat(200))).await;
    }

    let (status, view) = app.get(&format!("/api/conversations/{id}")).await;

    assert_eq!(status, 200, "{view}");
    assert_eq!(view["message_count"], 8);
    let messages = view["messages"].as_array().unwrap();
    assert!((1..8).contains(&messages.len()), "{}", messages.len());
    assert_eq!(
        messages.last().unwrap()["content"].as_str().unwrap(),
        format!("echo: 3 {}", "words ".repeat(200))
    );
    assert!(
        view.to_string().len() <= 4096 + 1024,
        "{}",
        view.to_string().len()
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_question_ollama_fails_is_kept_with_its_failed_trace_and_no_answer() {
    let app = TestApp::spawn().await;
    let id = app.start_conversation(json!({})).await;
    app.ollama.set_behavior(Behavior::Error {
        status: 500,
        message: "llama runner process has terminated".into(),
    });

    let (status, body) = say(&app, &id, "will this work?").await;

    assert_eq!((status, error_code(&body)), (502, "llm_error"), "{body}");
    let messages = stored_messages(&app.db_url).await;
    assert_eq!(messages.len(), 1, "the question, no answer");
    let trace = &app.traces().await[0];
    assert_eq!(trace.status, "failed");
    assert_eq!(trace.message_id, Some(messages[0].id));
    let (_, view) = app.get(&format!("/api/conversations/{id}")).await;
    assert_eq!(view["messages"][0]["status"], "failed", "{view}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_id_is_400_an_unknown_one_404_and_blank_content_422() {
    let app = TestApp::spawn().await;
    let id = app.start_conversation(json!({})).await;

    let (bad, bad_body) = app.get("/api/conversations/not-a-uuid").await;
    let (unknown, _) = say(&app, &Uuid::new_v4().to_string(), "anyone?").await;
    let (blank, blank_body) = say(&app, &id, "  ").await;

    assert_eq!((bad, error_code(&bad_body)), (400, "bad_request"));
    assert_eq!(unknown, 404);
    assert_eq!((blank, error_code(&blank_body)), (422, "validation_failed"));
    assert!(
        blank_body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("content"),
        "{blank_body}"
    );
    assert_eq!(app.ollama.chat_count(), 0);
    app.stop().await;
}
