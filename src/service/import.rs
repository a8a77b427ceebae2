//! Import: an export's lines back into a database, empty or not. Rows whose key is there
//! stay as they are (personas: the file's replace them), so importing a file twice
//! changes nothing, and an import stopped anywhere can be run again. Lines go in batches
//! of one kind, each in a transaction of its own: a batch is written whole or not at all.

use std::fmt;
use std::io::{BufRead, Read};

use serde_json::{Map, Value};

use super::export::{latest_schema, FIRST_SCHEMA, FORMAT, HEADER_KIND};
use crate::store::{self, Db, StoreError, Table, TABLES};

/// The longest line read: a document (1 MiB of text) with every character escaped.
pub const MAX_LINE_BYTES: u64 = 8 << 20;
/// Lines per batch, and the most bytes of them.
const BATCH_LINES: usize = 1000;
const BATCH_BYTES: usize = 8 << 20;

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("line {line}: {why}")]
    Line { line: u64, why: String },
    #[error("lines {first} to {last} ({kind}): {why}")]
    Batch {
        first: u64,
        last: u64,
        kind: &'static str,
        why: String,
    },
    #[error(
        "lines {first} to {last}: the token {name:?} ({theirs}) is live here under another id ({ours}), \
         and two live tokens cannot share a name: revoke one of them \
         (`maia token revoke {name}`), then import again"
    )]
    LiveNameClash {
        first: u64,
        last: u64,
        name: String,
        ours: String,
        theirs: String,
    },
    #[error("cannot read the file: {0}")]
    Read(std::io::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// How many lines of each kind were read, and how many rows they wrote.
#[derive(Debug, Default)]
pub struct ImportTally {
    pub lines: u64,
    pub kinds: Vec<(&'static str, u64, u64)>,
    /// Back-references filled once every row was in (traces to their questions).
    pub linked: u64,
}

impl ImportTally {
    fn count(&mut self, kind: &'static str, read: u64, written: u64) {
        match self.kinds.iter_mut().find(|(k, _, _)| *k == kind) {
            Some((_, r, w)) => {
                *r += read;
                *w += written;
            }
            None => self.kinds.push((kind, read, written)),
        }
    }
}

impl fmt::Display for ImportTally {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} line(s)", self.lines)?;
        for (kind, read, written) in &self.kinds {
            write!(f, "; {kind}: {read} read, {written} written")?;
        }
        write!(f, "; {} link(s) filled", self.linked)
    }
}

/// Imports the export `reader` holds into `db`, telling `progress` how many bytes each line
/// took.
pub async fn import(
    db: &Db,
    mut reader: impl BufRead,
    mut progress: impl FnMut(u64),
) -> Result<ImportTally, ImportError> {
    let knowledge = db
        .bounded(async { store::has_knowledge_tables(&**db.conn().await?).await })
        .await?;
    let mut importer = Importer::new(db, knowledge);
    let mut line = Vec::new();
    let mut number = 0;
    loop {
        line.clear();
        let read = reader
            .by_ref()
            .take(MAX_LINE_BYTES + 1)
            .read_until(b'\n', &mut line)
            .map_err(ImportError::Read)?;
        if read == 0 {
            break;
        }
        number += 1;
        progress(read as u64);
        if line.last() == Some(&b'\n') {
            line.pop();
        } else if read as u64 > MAX_LINE_BYTES {
            return Err(line_error(
                number,
                format!("longer than {MAX_LINE_BYTES} bytes: not a line maia writes"),
            ));
        }
        if number == 1 {
            check_header(&line)?;
        } else {
            importer.take(number, &line).await?;
        }
    }
    if number == 0 {
        return Err(line_error(1, "the file is empty: not a maia export".into()));
    }
    importer.finish().await
}

fn line_error(line: u64, why: String) -> ImportError {
    ImportError::Line { line, why }
}

#[derive(serde::Deserialize)]
struct Header {
    kind: String,
    format: u64,
    schema: i32,
}

/// Refuses a file that is not an export this maia can read.
fn check_header(line: &[u8]) -> Result<(), ImportError> {
    let header: Header = serde_json::from_slice(line)
        .ok()
        .filter(|h: &Header| h.kind == HEADER_KIND)
        .ok_or_else(|| {
            line_error(
                1,
                format!(
                    "not a maia export: its first line must be \
                     {{\"kind\":\"{HEADER_KIND}\",\"format\":...,\"schema\":...}}"
                ),
            )
        })?;
    let latest = latest_schema();
    let why = if header.format != FORMAT {
        format!(
            "the file's format is {}, and this maia reads format {FORMAT} only",
            header.format
        )
    } else if header.schema > latest {
        format!(
            "the file was made by a newer maia (schema V{}; this one knows up to V{latest}): \
             import it with that maia or a newer one",
            header.schema
        )
    } else if header.schema < FIRST_SCHEMA {
        format!(
            "schema V{} is older than any export (the first was V{FIRST_SCHEMA})",
            header.schema
        )
    } else {
        return Ok(());
    };
    Err(line_error(1, why))
}

/// Lines of one kind waiting to be written.
#[derive(Default)]
struct Batch {
    table: Option<usize>,
    lines: Vec<String>,
    bytes: usize,
    first: u64,
    last: u64,
}

struct Importer<'a> {
    db: &'a Db,
    knowledge: bool,
    batch: Batch,
    /// Back-references to fill once every row is in (see `store::fill_references`).
    later: Vec<String>,
    tally: ImportTally,
}

impl<'a> Importer<'a> {
    fn new(db: &'a Db, knowledge: bool) -> Self {
        Self {
            db,
            knowledge,
            batch: Batch::default(),
            later: Vec::new(),
            tally: ImportTally::default(),
        }
    }

    /// Checks line `number` and adds it to the batch, writing the batch first when the line
    /// is of another kind or the batch is full.
    async fn take(&mut self, number: u64, line: &[u8]) -> Result<(), ImportError> {
        let fields: Map<String, Value> = serde_json::from_slice(line)
            .map_err(|e| line_error(number, format!("not a JSON object: {e}")))?;
        let (index, table) = self.table_of(number, &fields)?;
        match self.batch.table {
            Some(current) if index < current => {
                return Err(line_error(
                    number,
                    format!(
                        "a {} after the {}s: an export's lines come kind by kind, in the \
                         order maia writes them",
                        table.kind, TABLES[current].kind
                    ),
                ))
            }
            Some(current) if index > current => {
                self.write().await?;
                self.fill_later(index).await?;
            }
            _ => {}
        }
        // Checked once what came before is written: an import stopped here keeps it whole.
        if table.knowledge && !self.knowledge {
            return Err(line_error(
                number,
                format!(
                    "a {}, and this database has no knowledge tables (they need the \
                     PostgreSQL extension pgvector; `maia check` says what is missing)",
                    table.kind
                ),
            ));
        }
        if self.batch.lines.len() >= BATCH_LINES || self.batch.bytes >= BATCH_BYTES {
            self.write().await?;
        }
        if table.has_later_columns() {
            self.keep_later(table, &fields);
        }
        if self.batch.lines.is_empty() {
            self.batch.first = number;
        }
        self.batch.table = Some(index);
        self.batch.last = number;
        self.batch.bytes += line.len();
        self.batch
            .lines
            .push(String::from_utf8_lossy(line).into_owned());
        Ok(())
    }

    /// The table a line's `kind` names, once the line holds its key.
    fn table_of(
        &self,
        number: u64,
        fields: &Map<String, Value>,
    ) -> Result<(usize, &'static Table), ImportError> {
        let kind = fields
            .get("kind")
            .and_then(Value::as_str)
            .ok_or_else(|| line_error(number, "it has no \"kind\"".into()))?;
        let (index, table) = TABLES
            .iter()
            .enumerate()
            .find(|(_, t)| t.kind == kind)
            .ok_or_else(|| line_error(number, format!("unknown kind {kind:?}")))?;
        for key in table.key_names() {
            match fields.get(key) {
                Some(Value::String(_) | Value::Number(_)) => {}
                _ => return Err(line_error(number, format!("a {kind} without its {key:?}"))),
            }
        }
        Ok((index, table))
    }

    /// Keeps the key and back-references of a line that has some.
    fn keep_later(&mut self, table: &Table, fields: &Map<String, Value>) {
        let mut kept = Map::new();
        for name in table.later_columns() {
            if let Some(value) = fields.get(name).filter(|v| !v.is_null()) {
                kept.insert(name.to_string(), value.clone());
            }
        }
        if kept.is_empty() {
            return;
        }
        for key in table.key_names() {
            if let Some(value) = fields.get(key) {
                kept.insert(key.to_string(), value.clone());
            }
        }
        self.later.push(Value::Object(kept).to_string());
    }

    /// Writes the batch in one transaction.
    async fn write(&mut self) -> Result<(), ImportError> {
        let Some(index) = self.batch.table else {
            return Ok(());
        };
        let batch = std::mem::take(&mut self.batch);
        let table = &TABLES[index];
        let json = format!("[{}]", batch.lines.join(","));
        let db = self.db;
        let work = async {
            let mut conn = db.conn().await?;
            let tx = conn.transaction().await?;
            if table.kind == "token" {
                if let Some(clash) = store::live_name_clash(&*tx, &json).await? {
                    return Ok(Err(clash));
                }
            }
            let written = store::import_rows(&*tx, table, &json).await?;
            tx.commit().await?;
            Ok(Ok(written))
        };
        let written = db.bounded(work).await.map_err(|e| ImportError::Batch {
            first: batch.first,
            last: batch.last,
            kind: table.kind,
            why: match e.refusal() {
                Some(words) => format!("the database refused them: {words}"),
                None => e.to_string(),
            },
        })?;
        match written {
            Ok(written) => {
                let read = batch.lines.len() as u64;
                self.tally.count(table.kind, read, written);
                Ok(())
            }
            Err((name, ours, theirs)) => Err(ImportError::LiveNameClash {
                first: batch.first,
                last: batch.last,
                name,
                ours,
                theirs,
            }),
        }
    }

    /// Fills the back-references kept so far, once the import has reached the `index`th
    /// table and every row they name is in (so that an import stopped later, at a
    /// document, say, still has them).
    async fn fill_later(&mut self, index: usize) -> Result<(), ImportError> {
        let db = self.db;
        let Some(table) = TABLES.iter().find(|t| t.has_later_columns()) else {
            return Ok(());
        };
        if self.later.is_empty() || !table.later_ready_at(index) {
            return Ok(());
        }
        for chunk in std::mem::take(&mut self.later).chunks(BATCH_LINES) {
            let json = format!("[{}]", chunk.join(","));
            let work = async { store::fill_references(&**db.conn().await?, table, &json).await };
            self.tally.linked += db.bounded(work).await?;
        }
        Ok(())
    }

    /// Writes what is left, then fills the back-references.
    async fn finish(mut self) -> Result<ImportTally, ImportError> {
        self.write().await?;
        self.fill_later(TABLES.len()).await?;
        self.tally.lines = self.tally.kinds.iter().map(|(_, r, _)| r).sum::<u64>() + 1;
        Ok(self.tally)
    }
}
