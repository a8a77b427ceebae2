//! A document uploaded as a file: `multipart/form-data` with a part `file` (a `.md`,
//! `.markdown` or `.txt` file, UTF-8, at most a document's 1 MiB) and optional text parts
//! `title` (the file's name without its extension when left out) and `source`. Each part
//! is read up to its bound and no further; a part maia does not take is refused by name.
//! (A browser form could send such a body from another site, but not with a token, and a
//! session's cookie needs `X-Maia-CSRF` on every request that changes something.)

use actix_multipart::{Field, Multipart, MultipartError};
use actix_web::http::header::{self, HeaderMap};
use actix_web::web::{Bytes, BytesMut};
use futures_util::StreamExt;

use super::body_deadline::BodyTimedOut;
use super::error::ApiError;
use crate::domain::MAX_DOCUMENT_BYTES;

/// The largest `title` or `source` part read (their own limits are in characters).
const MAX_TEXT_PART_BYTES: usize = 8 * 1024;
/// The extensions of the files taken, in any case.
const FILE_EXTENSIONS: &[&str] = &["md", "markdown", "txt"];
/// The parts taken.
const PARTS: &str = "file, title, source";

/// Whether a request's body is declared `multipart/form-data`.
pub fn is_multipart(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim_start()
                .to_ascii_lowercase()
                .starts_with("multipart/form-data")
        })
}

/// An upload's parts, read.
#[derive(Debug, Default)]
pub struct Upload {
    /// The file's name and its text.
    pub file: Option<(String, String)>,
    pub title: Option<String>,
    pub source: Option<String>,
}

impl Upload {
    /// Reads every part of `multipart`.
    pub async fn read(mut multipart: Multipart) -> Result<Self, ApiError> {
        let mut upload = Upload::default();
        while let Some(field) = multipart.next().await {
            let mut field = field.map_err(multipart_error)?;
            let name = field.name().unwrap_or_default().to_string();
            match name.as_str() {
                "file" if upload.file.is_none() => upload.file = Some(read_file(&mut field).await?),
                "title" if upload.title.is_none() => {
                    upload.title = Some(read_text(&mut field).await?)
                }
                "source" if upload.source.is_none() => {
                    upload.source = Some(read_text(&mut field).await?);
                }
                "file" | "title" | "source" => {
                    return Err(ApiError::Unprocessable(format!(
                        "the part {name:?} came twice"
                    )))
                }
                _ => {
                    return Err(ApiError::Unprocessable(format!(
                        "unknown part {name:?}; accepted: {PARTS}"
                    )))
                }
            }
        }
        Ok(upload)
    }

    /// The title asked for, else the file's name without its extension.
    pub fn title(&self) -> String {
        if let Some(title) = &self.title {
            return title.clone();
        }
        let name = self.file.as_ref().map_or("", |(name, _)| name.as_str());
        let stem = std::path::Path::new(name)
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        stem.chars().take(200).collect()
    }
}

/// The `file` part: its name (which must say it is a note) and its text.
async fn read_file(field: &mut Field) -> Result<(String, String), ApiError> {
    let name = field
        .content_disposition()
        .and_then(|d| d.get_filename())
        .unwrap_or_default()
        .to_string();
    let extension = std::path::Path::new(&name)
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default();
    if !FILE_EXTENSIONS
        .iter()
        .any(|e| extension.eq_ignore_ascii_case(e))
    {
        return Err(ApiError::UnsupportedUpload(format!(
            "the file {name:?} is not a note: upload a .md, .markdown or .txt file (with its \
             name in the part's filename)"
        )));
    }
    let bytes = read_bounded(field, MAX_DOCUMENT_BYTES, ApiError::PayloadTooLarge).await?;
    let text = String::from_utf8(bytes.to_vec())
        .map_err(|_| ApiError::Unprocessable(format!("the file {name:?} is not UTF-8 text")))?;
    Ok((name, text))
}

/// A text part, at most [`MAX_TEXT_PART_BYTES`].
async fn read_text(field: &mut Field) -> Result<String, ApiError> {
    let name = field.name().unwrap_or_default().to_string();
    let too_long = |_| ApiError::Unprocessable(format!("the part {name:?} is too long"));
    let bytes = read_bounded(field, MAX_TEXT_PART_BYTES, too_long).await?;
    String::from_utf8(bytes.to_vec())
        .map_err(|_| ApiError::Unprocessable(format!("the part {name:?} is not UTF-8 text")))
}

/// A part's bytes, refused with `over(limit)` as soon as they pass `limit`.
async fn read_bounded(
    field: &mut Field,
    limit: usize,
    over: impl Fn(usize) -> ApiError,
) -> Result<Bytes, ApiError> {
    let mut bytes = BytesMut::new();
    while let Some(chunk) = field.next().await {
        let chunk = chunk.map_err(multipart_error)?;
        if bytes.len() + chunk.len() > limit {
            return Err(over(limit));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes.freeze())
}

/// A body that is not a readable multipart one.
fn multipart_error(error: MultipartError) -> ApiError {
    match &error {
        MultipartError::Payload(e) => match BodyTimedOut::in_payload_error(e) {
            Some(late) => ApiError::BodyTimeout(*late),
            None => ApiError::BadRequest("could not read the request body".into()),
        },
        _ => ApiError::BadRequest(format!("malformed multipart/form-data body: {error}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::HeaderValue;

    #[test]
    fn multipart_is_told_by_its_content_type_in_any_case() {
        let mut headers = HeaderMap::new();
        assert!(!is_multipart(&headers));
        for (value, is) in [
            ("multipart/form-data; boundary=x", true),
            ("Multipart/Form-Data; boundary=x", true),
            ("application/json", false),
            ("multipart/mixed; boundary=x", false),
        ] {
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(value));
            assert_eq!(is_multipart(&headers), is, "{value}");
        }
    }

    #[test]
    fn the_title_is_the_files_name_unless_one_is_given() {
        let mut upload = Upload {
            file: Some(("notes/Backups.md".into(), "text".into())),
            ..Upload::default()
        };
        assert_eq!(upload.title(), "Backups");
        upload.title = Some("Nightly dumps".into());
        assert_eq!(upload.title(), "Nightly dumps");
    }
}
