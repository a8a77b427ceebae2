//! `maia dev`: a private cluster, migrations and the server in one command; where the
//! cluster goes when run as root; and how it is locked: a password from every client, maia
//! itself no superuser, the password files private, and an older maia's cluster upgraded.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use maia::{Cluster, ClusterOptions, Secret, Settings};

use crate::kit::database::{applied_versions, connect, embedded_versions};
use crate::kit::http::{get_as, post_query};
use crate::kit::{free_port, maia, psql, start_ollama, wait_for_200, Process, Scratch};
use crate::kit::{FakeOllama, MODEL};

/// `maia dev` on `data_dir` (with `--fresh` if asked), on a free port; its address.
async fn start_dev(data_dir: &Path, fresh: bool, ollama: &FakeOllama) -> (Process, String) {
    let port = free_port();
    let mut command = maia();
    command.arg("dev").arg("--data-dir").arg(data_dir);
    if fresh {
        command.arg("--fresh");
    }
    command
        .env("MAIA_HTTP__LISTEN", format!("127.0.0.1:{port}"))
        .env("MAIA_OLLAMA__URL", ollama.url())
        .env("MAIA_OLLAMA__MODEL", MODEL);
    let dev = Process::spawn(command);
    let base = format!("http://127.0.0.1:{port}");
    assert!(
        wait_for_200(&format!("{base}/readyz"), Duration::from_secs(60)).await,
        "maia dev never became ready; its log:\n{}",
        dev.log()
    );
    (dev, base)
}

/// `maia dev` on a new data directory, and what a test reads of it.
struct DevOnNewCluster {
    _scratch: Scratch,
    _ollama: FakeOllama,
    data_dir: PathBuf,
    dev: Process,
    /// Its PostgreSQL's port.
    port: u16,
}

async fn dev_on_new_cluster(tag: &str) -> DevOnNewCluster {
    let scratch = Scratch::new(tag);
    let data_dir = scratch.path("data");
    let ollama = start_ollama().await;
    let (dev, _) = start_dev(&data_dir, false, &ollama).await;
    let port = printed_port(&dev);
    DevOnNewCluster {
        _scratch: scratch,
        _ollama: ollama,
        data_dir,
        dev,
        port,
    }
}

/// The token `maia dev` printed at its start (a new one each time).
fn printed_token(dev: &Process) -> String {
    let log = dev.log();
    log.lines()
        .map(str::trim)
        .find(|l| l.starts_with("maia_"))
        .unwrap_or_else(|| panic!("maia dev printed no token; its log:\n{log}"))
        .to_string()
}

/// The port `maia dev` said its PostgreSQL listens on.
fn printed_port(dev: &Process) -> u16 {
    let log = dev.log();
    log.split("PostgreSQL listens on 127.0.0.1:")
        .nth(1)
        .and_then(|rest| {
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            digits.parse().ok()
        })
        .unwrap_or_else(|| panic!("maia dev printed no PostgreSQL port; its log:\n{log}"))
}

/// A URL for database `maia` on the cluster at `port`, as `user`, with `password` if any.
fn loopback_url(port: u16, user: &str, password: Option<&str>) -> String {
    let password = password.map(|p| format!(":{p}")).unwrap_or_default();
    format!("postgresql://{user}{password}@127.0.0.1:{port}/maia")
}

/// The password kept in `file` in the cluster's directory `data_dir`.
fn password_in(data_dir: &Path, file: &str) -> String {
    let path = data_dir.join(file);
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
        .trim()
        .to_string()
}

/// The permission bits of `path`, if it exists.
fn mode_of(path: &Path) -> Option<u32> {
    std::fs::metadata(path)
        .ok()
        .map(|m| m.permissions().mode() & 0o777)
}

/// `Cluster::start` off the runtime's threads (it waits for PostgreSQL), on `data_dir`.
async fn start_cluster_in(data_dir: PathBuf, fresh: bool) -> Cluster {
    let options = ClusterOptions {
        data_dir,
        fresh,
        fsync: false,
        bindir: None,
    };
    tokio::task::spawn_blocking(move || Cluster::start(&options).expect("the cluster starts"))
        .await
        .unwrap()
}

/// How many traces `GET /api/traces` lists, asked with the run's own token (the previous
/// run's is revoked).
async fn listed_traces(dev: &Process, base: &str) -> usize {
    let (status, body) = get_as(&format!("{base}/api/traces"), &printed_token(dev)).await;
    assert_eq!(status, 200, "{body}");
    body["traces"].as_array().map_or(0, Vec::len)
}

#[tokio::test(flavor = "multi_thread")]
async fn dev_brings_up_its_own_cluster_and_keeps_data_across_runs() {
    let scratch = Scratch::new("dev");
    let data_dir = scratch.path("data");
    let ollama = start_ollama().await;

    let (mut first, base) = start_dev(&data_dir, false, &ollama).await;
    let token = printed_token(&first);
    let (status, answer) = post_query(&base, &token, "kept?").await;
    assert_eq!(status, 200, "{answer}");
    first.assert_stops_cleanly(Duration::from_secs(20)).await;
    let stopped = !data_dir.join("pgdata/postmaster.pid").exists();
    let (mut second, base) = start_dev(&data_dir, false, &ollama).await;
    let revoked = get_as(&format!("{base}/api/traces"), &token).await.0;
    let kept = listed_traces(&second, &base).await;
    second.assert_stops_cleanly(Duration::from_secs(20)).await;
    let (mut fresh, base) = start_dev(&data_dir, true, &ollama).await;
    let after_fresh = listed_traces(&fresh, &base).await;
    fresh.assert_stops_cleanly(Duration::from_secs(20)).await;

    assert!(stopped, "the cluster was stopped with maia dev");
    assert_eq!(kept, 1, "data kept across runs");
    assert_eq!(revoked, 401, "the previous run's token is revoked");
    assert_eq!(after_fresh, 0, "--fresh starts over");
}

/// Under root (as in CI) the cluster runs as another user; a directory that user cannot
/// reach gets a stable stand-in it can, so `maia dev` still works from a checkout in /root.
#[tokio::test(flavor = "multi_thread")]
async fn a_root_run_cluster_in_an_unreachable_directory_moves_to_a_stand_in() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let scratch = Scratch::new("stand-in");
    std::fs::set_permissions(scratch.dir(), std::fs::Permissions::from_mode(0o700)).unwrap();
    if std::fs::metadata(scratch.dir()).unwrap().uid() != 0 {
        eprintln!("not root: the cluster runs as this user and reaches the directory itself");
        return;
    }

    let mut cluster = start_cluster_in(scratch.path("dev"), true).await;
    let stand_in = cluster.data_dir().to_path_buf();
    cluster.ensure_database("maia").await.unwrap();
    psql(&cluster.url("maia"))
        .await
        .batch_execute("CREATE TABLE kept (x int)")
        .await
        .unwrap();
    cluster.stop().unwrap();
    // The same directory maps to the same stand-in: the data is still there.
    let mut again = start_cluster_in(scratch.path("dev"), false).await;
    let kept = psql(&again.url("maia"))
        .await
        .batch_execute("SELECT x FROM kept")
        .await;
    again.stop().unwrap();

    assert!(stand_in.starts_with("/var/tmp"), "{}", stand_in.display());
    assert_eq!(again.data_dir(), stand_in);
    assert!(kept.is_ok(), "{kept:?}");
    let _ = tokio::process::Command::new("rm")
        .arg("-rf")
        .arg(&stand_in)
        .status()
        .await;
}

/// Nobody gets in without a password: not the superuser nor maia's own role, over loopback
/// or the socket (before, every local user was trusted as the superuser). The passwords are
/// in files only their owner reads, in a directory only its owner enters.
#[tokio::test(flavor = "multi_thread")]
async fn the_dev_cluster_asks_every_client_for_a_password_and_keeps_them_private() {
    let mut run = dev_on_new_cluster("dev-password").await;
    let (port, data_dir) = (run.port, run.data_dir.clone());
    let superuser = connect(&loopback_url(port, "maia", None)).await;
    let app = connect(&loopback_url(port, "maia_app", None)).await;
    let wrong = connect(&loopback_url(port, "maia", Some("not-the-password"))).await;
    let socket = connect(&format!(
        "host={} port={port} user=maia dbname=maia",
        data_dir.display()
    ))
    .await;
    let modes = [
        mode_of(&data_dir),
        mode_of(&data_dir.join("superuser.password")),
        mode_of(&data_dir.join("app.password")),
    ];
    run.dev.assert_stops_cleanly(Duration::from_secs(20)).await;

    assert!(
        superuser.is_err(),
        "the superuser got in without a password"
    );
    assert!(app.is_err(), "maia_app got in without a password");
    assert!(wrong.is_err(), "the superuser got in with a wrong password");
    assert!(
        socket.is_err(),
        "the socket let the superuser in without a password"
    );
    assert_eq!(modes, [Some(0o700), Some(0o600), Some(0o600)]);
}

/// `maia dev` connects as `maia_app`, which owns what the migrations made but is no
/// superuser: it cannot run programs on the machine (`COPY … TO PROGRAM`).
#[tokio::test(flavor = "multi_thread")]
async fn maia_dev_connects_as_a_role_that_is_no_superuser() {
    let mut run = dev_on_new_cluster("dev-app-role").await;
    let (port, data_dir) = (run.port, run.data_dir.clone());
    let app_password = password_in(&data_dir, "app.password");
    let app = psql(&loopback_url(port, "maia_app", Some(&app_password))).await;
    let superuser: bool = app
        .query_one(
            "SELECT rolsuper FROM pg_roles WHERE rolname = current_user",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    let program = app.batch_execute("COPY (SELECT 1) TO PROGRAM 'true'").await;
    let owners = table_owners(&app).await;
    run.dev.assert_stops_cleanly(Duration::from_secs(20)).await;

    assert!(!superuser, "maia_app is a superuser");
    assert_eq!(
        program.as_ref().err().and_then(tokio_postgres::Error::code),
        Some(&tokio_postgres::error::SqlState::INSUFFICIENT_PRIVILEGE),
        "{program:?}"
    );
    assert!(!owners.is_empty(), "no tables: maia dev did not migrate");
    assert!(
        owners.iter().all(|(_, owner)| owner == "maia_app"),
        "{owners:?}"
    );
}

/// Each table in `public` with its owner, by name.
async fn table_owners(client: &tokio_postgres::Client) -> Vec<(String, String)> {
    client
        .query(
            "SELECT tablename::text, tableowner::text FROM pg_tables \
             WHERE schemaname = 'public' ORDER BY 1",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect()
}

/// A cluster as an older maia left it in `data_dir`: every local connection trusted, the
/// superuser `maia` without a password, no password files, and a dev database `maia` the
/// superuser owns, migrated, with one trace and a table `kept` holding a row.
async fn cluster_as_an_older_maia_left_it(data_dir: &Path) {
    let mut cluster = start_cluster_in(data_dir.to_path_buf(), true).await;
    cluster.ensure_database("maia").await.unwrap();
    let url = cluster.url("maia");
    let mut settings = Settings::default();
    settings.database.url = Secret::new(url.clone());
    maia::migrate(&settings.database).await.unwrap();
    psql(&url)
        .await
        .batch_execute(
            "CREATE TABLE kept (note text); INSERT INTO kept VALUES ('from before'); \
             INSERT INTO consciousness_traces (id, query, response, mode, model, status, \
             latency_ms) VALUES (gen_random_uuid(), 'kept?', 'yes', 'fast', 'm', 'ok', 1); \
             ALTER ROLE maia PASSWORD NULL",
        )
        .await
        .unwrap();
    cluster.stop().unwrap();
    // What `initdb --auth=trust` wrote.
    std::fs::write(
        data_dir.join("pgdata/pg_hba.conf"),
        "local all all trust\nhost all all 127.0.0.1/32 trust\nhost all all ::1/128 trust\n\
         local replication all trust\nhost replication all 127.0.0.1/32 trust\n",
    )
    .unwrap();
    for file in ["superuser.password", "app.password"] {
        let _ = std::fs::remove_file(data_dir.join(file));
    }
}

/// An older maia's cluster keeps its data when a new maia starts it, and no longer trusts
/// anyone; `maia dev` then hands the superuser's dev database to `maia_app` and serves it
/// as it was: migrations not run again, the trace still listed.
#[tokio::test(flavor = "multi_thread")]
async fn a_cluster_an_older_maia_made_is_locked_without_losing_data() {
    let scratch = Scratch::new("dev-upgrade");
    let data_dir = scratch.path("data");
    let ollama = start_ollama().await;
    cluster_as_an_older_maia_left_it(&data_dir).await;

    let mut cluster = start_cluster_in(data_dir.clone(), false).await;
    let kept: String = psql(&cluster.url("maia"))
        .await
        .query_one("SELECT note FROM kept", &[])
        .await
        .unwrap()
        .get(0);
    let trusted = connect(&loopback_url(cluster.port(), "maia", None)).await;
    cluster.stop().unwrap();
    assert_eq!(kept, "from before");
    assert!(trusted.is_err(), "the upgraded cluster still trusts");
    let (mut dev, base) = start_dev(&data_dir, false, &ollama).await;
    let port = printed_port(&dev);
    let superuser_password = password_in(&data_dir, "superuser.password");
    let superuser_url = loopback_url(port, "maia", Some(&superuser_password));
    let owners = table_owners(&psql(&superuser_url).await).await;
    let database_owner: String = psql(&superuser_url)
        .await
        .query_one(
            "SELECT pg_get_userbyid(datdba)::text FROM pg_database WHERE datname = 'maia'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    let versions = applied_versions(&superuser_url).await;
    let traces = listed_traces(&dev, &base).await;
    dev.assert_stops_cleanly(Duration::from_secs(20)).await;

    assert_eq!(database_owner, "maia_app");
    assert!(owners.len() > 1, "{owners:?}");
    assert!(
        owners.iter().all(|(_, owner)| owner == "maia_app"),
        "{owners:?}"
    );
    assert_eq!(versions, embedded_versions(), "migrations ran once");
    assert_eq!(traces, 1, "the older maia's trace is served");
}

#[tokio::test(flavor = "multi_thread")]
async fn maia_dev_refusing_a_public_ollama_exits_2_and_says_so_once() {
    let scratch = Scratch::new("dev-refused");
    let mut command = maia();
    command
        .arg("dev")
        .arg("--data-dir")
        .arg(scratch.path("data"))
        .env("MAIA_HTTP__LISTEN", format!("127.0.0.1:{}", free_port()))
        .env("MAIA_OLLAMA__URL", "http://203.0.113.9:11434");

    let out = crate::kit::process::output(command).await;

    let shown = crate::kit::process::text(&out);
    assert_eq!(out.status.code(), Some(2), "{shown}");
    assert_eq!(
        shown.matches("203.0.113.9 is a public address").count(),
        1,
        "{shown}"
    );
}
