//! `access_tokens` and `sessions`: who may use maia. Tokens are kept as hashes only.

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio_postgres::{GenericClient, Row};
use uuid::Uuid;

use super::error::StoreError;
use crate::domain::{Scope, Scopes, TokenHash};

/// A token to be stored.
pub struct NewToken<'a> {
    pub id: Uuid,
    pub name: &'a str,
    pub hash: TokenHash,
    pub scopes: Scopes,
    pub expires_at: Option<DateTime<Utc>>,
}

/// A token as `maia token list` shows it: never its hash.
#[derive(Debug, Clone, Serialize)]
pub struct TokenRecord {
    pub id: Uuid,
    pub name: String,
    pub scopes: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// What a request's credential grants, to be checked against the clock.
#[derive(Debug, Clone)]
pub struct Grant {
    pub token_id: Uuid,
    pub hash: TokenHash,
    pub scopes: Scopes,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked: bool,
}

impl TryFrom<&Row> for Grant {
    type Error = StoreError;

    fn try_from(row: &Row) -> Result<Self, StoreError> {
        let hash: Vec<u8> = row.get("hash");
        let scopes: Vec<String> = row.get("scopes");
        Ok(Self {
            token_id: row.get("id"),
            hash: TokenHash::from_bytes(&hash)
                .ok_or_else(|| StoreError::Setup("a stored token hash is not 32 bytes".into()))?,
            scopes: scopes.iter().filter_map(|s| Scope::parse(s).ok()).collect(),
            expires_at: row.get("expires_at"),
            revoked: row.get::<_, Option<DateTime<Utc>>>("revoked_at").is_some(),
        })
    }
}

/// Stores a token; `false` when a live token already has that name.
#[tracing::instrument(skip_all)]
pub async fn insert_token(db: &impl GenericClient, t: &NewToken<'_>) -> Result<bool, StoreError> {
    let row = db
        .query_opt(
            "INSERT INTO access_tokens (id, name, hash, scopes, expires_at) \
             VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (name) WHERE revoked_at IS NULL DO NOTHING RETURNING id",
            &[
                &t.id,
                &t.name,
                &t.hash.as_bytes(),
                &t.scopes.names(),
                &t.expires_at,
            ],
        )
        .await?;
    Ok(row.is_some())
}

/// The live token with this name, if its hash is `hash` (a re-run of a declarative import).
#[tracing::instrument(skip_all)]
pub async fn live_token_hash(
    db: &impl GenericClient,
    name: &str,
) -> Result<Option<TokenHash>, StoreError> {
    let row = db
        .query_opt(
            "SELECT hash FROM access_tokens WHERE name = $1 AND revoked_at IS NULL",
            &[&name],
        )
        .await?;
    Ok(row.and_then(|r| TokenHash::from_bytes(&r.get::<_, Vec<u8>>(0))))
}

#[tracing::instrument(skip_all)]
pub async fn find_token(
    db: &impl GenericClient,
    hash: &TokenHash,
) -> Result<Option<Grant>, StoreError> {
    let row = db
        .query_opt(
            "SELECT id, hash, scopes, expires_at, revoked_at FROM access_tokens WHERE hash = $1",
            &[&hash.as_bytes()],
        )
        .await?;
    row.as_ref().map(Grant::try_from).transpose()
}

#[tracing::instrument(skip_all)]
pub async fn list_tokens(db: &impl GenericClient) -> Result<Vec<TokenRecord>, StoreError> {
    let rows = db
        .query(
            "SELECT id, name, scopes, created_at, expires_at, last_used_at, revoked_at \
             FROM access_tokens ORDER BY name, created_at",
            &[],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| TokenRecord {
            id: r.get("id"),
            name: r.get("name"),
            scopes: r.get("scopes"),
            created_at: r.get("created_at"),
            expires_at: r.get("expires_at"),
            last_used_at: r.get("last_used_at"),
            revoked_at: r.get("revoked_at"),
        })
        .collect())
}

/// Revokes the live token with this name; `false` if there is none. Its sessions end with
/// it: `find_session` returns the token's state, and a revoked token grants nothing.
#[tracing::instrument(skip_all)]
pub async fn revoke_token(db: &impl GenericClient, name: &str) -> Result<bool, StoreError> {
    let n = db
        .execute(
            "UPDATE access_tokens SET revoked_at = now() WHERE name = $1 AND revoked_at IS NULL",
            &[&name],
        )
        .await?;
    Ok(n > 0)
}

/// Records that a token was used (callers limit how often).
#[tracing::instrument(skip_all)]
pub async fn touch_token(db: &impl GenericClient, id: Uuid) -> Result<(), StoreError> {
    db.execute(
        "UPDATE access_tokens SET last_used_at = now() WHERE id = $1",
        &[&id],
    )
    .await?;
    Ok(())
}

#[tracing::instrument(skip_all)]
pub async fn insert_session(
    db: &impl GenericClient,
    hash: &TokenHash,
    token_id: Uuid,
    expires_at: DateTime<Utc>,
) -> Result<(), StoreError> {
    db.execute(
        "INSERT INTO sessions (hash, token_id, expires_at) VALUES ($1, $2, $3)",
        &[&hash.as_bytes(), &token_id, &expires_at],
    )
    .await?;
    Ok(())
}

/// A live session's token; expired sessions are none (and are removed on the way).
#[tracing::instrument(skip_all)]
pub async fn find_session(
    db: &impl GenericClient,
    hash: &TokenHash,
) -> Result<Option<Grant>, StoreError> {
    let row = db
        .query_opt(
            "SELECT t.id, t.hash, t.scopes, t.expires_at, t.revoked_at \
             FROM sessions s JOIN access_tokens t ON t.id = s.token_id \
             WHERE s.hash = $1 AND s.expires_at > now()",
            &[&hash.as_bytes()],
        )
        .await?;
    row.as_ref().map(Grant::try_from).transpose()
}

#[tracing::instrument(skip_all)]
pub async fn delete_session(db: &impl GenericClient, hash: &TokenHash) -> Result<(), StoreError> {
    db.execute(
        "DELETE FROM sessions WHERE hash = $1 OR expires_at < now()",
        &[&hash.as_bytes()],
    )
    .await?;
    Ok(())
}
