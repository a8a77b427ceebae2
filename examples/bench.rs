//! Benchmarks: maia against baselines, side by side on this machine, in one run.
//!
//! ```sh
//! cargo run --release --example bench -- [--quick]
//! ```
//!
//! Builds the release binary, then starts everything itself on loopback: a PostgreSQL
//! cluster the way `maia dev` does (fsync on), a fast fake Ollama (the test suite's), `maia
//! serve` as a process of its own, and a baseline server (this program, `bench baseline`):
//! a bare actix-web handler returning a constant, and `/direct`, the same Ollama chat call
//! made with reqwest plus one trace INSERT made with tokio-postgres. Load comes from `wrk`
//! (Debian: `apt-get install wrk`), with the same threads, connections and duration for
//! both sides. Figures go to standard output, one line each; progress to standard error.
//! Exits 1 if a figure misses its target. The image's size comes from the archive `oci/smoke`
//! writes; this program does not build it, and without it that line only says so.

#[path = "../tests/support/clean_env.rs"]
mod clean_env;
#[path = "../tests/support/fake_ollama.rs"]
mod fake_ollama;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use actix_web::{web, App, HttpResponse, HttpServer};
use maia::pgcluster::{Cluster, ClusterOptions};
use secrecy::SecretString;
use serde_json::{json, Value};

const MODEL: &str = "llama3.2:3b";
const QUERY: &str = "What should I check before a database upgrade?";
/// wrk's threads and connections: the same for every pair of runs.
const WRK_THREADS: &str = "2";
const HEALTH_CONNECTIONS: &str = "64";
const QUERY_CONNECTIONS: &str = "16";
const MB: f64 = 1_000_000.0;
/// The amd64 image as `oci/smoke` writes it (a gzip-compressed docker-archive).
const IMAGE_ARCHIVE: &str = "target/oci/image-amd64.tar.gz";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("baseline") => baseline(&args[1..]),
        Some("-h" | "--help") => {
            eprintln!("usage: bench [--quick] | bench baseline LISTEN DB_URL OLLAMA_URL");
            ExitCode::SUCCESS
        }
        _ => {
            let quick = args.iter().any(|a| a == "--quick");
            match run(quick) {
                Ok(true) => ExitCode::SUCCESS,
                Ok(false) => ExitCode::FAILURE,
                Err(e) => {
                    eprintln!("bench: {e:#}");
                    ExitCode::from(2)
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// The baseline server.

struct Direct {
    http: reqwest::Client,
    chat_url: String,
    pool: deadpool_postgres::Pool,
}

/// `bench baseline LISTEN DB_URL OLLAMA_URL`: `/bare` and `/direct`.
fn baseline(args: &[String]) -> ExitCode {
    let [listen, db_url, ollama_url] = args else {
        eprintln!("usage: bench baseline LISTEN DB_URL OLLAMA_URL");
        return ExitCode::from(2);
    };
    let config: tokio_postgres::Config = db_url.parse().expect("a database URL");
    let manager = deadpool_postgres::Manager::new(config, tokio_postgres::NoTls);
    // maia's default pool size.
    let pool = deadpool_postgres::Pool::builder(manager)
        .max_size(16)
        .build()
        .expect("a pool");
    let state = web::Data::new(Direct {
        http: reqwest::Client::builder().no_proxy().build().unwrap(),
        chat_url: format!("{ollama_url}/api/chat"),
        pool,
    });
    let result = actix_web::rt::System::new().block_on(async move {
        HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .route("/bare", web::get().to(bare))
                .route("/direct", web::post().to(direct))
        })
        .bind(listen.as_str())?
        .run()
        .await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("baseline: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn bare() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(r#"{"status":"healthy"}"#)
}

/// The same work as a query, written directly: one chat call, one INSERT.
async fn direct(state: web::Data<Direct>, body: web::Json<Value>) -> HttpResponse {
    let Some(query) = body["query"].as_str() else {
        return HttpResponse::BadRequest().finish();
    };
    let started = Instant::now();
    let request = json!({
        "model": MODEL,
        "messages": [
            {"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": query},
        ],
        "stream": false,
    });
    let answer: Value = match state.http.post(&state.chat_url).json(&request).send().await {
        Ok(r) => match r.json().await {
            Ok(v) => v,
            Err(_) => return HttpResponse::BadGateway().finish(),
        },
        Err(_) => return HttpResponse::BadGateway().finish(),
    };
    let content = answer["message"]["content"].as_str().unwrap_or_default();
    let latency_ms = i32::try_from(started.elapsed().as_millis()).unwrap_or(i32::MAX);
    let id = uuid::Uuid::new_v4();
    let Ok(db) = state.pool.get().await else {
        return HttpResponse::ServiceUnavailable().finish();
    };
    let inserted = db
        .query_one(
            "INSERT INTO consciousness_traces (id, query, response, mode, model, status, latency_ms) \
             VALUES ($1, $2, $3, 'fast', $4, 'ok', $5) RETURNING created_at",
            &[&id, &query, &content, &MODEL, &latency_ms],
        )
        .await;
    match inserted {
        Ok(row) => {
            let created_at: chrono::DateTime<chrono::Utc> = row.get(0);
            HttpResponse::Ok().json(json!({
                "id": id,
                "response": content,
                "model": MODEL,
                "latency_ms": latency_ms,
                "created_at": created_at,
            }))
        }
        Err(_) => HttpResponse::ServiceUnavailable().finish(),
    }
}

// ---------------------------------------------------------------------------------------
// The runner.

/// A process stopped (SIGTERM, then SIGKILL) when dropped.
struct Proc(Child);

impl Proc {
    fn pid(&self) -> u32 {
        self.0.id()
    }

    fn terminate(&mut self) -> Option<std::process::ExitStatus> {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.pid().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.0.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        None
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if self.0.try_wait().ok().flatten().is_none() && self.terminate().is_none() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// One `GET path` on a fresh connection: the status, or `None` if nothing answered.
fn get_status(port: u16, path: &str) -> Option<u16> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).ok()?;
    std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
}

/// Polls `path` every 2 ms until it answers 200; the time that took.
fn wait_200(port: u16, path: &str, limit: Duration) -> anyhow::Result<Duration> {
    let started = Instant::now();
    while started.elapsed() < limit {
        if get_status(port, path) == Some(200) {
            return Ok(started.elapsed());
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    anyhow::bail!("127.0.0.1:{port}{path} was not 200 within {limit:?}")
}

/// VmRSS of a process, in bytes.
fn rss(pid: u32) -> anyhow::Result<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no VmRSS for {pid}"))?;
    Ok(kb * 1024.0)
}

/// What one wrk run measured.
#[derive(Debug, Clone, Copy)]
struct Load {
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
    /// Non-2xx answers plus socket errors.
    errors: u64,
}

fn wrk(url: &str, connections: &str, seconds: u64, script: Option<&Path>) -> anyhow::Result<Load> {
    let mut command = Command::new("wrk");
    command
        .args(["-t", WRK_THREADS, "-c", connections])
        .arg("-d")
        .arg(format!("{seconds}s"))
        .arg("--latency");
    if let Some(script) = script {
        command.arg("-s").arg(script);
    }
    let output = command.arg(url).stderr(Stdio::inherit()).output();
    let output = match output {
        Ok(o) => o,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            anyhow::bail!("wrk is not installed (Debian/Ubuntu: apt-get install wrk)")
        }
        Err(e) => return Err(e.into()),
    };
    let text = String::from_utf8_lossy(&output.stdout).to_string();
    if !output.status.success() {
        anyhow::bail!("wrk failed on {url}:\n{text}");
    }
    parse_wrk(&text).ok_or_else(|| anyhow::anyhow!("unreadable wrk output for {url}:\n{text}"))
}

fn parse_wrk(text: &str) -> Option<Load> {
    let duration_ms = |v: &str| -> Option<f64> {
        let (number, factor) = if let Some(n) = v.strip_suffix("us") {
            (n, 0.001)
        } else if let Some(n) = v.strip_suffix("ms") {
            (n, 1.0)
        } else if let Some(n) = v.strip_suffix('m') {
            (n, 60_000.0)
        } else if let Some(n) = v.strip_suffix('s') {
            (n, 1000.0)
        } else {
            return None;
        };
        number.parse::<f64>().ok().map(|n| n * factor)
    };
    let percentile = |p: &str| {
        text.lines()
            .map(str::split_whitespace)
            .find_map(|mut words| (words.next() == Some(p)).then(|| words.next()).flatten())
            .and_then(duration_ms)
    };
    let rps = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())?;
    let non_2xx: u64 = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Non-2xx or 3xx responses:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    // "Socket errors: connect 0, read 0, write 0, timeout 0"
    let socket_errors: u64 = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Socket errors:"))
        .map(|v| {
            v.split(',')
                .filter_map(|part| part.split_whitespace().nth(1)?.parse::<u64>().ok())
                .sum()
        })
        .unwrap_or(0);
    Some(Load {
        rps,
        p50_ms: percentile("50%")?,
        p99_ms: percentile("99%")?,
        errors: non_2xx + socket_errors,
    })
}

/// Runs wrk on `a` and `b` alternately, `rounds` times each, and averages each side.
fn side_by_side(
    a: &str,
    b: &str,
    connections: &str,
    seconds: u64,
    rounds: usize,
    script: Option<&Path>,
) -> anyhow::Result<(Load, Load)> {
    // Warm both up (connections, caches, the pool) before measuring.
    wrk(a, connections, 1, script)?;
    wrk(b, connections, 1, script)?;
    let mut runs_a = Vec::new();
    let mut runs_b = Vec::new();
    for round in 0..rounds {
        // Alternate which goes first, so drift in the machine hits both sides alike.
        if round % 2 == 0 {
            runs_a.push(wrk(a, connections, seconds, script)?);
            runs_b.push(wrk(b, connections, seconds, script)?);
        } else {
            runs_b.push(wrk(b, connections, seconds, script)?);
            runs_a.push(wrk(a, connections, seconds, script)?);
        }
    }
    Ok((mean(&runs_a), mean(&runs_b)))
}

fn mean(runs: &[Load]) -> Load {
    let n = runs.len() as f64;
    Load {
        rps: runs.iter().map(|r| r.rps).sum::<f64>() / n,
        p50_ms: runs.iter().map(|r| r.p50_ms).sum::<f64>() / n,
        p99_ms: runs.iter().map(|r| r.p99_ms).sum::<f64>() / n,
        errors: runs.iter().map(|r| r.errors).sum(),
    }
}

/// The P5 line for the image archive of `gzip_size` bytes and whether it meets its target;
/// an archive not built yet is reported, not a miss.
fn image_figure(gzip_size: Option<u64>) -> (String, Option<bool>) {
    match gzip_size {
        Some(size) => {
            let size = size as f64;
            let ok = size <= 8.0 * MB;
            (
                format!(
                    "P5 image_gzip size={:.1}MB target<=8MB {}",
                    size / MB,
                    verdict(ok)
                ),
                Some(ok),
            )
        }
        None => (
            "P5 image_gzip not built (run oci/smoke) report".into(),
            None,
        ),
    }
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "PASS"
    } else {
        "FAIL"
    }
}

/// `maia` with none of the caller's configuration in its environment.
fn maia_command(bin: &Path) -> Command {
    let mut c = Command::new(bin);
    clean_env::clear_maia_env(&mut c);
    c.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    c
}

fn spawn_maia(bin: &Path, port: u16, db_url: &str, ollama_url: &str) -> anyhow::Result<Proc> {
    Ok(Proc(
        maia_command(bin)
            .arg("serve")
            .env("MAIA_HTTP__LISTEN", format!("127.0.0.1:{port}"))
            .env("MAIA_DATABASE__URL", db_url)
            .env("MAIA_OLLAMA__URL", ollama_url)
            .env("MAIA_OLLAMA__MODEL", MODEL)
            .spawn()?,
    ))
}

/// Builds the release binary next to this program's own; its path.
fn build_maia() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    // target/release/examples/bench -> target/release/maia
    let release = exe
        .parent()
        .and_then(Path::parent)
        .ok_or_else(|| anyhow::anyhow!("cannot place {}", exe.display()))?;
    let mut cargo = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    // `cargo run` hands this program the package's CARGO_PKG_* and the like; build scripts
    // that watch those would rebuild on every switch between `cargo run` and a plain run.
    for (k, _) in std::env::vars() {
        if k.starts_with("CARGO_PKG_")
            || k.starts_with("CARGO_MANIFEST_")
            || [
                "CARGO_CRATE_NAME",
                "CARGO_BIN_NAME",
                "CARGO_PRIMARY_PACKAGE",
                "OUT_DIR",
            ]
            .contains(&k.as_str())
        {
            cargo.env_remove(k);
        }
    }
    let status = cargo
        .args(["build", "--release", "--bin", "maia"])
        .env("CARGO_TARGET_DIR", release.parent().unwrap_or(release))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status();
    let bin = release.join("maia");
    match status {
        Ok(s) if s.success() => Ok(bin),
        _ if bin.exists() => {
            eprintln!(
                "bench: cargo build failed or is missing; using {}",
                bin.display()
            );
            Ok(bin)
        }
        _ => anyhow::bail!("cannot build the release binary"),
    }
}

/// Size of `bin` once stripped (a stripped copy, so an unstripped build is not flattered).
fn stripped_size(bin: &Path, scratch: &Path) -> anyhow::Result<f64> {
    let copy = scratch.join("maia.stripped");
    let stripped = Command::new("strip")
        .arg("-o")
        .arg(&copy)
        .arg(bin)
        .status()
        .is_ok_and(|s| s.success());
    let path = if stripped { copy.as_path() } else { bin };
    Ok(std::fs::metadata(path)?.len() as f64)
}

fn median(mut values: Vec<Duration>) -> Duration {
    values.sort();
    values[values.len() / 2]
}

fn machine() -> String {
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|v| v.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    format!("{cpus} CPUs, {model}")
}

fn run(quick: bool) -> anyhow::Result<bool> {
    let (seconds, rounds, starts) = if quick { (4, 2, 5) } else { (10, 3, 11) };
    eprintln!(
        "bench: {} mode on {}",
        if quick { "quick" } else { "full" },
        machine()
    );
    let bin = build_maia()?;
    let scratch = std::env::temp_dir().join(format!("maia-bench-{}", std::process::id()));
    std::fs::create_dir_all(&scratch)?;

    eprintln!("bench: starting PostgreSQL");
    let mut cluster = Cluster::start(&ClusterOptions {
        data_dir: scratch.join("pg"),
        fresh: true,
        fsync: true,
    })?;
    cluster.remove_when_process_exits(std::process::id())?;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let ollama = runtime.block_on(fake_ollama::FakeOllama::start(&[MODEL]));
    let ollama_url = ollama.url();

    let mut lines = Vec::new();
    let mut all_pass = true;
    let mut figure = |line: String, pass: Option<bool>| {
        println!("{line}");
        lines.push(line);
        all_pass &= pass.unwrap_or(true);
    };

    // P5: the binary.
    let size = stripped_size(&bin, &scratch)?;
    figure(
        format!(
            "P5 binary_size_stripped size={:.1}MB target<=15MB {}",
            size / MB,
            verdict(size <= 15.0 * MB)
        ),
        Some(size <= 15.0 * MB),
    );
    // P5: the image, as oci/smoke last built it.
    let image = Path::new(env!("CARGO_MANIFEST_DIR")).join(IMAGE_ARCHIVE);
    let (line, pass) = image_figure(std::fs::metadata(image).ok().map(|m| m.len()));
    figure(line, pass);

    // P4: migrations on an empty database, then exec to ready on a migrated one.
    let db_url = runtime.block_on(async {
        cluster.ensure_database("bench_migrate").await?;
        cluster.ensure_database("bench").await?;
        anyhow::Ok(cluster.url("bench"))
    })?;
    let mut database = maia::settings::Settings::default().database;
    database.url = SecretString::from(cluster.url("bench_migrate"));
    let started = Instant::now();
    let applied = runtime.block_on(maia::db::migrate(&database))?;
    let migrate_time = started.elapsed();
    figure(
        format!(
            "P4 migrations_empty_db time={:.3}s migrations={} report",
            migrate_time.as_secs_f64(),
            applied.len()
        ),
        None,
    );
    let status = maia_command(&bin)
        .arg("migrate")
        .env("MAIA_DATABASE__URL", &db_url)
        .status()?;
    anyhow::ensure!(status.success(), "maia migrate failed");

    let port = free_port();
    let mut startup_times = Vec::new();
    for _ in 0..starts {
        let started = Instant::now();
        let mut maia = spawn_maia(&bin, port, &db_url, &ollama_url)?;
        wait_200(port, "/readyz", Duration::from_secs(30))?;
        startup_times.push(started.elapsed());
        let status = maia.terminate();
        anyhow::ensure!(
            status.is_some_and(|s| s.success()),
            "maia serve did not exit 0 on SIGTERM: {status:?}"
        );
    }
    let startup = median(startup_times.clone());
    figure(
        format!(
            "P4 startup_to_ready median={:.3}s max={:.3}s starts={starts} target<=0.2s {}",
            startup.as_secs_f64(),
            startup_times.iter().max().unwrap().as_secs_f64(),
            verdict(startup.as_secs_f64() <= 0.2)
        ),
        Some(startup.as_secs_f64() <= 0.2),
    );

    // The servers under test.
    let maia = spawn_maia(&bin, port, &db_url, &ollama_url)?;
    wait_200(port, "/readyz", Duration::from_secs(30))?;
    let base_port = free_port();
    let baseline = Proc(
        Command::new(std::env::current_exe()?)
            .args([
                "baseline",
                &format!("127.0.0.1:{base_port}"),
                &db_url,
                &ollama_url,
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()?,
    );
    wait_200(base_port, "/bare", Duration::from_secs(30))?;

    // P3: memory once started and idle.
    std::thread::sleep(Duration::from_secs(2));
    let idle = rss(maia.pid())?;
    let bare_idle = rss(baseline.pid())?;
    figure(
        format!(
            "P3 rss_idle maia={:.1}MB baseline={:.1}MB target<=15MB {}",
            idle / MB,
            bare_idle / MB,
            verdict(idle <= 15.0 * MB)
        ),
        Some(idle <= 15.0 * MB),
    );

    // P1: GET /api/health against a bare handler.
    eprintln!("bench: P1, {rounds} x {seconds} s per side");
    let (health, bare) = side_by_side(
        &format!("http://127.0.0.1:{port}/api/health"),
        &format!("http://127.0.0.1:{base_port}/bare"),
        HEALTH_CONNECTIONS,
        seconds,
        rounds,
        None,
    )?;
    let ratio = health.rps / bare.rps;
    let ok = ratio >= 0.8 && health.errors == 0 && bare.errors == 0;
    figure(
        format!(
            "P1 health_vs_bare ratio={ratio:.2} maia={:.0}req/s bare={:.0}req/s errors={} target>=0.8 {}",
            health.rps,
            bare.rps,
            health.errors + bare.errors,
            verdict(ok)
        ),
        Some(ok),
    );

    // P2: a query against the same Ollama call and INSERT made directly.
    eprintln!("bench: P2, {rounds} x {seconds} s per side");
    let script = scratch.join("query.lua");
    std::fs::write(
        &script,
        format!(
            "wrk.method = \"POST\"\nwrk.body = '{}'\nwrk.headers[\"Content-Type\"] = \"application/json\"\n",
            json!({ "query": QUERY })
        ),
    )?;
    let (query, direct) = side_by_side(
        &format!("http://127.0.0.1:{port}/api/consciousness/query"),
        &format!("http://127.0.0.1:{base_port}/direct"),
        QUERY_CONNECTIONS,
        seconds,
        rounds,
        Some(&script),
    )?;
    let ratio = query.p50_ms / direct.p50_ms;
    let ok = ratio <= 1.3 && query.errors == 0 && direct.errors == 0;
    figure(
        format!(
            "P2 query_p50_vs_direct ratio={ratio:.2} maia={:.2}ms direct={:.2}ms errors={} target<=1.3 {}",
            query.p50_ms,
            direct.p50_ms,
            query.errors + direct.errors,
            verdict(ok)
        ),
        Some(ok),
    );
    figure(
        format!(
            "P2 query_p99 maia={:.2}ms direct={:.2}ms report",
            query.p99_ms, direct.p99_ms
        ),
        None,
    );
    figure(
        format!(
            "P2 query_rps maia={:.0}req/s direct={:.0}req/s ratio={:.2} report",
            query.rps,
            direct.rps,
            query.rps / direct.rps
        ),
        None,
    );

    // P3 again: memory after the load.
    let loaded = rss(maia.pid())?;
    let bare_loaded = rss(baseline.pid())?;
    figure(
        format!(
            "P3 rss_after_load maia={:.1}MB baseline={:.1}MB report",
            loaded / MB,
            bare_loaded / MB
        ),
        None,
    );

    drop(maia);
    drop(baseline);
    runtime.block_on(ollama.stop());
    cluster.stop()?;
    let _ = std::fs::remove_dir_all(&scratch);
    eprintln!(
        "bench: {} figures on {}; {}",
        lines.len(),
        machine(),
        if all_pass {
            "every target met"
        } else {
            "a target was missed"
        }
    );
    Ok(all_pass)
}

#[cfg(test)]
mod tests {
    use super::{image_figure, parse_wrk};

    const WRK: &str = "Running 4s test @ http://127.0.0.1:8080/bare
  2 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   612.34us    1.02ms  20.01ms   93.12%
    Req/Sec    55.12k     4.01k   60.00k    80.00%
  Latency Distribution
     50%  412.00us
     75%  600.00us
     90%    1.01ms
     99%    1.20s
  440000 requests in 4.00s, 50.00MB read
  Socket errors: connect 0, read 3, write 0, timeout 1
  Non-2xx or 3xx responses: 12
Requests/sec: 110000.12
Transfer/sec:     12.50MB
";

    #[test]
    fn wrk_output_is_read_in_milliseconds_with_every_error_counted() {
        let load = parse_wrk(WRK).expect("readable");
        assert!((load.rps - 110_000.12).abs() < 1e-6);
        assert!((load.p50_ms - 0.412).abs() < 1e-9);
        assert!((load.p99_ms - 1200.0).abs() < 1e-9);
        assert_eq!(load.errors, 16);
    }

    #[test]
    fn the_image_passes_up_to_8_mb_and_a_missing_one_is_only_reported() {
        assert_eq!(
            image_figure(Some(4_100_000)),
            (
                "P5 image_gzip size=4.1MB target<=8MB PASS".to_string(),
                Some(true)
            )
        );
        assert_eq!(image_figure(Some(8_000_000)).1, Some(true));
        let (line, pass) = image_figure(Some(8_000_001));
        assert!(line.ends_with(" FAIL"), "{line}");
        assert_eq!(pass, Some(false));
        assert_eq!(
            image_figure(None),
            (
                "P5 image_gzip not built (run oci/smoke) report".to_string(),
                None
            )
        );
    }

    #[test]
    fn a_run_without_latency_figures_is_unreadable() {
        let cut = WRK.replace("     50%  412.00us\n", "");
        assert!(parse_wrk(&cut).is_none());
        assert!(parse_wrk("").is_none());
    }
}
