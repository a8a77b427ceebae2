//! A document as added to the owner's knowledge, and a search's size: parsed once.

use super::conversation::Title;
use super::question::ValidationError;

/// Largest document accepted, in bytes of UTF-8 (about 250 pages of text).
pub const MAX_DOCUMENT_BYTES: usize = 1024 * 1024;
/// Longest source (a path or a URL), in characters.
const MAX_SOURCE_CHARS: usize = 2048;
/// Hits a search gives when none is asked for, and the most it gives.
pub const DEFAULT_K: i64 = 5;
pub const MAX_K: i64 = 50;

/// A document to add: a title, its text (markdown or plain), and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentInput {
    pub title: Title,
    pub content: String,
    pub source: Option<String>,
}

impl DocumentInput {
    pub fn parse(
        title: &str,
        content: String,
        source: Option<&str>,
    ) -> Result<Self, ValidationError> {
        let bad = |why: String| Err(ValidationError::BadDocument(why));
        if content.trim().is_empty() {
            return bad("content must not be blank".into());
        }
        if content.len() > MAX_DOCUMENT_BYTES {
            return bad(format!(
                "content is {} bytes; the limit is {MAX_DOCUMENT_BYTES} bytes (1 MiB)",
                content.len()
            ));
        }
        if content.contains('\0') {
            return bad("content must not contain NUL characters (\\u0000)".into());
        }
        let source = match source.map(str::trim) {
            None => None,
            Some("") => return bad("source must not be blank (leave it out instead)".into()),
            Some(s) if s.chars().count() > MAX_SOURCE_CHARS => {
                return bad(format!(
                    "source is longer than {MAX_SOURCE_CHARS} characters"
                ))
            }
            Some(s) if s.chars().any(char::is_control) => {
                return bad("source must be one line, without control characters".into())
            }
            Some(s) => Some(s.to_string()),
        };
        Ok(Self {
            title: Title::parse(title)?,
            content,
            source,
        })
    }
}

/// How many hits a search gives: 1 to [`MAX_K`], [`DEFAULT_K`] when not said.
pub fn parse_k(k: Option<&str>) -> Result<i64, ValidationError> {
    let Some(text) = k else {
        return Ok(DEFAULT_K);
    };
    match text.trim().parse::<i64>() {
        Ok(k) if (1..=MAX_K).contains(&k) => Ok(k),
        _ => Err(ValidationError::BadK(text.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_document_needs_a_title_and_some_content_within_bounds() {
        let ok = DocumentInput::parse(" Backups ", "Nightly.".into(), Some(" /v/b.md ")).unwrap();
        assert_eq!(ok.title.as_str(), "Backups");
        assert_eq!(ok.source.as_deref(), Some("/v/b.md"));
        for (title, content, source) in [
            ("", "x", None),
            ("t", "  \n", None),
            ("t", "a\0b", None),
            ("t", "x", Some("")),
            ("t", "x", Some("a\nb")),
        ] {
            assert!(
                DocumentInput::parse(title, content.into(), source).is_err(),
                "{title:?} {content:?} {source:?}"
            );
        }
        let huge = "x".repeat(MAX_DOCUMENT_BYTES + 1);
        let err = DocumentInput::parse("t", huge, None).unwrap_err();
        assert!(err.to_string().contains("1 MiB"), "{err}");
    }

    #[test]
    fn k_is_between_one_and_the_maximum() {
        assert_eq!(parse_k(None), Ok(DEFAULT_K));
        assert_eq!(parse_k(Some("10")), Ok(10));
        for bad in ["0", "51", "-1", "ten", ""] {
            let err = parse_k(Some(bad)).unwrap_err();
            assert!(err.to_string().contains("1 to 50"), "{err}");
        }
    }
}
