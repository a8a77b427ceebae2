//! `POST /api/documents` as a file upload (`multipart/form-data`): a note taken, titled by
//! its file's name; any other kind of file, a part too large, a part maia does not take, a
//! body that is not multipart at all: each a clear 4xx.

use serde_json::Value;

use crate::kit::knowledge::spawn_with_knowledge;
use crate::kit::{decode, error_code, TestApp};

const BOUNDARY: &str = "maia-test-boundary-7f3a";

/// One part: its name, its file's name (a file part) and its bytes.
type Part<'a> = (&'a str, Option<&'a str>, &'a [u8]);

/// A `multipart/form-data` body of `parts`, as a browser's form writes it.
fn form(parts: &[Part]) -> Vec<u8> {
    let mut body = Vec::new();
    for (name, filename, bytes) in parts {
        body.extend_from_slice(format!("--{BOUNDARY}\r\n").as_bytes());
        let disposition = match filename {
            Some(file) => format!(
                "Content-Disposition: form-data; name=\"{name}\"; filename=\"{file}\"\r\n\
                 Content-Type: application/octet-stream\r\n"
            ),
            None => format!("Content-Disposition: form-data; name=\"{name}\"\r\n"),
        };
        body.extend_from_slice(disposition.as_bytes());
        body.extend_from_slice(b"\r\n");
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    body
}

async fn upload(app: &TestApp, content_type: &str, body: Vec<u8>) -> (u16, Value) {
    let response = app
        .http
        .post(app.url("/api/documents"))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .expect("POST /api/documents");
    decode(response).await
}

async fn upload_parts(app: &TestApp, parts: &[Part<'_>]) -> (u16, Value) {
    let content_type = format!("multipart/form-data; boundary={BOUNDARY}");
    upload(app, &content_type, form(parts)).await
}

#[actix_web::test]
async fn a_note_uploaded_as_a_file_is_a_document_titled_by_its_name() {
    let Some(app) = spawn_with_knowledge().await else {
        return;
    };
    let note = "# Backups\n\nThe dump runs nightly at 01:15.".as_bytes();

    let (status, added) = upload_parts(&app, &[("file", Some("Nightly Backups.md"), note)]).await;
    let source = ("source", None, "vault/backups.md".as_bytes());
    let titled = [
        ("title", None, "Backups, titled".as_bytes()),
        ("file", Some("b.TXT"), note),
        source,
    ];
    let (_, first) = upload_parts(&app, &titled).await;
    let (_, again) = upload_parts(&app, &titled).await;

    assert_eq!(status, 201, "{added}");
    assert_eq!(
        (&added["title"], &added["outcome"]),
        (&"Nightly Backups".into(), &"added".into())
    );
    let (_, stored) = app
        .get(&format!("/api/documents/{}", added["id"].as_str().unwrap()))
        .await;
    assert_eq!(stored["content"].as_str().unwrap().as_bytes(), note);
    assert_eq!(
        (&first["title"], &first["source"]),
        (&"Backups, titled".into(), &"vault/backups.md".into())
    );
    assert_eq!(
        (&again["outcome"], &again["id"]),
        (&"unchanged".into(), &first["id"])
    );
    let hits = app.search_hits("when does the dump run", 1).await;
    assert!(
        hits[0]["title"].as_str().unwrap().contains("Backups"),
        "{hits:?}"
    );
}

#[actix_web::test]
async fn anything_but_a_note_within_bounds_is_a_clear_4xx() {
    let Some(app) = spawn_with_knowledge().await else {
        return;
    };
    let note: &[u8] = b"# A note";
    let huge = vec![b'x'; 1024 * 1024 + 1];
    let cases: [(&[Part], u16, &str); 7] = [
        (
            &[("file", Some("photo.png"), note)],
            415,
            "unsupported_media_type",
        ),
        (&[("file", None, note)], 415, "unsupported_media_type"),
        (&[("title", None, b"no file")], 422, "validation_failed"),
        (
            &[("file", Some("a.md"), note), ("tags", None, b"x")],
            422,
            "validation_failed",
        ),
        (
            &[("file", Some("a.md"), note), ("file", Some("b.md"), note)],
            422,
            "validation_failed",
        ),
        (
            &[("file", Some("latin1.txt"), b"caf\xe9")],
            422,
            "validation_failed",
        ),
        (&[("file", Some("big.md"), &huge)], 413, "payload_too_large"),
    ];
    for (parts, status, code) in cases {
        let (got, body) = upload_parts(&app, parts).await;
        assert_eq!((got, error_code(&body)), (status, code), "{body}");
        assert!(body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()));
    }
    let (status, body) = upload(&app, "multipart/form-data", form(&[])).await;
    assert_eq!(
        (status, error_code(&body)),
        (400, "bad_request"),
        "no boundary: {body}"
    );
    let (status, body) = upload(&app, "text/markdown", note.to_vec()).await;
    assert_eq!(
        (status, error_code(&body)),
        (415, "unsupported_media_type"),
        "{body}"
    );
    let (_, listed) = app.get("/api/documents").await;
    assert_eq!(listed["documents"].as_array().unwrap().len(), 0);
}
