//! P6 and P7: streamed answers (`"stream": true`, server-sent events).
//!
//! **P6, the time to the first token.** The fake Ollama writes each answer in 10 pieces, 5 ms
//! apart (`Behavior::Trickle`). The same question is asked, one request at a time and
//! alternately, through maia (`POST /api/consciousness/query` with `"stream": true`, with
//! the bench's token) and of the fake directly (`POST /api/chat`, streaming NDJSON, on a
//! kept-alive connection as a client of Ollama has). From sending a request to reading its
//! first piece: the p50 of each side and their difference, which must be at most 1 ms. The
//! gaps between pieces as the client reads them must be the fake's: as many pieces, the
//! median gap within 1 ms, and no bunching (a piece held back arrives together with the
//! next, a gap near zero, which pulls the 10th percentile down), also within 1 ms. The same
//! first-token difference through a conversation's message, which stores the question
//! before asking, is reported beside it.
//!
//! **P7, 1,000 streams at once.** A `maia serve` of its own, set to allow them
//! ([`STREAM_SETTINGS`]); 1,000 conversations made first, then one streamed message in
//! each, all sent at once, against the fake writing a piece every 100 ms (30 pieces, 20 with
//! `--quick`). An error is an answer other than 200, an `event: error`, a stream that ends
//! without `done`, or a failed connection. The streams must all be open at once (each from
//! its first piece to its last), with no error, and maia's peak resident memory (the
//! kernel's high-water mark, VmHWM) at most 48 MB. CPU per stream is maia's user and system
//! time over the streams, divided by their number. The bench raises its own open-files
//! limit for them (maia inherits it), within the hard limit.

use std::future::Future;
use std::time::{Duration, Instant};

use futures_util::stream::{self, StreamExt};
use serde_json::{json, Value};

use super::kit::sse::EventStream;
use super::kit::tokens::client_with;
use super::kit::{free_port, Behavior, MODEL, QUERY_PATH};
use super::{memory, ms, verdict, Bench, Figures, Servers, MB, READY_LIMIT};

/// P6: the fake's answer, in this many pieces this far apart.
const P6_PIECES: usize = 10;
const P6_GAP: Duration = Duration::from_millis(5);
/// P6: requests measured per side, and those sent first to warm up.
const P6_RUNS: usize = 200;
const P6_QUICK_RUNS: usize = 50;
const P6_WARM_UP: usize = 10;
/// P6's target: what maia may add to the first token, and to the gaps between pieces.
const P6_TOLERANCE: Duration = Duration::from_millis(1);

/// P7: streams at once, and the fake's answer to each.
const P7_STREAMS: usize = 1000;
const P7_GAP: Duration = Duration::from_millis(100);
const P7_PIECES: usize = 30;
const P7_QUICK_PIECES: usize = 20;
const P7_RSS_TARGET: f64 = 48.0 * MB;
/// Conversations made at once before the streams.
const P7_CREATE_AT_ONCE: usize = 32;
/// How often maia's open files are counted during P7.
const P7_SAMPLE_EVERY: Duration = Duration::from_millis(100);
/// maia's settings for P7, besides the bench's usual ones: a connection per stream and
/// some to spare, all from one address; a call to Ollama per stream; no per-token rate
/// limit (all 2,000 requests come with one token). The pool keeps its default size.
const STREAM_SETTINGS: [(&str, &str); 4] = [
    ("MAIA_HTTP__MAX_CONNECTIONS", "1024"),
    ("MAIA_HTTP__MAX_CONNECTIONS_PER_CLIENT", "1024"),
    ("MAIA_OLLAMA__MAX_CONCURRENT", "1000"),
    ("MAIA_AUTH__REQUESTS_PER_MINUTE", "0"),
];
/// Open files a stream takes: in the bench, its client's socket and the fake's three
/// (the socket and the duplicates that watch for a hang-up); in maia, the socket, its
/// duplicate, the one the answer watches, and the call to Ollama.
const OPEN_FILES_PER_STREAM: u64 = 8;
/// Open files besides the streams' (the cluster's clients, the runtime, the pools).
const OPEN_FILES_HEADROOM: u64 = 1024;
/// How long a stream may stay silent (reqwest's client also bounds the whole at 15 s).
const SILENCE_LIMIT: Duration = Duration::from_secs(15);

/// When a request was sent, and when each piece of its answer was read.
#[derive(Debug, Clone)]
struct Timeline {
    sent: Instant,
    pieces: Vec<Instant>,
}

/// How to ask one side for a streamed answer.
struct Asker {
    client: reqwest::Client,
    url: String,
    body: Value,
    /// Server-sent events (maia), or Ollama's NDJSON.
    events: bool,
}

impl Asker {
    async fn ask(&self) -> anyhow::Result<Timeline> {
        if self.events {
            streamed(&self.client, &self.url, &self.body).await
        } else {
            chatted(&self.client, &self.url, &self.body).await
        }
    }
}

/// `POST url` with `body`, its answer read as server-sent events up to `done`.
async fn streamed(client: &reqwest::Client, url: &str, body: &Value) -> anyhow::Result<Timeline> {
    let sent = Instant::now();
    let response = client.post(url).json(body).send().await?;
    let status = response.status();
    if status != reqwest::StatusCode::OK {
        let text = response.text().await.unwrap_or_default();
        anyhow::bail!("{status}: {text}");
    }
    let mut events = EventStream::new(response);
    let mut pieces = Vec::new();
    loop {
        let Some(event) = events.next(SILENCE_LIMIT).await else {
            anyhow::bail!(
                "the stream ended without done after {} pieces",
                pieces.len()
            );
        };
        match event.name.as_str() {
            "token" => pieces.push(Instant::now()),
            "done" => return Ok(Timeline { sent, pieces }),
            other => anyhow::bail!("event: {other} {}", event.data),
        }
    }
}

/// `POST url` with `body` to Ollama, its answer read as NDJSON up to the final line.
async fn chatted(client: &reqwest::Client, url: &str, body: &Value) -> anyhow::Result<Timeline> {
    let sent = Instant::now();
    let mut response = client
        .post(url)
        .json(body)
        .send()
        .await?
        .error_for_status()?;
    let mut pieces = Vec::new();
    let mut unread = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        let read = Instant::now();
        unread.extend_from_slice(&chunk);
        while let Some(end) = unread.iter().position(|&b| b == b'\n') {
            let line: Value = serde_json::from_slice(&unread[..end])?;
            unread.drain(..=end);
            if line["done"] == true {
                return Ok(Timeline { sent, pieces });
            }
            if line["message"]["content"]
                .as_str()
                .is_some_and(|c| !c.is_empty())
            {
                pieces.push(read);
            }
        }
    }
    anyhow::bail!("Ollama's answer ended before its final line")
}

/// A question the fake answers in `pieces` pieces: it answers `echo: ` and the question,
/// a piece per word.
fn question_in(pieces: usize) -> String {
    let words: Vec<String> = (1..pieces).map(|i| format!("word{i}")).collect();
    words.join(" ")
}

/// `runs` answers from each side, one request at a time, alternating which goes first so
/// that drift in the machine falls on both; the first `P6_WARM_UP` are not kept.
async fn alternately(
    one: &Asker,
    other: &Asker,
    runs: usize,
) -> anyhow::Result<(Vec<Timeline>, Vec<Timeline>)> {
    let (mut ones, mut others) = (Vec::new(), Vec::new());
    for run in 0..P6_WARM_UP + runs {
        let (a, b) = if run % 2 == 0 {
            let a = one.ask().await?;
            (a, other.ask().await?)
        } else {
            let b = other.ask().await?;
            (one.ask().await?, b)
        };
        if run >= P6_WARM_UP {
            ones.push(a);
            others.push(b);
        }
    }
    Ok((ones, others))
}

impl Bench {
    /// P6: the first token through maia against the fake directly, and the gaps after it.
    pub(super) fn first_token(
        &self,
        servers: &Servers,
        figures: &mut Figures,
    ) -> anyhow::Result<()> {
        let runs = if self.quick { P6_QUICK_RUNS } else { P6_RUNS };
        eprintln!("bench: P6, {runs} answers of {P6_PIECES} pieces {P6_GAP:?} apart per side");
        let question = question_in(P6_PIECES);
        let base = format!("http://127.0.0.1:{}", servers.port);
        let maia = Asker {
            client: client_with(&servers.token),
            url: format!("{base}{QUERY_PATH}"),
            body: json!({ "query": question, "stream": true }),
            events: true,
        };
        let direct = Asker {
            client: reqwest::Client::builder().no_proxy().build()?,
            url: format!("{}/api/chat", self.ollama.url()),
            body: json!({
                "model": MODEL,
                "messages": [
                    {"role": "system", "content": "You are a helpful assistant."},
                    {"role": "user", "content": question},
                ],
                "stream": true,
            }),
            events: false,
        };
        self.ollama.set_behavior(Behavior::Trickle(P6_GAP));
        let measured = self.runtime.block_on(async {
            let query = alternately(&maia, &direct, runs).await?;
            let conversation = conversation_asker(&maia, &question).await?;
            // Fewer: it is reported, not held to a target.
            let (message, direct) = alternately(&conversation, &direct, runs / 4).await?;
            anyhow::Ok((query, message, direct))
        });
        self.ollama.set_behavior(Behavior::Reply);
        let ((through, direct), message, message_direct) = measured?;
        for (line, pass) in first_token_lines(&Sample::of(&through), &Sample::of(&direct)) {
            figures.add(line, pass);
        }
        let (message, message_direct) = (Sample::of(&message), Sample::of(&message_direct));
        let diff = ms(message.first_p50()) - ms(message_direct.first_p50());
        figures.add(
            format!(
                "P6 ttft_message_p50_minus_direct diff={diff:.2}ms maia={:.2}ms direct={:.2}ms runs={} report",
                ms(message.first_p50()),
                ms(message_direct.first_p50()),
                message.firsts.len(),
            ),
            None,
        );
        Ok(())
    }
}

/// What P6 reads off one side's answers.
#[derive(Debug, Default)]
struct Sample {
    /// From sending to the first piece, per answer.
    firsts: Vec<Duration>,
    /// Between consecutive pieces, over every answer.
    gaps: Vec<Duration>,
    /// Pieces read, over every answer.
    pieces: usize,
}

impl Sample {
    fn of(timelines: &[Timeline]) -> Sample {
        let mut sample = Sample::default();
        for timeline in timelines {
            if let Some(first) = timeline.pieces.first() {
                sample.firsts.push(*first - timeline.sent);
            }
            let gaps = timeline.pieces.windows(2).map(|w| w[1] - w[0]);
            sample.gaps.extend(gaps);
            sample.pieces += timeline.pieces.len();
        }
        sample
    }

    fn first_p50(&self) -> Duration {
        percentile(&self.firsts, 50.0)
    }
}

/// P6's two lines, each with whether it meets its target: the first token's p50 through
/// maia minus directly, and the gaps between pieces through maia against directly.
fn first_token_lines(maia: &Sample, direct: &Sample) -> [(String, Option<bool>); 2] {
    let diff = ms(maia.first_p50()) - ms(direct.first_p50());
    let fast = diff <= ms(P6_TOLERANCE);
    let ttft = format!(
        "P6 ttft_p50_minus_direct diff={diff:.2}ms maia={:.2}ms direct={:.2}ms runs={} target<=1ms {}",
        ms(maia.first_p50()),
        ms(direct.first_p50()),
        maia.firsts.len(),
        verdict(fast)
    );
    let gap = |s: &Sample, p: f64| ms(percentile(&s.gaps, p));
    let median_moved = gap(maia, 50.0) - gap(direct, 50.0);
    let bunched = gap(direct, 10.0) - gap(maia, 10.0);
    let same = maia.pieces == direct.pieces
        && median_moved.abs() <= ms(P6_TOLERANCE)
        && bunched <= ms(P6_TOLERANCE);
    let gaps = format!(
        "P6 token_gaps_vs_direct p50 maia={:.2}ms direct={:.2}ms p10 maia={:.2}ms direct={:.2}ms p90 maia={:.2}ms direct={:.2}ms pieces maia={} direct={} target=same_pieces,p50_and_p10_within_1ms {}",
        gap(maia, 50.0),
        gap(direct, 50.0),
        gap(maia, 10.0),
        gap(direct, 10.0),
        gap(maia, 90.0),
        gap(direct, 90.0),
        maia.pieces,
        direct.pieces,
        verdict(same)
    );
    [(ttft, Some(fast)), (gaps, Some(same))]
}

/// The `p`th percentile of `values` (nearest rank); zero when there are none.
fn percentile(values: &[Duration], p: f64) -> Duration {
    let mut sorted = values.to_vec();
    sorted.sort();
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    sorted
        .get(rank.clamp(1, sorted.len().max(1)) - 1)
        .copied()
        .unwrap_or_default()
}

/// The conversation side of P6: `question` as the messages of one conversation, asked
/// of the same maia as `maia` asks.
async fn conversation_asker(maia: &Asker, question: &str) -> anyhow::Result<Asker> {
    let base = maia.url.trim_end_matches(QUERY_PATH).to_string();
    let id = create_conversations(&maia.client, &base, 1)
        .await?
        .remove(0);
    Ok(Asker {
        client: maia.client.clone(),
        url: format!("{base}/api/conversations/{id}/messages"),
        body: json!({ "content": question, "stream": true }),
        events: true,
    })
}

/// `count` new conversations, made `P7_CREATE_AT_ONCE` at a time: their ids.
async fn create_conversations(
    client: &reqwest::Client,
    base: &str,
    count: usize,
) -> anyhow::Result<Vec<String>> {
    let url = format!("{base}/api/conversations");
    let made: Vec<anyhow::Result<String>> = stream::iter(0..count)
        .map(|_| async {
            let response = client.post(&url).json(&json!({})).send().await?;
            let status = response.status();
            let body: Value = response.json().await?;
            anyhow::ensure!(status == 201, "making a conversation: {status} {body}");
            body["id"]
                .as_str()
                .map(str::to_string)
                .ok_or_else(|| anyhow::anyhow!("a conversation without an id: {body}"))
        })
        .buffer_unordered(P7_CREATE_AT_ONCE)
        .collect()
        .await;
    made.into_iter().collect()
}

impl Bench {
    /// P7: `P7_STREAMS` streamed messages at once, through a maia configured for them.
    pub(super) fn concurrent_streams(
        &self,
        db_url: &str,
        token: &str,
        figures: &mut Figures,
    ) -> anyhow::Result<()> {
        let pieces = if self.quick {
            P7_QUICK_PIECES
        } else {
            P7_PIECES
        };
        open_files_for_streams()?;
        let settings: Vec<String> = STREAM_SETTINGS
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        eprintln!(
            "bench: P7, {P7_STREAMS} streams of {pieces} pieces {P7_GAP:?} apart; maia with {}",
            settings.join(" ")
        );
        let port = free_port();
        let more: Vec<(&str, String)> = STREAM_SETTINGS
            .iter()
            .map(|(k, v)| (*k, v.to_string()))
            .collect();
        let mut maia = self.spawn_maia(port, db_url, &more);
        self.wait_200(port, "/readyz")?;
        let (pid, base) = (maia.pid(), format!("http://127.0.0.1:{port}"));
        let client = client_with(token);
        let ids = self
            .runtime
            .block_on(create_conversations(&client, &base, P7_STREAMS))?;
        let rss_before = memory(pid, "VmRSS")?;
        self.ollama.set_behavior(Behavior::Trickle(P7_GAP));
        let cpu_before = cpu_time(pid)?;
        let content = question_in(pieces);
        let all = stream_all(&client, &base, &ids, &content);
        let (results, most_files) = self.runtime.block_on(counting_open_files(pid, all));
        let run = StreamsRun {
            cpu: cpu_time(pid)?.saturating_sub(cpu_before),
            rss_peak: memory(pid, "VmHWM")?,
            rss_before,
            pieces,
            ..StreamsRun::of(results)
        };
        self.ollama.set_behavior(Behavior::Reply);
        self.runtime.block_on(maia.terminate(READY_LIMIT));
        eprintln!("bench: P7, at most {most_files} open files in maia");
        for (error, count) in run.error_kinds() {
            eprintln!("bench: P7 error x{count}: {error}");
        }
        for (line, pass) in run.lines() {
            figures.add(line, pass);
        }
        Ok(())
    }
}

/// Raises this process's soft open-files limit (maia inherits it) to what P7 needs,
/// within the hard limit; when the hard limit is short, fails saying so.
fn open_files_for_streams() -> anyhow::Result<()> {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let needed = OPEN_FILES_PER_STREAM * P7_STREAMS as u64 + OPEN_FILES_HEADROOM;
    let limit = getrlimit(Resource::Nofile);
    if limit.current.is_none_or(|soft| soft >= needed) {
        return Ok(());
    }
    if let Some(hard) = limit.maximum.filter(|hard| *hard < needed) {
        anyhow::bail!(
            "P7 needs {needed} open files and the hard limit is {hard}: raise it \
             (as root, `ulimit -Hn {needed}` in the shell that runs the bench)"
        );
    }
    let raised = Rlimit {
        current: Some(needed),
        maximum: limit.maximum,
    };
    setrlimit(Resource::Nofile, raised)?;
    Ok(())
}

/// One streamed message in each conversation of `ids`, all sent at once: each one's
/// timeline, or why it failed.
async fn stream_all(
    client: &reqwest::Client,
    base: &str,
    ids: &[String],
    content: &str,
) -> Vec<anyhow::Result<Timeline>> {
    let body = json!({ "content": content, "stream": true });
    let tasks: Vec<_> = ids
        .iter()
        .map(|id| {
            let (client, body) = (client.clone(), body.clone());
            let url = format!("{base}/api/conversations/{id}/messages");
            tokio::spawn(async move { streamed(&client, &url, &body).await })
        })
        .collect();
    let mut results = Vec::with_capacity(tasks.len());
    for task in tasks {
        let result = task
            .await
            .map_err(|e| anyhow::anyhow!("a stream's task: {e}"));
        results.push(result.and_then(|r| r));
    }
    results
}

/// `work`'s result, and the most files process `pid` had open while it ran (counted
/// every `P7_SAMPLE_EVERY`).
async fn counting_open_files<T>(pid: u32, work: impl Future<Output = T>) -> (T, usize) {
    let count =
        || std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |entries| entries.count());
    tokio::pin!(work);
    let mut most = count();
    loop {
        tokio::select! {
            result = &mut work => return (result, most.max(count())),
            () = tokio::time::sleep(P7_SAMPLE_EVERY) => most = most.max(count()),
        }
    }
}

/// A process's user and system CPU time so far, from `/proc/PID/stat`.
fn cpu_time(pid: u32) -> anyhow::Result<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command's name, in parentheses, may hold spaces: count fields after it.
    let after_name = stat
        .rsplit_once(") ")
        .map(|(_, rest)| rest)
        .ok_or_else(|| anyhow::anyhow!("unreadable /proc/{pid}/stat"))?;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // utime and stime are the 14th and 15th fields; the state, the 3rd, comes first here.
    let ticks: u64 = fields
        .get(11..13)
        .ok_or_else(|| anyhow::anyhow!("short /proc/{pid}/stat"))?
        .iter()
        .map(|f| f.parse::<u64>())
        .sum::<Result<u64, _>>()?;
    Ok(Duration::from_secs_f64(ticks as f64 / clock_ticks()))
}

/// The kernel's clock ticks per second, as `/proc` counts CPU time.
fn clock_ticks() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or(100.0)
}

/// What P7 measured.
#[derive(Debug, Default)]
struct StreamsRun {
    streams: usize,
    /// Why each stream that failed did.
    errors: Vec<String>,
    /// The most streams between their first piece and their last at one moment.
    at_once: usize,
    rss_before: f64,
    rss_peak: f64,
    cpu: Duration,
    pieces: usize,
}

impl StreamsRun {
    fn of(results: Vec<anyhow::Result<Timeline>>) -> StreamsRun {
        let mut run = StreamsRun {
            streams: results.len(),
            ..StreamsRun::default()
        };
        let mut spans = Vec::new();
        for result in results {
            match result {
                Ok(timeline) => match (timeline.pieces.first(), timeline.pieces.last()) {
                    (Some(first), Some(last)) => spans.push((*first, *last)),
                    _ => run.errors.push("an answer without pieces".into()),
                },
                Err(e) => run.errors.push(format!("{e:#}")),
            }
        }
        run.at_once = most_at_once(&spans);
        run
    }

    /// Each distinct error, with how often it came, most frequent first.
    fn error_kinds(&self) -> Vec<(&str, usize)> {
        let mut kinds: Vec<(&str, usize)> = Vec::new();
        for error in &self.errors {
            match kinds.iter_mut().find(|(e, _)| e == error) {
                Some((_, count)) => *count += 1,
                None => kinds.push((error, 1)),
            }
        }
        kinds.sort_by_key(|(_, count)| std::cmp::Reverse(*count));
        kinds
    }

    /// P7's lines, each with whether it meets its target.
    fn lines(&self) -> [(String, Option<bool>); 2] {
        let ok = self.errors.is_empty()
            && self.at_once == self.streams
            && self.rss_peak <= P7_RSS_TARGET;
        let per_stream_kb = (self.rss_peak - self.rss_before) / self.streams.max(1) as f64 / 1000.0;
        let memory = format!(
            "P7 concurrent_streams streams={} errors={} at_once={} rss_peak={:.1}MB rss_before={:.1}MB per_stream={per_stream_kb:.0}kB target:errors=0,at_once={},rss<=48MB {}",
            self.streams,
            self.errors.len(),
            self.at_once,
            self.rss_peak / MB,
            self.rss_before / MB,
            self.streams,
            verdict(ok)
        );
        let cpu = format!(
            "P7 cpu_per_stream cpu={:.2}ms total={:.2}s pieces_per_stream={} report",
            ms(self.cpu) / self.streams.max(1) as f64,
            self.cpu.as_secs_f64(),
            self.pieces
        );
        [(memory, Some(ok)), (cpu, None)]
    }
}

/// The most of `spans` (each a start and an end, inclusive) that cover one moment.
fn most_at_once(spans: &[(Instant, Instant)]) -> usize {
    // Starts sort before ends at the same moment: spans that touch overlap.
    let mut edges: Vec<(Instant, bool)> = spans
        .iter()
        .flat_map(|(start, end)| [(*start, false), (*end, true)])
        .collect();
    edges.sort();
    let (mut open, mut most) = (0usize, 0usize);
    for (_, is_end) in edges {
        if is_end {
            open -= 1;
        } else {
            open += 1;
            most = most.max(open);
        }
    }
    most
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms_each(values: &[u64]) -> Vec<Duration> {
        values.iter().map(|v| Duration::from_millis(*v)).collect()
    }

    /// A sample of `answers` answers, each first read after `first` ms, then with `gaps`.
    fn sample(answers: usize, first: u64, gaps: &[u64]) -> Sample {
        Sample {
            firsts: ms_each(&vec![first; answers]),
            gaps: ms_each(&gaps.repeat(answers)),
            pieces: answers * (gaps.len() + 1),
        }
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let values = ms_each(&[5, 1, 4, 2, 3]);
        assert_eq!(percentile(&values, 50.0), Duration::from_millis(3));
        assert_eq!(percentile(&values, 10.0), Duration::from_millis(1));
        assert_eq!(percentile(&values, 90.0), Duration::from_millis(5));
        assert_eq!(percentile(&values, 100.0), Duration::from_millis(5));
        assert_eq!(percentile(&[], 50.0), Duration::ZERO);
    }

    #[test]
    fn maia_may_add_a_millisecond_to_the_first_token_and_no_more() {
        let direct = sample(10, 6, &[5, 5, 5]);
        let [(line, pass), _] = first_token_lines(&sample(10, 7, &[5, 5, 5]), &direct);
        assert_eq!(pass, Some(true), "{line}");
        assert!(line.starts_with("P6 ttft_p50_minus_direct diff=1.00ms maia=7.00ms direct=6.00ms runs=10 target<=1ms PASS"), "{line}");
        let [(line, pass), _] = first_token_lines(&sample(10, 8, &[5, 5, 5]), &direct);
        assert_eq!(pass, Some(false), "{line}");
    }

    #[test]
    fn a_piece_held_back_fails_the_gaps_though_the_median_holds() {
        let direct = sample(10, 6, &[5, 5, 5, 5, 5]);
        let [_, (line, pass)] = first_token_lines(&sample(10, 6, &[5, 6, 5, 5, 5]), &direct);
        assert_eq!(pass, Some(true), "{line}");
        // One piece in five held back and sent with the next: a gap of 0, then one of 10.
        let [_, (line, pass)] = first_token_lines(&sample(10, 6, &[5, 0, 10, 5, 5]), &direct);
        assert_eq!(pass, Some(false), "{line}");
        // Every gap stretched by 2 ms: the median moves.
        let [_, (_, pass)] = first_token_lines(&sample(10, 6, &[7, 7, 7, 7, 7]), &direct);
        assert_eq!(pass, Some(false));
        // A piece lost.
        let [_, (_, pass)] = first_token_lines(&sample(10, 6, &[5, 5, 5, 5]), &direct);
        assert_eq!(pass, Some(false));
    }

    #[test]
    fn streams_at_once_are_those_whose_spans_cover_one_moment() {
        let t = Instant::now();
        let at = |ms: u64| t + Duration::from_millis(ms);
        assert_eq!(most_at_once(&[]), 0);
        assert_eq!(most_at_once(&[(at(0), at(10)), (at(20), at(30))]), 1);
        assert_eq!(most_at_once(&[(at(0), at(10)), (at(10), at(30))]), 2);
        let spans = [
            (at(0), at(50)),
            (at(5), at(10)),
            (at(8), at(60)),
            (at(55), at(70)),
        ];
        assert_eq!(most_at_once(&spans), 3);
    }

    #[test]
    fn p7_passes_only_with_every_stream_open_at_once_no_error_and_48_mb() {
        let run = StreamsRun {
            streams: 1000,
            at_once: 1000,
            rss_before: 15.0 * MB,
            rss_peak: 48.0 * MB,
            cpu: Duration::from_millis(1500),
            pieces: 30,
            ..StreamsRun::default()
        };
        let [(line, pass), (cpu, report)] = run.lines();
        assert_eq!(pass, Some(true), "{line}");
        assert!(line.contains(" per_stream=33kB "), "{line}");
        assert_eq!(
            cpu,
            "P7 cpu_per_stream cpu=1.50ms total=1.50s pieces_per_stream=30 report"
        );
        assert_eq!(report, None);
        let heavier = StreamsRun {
            rss_peak: 48.1 * MB,
            ..run
        };
        assert_eq!(heavier.lines()[0].1, Some(false));
        let staggered = StreamsRun {
            at_once: 999,
            ..heavier
        };
        assert_eq!(
            StreamsRun {
                rss_peak: 40.0 * MB,
                ..staggered
            }
            .lines()[0]
                .1,
            Some(false)
        );
        let failed = StreamsRun::of(vec![
            Err(anyhow::anyhow!("503")),
            Err(anyhow::anyhow!("503")),
        ]);
        assert_eq!(failed.error_kinds(), vec![("503", 2)]);
        assert_eq!(failed.lines()[0].1, Some(false));
    }
}
