//! Knowledge under test: apps whose database has pgvector (or, on purpose, lacks it).
//!
//! The tests' PostgreSQL is found as `maia dev` finds it; where it has no pgvector (a
//! Debian machine without `MAIA_PG_BINDIR`), the knowledge tests say so and pass without
//! running, unless `MAIA_TEST_REQUIRE_PGVECTOR` is set (as `.ci/run` sets it): then they
//! fail.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use super::app::TestApp;
use super::database::{database_in, psql, start_cluster_from, Database};
use super::settings::settings;

/// Whether the server at `db_url` can load pgvector.
pub async fn has_pgvector(db_url: &str) -> bool {
    psql(db_url)
        .await
        .query_opt(
            "SELECT 1 FROM pg_available_extensions WHERE name = 'vector'",
            &[],
        )
        .await
        .expect("ask for pgvector")
        .is_some()
}

/// An app on a fresh database with knowledge set up, or none when the tests' PostgreSQL
/// has no pgvector (see the module).
pub async fn spawn_with_knowledge() -> Option<TestApp> {
    let app = TestApp::spawn().await;
    pgvector_or_skip(&app.db_url).await.then_some(app)
}

/// Whether the server at `db_url` has pgvector; if not, says the test is skipped (or
/// fails, when `MAIA_TEST_REQUIRE_PGVECTOR` is set).
pub async fn pgvector_or_skip(db_url: &str) -> bool {
    if has_pgvector(db_url).await {
        return true;
    }
    assert!(
        std::env::var_os("MAIA_TEST_REQUIRE_PGVECTOR").is_none(),
        "MAIA_TEST_REQUIRE_PGVECTOR is set and the tests' PostgreSQL has no pgvector: set \
         MAIA_PG_BINDIR to a server with it (see the README)"
    );
    eprintln!(
        "skipped: the tests' PostgreSQL has no pgvector (set MAIA_PG_BINDIR to one that has)"
    );
    false
}

/// Writes a vault of `count` small notes into `dir`, two to a folder, each about one
/// thing (`note 17` says so in its words): their paths, in the order of their names.
pub fn write_vault(dir: &Path, count: usize) -> Vec<PathBuf> {
    (0..count)
        .map(|n| {
            let folder = dir.join(format!("folder-{:05}", n / 2));
            std::fs::create_dir_all(&folder).expect("a folder of the vault");
            let path = folder.join(format!("note-{n:05}.md"));
            let text = format!(
                "---\ntags: [vault]\n---\n# Note {n}\n\nNote {n} is about topic{} and \
                 subject{}. See [[note-{:05}]].\n",
                n % 97,
                n % 13,
                (n + 1) % count
            );
            std::fs::write(&path, text).expect("a note of the vault");
            path
        })
        .collect()
}

/// A PostgreSQL server without pgvector (Debian's own, say), if this machine has one.
pub fn bindir_without_pgvector() -> Option<PathBuf> {
    maia::postgres_bindirs()
        .into_iter()
        .find(|b| !b.has_vector)
        .map(|b| b.path)
}

/// A fresh database in a cluster of its own started from `bindir`.
pub async fn database_from(bindir: PathBuf, name: &str) -> (maia::Cluster, Database) {
    let dir = std::env::temp_dir().join(format!("maia-test-{name}-{}", std::process::id()));
    let cluster = tokio::task::spawn_blocking(move || start_cluster_from(dir, false, Some(bindir)))
        .await
        .expect("the cluster's thread")
        .unwrap_or_else(|e| panic!("start PostgreSQL: {e:#}"));
    let db = database_in(&cluster).await;
    (cluster, db)
}

/// An app on `db` with the kit's settings and fake Ollama.
pub async fn spawn_on(db: &Database) -> TestApp {
    let ollama = super::start_ollama().await;
    TestApp::spawn_with(settings(&db.url, &ollama.url()), ollama).await
}

impl TestApp {
    /// `POST /api/documents` with this title, content and source: the status and body.
    pub async fn add_document(
        &self,
        title: &str,
        content: &str,
        source: Option<&str>,
    ) -> (u16, Value) {
        let mut body = json!({ "title": title, "content": content });
        if let Some(source) = source {
            body["source"] = json!(source);
        }
        self.post_json("/api/documents", &body).await
    }

    /// `GET /api/search?q=...&k=...`'s hits (asserting 200).
    pub async fn search_hits(&self, q: &str, k: usize) -> Vec<Value> {
        let url = reqwest::Url::parse_with_params(
            &self.url("/api/search"),
            &[("q", q), ("k", &k.to_string())],
        )
        .expect("a search URL");
        let response = self.http.get(url).send().await.expect("GET /api/search");
        let (status, body) = super::http::decode(response).await;
        assert_eq!(status, 200, "{body}");
        body["hits"].as_array().expect("hits").clone()
    }
}
