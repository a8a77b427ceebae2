//! Sovereignty by the binary: `maia serve` refuses a public database and says why;
//! `sovereignty.allow_hosts` entries as `maia check --offline` reads them.

use crate::kit::maia;
use crate::kit::process::{output, text};
use crate::kit::settings::unreachable_ollama;

#[tokio::test(flavor = "multi_thread")]
async fn maia_serve_refuses_a_public_database_and_says_why() {
    let mut serve = maia();
    serve
        .arg("serve")
        .env("MAIA_HTTP__LISTEN", "127.0.0.1:0")
        .env("MAIA_DATABASE__URL", "postgresql://maia@8.8.8.8:5432/maia")
        .env("MAIA_OLLAMA__URL", "http://127.0.0.1:11434");

    let out = output(serve).await;

    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("sovereignty") && err.contains("8.8.8.8"),
        "{}",
        text(&out)
    );
}

/// `maia check --offline` with these variables: its exit code and everything it printed.
async fn check_offline(env: &[(&str, &str)]) -> (Option<i32>, String) {
    let mut check = maia();
    check.args(["check", "--offline"]).envs(env.iter().copied());
    let out = output(check).await;
    (out.status.code(), text(&out))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wildcard_in_allow_hosts_allows_every_name_under_its_domain() {
    let (code, shown) = check_offline(&[
        ("MAIA_DATABASE__URL", "postgresql://maia@db.home.lan/maia"),
        ("MAIA_OLLAMA__URL", "http://gpu.lan:11434"),
        ("MAIA_SOVEREIGNTY__ALLOW_HOSTS", "*.lan"),
    ])
    .await;

    assert_eq!(code, Some(0), "{shown}");
    for endpoint in ["database db.home.lan:5432", "ollama gpu.lan:11434"] {
        assert!(
            shown.contains(&format!("{endpoint}: allowed by sovereignty.allow_hosts")),
            "{shown}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_allow_hosts_entry_that_could_never_match_is_a_configuration_error() {
    let (code, shown) = check_offline(&[("MAIA_SOVEREIGNTY__ALLOW_HOSTS", "gpu.lan:11434")]).await;

    assert_eq!(code, Some(2), "{shown}");
    assert!(
        shown.contains("sovereignty.allow_hosts")
            && shown.contains("\"gpu.lan:11434\" is not a host: it has a port")
            && shown.contains("*.domain"),
        "{shown}"
    );
}

/// Every command that would connect to a public database refuses as it refuses a
/// configuration that does not load: exit 2, the reason said once (not logged as well).
#[tokio::test(flavor = "multi_thread")]
async fn a_sovereignty_refusal_exits_2_and_is_said_once_by_every_command() {
    for args in [
        &["serve"][..],
        &["migrate"],
        &["migrate", "--status"],
        &["check"],
        &["token", "list"],
    ] {
        let mut command = maia();
        command
            .args(args)
            .env("MAIA_HTTP__LISTEN", "127.0.0.1:0")
            .env("MAIA_DATABASE__URL", "postgresql://maia@8.8.8.8:5432/maia")
            .env("MAIA_OLLAMA__URL", unreachable_ollama());

        let out = output(command).await;

        let shown = text(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {shown}");
        assert_eq!(
            shown.matches("8.8.8.8 is a public address").count(),
            1,
            "{args:?}: {shown}"
        );
    }
}

/// Each of several Ollama servers is judged as one alone is: a public one among local
/// ones is refused, and so is `maia serve` with it.
#[tokio::test(flavor = "multi_thread")]
async fn every_ollama_server_is_judged_and_a_public_one_among_them_refused() {
    let urls = "http://127.0.0.1:11434,http://10.0.0.2:11434,http://8.8.8.8:11434";
    let env = [
        ("MAIA_DATABASE__URL", "postgresql://maia@127.0.0.1/maia"),
        ("MAIA_OLLAMA__URLS", urls),
    ];
    let (code, shown) = check_offline(&env).await;
    let mut serve = maia();
    serve
        .arg("serve")
        .env("MAIA_HTTP__LISTEN", "127.0.0.1:0")
        .envs(env.iter().copied());
    let served = output(serve).await;

    assert_eq!(code, Some(2), "{shown}");
    assert!(shown.contains("ollama 127.0.0.1:11434: local"), "{shown}");
    assert!(shown.contains("ollama 10.0.0.2:11434: local"), "{shown}");
    assert_eq!(
        shown.matches("8.8.8.8 is a public address").count(),
        1,
        "{shown}"
    );
    assert_eq!(served.status.code(), Some(2), "{}", text(&served));
    assert!(text(&served).contains("8.8.8.8"), "{}", text(&served));
}
