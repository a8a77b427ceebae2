//! The web UI as HTTP serves it: the page and its files open to all, the page with its
//! security headers and never cached unchecked, the files cached for good under their
//! version. (What a person can do with it is the browser test's.)

use crate::kit::{decode, error_code, TestApp};

/// The page's files: the `/assets/...` paths its `src` and `href` attributes name.
fn asset_paths(page: &str) -> Vec<String> {
    page.split(['"', '\''])
        .filter(|part| part.starts_with("/assets/"))
        .map(str::to_string)
        .collect()
}

fn header<'a>(response: &'a reqwest::Response, name: &str) -> &'a str {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("no {name} header"))
}

#[tokio::test(flavor = "multi_thread")]
async fn the_page_needs_no_token_and_carries_a_strict_policy() {
    let app = TestApp::spawn_with_database_down().await;
    let response = app.anonymous.get(app.url("/")).send().await.unwrap();

    assert_eq!(response.status(), 200);
    assert_eq!(
        header(&response, "content-type"),
        "text/html; charset=utf-8"
    );
    assert_eq!(header(&response, "cache-control"), "no-cache");
    assert_eq!(header(&response, "referrer-policy"), "no-referrer");
    assert_eq!(header(&response, "x-content-type-options"), "nosniff");
    let policy = header(&response, "content-security-policy").to_string();
    for directive in [
        "default-src 'none'",
        "script-src 'self'",
        "connect-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(policy.contains(directive), "{directive} not in {policy}");
    }
    assert!(!policy.contains("unsafe"), "{policy}");
    let page = response.text().await.unwrap();
    assert!(page.contains("<label for=\"token\">Access token</label>"));
    assert!(!page.contains("<script>"), "no inline script: {page}");
    assert_eq!(asset_paths(&page).len(), 2, "{page}");
    let head = app.anonymous.head(app.url("/")).send().await.unwrap();
    assert_eq!(head.status(), 200, "HEAD as GET, without a token");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn its_files_are_cached_for_good_and_another_versions_are_not_found() {
    let app = TestApp::spawn().await;
    let page = app.anonymous.get(app.url("/")).send().await.unwrap();
    let paths = asset_paths(&page.text().await.unwrap());

    let mut types = Vec::new();
    for path in &paths {
        let response = app.anonymous.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(
            header(&response, "cache-control"),
            "public, max-age=31536000, immutable"
        );
        types.push(header(&response, "content-type").to_string());
        assert!(!response.bytes().await.unwrap().is_empty(), "{path}");
    }
    let script = paths.iter().find(|p| p.ends_with("/app.js")).unwrap();
    let module = script.replace("/app.js", "/api.js");
    let module = app.anonymous.get(app.url(&module)).send().await.unwrap();
    let other_version = "/assets/0123456789abcdef/app.js";
    let (old_status, old) = decode(
        app.anonymous
            .get(app.url(other_version))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let unknown = script.replace("/app.js", "/nothing.js");
    let (unknown_status, _) =
        decode(app.anonymous.get(app.url(&unknown)).send().await.unwrap()).await;

    types.sort();
    assert_eq!(
        types,
        ["text/css; charset=utf-8", "text/javascript; charset=utf-8"]
    );
    assert_eq!(module.status(), 200, "the module app.js imports");
    assert_eq!((old_status, error_code(&old)), (404, "not_found"));
    assert_eq!(unknown_status, 404);
    app.stop().await;
}
