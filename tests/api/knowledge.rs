//! Knowledge: documents added, listed, read and deleted; the hybrid search finding the
//! right note; and a PostgreSQL without pgvector, where knowledge says what it needs and
//! everything else works.

use serde_json::{json, Value};

use crate::kit::database::count_rows;
use crate::kit::knowledge::{
    bindir_without_pgvector, database_from, spawn_on, spawn_with_knowledge,
};
use crate::kit::tokens::{client_with, issue_token};
use crate::kit::{decode, error_code, TestApp};

/// A small vault (also `citations.rs`'s): each note about one thing, in the owner's words.
const CORPUS: &[(&str, &str)] = &[
    ("Backups", "# Backups\n\nThe PostgreSQL dump runs nightly at 01:15 with pg_dump. Two copies are kept on the NAS."),
    ("Sourdough", "# Sourdough\n\nFeed the starter with rye flour and water every morning. Bake the bread at 250 degrees."),
    ("Bike", "# Bike\n\nThe chain needs oil every 300 kilometres. Tyre pressure: 4 bar front, 4.5 bar rear."),
    ("Garden", "# Garden\n\nTomatoes go out after the last frost in May. Water the beans twice a week."),
    ("Passport", "# Passport\n\nThe passport expires in March 2031. Renew it at the town hall, with two photos."),
    ("Wifi", "# Network\n\nThe router is a Fritzbox in the hallway. The guest wifi password is on the fridge."),
];

pub async fn add_corpus(app: &TestApp) {
    for (title, content) in CORPUS {
        let (status, body) = app.add_document(title, content, None).await;
        assert_eq!(status, 201, "{body}");
    }
}

#[actix_web::test]
async fn the_right_note_ranks_first_for_each_question() {
    let Some(app) = spawn_with_knowledge().await else {
        return;
    };
    add_corpus(&app).await;
    for (question, expected) in [
        ("When does the database backup run?", "Backups"),
        ("How often should I oil the chain?", "Bike"),
        ("What flour do I feed the starter with?", "Sourdough"),
        ("When can the tomatoes go out?", "Garden"),
        ("Where do I renew my passport?", "Passport"),
        ("guest wifi password", "Wifi"),
    ] {
        let hits = app.search_hits(question, 3).await;
        assert_eq!(hits[0]["title"], expected, "{question}: {hits:#?}");
        let hit = &hits[0];
        assert!(
            hit["document_id"].is_string() && hit["chunk"].is_string(),
            "{hit}"
        );
        assert_eq!(hit["position"], 0);
        assert!(hit["score"].as_f64().unwrap() > 0.0);
    }
}

#[actix_web::test]
async fn a_document_is_added_listed_read_replaced_by_its_source_and_deleted_with_its_chunks() {
    let Some(app) = spawn_with_knowledge().await else {
        return;
    };
    let long = "## Part\n\nA paragraph about the cellar shelves. ".repeat(80);
    let (status, added) = app
        .add_document("Cellar", &long, Some("/vault/cellar.md"))
        .await;
    assert_eq!(status, 201, "{added}");
    assert_eq!(added["outcome"], "added");
    assert!(added["chunks"].as_i64().unwrap() > 1, "{added}");
    let id = added["id"].as_str().unwrap().to_string();

    let (_, again) = app
        .add_document("Cellar", &long, Some("/vault/cellar.md"))
        .await;
    assert_eq!(
        (again["outcome"].as_str(), again["id"].as_str()),
        (Some("unchanged"), Some(id.as_str()))
    );
    let (_, changed) = app
        .add_document(
            "Cellar",
            "Only the wine rack now.",
            Some("/vault/cellar.md"),
        )
        .await;
    assert_eq!(changed["outcome"], "updated");
    assert_eq!(
        (changed["id"].as_str(), changed["chunks"].as_i64()),
        (Some(id.as_str()), Some(1))
    );

    let (status, list) = app.get("/api/documents").await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["documents"].as_array().unwrap().len(), 1);
    let (status, one) = app.get(&format!("/api/documents/{id}")).await;
    assert_eq!(
        (status, one["content"].as_str()),
        (200, Some("Only the wine rack now."))
    );
    assert_eq!(one["source"], "/vault/cellar.md");

    let response = app
        .http
        .delete(app.url(&format!("/api/documents/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    assert_eq!(
        count_rows(&app.db_url, "chunks").await,
        0,
        "the chunks went with it"
    );
    let (status, body) = app.get(&format!("/api/documents/{id}")).await;
    assert_eq!((status, error_code(&body)), (404, "not_found"));
}

#[actix_web::test]
async fn a_token_sees_its_own_documents_and_the_owners_but_not_anothers() {
    let Some(app) = spawn_with_knowledge().await else {
        return;
    };
    let mine = issue_token(&app.db_url, "mine", &["query", "read"]).await;
    let theirs = issue_token(&app.db_url, "theirs", &["query", "read"]).await;
    let (me, them) = (client_with(&mine.token), client_with(&theirs.token));
    let add = |client: &reqwest::Client, title: &str| {
        client
            .post(app.url("/api/documents"))
            .json(&json!({ "title": title, "content": format!("{title} notes") }))
            .send()
    };
    assert_eq!(add(&me, "Private").await.unwrap().status(), 201);
    assert_eq!(add(&them, "Theirs").await.unwrap().status(), 201);
    let titles = |body: Value| -> Vec<String> {
        body["documents"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["title"].as_str().unwrap().to_string())
            .collect()
    };
    let (_, seen) = decode(me.get(app.url("/api/documents")).send().await.unwrap()).await;
    assert_eq!(titles(seen), ["Private"]);
    let (_, all) = app.get("/api/documents").await;
    assert_eq!(titles(all).len(), 2, "the admin token sees every one");
}

#[actix_web::test]
async fn bad_knowledge_requests_are_clear_4xx() {
    let Some(app) = spawn_with_knowledge().await else {
        return;
    };
    let long = format!("/api/search?q={}", "x".repeat(1025));
    for path in [
        "/api/search",
        "/api/search?q=%20",
        "/api/search?q=x&k=0",
        "/api/search?q=x&k=51",
        &long,
    ] {
        let (status, body) = app.get(path).await;
        assert_eq!(status, 422, "{path}: {body}");
    }
    let (status, body) = app.add_document(" ", "text", None).await;
    assert_eq!(
        (status, error_code(&body)),
        (422, "validation_failed"),
        "{body}"
    );
    let (status, body) = app
        .add_document("t", &"x".repeat(1024 * 1024 + 1), None)
        .await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("1 MiB"),
        "{body}"
    );
    let (status, _) = app
        .post_json(
            "/api/documents",
            &json!({ "title": "t", "content": "c", "tags": [] }),
        )
        .await;
    assert_eq!(status, 422);
    let (status, _) = app.get("/api/documents/not-a-uuid").await;
    assert_eq!(status, 400);
    let anonymous = app
        .anonymous
        .get(app.url("/api/search?q=x"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
}

#[actix_web::test]
async fn without_pgvector_knowledge_says_what_to_install_and_the_rest_works() {
    let Some(bindir) = bindir_without_pgvector() else {
        eprintln!("skipped: no PostgreSQL without pgvector on this machine");
        return;
    };
    let (_cluster, db) = database_from(bindir, "no-pgvector").await;
    let app = spawn_on(&db).await;
    for path in ["/api/documents", "/api/search?q=backups"] {
        let (status, body) = app.get(path).await;
        assert_eq!(
            (status, error_code(&body)),
            (503, "knowledge_unavailable"),
            "{body}"
        );
        let message = body["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("pgvector") && message.contains("install"),
            "{message}"
        );
        assert!(
            !message.contains("ERROR") && !message.contains("db error"),
            "{message}"
        );
    }
    let (status, body) = app.add_document("t", "c", None).await;
    assert_eq!((status, error_code(&body)), (503, "knowledge_unavailable"));
    let (status, body) = app.query(json!({ "query": "still here?" })).await;
    assert_eq!(status, 200, "every core feature works: {body}");
    let (status, _) = app.get("/api/health").await;
    assert_eq!(status, 200);
}
