//! maia: a sovereign query service. A local LLM (Ollama) answers, PostgreSQL remembers.
//!
//! Layers, each using only those below it: `cli` → `http` → `service` (with `health`) →
//! `store`, `llm`, `sovereignty` → `config`, `tls` → `domain` (values that know no other module,
//! so the configuration checks model names as requests do). `dev` is `maia dev`'s private
//! PostgreSQL. Only what the binary, the tests and the bench use is public, so the
//! compiler reports dead code everywhere else.
#![forbid(unsafe_code)]

mod cli;
mod config;
mod dev;
mod domain;
mod health;
mod http;
mod llm;
mod metrics;
mod service;
mod sovereignty;
mod store;
mod telemetry;
mod tls;

pub use cli::{run, Cli};
pub use config::{LogFormat, LogSettings, Secret, Settings};
pub use dev::{postgres_bindirs, Bindir, Cluster, ClusterOptions};
pub use http::Application;
pub use store::{embedded_migrations, migrate, migration_status, Migration, MigrationStatus};
pub use telemetry::{init as init_logging, Sink};
