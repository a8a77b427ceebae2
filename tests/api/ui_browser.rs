//! The web UI in a real browser (headless Chromium over WebDriver, `kit::browser`), against
//! the app in-process and the fake Ollama: what a person does, step by step.

use std::time::Duration;

use serde_json::json;

use crate::kit::browser::{wait_some, Browser, ENTER};
use crate::kit::database::count_rows;
use crate::kit::knowledge::spawn_with_knowledge;
use crate::kit::tokens::{client_with, issue_token};
use crate::kit::{stored_traces, Behavior, Scratch, TestApp, DEEP_MODEL, MODEL, QUERY_PATH};

/// The text of the last answer on the page.
const LAST_ANSWER: &str = ".message.assistant:last-of-type .body";

/// Signs in with the app's token through the form, and waits for the conversations.
async fn sign_in(browser: &Browser, app: &TestApp) {
    sign_in_with(browser, app, &app.token).await;
}

async fn sign_in_with(browser: &Browser, app: &TestApp, token: &str) {
    browser.goto(&app.url("/")).await;
    browser.wait_shown("#sign-in").await;
    browser.type_into("#token", token).await;
    browser.click("#sign-in button[type=submit]").await;
    browser.wait_shown("nav[aria-label=Conversations]").await;
}

/// Waits until the conversations listed are `titles`, in that order.
async fn listed(browser: &Browser, titles: &[&str]) {
    let want = titles.join("\n");
    browser
        .wait_for(&format!("the conversations {titles:?}"), || async {
            browser.text("#conversation-list").await == want
        })
        .await;
}

/// What the page's script says `expression` is.
async fn page_value(browser: &Browser, expression: &str) -> serde_json::Value {
    browser.run(&format!("return {expression};")).await
}

/// Starts a conversation with the choices made, and waits for it to open.
async fn new_conversation(browser: &Browser) {
    browser.click("#new-conversation").await;
    browser.wait_shown("#chat").await;
}

/// Asks `question` in the open conversation by pressing Enter in the message box.
async fn ask(browser: &Browser, question: &str) {
    browser.type_into("#message", question).await;
    browser.type_into("#message", ENTER).await;
}

async fn answer_done(browser: &Browser) {
    browser
        .wait_for("the answer to end", || async {
            !browser.shown("#stop").await && browser.text("#message").await.is_empty()
        })
        .await;
}

/// Stops an answer mid-way with the Stop button: the page says so, and the trace is
/// `cancelled` with the text so far.
async fn stop_mid_answer(browser: &Browser, app: &TestApp) {
    app.ollama
        .set_behavior(Behavior::Trickle(Duration::from_millis(300)));
    ask(
        browser,
        "a long answer that will be stopped halfway through",
    )
    .await;
    browser
        .wait_for("the second answer to begin", || async {
            browser.text(LAST_ANSWER).await.starts_with("echo")
        })
        .await;
    browser.click("#stop").await;
    browser
        .wait_for("the page to say it stopped", || async {
            browser.text("#chat-error").await.starts_with("stopped")
        })
        .await;
    let cancelled = wait_some("the cancelled trace", || async {
        stored_traces(&app.db_url)
            .await
            .into_iter()
            .find(|t| t.status == "cancelled")
    })
    .await;
    assert!(cancelled.response.unwrap_or_default().starts_with("echo"));
    // The History view shows it, and a filter by status keeps it alone.
    browser.click("button[data-view=history-view]").await;
    browser.wait_shown("#history-view").await;
    browser.type_into("#history-status", "cancelled").await;
    browser
        .wait_for("the cancelled trace in History", || async {
            browser.text("#trace-list").await.starts_with("cancelled")
                && browser.text("#trace-list li:nth-child(2)").await.is_empty()
        })
        .await;
    browser.click("button[data-view=chat-view]").await;
}

/// The addresses the page loaded anything from that are not the app's.
async fn requests_elsewhere(browser: &Browser, app: &TestApp) -> serde_json::Value {
    browser
        .run(&format!(
            "return performance.getEntriesByType('resource').map(e => e.name)\
             .filter(n => !n.startsWith('{}/'))",
            app.address
        ))
        .await
}

#[tokio::test(flavor = "multi_thread")]
async fn sign_in_ask_watch_it_stream_stop_it_and_sign_out() {
    let app = TestApp::spawn().await;
    let Some(browser) = Browser::start(1280, 900).await else {
        return;
    };
    sign_in(&browser, &app).await;
    new_conversation(&browser).await;

    // A model writing a piece every 60 ms: the answer grows on the page as it is written.
    app.ollama
        .set_behavior(Behavior::Trickle(Duration::from_millis(60)));
    ask(&browser, "one two three four five six seven eight nine ten").await;
    browser
        .wait_for("the answer to begin", || async {
            !browser.text(LAST_ANSWER).await.is_empty()
        })
        .await;
    let early = browser.text(LAST_ANSWER).await;
    answer_done(&browser).await;
    let whole = browser.text(LAST_ANSWER).await;
    assert!(
        whole.len() > early.len() && whole.starts_with(&early),
        "it grew: {early:?}, then {whole:?}"
    );
    assert_eq!(
        whole,
        "echo: one two three four five six seven eight nine ten"
    );
    // The list is read again once the answer ends: the conversation is named after it.
    listed(
        &browser,
        &["one two three four five six seven eight nine ten"],
    )
    .await;

    stop_mid_answer(&browser, &app).await;

    browser.click("#sign-out").await;
    browser.wait_shown("#sign-in").await;
    assert!(!browser.shown("nav[aria-label=Conversations]").await);
    assert_eq!(
        requests_elsewhere(&browser, &app).await,
        serde_json::json!([])
    );
    browser.quit().await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn markup_in_an_answer_is_shown_as_text_and_never_run() {
    let app = TestApp::spawn().await;
    let Some(browser) = Browser::start(1280, 900).await else {
        return;
    };
    let hostile = "<script>window.ran = 1</script> <img src=x onerror=\"window.ran = 2\"> \
                   and **bold**\n\n```\n<b>code</b>\n```";
    app.ollama
        .set_behavior(Behavior::ReplyWith(hostile.to_string()));
    sign_in(&browser, &app).await;
    new_conversation(&browser).await;
    ask(&browser, "show me markup").await;
    answer_done(&browser).await;

    let answer = browser.text(LAST_ANSWER).await;
    assert!(
        answer.contains("<script>window.ran = 1</script>") && answer.contains("<img src=x"),
        "the markup is shown as text: {answer:?}"
    );
    let page = browser
        .run(
            "return { ran: window.ran === undefined ? null : window.ran, \
             elements: document.querySelectorAll('#messages script, #messages img').length, \
             bold: document.querySelectorAll('#messages strong').length, \
             copy: document.querySelectorAll('#messages .code .copy').length }",
        )
        .await;
    assert_eq!(
        page,
        serde_json::json!({ "ran": null, "elements": 0, "bold": 1, "copy": 1 })
    );
    browser.quit().await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_uploaded_note_is_found_and_cited_with_use_my_notes() {
    let Some(app) = spawn_with_knowledge().await else {
        return;
    };
    let Some(browser) = Browser::start(1280, 900).await else {
        return;
    };
    let notes = Scratch::new("ui-notes");
    let note = notes.path("backups.md");
    std::fs::write(
        &note,
        "# Backups\n\nThe nightly pg_dump runs at 02:30 and keeps 14 days.",
    )
    .unwrap();
    sign_in(&browser, &app).await;

    browser.click("button[data-view=knowledge-view]").await;
    browser
        .type_into("#note-files", note.to_str().unwrap())
        .await;
    browser.click("#upload-form button[type=submit]").await;
    browser
        .wait_for("the note in the documents", || async {
            browser.text("#document-list").await.contains("backups")
        })
        .await;
    browser.type_into("#search-words", "nightly pg_dump").await;
    browser.click("#search-form button[type=submit]").await;
    browser
        .wait_for("a search hit", || async {
            browser.text("#search-hits").await.contains("02:30")
        })
        .await;

    browser.click("button[data-view=chat-view]").await;
    browser.click("#use-notes").await;
    new_conversation(&browser).await;
    ask(&browser, "When does the nightly pg_dump run?").await;
    answer_done(&browser).await;
    browser.click(".citations a").await;
    browser
        .wait_for("the cited chunk opened", || async {
            browser
                .text(".citations blockquote")
                .await
                .contains("02:30")
        })
        .await;
    assert_eq!(browser.text(".citations a").await, "backups");
    browser.quit().await;
    app.stop().await;
}

/// A conversation on the page at `width` × `height`: nothing wider than the window (no
/// sideways scrolling on a phone). With `MAIA_UI_SCREENSHOTS` naming a directory, the
/// window is saved there as `ui-NAME.png` (the README's pictures).
async fn looks_right_at(name: &str, width: u32, height: u32) {
    let app = TestApp::spawn().await;
    let Some(browser) = Browser::start(width, height).await else {
        return;
    };
    app.ollama.set_behavior(Behavior::ReplyWith(
        "Nightly, with `pg_dump`:\n\n```\npg_dump -Fc maia > maia.dump\n```\n\nKeep 14 days."
            .into(),
    ));
    sign_in(&browser, &app).await;
    new_conversation(&browser).await;
    ask(&browser, "How should I back up PostgreSQL?").await;
    answer_done(&browser).await;
    let sideways = browser
        .run("const page = document.documentElement; return page.scrollWidth > page.clientWidth")
        .await;
    assert_eq!(
        sideways,
        serde_json::json!(false),
        "{name}: wider than the window"
    );
    if let Some(dir) = std::env::var_os("MAIA_UI_SCREENSHOTS") {
        let path = std::path::Path::new(&dir).join(format!("ui-{name}.png"));
        std::fs::write(&path, browser.screenshot().await).unwrap();
    }
    browser.quit().await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_conversation_fits_a_phone_and_a_desktop() {
    looks_right_at("phone", 390, 844).await;
    looks_right_at("desktop", 1280, 800).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn conversations_are_found_by_title_renamed_and_deleted() {
    let app = TestApp::spawn().await;
    let Some(browser) = Browser::start(1280, 900).await else {
        return;
    };
    sign_in(&browser, &app).await;
    for question in ["alpha plans", "beta plans"] {
        new_conversation(&browser).await;
        ask(&browser, question).await;
        answer_done(&browser).await;
    }
    listed(&browser, &["beta plans", "alpha plans"]).await;

    browser.type_into("#conversation-search", "ALPHA").await;
    listed(&browser, &["alpha plans"]).await;
    browser.clear("#conversation-search").await;
    browser.type_into("#conversation-search", " ").await;
    listed(&browser, &["beta plans", "alpha plans"]).await;

    browser.click("#rename").await;
    browser.answer_prompt("Beta, renamed").await;
    listed(&browser, &["Beta, renamed", "alpha plans"]).await;
    assert_eq!(browser.text("#conversation-title").await, "Beta, renamed");
    let (_, page) = app.get("/api/conversations").await;
    assert_eq!(page["conversations"][0]["title"], "Beta, renamed");

    // Cancel keeps it; OK deletes it with its messages and traces.
    browser.click("#delete").await;
    let asked = browser.confirm(false).await;
    assert!(asked.contains("Beta, renamed"), "{asked}");
    assert!(browser.shown("#chat").await);
    browser.click("#delete").await;
    browser.confirm(true).await;
    listed(&browser, &["alpha plans"]).await;
    assert!(!browser.shown("#chat").await);
    assert_eq!(count_rows(&app.db_url, "conversations").await, 1);
    let traces = stored_traces(&app.db_url).await;
    assert_eq!(
        traces.iter().map(|t| t.query.as_str()).collect::<Vec<_>>(),
        ["alpha plans"]
    );
    browser.quit().await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_persona_model_and_mode_pickers_choose_how_it_answers() {
    let app = TestApp::spawn().await;
    let Some(browser) = Browser::start(1280, 900).await else {
        return;
    };
    sign_in(&browser, &app).await;
    // Chosen before the conversation: it starts with them.
    browser.select("#persona", "pragmatist").await;
    browser.select("#mode", "deep").await;
    new_conversation(&browser).await;
    ask(&browser, "first").await;
    answer_done(&browser).await;
    let first = &stored_traces(&app.db_url).await[0];
    assert_eq!(
        (
            first.persona.as_deref(),
            first.mode.as_str(),
            first.model.as_str()
        ),
        (Some("pragmatist"), "deep", DEEP_MODEL)
    );

    // Changed in the open conversation: its next question is asked so.
    browser.select("#model", MODEL).await;
    browser.select("#persona", "").await;
    let conversation = || async {
        let (_, page) = app.get("/api/conversations").await;
        page["conversations"][0].clone()
    };
    wait_some("the conversation changed", || async {
        let now = conversation().await;
        (now["model"] == MODEL && now["persona"].is_null()).then_some(())
    })
    .await;
    ask(&browser, "second").await;
    answer_done(&browser).await;
    let second = &stored_traces(&app.db_url).await[0];
    assert_eq!(
        (
            second.persona.as_deref(),
            second.mode.as_str(),
            second.model.as_str()
        ),
        (None, "deep", MODEL)
    );

    // Opened again later, the pickers show the conversation's choices.
    browser.goto(&app.url("/")).await;
    browser.wait_shown("nav[aria-label=Conversations]").await;
    browser.click("#conversation-list button").await;
    browser.wait_shown("#chat").await;
    let pickers = "[persona.value, model.value, mode.value]";
    assert_eq!(
        page_value(&browser, pickers).await,
        json!(["", MODEL, "deep"])
    );
    browser.quit().await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn with_ollama_down_the_page_says_so_and_the_question_is_kept() {
    let app = TestApp::spawn_with_ollama_down().await;
    let Some(browser) = Browser::start(1280, 900).await else {
        return;
    };
    sign_in(&browser, &app).await;
    browser
        .wait_for("the status line to tell", || async {
            browser
                .text("#status")
                .await
                .ends_with("Ollama unavailable: answers cannot be written until it is back")
        })
        .await;
    new_conversation(&browser).await;
    ask(&browser, "is anyone there?").await;
    browser
        .wait_for("the page to say why there is no answer", || async {
            browser.text("#chat-error").await.contains("Ollama")
        })
        .await;
    assert!(browser.text("#messages").await.contains("is anyone there?"));
    let trace = &stored_traces(&app.db_url).await[0];
    assert_eq!(
        (trace.query.as_str(), trace.status.as_str()),
        ("is anyone there?", "failed")
    );
    assert!(!browser.shown("#stop").await);
    browser.quit().await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn history_deletes_a_trace_with_admin_and_says_why_not_without() {
    let app = TestApp::spawn().await;
    let Some(browser) = Browser::start(1280, 900).await else {
        return;
    };
    let reader = issue_token(&app.db_url, "reader", &["query", "read"]).await;
    let asked = client_with(&reader.token)
        .post(app.url(QUERY_PATH))
        .json(&json!({"query": "the reader's question"}))
        .send()
        .await
        .unwrap();
    assert_eq!(asked.status(), 200);
    app.query(json!({"query": "the admin's question"})).await;
    let history = |expected: &'static str| {
        let browser = &browser;
        async move {
            browser.click("button[data-view=history-view]").await;
            browser
                .wait_for(&format!("History to show {expected}"), || async {
                    browser.text("#trace-list").await.contains(expected)
                })
                .await;
        }
    };

    sign_in_with(&browser, &app, &reader.token).await;
    history("the reader's question").await;
    browser.click("#trace-list li:first-child button").await;
    browser
        .wait_for("the refusal", || async {
            browser
                .text("#history-error")
                .await
                .contains("\"admin\" scope")
        })
        .await;
    assert_eq!(stored_traces(&app.db_url).await.len(), 2);

    browser.click("#sign-out").await;
    sign_in(&browser, &app).await;
    history("the admin's question").await;
    browser.click("#trace-list li:first-child button").await;
    browser
        .wait_for("the trace gone from History", || async {
            !browser.text("#trace-list").await.contains("admin's")
        })
        .await;
    let left = stored_traces(&app.db_url).await;
    assert_eq!(
        left.iter().map(|t| t.query.as_str()).collect::<Vec<_>>(),
        ["the reader's question"]
    );
    browser.quit().await;
    app.stop().await;
}
