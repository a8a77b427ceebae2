//! `log.level`: an env-filter directive, checked when the configuration loads.
//!
//! To env-filter a bare word that is not a level names a *target* to log at every level, so
//! `warning` (or any misspelt level) silently switched off every line but that target's:
//! here a bare word must be a level, and `warning` means `warn`. A target at every level is
//! written `target=trace`.

use std::str::FromStr;

use serde::{Deserialize, Serialize};
use tracing_subscriber::filter::{Directive, LevelFilter};

const ACCEPTED: &str = "use trace, debug, info, warn (or warning), error or off, or \
    comma-separated per-target directives such as info,maia=debug,actix_web=warn";

/// A directive env-filter accepts, with every level spelt as it spells it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(try_from = "String", into = "String")]
pub struct LogLevel(String);

impl LogLevel {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for LogLevel {
    fn default() -> Self {
        Self("info".into())
    }
}

impl TryFrom<String> for LogLevel {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        let directives = text
            .split(',')
            .map(str::trim)
            .filter(|d| !d.is_empty())
            .map(directive)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|why| format!("{text:?} is not a log level: {why}; {ACCEPTED}"))?;
        if directives.is_empty() {
            return Err(format!("must not be empty; {ACCEPTED}"));
        }
        Ok(Self(directives.join(",")))
    }
}

impl From<LogLevel> for String {
    fn from(level: LogLevel) -> String {
        level.0
    }
}

/// One directive (`warn`, `maia=debug`, `maia[request]=trace`), its level spelt as
/// env-filter spells it.
fn directive(text: &str) -> Result<String, String> {
    let normalised = match text.rsplit_once('=') {
        Some((selector, level)) => format!("{selector}={}", level_name(level)?),
        // A span filter (`[request]`) is not a bare word: it is the selector alone.
        None if text.starts_with('[') => text.to_string(),
        None => level_name(text)
            .map_err(|_| format!("{text:?} is neither a level nor target=level"))?
            .to_string(),
    };
    Directive::from_str(&normalised).map_err(|e| format!("{text:?}: {e}"))?;
    Ok(normalised)
}

fn level_name(text: &str) -> Result<&str, String> {
    let text = text.trim();
    if text.eq_ignore_ascii_case("warning") {
        return Ok("warn");
    }
    match LevelFilter::from_str(text) {
        Ok(_) if !text.is_empty() => Ok(text),
        _ => Err(format!("{text:?} is not a level")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn level(text: &str) -> Result<String, String> {
        LogLevel::try_from(text.to_string()).map(String::from)
    }

    #[test]
    fn levels_and_directives_that_work_today_keep_working() {
        for text in [
            "info",
            "DEBUG",
            "trace",
            "off",
            "maia=debug,actix_web=info",
            "info,tokio_postgres=debug",
            "maia[request]=trace",
        ] {
            assert_eq!(level(text).as_deref(), Ok(text), "{text}");
        }
    }

    #[test]
    fn warning_means_warn_wherever_a_level_goes() {
        assert_eq!(level("warning").as_deref(), Ok("warn"));
        assert_eq!(level("Warning").as_deref(), Ok("warn"));
        assert_eq!(level("info,maia=warning").as_deref(), Ok("info,maia=warn"));
    }

    #[test]
    fn anything_else_is_refused_naming_the_accepted_levels() {
        for text in [
            "verbose",
            "maia=loud",
            "",
            " , ",
            "info,=debug",
            "maia=",
            "maia",
        ] {
            let err = level(text).unwrap_err();
            assert!(
                err.contains("trace, debug, info, warn (or warning), error or off"),
                "{text}: {err}"
            );
        }
    }
}
