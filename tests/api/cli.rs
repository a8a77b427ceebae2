use std::process::Stdio;
use std::time::Duration;

use serde_json::json;

use crate::fake_ollama::FakeOllama;
use crate::helpers::*;

fn healthcheck(url: &str) -> std::process::ExitStatus {
    maia()
        .args(["healthcheck", "--url", url])
        .output()
        .unwrap()
        .status
}

#[tokio::test(flavor = "multi_thread")]
async fn healthcheck_exit_codes_follow_the_health_endpoint() {
    let app = TestApp::spawn().await;
    let url = app.url("/api/health");
    let ok = tokio::task::spawn_blocking(move || healthcheck(&url))
        .await
        .unwrap();
    assert!(ok.success(), "healthy → 0");

    // Degraded (Ollama gone) is still 0: the container is serving.
    let db = app.db_url.clone();
    let ollama = app.stop().await;
    let dead = format!("http://127.0.0.1:{}", closed_port());
    let app = TestApp::spawn_with(settings(&db, &dead), ollama).await;
    let url = app.url("/api/health");
    let degraded = tokio::task::spawn_blocking(move || healthcheck(&url))
        .await
        .unwrap();
    assert!(degraded.success(), "degraded → 0");
    let ollama = app.stop().await;

    // Database down → 503 unhealthy → non-zero.
    let mut s = settings(&db, &ollama.url());
    s.database.url = format!("postgresql://maia@127.0.0.1:{}/x", closed_port()).into();
    s.database.migrate_on_start = false;
    let app = TestApp::spawn_with(s, ollama).await;
    let url = app.url("/api/health");
    let unhealthy = tokio::task::spawn_blocking(move || healthcheck(&url))
        .await
        .unwrap();
    assert!(!unhealthy.success(), "unhealthy → non-zero");
    app.stop().await;

    // Nothing listening → non-zero, quickly.
    let url = format!("http://127.0.0.1:{}/api/health", closed_port());
    let started = std::time::Instant::now();
    let down = tokio::task::spawn_blocking(move || healthcheck(&url))
        .await
        .unwrap();
    assert!(!down.success());
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test(flavor = "multi_thread")]
async fn healthcheck_without_url_uses_the_configured_port() {
    let app = TestApp::spawn().await;
    let port = app.address.rsplit(':').next().unwrap().to_string();
    let status = tokio::task::spawn_blocking(move || {
        maia()
            .arg("healthcheck")
            .env("MAIA_HTTP__LISTEN", format!("0.0.0.0:{port}"))
            .status()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(status.success());
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn check_passes_when_everything_is_there_and_fails_naming_what_is_not() {
    let url = fresh_database().await;
    let ollama = FakeOllama::start(&[MODEL]).await;
    let run = |extra: &[(&str, String)]| {
        let mut c = maia();
        c.args(["check", "--json"])
            .env("MAIA_DATABASE__URL", &url)
            .env("MAIA_OLLAMA__URL", ollama.url())
            .env("MAIA_OLLAMA__MODEL", MODEL);
        for (k, v) in extra {
            c.env(k, v);
        }
        c.output().unwrap()
    };
    // Migrations pending: fails, and says so.
    let out = run(&[]);
    assert!(!out.status.success());
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["ok"], false);
    let failed: Vec<&str> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["ok"] == false)
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(failed, ["migrations"], "{report}");

    maia()
        .arg("migrate")
        .env("MAIA_DATABASE__URL", &url)
        .output()
        .unwrap();
    let out = run(&[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    // A missing deep model is named.
    let out = run(&[("MAIA_OLLAMA__DEEP_MODEL", "mixtral:8x7b".into())]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("mixtral:8x7b is missing"));

    // Ollama down.
    let out = run(&[(
        "MAIA_OLLAMA__URL",
        format!("http://127.0.0.1:{}", closed_port()),
    )]);
    assert!(!out.status.success());

    // The readable form.
    let out = maia()
        .arg("check")
        .env("MAIA_DATABASE__URL", &url)
        .env("MAIA_OLLAMA__URL", ollama.url())
        .env("MAIA_OLLAMA__MODEL", MODEL)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("all checks passed"), "{text}");
}

#[test]
fn check_offline_validates_the_config_without_connecting() {
    let dir = tempdir();
    let good = dir.join("good.toml");
    std::fs::write(&good, "[database]\nurl = \"postgresql://maia@10.0.0.5/maia\"\n[ollama]\nurl = \"http://127.0.0.1:1\"\n").unwrap();
    let out = maia()
        .args(["check", "--offline", "--config"])
        .arg(&good)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    let public = dir.join("public.toml");
    std::fs::write(&public, "[ollama]\nurl = \"http://203.0.113.9:11434\"\n").unwrap();
    let out = maia()
        .args(["check", "--offline", "--config"])
        .arg(&public)
        .output()
        .unwrap();
    assert!(!out.status.success());

    let bad = dir.join("bad.toml");
    std::fs::write(&bad, "[ollama]\nmodle = \"x\"\n").unwrap();
    let out = maia()
        .args(["check", "--offline", "--json", "--config"])
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let detail = report["checks"][0]["detail"].as_str().unwrap();
    assert!(
        detail.contains("modle") && detail.contains("bad.toml"),
        "{detail}"
    );
}

pub fn tempdir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("maia-cli-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test(flavor = "multi_thread")]
async fn dev_brings_up_its_own_cluster_and_keeps_data_across_runs() {
    let data_dir = tempdir();
    let ollama = FakeOllama::start(&[MODEL]).await;
    let start = |fresh: bool| {
        let port = closed_port();
        let mut c = maia();
        c.arg("dev").arg("--data-dir").arg(&data_dir);
        if fresh {
            c.arg("--fresh");
        }
        let child = c
            .env("MAIA_HTTP__LISTEN", format!("127.0.0.1:{port}"))
            .env("MAIA_OLLAMA__URL", ollama.url())
            .env("MAIA_OLLAMA__MODEL", MODEL)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        (Process(child), format!("http://127.0.0.1:{port}"))
    };
    let stop = |mut p: Process| async move {
        signal(&p.0, "TERM");
        let status = wait_exit(&mut p.0, Duration::from_secs(20))
            .await
            .expect("maia dev exits");
        assert!(status.success(), "{status}");
    };

    let (p, base) = start(false);
    assert!(
        wait_for_200(&format!("{base}/readyz"), Duration::from_secs(60)).await,
        "maia dev came up"
    );
    let r = reqwest::Client::new()
        .post(format!("{base}/api/consciousness/query"))
        .json(&json!({"query": "kept?"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    stop(p).await;
    assert!(
        !data_dir.join("pgdata/postmaster.pid").exists(),
        "the cluster was stopped"
    );

    let (p, base) = start(false);
    assert!(wait_for_200(&format!("{base}/readyz"), Duration::from_secs(60)).await);
    let (_, body) = decode(reqwest::get(format!("{base}/api/traces")).await.unwrap()).await;
    assert_eq!(
        body["traces"].as_array().unwrap().len(),
        1,
        "data kept across runs"
    );
    stop(p).await;

    let (p, base) = start(true);
    assert!(wait_for_200(&format!("{base}/readyz"), Duration::from_secs(60)).await);
    let (_, body) = decode(reqwest::get(format!("{base}/api/traces")).await.unwrap()).await;
    assert_eq!(
        body["traces"].as_array().unwrap().len(),
        0,
        "--fresh starts over"
    );
    stop(p).await;
    let _ = std::fs::remove_dir_all(&data_dir);
}

/// Under root (as in CI) the cluster runs as another user; a directory that user cannot
/// reach gets a stable stand-in it can, so `maia dev` still works from a checkout in /root.
#[tokio::test(flavor = "multi_thread")]
async fn a_root_run_cluster_in_an_unreachable_directory_moves_to_a_stand_in() {
    use std::os::unix::fs::PermissionsExt;
    let private = tempdir();
    std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o700)).unwrap();
    let owner = std::os::unix::fs::MetadataExt::uid(&std::fs::metadata(&private).unwrap());
    if owner != 0 {
        eprintln!("not root: the cluster runs as this user and reaches the directory itself");
        return;
    }
    let options = maia::pgcluster::ClusterOptions {
        data_dir: private.join("dev"),
        fresh: true,
        fsync: false,
    };
    let start = |o: maia::pgcluster::ClusterOptions| {
        tokio::task::spawn_blocking(move || maia::pgcluster::Cluster::start(&o).expect("starts"))
    };
    let mut cluster = start(options.clone()).await.unwrap();
    let stand_in = cluster.data_dir().to_path_buf();
    assert!(stand_in.starts_with("/var/tmp"), "{}", stand_in.display());
    cluster.ensure_database("maia").await.unwrap();
    psql(&cluster.url("maia"))
        .await
        .batch_execute("CREATE TABLE kept (x int)")
        .await
        .unwrap();
    cluster.stop().unwrap();

    // The same directory maps to the same stand-in: the data is still there.
    let mut again = start(maia::pgcluster::ClusterOptions {
        fresh: false,
        ..options
    })
    .await
    .unwrap();
    assert_eq!(again.data_dir(), stand_in);
    psql(&again.url("maia"))
        .await
        .batch_execute("SELECT x FROM kept")
        .await
        .unwrap();
    again.stop().unwrap();
    let _ = tokio::process::Command::new("rm")
        .arg("-rf")
        .arg(&stand_in)
        .status()
        .await;
}
