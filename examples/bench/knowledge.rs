//! P8 and P9: knowledge's search and import, on the bench's cluster (which needs pgvector:
//! `MAIA_PG_BINDIR`, as for the tests) and its fake Ollama, whose embeddings are the test
//! kit's hashed bag of words (`kit::embeddings`), instant and deterministic.
//!
//! P8 loads 100,000 chunks of 768 numbers (1,000 documents of 100 chunks; 20,000 with
//! `--quick`) by binary COPY, builds the HNSW index as maia makes it, then asks `maia serve`
//! `GET /api/search?k=10` for 200 questions made of words of random chunks: the p50 of the
//! whole search (embedding, vector and full-text ranking, fusion). The chunks are made-up
//! words, 60% of a chunk's from its document's own 300 and the rest from 20,000 common to all
//! (both Zipf-like), as a note's sections share its subject's names and terms. (Words drawn
//! from one vocabulary for every chunk make a corpus without neighbourhoods, which no real
//! notes are: there HNSW's recall@10 was 0.74 at 20,000 chunks.) Recall@10 is the
//! index's: its ten nearest (at the ef_search maia sets for k = 10) against an exact scan of
//! the same table, a hit counted when it is at least as near as the exact tenth (ties at the
//! boundary are equally right answers).
//!
//! P9 writes 10,000 small notes (2,000 with `--quick`) and times `maia docs import` on them,
//! sampling its memory as it runs: peak RSS, and RSS early and late to show it stays flat.

use std::time::{Duration, Instant};

use pgvector::Vector;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{ToSql, Type};
use uuid::Uuid;

use super::kit::database::{database_in, psql};
use super::kit::embeddings::embed;
use super::kit::knowledge::{has_pgvector, write_vault};
use super::kit::process::maia_at;
use super::kit::{free_port, http_client, Database, Process};
use super::{median, memory, ms, verdict, Bench, Figures, Options, MB, SHARED_BUFFERS};

/// Chunks per document in P8's table.
const CHUNKS_PER_DOCUMENT: usize = 100;
/// Questions asked in P8.
const QUESTIONS: usize = 200;
/// Words in a chunk and in a question.
const CHUNK_WORDS: usize = 40;
const QUESTION_WORDS: usize = 4;
/// Distinct words every document uses, with Zipf-like frequencies.
const VOCABULARY: u64 = 20_000;
/// Each document's own words (also Zipf-like): [`OWN_SHARE`] of a chunk's words are its
/// document's, as a note's sections share its subject's names and terms.
const OWN_WORDS: u64 = 300;
const OWN_SHARE: f64 = 0.6;
/// hnsw.ef_search for k = 10, as `service::knowledge` sets it (24 candidates a hit, at
/// least 40).
const EF_SEARCH: i64 = 240;
/// How often P9 samples the import's memory.
const SAMPLE_EVERY: Duration = Duration::from_millis(20);

/// A reproducible stream of numbers (splitmix64).
struct Numbers(u64);

impl Numbers {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in [0, 1).
    fn uniform(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A rank in 1..=`n`, the first ones more often (roughly 1/rank).
    fn zipf(&mut self, n: u64) -> u64 {
        ((n as f64).powf(self.uniform()) as u64).max(1)
    }

    /// A word of a chunk of document number `document`: one of the document's own, or one
    /// every document uses.
    fn word(&mut self, document: u64) -> String {
        let id = if self.uniform() < OWN_SHARE {
            VOCABULARY + document * OWN_WORDS + self.zipf(OWN_WORDS)
        } else {
            self.zipf(VOCABULARY)
        };
        spell(id)
    }

    /// `words` words of a chunk of document number `document`.
    fn text(&mut self, words: usize, document: u64) -> String {
        (0..words)
            .map(|_| self.word(document))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// Word number `id`, in syllables the full-text parser keeps whole.
fn spell(id: u64) -> String {
    const SYLLABLES: [&str; 16] = [
        "ka", "lo", "mi", "ne", "ru", "ta", "vo", "zi", "pe", "sa", "do", "fu", "gi", "ho", "ju",
        "be",
    ];
    let mut n = id;
    let mut word = String::new();
    loop {
        word.push_str(SYLLABLES[(n % 16) as usize]);
        n /= 16;
        if n == 0 {
            return word;
        }
    }
}

/// The document of chunk number `i`.
fn document_of(i: usize) -> u64 {
    (i / CHUNKS_PER_DOCUMENT) as u64
}

impl Bench {
    /// P8 and P9, those `options` want, or a line saying why not.
    pub(super) fn knowledge(&self, options: &Options, figures: &mut Figures) -> anyhow::Result<()> {
        let wanted: Vec<&str> = ["P8", "P9"]
            .into_iter()
            .filter(|p| options.wants(p))
            .collect();
        if wanted.is_empty() {
            return Ok(());
        }
        let db = self.runtime.block_on(database_in(&self.cluster));
        if !self.runtime.block_on(has_pgvector(&db.url)) {
            let why = "the bench's PostgreSQL has no pgvector (set MAIA_PG_BINDIR)";
            for figure in wanted {
                figures.add(format!("{figure} not run: {why} FAIL"), Some(false));
            }
            return Ok(());
        }
        if options.wants("P8") {
            self.search(&db, if options.quick { 20_000 } else { 100_000 }, figures)?;
        }
        if options.wants("P9") {
            self.import(if options.quick { 2_000 } else { 10_000 }, figures)?;
        }
        Ok(())
    }

    /// `maia migrate` on `db`: the core schema and knowledge's.
    fn migrate(&self, db: &Database) -> anyhow::Result<()> {
        let migrate = maia_at(&self.bin)
            .arg("migrate")
            .env("MAIA_DATABASE__URL", &db.url)
            .output()?;
        anyhow::ensure!(migrate.status.success(), "maia migrate failed: {migrate:?}");
        Ok(())
    }

    /// P8: `chunks` chunks loaded, the index built, then searched.
    fn search(&self, db: &Database, chunks: usize, figures: &mut Figures) -> anyhow::Result<()> {
        self.migrate(db)?;
        eprintln!("bench: P8, {chunks} chunks of 768 dimensions");
        let loaded = Instant::now();
        self.runtime.block_on(load_chunks(&db.url, chunks))?;
        let load_seconds = loaded.elapsed().as_secs_f64();
        let built = Instant::now();
        self.runtime.block_on(build_index(&db.url))?;
        figures.add(
            format!(
                "P8 search_setup chunks={chunks} load={load_seconds:.1}s index_build={:.1}s \
                 shared_buffers={SHARED_BUFFERS} report",
                built.elapsed().as_secs_f64()
            ),
            None,
        );
        let questions = questions(chunks);
        let (p50, p95) = self.search_latency(db, &questions)?;
        let (recall, sql_p50) = self.runtime.block_on(recall(&db.url, &questions))?;
        let ok = p50 <= 15.0 && recall >= 0.95;
        figures.add(
            format!(
                "P8 search_top10 p50={p50:.2}ms p95={p95:.2}ms recall@10={recall:.3} \
                 vector_sql_p50={sql_p50:.2}ms chunks={chunks} target p50<=15ms recall>=0.95 {}",
                verdict(ok)
            ),
            Some(ok),
        );
        Ok(())
    }

    /// `GET /api/search?k=10` on `maia serve` for each question, one at a time: p50 and
    /// p95 in milliseconds.
    fn search_latency(&self, db: &Database, questions: &[String]) -> anyhow::Result<(f64, f64)> {
        let port = free_port();
        let mut maia = self.spawn_maia(port, &db.url, &[]);
        self.wait_200(port, "/readyz")?;
        let created = maia_at(&self.bin)
            .args([
                "token",
                "create",
                "--name",
                "bench-search",
                "--scopes",
                "read",
            ])
            .env("MAIA_DATABASE__URL", &db.url)
            .output()?;
        anyhow::ensure!(created.status.success(), "maia token create: {created:?}");
        let token = String::from_utf8(created.stdout)?.trim().to_string();
        let url = format!("http://127.0.0.1:{port}/api/search");
        let times = self.runtime.block_on(async {
            let client = http_client();
            let mut times = Vec::with_capacity(questions.len());
            // The first questions warm the caches up; they are not counted.
            for (i, q) in questions.iter().enumerate() {
                let started = Instant::now();
                let response = client
                    .get(&url)
                    .bearer_auth(&token)
                    .query(&[("q", q.as_str()), ("k", "10")])
                    .send()
                    .await?;
                anyhow::ensure!(response.status() == 200, "search: {}", response.status());
                response.bytes().await?;
                if i >= 10 {
                    times.push(started.elapsed());
                }
            }
            anyhow::Ok(times)
        })?;
        self.runtime
            .block_on(maia.terminate(Duration::from_secs(10)));
        let p95 = {
            let mut sorted = times.clone();
            sorted.sort();
            sorted[sorted.len() * 95 / 100]
        };
        Ok((ms(median(times)), ms(p95)))
    }

    /// P9: `notes` notes imported by `maia docs import` into a fresh database.
    fn import(&self, notes: usize, figures: &mut Figures) -> anyhow::Result<()> {
        let db = self.runtime.block_on(database_in(&self.cluster));
        self.migrate(&db)?;
        let vault = self.scratch.path("vault");
        std::fs::create_dir_all(&vault)?;
        write_vault(&vault, notes);
        eprintln!("bench: P9, maia docs import of {notes} notes");
        let mut command = maia_at(&self.bin);
        command
            .args(["docs", "import"])
            .arg(&vault)
            .env("MAIA_DATABASE__URL", &db.url)
            .env("MAIA_OLLAMA__URL", self.ollama.url());
        let started = Instant::now();
        let mut import = Process::spawn_discarding_output(command);
        let mut samples: Vec<(f64, f64)> = Vec::new();
        let status = loop {
            if let Some(status) = self.runtime.block_on(import.wait_exit(SAMPLE_EVERY)) {
                break status;
            }
            if let (Ok(now), Ok(peak)) =
                (memory(import.pid(), "VmRSS"), memory(import.pid(), "VmHWM"))
            {
                samples.push((now, peak));
            }
        };
        let seconds = started.elapsed().as_secs_f64();
        anyhow::ensure!(status.success(), "maia docs import failed: {status:?}");
        let stored = self.runtime.block_on(count(&db.url, "documents"))?;
        anyhow::ensure!(stored == notes as i64, "{stored} of {notes} notes stored");
        let peak = samples.iter().map(|s| s.1).fold(0.0, f64::max);
        let at = |share: f64| {
            samples
                .get((samples.len() as f64 * share) as usize)
                .map_or(0.0, |s| s.0)
        };
        let ok = seconds <= 60.0;
        figures.add(
            format!(
                "P9 import notes={notes} time={seconds:.1}s rate={:.0}notes/s peak_rss={:.1}MB \
                 rss_at_10%={:.1}MB rss_at_90%={:.1}MB target<=60s {}",
                notes as f64 / seconds,
                peak / MB,
                at(0.1) / MB,
                at(0.9) / MB,
                verdict(ok)
            ),
            Some(ok),
        );
        Ok(())
    }
}

async fn count(db_url: &str, table: &str) -> anyhow::Result<i64> {
    let row = psql(db_url)
        .await
        .query_one(&format!("SELECT count(*) FROM {table}"), &[])
        .await?;
    Ok(row.get(0))
}

/// `chunks` chunks of made-up words with their embeddings, in documents of
/// [`CHUNKS_PER_DOCUMENT`], by binary COPY, without the index (built after, as a bulk
/// load should).
async fn load_chunks(db_url: &str, chunks: usize) -> anyhow::Result<()> {
    let mut db = psql(db_url).await;
    db.batch_execute("DROP INDEX IF EXISTS chunks_embedding")
        .await?;
    let documents: Vec<Uuid> = (0..chunks.div_ceil(CHUNKS_PER_DOCUMENT))
        .map(|_| Uuid::new_v4())
        .collect();
    let tx = db.transaction().await?;
    for (n, id) in documents.iter().enumerate() {
        let title = format!("Document {n}");
        tx.execute(
            "INSERT INTO documents (id, title, content, content_hash) VALUES ($1, $2, '', '')",
            &[id, &title],
        )
        .await?;
    }
    let vector_type = tx.prepare("SELECT $1::vector").await?.params()[0].clone();
    let sink = tx
        .copy_in("COPY chunks (document_id, position, text, embedding) FROM STDIN (FORMAT binary)")
        .await?;
    let types = [Type::UUID, Type::INT4, Type::TEXT, vector_type];
    let writer = BinaryCopyInWriter::new(sink, &types);
    tokio::pin!(writer);
    let mut numbers = Numbers(7);
    for i in 0..chunks {
        let text = numbers.text(CHUNK_WORDS, document_of(i));
        let embedding = Vector::from(embed(&text));
        let position = (i % CHUNKS_PER_DOCUMENT) as i32;
        let row: [&(dyn ToSql + Sync); 4] = [
            &documents[i / CHUNKS_PER_DOCUMENT],
            &position,
            &text,
            &embedding,
        ];
        writer.as_mut().write(&row).await?;
    }
    writer.finish().await?;
    tx.commit().await?;
    Ok(())
}

/// The HNSW index as maia makes it (`store::knowledge`), built with room to do it in
/// memory and the cores it may use; then the statistics autovacuum would gather a minute
/// later. (Without those of `documents`, the planner took a token's documents to be 1% of
/// them, and sorted every chunk of theirs by distance instead of using the index: 340 ms a
/// search until autovacuum came.)
async fn build_index(db_url: &str) -> anyhow::Result<()> {
    psql(db_url)
        .await
        .batch_execute(
            "SET maintenance_work_mem = '1GB'; SET max_parallel_maintenance_workers = 2; \
             CREATE INDEX chunks_embedding ON chunks USING hnsw (embedding vector_cosine_ops) \
             WITH (m = 16, ef_construction = 128); \
             ANALYZE chunks; ANALYZE documents",
        )
        .await?;
    Ok(())
}

/// [`QUESTIONS`] questions, each [`QUESTION_WORDS`] words of one of the `chunks` chunks
/// (made again from the same numbers), so that each has an answer.
fn questions(chunks: usize) -> Vec<String> {
    let mut texts = Numbers(7);
    let mut pick = Numbers(11);
    let every = chunks / QUESTIONS;
    let mut questions = Vec::with_capacity(QUESTIONS);
    for i in 0..chunks {
        let text = texts.text(CHUNK_WORDS, document_of(i));
        if i % every == 0 && questions.len() < QUESTIONS {
            let words: Vec<&str> = text.split(' ').collect();
            let question: Vec<&str> = (0..QUESTION_WORDS)
                .map(|_| words[(pick.next() % CHUNK_WORDS as u64) as usize])
                .collect();
            questions.push(question.join(" "));
        }
    }
    questions
}

/// The index's recall@10 against an exact scan, over `questions`, and the p50 of the
/// index's own query in milliseconds.
async fn recall(db_url: &str, questions: &[String]) -> anyhow::Result<(f64, f64)> {
    let mut db = psql(db_url).await;
    let nearest = "SELECT embedding <=> $1 FROM chunks ORDER BY embedding <=> $1 LIMIT 10";
    let (mut found, mut asked, mut times) = (0usize, 0usize, Vec::new());
    for question in questions {
        let embedding = Vector::from(embed(question));
        let tx = db.transaction().await?;
        tx.batch_execute(&format!(
            "SET LOCAL hnsw.ef_search = {EF_SEARCH}; SET LOCAL enable_seqscan = off"
        ))
        .await?;
        let started = Instant::now();
        let approximate: Vec<f64> = tx
            .query(nearest, &[&embedding])
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect();
        times.push(started.elapsed());
        tx.batch_execute("SET LOCAL enable_indexscan = off; SET LOCAL enable_seqscan = on")
            .await?;
        let exact: Vec<f64> = tx
            .query(nearest, &[&embedding])
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect();
        tx.commit().await?;
        let tenth = exact.last().copied().unwrap_or(f64::MAX) + 1e-9;
        found += approximate.iter().filter(|d| **d <= tenth).count();
        asked += exact.len();
    }
    Ok((found as f64 / asked.max(1) as f64, ms(median(times))))
}
