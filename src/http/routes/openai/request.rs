//! `POST /v1/chat/completions`'s body as OpenAI's clients send it, read into a
//! `domain::Completion`. Every field named here is accepted; any other is refused by name
//! (`JsonBody`). Of the accepted ones, some are used, and some ignored as long as they ask
//! for nothing maia would not do (`n` of 1, a `text` response format, no tools...): a
//! value that does is a 400 naming it, rather than an answer that silently is not what
//! was asked for.

use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::domain::{Completion, Consult, Sampling, Speaker, Turn, ValidationError};

/// A chat completion as OpenAI's API takes it. Fields OpenAI has that ask for what maia
/// does not do (`n` over 1, tools, log probabilities, JSON output) are a 400 naming them.
#[derive(Deserialize, ToSchema)]
pub struct ChatCompletionBody {
    /// An allowed model (`GET /v1/models`), or `maia-<persona>`.
    #[schema(example = "maia-socratic")]
    model: String,
    /// The conversation so far; the last `user` message is the question the trace keeps.
    messages: Vec<WireMessage>,
    /// The answer as server-sent events (`data: {chunk}`, then `data: [DONE]`).
    stream: Option<bool>,
    stream_options: Option<StreamOptions>,
    #[schema(minimum = 0, maximum = 2)]
    temperature: Option<f64>,
    #[schema(minimum = 0, maximum = 1)]
    top_p: Option<f64>,
    /// The most tokens the answer may have (Ollama's `num_predict`).
    #[schema(minimum = 1)]
    max_tokens: Option<i64>,
    /// `max_tokens`' newer name; give one or the other.
    #[schema(minimum = 1)]
    max_completion_tokens: Option<i64>,
    /// One stop sequence or up to four.
    stop: Option<Stop>,
    seed: Option<i64>,
    #[schema(minimum = -2, maximum = 2)]
    frequency_penalty: Option<f64>,
    #[schema(minimum = -2, maximum = 2)]
    presence_penalty: Option<f64>,
    // Accepted while they ask for nothing more than maia does.
    /// 1 only.
    n: Option<i64>,
    /// `{"type": "text"}` only.
    response_format: Option<ResponseFormat>,
    /// `false` only.
    logprobs: Option<bool>,
    /// Empty only.
    #[schema(value_type = Option<Object>)]
    logit_bias: Option<serde_json::Map<String, Value>>,
    /// Empty only: maia does not call tools.
    #[schema(value_type = Option<Vec<Object>>)]
    tools: Option<Vec<Value>>,
    /// `"none"` or `"auto"` only.
    #[schema(value_type = Option<String>)]
    tool_choice: Option<Value>,
    // Ignored: they change nothing in the answer.
    #[allow(dead_code, reason = "accepted and ignored")]
    user: Option<String>,
    #[allow(dead_code, reason = "accepted and ignored")]
    parallel_tool_calls: Option<bool>,
    #[allow(dead_code, reason = "accepted and ignored")]
    store: Option<bool>,
    #[allow(dead_code, reason = "accepted and ignored")]
    #[schema(value_type = Option<Object>)]
    metadata: Option<Value>,
    /// maia's extension, not OpenAI's (the openai Python package sends it with
    /// `extra_body={"maia": {...}}`).
    maia: Option<MaiaExtension>,
}

/// What maia adds to a chat completion.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct MaiaExtension {
    /// Draw on the owner's documents: the `k` chunks that best match the last user
    /// message go into the prompt as numbered sources, and the answer carries them as
    /// `citations` (on the completion; streamed, on the chunk with the finish reason).
    knowledge: Option<bool>,
    /// How many sources, 1 to 20; 5 by default. Only with `"knowledge": true`.
    #[schema(minimum = 1, maximum = 20)]
    k: Option<i64>,
}

/// A message. Clients that send back an answer they got add fields of their own
/// (`refusal`, `annotations`, ...): those are ignored, but tool calls are refused.
#[derive(Deserialize, ToSchema)]
struct WireMessage {
    /// `system`, `developer`, `user` or `assistant`.
    #[schema(example = "user")]
    role: String,
    /// None only for an assistant's message that called tools, which maia refuses.
    content: Option<Content>,
    /// Empty only: maia does not call tools.
    #[schema(value_type = Option<Vec<Object>>)]
    tool_calls: Option<Vec<Value>>,
}

/// A message's content: text, or parts of which only text ones are taken.
#[derive(Deserialize, ToSchema)]
#[serde(untagged)]
enum Content {
    Text(String),
    Parts(Vec<Part>),
}

/// A part of a message: only `text` ones are taken.
#[derive(Deserialize, ToSchema)]
struct Part {
    #[serde(rename = "type")]
    kind: String,
    text: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(untagged)]
enum Stop {
    One(String),
    Many(Vec<String>),
}

/// Only `include_usage` is read; other options (`include_obfuscation`) change nothing here.
#[derive(Deserialize, ToSchema)]
struct StreamOptions {
    include_usage: Option<bool>,
}

#[derive(Deserialize, ToSchema)]
struct ResponseFormat {
    #[serde(rename = "type")]
    kind: String,
}

/// What the handler needs besides the completion: how to answer it.
#[derive(Debug)]
pub struct Delivery {
    pub stream: bool,
    /// `stream_options.include_usage`: a last chunk with the counts.
    pub include_usage: bool,
}

impl ChatCompletionBody {
    pub fn parse(self) -> Result<(Completion, Delivery), ValidationError> {
        self.refuse_what_maia_does_not_do()?;
        let delivery = Delivery {
            stream: self.stream.unwrap_or(false),
            include_usage: self
                .stream_options
                .and_then(|o| o.include_usage)
                .unwrap_or(false),
        };
        let turns = self
            .messages
            .into_iter()
            .enumerate()
            .map(|(at, m)| m.turn(at))
            .collect::<Result<Vec<_>, _>>()?;
        let sampling = Sampling {
            temperature: self.temperature,
            top_p: self.top_p,
            max_tokens: Sampling::max_tokens(self.max_tokens, self.max_completion_tokens)?,
            stop: match self.stop {
                None => Vec::new(),
                Some(Stop::One(stop)) => vec![stop],
                Some(Stop::Many(stops)) => stops,
            },
            seed: self.seed,
            frequency_penalty: self.frequency_penalty,
            presence_penalty: self.presence_penalty,
        };
        let knowledge = match self.maia {
            None => None,
            Some(maia) => {
                Consult::parse(maia.knowledge, maia.k).map_err(|e| bad("maia.k", &e.to_string()))?
            }
        };
        let completion = Completion {
            knowledge,
            ..Completion::parse(self.model, turns, sampling)?
        };
        Ok((completion, delivery))
    }

    fn refuse_what_maia_does_not_do(&self) -> Result<(), ValidationError> {
        if self.n.is_some_and(|n| n != 1) {
            return Err(bad("n", "maia answers with one choice: n must be 1"));
        }
        if self
            .response_format
            .as_ref()
            .is_some_and(|f| f.kind != "text")
        {
            return Err(bad(
                "response_format",
                "only {\"type\": \"text\"} is supported",
            ));
        }
        if self.logprobs == Some(true) {
            return Err(bad("logprobs", "maia does not return log probabilities"));
        }
        if self.logit_bias.as_ref().is_some_and(|b| !b.is_empty()) {
            return Err(bad("logit_bias", "maia does not bias tokens"));
        }
        if self.tools.as_ref().is_some_and(|t| !t.is_empty()) {
            return Err(bad("tools", "maia does not call tools"));
        }
        let no_tool = |c: &Value| c.is_null() || c == "none" || c == "auto";
        if self.tool_choice.as_ref().is_some_and(|c| !no_tool(c)) {
            return Err(bad("tool_choice", "maia does not call tools"));
        }
        Ok(())
    }
}

impl WireMessage {
    fn turn(self, at: usize) -> Result<Turn, ValidationError> {
        let speaker = Speaker::parse(&self.role, at)?;
        if self.tool_calls.is_some_and(|calls| !calls.is_empty()) {
            return Err(bad(
                &format!("messages[{at}].tool_calls"),
                "maia does not call tools",
            ));
        }
        let content = match self.content {
            None => String::new(),
            Some(Content::Text(text)) => text,
            Some(Content::Parts(parts)) => text_of(parts, at)?,
        };
        Ok(Turn { speaker, content })
    }
}

/// The text parts, one after the other on lines of their own.
fn text_of(parts: Vec<Part>, at: usize) -> Result<String, ValidationError> {
    let texts = parts
        .into_iter()
        .map(|part| match (part.kind.as_str(), part.text) {
            ("text", Some(text)) => Ok(text),
            (kind, _) => Err(bad(
                &format!("messages[{at}].content"),
                &format!("only text parts are supported, not {kind:?}"),
            )),
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(texts.join("\n"))
}

fn bad(param: &str, message: &str) -> ValidationError {
    ValidationError::BadParameter {
        param: param.into(),
        message: message.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(body: Value) -> Result<(Completion, Delivery), ValidationError> {
        serde_json::from_value::<ChatCompletionBody>(body)
            .expect("a body of the right shape")
            .parse()
    }

    #[test]
    fn the_fields_clients_send_map_onto_the_completion() {
        let (completion, delivery) = parse(serde_json::json!({
            "model": "m",
            "messages": [
                {"role": "developer", "content": "be brief"},
                {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}
            ],
            "stream": true,
            "stream_options": {"include_usage": true},
            "stop": "END",
            "max_completion_tokens": 9,
            "n": 1,
            "user": "someone",
            "response_format": {"type": "text"},
            "tools": [],
            "tool_choice": "none"
        }))
        .unwrap();
        assert!(delivery.stream && delivery.include_usage);
        assert_eq!(completion.turns[0].speaker, Speaker::System);
        assert_eq!(completion.question.as_str(), "a\nb");
        assert_eq!(completion.sampling.stop, ["END"]);
        assert_eq!(completion.sampling.max_tokens, Some(9));
    }

    #[test]
    fn what_maia_would_not_do_is_refused_by_name() {
        let user = serde_json::json!([{"role": "user", "content": "hi"}]);
        for (field, value) in [
            ("n", serde_json::json!(2)),
            (
                "response_format",
                serde_json::json!({"type": "json_object"}),
            ),
            ("logprobs", serde_json::json!(true)),
            ("logit_bias", serde_json::json!({"50256": -100})),
            ("tools", serde_json::json!([{"type": "function"}])),
            ("tool_choice", serde_json::json!("required")),
        ] {
            let mut body = serde_json::json!({"model": "m", "messages": user});
            body[field] = value;
            let error = parse(body).unwrap_err();
            assert!(
                matches!(&error, ValidationError::BadParameter { param, .. } if param == field),
                "{field}: {error:?}"
            );
        }
        let image = serde_json::json!({"model": "m", "messages": [
            {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}
        ]});
        assert!(parse(image).unwrap_err().to_string().contains("image_url"));
    }
}
