//! Ollama's `POST /api/embed`: texts in, one embedding each out
//! (`{"model", "input": [..]}` → `{"embeddings": [[..], ..]}`), in batches. A call may take
//! `ollama.timeout` (a model being loaded), and its answer is read up to a bound.

use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::error::{network_failure, status_line};
use super::hosts::{with_failover, Failure};
use super::http1::WireError;
use super::{Llm, LlmError};

/// Texts sent in one call: enough to keep the model busy, few enough that one call's
/// answer (4 bytes of text a number, roughly 10 KiB an embedding of 768) stays small.
pub const EMBED_BATCH: usize = 32;
/// The most an answer may hold: a batch of embeddings of the largest length maia takes.
const MAX_EMBED_RESPONSE_BYTES: usize = 64 * 1024 * 1024;

#[derive(Serialize)]
struct EmbedRequest<'a> {
    model: &'a str,
    input: &'a [String],
}

#[derive(Deserialize)]
struct EmbedResponse {
    embeddings: Vec<Vec<f32>>,
}

impl Llm {
    /// The embeddings of `texts` by `model`, in order, each `dimensions` long, asked in
    /// batches of [`EMBED_BATCH`].
    pub async fn embed(
        &self,
        model: &str,
        texts: &[String],
        dimensions: usize,
    ) -> Result<Vec<Vec<f32>>, LlmError> {
        let mut all = Vec::with_capacity(texts.len());
        for batch in texts.chunks(EMBED_BATCH) {
            let embeddings = self.embed_batch(model, batch).await?;
            if embeddings.len() != batch.len() {
                return Err(LlmError::Upstream(format!(
                    "/api/embed answered {} embeddings for {} texts",
                    embeddings.len(),
                    batch.len()
                )));
            }
            if let Some(wrong) = embeddings.iter().find(|e| e.len() != dimensions) {
                return Err(LlmError::Upstream(format!(
                    "the model {model:?} makes embeddings of {} numbers, and \
                     knowledge.embed_dimensions is {dimensions}: set it to {}",
                    wrong.len(),
                    wrong.len()
                )));
            }
            all.extend(embeddings);
        }
        Ok(all)
    }

    /// One batch, on a server chosen as a chat's is; one that gives no whole answer leaves
    /// the batch to another, once (nothing of it was used).
    async fn embed_batch(&self, model: &str, input: &[String]) -> Result<Vec<Vec<f32>>, LlmError> {
        let started = Instant::now();
        let json = serde_json::to_vec(&EmbedRequest { model, input })
            .map_err(|e| LlmError::Upstream(format!("the request could not be written: {e}")))?;
        let json = json.as_slice();
        let silence = self.silence;
        let (_lease, body) = with_failover(&self.hosts, model, |host| async move {
            let work = async {
                let mut response = host.send("POST", "api/embed", Some(json)).await?;
                let body = response.body.read_to_end(MAX_EMBED_RESPONSE_BYTES).await?;
                Ok::<_, WireError>((status_line(&response), response.is_success(), body))
            };
            let answered = tokio::time::timeout(silence, work)
                .await
                .map_err(|_| Failure::Final(LlmError::Timeout(silence)))?;
            let (status, success, body) =
                answered.map_err(|e| Failure::NoAnswer(network_failure(&e, started.elapsed())))?;
            if !success {
                return Err(Failure::Final(refusal(model, &status, &body)));
            }
            Ok(body)
        })
        .await?;
        serde_json::from_slice::<EmbedResponse>(&body)
            .map(|r| r.embeddings)
            .map_err(|e| LlmError::Upstream(format!("/api/embed answered {e}")))
    }
}

/// A non-2xx answer: a model Ollama lacks is ours to name; an embedding model is needed.
fn refusal(model: &str, status: &str, body: &[u8]) -> LlmError {
    #[derive(Deserialize)]
    struct ErrorBody {
        error: String,
    }
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(b) if b.error.contains("not found") => LlmError::ModelNotFound(model.to_string()),
        Ok(b) if b.error.contains("does not support embeddings") => LlmError::Upstream(format!(
            "the model {model:?} does not make embeddings (knowledge.embed_model must be an \
             embedding model, such as nomic-embed-text): {}",
            b.error
        )),
        Ok(b) => LlmError::Upstream(b.error),
        Err(_) => {
            let text = String::from_utf8_lossy(body);
            let text: String = text.trim().chars().take(200).collect();
            LlmError::Upstream(format!("/api/embed answered {status}: {text}"))
        }
    }
}
