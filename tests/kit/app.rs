//! The application in-process, on a free port, against a database and a fake Ollama.

use actix_web::dev::ServerHandle;
use maia::{Application, Settings};
use serde_json::Value;

use super::database::{fresh_database, Database};
use super::fake_ollama::FakeOllama;
use super::http::{decode, http_client};
use super::settings::QUERY_PATH;
use super::settings::{settings, unreachable_database, unreachable_ollama, with_database_down};
use super::tokens::{client_with, issue_token, new_token_text, ALL_SCOPES};
use super::traces::{stored_traces, Trace};

pub struct TestApp {
    /// `http://127.0.0.1:PORT`.
    pub address: String,
    pub port: u16,
    /// The database the app was started on.
    pub db_url: String,
    /// The fake Ollama handed to the app (its settings may point elsewhere).
    pub ollama: FakeOllama,
    /// A client that sends `token` with every request.
    pub http: reqwest::Client,
    /// A token with every scope (a well-formed unknown one when the database is down).
    pub token: String,
    /// A client that sends no credential.
    pub anonymous: reqwest::Client,
    pub handle: ServerHandle,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl TestApp {
    /// An app on a fresh database and a fake Ollama with the kit's models.
    pub async fn spawn() -> TestApp {
        let db: Database = fresh_database().await;
        let ollama = super::start_ollama().await;
        Self::spawn_with(settings(&db.url, &ollama.url()), ollama).await
    }

    /// An app on a fresh database whose Ollama is down: nothing listens at its URL (the
    /// fake it holds is never asked).
    pub async fn spawn_with_ollama_down() -> TestApp {
        let db = fresh_database().await;
        let s = settings(&db.url, &unreachable_ollama());
        Self::spawn_with(s, super::start_ollama().await).await
    }

    /// An app on a fresh database it does not migrate: every migration pending.
    pub async fn spawn_unmigrated() -> TestApp {
        Self::spawn_configured(|s| s.database.migrate_on_start = false).await
    }

    /// An app on a fresh database and a fake Ollama with the kit's models, its settings
    /// changed by `change` first.
    pub async fn spawn_configured(change: impl FnOnce(&mut Settings)) -> TestApp {
        let db: Database = fresh_database().await;
        let ollama = super::start_ollama().await;
        let mut s = settings(&db.url, &ollama.url());
        change(&mut s);
        Self::spawn_with(s, ollama).await
    }

    /// An app whose database is down: nothing listens at its URL, and it does not migrate
    /// on start, so it starts and finds the database unavailable on every request.
    pub async fn spawn_with_database_down() -> TestApp {
        let ollama = super::start_ollama().await;
        let s = with_database_down(settings(&unreachable_database(), &ollama.url()));
        Self::spawn_with(s, ollama).await
    }

    /// An app on `settings`, holding `ollama` for the test.
    pub async fn spawn_with(settings: Settings, ollama: FakeOllama) -> TestApp {
        super::log::init_in_process();
        let db_url = settings.database.url.expose().to_string();
        // A database the app migrated on start can hold a token.
        let database_up = settings.database.migrate_on_start;
        let app = Application::build(settings)
            .await
            .unwrap_or_else(|e| panic!("the app starts: {e}"));
        let port = app.port();
        let handle = app.handle();
        let server = tokio::spawn(app.run_until_stopped());
        let token = if database_up {
            issue_token(&db_url, "kit", ALL_SCOPES).await.token
        } else {
            new_token_text()
        };
        TestApp {
            address: format!("http://127.0.0.1:{port}"),
            port,
            db_url,
            ollama,
            http: client_with(&token),
            token,
            anonymous: http_client(),
            handle,
            server,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        let response = self.http.get(self.url(path)).send().await.expect("GET");
        decode(response).await
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> (u16, Value) {
        let response = self
            .http
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .expect("POST");
        decode(response).await
    }

    /// `POST path` with `body` (which asks for a stream): its events as they come.
    pub async fn stream(&self, path: &str, body: &Value) -> super::sse::EventStream {
        super::sse::open(&self.http, &self.url(path), body).await
    }

    /// `POST /api/conversations` with `body`: the new conversation's id.
    pub async fn start_conversation(&self, body: Value) -> String {
        let (status, conversation) = self.post_json("/api/conversations", &body).await;
        assert_eq!(status, 201, "{conversation}");
        conversation["id"].as_str().expect("an id").to_string()
    }

    /// `POST /api/consciousness/query` with `body`.
    pub async fn query(&self, body: Value) -> (u16, Value) {
        self.post_json(QUERY_PATH, &body).await
    }

    /// Every stored trace, newest first, straight from the table.
    pub async fn traces(&self) -> Vec<Trace> {
        stored_traces(&self.db_url).await
    }

    /// Stops the app gracefully and hands back its fake Ollama.
    pub async fn stop(self) -> FakeOllama {
        self.handle.stop(true).await;
        let _ = self.server.await;
        self.ollama
    }
}
