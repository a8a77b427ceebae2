//! PostgreSQL for tests: clusters, fresh databases, a client.

use std::path::PathBuf;
use std::sync::OnceLock;

use maia::{Cluster, ClusterOptions};

/// Starts a fresh cluster in `data_dir` (deleting what is there), stopped and deleted once
/// this process exits, even if it is killed. `fsync` off is much faster and not crash-safe.
pub fn start_cluster(data_dir: PathBuf, fsync: bool) -> anyhow::Result<Cluster> {
    start_cluster_from(data_dir, fsync, None)
}

/// [`start_cluster`] with the server programs in `bindir` (none: found as `maia dev`
/// finds them).
pub fn start_cluster_from(
    data_dir: PathBuf,
    fsync: bool,
    bindir: Option<PathBuf>,
) -> anyhow::Result<Cluster> {
    let cluster = Cluster::start(&ClusterOptions {
        data_dir,
        fresh: true,
        fsync,
        bindir,
    })?;
    cluster.remove_when_process_exits(std::process::id())?;
    Ok(cluster)
}

/// A cluster of the caller's own (to stop and start again), in a temporary directory
/// named after `name`.
pub fn own_cluster(name: &str) -> Cluster {
    let dir = std::env::temp_dir().join(format!("maia-test-{name}-{}", std::process::id()));
    start_cluster(dir, false).unwrap_or_else(|e| panic!("the tests need PostgreSQL: {e:#}"))
}

/// The cluster the tests of one binary share, started on first use.
pub fn shared_cluster() -> &'static Cluster {
    static CLUSTER: OnceLock<Cluster> = OnceLock::new();
    CLUSTER.get_or_init(|| own_cluster("shared"))
}

/// A database made for one test.
#[derive(Debug, Clone)]
pub struct Database {
    pub name: String,
    /// Over loopback TCP, as the cluster's superuser (its password in the URL).
    pub url: String,
}

/// A new, empty database in the shared cluster.
pub async fn fresh_database() -> Database {
    database_in(shared_cluster()).await
}

/// A new database in the shared cluster, migrated as `maia migrate` does it.
pub async fn migrated_database() -> Database {
    let db = fresh_database().await;
    let mut settings = maia::Settings::default();
    settings.database.url = maia::Secret::new(db.url.as_str());
    maia::migrate(&settings.database).await.expect("migrate");
    db
}

/// A new, empty database in `cluster`.
pub async fn database_in(cluster: &Cluster) -> Database {
    let name = format!("test_{}", uuid::Uuid::new_v4().simple());
    cluster
        .ensure_database(&name)
        .await
        .unwrap_or_else(|e| panic!("create database {name}: {e}"));
    Database {
        url: cluster.url(&name),
        name,
    }
}

/// A client connected to `url`; its connection runs on the caller's runtime.
pub async fn psql(url: &str) -> tokio_postgres::Client {
    connect(url)
        .await
        .unwrap_or_else(|e| panic!("connect to the test database: {e}"))
}

/// A client connected to `url`, or why the server (or the client) refused; its connection
/// runs on the caller's runtime.
pub async fn connect(url: &str) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    Ok(client)
}

/// The versions in the migration history, in order, one per recorded run (a migration
/// applied twice shows twice).
pub async fn applied_versions(url: &str) -> Vec<i32> {
    psql(url)
        .await
        .query(
            "SELECT version FROM refinery_schema_history ORDER BY version",
            &[],
        )
        .await
        .expect("read the migration history")
        .iter()
        .map(|row| row.get(0))
        .collect()
}

/// The versions `maia` embeds, in order.
pub fn embedded_versions() -> Vec<i32> {
    maia::embedded_migrations()
        .into_iter()
        .map(|(version, _)| version)
        .collect()
}

/// How many rows `table` holds.
pub async fn count_rows(url: &str, table: &str) -> usize {
    let count: i64 = psql(url)
        .await
        .query_one(&format!("SELECT COUNT(*) FROM {table}"), &[])
        .await
        .unwrap_or_else(|e| panic!("count {table}: {e}"))
        .get(0);
    usize::try_from(count).expect("a count is never negative")
}

/// Records a migration no maia knows (V999) in the migrated database at `url`: the mark a
/// newer maia leaves.
pub async fn record_future_migration(url: &str) {
    psql(url)
        .await
        .execute(
            "INSERT INTO refinery_schema_history (version, name, applied_on, checksum) \
             VALUES (999, 'from_a_newer_maia', now()::text, '0')",
            &[],
        )
        .await
        .expect("record a future migration");
}
