//! API tests: the application in-process, against a real PostgreSQL cluster of the test
//! binary's own and a fake Ollama speaking its wire protocol. Everything that runs the
//! `maia` binary is in `tests/cli`; breaking things on purpose is `tests/faults`.

#[path = "../kit/mod.rs"]
mod kit;

mod auth;
mod browser;
mod citations;
mod connections;
mod conversations;
mod council;
mod database;
mod export;
mod health;
mod http;
mod input;
mod knowledge;
mod llm_limits;
mod metrics;
mod migrations;
mod ollama_hosts;
mod ollama_stream;
mod openai;
mod openapi;
mod personas;
mod query;
mod retention;
mod session;
mod shutdown;
mod sovereignty;
mod streaming;
mod traces;
mod ui;
mod ui_browser;
mod upload;
