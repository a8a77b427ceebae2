//! HTTP: the application (factory and server), its state, routes, middleware and the
//! mapping of every error to a status.

mod app;
mod auth;
mod body_deadline;
mod browser;
mod connections;
mod disconnect;
mod error;
mod extract;
mod head_limit;
mod metrics;
mod open_files;
mod openai_errors;
mod paths;
mod request_id;
mod routes;
mod schema;
mod sse;
mod state;
mod ui;
mod upload;

pub use app::{Application, StartupError};
