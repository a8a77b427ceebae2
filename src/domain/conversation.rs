//! A conversation as asked for: its title, persona, model and mode, and what a change may
//! set.

use super::question::{Mode, ModelName, PersonaName, Query, ValidationError};

/// The longest title, in characters (as the database checks).
pub const MAX_TITLE_CHARS: usize = 200;
/// A title made from a first question keeps this many characters of it.
const TITLE_FROM_QUESTION_CHARS: usize = 60;

/// A conversation's title: one line, not blank, at most 200 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Title(String);

impl Title {
    /// Surrounding whitespace is dropped; a line break or a NUL is refused.
    pub fn parse(text: &str) -> Result<Self, ValidationError> {
        let title = text.trim();
        if title.is_empty() {
            return Err(ValidationError::BadTitle("it must not be blank".into()));
        }
        if title.chars().count() > MAX_TITLE_CHARS {
            return Err(ValidationError::BadTitle(format!(
                "it has {} characters; the limit is {MAX_TITLE_CHARS}",
                title.chars().count()
            )));
        }
        if title.chars().any(char::is_control) {
            return Err(ValidationError::BadTitle(
                "it must be one line, without control characters".into(),
            ));
        }
        Ok(Self(title.to_string()))
    }

    /// The title an untitled conversation gets from its first question: its words on one
    /// line, cut at a word boundary, with an ellipsis when cut. No model call is needed.
    /// None when nothing printable is left (a question of control characters): the next
    /// question may give one.
    pub fn from_question(question: &Query) -> Option<Self> {
        let printable: String = question
            .as_str()
            .chars()
            .filter(|c| !c.is_control() || c.is_whitespace())
            .collect();
        let line = printable.split_whitespace().collect::<Vec<_>>().join(" ");
        if line.is_empty() {
            return None;
        }
        if line.chars().count() <= TITLE_FROM_QUESTION_CHARS {
            return Some(Self(line));
        }
        let cut: String = line.chars().take(TITLE_FROM_QUESTION_CHARS).collect();
        let cut = match cut.rfind(' ') {
            Some(space) if space > TITLE_FROM_QUESTION_CHARS / 2 => &cut[..space],
            _ => cut.as_str(),
        };
        Some(Self(format!("{}…", cut.trim_end())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A new conversation: each part optional, the mode fast unless said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewConversation {
    pub title: Option<Title>,
    pub persona: Option<PersonaName>,
    pub model: Option<ModelName>,
    pub mode: Mode,
}

impl NewConversation {
    pub fn parse(
        title: Option<&str>,
        persona: Option<&str>,
        model: Option<&str>,
        mode: Option<&str>,
    ) -> Result<Self, ValidationError> {
        Ok(Self {
            title: title.map(Title::parse).transpose()?,
            persona: persona.map(PersonaName::parse).transpose()?,
            model: model.map(ModelName::parse).transpose()?,
            mode: mode.map(Mode::parse).transpose()?.unwrap_or_default(),
        })
    }
}

/// What a `PATCH` changes: for each field, `None` leaves it, `Some(None)` clears it,
/// `Some(Some(v))` sets it. At least one field must be there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationChange {
    pub title: Option<Option<Title>>,
    pub persona: Option<Option<PersonaName>>,
    pub model: Option<Option<ModelName>>,
    /// A mode cleared is the default one (fast).
    pub mode: Option<Mode>,
}

/// A `PATCH`'s fields as sent: absent (`None`), `null` (`Some(None)`) or a value.
#[derive(Debug, Clone, Copy, Default)]
pub struct ChangeFields<'a> {
    pub title: Option<Option<&'a str>>,
    pub persona: Option<Option<&'a str>>,
    pub model: Option<Option<&'a str>>,
    pub mode: Option<Option<&'a str>>,
}

/// A field's value parsed, kept absent or `null` as it was.
fn parse_field<T>(
    field: Option<Option<&str>>,
    parse: impl Fn(&str) -> Result<T, ValidationError>,
) -> Result<Option<Option<T>>, ValidationError> {
    field.map(|f| f.map(parse).transpose()).transpose()
}

impl ConversationChange {
    pub fn parse(fields: ChangeFields<'_>) -> Result<Self, ValidationError> {
        let ChangeFields {
            title,
            persona,
            model,
            mode,
        } = fields;
        if title.is_none() && persona.is_none() && model.is_none() && mode.is_none() {
            return Err(ValidationError::NothingToChange);
        }
        Ok(Self {
            title: parse_field(title, Title::parse)?,
            persona: parse_field(persona, PersonaName::parse)?,
            model: parse_field(model, ModelName::parse)?,
            mode: parse_field(mode, Mode::parse)?.map(Option::unwrap_or_default),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(text: &str) -> Query {
        Query::parse(text.to_string()).unwrap()
    }

    #[test]
    fn a_short_question_is_its_own_title_on_one_line() {
        let title = Title::from_question(&query("  What is\n sovereignty?  ")).unwrap();
        assert_eq!(title.as_str(), "What is sovereignty?");
    }

    /// Schemathesis found it: a first question of `\u{1}` made an empty title, which the
    /// database refused (a 500).
    #[test]
    fn a_question_without_printable_characters_gives_no_title() {
        assert_eq!(Title::from_question(&query("\u{1}")), None);
        assert_eq!(Title::from_question(&query("\u{1} \u{7f}\t")), None);
        let title = Title::from_question(&query("a\u{1}b c")).unwrap();
        assert_eq!(title.as_str(), "ab c");
    }

    #[test]
    fn a_long_question_is_cut_at_a_word_with_an_ellipsis() {
        let long = "How should I plan the migration of a large PostgreSQL cluster to new \
                    hardware without downtime?";
        let title = Title::from_question(&query(long)).unwrap();
        assert!(title.as_str().ends_with('…'), "{}", title.as_str());
        assert!(title.as_str().chars().count() <= TITLE_FROM_QUESTION_CHARS + 1);
        let kept = title.as_str().trim_end_matches('…');
        assert!(long.starts_with(kept) && !kept.ends_with(' '), "{kept}");
        assert!(
            Title::parse(title.as_str()).is_ok(),
            "a made title is a valid one"
        );
    }

    #[test]
    fn a_long_word_is_cut_inside_it_and_multibyte_text_stays_whole() {
        let title = Title::from_question(&query(&"日本語".repeat(40))).unwrap();
        assert_eq!(
            title.as_str().chars().count(),
            TITLE_FROM_QUESTION_CHARS + 1
        );
    }

    #[test]
    fn titles_are_one_line_not_blank_and_at_most_200_characters() {
        assert_eq!(Title::parse("  Plans ").unwrap().as_str(), "Plans");
        assert!(Title::parse(" ").is_err());
        assert!(Title::parse("two\nlines").is_err());
        assert!(Title::parse("nul\0").is_err());
        assert!(Title::parse(&"é".repeat(MAX_TITLE_CHARS)).is_ok());
        let err = Title::parse(&"é".repeat(MAX_TITLE_CHARS + 1)).unwrap_err();
        assert!(err.to_string().contains("201 characters"), "{err}");
    }

    #[test]
    fn a_change_must_change_something_and_may_clear_a_field() {
        assert_eq!(
            ConversationChange::parse(ChangeFields::default()),
            Err(ValidationError::NothingToChange)
        );
        let change = ConversationChange::parse(ChangeFields {
            title: Some(None),
            persona: Some(Some("Coach")),
            ..ChangeFields::default()
        })
        .unwrap();
        assert_eq!(change.title, Some(None));
        assert_eq!(change.persona.unwrap().unwrap().as_str(), "coach");
        assert_eq!((change.model, change.mode), (None, None));
        let title = |t| ChangeFields {
            title: Some(Some(t)),
            ..ChangeFields::default()
        };
        assert!(ConversationChange::parse(title("")).is_err());
    }

    #[test]
    fn a_change_may_set_the_model_and_mode_and_a_cleared_mode_is_fast() {
        let change = ConversationChange::parse(ChangeFields {
            model: Some(Some("llama3.2:3b")),
            mode: Some(Some("DEEP")),
            ..ChangeFields::default()
        })
        .unwrap();
        assert_eq!(change.model.unwrap().unwrap().as_str(), "llama3.2:3b");
        assert_eq!(change.mode, Some(Mode::Deep));
        let cleared = ConversationChange::parse(ChangeFields {
            model: Some(None),
            mode: Some(None),
            ..ChangeFields::default()
        })
        .unwrap();
        assert_eq!(
            (cleared.model, cleared.mode),
            (Some(None), Some(Mode::Fast))
        );
        let bad = |fields| ConversationChange::parse(fields).unwrap_err();
        assert!(matches!(
            bad(ChangeFields {
                mode: Some(Some("slow")),
                ..ChangeFields::default()
            }),
            ValidationError::UnknownMode(_)
        ));
        assert!(matches!(
            bad(ChangeFields {
                model: Some(Some("../x")),
                ..ChangeFields::default()
            }),
            ValidationError::BadModelName(_)
        ));
    }
}
