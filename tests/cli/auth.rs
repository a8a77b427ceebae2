//! Authentication as the binary does it: no starting without it on a public address, and
//! no token or session id in the logs, even at debug level.

use std::time::Duration;

use serde_json::json;

use crate::kit::process::{output, serving, text};
use crate::kit::tokens::{issue_token, ALL_SCOPES};
use crate::kit::{http_client, maia};

#[tokio::test(flavor = "multi_thread")]
async fn authentication_can_be_off_only_on_loopback() {
    let mut public = maia();
    public
        .arg("serve")
        .env("MAIA_AUTH__REQUIRED", "false")
        .env("MAIA_HTTP__LISTEN", "0.0.0.0:0");
    let mut check = maia();
    check
        .args(["check", "--offline"])
        .env("MAIA_AUTH__REQUIRED", "false")
        .env("MAIA_HTTP__LISTEN", "0.0.0.0:8080");
    let mut loopback = maia();
    loopback
        .args(["check", "--offline"])
        .env("MAIA_AUTH__REQUIRED", "false")
        .env("MAIA_HTTP__LISTEN", "127.0.0.1:8080");

    let public = output(public).await;
    let check = output(check).await;
    let loopback = output(loopback).await;

    assert_eq!(public.status.code(), Some(2), "{}", text(&public));
    let why = text(&public);
    assert!(
        why.contains("auth.required")
            && why.contains("loopback")
            && why.contains("maia token create"),
        "{why}"
    );
    assert!(
        !check.status.success() && text(&check).contains("auth.required"),
        "{}",
        text(&check)
    );
    assert!(loopback.status.success(), "{}", text(&loopback));
}

#[tokio::test(flavor = "multi_thread")]
async fn with_authentication_off_on_loopback_no_token_is_needed() {
    let (mut server, base, _, _ollama) = serving(&[("MAIA_AUTH__REQUIRED", "false")]).await;

    let answer = http_client()
        .post(format!("{base}/api/consciousness/query"))
        .json(&json!({ "query": "no token" }))
        .send()
        .await
        .unwrap();

    assert_eq!(answer.status(), 200);
    assert!(
        server.log().contains("auth.required is off"),
        "{}",
        server.log()
    );
    server.assert_stops_cleanly(Duration::from_secs(10)).await;
}

/// Every way a credential reaches maia: a token that works, one that does not, one in the
/// wrong scheme, a sign-in with the token in the body, a session cookie. The statuses, and
/// the session id.
async fn present_credentials(base: &str, token: &str, wrong: &str) -> (Vec<u16>, String) {
    let http = http_client();
    let asked = http
        .post(format!("{base}/api/consciousness/query"))
        .bearer_auth(token)
        .json(&json!({ "query": "is my token logged?" }))
        .send()
        .await
        .unwrap();
    let refused = http
        .get(format!("{base}/api/traces"))
        .bearer_auth(wrong)
        .send()
        .await
        .unwrap();
    let odd = http
        .get(format!("{base}/api/traces"))
        .header("authorization", format!("Basic {token}"))
        .send()
        .await
        .unwrap();
    let signed_in = http
        .post(format!("{base}/api/session"))
        .json(&json!({ "token": token }))
        .send()
        .await
        .unwrap();
    let cookie = signed_in.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_string();
    let session = cookie
        .split(';')
        .next()
        .unwrap()
        .trim_start_matches("maia_session=");
    let read = http
        .get(format!("{base}/api/personas"))
        .header("cookie", format!("maia_session={session}"))
        .send()
        .await
        .unwrap();
    let statuses = [asked, refused, odd, read]
        .iter()
        .map(|r| r.status().as_u16())
        .collect();
    (statuses, session.to_string())
}

#[tokio::test(flavor = "multi_thread")]
async fn no_token_or_session_id_reaches_the_log_even_at_debug_level() {
    let env: [(&str, &str); 2] = [("MAIA_LOG__LEVEL", "debug"), ("MAIA_LOG__FORMAT", "json")];
    let (mut server, base, db_url, _ollama) = serving(&env).await;
    let token = issue_token(&db_url, "logged", ALL_SCOPES).await.token;
    let wrong = format!("{}x", &token[..token.len() - 1]);

    let (statuses, session) = present_credentials(&base, &token, &wrong).await;
    server.assert_stops_cleanly(Duration::from_secs(10)).await;
    let log = server.log();

    assert_eq!(statuses, [200, 401, 401, 200]);
    assert!(log.contains("request done"), "the log is there: {log}");
    for secret in [token.as_str(), &wrong, &session, &token[5..]] {
        assert!(!log.contains(secret), "a secret in the log:\n{log}");
    }
    assert!(!log.to_lowercase().contains("authorization"), "{log}");
    // Nor their hashes, which would be enough to look a token up.
    let hash = format!("{:?}", crate::kit::tokens::sha256(&token));
    assert!(
        !log.contains(&hash[1..hash.len() - 1]),
        "a token's hash in the log:\n{log}"
    );
}
