//! `maia` as a process: commands with a clean environment, and a child killed on drop.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use super::database::fresh_database;
use super::fake_ollama::FakeOllama;
use super::http::{free_port, wait_for_200};
use super::settings::MODEL;

/// How often `Process::wait_exit` looks.
const POLL: Duration = Duration::from_millis(20);

/// The `maia` binary cargo built for this test binary.
pub fn maia_bin() -> PathBuf {
    // Cargo sets it for integration tests only; the bench builds its own and uses `maia_at`.
    match option_env!("CARGO_BIN_EXE_maia") {
        Some(bin) => PathBuf::from(bin),
        None => panic!("no maia binary from cargo here: pass its path to `maia_at`"),
    }
}

/// `maia` (the test build) with a clean environment: see [`maia_at`].
pub fn maia() -> Command {
    maia_at(&maia_bin())
}

/// The `maia` binary at `bin`, with none of the caller's maia configuration in its
/// environment, no standard input, and `TEST_LOG`'s log level when it is set.
pub fn maia_at(bin: &Path) -> Command {
    let mut command = Command::new(bin);
    super::clean_env::clear_maia_env(&mut command);
    super::log::set_level(&mut command);
    command.stdin(Stdio::null());
    command
}

/// `command` made `serve` on `127.0.0.1:port`, against `db_url` and `ollama_url` with the
/// kit's model, and 10 s of shutdown grace.
pub fn serve(mut command: Command, port: u16, db_url: &str, ollama_url: &str) -> Command {
    command
        .arg("serve")
        .env("MAIA_HTTP__LISTEN", format!("127.0.0.1:{port}"))
        .env("MAIA_HTTP__SHUTDOWN_GRACE", "10")
        .env("MAIA_DATABASE__URL", db_url)
        .env("MAIA_OLLAMA__URL", ollama_url)
        .env("MAIA_OLLAMA__MODEL", MODEL);
    command
}

/// `maia serve` on a fresh database with `env`, ready: the process, its address, the
/// database's URL, and the fake Ollama it uses (held by the test while it serves).
pub async fn serving(env: &[(&str, &str)]) -> (Process, String, String, FakeOllama) {
    let db = fresh_database().await;
    let ollama = super::start_ollama().await;
    let port = free_port();
    let mut command = serve(maia(), port, &db.url, &ollama.url());
    command.envs(env.iter().copied());
    let server = Process::spawn(command);
    let base = format!("http://127.0.0.1:{port}");
    let ready = wait_for_200(&format!("{base}/readyz"), Duration::from_secs(20)).await;
    assert!(ready, "{}", server.log());
    (server, base, db.url, ollama)
}

/// [`maia`] started with an open-files limit of `soft`, and `hard` if given (else the
/// caller's), as a unit's `LimitNOFILE` or `ulimit -n` sets them (through `sh`, which then
/// becomes maia). A hard limit can only be lowered: a build sandbox may have a low one.
pub fn maia_with_open_files(soft: u64, hard: Option<u64>) -> Command {
    let hard = hard
        .map(|h| format!(" && ulimit -Hn {h}"))
        .unwrap_or_default();
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg(format!("ulimit -Sn {soft}{hard} && exec \"$0\" \"$@\""))
        .arg(maia_bin());
    super::clean_env::clear_maia_env(&mut command);
    super::log::set_level(&mut command);
    command.stdin(Stdio::null());
    command
}

/// Runs `command` to its end without blocking the runtime; its output, captured.
pub async fn output(command: Command) -> Output {
    tokio::process::Command::from(command)
        .output()
        .await
        .expect("run maia")
}

/// Standard output then standard error, as text (for assertion messages).
pub fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// A running process, killed (and its log removed) when dropped.
pub struct Process {
    child: Child,
    /// Where its output goes, when it is kept.
    log: Option<PathBuf>,
}

impl Process {
    /// Starts `command` with its standard output and error in a log file of its own (see
    /// [`Process::log`]), or on the test's standard error with `TEST_LOG`.
    pub fn spawn(mut command: Command) -> Process {
        if super::log::show_output(&mut command) {
            return Self::start(command, None);
        }
        static COUNT: AtomicUsize = AtomicUsize::new(0);
        let log = std::env::temp_dir().join(format!(
            "maia-test-{}-{}.log",
            std::process::id(),
            COUNT.fetch_add(1, Ordering::SeqCst)
        ));
        let file = std::fs::File::create(&log).expect("a log file");
        let copy = file.try_clone().expect("a second handle on the log file");
        command.stdout(file).stderr(copy);
        Self::start(command, Some(log))
    }

    /// Starts `command` with its output discarded (or on standard error with `TEST_LOG`):
    /// for measurements, which must not pay for writing a log.
    pub fn spawn_discarding_output(mut command: Command) -> Process {
        if !super::log::show_output(&mut command) {
            command.stdout(Stdio::null()).stderr(Stdio::null());
        }
        Self::start(command, None)
    }

    fn start(mut command: Command, log: Option<PathBuf>) -> Process {
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("start {:?}: {e}", command.get_program()));
        Process { child, log }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What it wrote so far (empty when its output is not kept).
    pub fn log(&self) -> String {
        self.log
            .as_ref()
            .and_then(|path| std::fs::read_to_string(path).ok())
            .unwrap_or_default()
    }

    /// `kill -NAME pid`, as an operator or a service manager does it.
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.pid().to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{name} {} failed", self.pid());
    }

    /// Waits for it to exit, up to `limit`.
    pub async fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = tokio::time::Instant::now() + limit;
        while tokio::time::Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return Some(status);
            }
            tokio::time::sleep(POLL).await;
        }
        None
    }

    /// SIGTERM, then waits for it to exit, up to `limit`.
    pub async fn terminate(&mut self, limit: Duration) -> Option<ExitStatus> {
        self.signal("TERM");
        self.wait_exit(limit).await
    }

    /// SIGTERM; asserts it exits 0 within `limit` (its log in the message if not).
    pub async fn assert_stops_cleanly(&mut self, limit: Duration) {
        let status = self.terminate(limit).await;
        assert!(
            status.is_some_and(|s| s.success()),
            "after SIGTERM: {status:?}; its log:\n{}",
            self.log()
        );
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(log) = &self.log {
            let _ = std::fs::remove_file(log);
        }
    }
}

/// `maia serve` on `db_url` (migrated on start) and `ollama_url` with `grace` seconds of
/// shutdown grace and the environment `more`, once ready: the process and its base URL.
pub async fn serve_when_ready(
    db_url: &str,
    ollama_url: &str,
    grace: u64,
    more: &[(&str, &str)],
) -> (Process, String) {
    let port = super::http::free_port();
    let mut command = serve(maia(), port, db_url, ollama_url);
    command.env("MAIA_HTTP__SHUTDOWN_GRACE", grace.to_string());
    command.envs(more.iter().copied());
    let server = Process::spawn(command);
    let base = format!("http://127.0.0.1:{port}");
    assert!(
        super::http::wait_for_200(&format!("{base}/readyz"), Duration::from_secs(20)).await,
        "never ready; its log:\n{}",
        server.log()
    );
    (server, base)
}
