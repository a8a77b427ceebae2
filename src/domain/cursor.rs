//! Where a page ends: its last row's time and id, the very order a list is kept in (the
//! history: a trace's `(created_at, id)`; conversations: `(last_activity_at, id)`). It
//! names a position, not a row, so it stays good when that row is deleted. Clients get it
//! as opaque text and hand it back unchanged.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use uuid::Uuid;

/// Microseconds (PostgreSQL's precision) then the id: 8 + 16 bytes.
const CURSOR_BYTES: usize = 24;
/// The earliest `timestamptz` PostgreSQL stores (4714-11-24 BC), in microseconds since
/// 1970. An earlier time is no position in any history, and the database would refuse to
/// compare with it. (Its latest, in 294276 AD, is past any time chrono makes.)
const EARLIEST_MICROS: i64 = -210_866_803_200_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageCursor {
    /// The time the list is ordered by.
    pub at: DateTime<Utc>,
    pub id: Uuid,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "before is not a page cursor: pass the next_before of the previous page, unchanged \
     (32 characters of base64url)"
)]
pub struct BadCursor;

impl PageCursor {
    /// Unpadded base64url of the microseconds since 1970 (big-endian) and the id's bytes.
    pub fn encode(&self) -> String {
        let mut bytes = [0u8; CURSOR_BYTES];
        bytes[..8].copy_from_slice(&self.at.timestamp_micros().to_be_bytes());
        bytes[8..].copy_from_slice(self.id.as_bytes());
        URL_SAFE_NO_PAD.encode(bytes)
    }

    pub fn parse(text: &str) -> Result<Self, BadCursor> {
        let bytes: [u8; CURSOR_BYTES] = URL_SAFE_NO_PAD
            .decode(text)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or(BadCursor)?;
        let (micros, id) = bytes.split_at(8);
        let micros = i64::from_be_bytes(micros.try_into().map_err(|_| BadCursor)?);
        if micros < EARLIEST_MICROS {
            return Err(BadCursor);
        }
        Ok(Self {
            at: DateTime::from_timestamp_micros(micros).ok_or(BadCursor)?,
            id: Uuid::from_slice(id).map_err(|_| BadCursor)?,
        })
    }
}

impl serde::Serialize for PageCursor {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.encode())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_comes_back_as_it_was_given() {
        let cursor = PageCursor {
            at: DateTime::from_timestamp_micros(1_790_000_000_123_456).unwrap(),
            id: Uuid::new_v4(),
        };
        let text = cursor.encode();
        assert_eq!(text.len(), 32);
        assert_eq!(PageCursor::parse(&text), Ok(cursor));
    }

    #[test]
    fn anything_else_is_not_a_cursor() {
        let id = Uuid::new_v4().to_string();
        for text in [
            "",
            "nope",
            &id,
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "f/+AAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        ] {
            assert_eq!(PageCursor::parse(text), Err(BadCursor), "{text:?}");
        }
        // The right length, but a time no clock shows.
        let far = URL_SAFE_NO_PAD.encode([0x7f; CURSOR_BYTES]);
        assert_eq!(PageCursor::parse(&far), Err(BadCursor));
    }

    #[test]
    fn a_time_before_any_postgresql_stores_is_not_a_cursor() {
        let at = |micros: i64| PageCursor {
            at: DateTime::from_timestamp_micros(micros).unwrap(),
            id: Uuid::nil(),
        };
        let earliest = at(EARLIEST_MICROS);
        assert_eq!(PageCursor::parse(&earliest.encode()), Ok(earliest));
        let before = at(EARLIEST_MICROS - 1).encode();
        assert_eq!(PageCursor::parse(&before), Err(BadCursor));
    }
}
