//! `maia dev`'s private PostgreSQL cluster (also the tests' and the bench's).

mod bindir;
mod cluster;
mod error;
mod unprivileged;

pub use cluster::{Cluster, ClusterOptions};
