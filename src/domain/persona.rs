//! A persona as its owner writes it.

use super::question::{PersonaName, ValidationError};

/// The longest display name, in characters. (The OpenAPI schema of the bodies in
/// `http::routes::personas` names these limits too.)
const MAX_DISPLAY_NAME_CHARS: usize = 100;
/// The longest description, in characters.
const MAX_DESCRIPTION_CHARS: usize = 500;
/// The longest system prompt, in characters: it goes before every question asked with it.
const MAX_SYSTEM_PROMPT_CHARS: usize = 8000;

/// A new persona: its name, checked as a question's persona is, and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPersona {
    pub name: PersonaName,
    pub text: PersonaText,
}

impl NewPersona {
    pub fn parse(
        name: &str,
        display_name: &str,
        description: &str,
        system_prompt: &str,
    ) -> Result<Self, ValidationError> {
        Ok(Self {
            name: PersonaName::parse(name)?,
            text: PersonaText::parse(display_name, description, system_prompt)?,
        })
    }
}

/// What a persona shows (its display name, one line, and its description) and what it asks
/// of the model (its system prompt). Surrounding whitespace is dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonaText {
    pub display_name: String,
    pub description: String,
    pub system_prompt: String,
}

impl PersonaText {
    pub fn parse(
        display_name: &str,
        description: &str,
        system_prompt: &str,
    ) -> Result<Self, ValidationError> {
        let display_name = field("display_name", display_name, MAX_DISPLAY_NAME_CHARS, true)?;
        if display_name.chars().any(char::is_control) {
            return Err(ValidationError::BadPersona(
                "display_name must be one line, without control characters".into(),
            ));
        }
        Ok(Self {
            display_name,
            description: field("description", description, MAX_DESCRIPTION_CHARS, false)?,
            system_prompt: field(
                "system_prompt",
                system_prompt,
                MAX_SYSTEM_PROMPT_CHARS,
                true,
            )?,
        })
    }
}

/// `text` trimmed, if it is within `limit` characters, has no NUL (PostgreSQL text cannot
/// hold one) and, when `required`, is not blank.
fn field(what: &str, text: &str, limit: usize, required: bool) -> Result<String, ValidationError> {
    let text = text.trim();
    let chars = text.chars().count();
    let problem = if required && text.is_empty() {
        format!("{what} must not be blank")
    } else if chars > limit {
        format!("{what} has {chars} characters; the limit is {limit}")
    } else if text.contains('\0') {
        format!("{what} must not contain NUL characters (\\u0000)")
    } else {
        return Ok(text.to_string());
    };
    Err(ValidationError::BadPersona(problem))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_persona_text_is_trimmed_and_each_field_bounded() {
        let text = PersonaText::parse(" Tutor ", "", "  Be brief.\n").unwrap();
        assert_eq!(
            (text.display_name.as_str(), text.description.as_str()),
            ("Tutor", "")
        );
        assert_eq!(text.system_prompt, "Be brief.");
        let long = |n: usize| "é".repeat(n);
        assert!(PersonaText::parse(&long(MAX_DISPLAY_NAME_CHARS), "", "p").is_ok());
        assert!(PersonaText::parse("d", &long(MAX_DESCRIPTION_CHARS), "p").is_ok());
        assert!(PersonaText::parse("d", "", &long(MAX_SYSTEM_PROMPT_CHARS)).is_ok());
        for (display_name, description, system_prompt, problem) in [
            (" ", "", "p", "display_name must not be blank"),
            ("d", "", "\t", "system_prompt must not be blank"),
            ("two\nlines", "", "p", "display_name must be one line"),
            ("d", "a\0b", "p", "description must not contain NUL"),
            (
                &long(MAX_DISPLAY_NAME_CHARS + 1),
                "",
                "p",
                "display_name has 101 characters",
            ),
            (
                "d",
                &long(MAX_DESCRIPTION_CHARS + 1),
                "p",
                "description has 501 characters",
            ),
            (
                "d",
                "",
                &long(MAX_SYSTEM_PROMPT_CHARS + 1),
                "system_prompt has 8001 characters",
            ),
        ] {
            let error = PersonaText::parse(display_name, description, system_prompt)
                .unwrap_err()
                .to_string();
            assert!(error.contains(problem), "{error}");
        }
    }

    #[test]
    fn a_new_personas_name_is_checked_as_a_questions_persona_is() {
        let new = NewPersona::parse(" Tutor-2 ", "Tutor", "", "Be brief.").unwrap();
        assert_eq!(new.name, PersonaName::parse("tutor-2").unwrap());
        for bad in ["", "2tutor", "tu tor", "tütor", &"a".repeat(65)] {
            assert_eq!(
                NewPersona::parse(bad, "Tutor", "", "Be brief."),
                Err(ValidationError::BadPersonaName(bad.to_string()))
            );
        }
    }
}
