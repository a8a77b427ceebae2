//! An entry of `sovereignty.allow_hosts`: a host name, an address, or `*.domain` for every
//! name under a domain. Parsed when the configuration loads, so an entry that could never
//! match an endpoint (`db.lan:5432`, `http://db.lan`) is an error, not a silent no-op.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// The forms an entry may take, as errors list them.
const ACCEPTED: &str = "accepted forms: a host name (gpu-box.lan), an IP address \
    (10.1.2.3, fd00::1 or [fd00::1]), or *.domain for every name under a domain \
    (*.lan matches a.lan and b.c.lan, not lan itself); no port, scheme or path";

/// An allowed host as written (that is what `maia config` shows), and what it matches.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(try_from = "String", into = "String")]
pub struct AllowedHost {
    written: String,
    pattern: Pattern,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Pattern {
    /// A host name, lowercase, without a trailing dot.
    Name(String),
    Address(IpAddr),
    /// `*.lan`: `lan`, lowercase. Matches names with at least one label before it.
    Domain(String),
}

impl AllowedHost {
    /// Whether an endpoint's host (as a URL writes it: `[::1]` bracketed, any case, an
    /// optional trailing dot) is this entry.
    pub fn matches(&self, host: &str) -> bool {
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        match &self.pattern {
            Pattern::Address(ip) => bare.parse::<IpAddr>().is_ok_and(|h| h == *ip),
            Pattern::Name(name) => fully_qualified(bare).eq_ignore_ascii_case(name),
            Pattern::Domain(domain) => fully_qualified(bare)
                .to_ascii_lowercase()
                .strip_suffix(domain.as_str())
                .and_then(|rest| rest.strip_suffix('.'))
                .is_some_and(|labels| !labels.is_empty()),
        }
    }
}

impl TryFrom<String> for AllowedHost {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        let written = text.trim();
        let pattern = parse(written)
            .map_err(|why| format!("{written:?} is not a host: {why}; {ACCEPTED}"))?;
        Ok(Self {
            written: written.to_string(),
            pattern,
        })
    }
}

impl From<AllowedHost> for String {
    fn from(host: AllowedHost) -> String {
        host.written
    }
}

fn parse(entry: &str) -> Result<Pattern, &'static str> {
    let unbracketed = entry
        .strip_prefix('[')
        .and_then(|e| e.strip_suffix(']'))
        .unwrap_or(entry);
    if let Ok(ip) = unbracketed.parse::<IpAddr>() {
        return Ok(Pattern::Address(ip));
    }
    if entry.contains("://") {
        return Err("it is a URL");
    }
    if entry.contains(':') {
        return Err("it has a port, and endpoints match by host alone");
    }
    if let Some(domain) = entry.strip_prefix("*.") {
        if !is_host_name(domain) {
            return Err("what follows *. is not a domain name");
        }
        return Ok(Pattern::Domain(
            fully_qualified(domain).to_ascii_lowercase(),
        ));
    }
    if entry.contains('*') {
        return Err("a wildcard may only be the whole first label (*.lan)");
    }
    if !is_host_name(entry) {
        return Err("it has characters a host name cannot have");
    }
    Ok(Pattern::Name(fully_qualified(entry).to_ascii_lowercase()))
}

/// `gpu-box.lan.` and `gpu-box.lan` are the same name.
fn fully_qualified(name: &str) -> &str {
    name.strip_suffix('.').unwrap_or(name)
}

/// Letters, digits, `-` and `_` (compose service names have them) in dot-separated labels.
fn is_host_name(name: &str) -> bool {
    let name = fully_qualified(name);
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed(entry: &str) -> AllowedHost {
        AllowedHost::try_from(entry.to_string()).unwrap()
    }

    #[test]
    fn a_wildcard_matches_every_name_under_its_domain_but_not_the_domain_itself() {
        let lan = allowed("*.lan");
        for host in ["a.lan", "b.c.lan", "GPU-Box.LAN", "a.lan."] {
            assert!(lan.matches(host), "{host}");
        }
        for host in ["lan", "alan", "a.lan.example", "10.0.0.1", ".lan"] {
            assert!(!lan.matches(host), "{host}");
        }
    }

    #[test]
    fn names_and_addresses_match_exactly_ignoring_case_brackets_and_a_trailing_dot() {
        assert!(allowed("gpu-box.lan").matches("GPU-BOX.lan."));
        assert!(!allowed("gpu-box.lan").matches("a.gpu-box.lan"));
        assert!(allowed("fd00::1").matches("[fd00:0::1]"));
        assert!(allowed("[fd00::1]").matches("fd00::1"));
        assert!(allowed("8.8.8.8").matches("8.8.8.8"));
        assert!(!allowed("8.8.8.8").matches("8.8.4.4"));
        assert!(allowed("ollama").matches("ollama"));
    }

    #[test]
    fn entries_that_could_never_match_are_rejected_with_the_accepted_forms() {
        for entry in [
            "db.lan:5432",
            "[::1]:11434",
            "http://gpu-box.lan",
            "gpu-box.lan/api",
            "*",
            "*lan",
            "a.*.lan",
            "*.",
            "",
            "two words",
        ] {
            let err = AllowedHost::try_from(entry.to_string()).unwrap_err();
            assert!(
                err.contains(&format!("{entry:?}")) && err.contains("*.lan matches a.lan"),
                "{entry}: {err}"
            );
        }
        let port = AllowedHost::try_from("db.lan:5432".to_string()).unwrap_err();
        assert!(port.contains("it has a port"), "{port}");
    }

    #[test]
    fn an_entry_is_shown_as_written() {
        assert_eq!(String::from(allowed(" *.Lan ")), "*.Lan");
    }
}
