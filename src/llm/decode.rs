//! Ollama's chat stream decoded from bytes, in whatever pieces the network hands them over:
//! text as the model writes it, then the final counts; an `{"error": ...}` line, a line that
//! is not Ollama's, or a body that stops before `done` is an error, never a short answer.

use serde::Deserialize;

use super::ndjson::Lines;
use super::LlmError;

/// More text than any model's answer: a peer that keeps sending is cut off here.
const MAX_ANSWER_BYTES: usize = 8 * 1024 * 1024;

/// What the answer stream yields, in order: text as the model writes it, then `Done`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    Text(String),
    Done {
        prompt_tokens: Option<i32>,
        completion_tokens: Option<i32>,
        finish: Finish,
    },
}

/// Why the model stopped: it was done, or it reached the length it was allowed
/// (`num_predict`; Ollama's `done_reason: "length"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Finish {
    #[default]
    Stop,
    Length,
}

/// What the decoder has for its caller.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    Piece(Piece),
    /// Nothing decodable yet: push more bytes (or end the body).
    NeedMore,
    /// `Done` was handed out; the stream is over.
    Finished,
}

/// One NDJSON line: a piece of the answer, the final line with the counts, or an error.
#[derive(Deserialize)]
struct ChatLine {
    #[serde(default)]
    message: Option<LineMessage>,
    #[serde(default)]
    done: bool,
    // Ollama leaves a count out when it is zero (`omitempty`): a cached prompt, say.
    #[serde(default)]
    prompt_eval_count: u64,
    #[serde(default)]
    eval_count: u64,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    done_reason: Option<String>,
}

#[derive(Deserialize)]
struct LineMessage {
    #[serde(default)]
    content: String,
}

#[derive(Debug, Default)]
pub struct ChatDecoder {
    lines: Lines,
    received: usize,
    queued: Option<Piece>,
    finished: bool,
    body_ended: bool,
}

impl ChatDecoder {
    /// The next bytes of the body.
    pub fn push(&mut self, bytes: &[u8]) -> Result<(), LlmError> {
        self.lines.push(bytes).map_err(unreadable)
    }

    /// The body has ended.
    pub fn end(&mut self) -> Result<(), LlmError> {
        self.body_ended = true;
        self.lines.end().map_err(unreadable)
    }

    pub fn next(&mut self) -> Result<Step, LlmError> {
        if let Some(piece) = self.queued.take() {
            return Ok(Step::Piece(piece));
        }
        while !self.finished {
            match self.lines.next_line() {
                Some(line) => {
                    if let Some(piece) = self.piece(&line)? {
                        return Ok(Step::Piece(piece));
                    }
                }
                None if self.body_ended => return Err(ended_early()),
                None => return Ok(Step::NeedMore),
            }
        }
        Ok(Step::Finished)
    }

    /// What one line says; `None` for a line with nothing to hand on.
    fn piece(&mut self, line: &str) -> Result<Option<Piece>, LlmError> {
        let line: ChatLine = serde_json::from_str(line).map_err(unreadable)?;
        if let Some(error) = line.error {
            return Err(LlmError::Upstream(error));
        }
        let text = line.message.map(|m| m.content).unwrap_or_default();
        self.received += text.len();
        if self.received > MAX_ANSWER_BYTES {
            return Err(LlmError::Upstream(format!(
                "the answer went on past {} MiB",
                MAX_ANSWER_BYTES >> 20
            )));
        }
        let text = (!text.is_empty()).then_some(Piece::Text(text));
        if !line.done {
            return Ok(text);
        }
        self.finished = true;
        let done = Piece::Done {
            prompt_tokens: i32::try_from(line.prompt_eval_count).ok(),
            completion_tokens: i32::try_from(line.eval_count).ok(),
            finish: match line.done_reason.as_deref() {
                Some("length") => Finish::Length,
                _ => Finish::Stop,
            },
        };
        // Text on the final line (Ollama sends none today) still comes before `Done`.
        Ok(Some(match text {
            Some(text) => {
                self.queued = Some(done);
                text
            }
            None => done,
        }))
    }
}

fn unreadable(e: impl std::fmt::Display) -> LlmError {
    LlmError::Upstream(format!("unreadable answer: {e}"))
}

pub fn ended_early() -> LlmError {
    LlmError::Upstream("the answer ended before Ollama said it was done".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stream as Ollama writes it for `/api/chat` (the fields of its API documentation;
    /// the text is ours, with characters of two, three and four bytes).
    const RECORDED: &str = concat!(
        r#"{"model":"llama3.2:3b","created_at":"2026-11-23T08:52:19.385406455Z","message":{"role":"assistant","content":"Sovereignty"},"done":false}"#,
        "\n",
        r#"{"model":"llama3.2:3b","created_at":"2026-11-23T08:52:19.419525164Z","message":{"role":"assistant","content":" means naïve"},"done":false}"#,
        "\n",
        r#"{"model":"llama3.2:3b","created_at":"2026-11-23T08:52:19.452113042Z","message":{"role":"assistant","content":" trust — 日本 🌍\n"},"done":false}"#,
        "\n",
        r#"{"model":"llama3.2:3b","created_at":"2026-11-23T08:52:19.487224081Z","message":{"role":"assistant","content":""},"done_reason":"stop","done":true,"total_duration":4883583458,"load_duration":1334875,"prompt_eval_count":26,"prompt_eval_duration":342546000,"eval_count":282,"eval_duration":4535599000}"#,
        "\n",
    );

    fn expected() -> Vec<Piece> {
        vec![
            Piece::Text("Sovereignty".into()),
            Piece::Text(" means naïve".into()),
            Piece::Text(" trust — 日本 🌍\n".into()),
            Piece::Done {
                prompt_tokens: Some(26),
                completion_tokens: Some(282),
                finish: Finish::Stop,
            },
        ]
    }

    /// Decodes `chunks` as one body; the pieces, or the first error.
    fn decode<'a>(chunks: impl IntoIterator<Item = &'a [u8]>) -> Result<Vec<Piece>, LlmError> {
        let mut decoder = ChatDecoder::default();
        let mut pieces = Vec::new();
        let mut drain = |decoder: &mut ChatDecoder| -> Result<bool, LlmError> {
            loop {
                match decoder.next()? {
                    Step::Piece(piece) => pieces.push(piece),
                    Step::NeedMore => return Ok(false),
                    Step::Finished => return Ok(true),
                }
            }
        };
        for chunk in chunks {
            decoder.push(chunk)?;
            if drain(&mut decoder)? {
                return Ok(pieces);
            }
        }
        decoder.end()?;
        drain(&mut decoder)?;
        Ok(pieces)
    }

    #[test]
    fn the_recorded_stream_cut_at_every_position_decodes_the_same() {
        let body = RECORDED.as_bytes();
        for cut in 0..=body.len() {
            let (a, b) = body.split_at(cut);
            assert_eq!(decode([a, b]).unwrap(), expected(), "cut at byte {cut}");
        }
        let bytes: Vec<&[u8]> = body.chunks(1).collect();
        assert_eq!(decode(bytes).unwrap(), expected(), "one byte at a time");
    }

    #[test]
    fn an_error_line_mid_stream_is_an_error_wherever_the_cuts_fall() {
        let (first, rest) = RECORDED.split_at(RECORDED.find('\n').unwrap() + 1);
        let body = format!("{first}{{\"error\":\"out of memory\"}}\n{rest}");
        let body = body.as_bytes();
        for cut in 0..=body.len() {
            let (a, b) = body.split_at(cut);
            let error = decode([a, b]).unwrap_err();
            assert!(
                matches!(&error, LlmError::Upstream(m) if m == "out of memory"),
                "cut at byte {cut}: {error:?}"
            );
        }
    }

    #[test]
    fn a_body_that_stops_before_done_is_an_error_at_every_length() {
        // Every length but the whole and the whole without its last `\n` (still a whole line).
        for length in 0..RECORDED.len() - 1 {
            let result = decode([&RECORDED.as_bytes()[..length]]);
            assert!(result.is_err(), "{length} bytes decoded as {result:?}");
        }
    }

    #[test]
    fn text_on_the_final_line_comes_before_done_and_nothing_follows() {
        let body = concat!(
            r#"{"message":{"role":"assistant","content":"all at once"},"done":true,"eval_count":3}"#,
            "\n",
            r#"{"message":{"role":"assistant","content":"after the end"},"done":false}"#,
            "\n"
        );
        let pieces = decode([body.as_bytes()]).unwrap();
        assert_eq!(
            pieces,
            [
                Piece::Text("all at once".into()),
                Piece::Done {
                    prompt_tokens: Some(0),
                    completion_tokens: Some(3),
                    finish: Finish::Stop,
                }
            ]
        );
    }

    #[test]
    fn an_answer_cut_at_its_allowed_length_says_so() {
        let body = concat!(
            r#"{"message":{"role":"assistant","content":"one two"},"done":false}"#,
            "\n",
            r#"{"message":{"role":"assistant","content":""},"done":true,"done_reason":"length","prompt_eval_count":5,"eval_count":2}"#,
            "\n"
        );
        let pieces = decode([body.as_bytes()]).unwrap();
        assert_eq!(
            pieces.last(),
            Some(&Piece::Done {
                prompt_tokens: Some(5),
                completion_tokens: Some(2),
                finish: Finish::Length,
            })
        );
    }

    #[test]
    fn a_line_that_is_not_ollamas_is_named_unreadable() {
        let error = decode([b"<html>busy</html>\n".as_slice()]).unwrap_err();
        assert!(
            matches!(&error, LlmError::Upstream(m) if m.starts_with("unreadable answer")),
            "{error:?}"
        );
    }
}
