//! Council mode: the personas of `council.personas` answer the same question in parallel,
//! each an ordinary call to the model (through the slot gate, with its deadlines), and the
//! `council.synthesizer` merges their answers into the one that is streamed and kept. A
//! voice that fails leaves the others standing: the synthesis is told which are missing.
//! Only when every voice fails does the question fail, as any failed call does.

use std::future::Future;

use futures_util::stream::{FuturesUnordered, StreamExt};

use super::error::ServiceError;
use super::services::Services;
use crate::llm::chat::{Message, Role};
use crate::llm::{Answer, LlmError};
use crate::store::{self, CouncilVoice, NewTrace};

/// The error code of a voice whose persona does not exist (any more).
const PERSONA_NOT_FOUND: &str = "persona_not_found";

/// What a council is asked with, and, once heard, what each voice said.
#[derive(Debug, Clone)]
pub struct Council {
    /// Each persona, in the order of `council.personas`, with its system prompt (none when
    /// no such persona exists: that voice fails).
    voices: Vec<(String, Option<String>)>,
    synthesizer_prompt: String,
    /// What each voice said, once the council was heard (or stopped).
    heard: Vec<CouncilVoice>,
}

impl Council {
    /// The voices heard so far, as the trace keeps them.
    pub(super) fn heard(&self) -> &[CouncilVoice] {
        &self.heard
    }

    /// Whether no voice answered.
    pub(super) fn unanswered(&self) -> bool {
        self.heard.iter().all(|voice| voice.answer.is_none())
    }

    /// The voices the council stopped before they answered get `code`.
    pub(super) fn cut_off(&mut self, code: &str) {
        for voice in &mut self.heard {
            if voice.answer.is_none() && voice.error_code.is_none() {
                voice.error_code = Some(code.to_string());
            }
        }
    }
}

/// A voice's call, as it ended: the answer, or the error (none: the persona is missing).
type Heard = Result<Answer, Option<LlmError>>;

/// How a council's hearing ended.
pub(super) struct Hearing<T> {
    /// What stopped it early, if anything did.
    pub stopped: Option<T>,
    /// The first failed call's error, in the council's order.
    pub failure: Option<LlmError>,
}

impl Services {
    /// The council's personas and the synthesizer's prompt, as the database has them now.
    /// A missing persona is a voice that will fail; a missing synthesizer is an unknown
    /// persona, as a question naming it would be.
    pub(super) async fn council(&self) -> Result<Council, ServiceError> {
        let work = async { store::list_personas(&**self.db.conn().await?).await };
        let personas = self.db.bounded(work).await?;
        let prompt_of = |name: &str| {
            personas
                .iter()
                .find(|p| p.name == name)
                .map(|p| p.system_prompt.clone())
        };
        let synthesizer = &self.council_synthesizer;
        let Some(synthesizer_prompt) = prompt_of(synthesizer) else {
            return Err(ServiceError::UnknownPersona {
                name: synthesizer.clone(),
                known: personas
                    .iter()
                    .map(|p| format!("{:?}", p.name))
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        };
        let voices = self
            .council_personas
            .iter()
            .map(|name| (name.clone(), prompt_of(name)))
            .collect();
        Ok(Council {
            voices,
            synthesizer_prompt,
            heard: Vec::new(),
        })
    }

    /// Every voice asked at once with `messages` after its persona's prompt, until all
    /// have answered or `stop` resolves first; what each said goes into `council` (a voice
    /// still speaking when stopped has neither answer nor code: see [`Council::cut_off`]).
    pub(super) async fn hear<T>(
        &self,
        model: &str,
        council: &mut Council,
        messages: &[Message],
        stop: impl Future<Output = T>,
    ) -> Hearing<T> {
        let mut calls: FuturesUnordered<_> = council
            .voices
            .iter()
            .enumerate()
            .map(|(at, (_, prompt))| async move { (at, self.voice(model, prompt, messages).await) })
            .collect();
        let mut heard: Vec<Option<Heard>> = council.voices.iter().map(|_| None).collect();
        tokio::pin!(stop);
        let stopped = loop {
            tokio::select! {
                biased;
                stopped = &mut stop => break Some(stopped),
                call = calls.next() => match call {
                    Some((at, result)) => heard[at] = Some(result),
                    None => break None,
                },
            }
        };
        drop(calls);
        let voices = council.voices.iter().zip(&heard);
        council.heard = voices
            .map(|((persona, _), result)| voice_kept(persona, model, result.as_ref()))
            .collect();
        let failure = heard
            .into_iter()
            .flatten()
            .find_map(|result| result.err().flatten());
        Hearing { stopped, failure }
    }

    /// One voice's call: a slot, then the model's whole answer.
    async fn voice(&self, model: &str, prompt: &Option<String>, messages: &[Message]) -> Heard {
        let prompt = prompt.as_ref().ok_or(None)?;
        let mut chat = Vec::with_capacity(messages.len() + 1);
        chat.push(Message::new(Role::System, prompt.as_str()));
        chat.extend_from_slice(messages);
        let _slot = self.gate.enter().await.map_err(Some)?;
        self.llm.chat(model, &chat).await.map_err(Some)
    }
}

/// A voice as the trace keeps it: its answer, or the code of what stopped it (none yet
/// when the council stopped before it had answered).
fn voice_kept(persona: &str, model: &str, result: Option<&Heard>) -> CouncilVoice {
    let mut voice = CouncilVoice {
        persona: persona.to_string(),
        model: model.to_string(),
        answer: None,
        error_code: None,
        prompt_tokens: None,
        completion_tokens: None,
    };
    match result {
        Some(Ok(answer)) => {
            // PostgreSQL text cannot hold NUL, even inside JSON.
            voice.answer = Some(answer.content.replace('\0', "\u{fffd}"));
            voice.prompt_tokens = answer.prompt_tokens;
            voice.completion_tokens = answer.completion_tokens;
        }
        Some(Err(Some(error))) => {
            tracing::warn!(persona, model, error = %error, "a voice of the council failed; the others go on");
            voice.error_code = Some(error.code().to_string());
        }
        Some(Err(None)) => {
            tracing::warn!(
                persona,
                "a persona of council.personas does not exist; its voice is missing"
            );
            voice.error_code = Some(PERSONA_NOT_FOUND.to_string());
        }
        None => {}
    }
    voice
}

/// What the synthesizer is asked: its prompt, the same earlier messages (and sources) as
/// the voices, and, in place of the question, the question with each voice's answer
/// labelled by persona and the missing voices named.
pub(super) fn synthesis_chat(
    council: &Council,
    messages: &[Message],
    question: &str,
) -> Vec<Message> {
    let mut request = format!(
        "The question:\n{question}\n\nSeveral personas answered it. Merge their answers \
         into one answer to the question: keep what is sound in each, say where they \
         disagree, and add nothing that none of them said."
    );
    let mut missing = Vec::new();
    for voice in &council.heard {
        match (&voice.answer, &voice.error_code) {
            (Some(answer), _) => {
                request.push_str(&format!("\n\nThe answer of {}:\n{answer}", voice.persona))
            }
            (None, code) => missing.push(format!(
                "{} ({})",
                voice.persona,
                code.as_deref().unwrap_or("no answer")
            )),
        }
    }
    if !missing.is_empty() {
        request.push_str(&format!(
            "\n\nMissing voices: {}. These personas failed and gave no answer; say in your \
             answer that their voices are missing.",
            missing.join(", ")
        ));
    }
    let earlier = messages.len().saturating_sub(1);
    let mut chat = Vec::with_capacity(messages.len() + 1);
    chat.push(Message::new(
        Role::System,
        council.synthesizer_prompt.as_str(),
    ));
    chat.extend_from_slice(&messages[..earlier]);
    chat.push(Message::new(Role::User, request));
    chat
}

/// A council's trace: its voices kept, and its token counts those of every call (each
/// voice's and the synthesis's) together.
pub(super) fn with_council<'a>(trace: NewTrace<'a>, council: &'a Council) -> NewTrace<'a> {
    let voices = council.heard();
    let sum = |of: fn(&CouncilVoice) -> Option<i32>, synthesis: Option<i32>| {
        voices
            .iter()
            .filter_map(of)
            .chain(synthesis)
            .reduce(i32::saturating_add)
    };
    NewTrace {
        council: Some(voices),
        prompt_tokens: sum(|v| v.prompt_tokens, trace.prompt_tokens),
        completion_tokens: sum(|v| v.completion_tokens, trace.completion_tokens),
        ..trace
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Mode;
    use crate::service::asked::Asked;

    fn voice(persona: &str, answer: Option<&str>, tokens: Option<i32>) -> CouncilVoice {
        CouncilVoice {
            persona: persona.into(),
            model: "m".into(),
            answer: answer.map(String::from),
            error_code: answer.is_none().then(|| "llm_timeout".into()),
            prompt_tokens: tokens,
            completion_tokens: tokens,
        }
    }

    fn heard(voices: Vec<CouncilVoice>) -> Council {
        Council {
            voices: Vec::new(),
            synthesizer_prompt: "Merge.".into(),
            heard: voices,
        }
    }

    #[test]
    fn the_synthesizer_reads_the_history_then_each_answer_by_persona_and_the_missing_voices() {
        let council = heard(vec![
            voice("socratic", Some("Ask why."), None),
            voice("contrarian", None, None),
        ]);
        let messages = [
            Message::new(Role::User, "Earlier?"),
            Message::new(Role::Assistant, "Earlier."),
            Message::new(Role::User, "Now?"),
        ];

        let chat = synthesis_chat(&council, &messages, "Now?");

        let texts: Vec<&str> = chat.iter().map(|m| m.content.as_str()).collect();
        assert_eq!(&texts[..3], ["Merge.", "Earlier?", "Earlier."]);
        assert_eq!((chat[0].role, chat[3].role), (Role::System, Role::User));
        let request = texts[3];
        assert!(request.starts_with("The question:\nNow?"), "{request}");
        assert!(
            request.contains("The answer of socratic:\nAsk why."),
            "{request}"
        );
        assert!(
            request.contains("Missing voices: contrarian (llm_timeout)."),
            "{request}"
        );
    }

    #[test]
    fn a_stopped_council_marks_only_the_voices_that_had_not_answered() {
        let mut council = heard(vec![
            voice("socratic", Some("Ask why."), None),
            voice("contrarian", None, None),
        ]);
        council.heard[1].error_code = None;

        council.cut_off("client_closed_request");

        let codes: Vec<_> = council
            .heard
            .iter()
            .map(|v| v.error_code.as_deref())
            .collect();
        assert_eq!(codes, [None, Some("client_closed_request")]);
        assert!(!council.unanswered());
    }

    #[test]
    fn a_councils_trace_counts_the_tokens_of_every_call() {
        let council = heard(vec![
            voice("socratic", Some("a"), Some(10)),
            voice("contrarian", None, None),
            voice("pragmatist", Some("b"), Some(5)),
        ]);
        let asked = Asked {
            query: "q".into(),
            mode: Mode::Council,
            persona: None,
            model: "m".into(),
            token_id: None,
            message_id: None,
        };
        let synthesis = NewTrace {
            prompt_tokens: Some(100),
            completion_tokens: None,
            ..asked.trace(uuid::Uuid::nil(), 1)
        };

        let trace = with_council(synthesis, &council);

        assert_eq!(trace.prompt_tokens, Some(115));
        assert_eq!(
            trace.completion_tokens,
            Some(15),
            "the synthesis's unknown count"
        );
        assert_eq!(trace.council.map(<[CouncilVoice]>::len), Some(3));
    }
}
