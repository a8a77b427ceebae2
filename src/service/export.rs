//! Export: everything the owner has, as NDJSON, a page at a time (the CLI's file and
//! `GET /api/export` are the same bytes: both are this stream). The first line says what
//! the file is; then a line per row, table after table in the order of [`store::TABLES`],
//! each table's rows in the order of its key.

use chrono::{DateTime, Utc};
use futures_util::stream::{self, Stream};

use super::error::ServiceError;
use crate::domain::Since;
use crate::store::{self, Db, TABLES};

/// The file format: a new one when a line's meaning changes.
pub const FORMAT: u64 = 1;
/// The schema the first export was made at; older files do not exist.
pub const FIRST_SCHEMA: i32 = 11;
/// The header's `kind`.
pub const HEADER_KIND: &str = "maia-export";

/// The schema this maia writes: its latest migration.
pub fn latest_schema() -> i32 {
    store::embedded_migrations()
        .last()
        .map(|m| m.0)
        .unwrap_or(0)
}

/// The first line. Nothing in it varies (no time, no host): exporting the same rows twice
/// gives the same bytes.
pub fn header() -> String {
    format!(
        "{{\"kind\":\"{HEADER_KIND}\",\"format\":{FORMAT},\"schema\":{}}}\n",
        latest_schema()
    )
}

/// Where an export is.
struct At {
    started: bool,
    /// Whether knowledge's tables are there, once asked.
    knowledge: Option<bool>,
    table: usize,
    after: Option<Vec<String>>,
}

/// The export of `db`'s rows (made at or after `since`, where given), as pieces of text to
/// write one after the other: the header, then a page of lines each. Each page is read
/// when the one before has been taken, so memory holds one page whatever the size.
pub fn export(
    db: Db,
    since: Option<Since>,
) -> impl Stream<Item = Result<String, ServiceError>> + Send + 'static {
    let since = since.map(|s| s.0);
    let at = At {
        started: false,
        knowledge: None,
        table: 0,
        after: None,
    };
    stream::try_unfold(at, move |at| {
        let db = db.clone();
        async move { next_piece(&db, since, at).await }
    })
}

async fn next_piece(
    db: &Db,
    since: Option<DateTime<Utc>>,
    mut at: At,
) -> Result<Option<(String, At)>, ServiceError> {
    if !at.started {
        at.started = true;
        return Ok(Some((header(), at)));
    }
    let knowledge = match at.knowledge {
        Some(known) => known,
        None => {
            let work = async { store::has_knowledge_tables(&**db.conn().await?).await };
            let known = db.bounded(work).await?;
            at.knowledge = Some(known);
            known
        }
    };
    while let Some(table) = TABLES.get(at.table) {
        if table.knowledge && !knowledge {
            at.table += 1;
            continue;
        }
        let after = at.after.take();
        let work = async {
            let conn = db.conn().await?;
            store::export_page(&**conn, table, after.as_deref(), since).await
        };
        let page = db.bounded(work).await?;
        if page.rows == 0 {
            at.table += 1;
            continue;
        }
        at.after = page.last;
        return Ok(Some((page.lines, at)));
    }
    Ok(None)
}
