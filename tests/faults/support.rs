//! What the fault tests share: a cluster per test binary, settings, a `maia` process.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use maia::pgcluster::{Cluster, ClusterOptions};
use maia::settings::Settings;
use secrecy::SecretString;
use serde_json::Value;

pub const MODEL: &str = "llama3.2:3b";
pub const QUERY_PATH: &str = "/api/consciousness/query";

/// A cluster in a fresh directory of its own, removed when this test binary exits.
pub fn start_cluster(name: &str) -> Cluster {
    let dir = std::env::temp_dir().join(format!("maia-faults-{name}-{}", std::process::id()));
    let cluster = Cluster::start(&ClusterOptions {
        data_dir: dir,
        fresh: true,
        fsync: false,
    })
    .unwrap_or_else(|e| panic!("the fault tests need PostgreSQL: {e}"));
    cluster
        .remove_when_process_exits(std::process::id())
        .expect("cluster watchdog");
    cluster
}

/// The cluster the tests share (R1 has one of its own, to stop).
pub fn shared_cluster() -> &'static Cluster {
    static CLUSTER: OnceLock<Cluster> = OnceLock::new();
    CLUSTER.get_or_init(|| start_cluster("shared"))
}

/// A new, empty database in `cluster`; returns its URL.
pub async fn fresh_database(cluster: &Cluster) -> String {
    let name = format!("fault_{}", uuid::Uuid::new_v4().simple());
    cluster
        .ensure_database(&name)
        .await
        .expect("create database");
    cluster.url(&name)
}

pub async fn psql(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("connect to the test database");
    tokio::spawn(connection);
    client
}

/// `(id, status, error)` of every stored trace.
pub async fn stored_traces(db_url: &str) -> Vec<(uuid::Uuid, String, Option<String>, String)> {
    psql(db_url)
        .await
        .query(
            "SELECT id, status, error, query FROM consciousness_traces",
            &[],
        )
        .await
        .expect("select traces")
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect()
}

/// Settings for an in-process app on a free loopback port.
pub fn settings(db_url: &str, ollama_url: &str) -> Settings {
    let mut s = Settings::default();
    s.http.listen = "127.0.0.1:0".into();
    s.http.shutdown_grace = 10;
    s.http.workers = 2;
    s.database.url = SecretString::from(db_url.to_string());
    s.database.pool_size = 4;
    s.database.connect_timeout = 2;
    s.ollama.url = ollama_url.to_string();
    s.ollama.model = MODEL.into();
    s.ollama.timeout = 2;
    s
}

/// An HTTP client that never waits long: a fault test must end.
pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(15))
        .no_proxy()
        .build()
        .expect("HTTP client")
}

/// Status and JSON body (`Null` when empty); panics on a body that is not JSON.
pub async fn decode(r: reqwest::Response) -> (u16, Value) {
    let status = r.status().as_u16();
    let text = r.text().await.expect("body");
    let value = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text}"))
    };
    (status, value)
}

/// `error.code` of an error body, with the whole body in the panic if it has none.
pub fn error_code(body: &Value) -> &str {
    body["error"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("not an error body: {body}"))
}

/// A loopback port nothing listens on (at the time of asking).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `maia` with a clean environment: no stray MAIA_ variables from the caller.
pub fn maia() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_maia"));
    crate::clean_env::clear_maia_env(&mut c);
    c.stdin(Stdio::null()).stdout(Stdio::null());
    c
}

/// `maia serve` on `port` against `db_url` and `ollama_url`; its stderr goes to a file
/// that failing assertions show.
pub fn serve(port: u16, db_url: &str, ollama_url: &str) -> Process {
    let log = std::env::temp_dir().join(format!(
        "maia-faults-serve-{}-{port}.log",
        std::process::id()
    ));
    let file = std::fs::File::create(&log).expect("log file");
    let child = maia()
        .arg("serve")
        .env("MAIA_HTTP__LISTEN", format!("127.0.0.1:{port}"))
        .env("MAIA_HTTP__SHUTDOWN_GRACE", "10")
        .env("MAIA_DATABASE__URL", db_url)
        .env("MAIA_OLLAMA__URL", ollama_url)
        .env("MAIA_OLLAMA__MODEL", MODEL)
        .env("MAIA_LOG__LEVEL", "warn")
        .env("MAIA_LOG__FORMAT", "json")
        .stderr(file)
        .spawn()
        .expect("spawn maia serve");
    Process { child, log }
}

/// A `maia` process, killed if the test ends early.
pub struct Process {
    pub child: Child,
    pub log: PathBuf,
}

impl Process {
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `kill -SIGNAL pid`, as an operator or a service manager does it.
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{name} failed");
    }

    /// Waits for the process to exit, up to `limit`.
    pub async fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = tokio::time::Instant::now() + limit;
        while tokio::time::Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return Some(status);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        None
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}

/// Waits for `url` to answer 200, up to `limit`.
pub async fn wait_for_200(url: &str, limit: Duration) -> bool {
    let client = http();
    let deadline = tokio::time::Instant::now() + limit;
    while tokio::time::Instant::now() < deadline {
        if let Ok(r) = client.get(url).timeout(Duration::from_secs(1)).send().await {
            if r.status().as_u16() == 200 {
                return true;
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}
