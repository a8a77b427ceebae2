//! `maia docs import PATH...`: the notes of files and directory trees (an Obsidian vault),
//! each put in a transaction of its own, so that a run stopped anywhere (Ctrl-C, a crash)
//! leaves every document whole or not there, and the next run goes on where it stopped:
//! a note whose content is already stored is not embedded again.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::{bail, Context};
use futures_util::stream::{self, StreamExt};
use indicatif::{ProgressBar, ProgressStyle};
use walkdir::WalkDir;

use crate::domain::{DocumentInput, MAX_DOCUMENT_BYTES};
use crate::service::{Library, Outcome, ServiceError};

/// Files put at once.
const AT_ONCE: usize = 4;
/// Exit status of an import stopped by Ctrl-C, as a shell reports a command SIGINT ended.
const INTERRUPTED: u8 = 130;
/// The extensions of the files taken, in any case.
const NOTE_EXTENSIONS: &[&str] = &["md", "markdown", "txt"];
/// The longest title, in characters (a document's).
const MAX_TITLE_CHARS: usize = 200;

/// What became of the files.
#[derive(Debug, Default)]
struct Tally {
    added: usize,
    updated: usize,
    unchanged: usize,
    skipped: usize,
}

pub async fn run(library: &Library, paths: &[PathBuf]) -> anyhow::Result<ExitCode> {
    let files = notes(paths)?;
    let stop = stop_on_ctrl_c();
    let shown = Shown::new(files.len() as u64, std::io::stderr().is_terminal());
    let mut tally = Tally::default();
    let mut failure = None;
    // A few files at once, each its own transaction: while one waits for its embeddings,
    // another is written. Reported in the order of their names.
    let mut results = stream::iter(&files)
        .map(|file| {
            let stop = stop.clone();
            async move {
                if stop.load(Ordering::SeqCst) {
                    return (file, Ok(Done::NotStarted));
                }
                (file, import_one(library, file).await)
            }
        })
        .buffered(AT_ONCE);
    while let Some((file, result)) = results.next().await {
        match result {
            Ok(Done::Put(outcome)) => shown.put(&mut tally, file, outcome),
            Ok(Done::Skipped(why)) => shown.skipped(&mut tally, file, &why),
            Ok(Done::NotStarted) => {}
            Err(e) => {
                failure = Some(format!("{}: {e}", file.display()));
                break;
            }
        }
    }
    // Files still being put when one failed are dropped here: PostgreSQL rolls each
    // back, or has it whole.
    drop(results);
    shown.finish();
    if tally.added + tally.updated > 0 {
        if let Err(e) = library.analyze().await {
            eprintln!("warning: the planner's statistics were not gathered ({e}); autovacuum will");
        }
    }
    let seen = tally.added + tally.updated + tally.unchanged + tally.skipped;
    eprintln!(
        "{seen} of {} file(s): {} added, {} updated, {} unchanged, {} skipped",
        files.len(),
        tally.added,
        tally.updated,
        tally.unchanged,
        tally.skipped
    );
    if let Some(failure) = failure {
        bail!("stopped at {failure}; what was imported stays: run it again to go on");
    }
    if stop.load(Ordering::SeqCst) && seen < files.len() {
        eprintln!("interrupted: what was imported stays; run the same command to go on");
        return Ok(ExitCode::from(INTERRUPTED));
    }
    Ok(ExitCode::SUCCESS)
}

/// The first Ctrl-C stops the import after the documents being put; a second stops it at
/// once (PostgreSQL then rolls back their transactions).
fn stop_on_ctrl_c() -> Arc<AtomicBool> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            flag.store(true, Ordering::SeqCst);
            eprintln!("stopping after the documents being put (Ctrl-C again: at once)");
        }
        if tokio::signal::ctrl_c().await.is_ok() {
            std::process::exit(i32::from(INTERRUPTED));
        }
    });
    stop
}

/// What a file is recorded as: its absolute path, symbolic links resolved (as given, if it
/// cannot be resolved: a file since deleted).
pub fn source_of(path: &Path) -> String {
    std::fs::canonicalize(path)
        .unwrap_or_else(|_| path.to_path_buf())
        .to_string_lossy()
        .into_owned()
}

/// The notes `paths` name: files as given, directories walked (hidden entries and
/// symbolic links left out), in the order of their names; each once.
fn notes(paths: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for path in paths {
        let meta =
            std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
        if !meta.is_dir() {
            if !is_note(path) {
                bail!(
                    "{} is not a note: maia imports .md, .markdown and .txt files",
                    path.display()
                );
            }
            files.push(path.clone());
            continue;
        }
        let walk = WalkDir::new(path).sort_by_file_name().into_iter();
        for entry in walk.filter_entry(|e| e.depth() == 0 || !is_hidden(e.file_name())) {
            let entry = entry.with_context(|| format!("cannot read {}", path.display()))?;
            if entry.file_type().is_file() && is_note(entry.path()) {
                files.push(entry.into_path());
            }
        }
    }
    let mut seen = std::collections::HashSet::new();
    files.retain(|f| seen.insert(source_of(f)));
    Ok(files)
}

fn is_note(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| NOTE_EXTENSIONS.iter().any(|n| e.eq_ignore_ascii_case(n)))
}

fn is_hidden(name: &std::ffi::OsStr) -> bool {
    name.to_string_lossy().starts_with('.')
}

/// What became of one file.
enum Done {
    Put(Outcome),
    Skipped(String),
    /// Ctrl-C came before its turn.
    NotStarted,
}

/// Reads and puts one file. A file that cannot be a document is skipped, saying why; what
/// would fail every other one too (Ollama, the database, knowledge off) is an error.
async fn import_one(library: &Library, file: &Path) -> Result<Done, ServiceError> {
    let size = std::fs::metadata(file).map(|m| m.len()).unwrap_or(0);
    if size > MAX_DOCUMENT_BYTES as u64 {
        return Ok(Done::Skipped(format!(
            "{size} bytes; a document is at most {MAX_DOCUMENT_BYTES} (1 MiB)"
        )));
    }
    let content = match std::fs::read(file) {
        Ok(bytes) => match String::from_utf8(bytes) {
            Ok(text) => text,
            Err(_) => return Ok(Done::Skipped("not UTF-8 text".into())),
        },
        Err(e) => return Ok(Done::Skipped(format!("cannot read it: {e}"))),
    };
    let source = source_of(file);
    let input = match DocumentInput::parse(&title_of(file), content, Some(&source)) {
        Ok(input) => input,
        Err(e) => return Ok(Done::Skipped(e.to_string())),
    };
    let (_, outcome) = library.put(&input).await?;
    Ok(Done::Put(outcome))
}

/// A note's title: its file's name without the extension (as Obsidian shows it), on one
/// line, at most 200 characters.
fn title_of(file: &Path) -> String {
    let stem = file
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let one_line: String = stem
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(MAX_TITLE_CHARS)
        .collect();
    match one_line.trim() {
        "" => "untitled".to_string(),
        title => title.to_string(),
    }
}

/// The import's progress: a bar on a terminal (with a line for each file skipped), a
/// line for each file otherwise.
struct Shown {
    bar: Option<ProgressBar>,
}

impl Shown {
    fn new(total: u64, terminal: bool) -> Self {
        let bar = terminal.then(|| {
            let bar = ProgressBar::new(total);
            if let Ok(style) = ProgressStyle::with_template(
                "{bar:40} {pos}/{len} files, {per_sec}, {eta} left  {msg}",
            ) {
                bar.set_style(style);
            }
            bar
        });
        Self { bar }
    }

    fn put(&self, tally: &mut Tally, file: &Path, outcome: Outcome) {
        let word = match outcome {
            Outcome::Added => {
                tally.added += 1;
                "added"
            }
            Outcome::Updated => {
                tally.updated += 1;
                "updated"
            }
            Outcome::Unchanged => {
                tally.unchanged += 1;
                "unchanged"
            }
        };
        match &self.bar {
            Some(bar) => {
                bar.set_message(format!("{} added, {} updated", tally.added, tally.updated));
                bar.inc(1);
            }
            None => eprintln!("{word} {}", file.display()),
        }
    }

    fn skipped(&self, tally: &mut Tally, file: &Path, why: &str) {
        tally.skipped += 1;
        let line = format!("skipped {}: {why}", file.display());
        match &self.bar {
            Some(bar) => {
                bar.println(line);
                bar.inc(1);
            }
            None => eprintln!("{line}"),
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
