//! The test kit: what the integration tests (`tests/*`) and the benchmark
//! (`examples/bench.rs`) share, written once. Include it with
//! `#[path = "../kit/mod.rs"] mod kit;` from a test binary's `main.rs` (`"kit/mod.rs"` from a
//! single-file test, `"../tests/kit/mod.rs"` from an example). It is a directory with no
//! `main.rs`, so cargo does not build it as a test of its own.
//!
//! - [`database`]: the test binary's PostgreSQL cluster (one per binary, removed when the
//!   binary exits), a cluster of one's own for tests that stop it, a fresh database per
//!   test (or one migrated already), a `psql` client and the migration history.
//! - [`settings`]: settings for an app on a free loopback port against a database and a
//!   fake Ollama, with short timeouts.
//! - [`app`]: [`TestApp`], the application in-process on such settings.
//! - [`browser`]: headless Chromium over WebDriver, for the UI.
//! - [`process`]: `maia` as a process: a [`Command`](std::process::Command) with a clean
//!   environment, a [`Process`] killed on drop (signals, waiting for its exit, its log).
//! - [`http`]: an HTTP client that never waits long, `decode`, `error_code`, `wait_for_200`,
//!   `free_port`.
//! - [`raw`]: HTTP by hand over one connection: bodies held back or trickled, answers never
//!   read, connections kept open, other loopback addresses as other clients.
//! - [`export`]: a database with rows of every kind (more than a page of some), `maia
//!   export` and `maia import`.
//! - [`retention`]: traces and conversations of a chosen age, and which of them remain.
//! - [`tokens`]: access tokens stored for a test, and clients that send them.
//! - [`traces`]: the rows of `consciousness_traces` as a typed [`Trace`].
//! - [`sse`]: a streamed answer read event by event.
//! - [`scratch`]: a temporary directory removed on drop.
//! - [`fake_ollama`]: an in-process Ollama speaking its wire protocol.
//! - [`knowledge`]: apps with pgvector (the knowledge tests skip, or fail when told to,
//!   without it), and a cluster from a PostgreSQL that lacks it.
//! - [`embeddings`]: the fake's embeddings, a hashed bag of words that carries meaning.
//! - [`silent_ollama`]: an "Ollama" that never answers and notes when maia hangs up.
//! - [`stall_proxy`]: a TCP proxy that can stop forwarding, as a stopped database does.
//! - [`TEST_CA_PEM`]: a CA certificate, for a `database.ca_file` that must be valid.
//!
//! # Logs: `TEST_LOG`
//!
//! Tests are quiet by default: in-process apps install no logger, and a `maia` [`Process`]
//! writes to a log file that failing assertions print (`Process::log`), or nowhere in the
//! benchmark. With `TEST_LOG` set, in-process apps log to standard error through
//! `maia::init_logging`, and every `maia` command runs with that log level: a [`Process`]
//! writes everything to the test's standard error, while a command run to its end
//! (`process::output`) keeps its output captured, since the test reads it. The level is
//! `TEST_LOG`'s value, an env-filter directive (`TEST_LOG=maia=trace,actix_web=info`), or
//! `debug` when the value is empty, `1` or `true`:
//!
//! ```sh
//! TEST_LOG=1 cargo test --test api a_query_is_answered
//! TEST_LOG=maia=info cargo test --test faults sigterm
//! ```
//!
//! The lines go straight to standard error, so libtest's capture does not hold them back.
#![allow(
    dead_code,
    unused_imports,
    reason = "shared by several test binaries and the bench; each uses only part of it"
)]

pub mod app;
pub mod browser;
pub mod clean_env;
pub mod database;
pub mod embeddings;
pub mod export;
pub mod fake_ollama;
pub mod http;
pub mod knowledge;
pub mod log;
pub mod process;
pub mod raw;
pub mod retention;
pub mod scratch;
pub mod settings;
pub mod silent_ollama;
pub mod sse;
pub mod stall_proxy;
pub mod tokens;
pub mod traces;

pub use app::TestApp;
pub use database::{fresh_database, migrated_database, psql, Database};
pub use fake_ollama::{Behavior, FakeOllama};
pub use http::{decode, error_code, free_port, http_client, wait_for_200, wait_until};
pub use process::{maia, Process};
pub use scratch::Scratch;
pub use settings::{settings, DEEP_MODEL, MODEL, QUERY_PATH};
pub use traces::{stored_traces, Trace};

/// A self-signed CA certificate (PEM) for a valid `database.ca_file`: maia parses it, no
/// test connects with it (its key was thrown away when it was made).
pub const TEST_CA_PEM: &str = include_str!("test-ca.pem");

/// A fake Ollama that has the models the kit's settings name (the embedding one too).
pub async fn start_ollama() -> FakeOllama {
    FakeOllama::start(&[MODEL, DEEP_MODEL, embeddings::EMBED_MODEL]).await
}
