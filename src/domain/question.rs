//! A question as asked, and its parts.

/// Longest query accepted, in bytes of UTF-8.
pub const MAX_QUERY_BYTES: usize = 16 * 1024;
/// Longest model name accepted.
const MAX_MODEL_NAME_BYTES: usize = 200;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValidationError {
    #[error("query must not be empty")]
    EmptyQuery,
    #[error("query is {0} bytes; the limit is {MAX_QUERY_BYTES} bytes (16 KiB)")]
    QueryTooLong(usize),
    #[error("query must not contain NUL characters (\\u0000)")]
    NulInQuery,
    #[error("unknown mode {0:?}; allowed values: \"fast\", \"deep\", \"council\"")]
    UnknownMode(String),
    #[error(
        "persona does not go with mode \"council\": a council asks the personas of \
         council.personas; leave persona out, or choose another mode"
    )]
    PersonaInCouncil,
    #[error("persona {0:?} is not a valid persona name (lowercase letters, digits, '-' and '_')")]
    BadPersonaName(String),
    /// A persona's display name, description or system prompt that cannot be one.
    #[error("persona is not valid: {0}")]
    BadPersona(String),
    #[error(
        "model {0:?} is not a valid model name: use letters, digits, '.', '_', '-', ':' and \
         '/', at most {MAX_MODEL_NAME_BYTES} characters, no part between slashes empty or \
         starting with '.', as in \"llama3.2:3b\" or \"namespace/model:tag\""
    )]
    BadModelName(String),
    #[error(
        "model {0:?} is not allowed here; the allowed models are {1} (ollama.model, \
         ollama.deep_model and ollama.allowed_models)"
    )]
    ModelNotAllowed(String, String),
    #[error(
        "token name {0:?} is not valid: use lowercase letters, digits, '.', '_' and '-', \
         at most 64, starting with a letter or digit"
    )]
    BadTokenName(String),
    #[error(
        "unknown scope in {0:?}; the scopes are \"query\", \"read\", \"admin\" and \"metrics\""
    )]
    UnknownScope(String),
    #[error("title is not valid: {0}")]
    BadTitle(String),
    #[error("nothing to change: send title, persona, model or mode (null clears it)")]
    NothingToChange,
    #[error("document is not valid: {0}")]
    BadDocument(String),
    #[error("k must be a whole number from 1 to 50, not {0:?}")]
    BadK(String),
    /// An answer's `knowledge` and `k` that do not go together.
    #[error("{0}")]
    BadSources(String),
    /// A request parameter out of its range (the OpenAI-compatible routes name it).
    #[error("{param}: {message}")]
    BadParameter { param: String, message: String },
}

/// Sources an answer draws on when `k` is not said, and the most it may ask for: each is
/// a chunk of up to 1200 characters in the prompt.
pub const DEFAULT_SOURCES: i64 = 5;
pub const MAX_SOURCES: i64 = 20;

/// An answer asked to draw on the owner's documents: the `k` chunks that best match the
/// question go into its prompt, and the answer cites them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Consult {
    pub k: i64,
}

impl Consult {
    /// From a request's `knowledge` and `k`: none unless `knowledge` is true; `k` from 1
    /// to [`MAX_SOURCES`], and only with it.
    pub fn parse(knowledge: Option<bool>, k: Option<i64>) -> Result<Option<Self>, ValidationError> {
        let bad = |why: String| Err(ValidationError::BadSources(why));
        match (knowledge, k) {
            (Some(true), None) => Ok(Some(Self { k: DEFAULT_SOURCES })),
            (Some(true), Some(k)) if (1..=MAX_SOURCES).contains(&k) => Ok(Some(Self { k })),
            (Some(true), Some(k)) => bad(format!(
                "k must be a whole number from 1 to {MAX_SOURCES}, not {k}"
            )),
            (_, Some(_)) => bad(
                "k is how many sources an answer draws on: send it with \"knowledge\": true".into(),
            ),
            (_, None) => Ok(None),
        }
    }
}

/// A question as asked: what, how (mode), as whom (persona), and with which model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Question {
    pub query: Query,
    pub mode: Mode,
    pub persona: Option<PersonaName>,
    pub model: Option<ModelName>,
    /// Whether the answer draws on the owner's documents, and on how many chunks.
    pub knowledge: Option<Consult>,
}

impl Question {
    /// Each part is checked; only `query` is required, `mode` defaults to fast. A council
    /// has its own personas: a question asked of one names none.
    pub fn parse(
        query: String,
        mode: Option<&str>,
        persona: Option<&str>,
        model: Option<&str>,
    ) -> Result<Self, ValidationError> {
        let mode = mode.map(Mode::parse).transpose()?.unwrap_or_default();
        if mode == Mode::Council && persona.is_some() {
            return Err(ValidationError::PersonaInCouncil);
        }
        Ok(Self {
            query: Query::parse(query)?,
            mode,
            persona: persona.map(PersonaName::parse).transpose()?,
            model: model.map(ModelName::parse).transpose()?,
            knowledge: None,
        })
    }
}

/// The user's question: not blank, at most 16 KiB.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query(String);

impl Query {
    pub fn parse(text: String) -> Result<Self, ValidationError> {
        if text.trim().is_empty() {
            return Err(ValidationError::EmptyQuery);
        }
        if text.len() > MAX_QUERY_BYTES {
            return Err(ValidationError::QueryTooLong(text.len()));
        }
        // PostgreSQL text cannot hold NUL: such a query could never be kept.
        if text.contains('\0') {
            return Err(ValidationError::NulInQuery);
        }
        Ok(Self(text))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// `fast` uses `ollama.model`; `deep` uses `ollama.deep_model` and asks it to reason step
/// by step; `council` asks the personas of `council.personas` with `ollama.model`, and the
/// `council.synthesizer` merges their answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, utoipa::ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum Mode {
    #[default]
    Fast,
    Deep,
    Council,
}

impl Mode {
    /// Any case, as persona names: `"Deep"` is `deep`.
    pub fn parse(text: &str) -> Result<Self, ValidationError> {
        match text.trim().to_ascii_lowercase().as_str() {
            "fast" => Ok(Mode::Fast),
            "deep" => Ok(Mode::Deep),
            "council" => Ok(Mode::Council),
            _ => Err(ValidationError::UnknownMode(text.to_string())),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Fast => "fast",
            Mode::Deep => "deep",
            Mode::Council => "council",
        }
    }
}

impl serde::Serialize for Mode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// A persona's key, as stored in `personas.name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonaName(String);

impl PersonaName {
    pub fn parse(text: &str) -> Result<Self, ValidationError> {
        let name = text.trim().to_ascii_lowercase();
        let ok = !name.is_empty()
            && name.len() <= 64
            && name.starts_with(|c: char| c.is_ascii_lowercase())
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
        if ok {
            Ok(Self(name))
        } else {
            Err(ValidationError::BadPersonaName(text.to_string()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An Ollama model reference such as `llama3.2:3b` or `library/qwen2.5:14b-instruct`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelName(String);

impl ModelName {
    pub fn parse(text: &str) -> Result<Self, ValidationError> {
        let ok = !text.is_empty()
            && text.len() <= MAX_MODEL_NAME_BYTES
            && text
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-:/".contains(c))
            // Namespaces such as `hf.co/user/model` are fine; path tricks such as `../x` are not.
            && text
                .split('/')
                .all(|part| !part.is_empty() && !part.starts_with('.'));
        if ok {
            Ok(Self(text.to_string()))
        } else {
            Err(ValidationError::BadModelName(text.to_string()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_consults_knowledge_only_when_asked_with_a_k_in_bounds() {
        assert_eq!(Consult::parse(None, None), Ok(None));
        assert_eq!(Consult::parse(Some(false), None), Ok(None));
        assert_eq!(
            Consult::parse(Some(true), None),
            Ok(Some(Consult { k: DEFAULT_SOURCES }))
        );
        assert_eq!(
            Consult::parse(Some(true), Some(20)),
            Ok(Some(Consult { k: 20 }))
        );
        for (knowledge, k) in [
            (Some(true), 0),
            (Some(true), 21),
            (None, 3),
            (Some(false), 3),
        ] {
            let err = Consult::parse(knowledge, Some(k)).unwrap_err().to_string();
            assert!(err.contains("k "), "{knowledge:?} {k}: {err}");
        }
    }

    #[test]
    fn blank_queries_are_rejected() {
        assert_eq!(
            Query::parse(" \n\t".into()),
            Err(ValidationError::EmptyQuery)
        );
        assert_eq!(
            Query::parse(String::new()),
            Err(ValidationError::EmptyQuery)
        );
    }

    #[test]
    fn a_query_of_exactly_16_kib_is_accepted_and_one_byte_more_is_not() {
        assert!(Query::parse("a".repeat(MAX_QUERY_BYTES)).is_ok());
        assert_eq!(
            Query::parse("a".repeat(MAX_QUERY_BYTES + 1)),
            Err(ValidationError::QueryTooLong(MAX_QUERY_BYTES + 1))
        );
    }

    #[test]
    fn unknown_modes_name_the_allowed_values() {
        let err = Mode::parse("turbo").unwrap_err().to_string();
        assert!(
            err.contains("\"fast\"") && err.contains("\"deep\"") && err.contains("\"council\""),
            "{err}"
        );
    }

    #[test]
    fn a_council_question_names_no_persona() {
        let asked = |persona| Question::parse("why?".into(), Some("council"), persona, None);
        assert_eq!(asked(None).map(|q| q.mode), Ok(Mode::Council));
        assert_eq!(asked(Some("coach")), Err(ValidationError::PersonaInCouncil));
    }

    #[test]
    fn modes_are_read_in_any_case() {
        assert_eq!(Mode::parse("Deep"), Ok(Mode::Deep));
        assert_eq!(Mode::parse("FAST"), Ok(Mode::Fast));
        assert_eq!(Mode::parse("deep").map(Mode::as_str), Ok("deep"));
        assert_eq!(Mode::parse("Council").map(Mode::as_str), Ok("council"));
    }

    #[test]
    fn persona_names_are_normalised_to_lowercase() {
        assert_eq!(PersonaName::parse("Socratic").unwrap().as_str(), "socratic");
        assert!(PersonaName::parse("'; DROP TABLE personas; --").is_err());
        assert!(PersonaName::parse("").is_err());
    }

    #[test]
    fn model_names_allow_tags_and_namespaces_only() {
        assert!(ModelName::parse("llama3.2:3b").is_ok());
        assert!(ModelName::parse("library/qwen2.5:14b-instruct").is_ok());
        assert!(ModelName::parse("a b").is_err());
        assert!(ModelName::parse("").is_err());
        assert!(ModelName::parse("../../etc").is_err());
        assert!(ModelName::parse("/abs").is_err());
        assert!(ModelName::parse("hf.co/user/model:q4").is_ok());
    }
}
