//! maia: a sovereign query service. A local LLM (Ollama) answers, PostgreSQL remembers.
#![forbid(unsafe_code)]

pub mod cli;
pub mod commands;
pub mod db;
pub mod domain;
pub mod error;
pub mod health;
pub mod llm;
pub mod pgcluster;
pub mod request_id;
pub mod routes;
pub mod settings;
pub mod sovereignty;
pub mod startup;
pub mod store;
pub mod telemetry;
