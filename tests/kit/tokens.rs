//! Access tokens for tests: made the way maia makes them (`maia_` and 256 random bits,
//! only the SHA-256 stored), written straight into `access_tokens`. `tests/cli` makes
//! them with `maia token create` instead, which is what it tests.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::digest::{digest, SHA256};
use ring::rand::{SecureRandom, SystemRandom};

use super::database::psql;

/// Every scope.
pub const ALL_SCOPES: &[&str] = &["query", "read", "admin", "metrics"];

/// A new token with `scopes` in the (migrated) database at `db_url`; its name is `name`
/// plus a random suffix, so a test may call this more than once.
pub async fn issue_token(db_url: &str, name: &str, scopes: &[&str]) -> Token {
    let token = new_token_text();
    let id = uuid::Uuid::new_v4();
    let name = format!("{name}-{}", &id.simple().to_string()[..8]);
    let scopes: Vec<String> = scopes.iter().map(|s| s.to_string()).collect();
    psql(db_url)
        .await
        .execute(
            "INSERT INTO access_tokens (id, name, hash, scopes) VALUES ($1, $2, $3, $4)",
            &[&id, &name, &sha256(&token), &scopes],
        )
        .await
        .expect("store a test token");
    Token { id, name, token }
}

/// A well-formed token that no database knows.
pub fn new_token_text() -> String {
    let mut bytes = [0u8; 32];
    SystemRandom::new().fill(&mut bytes).expect("random bytes");
    format!("maia_{}", URL_SAFE_NO_PAD.encode(bytes))
}

pub fn sha256(text: &str) -> Vec<u8> {
    digest(&SHA256, text.as_bytes()).as_ref().to_vec()
}

/// A token a test holds: its id and name in the database, and the secret itself.
#[derive(Debug, Clone)]
pub struct Token {
    pub id: uuid::Uuid,
    pub name: String,
    pub token: String,
}

impl Token {
    pub fn header(&self) -> String {
        format!("Bearer {}", self.token)
    }
}

/// An HTTP client (as `http::http_client`) that sends `token` with every request.
pub fn client_with(token: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    let value = format!("Bearer {token}").parse().expect("a header value");
    headers.insert(reqwest::header::AUTHORIZATION, value);
    reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(15))
        .no_proxy()
        .default_headers(headers)
        .build()
        .expect("an HTTP client")
}

/// Makes the token expired (an hour ago).
pub async fn expire(db_url: &str, token: &Token) {
    psql(db_url)
        .await
        .execute(
            "UPDATE access_tokens SET expires_at = now() - interval '1 hour' WHERE id = $1",
            &[&token.id],
        )
        .await
        .expect("expire a test token");
}

/// Revokes the token, as `maia token revoke` does.
pub async fn revoke(db_url: &str, token: &Token) {
    psql(db_url)
        .await
        .execute(
            "UPDATE access_tokens SET revoked_at = now() WHERE id = $1",
            &[&token.id],
        )
        .await
        .expect("revoke a test token");
}
