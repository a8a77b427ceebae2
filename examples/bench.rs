//! Benchmarks: maia against baselines, side by side on this machine, in one run.
//!
//! ```sh
//! cargo run --release --example bench -- [--quick] [--only P6,P7]
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
//! `--only` runs the figures named (comma-separated, `P1` to `P10`) and nothing else;
//! `--quick` shortens every measurement.
//!
//! P6 and P7 (streamed answers: the time to the first token, and 1,000 streams at once) are
//! in `bench/streams.rs`, which says what they measure and how maia is configured for them.
//! P8 and P9 (knowledge's search and import) are in `bench/knowledge.rs`; they need a
//! PostgreSQL with pgvector (`MAIA_PG_BINDIR`, as for the tests). P10 (the export's memory
//! at 100,000 traces) is in `bench/export.rs`.
//!
//! The cluster, the databases, the fake Ollama, the `maia` processes and the waits are the
//! test kit's (`tests/kit`); what is here is the baseline server, wrk and the figures.

#[path = "bench/export.rs"]
mod export;
#[path = "../tests/kit/mod.rs"]
mod kit;
#[path = "bench/knowledge.rs"]
mod knowledge;
#[path = "bench/streams.rs"]
mod streams;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use actix_web::{web, App, HttpResponse, HttpServer};
use kit::database::{database_in, psql, start_cluster};
use kit::http::time_to_200;
use kit::process::{maia_at, serve};
use kit::{free_port, start_ollama, FakeOllama, Process, Scratch, MODEL, QUERY_PATH};
use maia::Cluster;
use serde_json::{json, Value};

const QUERY: &str = "What should I check before a database upgrade?";
/// wrk's threads and connections: the same for every pair of runs.
const WRK_THREADS: &str = "2";
const HEALTH_CONNECTIONS: &str = "64";
const QUERY_CONNECTIONS: &str = "16";
const MB: f64 = 1_000_000.0;
/// The amd64 image as `oci/smoke` writes it (a gzip-compressed docker-archive).
const IMAGE_ARCHIVE: &str = "target/oci/image-amd64.tar.gz";
/// How long a server may take to be ready, and how often the startup figure asks.
const READY_LIMIT: Duration = Duration::from_secs(30);
const READY_POLL: Duration = Duration::from_millis(2);

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("baseline") => baseline(&args[1..]),
        Some("-h" | "--help") => {
            eprintln!("usage: {USAGE}");
            ExitCode::SUCCESS
        }
        _ => match Options::parse(&args).and_then(|options| run(&options)) {
            Ok(true) => ExitCode::SUCCESS,
            Ok(false) => ExitCode::FAILURE,
            Err(e) => {
                eprintln!("bench: {e:#}");
                ExitCode::from(2)
            }
        },
    }
}

const USAGE: &str = "bench [--quick] [--only P6,P7] | bench baseline LISTEN DB_URL OLLAMA_URL";
/// The figures there are, for `--only`.
const FIGURE_NAMES: [&str; 10] = ["P1", "P2", "P3", "P4", "P5", "P6", "P7", "P8", "P9", "P10"];

/// What to run.
#[derive(Debug, PartialEq)]
struct Options {
    /// Shorter measurements.
    quick: bool,
    /// The figures named with `--only`; every figure without it.
    only: Option<Vec<String>>,
}

impl Options {
    fn parse(args: &[String]) -> anyhow::Result<Options> {
        let mut options = Options {
            quick: false,
            only: None,
        };
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--quick" => options.quick = true,
                "--only" => {
                    let list = args.next().map(String::as_str).unwrap_or_default();
                    let names: Vec<String> = list.split(',').map(str::to_uppercase).collect();
                    if let Some(bad) = names.iter().find(|n| !FIGURE_NAMES.contains(&n.as_str())) {
                        anyhow::bail!(
                            "--only takes figures P1 to P10, not {bad:?}; usage: {USAGE}"
                        );
                    }
                    options.only = Some(names);
                }
                other => anyhow::bail!("unknown argument {other:?}; usage: {USAGE}"),
            }
        }
        Ok(options)
    }

    /// Whether figure `name` (`P1`...) is to be measured.
    fn wants(&self, name: &str) -> bool {
        self.only
            .as_ref()
            .is_none_or(|only| only.iter().any(|n| n == name))
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
// The runner: one step per group of figures.

/// The figures printed so far, and whether each met its target.
struct Figures {
    count: usize,
    all_pass: bool,
}

impl Figures {
    /// Prints `line`; `pass` is `None` for a figure that is only reported.
    fn add(&mut self, line: String, pass: Option<bool>) {
        println!("{line}");
        self.count += 1;
        self.all_pass &= pass.unwrap_or(true);
    }
}

/// What every step uses: the binary, the database, Ollama, and how long to measure.
struct Bench {
    runtime: tokio::runtime::Runtime,
    bin: PathBuf,
    scratch: Scratch,
    cluster: Cluster,
    ollama: FakeOllama,
    /// wrk's duration per run, the rounds per side, and the starts timed.
    seconds: u64,
    rounds: usize,
    starts: usize,
    /// Shorter measurements (`--quick`).
    quick: bool,
}

/// The servers under load: `maia serve` and the baseline.
struct Servers {
    maia: Process,
    port: u16,
    /// A token for `maia` (made with `maia token create`, as an operator would).
    token: String,
    /// The same maia without authentication (loopback), for the cost of authentication.
    open: Process,
    open_port: u16,
    baseline: Process,
    base_port: u16,
}

impl Servers {
    /// Resident memory of maia and of the baseline, in bytes.
    fn rss(&self) -> anyhow::Result<(f64, f64)> {
        Ok((rss(self.maia.pid())?, rss(self.baseline.pid())?))
    }
}

fn run(options: &Options) -> anyhow::Result<bool> {
    eprintln!(
        "bench: {} mode on {}",
        if options.quick { "quick" } else { "full" },
        machine()
    );
    let bench = Bench::set_up(options.quick)?;
    let mut figures = Figures {
        count: 0,
        all_pass: true,
    };
    if options.wants("P5") {
        bench.sizes(&mut figures)?;
    }
    let db_url = if options.wants("P4") {
        bench.migrations_and_startup(&mut figures)?
    } else {
        bench.migrated_database()?
    };
    let mut servers = bench.start_servers(&db_url)?;
    bench.measure_servers(options, &servers, &mut figures)?;
    if options.wants("P7") {
        bench.concurrent_streams(&db_url, &servers.token, &mut figures)?;
    }
    bench.runtime.block_on(servers.maia.terminate(READY_LIMIT));
    bench.runtime.block_on(servers.open.terminate(READY_LIMIT));
    drop(servers);
    bench.knowledge(options, &mut figures)?;
    if options.wants("P10") {
        bench.export_memory(&mut figures)?;
    }
    bench.tear_down()?;
    eprintln!(
        "bench: {} figures on {}; {}",
        figures.count,
        machine(),
        if figures.all_pass {
            "every target met"
        } else {
            "a target was missed"
        }
    );
    Ok(figures.all_pass)
}

/// The bench cluster's shared buffers, as README's Knowledge section advises for a
/// knowledge base: P8's HNSW index (about 390 MB at 100,000 chunks of 768 numbers) must fit.
/// With PostgreSQL's 128 MB, each search read most of what it visits of the index from the
/// operating system (P8's p50 15 ms, against 9 ms).
pub(crate) const SHARED_BUFFERS: &str = "1GB";

impl Bench {
    /// The release binary, a PostgreSQL cluster (fsync on, [`SHARED_BUFFERS`]) and a fake
    /// Ollama.
    fn set_up(quick: bool) -> anyhow::Result<Bench> {
        let (seconds, rounds, starts) = if quick { (4, 2, 5) } else { (10, 3, 11) };
        let bin = build_maia()?;
        let scratch = Scratch::new("bench");
        eprintln!("bench: starting PostgreSQL");
        let mut cluster = start_cluster(scratch.path("pg"), true)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()?;
        runtime.block_on(async {
            psql(&cluster.url("postgres"))
                .await
                .batch_execute(&format!(
                    "ALTER SYSTEM SET shared_buffers = '{SHARED_BUFFERS}'"
                ))
                .await
        })?;
        cluster.stop()?;
        cluster.start_again()?;
        let ollama = runtime.block_on(start_ollama());
        Ok(Bench {
            runtime,
            bin,
            scratch,
            cluster,
            ollama,
            seconds,
            rounds,
            starts,
            quick,
        })
    }

    fn tear_down(self) -> anyhow::Result<()> {
        self.runtime.block_on(self.ollama.stop());
        let mut cluster = self.cluster;
        cluster.stop()?;
        Ok(())
    }

    /// `maia serve` on `port` against `db_url` with the settings `more`, its output
    /// discarded. wrk sends far more than a token may a minute: the per-token limit is off.
    fn spawn_maia(&self, port: u16, db_url: &str, more: &[(&str, String)]) -> Process {
        let mut command = serve(maia_at(&self.bin), port, db_url, &self.ollama.url());
        command.env("MAIA_AUTH__REQUESTS_PER_MINUTE", "0");
        command.envs(more.iter().map(|(key, value)| (key, value)));
        Process::spawn_discarding_output(command)
    }

    /// The figures measured on the running servers, those `options` want, in order.
    fn measure_servers(
        &self,
        options: &Options,
        servers: &Servers,
        figures: &mut Figures,
    ) -> anyhow::Result<()> {
        if options.wants("P3") {
            self.idle_memory(servers, figures)?;
        }
        if options.wants("P1") {
            self.health_load(servers, figures)?;
            self.auth_load(servers, figures)?;
        }
        if options.wants("P2") {
            self.query_load(servers, figures)?;
        }
        if options.wants("P3") {
            self.loaded_memory(servers, figures)?;
        }
        if options.wants("P6") {
            self.first_token(servers, figures)?;
        }
        Ok(())
    }

    /// Waits for `http://127.0.0.1:port{path}` to answer 200, asking every `READY_POLL`.
    fn wait_200(&self, port: u16, path: &str) -> anyhow::Result<()> {
        let url = format!("http://127.0.0.1:{port}{path}");
        match self
            .runtime
            .block_on(time_to_200(&url, READY_LIMIT, READY_POLL))
        {
            Some(_) => Ok(()),
            None => anyhow::bail!("{url} was not 200 within {READY_LIMIT:?}"),
        }
    }

    /// P5: the stripped binary, and the image as oci/smoke last built it.
    fn sizes(&self, figures: &mut Figures) -> anyhow::Result<()> {
        let size = stripped_size(&self.bin, self.scratch.dir())?;
        figures.add(
            format!(
                "P5 binary_size_stripped size={:.1}MB target<=15MB {}",
                size / MB,
                verdict(size <= 15.0 * MB)
            ),
            Some(size <= 15.0 * MB),
        );
        let image = Path::new(env!("CARGO_MANIFEST_DIR")).join(IMAGE_ARCHIVE);
        let (line, pass) = image_figure(std::fs::metadata(image).ok().map(|m| m.len()));
        figures.add(line, pass);
        Ok(())
    }

    /// P4: migrations on an empty database, then exec to ready on a migrated one, `starts`
    /// times. Returns the migrated database's URL.
    fn migrations_and_startup(&self, figures: &mut Figures) -> anyhow::Result<String> {
        let empty = self.runtime.block_on(database_in(&self.cluster));
        let mut settings = maia::Settings::default();
        settings.database.url = maia::Secret::new(empty.url);
        let started = Instant::now();
        let applied = self
            .runtime
            .block_on(maia::migrate(&settings.database))
            .map_err(|e| anyhow::anyhow!("migrating: {e}"))?;
        figures.add(
            format!(
                "P4 migrations_empty_db time={:.3}s migrations={} report",
                started.elapsed().as_secs_f64(),
                applied.len()
            ),
            None,
        );
        let db_url = self.migrated_database()?;
        let times = self.startup_times(&db_url)?;
        let startup = median(times.clone());
        figures.add(
            format!(
                "P4 startup_to_ready median={:.3}s max={:.3}s starts={} target<=0.2s {}",
                startup.as_secs_f64(),
                times.iter().max().unwrap_or(&startup).as_secs_f64(),
                self.starts,
                verdict(startup.as_secs_f64() <= 0.2)
            ),
            Some(startup.as_secs_f64() <= 0.2),
        );
        Ok(db_url)
    }

    /// A new database migrated by `maia migrate`: its URL.
    fn migrated_database(&self) -> anyhow::Result<String> {
        let db = self.runtime.block_on(database_in(&self.cluster));
        let migrate = maia_at(&self.bin)
            .arg("migrate")
            .env("MAIA_DATABASE__URL", &db.url)
            .output()?;
        anyhow::ensure!(migrate.status.success(), "maia migrate failed: {migrate:?}");
        Ok(db.url)
    }

    /// From exec to `/readyz` answering 200, `starts` times, each stopped with SIGTERM.
    fn startup_times(&self, db_url: &str) -> anyhow::Result<Vec<Duration>> {
        let port = free_port();
        let mut times = Vec::new();
        for _ in 0..self.starts {
            let started = Instant::now();
            let mut maia = self.spawn_maia(port, db_url, &[]);
            self.wait_200(port, "/readyz")?;
            times.push(started.elapsed());
            let status = self
                .runtime
                .block_on(maia.terminate(Duration::from_secs(10)));
            anyhow::ensure!(
                status.is_some_and(|s| s.success()),
                "maia serve did not exit 0 on SIGTERM: {status:?}"
            );
        }
        Ok(times)
    }

    /// `maia serve` (with a token), the same without authentication, and the baseline,
    /// all ready.
    fn start_servers(&self, db_url: &str) -> anyhow::Result<Servers> {
        let port = free_port();
        let maia = self.spawn_maia(port, db_url, &[]);
        self.wait_200(port, "/readyz")?;
        let created = maia_at(&self.bin)
            .args(["token", "create", "--name", "bench"])
            .env("MAIA_DATABASE__URL", db_url)
            .output()?;
        anyhow::ensure!(created.status.success(), "maia token create: {created:?}");
        let token = String::from_utf8(created.stdout)?.trim().to_string();
        let open_port = free_port();
        let mut open = serve(maia_at(&self.bin), open_port, db_url, &self.ollama.url());
        open.env("MAIA_AUTH__REQUIRED", "false");
        let open = Process::spawn_discarding_output(open);
        self.wait_200(open_port, "/readyz")?;
        let base_port = free_port();
        let mut command = Command::new(std::env::current_exe()?);
        command
            .args(["baseline", &format!("127.0.0.1:{base_port}"), db_url])
            .arg(self.ollama.url())
            .stdin(Stdio::null());
        let baseline = Process::spawn_discarding_output(command);
        self.wait_200(base_port, "/bare")?;
        Ok(Servers {
            maia,
            port,
            token,
            open,
            open_port,
            baseline,
            base_port,
        })
    }

    /// P3: memory once started and idle.
    fn idle_memory(&self, servers: &Servers, figures: &mut Figures) -> anyhow::Result<()> {
        std::thread::sleep(Duration::from_secs(2));
        let (maia, baseline) = servers.rss()?;
        figures.add(
            format!(
                "P3 rss_idle maia={:.1}MB baseline={:.1}MB target<=15MB {}",
                maia / MB,
                baseline / MB,
                verdict(maia <= 15.0 * MB)
            ),
            Some(maia <= 15.0 * MB),
        );
        Ok(())
    }

    /// P3 again: memory after the load.
    fn loaded_memory(&self, servers: &Servers, figures: &mut Figures) -> anyhow::Result<()> {
        let (maia, baseline) = servers.rss()?;
        figures.add(
            format!(
                "P3 rss_after_load maia={:.1}MB baseline={:.1}MB report",
                maia / MB,
                baseline / MB
            ),
            None,
        );
        Ok(())
    }

    /// wrk on two sides, each `(port, path, script)`, in alternating rounds; each side's
    /// mean.
    fn compare(
        &self,
        figure: &str,
        (port, path, script): (u16, &str, Option<&Path>),
        (other_port, other_path, other_script): (u16, &str, Option<&Path>),
        connections: &str,
    ) -> anyhow::Result<(Load, Load)> {
        eprintln!(
            "bench: {figure}, {} x {} s per side",
            self.rounds, self.seconds
        );
        side_by_side(
            (&format!("http://127.0.0.1:{port}{path}"), script),
            (
                &format!("http://127.0.0.1:{other_port}{other_path}"),
                other_script,
            ),
            connections,
            self.seconds,
            self.rounds,
        )
    }

    /// A wrk script sending maia's token (and `extra` lines).
    fn script(&self, name: &str, servers: &Servers, extra: &str) -> PathBuf {
        self.scratch.write(
            name,
            &format!(
                "wrk.headers[\"Authorization\"] = \"Bearer {}\"\n{extra}",
                servers.token
            ),
        )
    }

    /// P1: `GET /api/health` against a bare handler.
    fn health_load(&self, servers: &Servers, figures: &mut Figures) -> anyhow::Result<()> {
        let (health, bare) = self.compare(
            "P1",
            (servers.port, "/api/health", None),
            (servers.base_port, "/bare", None),
            HEALTH_CONNECTIONS,
        )?;
        let ratio = health.rps / bare.rps;
        let ok = ratio >= 0.8 && health.errors == 0 && bare.errors == 0;
        figures.add(
            format!(
                "P1 health_vs_bare ratio={ratio:.2} maia={:.0}req/s bare={:.0}req/s errors={} target>=0.8 {}",
                health.rps,
                bare.rps,
                health.errors + bare.errors,
                verdict(ok)
            ),
            Some(ok),
        );
        Ok(())
    }

    /// P1: an authenticated cheap route (`GET /api/personas`, one small query) against the
    /// same route on the same maia without authentication: what checking a token costs.
    fn auth_load(&self, servers: &Servers, figures: &mut Figures) -> anyhow::Result<()> {
        let script = self.script("personas.lua", servers, "");
        let (with, without) = self.compare(
            "P1 auth",
            (servers.port, "/api/personas", Some(&script)),
            (servers.open_port, "/api/personas", None),
            HEALTH_CONNECTIONS,
        )?;
        let ratio = with.rps / without.rps;
        let ok = ratio >= 0.9 && with.errors == 0 && without.errors == 0;
        figures.add(
            format!(
                "P1 personas_auth_vs_open ratio={ratio:.2} auth={:.0}req/s open={:.0}req/s errors={} target>=0.9 {}",
                with.rps,
                without.rps,
                with.errors + without.errors,
                verdict(ok)
            ),
            Some(ok),
        );
        Ok(())
    }

    /// P2: a query against the same Ollama call and INSERT made directly.
    fn query_load(&self, servers: &Servers, figures: &mut Figures) -> anyhow::Result<()> {
        let script = self.script(
            "query.lua",
            servers,
            &format!(
                "wrk.method = \"POST\"\nwrk.body = '{}'\nwrk.headers[\"Content-Type\"] = \"application/json\"\n",
                json!({ "query": QUERY })
            ),
        );
        let (query, direct) = self.compare(
            "P2",
            (servers.port, QUERY_PATH, Some(&script)),
            (servers.base_port, "/direct", Some(&script)),
            QUERY_CONNECTIONS,
        )?;
        let ratio = query.p50_ms / direct.p50_ms;
        let ok = ratio <= 1.3 && query.errors == 0 && direct.errors == 0;
        figures.add(
            format!(
                "P2 query_p50_vs_direct ratio={ratio:.2} maia={:.2}ms direct={:.2}ms errors={} target<=1.3 {}",
                query.p50_ms,
                direct.p50_ms,
                query.errors + direct.errors,
                verdict(ok)
            ),
            Some(ok),
        );
        figures.add(
            format!(
                "P2 query_p99 maia={:.2}ms direct={:.2}ms report",
                query.p99_ms, direct.p99_ms
            ),
            None,
        );
        figures.add(
            format!(
                "P2 query_rps maia={:.0}req/s direct={:.0}req/s ratio={:.2} report",
                query.rps,
                direct.rps,
                query.rps / direct.rps
            ),
            None,
        );
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// Measuring.

/// A duration in milliseconds.
fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// VmRSS of a process, in bytes.
fn rss(pid: u32) -> anyhow::Result<f64> {
    memory(pid, "VmRSS")
}

/// One of the memory lines of `/proc/PID/status` (`VmRSS`, `VmHWM`: the peak), in bytes.
fn memory(pid: u32, line: &str) -> anyhow::Result<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix(line)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no {line} for {pid}"))?;
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
    (a, script_a): (&str, Option<&Path>),
    (b, script_b): (&str, Option<&Path>),
    connections: &str,
    seconds: u64,
    rounds: usize,
) -> anyhow::Result<(Load, Load)> {
    // Warm both up (connections, caches, the pool) before measuring.
    wrk(a, connections, 1, script_a)?;
    wrk(b, connections, 1, script_b)?;
    let mut runs_a = Vec::new();
    let mut runs_b = Vec::new();
    for round in 0..rounds {
        // Alternate which goes first, so drift in the machine hits both sides alike.
        if round % 2 == 0 {
            runs_a.push(wrk(a, connections, seconds, script_a)?);
            runs_b.push(wrk(b, connections, seconds, script_b)?);
        } else {
            runs_b.push(wrk(b, connections, seconds, script_b)?);
            runs_a.push(wrk(a, connections, seconds, script_a)?);
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
#[cfg(test)]
mod tests {
    use super::{image_figure, parse_wrk, Options};

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

    #[test]
    fn only_names_figures_and_anything_else_is_refused() {
        let parse = |args: &[&str]| {
            let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
            Options::parse(&args)
        };
        let options = parse(&["--only", "P6,p7", "--quick"]).expect("valid");
        assert!(options.quick);
        assert!(options.wants("P6") && options.wants("P7") && !options.wants("P1"));
        let everything = parse(&[]).expect("valid");
        assert!(!everything.quick && everything.wants("P1") && everything.wants("P9"));
        let knowledge = parse(&["--only", "P8,P9"]).expect("valid");
        assert!(knowledge.wants("P8") && knowledge.wants("P9") && !knowledge.wants("P7"));
        assert!(parse(&["--only", "P10"]).expect("valid").wants("P10"));
        assert!(parse(&["--only", "P11"]).is_err());
        assert!(parse(&["--only"]).is_err());
        assert!(parse(&["--fast"]).is_err());
    }
}
