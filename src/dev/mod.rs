//! `maia dev`'s private PostgreSQL cluster (also the tests' and the bench's).

mod admin;
mod auth;
mod bindir;
mod cluster;
mod error;
mod passwords;
mod process;
mod unprivileged;

pub use bindir::{candidates as postgres_bindirs, Bindir};
pub use cluster::{Cluster, ClusterOptions};
