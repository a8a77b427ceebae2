//! Integration tests: the application in-process (or as a process) against a real
//! PostgreSQL cluster of the test binary's own and a fake Ollama speaking its wire protocol.

#[path = "../support/clean_env.rs"]
mod clean_env;
#[path = "../support/fake_ollama.rs"]
mod fake_ollama;
mod helpers;

mod cli;
mod config;
mod health;
mod input;
mod migrations;
mod query;
mod shutdown;
mod sovereignty;
mod traces;
mod unix_socket;
