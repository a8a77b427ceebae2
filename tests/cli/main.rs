//! CLI tests: the `maia` binary as a process, as users and service managers run it, against
//! a real PostgreSQL cluster of the test binary's own and a fake Ollama. `maia config`,
//! `check`, `migrate`, `healthcheck`, `dev`, `token`, `personas`, `purge`, `export` and `import`, and `serve` (over a unix
//! socket, refusing a public database, answering the official `openai` Python client). The
//! API in-process is `tests/api`.

#[path = "../kit/mod.rs"]
mod kit;

mod auth;
mod check;
mod config;
mod database_tls;
mod dev;
mod docs;
mod export;
mod failure_log;
mod healthcheck;
mod limits;
mod logs;
mod migrate;
mod openai_sdk;
mod openapi;
mod personas;
mod purge;
mod sovereignty;
mod token;
mod unix_socket;
