//! The OpenAI-compatible surface (`/v1`): its wire format, plain and streamed, what reaches
//! Ollama, the persona models, every error in OpenAI's shape, and every call kept as a
//! trace. (The official `openai` Python package as a client: `tests/cli/openai_sdk.rs`.)

use std::time::Duration;

use serde_json::{json, Value};

use crate::kit::{decode, wait_until, Behavior, TestApp, DEEP_MODEL, MODEL};

const COMPLETIONS: &str = "/v1/chat/completions";

/// A conversation as a chat front-end sends it, ending with `question`.
fn chat(model: &str, question: &str) -> Value {
    json!({
        "model": model,
        "messages": [
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "Hello"},
            {"role": "assistant", "content": "Hi."},
            {"role": "user", "content": question}
        ]
    })
}

/// `POST /v1/chat/completions` with `body`: status, headers and the raw body text.
pub async fn complete(app: &TestApp, body: &Value) -> (u16, reqwest::header::HeaderMap, String) {
    let response = app
        .http
        .post(app.url(COMPLETIONS))
        .json(body)
        .send()
        .await
        .unwrap();
    let headers = response.headers().clone();
    (
        response.status().as_u16(),
        headers,
        response.text().await.unwrap(),
    )
}

/// The JSON objects of a server-sent event stream, in order; `[DONE]` as a string.
pub fn sse_data(text: &str) -> Vec<Value> {
    text.split("\n\n")
        .filter(|event| !event.is_empty())
        .map(|event| {
            let data = event
                .strip_prefix("data: ")
                .unwrap_or_else(|| panic!("not a data event: {event:?}"));
            match data {
                "[DONE]" => json!("[DONE]"),
                data => serde_json::from_str(data).unwrap(),
            }
        })
        .collect()
}

/// The concatenated `delta.content` of a stream's chunks.
fn streamed_text(chunks: &[Value]) -> String {
    chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect()
}

/// An OpenAI error body: exactly `message`, `type`, `param` and `code`; its type and code.
fn openai_error(body: &Value) -> (String, String) {
    let error = body["error"]
        .as_object()
        .unwrap_or_else(|| panic!("{body}"));
    let mut keys: Vec<&String> = error.keys().collect();
    keys.sort();
    assert_eq!(keys, ["code", "message", "param", "type"], "{body}");
    assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()));
    (
        error["type"].as_str().unwrap().to_string(),
        error["code"].as_str().unwrap().to_string(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_plain_completion_has_openais_shape_and_is_kept_as_a_trace() {
    let app = TestApp::spawn().await;
    let before = chrono::Utc::now().timestamp();

    let (status, _, text) = complete(&app, &chat(MODEL, "What is sovereignty?")).await;

    assert_eq!(status, 200, "{text}");
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["object"], "chat.completion");
    assert_eq!(body["model"], MODEL);
    let created = body["created"].as_i64().unwrap();
    assert!((before..=before + 5).contains(&created), "{created}");
    let choice = &body["choices"][0];
    assert_eq!(body["choices"].as_array().unwrap().len(), 1);
    assert_eq!(choice["index"], 0);
    assert_eq!(choice["message"]["role"], "assistant");
    assert_eq!(choice["message"]["content"], "echo: What is sovereignty?");
    assert_eq!(choice["finish_reason"], "stop");
    let usage = &body["usage"];
    let (prompt, completion) = (
        usage["prompt_tokens"].as_i64().unwrap(),
        usage["completion_tokens"].as_i64().unwrap(),
    );
    assert!(prompt > 0 && completion > 0, "{usage}");
    assert_eq!(usage["total_tokens"].as_i64().unwrap(), prompt + completion);

    let traces = app.traces().await;
    assert_eq!(traces.len(), 1);
    let trace = &traces[0];
    assert_eq!(body["id"], format!("chatcmpl-{}", trace.id.simple()));
    assert!(trace.is_ok());
    assert_eq!(trace.query, "What is sovereignty?");
    assert_eq!(
        trace.response.as_deref(),
        Some("echo: What is sovereignty?")
    );
    assert_eq!(
        (trace.model.as_str(), trace.persona.as_deref()),
        (MODEL, None)
    );
    assert_eq!(trace.prompt_tokens, Some(prompt as i32));
    assert_eq!(trace.completion_tokens, Some(completion as i32));
    assert!(trace.token_id.is_some());
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn ollama_gets_the_messages_as_sent_and_the_sampling_as_its_options() {
    let app = TestApp::spawn().await;
    let mut body = chat(DEEP_MODEL, "Go on");
    body["temperature"] = json!(0.5);
    body["top_p"] = json!(0.9);
    body["max_tokens"] = json!(64);
    body["stop"] = json!("END");
    body["seed"] = json!(42);
    body["frequency_penalty"] = json!(0.25);
    body["presence_penalty"] = json!(-0.5);

    let (status, _, text) = complete(&app, &body).await;
    let (plain, _, _) = complete(&app, &chat(MODEL, "no options")).await;

    assert_eq!((status, plain), (200, 200), "{text}");
    let sent = app.ollama.chat_requests();
    assert_eq!(sent[0]["model"], DEEP_MODEL);
    // No prompt of maia's: the client's messages, roles and all, in order.
    assert_eq!(sent[0]["messages"], body["messages"]);
    assert_eq!(
        sent[0]["options"],
        json!({"temperature": 0.5, "top_p": 0.9, "num_predict": 64, "stop": ["END"],
               "seed": 42, "frequency_penalty": 0.25, "presence_penalty": -0.5})
    );
    // Nothing set: the model's own defaults, so no options at all.
    assert!(sent[1].get("options").is_none(), "{}", sent[1]);
    let mut many = chat(MODEL, "x");
    many["stop"] = json!(["a", "b"]);
    complete(&app, &many).await;
    assert_eq!(
        app.ollama.chat_requests()[2]["options"]["stop"],
        json!(["a", "b"])
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_answer_cut_at_max_tokens_finishes_with_length_plain_and_streamed() {
    let app = TestApp::spawn().await;
    let mut body = chat(MODEL, "one two three four");
    body["max_tokens"] = json!(2);

    let (_, _, text) = complete(&app, &body).await;
    body["stream"] = json!(true);
    let (_, _, streamed) = complete(&app, &body).await;

    let plain: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(plain["choices"][0]["message"]["content"], "echo: one");
    assert_eq!(plain["choices"][0]["finish_reason"], "length");
    let chunks = sse_data(&streamed);
    assert_eq!(streamed_text(&chunks), "echo: one");
    assert_eq!(
        chunks[chunks.len() - 2]["choices"][0]["finish_reason"],
        "length"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_streamed_completion_is_role_then_text_then_finish_then_done_and_kept() {
    let app = TestApp::spawn().await;
    app.ollama.set_split_chunks(true);
    let mut body = chat(MODEL, "un café — 日本 🌍");
    body["stream"] = json!(true);

    let (status, headers, text) = complete(&app, &body).await;

    assert_eq!(status, 200, "{text}");
    assert_eq!(headers["content-type"], "text/event-stream");
    let chunks = sse_data(&text);
    assert_eq!(chunks.last().unwrap(), "[DONE]");
    let chunks = &chunks[..chunks.len() - 1];
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    assert!(chunks[1..]
        .iter()
        .all(|c| c["choices"][0]["delta"].get("role").is_none()));
    assert_eq!(streamed_text(chunks), "echo: un café — 日本 🌍");
    let (last, middle) = chunks.split_last().unwrap();
    assert_eq!(last["choices"][0]["finish_reason"], "stop");
    assert_eq!(last["choices"][0]["delta"], json!({}));
    assert!(middle
        .iter()
        .all(|c| c["choices"][0]["finish_reason"].is_null()));
    assert!(
        chunks.iter().all(|c| c.get("usage").is_none()),
        "usage only when asked"
    );
    let trace = &app.traces().await[0];
    for chunk in chunks {
        assert_eq!(chunk["object"], "chat.completion.chunk");
        assert_eq!(chunk["id"], format!("chatcmpl-{}", trace.id.simple()));
        assert_eq!(chunk["model"], MODEL);
        assert!(chunk["created"].as_i64().is_some());
    }
    assert!(trace.is_ok());
    assert_eq!(trace.response.as_deref(), Some("echo: un café — 日本 🌍"));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn include_usage_adds_a_last_chunk_with_the_counts_and_no_choice() {
    let app = TestApp::spawn().await;
    let mut body = chat(MODEL, "count me");
    body["stream"] = json!(true);
    body["stream_options"] = json!({"include_usage": true});

    let (_, _, text) = complete(&app, &body).await;

    let chunks = sse_data(&text);
    let usage_chunk = &chunks[chunks.len() - 2];
    assert_eq!(usage_chunk["choices"], json!([]));
    let usage = &usage_chunk["usage"];
    let trace = &app.traces().await[0];
    assert_eq!(usage["prompt_tokens"], json!(trace.prompt_tokens.unwrap()));
    assert_eq!(
        usage["completion_tokens"],
        json!(trace.completion_tokens.unwrap())
    );
    assert_eq!(
        usage["total_tokens"],
        json!(trace.prompt_tokens.unwrap() + trace.completion_tokens.unwrap())
    );
    assert_eq!(
        chunks[chunks.len() - 3]["choices"][0]["finish_reason"],
        "stop"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn models_are_the_allowed_ones_and_a_maia_model_per_persona() {
    let app =
        TestApp::spawn_configured(|s| s.ollama.allowed_models = vec!["phi3:mini".into()]).await;

    let (status, body) = app.get("/v1/models").await;

    assert_eq!(status, 200, "{body}");
    assert_eq!(body["object"], "list");
    let ids: Vec<&str> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    let mut plain = vec![MODEL, DEEP_MODEL, "phi3:mini"];
    plain.sort();
    assert_eq!(&ids[..3], plain);
    assert_eq!(
        &ids[3..],
        [
            "maia-coach",
            "maia-contrarian",
            "maia-pragmatist",
            "maia-socratic",
            "maia-synthesizer"
        ]
    );
    for model in body["data"].as_array().unwrap() {
        assert_eq!(model["object"], "model");
        assert!(
            model["created"].is_i64() && model["owned_by"].is_string(),
            "{model}"
        );
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_persona_model_puts_its_prompt_before_the_clients_on_the_configured_model() {
    let app = TestApp::spawn().await;

    let (status, _, text) = complete(&app, &chat("maia-socratic", "Is this wise?")).await;

    assert_eq!(status, 200, "{text}");
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["model"], "maia-socratic");
    let sent = &app.ollama.chat_requests()[0];
    assert_eq!(sent["model"], MODEL);
    let messages = sent["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 5);
    assert_eq!(messages[0]["role"], "system");
    let persona = messages[0]["content"].as_str().unwrap();
    assert!(persona.contains("Socratic"), "{persona}");
    assert_eq!(messages[1]["content"], "You are terse.");
    let trace = &app.traces().await[0];
    assert_eq!(
        (trace.model.as_str(), trace.persona.as_deref()),
        (MODEL, Some("socratic"))
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_model_outside_the_allow_list_is_openais_404_here_and_still_422_on_api() {
    let app = TestApp::spawn().await;

    let (status, _, text) = complete(&app, &chat("gpt-4o", "hi")).await;
    let (persona_status, _, _) = complete(&app, &chat("maia-nobody", "hi")).await;
    let (api_status, api_body) = app.query(json!({"query": "hi", "model": "gpt-4o"})).await;

    assert_eq!((status, persona_status), (404, 404), "{text}");
    let body: Value = serde_json::from_str(&text).unwrap();
    let (kind, code) = openai_error(&body);
    assert_eq!(
        (kind.as_str(), code.as_str()),
        ("invalid_request_error", "model_not_found")
    );
    assert_eq!(body["error"]["param"], "model");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("gpt-4o"));
    assert_eq!(api_status, 422, "{api_body}");
    assert_eq!(api_body["error"]["code"], "validation_failed");
    assert_eq!(app.ollama.chat_count(), 0);
    assert!(app.traces().await.is_empty());
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_is_a_400_in_openais_shape_naming_the_parameter() {
    let app = TestApp::spawn().await;
    let with = |field: &str, value: Value| {
        let mut body = chat(MODEL, "hi");
        body[field] = value;
        body
    };
    let cases = [
        (with("temperature", json!(3)), Some("temperature")),
        (with("max_tokens", json!(0)), Some("max_tokens")),
        (with("n", json!(2)), Some("n")),
        (with("tools", json!([{"type": "function"}])), Some("tools")),
        (with("messages", json!([])), Some("messages")),
        (
            with("messages", json!([{"role": "tool", "content": "x"}])),
            Some("messages[0].role"),
        ),
        (with("frobnicate", json!(1)), None),
        (with("temperature", json!("hot")), None),
    ];
    for (body, param) in cases {
        let (status, _, text) = complete(&app, &body).await;
        let body: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(status, 400, "{text}");
        let (kind, _) = openai_error(&body);
        assert_eq!(kind, "invalid_request_error");
        assert_eq!(body["error"]["param"].as_str(), param, "{text}");
    }
    let (_, _, text) = complete(&app, &with("frobnicate", json!(1))).await;
    assert!(
        text.contains("frobnicate") && text.contains("max_tokens"),
        "{text}"
    );
    assert_eq!(app.ollama.chat_count(), 0);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn errors_from_every_layer_are_in_openais_shape_on_v1_only() {
    let app = TestApp::spawn().await;
    let url = app.url(COMPLETIONS);
    let raw = |client: &reqwest::Client, content_type: &str, body: &str| {
        client
            .post(&url)
            .header("content-type", content_type)
            .body(body.to_string())
    };

    let too_large = format!("{{\"model\": \"{}\"}}", "m".repeat(70 * 1024));
    let requests = [
        raw(&app.anonymous, "application/json", "{}"),
        raw(&app.http, "application/json", "{not json"),
        raw(&app.http, "text/plain", "{}"),
        raw(&app.http, "application/json", &too_large),
        app.http.get(&url),
        app.http.get(app.url("/v1/nothing")),
    ];
    let expected = [
        (401, "authentication_error", "token_missing"),
        (400, "invalid_request_error", "invalid_json"),
        (415, "invalid_request_error", "unsupported_media_type"),
        (413, "invalid_request_error", "payload_too_large"),
        (405, "invalid_request_error", "method_not_allowed"),
        (404, "invalid_request_error", "not_found"),
    ];
    for (request, (status, kind, code)) in requests.into_iter().zip(expected) {
        let (got, body) = decode(request.send().await.unwrap()).await;
        assert_eq!(got, status, "{body}");
        assert_eq!(openai_error(&body), (kind.to_string(), code.to_string()));
    }
    let unauthorized = app
        .anonymous
        .get(app.url("/v1/models"))
        .send()
        .await
        .unwrap();
    assert!(unauthorized.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .starts_with("Bearer"));
    // Elsewhere, maia's own shape.
    let (status, body) = decode(
        app.anonymous
            .get(app.url("/api/personas"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(
        body,
        json!({"error": {"code": "token_missing", "message": body["error"]["message"]}})
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_busy_model_and_a_spent_token_are_429_with_retry_after() {
    let app = TestApp::spawn_configured(|s| {
        s.ollama.max_concurrent = 1;
        s.ollama.max_queue = 0;
    })
    .await;
    app.ollama
        .set_behavior(Behavior::Delay(Duration::from_millis(800)));
    let slow = chat(MODEL, "slow");
    let first = complete(&app, &slow);
    let second = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        complete(&app, &chat(MODEL, "turned away")).await
    };

    let ((first, _, _), (status, headers, text)) = tokio::join!(first, second);

    assert_eq!((first, status), (200, 429), "{text}");
    assert!(headers.contains_key("retry-after"));
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        openai_error(&body),
        ("rate_limit_error".into(), "llm_busy".into())
    );
    let busy = app
        .traces()
        .await
        .into_iter()
        .find(|t| t.query == "turned away")
        .unwrap();
    assert_eq!(busy.error_code.as_deref(), Some("llm_busy"));
    app.stop().await;

    let app = TestApp::spawn_configured(|s| s.auth.requests_per_minute = 1).await;
    complete(&app, &chat(MODEL, "one")).await;
    let (status, headers, text) = complete(&app, &chat(MODEL, "two")).await;
    assert_eq!(status, 429, "{text}");
    assert!(headers.contains_key("retry-after"));
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        openai_error(&body),
        ("rate_limit_error".into(), "rate_limited".into())
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn ollama_down_is_a_5xx_without_internals_and_a_failed_trace() {
    let app = TestApp::spawn_with_ollama_down().await;

    let (status, _, text) = complete(&app, &chat(MODEL, "anyone there?")).await;

    assert_eq!(status, 503, "{text}");
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        openai_error(&body),
        ("server_error".into(), "llm_unavailable".into())
    );
    assert!(!text.contains("127.0.0.1"), "no internals: {text}");
    let trace = &app.traces().await[0];
    assert_eq!(
        (trace.status.as_str(), trace.query.as_str()),
        ("failed", "anyone there?")
    );
    assert_eq!(trace.error_code.as_deref(), Some("llm_unavailable"));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_mid_stream_failure_is_an_error_event_and_the_partial_text_is_kept() {
    let app = TestApp::spawn().await;
    app.ollama
        .set_behavior(Behavior::MidStreamError("out of memory".into()));
    let mut body = chat(MODEL, "a b c d e f");
    body["stream"] = json!(true);

    let (status, _, text) = complete(&app, &body).await;

    assert_eq!(status, 200, "the stream had begun: {text}");
    let events = sse_data(&text);
    let last = events.last().unwrap();
    assert_eq!(
        openai_error(last),
        ("server_error".into(), "llm_error".into())
    );
    assert!(!text.contains("out of memory"), "no internals: {text}");
    assert!(!text.contains("[DONE]"));
    let partial = streamed_text(&events);
    assert!(!partial.is_empty());
    let trace = &app.traces().await[0];
    assert_eq!(trace.status, "failed");
    assert_eq!(trace.response.as_deref(), Some(partial.as_str()));
    assert!(trace.error.as_deref().unwrap().contains("out of memory"));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_plain_completion_failing_mid_answer_is_a_502_and_keeps_the_partial_text() {
    let app = TestApp::spawn().await;
    app.ollama
        .set_behavior(Behavior::MidStreamError("gpu lost".into()));

    let (status, _, text) = complete(&app, &chat(MODEL, "a b c d")).await;

    assert_eq!(status, 502, "{text}");
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        openai_error(&body),
        ("server_error".into(), "llm_error".into())
    );
    let trace = &app.traces().await[0];
    assert_eq!(trace.status, "failed");
    assert!(
        trace
            .response
            .as_deref()
            .is_some_and(|r| r.starts_with("echo:")),
        "{trace:?}"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_streaming_client_that_leaves_during_a_silence_stops_the_call_and_keeps_its_text() {
    // Three pieces, then nothing: only the client's leaving can end the call soon.
    let app = TestApp::spawn_configured(|s| s.ollama.timeout = 30).await;
    app.ollama.set_behavior(Behavior::StallAfter(3));
    let mut body = chat(MODEL, "a b c d e f");
    body["stream"] = json!(true);

    let mut response = app
        .http
        .post(app.url(COMPLETIONS))
        .json(&body)
        .send()
        .await
        .unwrap();
    let mut text = String::new();
    while !streamed_text(&sse_data(&text)).ends_with(" b") {
        let chunk = response.chunk().await.unwrap().expect("more of the stream");
        text.push_str(std::str::from_utf8(&chunk).unwrap());
    }
    drop(response);

    let kept = wait_until(Duration::from_millis(1500), || async {
        app.traces()
            .await
            .first()
            .is_some_and(|t| t.status == "cancelled")
    })
    .await;
    assert!(
        kept,
        "no cancelled trace soon after: {:?}",
        app.traces().await
    );
    let trace = &app.traces().await[0];
    assert_eq!(trace.error_code.as_deref(), Some("client_closed_request"));
    assert_eq!(trace.response.as_deref(), Some("echo: a b"));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_database_down_is_a_503_before_ollama_is_asked() {
    let app = TestApp::spawn_with_database_down().await;

    let (status, _, text) = complete(&app, &chat(MODEL, "x")).await;

    assert_eq!(status, 503, "{text}");
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(openai_error(&body).0, "server_error");
    assert_eq!(app.ollama.chat_count(), 0);
    app.stop().await;
}
