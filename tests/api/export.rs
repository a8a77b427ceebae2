//! `GET /api/export`: the owner's export, streamed as a file, the same bytes as `maia export`.

use crate::kit::database::Database;
use crate::kit::export::{export_to, seed_everything};
use std::time::Duration;

use crate::kit::{error_code, psql, wait_until, Scratch, TestApp};

#[tokio::test(flavor = "multi_thread")]
async fn the_export_is_streamed_as_an_attachment_with_the_bytes_maia_export_writes() {
    let app = TestApp::spawn().await;
    let db = Database {
        name: String::new(),
        url: app.db_url.clone(),
    };
    let seeded = seed_everything(&db).await;
    let scratch = Scratch::new("api-export");
    // The app's token notes when it was first used, which is in the export: once noted, it
    // is not noted again for a while.
    let warm = app.http.get(app.url("/api/export")).send().await.unwrap();
    assert_eq!(warm.status().as_u16(), 200);
    let noted = wait_until(Duration::from_secs(10), || async {
        psql(&app.db_url)
            .await
            .query_one(
                "SELECT count(*) FROM access_tokens WHERE last_used_at IS NOT NULL",
                &[],
            )
            .await
            .map(|r| r.get::<_, i64>(0) == 1)
            .unwrap_or(false)
    })
    .await;
    assert!(noted, "the app's token was never noted as used");

    let response = app.http.get(app.url("/api/export")).send().await.unwrap();

    assert_eq!(response.status().as_u16(), 200);
    let headers = response.headers().clone();
    assert_eq!(headers["content-type"], "application/x-ndjson");
    assert_eq!(
        headers["content-disposition"],
        "attachment; filename=\"maia-export.ndjson\""
    );
    assert_eq!(headers["transfer-encoding"], "chunked");
    assert!(headers.get("content-length").is_none());
    let body = response.bytes().await.unwrap();
    let file = export_to(&db, &scratch.path("cli.ndjson")).await;
    assert_eq!(
        String::from_utf8_lossy(&body),
        String::from_utf8_lossy(&file)
    );
    let text = String::from_utf8_lossy(&body);
    assert!(text.starts_with("{\"kind\":\"maia-export\",\"format\":1,\"schema\":"));
    assert!(text.contains(&seeded.trace.to_string()));
    assert!(!text.contains("\"hash\""), "a token's hash went out");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_since_that_is_not_a_date_is_refused() {
    let app = TestApp::spawn().await;

    let (status, body) = app.get("/api/export?since=last-tuesday").await;

    assert_eq!((status, error_code(&body)), (422, "validation_failed"));
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("RFC 3339"));
    app.stop().await;
}
