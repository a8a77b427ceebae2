//! The fake Ollama speaks Ollama's wire protocol: checked with plain reqwest and with the
//! ollama-rs client (an independent implementation; maia has its own, in src/llm), so the
//! integration tests built on it mean something.

#[path = "kit/mod.rs"]
mod kit;

use std::time::{Duration, Instant};

use kit::fake_ollama::{self, Behavior, FakeOllama};
use kit::{http_client as http, DEEP_MODEL as OTHER, MODEL};
use ollama_rs::error::OllamaError;
use ollama_rs::generation::chat::request::ChatMessageRequest;
use ollama_rs::generation::chat::{ChatMessage, ChatMessageResponse, MessageRole};
use ollama_rs::Ollama;
use serde_json::{json, Value};

/// ollama-rs on the fake's host and port, over the kit's HTTP client.
fn ollama_rs_client(fake: &FakeOllama) -> Ollama {
    Ollama::builder()
        .host("http://127.0.0.1")
        .port(fake.port())
        .reqwest_client(http())
        .build()
}

fn chat_body(model: &str, query: &str, stream: Option<bool>) -> Value {
    let mut body = json!({
        "model": model,
        "messages": [
            { "role": "system", "content": "You are terse." },
            { "role": "user", "content": query }
        ],
        "options": { "temperature": 0.2 }
    });
    if let Some(stream) = stream {
        body["stream"] = json!(stream);
    }
    body
}

async fn post_chat(fake: &FakeOllama, body: &Value) -> reqwest::Response {
    http()
        .post(format!("{}/api/chat", fake.url()))
        .json(body)
        .send()
        .await
        .expect("the fake answers")
}

/// Reads an NDJSON body as it arrives: bytes are buffered until a `\n`, and only a whole
/// line is decoded as UTF-8 and parsed. Also returns the raw chunks as they were read.
async fn read_ndjson(mut response: reqwest::Response) -> (Vec<Value>, Vec<Vec<u8>>) {
    let mut lines = LineReader::default();
    let mut values = Vec::new();
    let mut chunks = Vec::new();
    while let Some(chunk) = response.chunk().await.expect("read the body") {
        chunks.push(chunk.to_vec());
        for line in lines.push(&chunk) {
            values.push(serde_json::from_str(&line).expect("each line is one JSON object"));
        }
    }
    assert!(lines.is_empty(), "the body ends with an unfinished line");
    (values, chunks)
}

#[derive(Default)]
struct LineReader {
    buffer: Vec<u8>,
}

impl LineReader {
    /// Appends `bytes` and returns the complete lines now buffered, without their `\n`.
    fn push(&mut self, bytes: &[u8]) -> Vec<String> {
        self.buffer.extend_from_slice(bytes);
        let mut lines = Vec::new();
        while let Some(end) = self.buffer.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.buffer.drain(..=end).collect();
            let text = String::from_utf8(line[..end].to_vec()).expect("a line is UTF-8");
            if !text.trim().is_empty() {
                lines.push(text);
            }
        }
        lines
    }

    fn is_empty(&self) -> bool {
        self.buffer.is_empty()
    }
}

fn contents(values: &[Value]) -> String {
    values
        .iter()
        .filter_map(|v| v["message"]["content"].as_str())
        .collect()
}

async fn assert_refused(port: u16) {
    let err = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect_err("the stopped fake still accepts connections");
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused, "{err}");
}

#[test]
fn the_line_reader_waits_for_whole_lines_and_whole_characters() {
    let text = "{\"a\":\"café ✓\"}\n{\"b\":1}\n";
    let bytes = text.as_bytes();
    let e_acute = text.find('é').unwrap();
    let mut reader = LineReader::default();
    // Cut inside `é` (2 bytes) and inside `✓` (3 bytes).
    let check = text.find('✓').unwrap();
    assert!(reader.push(&bytes[..e_acute + 1]).is_empty());
    assert!(reader.push(&bytes[e_acute + 1..check + 2]).is_empty());
    let lines = reader.push(&bytes[check + 2..]);
    assert_eq!(lines, vec!["{\"a\":\"café ✓\"}", "{\"b\":1}"]);
    assert!(reader.is_empty());
}

#[test]
fn split_bytes_cuts_every_multibyte_character_and_loses_nothing() {
    let text = "{\"content\":\"café ✓ naïve\"}\n".repeat(3);
    let chunks = fake_ollama::split_bytes(text.as_bytes());
    let joined: Vec<u8> = chunks.iter().flat_map(|c| c.iter().copied()).collect();
    assert_eq!(joined, text.as_bytes());
    // Where one chunk ends and the next begins.
    let cuts: Vec<usize> = chunks
        .iter()
        .scan(0, |end, c| {
            *end += c.len();
            Some(*end)
        })
        .collect();
    let multibyte: Vec<(usize, char)> = text
        .char_indices()
        .filter(|(_, c)| c.len_utf8() > 1)
        .collect();
    assert_eq!(multibyte.len(), 9);
    for (at, c) in multibyte {
        assert!(
            cuts.iter().any(|cut| *cut > at && *cut < at + c.len_utf8()),
            "{c:?} at {at} arrives whole: {chunks:?}"
        );
    }
    assert!(chunks.iter().all(|c| c.len() <= 11), "{chunks:?}");
    assert_eq!(
        fake_ollama::pieces("echo: café ✓"),
        ["echo:", " café", " ✓"]
    );
    assert_eq!(fake_ollama::pieces("a  b "), ["a", "  b", " "]);
}

#[tokio::test]
async fn version_and_tags_parse_with_reqwest_and_ollama_rs() {
    let fake = FakeOllama::start(&[MODEL, OTHER]).await;
    let client = http();

    let version = client
        .get(format!("{}/api/version", fake.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(version.status(), 200);
    let version: Value = version.json().await.unwrap();
    assert_eq!(version, json!({ "version": "0.12.0" }));

    let tags: Value = client
        .get(format!("{}/api/tags", fake.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let models = tags["models"].as_array().unwrap();
    assert_eq!(models.len(), 2);
    assert_eq!(models[0]["name"], MODEL);
    assert_eq!(models[0]["model"], MODEL);
    assert_eq!(models[1]["name"], OTHER);
    assert_eq!(models[0]["details"]["format"], "gguf");
    assert_eq!(models[0]["details"]["quantization_level"], "Q4_K_M");
    assert!(models[0]["digest"].as_str().unwrap().starts_with("sha256:"));
    assert_ne!(models[0]["digest"], models[1]["digest"]);

    let local = ollama_rs_client(&fake).list_local_models().await.unwrap();
    let names: Vec<&str> = local.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, [MODEL, OTHER]);
    assert_eq!(local[0].size, 123);

    let root = client.get(fake.url()).send().await.unwrap();
    assert_eq!(root.text().await.unwrap(), "Ollama is running");
    let missing = client
        .get(format!("{}/api/nothing", fake.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);

    assert_eq!(fake.request_count(), 5, "every request is counted");
    assert_eq!(fake.chat_count(), 0, "no chat yet");
    fake.stop().await;
}

#[tokio::test]
async fn a_non_streaming_reply_parses_with_ollama_rs_including_the_counts() {
    let fake = FakeOllama::start(&[MODEL]).await;
    let request = ChatMessageRequest::new(
        MODEL.to_string(),
        vec![
            ChatMessage::system("Answer in one word.".to_string()),
            ChatMessage::user("how is the café ✓".to_string()),
        ],
    );
    let response = ollama_rs_client(&fake)
        .send_chat_messages(request)
        .await
        .expect("ollama-rs reads the fake's answer");

    assert_eq!(response.model, MODEL);
    assert!(response.done);
    assert_eq!(response.message.role, MessageRole::Assistant);
    assert_eq!(response.message.content, "echo: how is the café ✓");
    let counts = response.final_data.expect("final data with every count");
    // 4 words in the system prompt and 5 in the question, plus 4 per message.
    assert_eq!(counts.prompt_eval_count, 17);
    // "echo:", " how", " is", " the", " café", " ✓".
    assert_eq!(counts.eval_count, 6);
    assert_eq!(counts.total_duration, fake_ollama::TOTAL_DURATION);
    assert_eq!(counts.load_duration, fake_ollama::LOAD_DURATION);
    assert_eq!(
        counts.prompt_eval_duration,
        fake_ollama::PROMPT_EVAL_DURATION
    );
    assert_eq!(counts.eval_duration, fake_ollama::EVAL_DURATION);

    // What the fake was sent: ollama-rs's own request, recorded whole.
    assert_eq!(fake.chat_count(), 1);
    let sent = &fake.chat_requests()[0];
    assert_eq!(sent["model"], MODEL);
    assert_eq!(sent["stream"], false);
    assert_eq!(sent["messages"][0]["role"], "system");
    assert_eq!(sent["messages"][0]["content"], "Answer in one word.");
    assert_eq!(sent["messages"][1]["role"], "user");
    assert_eq!(sent["messages"][1]["content"], "how is the café ✓");
    fake.stop().await;
}

#[tokio::test]
async fn the_raw_non_streaming_object_has_ollamas_fields() {
    let fake = FakeOllama::start(&[MODEL]).await;
    fake.set_behavior(Behavior::ReplyWith("Bonjour.".into()));
    let response = post_chat(&fake, &chat_body(MODEL, "hi", Some(false))).await;
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["model"], MODEL);
    assert!(body["created_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(
        body["message"],
        json!({ "role": "assistant", "content": "Bonjour." })
    );
    assert_eq!(body["done"], true);
    assert_eq!(body["done_reason"], "stop");
    for field in [
        "total_duration",
        "load_duration",
        "prompt_eval_count",
        "prompt_eval_duration",
        "eval_count",
        "eval_duration",
    ] {
        assert!(body[field].as_u64().unwrap() > 0, "{field}: {body}");
    }
    assert_eq!(fake.chat_requests()[0]["options"]["temperature"], 0.2);
    fake.stop().await;
}

#[tokio::test]
async fn omitted_zero_metrics_leave_ollama_rs_without_final_data() {
    let fake = FakeOllama::start(&[MODEL]).await;
    fake.set_omit_zero_metrics(true);
    let body: Value = post_chat(&fake, &chat_body(MODEL, "hi", Some(false)))
        .await
        .json()
        .await
        .unwrap();
    for field in ["load_duration", "prompt_eval_count", "prompt_eval_duration"] {
        assert!(body.get(field).is_none(), "{field} is present: {body}");
    }
    assert_eq!(body["eval_count"], 2);
    assert_eq!(body["done"], true);

    // ollama-rs 0.3.6 needs all six figures for its flattened `final_data`: with one
    // missing the answer still parses, but without any count.
    let response = ollama_rs_client(&fake)
        .send_chat_messages(ChatMessageRequest::new(
            MODEL.into(),
            vec![ChatMessage::user("hi".into())],
        ))
        .await
        .unwrap();
    assert_eq!(response.message.content, "echo: hi");
    assert!(response.final_data.is_none());

    // Streaming: the final line omits them too.
    let (lines, _) = read_ndjson(post_chat(&fake, &chat_body(MODEL, "hi", None)).await).await;
    let last = lines.last().unwrap();
    assert_eq!(last["done"], true);
    assert!(last.get("load_duration").is_none(), "{last}");
    assert!(last.get("total_duration").is_some(), "{last}");

    fake.set_omit_zero_metrics(false);
    let body: Value = post_chat(&fake, &chat_body(MODEL, "hi", Some(false)))
        .await
        .json()
        .await
        .unwrap();
    assert!(body.get("load_duration").is_some(), "{body}");
    fake.stop().await;
}

#[tokio::test]
async fn an_unknown_model_is_404_with_ollamas_words() {
    let fake = FakeOllama::start(&[MODEL]).await;
    for stream in [Some(false), None] {
        let response = post_chat(&fake, &chat_body("mistral:7b", "hi", stream)).await;
        assert_eq!(response.status(), 404);
        let body: Value = response.json().await.unwrap();
        assert_eq!(
            body,
            json!({ "error": "model \"mistral:7b\" not found, try pulling it first" })
        );
    }

    let err = ollama_rs_client(&fake)
        .send_chat_messages(ChatMessageRequest::new(
            "mistral:7b".into(),
            vec![ChatMessage::user("hi".into())],
        ))
        .await
        .expect_err("an unknown model is an error");
    match err {
        OllamaError::Other(body) => {
            let body: Value = serde_json::from_str(&body).unwrap();
            assert_eq!(
                body["error"],
                "model \"mistral:7b\" not found, try pulling it first"
            );
        }
        other => panic!("expected the raw error body, got {other:?}"),
    }
    // Refused requests are still recorded.
    assert_eq!(fake.chat_count(), 3);
    assert_eq!(fake.chat_requests()[2]["model"], "mistral:7b");
    fake.stop().await;
}

#[tokio::test]
async fn a_model_without_a_tag_means_latest() {
    let fake = FakeOllama::start(&["tinyllama", MODEL]).await;
    for (model, status) in [
        ("tinyllama:latest", 200),
        ("tinyllama", 200),
        ("llama3.2", 404),
        (MODEL, 200),
    ] {
        let response = post_chat(&fake, &chat_body(model, "hi", Some(false))).await;
        assert_eq!(response.status(), status, "{model}");
    }
    fake.stop().await;
}

#[tokio::test]
async fn bad_requests_are_400_and_recorded() {
    let fake = FakeOllama::start(&[MODEL]).await;
    let client = http();
    let response = client
        .post(format!("{}/api/chat", fake.url()))
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert!(body["error"].is_string(), "{body}");

    let response = post_chat(&fake, &json!({ "messages": [] })).await;
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "model is required");

    assert_eq!(
        fake.chat_requests(),
        vec![json!("{not json"), json!({ "messages": [] })]
    );
    fake.stop().await;
}

#[tokio::test]
async fn the_error_behavior_answers_with_its_status_and_message() {
    let fake = FakeOllama::start(&[MODEL]).await;
    fake.set_behavior(Behavior::Error {
        status: 500,
        message: "llama runner process has terminated: exit status 2".into(),
    });
    for stream in [Some(false), Some(true)] {
        let response = post_chat(&fake, &chat_body(MODEL, "hi", stream)).await;
        assert_eq!(response.status(), 500);
        let body: Value = response.json().await.unwrap();
        assert_eq!(
            body,
            json!({ "error": "llama runner process has terminated: exit status 2" })
        );
    }

    fake.set_behavior(Behavior::Error {
        status: 503,
        message: "server busy, please try again.  maximum pending requests exceeded".into(),
    });
    let err = ollama_rs_client(&fake)
        .send_chat_messages(ChatMessageRequest::new(
            MODEL.into(),
            vec![ChatMessage::user("hi".into())],
        ))
        .await
        .unwrap_err();
    let OllamaError::Other(body) = err else {
        panic!("expected the raw error body, got {err:?}");
    };
    assert!(body.contains("server busy"), "{body}");

    // Back to normal.
    fake.set_behavior(Behavior::Reply);
    let response = post_chat(&fake, &chat_body(MODEL, "again", Some(false))).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["message"]["content"], "echo: again");
    fake.stop().await;
}

#[tokio::test]
async fn streaming_is_the_default_and_its_lines_parse_with_ollama_rs_types() {
    let fake = FakeOllama::start(&[MODEL]).await;
    let response = post_chat(&fake, &chat_body(MODEL, "one two three", None)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/x-ndjson");
    let (lines, _) = read_ndjson(response).await;

    // "echo:", " one", " two", " three", then the final object.
    assert_eq!(lines.len(), 5, "{lines:?}");
    for piece in &lines[..4] {
        assert_eq!(piece["done"], false, "{piece}");
        assert_eq!(piece["model"], MODEL);
        assert_eq!(piece["message"]["role"], "assistant");
        assert!(piece.get("eval_count").is_none(), "{piece}");
    }
    let last = &lines[4];
    assert_eq!(last["done"], true);
    assert_eq!(last["done_reason"], "stop");
    assert_eq!(last["message"]["content"], "");
    assert_eq!(last["eval_count"], 4);
    assert!(last["prompt_eval_count"].as_u64().unwrap() > 0);
    assert_eq!(contents(&lines), "echo: one two three");

    // Each line is what ollama-rs's streaming client deserialises.
    for line in &lines {
        let parsed: ChatMessageResponse = serde_json::from_value(line.clone()).unwrap();
        assert_eq!(parsed.done, parsed.final_data.is_some(), "{line}");
    }

    // `"stream": true` streams too.
    let response = post_chat(&fake, &chat_body(MODEL, "x", Some(true))).await;
    assert_eq!(response.headers()["content-type"], "application/x-ndjson");
    let (lines, _) = read_ndjson(response).await;
    assert_eq!(contents(&lines), "echo: x");
    assert_eq!(fake.chat_requests()[0].get("stream"), None);
    assert_eq!(fake.chat_requests()[1]["stream"], true);
    fake.stop().await;
}

#[tokio::test]
async fn num_predict_cuts_the_answer_and_says_length_as_ollama_does() {
    let fake = FakeOllama::start(&[MODEL]).await;
    let mut body = chat_body(MODEL, "one two three", None);
    body["options"]["num_predict"] = json!(2);

    let (lines, _) = read_ndjson(post_chat(&fake, &body).await).await;
    body["stream"] = json!(false);
    let whole: Value = post_chat(&fake, &body).await.json().await.unwrap();
    body["options"]["num_predict"] = json!(50);
    let roomy: Value = post_chat(&fake, &body).await.json().await.unwrap();

    assert_eq!(contents(&lines), "echo: one");
    let last = lines.last().unwrap();
    assert_eq!(
        (&last["done_reason"], &last["eval_count"]),
        (&json!("length"), &json!(2))
    );
    assert_eq!(whole["message"]["content"], "echo: one");
    assert_eq!(whole["done_reason"], "length");
    assert_eq!(roomy["message"]["content"], "echo: one two three");
    assert_eq!(roomy["done_reason"], "stop");
    fake.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn split_chunks_cut_lines_and_characters_yet_reassemble_exactly() {
    let fake = FakeOllama::start(&[MODEL]).await;
    fake.set_split_chunks(true);
    let query = "un café ✓ naïve — 日本語";
    let response = post_chat(&fake, &chat_body(MODEL, query, None)).await;
    assert_eq!(response.status(), 200);
    let (lines, chunks) = read_ndjson(response).await;

    assert_eq!(contents(&lines), format!("echo: {query}"));
    let last = lines.last().unwrap();
    assert_eq!(last["done"], true);
    assert_eq!(last["eval_count"], 7);
    assert_eq!(lines.len(), 8);

    // The body really arrived cut: chunks that end inside a line, and chunks that are not
    // UTF-8 on their own because they end inside a character.
    assert!(chunks.len() > lines.len() * 2, "{} chunks", chunks.len());
    let mid_line = chunks.iter().filter(|c| c.last() != Some(&b'\n')).count();
    assert!(mid_line > lines.len(), "{mid_line} chunks end mid-line");
    let broken = chunks
        .iter()
        .filter(|c| std::str::from_utf8(c).is_err())
        .count();
    assert!(broken >= 1, "no chunk splits a character");

    // Off again: one chunk per line.
    fake.set_split_chunks(false);
    let (lines, chunks) = read_ndjson(post_chat(&fake, &chat_body(MODEL, query, None)).await).await;
    assert_eq!(contents(&lines), format!("echo: {query}"));
    assert!(chunks.iter().all(|c| std::str::from_utf8(c).is_ok()));
    fake.stop().await;
}

#[tokio::test]
async fn a_mid_stream_error_is_a_last_error_line_after_some_pieces() {
    let fake = FakeOllama::start(&[MODEL]).await;
    fake.set_behavior(Behavior::MidStreamError(
        "an error was encountered while running the model: unexpected EOF".into(),
    ));
    fake.set_split_chunks(true);
    let response = post_chat(&fake, &chat_body(MODEL, "a b c d e", None)).await;
    assert_eq!(
        response.status(),
        200,
        "the status was sent before the error"
    );
    let (lines, _) = read_ndjson(response).await;

    // "echo:", " a", " b" of six pieces, then the error; never a `done: true`.
    assert_eq!(lines.len(), 4, "{lines:?}");
    assert_eq!(contents(&lines[..3]), "echo: a b");
    assert!(lines[..3].iter().all(|l| l["done"] == false));
    assert_eq!(
        lines[3],
        json!({ "error": "an error was encountered while running the model: unexpected EOF" })
    );
    assert!(lines.iter().all(|l| l["done"] != true));

    // Without streaming it is a plain 500.
    let response = post_chat(&fake, &chat_body(MODEL, "a b", Some(false))).await;
    assert_eq!(response.status(), 500);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body["error"],
        "an error was encountered while running the model: unexpected EOF"
    );
    fake.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn delay_answers_normally_after_the_pause() {
    let fake = FakeOllama::start(&[MODEL]).await;
    fake.set_behavior(Behavior::Delay(Duration::from_millis(400)));
    let started = Instant::now();
    let response = post_chat(&fake, &chat_body(MODEL, "slow", Some(false))).await;
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(400),
        "answered after {took:?}"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["message"]["content"], "echo: slow");

    // A client with a shorter read timeout gives up.
    let impatient = reqwest::Client::builder()
        .no_proxy()
        .read_timeout(Duration::from_millis(100))
        .build()
        .unwrap();
    let err = impatient
        .post(format!("{}/api/chat", fake.url()))
        .json(&chat_body(MODEL, "slow", Some(false)))
        .send()
        .await
        .expect_err("the answer comes after the read timeout");
    assert!(err.is_timeout(), "{err:?}");
    fake.stop().await;
}

#[tokio::test]
async fn a_behaviour_for_a_system_prompt_answers_only_the_chats_it_opens() {
    let fake = FakeOllama::start(&[MODEL]).await;
    fake.set_behavior_for_system("terse", Behavior::ReplyWith("Short.".into()));
    fake.set_behavior_for_system("You are", Behavior::ReplyWith("At length.".into()));
    let mut untold = chat_body(MODEL, "hi", Some(false));
    untold["messages"][0]["content"] = json!("You are verbose.");

    // "You are terse." matches both; the first set wins.
    let terse = post_chat(&fake, &chat_body(MODEL, "hi", Some(false))).await;
    let other = post_chat(&fake, &untold).await;
    let bare =
        json!({"model": MODEL, "stream": false, "messages": [{"role": "user", "content": "hi"}]});
    let without = post_chat(&fake, &bare).await;

    let content = |body: Value| body["message"]["content"].as_str().unwrap().to_string();
    assert_eq!(
        content(terse.json().await.unwrap()),
        "Short.",
        "the first match wins"
    );
    assert_eq!(content(other.json().await.unwrap()), "At length.");
    assert_eq!(content(without.json().await.unwrap()), "echo: hi");
    fake.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_most_concurrent_chats_counts_requests_answered_at_once() {
    let fake = FakeOllama::start(&[MODEL]).await;
    fake.set_behavior(Behavior::Delay(Duration::from_millis(300)));
    let body = chat_body(MODEL, "slow", Some(false));

    post_chat(&fake, &body).await;
    let one_by_one = fake.most_concurrent_chats();
    tokio::join!(
        post_chat(&fake, &body),
        post_chat(&fake, &body),
        post_chat(&fake, &body)
    );

    assert_eq!(one_by_one, 1);
    assert_eq!(fake.most_concurrent_chats(), 3);
    fake.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn hang_never_answers_and_does_not_hold_up_stop() {
    let fake = FakeOllama::start(&[MODEL]).await;
    fake.set_behavior(Behavior::Hang);
    let port = fake.port();

    let impatient = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_millis(500))
        .build()
        .unwrap();
    let err = impatient
        .post(format!("{}/api/chat", fake.url()))
        .json(&chat_body(MODEL, "hello?", Some(false)))
        .send()
        .await
        .expect_err("a hanging fake never answers");
    assert!(err.is_timeout(), "{err:?}");

    // A patient client stays waiting until the fake is stopped under it.
    let url = format!("{}/api/chat", fake.url());
    let waiting = tokio::spawn(async move {
        http()
            .post(url)
            .json(&chat_body(MODEL, "still there?", None))
            .send()
            .await
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!waiting.is_finished());
    assert_eq!(fake.chat_count(), 2, "both requests arrived");

    let started = Instant::now();
    tokio::time::timeout(Duration::from_secs(5), fake.stop())
        .await
        .expect("stop does not wait for the hanging request");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    let outcome = tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .expect("the waiting request ends when the fake stops")
        .unwrap();
    assert!(
        outcome.is_err(),
        "the hanging request was answered: {outcome:?}"
    );
    assert_refused(port).await;
}

/// Start, a chat through ollama-rs, a probe, stop, and the port refuses connections.
async fn round_trip() {
    let fake = FakeOllama::start(&[MODEL]).await;
    let port = fake.port();
    assert_eq!(fake.url(), format!("http://127.0.0.1:{port}"));
    // From the URL string, as maia's settings give it.
    let ollama = Ollama::builder()
        .url(fake.url().as_str())
        .reqwest_client(http())
        .build();
    let response = ollama
        .send_chat_messages(ChatMessageRequest::new(
            MODEL.into(),
            vec![ChatMessage::user("ping".into())],
        ))
        .await
        .unwrap();
    assert_eq!(response.message.content, "echo: ping");
    let version: Value = http()
        .get(format!("{}/api/version", fake.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(version["version"], "0.12.0");
    fake.stop().await;
    assert_refused(port).await;

    // A second fake on the same runtime is independent.
    let again = FakeOllama::start(&[MODEL]).await;
    assert_ne!(again.port(), port);
    assert_eq!(again.chat_count(), 0);
    again.stop().await;
}

#[tokio::test]
async fn runs_under_a_current_thread_tokio_runtime() {
    round_trip().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn runs_under_a_multi_thread_tokio_runtime() {
    round_trip().await;
}

#[actix_web::test]
async fn runs_under_the_actix_runtime() {
    round_trip().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn dropping_the_fake_also_stops_it() {
    let fake = FakeOllama::start(&[MODEL]).await;
    let port = fake.port();
    let response = post_chat(&fake, &chat_body(MODEL, "hi", Some(false))).await;
    assert_eq!(response.status(), 200);
    drop(fake);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match tokio::net::TcpStream::connect(("127.0.0.1", port)).await {
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => break,
            _ if Instant::now() > deadline => panic!("the dropped fake still listens"),
            _ => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
}
