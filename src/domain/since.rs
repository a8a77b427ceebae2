//! `--since` of an export: a day (midnight UTC) or an RFC 3339 time.

use chrono::{DateTime, NaiveDate, Utc};

/// The time an export starts from: rows made at or after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Since(pub DateTime<Utc>);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{0:?} is not a date: give a day (2026-12-01, midnight UTC) or an RFC 3339 time \
     (2026-12-01T08:00:00Z)"
)]
pub struct BadSince(pub String);

impl Since {
    pub fn parse(text: &str) -> Result<Self, BadSince> {
        let text = text.trim();
        if let Ok(day) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
            if let Some(midnight) = day.and_hms_opt(0, 0, 0) {
                return Ok(Self(midnight.and_utc()));
            }
        }
        DateTime::parse_from_rfc3339(text)
            .map(|t| Self(t.with_timezone(&Utc)))
            .map_err(|_| BadSince(text.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_day_means_its_midnight_in_utc() {
        let since = Since::parse("2026-12-01").unwrap();
        assert_eq!(since.0.to_rfc3339(), "2026-12-01T00:00:00+00:00");
    }

    #[test]
    fn a_time_with_an_offset_is_taken_in_utc() {
        let since = Since::parse("2026-12-01T08:00:00+02:00").unwrap();
        assert_eq!(since.0.to_rfc3339(), "2026-12-01T06:00:00+00:00");
    }

    #[test]
    fn anything_else_is_refused_saying_what_is_taken() {
        for bad in ["yesterday", "2026-13-01", "01/12/2026", ""] {
            let e = Since::parse(bad).unwrap_err();
            assert!(e.to_string().contains("RFC 3339"), "{bad}: {e}");
        }
    }
}
