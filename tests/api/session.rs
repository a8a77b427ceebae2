//! Browser sessions: a token signs in and gets a cookie; the cookie stands for the token,
//! needs the CSRF header to change anything, and ends with sign-out or the token.

use std::time::Duration;

use serde_json::json;

use crate::kit::tokens::{issue_token, revoke};
use crate::kit::{decode, error_code, TestApp};

/// `POST /api/session` with `token`: the status, the body and the Set-Cookie header.
async fn sign_in(app: &TestApp, token: &str, https: bool) -> (u16, serde_json::Value, String) {
    let mut request = app.anonymous.post(app.url("/api/session"));
    if https {
        request = request.header("x-forwarded-proto", "https");
    }
    let response = request
        .json(&json!({ "token": token }))
        .send()
        .await
        .unwrap();
    let cookie = response
        .headers()
        .get("set-cookie")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let (status, body) = decode(response).await;
    (status, body, cookie)
}

/// The `name=value` part of a Set-Cookie header.
fn pair(set_cookie: &str) -> String {
    set_cookie.split(';').next().unwrap().to_string()
}

async fn with_cookie(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    cookie: &str,
    csrf: bool,
) -> (u16, serde_json::Value) {
    let mut request = app
        .anonymous
        .request(method, app.url(path))
        .header("cookie", cookie);
    if csrf {
        request = request.header("x-maia-csrf", "1");
    }
    if path.ends_with("/query") {
        request = request.json(&json!({ "query": "from the browser" }));
    }
    decode(request.send().await.unwrap()).await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_signs_in_to_a_strict_http_only_cookie_that_reads_and_asks() {
    let app = TestApp::spawn().await;
    let token = issue_token(&app.db_url, "browser", &["query", "read"]).await;

    let (status, body, set_cookie) = sign_in(&app, &token.token, false).await;
    let cookie = pair(&set_cookie);
    let (read, _) = with_cookie(&app, reqwest::Method::GET, "/api/personas", &cookie, false).await;
    let (no_csrf, refused) = with_cookie(
        &app,
        reqwest::Method::POST,
        "/api/consciousness/query",
        &cookie,
        false,
    )
    .await;
    let (asked, answer) = with_cookie(
        &app,
        reqwest::Method::POST,
        "/api/consciousness/query",
        &cookie,
        true,
    )
    .await;
    let (_, _, secure_cookie) = sign_in(&app, &token.token, true).await;

    assert_eq!(status, 200, "{body}");
    assert!(body["expires_at"].is_string(), "{body}");
    assert!(cookie.starts_with("maia_session="), "{set_cookie}");
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age="] {
        assert!(set_cookie.contains(attribute), "{attribute}: {set_cookie}");
    }
    assert!(
        !set_cookie.contains("Secure"),
        "plain HTTP on loopback: {set_cookie}"
    );
    assert!(
        secure_cookie.contains("Secure"),
        "behind HTTPS: {secure_cookie}"
    );
    assert!(
        !set_cookie.contains(&token.token),
        "the cookie is not the token"
    );
    assert_eq!(read, 200);
    assert_eq!(
        (no_csrf, error_code(&refused)),
        (403, "csrf_header_missing")
    );
    assert_eq!(asked, 200, "{answer}");
    let stored = app.traces().await;
    assert_eq!(
        stored[0].token_id,
        Some(token.id),
        "the session asks as its token"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn only_a_valid_token_signs_in() {
    let app = TestApp::spawn().await;
    let revoked = issue_token(&app.db_url, "gone", &["read"]).await;
    revoke(&app.db_url, &revoked).await;

    let (unknown, body, cookie) = sign_in(&app, &crate::kit::tokens::new_token_text(), false).await;
    let (malformed, malformed_body, _) = sign_in(&app, "hunter2", false).await;
    let (gone, gone_body, _) = sign_in(&app, &revoked.token, false).await;
    let extra = app
        .anonymous
        .post(app.url("/api/session"))
        .json(&json!({ "token": revoked.token, "remember": true }))
        .send()
        .await
        .unwrap()
        .status();

    assert_eq!((unknown, error_code(&body)), (401, "token_invalid"));
    assert!(cookie.is_empty(), "no cookie for a refusal");
    assert_eq!(
        (malformed, error_code(&malformed_body)),
        (401, "token_malformed")
    );
    assert_eq!((gone, error_code(&gone_body)), (401, "token_revoked"));
    assert_eq!(extra, 422, "unknown fields are refused");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn signing_out_or_revoking_the_token_ends_the_session() {
    let app = TestApp::spawn().await;
    let token = issue_token(&app.db_url, "browser", &["read"]).await;
    let (_, _, first) = sign_in(&app, &token.token, false).await;
    let (_, _, second) = sign_in(&app, &token.token, false).await;
    let (first, second) = (pair(&first), pair(&second));

    let signed_out = app
        .anonymous
        .delete(app.url("/api/session"))
        .header("cookie", &first)
        .header("x-maia-csrf", "1")
        .send()
        .await
        .unwrap();
    let removal = signed_out.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_string();
    let (after_sign_out, _) =
        with_cookie(&app, reqwest::Method::GET, "/api/personas", &first, false).await;
    let (other_session, _) =
        with_cookie(&app, reqwest::Method::GET, "/api/personas", &second, false).await;
    revoke(&app.db_url, &token).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    let (after_revoke, body) =
        with_cookie(&app, reqwest::Method::GET, "/api/personas", &second, false).await;

    assert_eq!(signed_out.status(), 204);
    assert!(
        removal.contains("maia_session=;") && removal.contains("Max-Age=0"),
        "{removal}"
    );
    assert_eq!(after_sign_out, 401);
    assert_eq!(other_session, 200, "another session of the token goes on");
    assert_eq!((after_revoke, error_code(&body)), (401, "token_revoked"));
    app.stop().await;
}
