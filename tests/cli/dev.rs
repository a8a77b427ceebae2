//! `maia dev`: a private cluster, migrations and the server in one command, and where the
//! cluster goes when run as root.

use std::path::Path;
use std::time::Duration;

use maia::{Cluster, ClusterOptions};

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

/// The token `maia dev` printed at its start (a new one each time).
fn printed_token(dev: &Process) -> String {
    let log = dev.log();
    log.lines()
        .map(str::trim)
        .find(|l| l.starts_with("maia_"))
        .unwrap_or_else(|| panic!("maia dev printed no token; its log:\n{log}"))
        .to_string()
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
    let options = ClusterOptions {
        data_dir: scratch.path("dev"),
        fresh: true,
        fsync: false,
    };
    let start = |o: ClusterOptions| {
        tokio::task::spawn_blocking(move || Cluster::start(&o).expect("the cluster starts"))
    };

    let mut cluster = start(options.clone()).await.unwrap();
    let stand_in = cluster.data_dir().to_path_buf();
    cluster.ensure_database("maia").await.unwrap();
    psql(&cluster.url("maia"))
        .await
        .batch_execute("CREATE TABLE kept (x int)")
        .await
        .unwrap();
    cluster.stop().unwrap();
    // The same directory maps to the same stand-in: the data is still there.
    let mut again = start(ClusterOptions {
        fresh: false,
        ..options
    })
    .await
    .unwrap();
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
