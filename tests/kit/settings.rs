//! Settings for an app under test.

use maia::{Secret, Settings};

/// The models the kit's fake Ollama has, and the ones maia is configured with.
pub const MODEL: &str = "llama3.2:3b";
pub const DEEP_MODEL: &str = "qwen2.5:7b";

/// Where queries go.
pub const QUERY_PATH: &str = "/api/consciousness/query";

/// Settings against `db_url` and `ollama_url`, listening on a free loopback port, with
/// two workers, a small pool and short timeouts (2 s to connect and for Ollama's answer,
/// 10 s of shutdown grace), so that a failing test fails soon.
pub fn settings(db_url: &str, ollama_url: &str) -> Settings {
    let mut s = Settings::default();
    s.http.listen = "127.0.0.1:0".into();
    s.http.shutdown_grace = 10;
    s.http.workers = 2;
    s.database.url = Secret::new(db_url);
    s.database.pool_size = 4;
    s.database.connect_timeout = 2;
    s.ollama.url = ollama_url.to_string();
    s.ollama.model = MODEL.into();
    s.ollama.deep_model = Some(DEEP_MODEL.into());
    s.ollama.timeout = 2;
    // Load tests (R1 sends hundreds of queries a minute with one token) would trip the
    // per-token limit; the tests of that limit set it.
    s.auth.requests_per_minute = 0;
    s
}

/// A database URL on a loopback port nothing listens on (for "the database is down").
pub fn unreachable_database() -> String {
    format!("postgresql://maia@127.0.0.1:{}/x", super::http::free_port())
}

/// An Ollama URL on a loopback port nothing listens on (for "Ollama is down").
pub fn unreachable_ollama() -> String {
    format!("http://127.0.0.1:{}", super::http::free_port())
}

/// `s` pointed at a database that is not there, without migrating on start (the app
/// starts, and every request needing the database finds it down).
pub fn with_database_down(mut s: Settings) -> Settings {
    s.database.url = Secret::new(unreachable_database());
    s.database.migrate_on_start = false;
    s
}
