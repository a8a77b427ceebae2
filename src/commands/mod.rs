//! One module per subcommand; each returns the process exit code.

pub mod check;
pub mod dev;
pub mod healthcheck;
pub mod migrate;
pub mod serve;

/// A small runtime for commands that are not the server.
pub(crate) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime can always be built on a supported platform")
}
