//! A chat completion as an OpenAI client asks for it (`POST /v1/chat/completions`): a
//! model, the conversation so far, and how to sample the answer. Checked here once, so
//! that a bad value is a 400 naming its parameter, never a failure at Ollama.

use super::question::{Consult, Query, ValidationError, MAX_QUERY_BYTES};

/// Longest model name read: anything longer is not one of ours, and is not echoed back.
const MAX_MODEL_BYTES: usize = 200;
/// OpenAI's own limit on stop sequences.
const MAX_STOPS: usize = 4;

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Speaker {
    /// `system`, or `developer` (OpenAI's newer name for the same thing).
    System,
    User,
    Assistant,
}

impl Speaker {
    pub fn parse(role: &str, at: usize) -> Result<Self, ValidationError> {
        match role {
            "system" | "developer" => Ok(Speaker::System),
            "user" => Ok(Speaker::User),
            "assistant" => Ok(Speaker::Assistant),
            other => Err(bad(
                format!("messages[{at}].role"),
                format!(
                    "role {other:?} is not supported: use \"system\", \"developer\", \"user\" \
                     or \"assistant\" (maia does not call tools)"
                ),
            )),
        }
    }
}

/// One message of the conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Turn {
    pub speaker: Speaker,
    pub content: String,
}

/// How the answer is sampled; `None` keeps the model's own default.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sampling {
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub max_tokens: Option<u32>,
    pub stop: Vec<String>,
    pub seed: Option<i64>,
    pub frequency_penalty: Option<f64>,
    pub presence_penalty: Option<f64>,
}

impl Sampling {
    /// Each value within OpenAI's documented range.
    pub fn check(self) -> Result<Self, ValidationError> {
        within("temperature", self.temperature, 0.0, 2.0)?;
        within("top_p", self.top_p, 0.0, 1.0)?;
        within("frequency_penalty", self.frequency_penalty, -2.0, 2.0)?;
        within("presence_penalty", self.presence_penalty, -2.0, 2.0)?;
        if self.stop.len() > MAX_STOPS {
            return Err(bad("stop", format!("at most {MAX_STOPS} stop sequences")));
        }
        if self.stop.iter().any(|s| s.is_empty() || s.contains('\0')) {
            return Err(bad("stop", "a stop sequence must not be empty or hold NUL"));
        }
        Ok(self)
    }

    /// `max_tokens` or `max_completion_tokens` (the newer name), at least 1.
    pub fn max_tokens(
        max_tokens: Option<i64>,
        max_completion_tokens: Option<i64>,
    ) -> Result<Option<u32>, ValidationError> {
        let (param, value) = match (max_tokens, max_completion_tokens) {
            (Some(_), Some(_)) => {
                return Err(bad(
                    "max_tokens",
                    "give max_tokens or max_completion_tokens, not both",
                ))
            }
            (Some(n), None) => ("max_tokens", n),
            (None, Some(n)) => ("max_completion_tokens", n),
            (None, None) => return Ok(None),
        };
        u32::try_from(value)
            .ok()
            .filter(|n| *n >= 1)
            .map(Some)
            .ok_or_else(|| {
                bad(
                    param,
                    format!("must be a whole number from 1 to {}", u32::MAX),
                )
            })
    }
}

/// A chat completion, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    /// The model as the client named it: an allowed Ollama model or `maia-<persona>`;
    /// which one is the service's to say.
    pub model: String,
    pub turns: Vec<Turn>,
    /// The last user message: what the trace keeps as its query.
    pub question: Query,
    pub sampling: Sampling,
    /// maia's extension (`"maia": {"knowledge": true}`): the answer draws on the owner's
    /// documents.
    pub knowledge: Option<Consult>,
}

impl Completion {
    pub fn parse(
        model: String,
        turns: Vec<Turn>,
        sampling: Sampling,
    ) -> Result<Self, ValidationError> {
        if model.trim().is_empty() {
            return Err(bad(
                "model",
                "a model is required (GET /v1/models lists them)",
            ));
        }
        if model.len() > MAX_MODEL_BYTES {
            return Err(bad(
                "model",
                format!("a model name is at most {MAX_MODEL_BYTES} bytes"),
            ));
        }
        if turns.is_empty() {
            return Err(bad("messages", "at least one message is required"));
        }
        if let Some(at) = turns.iter().position(|t| t.content.contains('\0')) {
            return Err(bad(
                format!("messages[{at}].content"),
                "must not contain NUL characters (\\u0000)",
            ));
        }
        let question = question(&turns)?;
        Ok(Self {
            model,
            turns,
            question,
            sampling: sampling.check()?,
            knowledge: None,
        })
    }
}

/// The last user message: not blank, at most a query's 16 KiB.
fn question(turns: &[Turn]) -> Result<Query, ValidationError> {
    let (at, last) = turns
        .iter()
        .enumerate()
        .rfind(|(_, t)| t.speaker == Speaker::User)
        .ok_or_else(|| {
            bad(
                "messages",
                "at least one message must have the role \"user\"",
            )
        })?;
    let param = format!("messages[{at}].content");
    if last.content.trim().is_empty() {
        return Err(bad(param, "the last user message must not be empty"));
    }
    if last.content.len() > MAX_QUERY_BYTES {
        return Err(bad(
            param,
            format!(
                "the last user message is {} bytes; the limit is {MAX_QUERY_BYTES} bytes \
                 (16 KiB)",
                last.content.len()
            ),
        ));
    }
    Query::parse(last.content.clone())
}

fn within(
    param: &'static str,
    value: Option<f64>,
    low: f64,
    high: f64,
) -> Result<(), ValidationError> {
    match value {
        Some(v) if !(low..=high).contains(&v) => {
            Err(bad(param, format!("must be between {low} and {high}")))
        }
        _ => Ok(()),
    }
}

fn bad(param: impl Into<String>, message: impl Into<String>) -> ValidationError {
    ValidationError::BadParameter {
        param: param.into(),
        message: message.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn turn(speaker: Speaker, content: &str) -> Turn {
        Turn {
            speaker,
            content: content.into(),
        }
    }

    fn param_of(error: ValidationError) -> String {
        match error {
            ValidationError::BadParameter { param, .. } => param,
            other => panic!("not a parameter's error: {other:?}"),
        }
    }

    #[test]
    fn the_question_is_the_last_user_message_whatever_follows() {
        let turns = vec![
            turn(Speaker::System, "be brief"),
            turn(Speaker::User, "first"),
            turn(Speaker::Assistant, "an answer"),
            turn(Speaker::User, "second"),
            turn(Speaker::Assistant, "a prefill"),
        ];
        let c = Completion::parse("m".into(), turns, Sampling::default()).unwrap();
        assert_eq!(c.question.as_str(), "second");
        assert_eq!(c.turns.len(), 5);
    }

    #[test]
    fn each_refusal_names_its_parameter() {
        let refused = |model: &str, turns: Vec<Turn>, sampling: Sampling| {
            param_of(Completion::parse(model.into(), turns, sampling).unwrap_err())
        };
        let user = || vec![turn(Speaker::User, "hi")];
        let plain = Sampling::default;
        assert_eq!(refused(" ", user(), plain()), "model");
        assert_eq!(refused("m", vec![], plain()), "messages");
        assert_eq!(
            refused("m", vec![turn(Speaker::System, "x")], plain()),
            "messages"
        );
        let blank_last = vec![turn(Speaker::User, "a"), turn(Speaker::User, " ")];
        assert_eq!(refused("m", blank_last, plain()), "messages[1].content");
        let nul = vec![turn(Speaker::User, "a\0")];
        assert_eq!(refused("m", nul, plain()), "messages[0].content");
        let hot = Sampling {
            temperature: Some(2.5),
            ..plain()
        };
        assert_eq!(refused("m", user(), hot), "temperature");
        let stops = Sampling {
            stop: vec!["a".into(); 5],
            ..plain()
        };
        assert_eq!(refused("m", user(), stops), "stop");
        assert_eq!(
            param_of(Speaker::parse("tool", 3).unwrap_err()),
            "messages[3].role"
        );
    }

    #[test]
    fn the_last_user_message_is_a_query_of_at_most_16_kib() {
        let long = "a".repeat(MAX_QUERY_BYTES + 1);
        let turns = vec![turn(Speaker::User, &long)];
        let error = Completion::parse("m".into(), turns, Sampling::default()).unwrap_err();
        assert!(error.to_string().contains("16 KiB"), "{error}");
        let earlier = vec![turn(Speaker::User, &long), turn(Speaker::User, "short")];
        assert!(Completion::parse("m".into(), earlier, Sampling::default()).is_ok());
    }

    #[test]
    fn max_tokens_has_two_names_and_must_be_positive() {
        assert_eq!(Sampling::max_tokens(Some(5), None), Ok(Some(5)));
        assert_eq!(Sampling::max_tokens(None, Some(7)), Ok(Some(7)));
        assert_eq!(Sampling::max_tokens(None, None), Ok(None));
        assert_eq!(
            param_of(Sampling::max_tokens(None, Some(0)).unwrap_err()),
            "max_completion_tokens"
        );
        assert!(Sampling::max_tokens(Some(1), Some(1)).is_err());
        assert!(Sampling::max_tokens(Some(-3), None).is_err());
    }

    #[test]
    fn developer_is_a_system_message() {
        assert_eq!(Speaker::parse("developer", 0), Ok(Speaker::System));
    }
}
