//! Access: tokens, their hashes, names and scopes.
//!
//! A token is 256 random bits, written `maia_` + 43 characters of unpadded base64url. It is
//! shown once; only its SHA-256 is kept (right for random secrets: there is nothing to
//! guess, so no slow hash is needed), and hashes are compared in constant time.

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::digest::{digest, SHA256};
use ring::rand::{SecureRandom, SystemRandom};
use subtle::ConstantTimeEq;

use super::question::ValidationError;

/// What every token starts with, so a leaked one is recognisable (secret scanners).
pub const TOKEN_PREFIX: &str = "maia_";
/// 256 bits in unpadded base64url.
const ENCODED_LEN: usize = 43;

/// A random secret: a bearer token (with its prefix) or a session id (without).
#[derive(Clone, PartialEq, Eq)]
pub struct TokenSecret(String);

/// The SHA-256 of a secret: what the database keeps.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct TokenHash([u8; 32]);

impl TokenSecret {
    /// A new token: `maia_` and 256 random bits.
    pub fn generate() -> Self {
        Self(format!("{TOKEN_PREFIX}{}", random_256()))
    }

    /// A new session id: 256 random bits, no prefix.
    pub fn generate_session() -> Self {
        Self(random_256())
    }

    /// A token as a client sent it; only its shape is checked here.
    pub fn parse_token(text: &str) -> Option<Self> {
        let body = text.strip_prefix(TOKEN_PREFIX)?;
        well_formed(body).then(|| Self(text.to_string()))
    }

    /// A session id as a browser sent it.
    pub fn parse_session(text: &str) -> Option<Self> {
        well_formed(text).then(|| Self(text.to_string()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn hash(&self) -> TokenHash {
        let mut out = [0u8; 32];
        out.copy_from_slice(digest(&SHA256, self.0.as_bytes()).as_ref());
        TokenHash(out)
    }
}

impl fmt::Debug for TokenSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl TokenHash {
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        bytes.try_into().ok().map(Self)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Equality that takes the same time wherever the two differ.
    pub fn matches(&self, other: &TokenHash) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenHash(..)")
    }
}

fn well_formed(body: &str) -> bool {
    body.len() == ENCODED_LEN
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn random_256() -> String {
    let mut bytes = [0u8; 32];
    SystemRandom::new()
        .fill(&mut bytes)
        .expect("the operating system's random source is readable");
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A token's name: lowercase letters, digits, `.`, `_` and `-`, at most 64, starting with a
/// letter or digit (as the database checks).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenName(String);

impl TokenName {
    pub fn parse(text: &str) -> Result<Self, ValidationError> {
        let ok = !text.is_empty()
            && text.len() <= 64
            && text.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
            && text
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c));
        if ok {
            Ok(Self(text.to_string()))
        } else {
            Err(ValidationError::BadTokenName(text.to_string()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scope {
    /// Ask, and use conversations.
    Query,
    /// Read the history and the personas.
    Read,
    /// Tokens, personas, deletion, export.
    Admin,
    /// `GET /metrics` and nothing else: a scraper's token. No other scope implies it, and
    /// it implies no other (admin included: a leaked scraper token reads no data, and the
    /// owner's token gains no endpoint it was not given).
    Metrics,
}

impl Scope {
    pub const ALL: [Scope; 4] = [Scope::Query, Scope::Read, Scope::Admin, Scope::Metrics];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Query => "query",
            Scope::Read => "read",
            Scope::Admin => "admin",
            Scope::Metrics => "metrics",
        }
    }

    pub fn parse(text: &str) -> Result<Self, ValidationError> {
        Scope::ALL
            .into_iter()
            .find(|s| s.as_str() == text.trim())
            .ok_or_else(|| ValidationError::UnknownScope(text.to_string()))
    }
}

/// A set of scopes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Scopes(u8);

impl Scopes {
    pub fn all() -> Self {
        Scope::ALL.into_iter().collect()
    }

    pub fn contains(self, scope: Scope) -> bool {
        self.0 & (1 << scope as u8) != 0
    }

    pub fn iter(self) -> impl Iterator<Item = Scope> {
        Scope::ALL.into_iter().filter(move |s| self.contains(*s))
    }

    /// `query,read` → those two; at least one.
    pub fn parse_list(text: &str) -> Result<Self, ValidationError> {
        let scopes = text
            .split(',')
            .filter(|s| !s.trim().is_empty())
            .map(Scope::parse)
            .collect::<Result<Scopes, _>>()?;
        if scopes == Scopes::default() {
            return Err(ValidationError::UnknownScope(text.to_string()));
        }
        Ok(scopes)
    }

    pub fn names(self) -> Vec<String> {
        self.iter().map(|s| s.as_str().to_string()).collect()
    }
}

impl FromIterator<Scope> for Scopes {
    fn from_iter<I: IntoIterator<Item = Scope>>(iter: I) -> Self {
        Scopes(iter.into_iter().fold(0, |bits, s| bits | (1 << s as u8)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_the_prefix_and_256_random_bits_and_parses_back() {
        let a = TokenSecret::generate();
        let b = TokenSecret::generate();
        assert_ne!(a, b);
        assert!(a.expose().starts_with(TOKEN_PREFIX));
        assert_eq!(a.expose().len(), TOKEN_PREFIX.len() + ENCODED_LEN);
        assert_eq!(TokenSecret::parse_token(a.expose()), Some(a.clone()));
        assert!(a.hash().matches(&a.hash()));
        assert!(!a.hash().matches(&b.hash()));
    }

    #[test]
    fn malformed_tokens_are_refused_by_shape() {
        let good = TokenSecret::generate();
        let body = &good.expose()[TOKEN_PREFIX.len()..];
        for bad in [
            body.to_string(),
            format!("mia_{body}"),
            format!("{TOKEN_PREFIX}{}", &body[1..]),
            format!("{TOKEN_PREFIX}{body}x"),
            format!("{TOKEN_PREFIX}{}=", &body[1..]),
            String::new(),
        ] {
            assert!(TokenSecret::parse_token(&bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn secrets_never_show_in_debug_output() {
        let t = TokenSecret::generate();
        assert!(!format!("{t:?}{:?}", t.hash()).contains(&t.expose()[5..]));
    }

    #[test]
    fn scopes_parse_from_a_list_and_name_what_is_unknown() {
        let s = Scopes::parse_list("query, read").unwrap();
        assert!(s.contains(Scope::Query) && s.contains(Scope::Read) && !s.contains(Scope::Admin));
        assert_eq!(s.names(), ["query", "read"]);
        let err = Scopes::parse_list("query,write").unwrap_err().to_string();
        assert!(err.contains("write") && err.contains("metrics"), "{err}");
        let scraper = Scopes::parse_list("metrics").unwrap();
        assert_eq!(scraper.names(), ["metrics"]);
        assert!(!Scopes::parse_list("query,read,admin")
            .unwrap()
            .contains(Scope::Metrics));
        assert!(Scopes::parse_list("").is_err());
    }

    #[test]
    fn token_names_are_short_lowercase_words() {
        assert!(TokenName::parse("laptop-2").is_ok());
        assert!(TokenName::parse("Laptop").is_err());
        assert!(TokenName::parse("-x").is_err());
        assert!(TokenName::parse(&"a".repeat(65)).is_err());
    }
}
