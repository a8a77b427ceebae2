use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use maia::pgcluster::{Cluster, ClusterOptions};
use maia::settings::Settings;
use maia::startup::Application;
use secrecy::SecretString;
use serde_json::Value;

use crate::fake_ollama::FakeOllama;

/// The models the fake Ollama has, and the one maia is configured with.
pub const MODEL: &str = "llama3.2:3b";
pub const DEEP_MODEL: &str = "qwen2.5:7b";

/// One cluster per test binary, removed when the binary exits.
pub fn cluster() -> &'static Cluster {
    static CLUSTER: OnceLock<Cluster> = OnceLock::new();
    CLUSTER.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("maia-test-{}", std::process::id()));
        let cluster = Cluster::start(&ClusterOptions {
            data_dir: dir,
            fresh: true,
            fsync: false,
        })
        .unwrap_or_else(|e| panic!("the tests need PostgreSQL: {e}"));
        cluster
            .remove_when_process_exits(std::process::id())
            .expect("watchdog");
        cluster
    })
}

/// A new, empty database in the test cluster; returns its URL.
pub async fn fresh_database() -> String {
    let cluster = cluster();
    let name = format!("test_{}", uuid::Uuid::new_v4().simple());
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

/// Settings pointing at `db_url` and `ollama_url`, listening on a free loopback port.
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
    s.ollama.deep_model = Some(DEEP_MODEL.into());
    s.ollama.timeout = 2;
    s
}

pub struct TestApp {
    pub address: String,
    pub db_url: String,
    pub ollama: FakeOllama,
    pub http: reqwest::Client,
    pub handle: actix_web::dev::ServerHandle,
    pub server: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        let db_url = fresh_database().await;
        let ollama = FakeOllama::start(&[MODEL, DEEP_MODEL]).await;
        Self::spawn_with(settings(&db_url, &ollama.url()), ollama).await
    }

    pub async fn spawn_with(settings: Settings, ollama: FakeOllama) -> TestApp {
        let db_url = secrecy::ExposeSecret::expose_secret(&settings.database.url).to_string();
        let app = Application::build(settings).await.expect("the app starts");
        let address = format!("http://127.0.0.1:{}", app.port());
        let handle = app.handle();
        let server = tokio::spawn(app.run_until_stopped());
        TestApp {
            address,
            db_url,
            ollama,
            http: reqwest::Client::new(),
            handle,
            server,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        let r = self.http.get(self.url(path)).send().await.expect("GET");
        decode(r).await
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> (u16, Value) {
        let r = self
            .http
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .expect("POST");
        decode(r).await
    }

    pub async fn query(&self, body: Value) -> (u16, Value) {
        self.post_json("/api/consciousness/query", &body).await
    }

    pub async fn stop(self) -> FakeOllama {
        self.handle.stop(true).await;
        let _ = self.server.await;
        self.ollama
    }

    /// Every stored trace, newest first, straight from the table.
    pub async fn traces_in_db(&self) -> Vec<tokio_postgres::Row> {
        psql(&self.db_url)
            .await
            .query(
                "SELECT id, query, response, status, error, model, mode, persona, \
                 prompt_tokens, completion_tokens FROM consciousness_traces \
                 ORDER BY created_at DESC",
                &[],
            )
            .await
            .expect("select traces")
    }
}

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

/// A loopback port nothing listens on.
pub fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn maia_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_maia"))
}

/// `maia` with a clean environment: no stray MAIA_ variables from the caller.
pub fn maia() -> Command {
    let mut c = Command::new(maia_bin());
    crate::clean_env::clear_maia_env(&mut c);
    c.stdin(Stdio::null());
    c
}

/// A `maia` process that is killed if the test ends early.
pub struct Process(pub Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(child.id().to_string())
        .status()
        .expect("kill");
    assert!(status.success());
}

/// Waits for `url` to answer 200, up to `limit`.
pub async fn wait_for_200(url: &str, limit: Duration) -> bool {
    let client = reqwest::Client::new();
    let deadline = tokio::time::Instant::now() + limit;
    while tokio::time::Instant::now() < deadline {
        if let Ok(r) = client.get(url).timeout(Duration::from_secs(1)).send().await {
            if r.status().as_u16() == 200 {
                return true;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

/// Waits for a child to exit, up to `limit`.
pub async fn wait_exit(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let deadline = tokio::time::Instant::now() + limit;
    while tokio::time::Instant::now() < deadline {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return Some(status);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}
