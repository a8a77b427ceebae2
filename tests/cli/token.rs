//! `maia token`: the lifecycle as an operator runs it, against the configured database.

use std::process::Output;

use crate::kit::process::{output, text};
use crate::kit::tokens::sha256;
use crate::kit::{fresh_database, maia, migrated_database, Database, Scratch};

/// `maia token ARGS` against `db`.
async fn token(db: &Database, args: &[&str]) -> Output {
    let mut command = maia();
    command
        .arg("token")
        .args(args)
        .env("MAIA_DATABASE__URL", &db.url);
    output(command).await
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn create_prints_the_token_alone_and_list_never_shows_it() {
    let db = migrated_database().await;

    let created = token(&db, &["create", "--name", "laptop"]).await;
    let listed = token(&db, &["list"]).await;
    let json = token(&db, &["list", "--json"]).await;
    let again = token(&db, &["create", "--name", "laptop"]).await;

    assert!(created.status.success(), "{}", text(&created));
    let secret = stdout(&created);
    assert_eq!(
        secret.lines().count(),
        1,
        "only the token on stdout: {secret}"
    );
    let secret = secret.trim();
    assert!(
        secret.starts_with("maia_") && secret.len() == 48,
        "{secret}"
    );
    assert!(
        stderr(&created).contains("shown once"),
        "{}",
        stderr(&created)
    );
    for out in [&listed, &json] {
        let shown = text(out);
        assert!(out.status.success(), "{shown}");
        assert!(shown.contains("laptop"), "{shown}");
        assert!(!shown.contains(secret), "list shows the token: {shown}");
        assert!(
            !shown.contains(&hex(&sha256(secret))),
            "list shows the hash: {shown}"
        );
    }
    assert!(
        stdout(&listed).contains("query,read"),
        "{}",
        stdout(&listed)
    );
    let records: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let record = &records[0];
    assert_eq!(record["name"], "laptop");
    assert_eq!(record["scopes"], serde_json::json!(["query", "read"]));
    assert!(
        record.get("hash").is_none() && record["revoked_at"].is_null(),
        "{record}"
    );
    assert!(!again.status.success(), "a live name is taken");
    assert!(stderr(&again).contains("laptop"), "{}", stderr(&again));
}

#[tokio::test(flavor = "multi_thread")]
async fn scopes_expiry_and_revocation() {
    let db = migrated_database().await;

    let bad_scope = token(&db, &["create", "--name", "x", "--scopes", "read,write"]).await;
    let bad_name = token(&db, &["create", "--name", "Not A Name"]).await;
    let expiring = token(
        &db,
        &[
            "create",
            "--name",
            "ci",
            "--scopes",
            "read,admin",
            "--expires-in-days",
            "7",
        ],
    )
    .await;
    let revoked = token(&db, &["revoke", "ci"]).await;
    let revoked_again = token(&db, &["revoke", "ci"]).await;
    let reused = token(&db, &["create", "--name", "ci"]).await;
    let scraper = token(&db, &["create", "--name", "prom", "--scopes", "metrics"]).await;
    let listed = stdout(&token(&db, &["list"]).await);

    assert!(!bad_scope.status.success());
    assert!(
        stderr(&bad_scope).contains("write") && stderr(&bad_scope).contains("admin"),
        "{}",
        stderr(&bad_scope)
    );
    assert!(!bad_name.status.success());
    assert!(
        stderr(&bad_name).contains("lowercase"),
        "{}",
        stderr(&bad_name)
    );
    assert!(expiring.status.success(), "{}", text(&expiring));
    assert!(revoked.status.success(), "{}", text(&revoked));
    assert!(!revoked_again.status.success());
    assert!(
        stderr(&revoked_again).contains("no live token"),
        "{}",
        stderr(&revoked_again)
    );
    assert!(
        reused.status.success(),
        "a revoked token's name may be used again"
    );
    assert!(
        listed.contains("revoked") && listed.contains("live"),
        "{listed}"
    );
    // The scraper's scope, which the database takes since V11.
    assert!(scraper.status.success(), "{}", text(&scraper));
    let prom = listed
        .lines()
        .find(|l| l.contains("prom"))
        .unwrap_or_default();
    assert!(
        prom.contains("metrics") && !prom.contains("read"),
        "{listed}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_from_a_file_is_stored_once_and_a_different_one_is_refused() {
    let db = migrated_database().await;
    let scratch = Scratch::new("token-file");
    let file = scratch.path("token");
    let secret = crate::kit::tokens::new_token_text();
    std::fs::write(&file, format!("{secret}\n")).unwrap();
    let other = scratch.path("other");
    std::fs::write(&other, crate::kit::tokens::new_token_text()).unwrap();
    let garbage = scratch.path("garbage");
    std::fs::write(&garbage, "hunter2").unwrap();
    let path = |p: &std::path::Path| p.to_str().unwrap().to_string();

    let first = token(
        &db,
        &["create", "--name", "vps", "--from-file", &path(&file)],
    )
    .await;
    let second = token(
        &db,
        &["create", "--name", "vps", "--from-file", &path(&file)],
    )
    .await;
    let different = token(
        &db,
        &["create", "--name", "vps", "--from-file", &path(&other)],
    )
    .await;
    let bad = token(
        &db,
        &["create", "--name", "bad", "--from-file", &path(&garbage)],
    )
    .await;
    let stored: Vec<u8> = crate::kit::psql(&db.url)
        .await
        .query_one("SELECT hash FROM access_tokens WHERE name = 'vps'", &[])
        .await
        .unwrap()
        .get(0);

    assert!(first.status.success(), "{}", text(&first));
    assert!(
        stdout(&first).is_empty(),
        "nothing to show: the operator has the token"
    );
    assert!(
        second.status.success() && stderr(&second).contains("nothing changed"),
        "{}",
        text(&second)
    );
    assert!(!different.status.success(), "{}", text(&different));
    assert!(
        !bad.status.success() && !text(&bad).contains("hunter2"),
        "{}",
        text(&bad)
    );
    assert_eq!(stored, sha256(&secret), "only the hash is stored");
}

#[tokio::test(flavor = "multi_thread")]
async fn token_commands_on_an_unmigrated_database_say_what_to_run() {
    let db = fresh_database().await;
    let out = token(&db, &["list"]).await;
    assert!(!out.status.success());
    assert!(stderr(&out).contains("maia migrate"), "{}", stderr(&out));
}
