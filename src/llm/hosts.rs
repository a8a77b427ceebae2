//! Several Ollama servers (`ollama.urls`; `ollama.url` is a list of one). Each call goes
//! to a server that has its model and the fewest calls in flight, ties taken in turn. A
//! server that gives no answer is marked down and skipped for a back-off (1 s, doubling to
//! 30 s); once that has passed it is probed (`/api/tags`, which also says its models) in
//! the background, and used again when the probe answers. A server that is down is still
//! tried when no other is left, so that one server alone is never refused by a guess.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde::Deserialize;
use tokio::time::Instant;
use url::Url;

use super::error::{network_failure, status_line, LlmError, LlmSetupError};
use super::http1::{self, Endpoint, Response, WireError};
use crate::config::redacted_http_url;

/// Health probes must answer quickly or count as unavailable.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// The most a probe's answer may hold (`/api/tags` lists every model on the server).
const MAX_PROBE_BYTES: usize = 4 * 1024 * 1024;
/// The first back-off of a server that failed; each failure in a row doubles it.
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// The least time between two readings of a server's models after it said it lacks one:
/// a stream of questions for a missing model must not become a stream of probes.
const MODELS_REFRESH: Duration = Duration::from_secs(5);

/// One Ollama server, and what maia knows of it.
pub struct Host {
    base: Url,
    /// Its URL as it may be shown: without credentials.
    shown: String,
    endpoint: Endpoint,
    in_flight: AtomicUsize,
    state: Mutex<HostState>,
}

/// A server's standing, read and changed under its lock (never held across an await).
#[derive(Debug, Default)]
struct HostState {
    /// Its models, as its last `/api/tags` listed them; `None` until it has answered one.
    models: Option<Vec<String>>,
    /// When its models were last read, and whether a call found one missing since.
    models_read: Option<Instant>,
    models_stale: bool,
    down: Option<Down>,
    probing: bool,
}

#[derive(Debug, Clone, Copy)]
struct Down {
    /// Not probed before this.
    until: Instant,
    backoff: Duration,
}

/// How well a server suits a call for a model, best first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Fit {
    /// Up, and its last list of models has this one.
    Has,
    /// Up, its models not known yet.
    Unknown,
    /// Up, and its last list lacks the model (which may have been pulled since).
    Lacks,
    /// Down: only when nothing else is left.
    Down,
}

impl HostState {
    fn fit(&self, model: &str) -> Fit {
        if self.down.is_some() {
            return Fit::Down;
        }
        match &self.models {
            None => Fit::Unknown,
            Some(models) if model_present(models, model) => Fit::Has,
            Some(_) => Fit::Lacks,
        }
    }

    /// Whether a probe should start now: a back-off has passed, or the models are unknown
    /// or found stale (and were not read just now).
    fn probe_due(&self, now: Instant) -> bool {
        if self.probing {
            return false;
        }
        match self.down {
            Some(down) => now >= down.until,
            None => {
                let read_long_ago = self
                    .models_read
                    .is_none_or(|at| now.duration_since(at) >= MODELS_REFRESH);
                self.models.is_none() || (self.models_stale && read_long_ago)
            }
        }
    }

    fn mark_down(&mut self, now: Instant) {
        let backoff = match self.down {
            Some(down) => (down.backoff * 2).min(MAX_BACKOFF),
            None => FIRST_BACKOFF,
        };
        self.down = Some(Down {
            until: now + backoff,
            backoff,
        });
    }
}

/// The server among `candidates` (each its fit and calls in flight) to use: the best fit,
/// then the fewest calls; ties go to the first from `start` on, so that load spreads.
fn pick(candidates: &[Option<(Fit, usize)>], start: usize) -> Option<usize> {
    let n = candidates.len();
    let mut best: Option<((Fit, usize), usize)> = None;
    for i in (0..n).map(|k| (start + k) % n) {
        let Some(key) = candidates[i] else { continue };
        if best.is_none_or(|(b, _)| key < b) {
            best = Some((key, i));
        }
    }
    best.map(|(_, i)| i)
}

impl Host {
    fn new(url: &str) -> Result<Self, LlmSetupError> {
        let base = Url::parse(url).map_err(|e| LlmSetupError(e.to_string()))?;
        // No proxy from the environment: it would carry local traffic elsewhere.
        let endpoint = Endpoint::new(&base, || crate::tls::client_config(Vec::new()))
            .map_err(LlmSetupError)?;
        Ok(Self {
            shown: redacted_http_url(url),
            base,
            endpoint,
            in_flight: AtomicUsize::new(0),
            state: Mutex::new(HostState::default()),
        })
    }

    /// The server's URL without its credentials.
    pub fn shown(&self) -> &str {
        &self.shown
    }

    /// Calls to it in flight (a streamed answer counts until it ends).
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::SeqCst)
    }

    fn state(&self) -> MutexGuard<'_, HostState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// It gave no answer, or its connection broke: skipped until its back-off passes.
    pub fn mark_down(&self, why: &LlmError) {
        let mut state = self.state();
        let first = state.down.is_none();
        state.mark_down(Instant::now());
        let backoff = state.down.map(|d| d.backoff.as_secs()).unwrap_or_default();
        drop(state);
        if first {
            tracing::warn!(host = %self.shown, error = %why, "Ollama server down: skipped for {backoff} s, then probed");
        }
    }

    /// It answered: whatever failed before is over.
    pub fn mark_up(&self) {
        if self.state().down.take().is_some() {
            tracing::info!(host = %self.shown, "Ollama server answers again");
        }
    }

    /// It said it lacks a model: its list is read again (not more often than
    /// `MODELS_REFRESH`).
    pub fn models_changed(self: &Arc<Self>) {
        self.state().models_stale = true;
        self.probe_if_due();
    }

    /// Starts a background probe if one is due; it marks the server up or down.
    fn probe_if_due(self: &Arc<Self>) {
        {
            let mut state = self.state();
            if !state.probe_due(Instant::now()) {
                return;
            }
            state.probing = true;
        }
        let host = Arc::clone(self);
        tokio::spawn(async move {
            let _ = host.models().await;
            host.state().probing = false;
        });
    }

    /// Sends `method` of `path` (relative to its URL) with `json` as its body.
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        json: Option<&[u8]>,
    ) -> Result<Response, WireError> {
        let url = self
            .base
            .join(path)
            .map_err(|e| WireError::Connect(format!("{path}: {e}")))?;
        self.endpoint
            .send(method, &http1::request_target(&url), json)
            .await
    }

    /// `GET /api/version`: the server is up and answering.
    pub async fn version(&self) -> Result<String, LlmError> {
        #[derive(Deserialize)]
        struct Version {
            version: String,
        }
        let v: Version = self.probe("api/version").await?;
        Ok(v.version)
    }

    /// `GET /api/tags`: the models on the server, remembered for choosing it.
    pub async fn models(&self) -> Result<Vec<String>, LlmError> {
        #[derive(Deserialize)]
        struct Tags {
            models: Vec<Tag>,
        }
        #[derive(Deserialize)]
        struct Tag {
            name: String,
        }
        let tags: Tags = self.probe("api/tags").await?;
        let models: Vec<String> = tags.models.into_iter().map(|t| t.name).collect();
        let mut state = self.state();
        state.models = Some(models.clone());
        state.models_read = Some(Instant::now());
        state.models_stale = false;
        drop(state);
        self.mark_up();
        Ok(models)
    }

    async fn probe<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T, LlmError> {
        let result = self.probe_once(path).await;
        if let Err(e @ (LlmError::Unreachable(_) | LlmError::Upstream(_))) = &result {
            self.mark_down(e);
        }
        result
    }

    async fn probe_once<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T, LlmError> {
        let work = async {
            let mut response = self.send("GET", path, None).await?;
            let body = response.body.read_to_end(MAX_PROBE_BYTES).await?;
            Ok::<_, WireError>((response, body))
        };
        let (response, body) = tokio::time::timeout(PROBE_TIMEOUT, work)
            .await
            // Not `LlmError::Timeout`: that one is `ollama.timeout`, and a probe has its own.
            .map_err(|_| {
                LlmError::Upstream(format!(
                    "{path}: no answer within {} s",
                    PROBE_TIMEOUT.as_secs()
                ))
            })?
            .map_err(|e| network_failure(&e, PROBE_TIMEOUT))?;
        if !response.is_success() {
            return Err(LlmError::Upstream(format!(
                "{path} answered {}",
                status_line(&response)
            )));
        }
        serde_json::from_slice::<T>(&body).map_err(|e| LlmError::Upstream(format!("{path}: {e}")))
    }
}

/// Whether `wanted` is among `present`, where `llama3` means `llama3:latest` as in Ollama.
pub fn model_present(present: &[String], wanted: &str) -> bool {
    let normalise = |m: &str| {
        if m.contains(':') {
            m.to_string()
        } else {
            format!("{m}:latest")
        }
    };
    let wanted = normalise(wanted);
    present.iter().any(|m| normalise(m) == wanted)
}

/// A call's hold on a server: counted in its calls in flight until dropped.
pub struct Lease(Arc<Host>);

impl Lease {
    fn new(host: Arc<Host>) -> Self {
        host.in_flight.fetch_add(1, Ordering::SeqCst);
        Self(host)
    }

    pub fn host(&self) -> &Arc<Host> {
        &self.0
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Every configured server.
pub struct Hosts {
    hosts: Vec<Arc<Host>>,
    /// Where the next choice starts looking, so that ties take turns.
    turn: AtomicUsize,
}

impl Hosts {
    pub fn new(urls: &[&str]) -> Result<Self, LlmSetupError> {
        let hosts = urls
            .iter()
            .map(|url| Host::new(url).map(Arc::new))
            .collect::<Result<Vec<_>, _>>()?;
        if hosts.is_empty() {
            return Err(LlmSetupError("no Ollama server is configured".into()));
        }
        Ok(Self {
            hosts,
            turn: AtomicUsize::new(0),
        })
    }

    pub fn all(&self) -> &[Arc<Host>] {
        &self.hosts
    }

    /// The server for a call to `model`, other than `not` (the one a retry leaves); `None`
    /// when there is no other. Probes that are due start on the way.
    pub fn choose(&self, model: &str, not: Option<&Arc<Host>>) -> Option<Lease> {
        let start = self.turn.fetch_add(1, Ordering::Relaxed);
        let candidates: Vec<Option<(Fit, usize)>> = self
            .hosts
            .iter()
            .map(|host| {
                host.probe_if_due();
                let excluded = not.is_some_and(|n| Arc::ptr_eq(n, host));
                (!excluded).then(|| (host.state().fit(model), host.in_flight()))
            })
            .collect();
        let chosen = pick(&candidates, start % self.hosts.len())?;
        Some(Lease::new(Arc::clone(&self.hosts[chosen])))
    }
}

/// How an attempt on one server failed.
pub enum Failure {
    /// No answer from the server (no connection, or it broke before the answer's head):
    /// the server is marked down and the call tried once on another.
    NoAnswer(LlmError),
    /// The server answered, or its time ran out: the call's outcome.
    Final(LlmError),
}

/// Runs `attempt` on the server chosen for `model`; on no answer, or a model the server
/// says it lacks, once more on another server. Returns the lease with the result: a
/// streamed answer keeps the server counted busy while it lasts.
pub async fn with_failover<T, F, Fut>(
    hosts: &Hosts,
    model: &str,
    mut attempt: F,
) -> Result<(Lease, T), LlmError>
where
    F: FnMut(Arc<Host>) -> Fut,
    Fut: std::future::Future<Output = Result<T, Failure>>,
{
    // The server left behind, and the error to give if no other answers: the first
    // one's, unless the other's says more (its model missing rather than no answer).
    let mut left: Option<Arc<Host>> = None;
    let mut error = None;
    for _ in 0..2 {
        let Some(lease) = hosts.choose(model, left.as_ref()) else {
            break;
        };
        let host = Arc::clone(lease.host());
        match attempt(Arc::clone(&host)).await {
            Ok(value) => {
                host.mark_up();
                return Ok((lease, value));
            }
            Err(Failure::NoAnswer(e)) => {
                host.mark_down(&e);
                error = error.or(Some(e));
            }
            Err(Failure::Final(e @ LlmError::ModelNotFound(_))) => {
                host.mark_up();
                host.models_changed();
                error = Some(e);
            }
            Err(Failure::Final(e @ LlmError::Timeout(_))) => {
                // Silent for all of `ollama.timeout` before a word: likely hung. Not tried
                // elsewhere (that would double the wait), but skipped until probed.
                host.mark_down(&e);
                return Err(e);
            }
            Err(Failure::Final(e)) => return Err(e),
        }
        left = Some(host);
    }
    Err(error.unwrap_or_else(|| LlmError::Unreachable("no Ollama server is configured".into())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn knows(models: &[&str]) -> HostState {
        HostState {
            models: Some(models.iter().map(|m| m.to_string()).collect()),
            models_read: Some(Instant::now()),
            ..HostState::default()
        }
    }

    #[test]
    fn a_model_without_a_tag_means_latest() {
        let present = vec!["llama3:latest".to_string(), "qwen2.5:14b".to_string()];
        assert!(model_present(&present, "llama3"));
        assert!(model_present(&present, "qwen2.5:14b"));
        assert!(!model_present(&present, "qwen2.5"));
        assert!(!model_present(&present, "mistral"));
    }

    #[test]
    fn the_least_busy_server_with_the_model_is_chosen() {
        let has = Some((Fit::Has, 3));
        let idle_has = Some((Fit::Has, 1));
        let idle_lacks = Some((Fit::Lacks, 0));
        assert_eq!(pick(&[has, idle_has, idle_lacks], 0), Some(1));
        // Equally busy: the first from the turn's start.
        assert_eq!(pick(&[idle_has, idle_has, idle_has], 2), Some(2));
        assert_eq!(pick(&[idle_has, idle_has, idle_has], 4), Some(1));
        // The excluded one is never chosen, and nothing left is none.
        assert_eq!(pick(&[None, has], 0), Some(1));
        assert_eq!(pick(&[None], 0), None);
    }

    #[test]
    fn a_down_server_is_skipped_while_another_is_left() {
        let down = Some((Fit::Down, 0));
        let busy = Some((Fit::Has, 9));
        let unknown = Some((Fit::Unknown, 5));
        assert_eq!(pick(&[down, busy], 0), Some(1));
        assert_eq!(pick(&[down, unknown], 0), Some(1));
        assert_eq!(pick(&[down, None], 0), Some(0));
    }

    #[test]
    fn a_model_a_server_lacks_sends_the_call_elsewhere() {
        let a = knows(&["llama3.2:3b"]);
        let b = knows(&["llama3.2:3b", "qwen2.5:14b"]);
        assert_eq!(a.fit("qwen2.5:14b"), Fit::Lacks);
        assert_eq!(b.fit("qwen2.5:14b"), Fit::Has);
        assert_eq!(a.fit("llama3.2:3b"), Fit::Has);
        assert_eq!(HostState::default().fit("llama3.2:3b"), Fit::Unknown);
        let candidates = [
            Some((a.fit("qwen2.5:14b"), 0)),
            Some((b.fit("qwen2.5:14b"), 4)),
        ];
        assert_eq!(pick(&candidates, 0), Some(1));
    }

    #[test]
    fn a_failed_server_is_probed_after_its_back_off_which_doubles_to_a_bound() {
        let now = Instant::now();
        let mut state = knows(&["m"]);
        assert!(!state.probe_due(now));
        state.mark_down(now);
        assert_eq!(state.fit("m"), Fit::Down);
        assert!(!state.probe_due(now));
        assert!(!state.probe_due(now + FIRST_BACKOFF - Duration::from_millis(1)));
        assert!(state.probe_due(now + FIRST_BACKOFF));
        for _ in 0..10 {
            state.mark_down(now);
        }
        assert_eq!(state.down.map(|d| d.backoff), Some(MAX_BACKOFF));
        state.probing = true;
        assert!(!state.probe_due(now + MAX_BACKOFF), "one probe at a time");
    }

    #[test]
    fn models_found_stale_are_read_again_but_not_at_once() {
        let now = Instant::now();
        let mut state = knows(&["m"]);
        state.models_read = Some(now);
        state.models_stale = true;
        assert!(!state.probe_due(now));
        assert!(state.probe_due(now + MODELS_REFRESH));
        assert!(
            HostState::default().probe_due(now),
            "unknown models are read"
        );
    }
}
