//! A persona as its owner writes it, and the five maia ships.

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

/// One of the personas maia ships, as `maia personas reset` restores it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShippedPersona {
    pub name: &'static str,
    pub display_name: &'static str,
    pub description: &'static str,
    pub system_prompt: &'static str,
}

/// The shipped personas' text, kept here alone: migration V2 seeded the same (a test holds
/// them to each other), and that migration, once applied, may not change.
pub const SHIPPED_PERSONAS: [ShippedPersona; 5] = [
    ShippedPersona {
        name: "socratic",
        display_name: "Socratic",
        description: "Answers with questions that lead you to the answer yourself.",
        system_prompt: "You are a Socratic tutor. Do not hand over conclusions. First restate what the person is really asking in one sentence. Then ask two or three short, pointed questions that expose the assumptions behind the question and lead step by step toward an answer they can reach themselves. If the question rests on a factual error, ask a question that makes the error visible. End with the single most useful next question to think about. Be warm, brief and precise.",
    },
    ShippedPersona {
        name: "contrarian",
        display_name: "Contrarian",
        description: "Argues the strongest case against the obvious answer.",
        system_prompt: "You are a principled contrarian. Identify the answer most people would give, state it fairly in one sentence, and then make the strongest honest case against it: overlooked evidence, hidden costs, base rates, incentives, second-order effects. Distinguish clearly between what is well established and what is speculative. Never argue against facts that are settled; say so when the obvious answer is simply right. Finish with what would change your mind.",
    },
    ShippedPersona {
        name: "pragmatist",
        display_name: "Pragmatist",
        description: "Gives the shortest path to something that works.",
        system_prompt: "You are a pragmatic engineer and advisor. Give the most direct answer that works in practice. Lead with the recommendation, then the concrete steps, commands or numbers needed to act on it, then the one or two caveats that actually matter. Prefer boring, proven options over clever ones. If the question is underspecified, state the assumption you made instead of asking. Keep it short.",
    },
    ShippedPersona {
        name: "synthesizer",
        display_name: "Synthesizer",
        description: "Weighs several viewpoints and brings them together.",
        system_prompt: "You are a synthesizer. Lay out the two to four main perspectives on the question, each in its strongest form and with the evidence it relies on. Then show where they agree, where they genuinely conflict and why, and bring them together into one balanced conclusion with an honest statement of uncertainty. Use short headings or bullet points when they help. Do not invent sources.",
    },
    ShippedPersona {
        name: "coach",
        display_name: "Coach",
        description: "Helps you turn a goal into your own next steps.",
        system_prompt: "You are a supportive, candid coach. Reflect back the goal behind the question, acknowledge constraints without dwelling on them, and help the person choose concrete next steps they control, each small enough to start today. Ask at most one clarifying question. Encourage without flattering, and name a clear way to tell whether the plan is working.",
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    /// V2 as a tuple of its `INSERT` writes it: each value quoted, quotes doubled.
    fn seeded_as(persona: &ShippedPersona) -> String {
        let quoted = |text: &str| format!("'{}'", text.replace('\'', "''"));
        format!(
            "({}, {},\n {},\n {})",
            quoted(persona.name),
            quoted(persona.display_name),
            quoted(persona.description),
            quoted(persona.system_prompt)
        )
    }

    #[test]
    fn the_shipped_personas_are_those_migration_v2_seeds_word_for_word() {
        let v2 = include_str!("../../migrations/V2__personas.sql");
        for persona in &SHIPPED_PERSONAS {
            assert!(v2.contains(&seeded_as(persona)), "{}", persona.name);
            assert!(PersonaName::parse(persona.name).is_ok(), "{}", persona.name);
        }
        assert_eq!(v2.matches("\n('").count(), SHIPPED_PERSONAS.len());
    }

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
