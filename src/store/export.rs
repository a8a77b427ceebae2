//! Export and import: the tables the owner's data lives in, each column listed once in
//! [`TABLES`]. A row goes out as one JSON line whose values PostgreSQL writes itself
//! (`to_json`), so a value read back and written again is the same bytes; times in one fixed
//! form, microseconds in UTC. A batch of lines comes back in as one JSON array that
//! `json_populate_recordset` turns into rows of the table, inserted unless their key is
//! there.

use chrono::{DateTime, Utc};
use tokio_postgres::types::ToSql;
use tokio_postgres::GenericClient;

use super::error::StoreError;

/// How a column is written out.
#[derive(Debug, Clone, Copy)]
enum Form {
    /// As PostgreSQL's `to_json` writes it.
    Json,
    /// A time, as `2026-12-06T17:51:09.000000Z`: always microseconds (PostgreSQL's
    /// precision), always UTC, so it reads back to the same instant and is written the same.
    Time,
}

/// What an import puts in a column.
#[derive(Debug, Clone, Copy)]
enum OnImport {
    /// The file's value.
    AsIs,
    /// The file's id if that row of `table` is there, else null: what PostgreSQL's
    /// `ON DELETE SET NULL` would have made of it. An export made with `--since` names
    /// rows it does not hold.
    Reference(&'static str),
    /// Null at first, the file's value once every row is in ([`fill_references`]): traces
    /// and messages name each other, so one of the two has to wait.
    Later(&'static str),
}

#[derive(Debug, Clone, Copy)]
struct Column {
    name: &'static str,
    form: Form,
    on_import: OnImport,
}

const fn value(name: &'static str) -> Column {
    Column {
        name,
        form: Form::Json,
        on_import: OnImport::AsIs,
    }
}

const fn time(name: &'static str) -> Column {
    Column {
        name,
        form: Form::Time,
        on_import: OnImport::AsIs,
    }
}

const fn reference(name: &'static str, table: &'static str) -> Column {
    Column {
        name,
        form: Form::Json,
        on_import: OnImport::Reference(table),
    }
}

const fn later(name: &'static str, table: &'static str) -> Column {
    Column {
        name,
        form: Form::Json,
        on_import: OnImport::Later(table),
    }
}

/// Which rows an export `--since` a time holds.
#[derive(Debug, Clone, Copy)]
enum Since {
    /// Every row, whatever the time: the file must import on its own.
    Always,
    /// Those made at or after it (this condition, `$SINCE` the time).
    Where(&'static str),
}

/// What an import does with a row whose key is already there.
#[derive(Debug, Clone, Copy)]
enum OnConflict {
    /// Keeps the row that is there.
    Keep,
    /// Writes the file's (personas: a fresh database has the shipped five, and a shipped
    /// persona the owner rewrote must come back as the owner wrote it).
    Replace,
}

/// A table as exported: its lines' `kind`, its key (columns and their types, the order of
/// its lines), its columns in the order written.
#[derive(Debug)]
pub struct Table {
    pub kind: &'static str,
    name: &'static str,
    key: &'static [(&'static str, &'static str)],
    columns: &'static [Column],
    /// Columns the import fills itself, with this SQL: never in a file.
    filled: &'static [(&'static str, &'static str)],
    /// An identity column the file's values go into (`OVERRIDING SYSTEM VALUE`).
    identity: Option<&'static str>,
    since: Since,
    on_conflict: OnConflict,
    /// Rows per page read: a document may be a megabyte.
    page: i64,
    /// Knowledge's: there only where the database has pgvector.
    pub knowledge: bool,
}

/// Every table exported, in the order written and imported: each after the tables it refers
/// to (traces' `message_id` waits, see [`OnImport::Later`]). A new column is a line here.
pub const TABLES: &[Table] = &[
    Table {
        kind: "persona",
        name: "personas",
        key: &[("name", "text")],
        columns: &[
            value("name"),
            value("display_name"),
            value("description"),
            value("system_prompt"),
            time("created_at"),
        ],
        filled: &[],
        identity: None,
        since: Since::Always,
        on_conflict: OnConflict::Replace,
        page: 500,
        knowledge: false,
    },
    Table {
        kind: "token",
        name: "access_tokens",
        key: &[("id", "uuid")],
        columns: &[
            value("id"),
            value("name"),
            value("scopes"),
            time("created_at"),
            time("expires_at"),
            time("last_used_at"),
            time("revoked_at"),
        ],
        // Never the hash: an imported token gets 32 random bytes nobody knows the token of,
        // so it can never sign anyone in (and is still there for the rows that name it).
        filled: &[(
            "hash",
            "uuid_send(gen_random_uuid()) || uuid_send(gen_random_uuid())",
        )],
        identity: None,
        since: Since::Always,
        on_conflict: OnConflict::Keep,
        page: 500,
        knowledge: false,
    },
    Table {
        kind: "conversation",
        name: "conversations",
        key: &[("id", "uuid")],
        columns: &[
            value("id"),
            reference("token_id", "access_tokens"),
            value("title"),
            value("persona"),
            value("model"),
            value("mode"),
            time("created_at"),
            time("last_activity_at"),
        ],
        filled: &[],
        identity: None,
        since: Since::Where("t.created_at >= $SINCE"),
        on_conflict: OnConflict::Keep,
        page: 500,
        knowledge: false,
    },
    Table {
        kind: "trace",
        name: "consciousness_traces",
        key: &[("id", "uuid")],
        columns: &[
            value("id"),
            value("query"),
            value("response"),
            value("mode"),
            value("persona"),
            value("model"),
            value("status"),
            value("error"),
            value("error_code"),
            value("latency_ms"),
            value("prompt_tokens"),
            value("completion_tokens"),
            reference("token_id", "access_tokens"),
            later("message_id", "messages"),
            value("citations"),
            value("council"),
            time("created_at"),
        ],
        filled: &[],
        identity: None,
        since: Since::Where("t.created_at >= $SINCE"),
        on_conflict: OnConflict::Keep,
        page: 500,
        knowledge: false,
    },
    Table {
        kind: "message",
        name: "messages",
        key: &[("id", "uuid")],
        columns: &[
            value("id"),
            value("conversation_id"),
            value("seq"),
            value("role"),
            value("content"),
            reference("trace_id", "consciousness_traces"),
            value("citations"),
            time("created_at"),
        ],
        filled: &[],
        identity: Some("seq"),
        // A conversation's messages go with it, whenever they were written.
        since: Since::Where(
            "t.conversation_id IN (SELECT id FROM conversations WHERE created_at >= $SINCE)",
        ),
        on_conflict: OnConflict::Keep,
        page: 500,
        knowledge: false,
    },
    Table {
        kind: "document",
        name: "documents",
        key: &[("id", "uuid")],
        columns: &[
            value("id"),
            reference("token_id", "access_tokens"),
            value("title"),
            value("source"),
            value("content"),
            value("content_hash"),
            time("created_at"),
            time("updated_at"),
        ],
        filled: &[],
        identity: None,
        since: Since::Where("t.created_at >= $SINCE"),
        on_conflict: OnConflict::Keep,
        page: 16,
        knowledge: true,
    },
    Table {
        kind: "chunk",
        name: "chunks",
        key: &[("document_id", "uuid"), ("position", "integer")],
        // No embedding: imported chunks wait for `maia docs reembed` (null embedding).
        columns: &[value("document_id"), value("position"), value("text")],
        filled: &[],
        identity: None,
        since: Since::Where(
            "t.document_id IN (SELECT id FROM documents WHERE created_at >= $SINCE)",
        ),
        on_conflict: OnConflict::Keep,
        page: 500,
        knowledge: true,
    },
];

impl Table {
    /// The names of its key's columns, as a line must hold them.
    pub fn key_names(&self) -> impl Iterator<Item = &'static str> {
        self.key.iter().map(|(name, _)| *name)
    }

    /// The columns an import fills in a second pass, once every row is in.
    pub fn has_later_columns(&self) -> bool {
        self.columns
            .iter()
            .any(|c| matches!(c.on_import, OnImport::Later(_)))
    }

    /// The names of those columns.
    pub fn later_columns(&self) -> impl Iterator<Item = &'static str> {
        self.columns
            .iter()
            .filter(|c| matches!(c.on_import, OnImport::Later(_)))
            .map(|c| c.name)
    }

    /// Whether every table its later columns name comes before the `index`th of [`TABLES`]:
    /// once an import is there, they can be filled.
    pub fn later_ready_at(&self, index: usize) -> bool {
        self.columns.iter().all(|c| match c.on_import {
            OnImport::Later(other) => TABLES[..index.min(TABLES.len())]
                .iter()
                .any(|t| t.name == other),
            _ => true,
        })
    }
}

/// A page of lines: each ends with a newline.
#[derive(Debug, Default)]
pub struct Page {
    pub lines: String,
    pub rows: usize,
    /// The last row's key, as text: where the next page starts.
    pub last: Option<Vec<String>>,
}

/// The rows of `table` after `after` (a key, as text; `None`: from the first), in the order
/// of the key, at most a page of them, as JSON lines.
#[tracing::instrument(skip_all, fields(table = table.name))]
pub async fn export_page(
    db: &impl GenericClient,
    table: &Table,
    after: Option<&[String]>,
    since: Option<DateTime<Utc>>,
) -> Result<Page, StoreError> {
    let mut params: Vec<&(dyn ToSql + Sync)> = Vec::new();
    let mut conditions = Vec::new();
    if let Some(after) = after {
        let slots: Vec<String> = table
            .key
            .iter()
            .zip(after)
            .map(|((_, ty), value)| {
                params.push(value);
                format!("${}::text::{ty}", params.len())
            })
            .collect();
        let keys: Vec<String> = table.key_names().map(|k| format!("t.{k}")).collect();
        conditions.push(format!("({}) > ({})", keys.join(", "), slots.join(", ")));
    }
    if let (Some(since), Since::Where(condition)) = (&since, table.since) {
        params.push(since);
        conditions.push(condition.replace("$SINCE", &format!("${}", params.len())));
    }
    let sql = export_sql(table, &conditions);
    let rows = db.query(sql.as_str(), &params).await?;
    let mut page = Page::default();
    for row in &rows {
        page.lines
            .push_str(&format!("{{\"kind\":\"{}\"", table.kind));
        for (i, column) in table.columns.iter().enumerate() {
            let json: Option<&str> = row.get(i);
            page.lines
                .push_str(&format!(",\"{}\":{}", column.name, json.unwrap_or("null")));
        }
        page.lines.push_str("}\n");
        let key = (table.columns.len()..row.len())
            .map(|i| row.get(i))
            .collect();
        page.last = Some(key);
        page.rows += 1;
    }
    Ok(page)
}

fn export_sql(table: &Table, conditions: &[String]) -> String {
    let mut selected: Vec<String> = table
        .columns
        .iter()
        .map(|c| match c.form {
            Form::Json => format!("to_json(t.{})::text", c.name),
            Form::Time => format!(
                "to_json(to_char(t.{} AT TIME ZONE 'UTC', \
                 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'))::text",
                c.name
            ),
        })
        .collect();
    selected.extend(table.key_names().map(|k| format!("t.{k}::text")));
    let filter = if conditions.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", conditions.join(" AND "))
    };
    let keys: Vec<String> = table.key_names().map(|k| format!("t.{k}")).collect();
    format!(
        "SELECT {} FROM {} t {filter} ORDER BY {} LIMIT {}",
        selected.join(", "),
        table.name,
        keys.join(", "),
        table.page
    )
}

/// Whether knowledge's tables are there (they are only where the database has pgvector).
#[tracing::instrument(skip_all)]
pub async fn has_knowledge_tables(db: &impl GenericClient) -> Result<bool, StoreError> {
    let row = db
        .query_one(
            "SELECT to_regclass('documents') IS NOT NULL AND to_regclass('chunks') IS NOT NULL",
            &[],
        )
        .await?;
    Ok(row.get(0))
}

/// Inserts the rows of `batch` (a JSON array of `table`'s lines) whose key is not there
/// (personas: replaces those that differ); how many it wrote.
#[tracing::instrument(skip_all, fields(table = table.name))]
pub async fn import_rows(
    db: &impl GenericClient,
    table: &Table,
    batch: &str,
) -> Result<u64, StoreError> {
    let written = db.execute(import_sql(table).as_str(), &[&batch]).await?;
    if let Some(identity) = table.identity {
        // The values came from the file: the sequence goes past them, so that rows
        // written later still come after.
        db.execute(
            &format!(
                "SELECT setval(pg_get_serial_sequence('{t}', '{identity}'), max({identity})) \
                 FROM {t} HAVING max({identity}) > COALESCE(pg_sequence_last_value(\
                 pg_get_serial_sequence('{t}', '{identity}')::regclass), 0)",
                t = table.name
            ),
            &[],
        )
        .await?;
    }
    Ok(written)
}

fn import_sql(table: &Table) -> String {
    let mut names: Vec<&str> = table.columns.iter().map(|c| c.name).collect();
    let mut values: Vec<String> = table
        .columns
        .iter()
        .map(|c| match c.on_import {
            OnImport::AsIs => format!("r.{}", c.name),
            OnImport::Reference(other) => {
                format!("(SELECT x.id FROM {other} x WHERE x.id = r.{})", c.name)
            }
            OnImport::Later(_) => "NULL".to_string(),
        })
        .collect();
    for (name, sql) in table.filled {
        names.push(name);
        values.push((*sql).to_string());
    }
    let keys: Vec<&str> = table.key_names().collect();
    let on_conflict = match table.on_conflict {
        OnConflict::Keep => format!("ON CONFLICT ({}) DO NOTHING", keys.join(", ")),
        OnConflict::Replace => {
            let set: Vec<String> = names
                .iter()
                .map(|n| format!("{n} = EXCLUDED.{n}"))
                .collect();
            let theirs: Vec<String> = names
                .iter()
                .map(|n| format!("{}.{n}", table.name))
                .collect();
            let ours: Vec<String> = names.iter().map(|n| format!("EXCLUDED.{n}")).collect();
            format!(
                "ON CONFLICT ({}) DO UPDATE SET {} WHERE ({}) IS DISTINCT FROM ({})",
                keys.join(", "),
                set.join(", "),
                theirs.join(", "),
                ours.join(", ")
            )
        }
    };
    format!(
        "INSERT INTO {table} ({names}) {overriding} SELECT {values} \
         FROM json_populate_recordset(NULL::{table}, $1::text::json) r {on_conflict}",
        table = table.name,
        names = names.join(", "),
        overriding = if table.identity.is_some() {
            "OVERRIDING SYSTEM VALUE"
        } else {
            ""
        },
        values = values.join(", "),
    )
}

/// Fills `table`'s [`OnImport::Later`] columns from `batch` (a JSON array of its lines),
/// where the row has none yet and the row it names is there.
#[tracing::instrument(skip_all, fields(table = table.name))]
pub async fn fill_references(
    db: &impl GenericClient,
    table: &Table,
    batch: &str,
) -> Result<u64, StoreError> {
    let mut filled = 0;
    for column in table.columns {
        let OnImport::Later(other) = column.on_import else {
            continue;
        };
        let keys: Vec<String> = table
            .key_names()
            .map(|k| format!("t.{k} = r.{k}"))
            .collect();
        let sql = format!(
            "UPDATE {table} t SET {c} = r.{c} \
             FROM json_populate_recordset(NULL::{table}, $1::text::json) r \
             WHERE {keys} AND t.{c} IS NULL AND r.{c} IS NOT NULL \
             AND EXISTS (SELECT 1 FROM {other} x WHERE x.id = r.{c})",
            table = table.name,
            c = column.name,
            keys = keys.join(" AND "),
        );
        filled += db.execute(sql.as_str(), &[&batch]).await?;
    }
    Ok(filled)
}

/// A token of `batch` (a JSON array of token lines) that is live and named as a live token
/// here with another id: `(name, the id here, the file's id)`. Two live tokens cannot share
/// a name.
#[tracing::instrument(skip_all)]
pub async fn live_name_clash(
    db: &impl GenericClient,
    batch: &str,
) -> Result<Option<(String, String, String)>, StoreError> {
    let row = db
        .query_opt(
            "SELECT r.name, x.id::text, r.id::text \
             FROM json_populate_recordset(NULL::access_tokens, $1::text::json) r \
             JOIN access_tokens x ON x.name = r.name AND x.id <> r.id \
             WHERE x.revoked_at IS NULL AND r.revoked_at IS NULL \
             AND NOT EXISTS (SELECT 1 FROM access_tokens y WHERE y.id = r.id) \
             ORDER BY r.id LIMIT 1",
            &[&batch],
        )
        .await?;
    Ok(row.map(|r| (r.get(0), r.get(1), r.get(2))))
}
