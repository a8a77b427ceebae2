//! Managing tokens (`maia token …`): create, import, list, revoke.

use chrono::{Duration, Utc};
use uuid::Uuid;

use super::error::ServiceError;
use crate::domain::{Scopes, TokenName, TokenSecret};
use crate::store::{self, Db, NewToken, TokenRecord};

/// Creates a token and returns it: the only time it is shown.
pub async fn create_token(
    db: &Db,
    name: &TokenName,
    scopes: Scopes,
    expires_in_days: Option<u32>,
) -> Result<TokenSecret, ServiceError> {
    let secret = TokenSecret::generate();
    store_token(db, name, &secret, scopes, expires_in_days).await?;
    Ok(secret)
}

/// Stores a token made elsewhere (a provisioned secret file). Running it again with the same
/// token changes nothing; another token under a live name is refused.
pub async fn import_token(
    db: &Db,
    name: &TokenName,
    secret: &TokenSecret,
    scopes: Scopes,
) -> Result<bool, ServiceError> {
    let conn = db.conn().await?;
    if let Some(hash) = store::live_token_hash(&**conn, name.as_str()).await? {
        return if hash.matches(&secret.hash()) {
            Ok(false)
        } else {
            Err(ServiceError::Conflict(format!(
                "a live token named {:?} exists with another value; revoke it first",
                name.as_str()
            )))
        };
    }
    drop(conn);
    store_token(db, name, secret, scopes, None).await?;
    Ok(true)
}

async fn store_token(
    db: &Db,
    name: &TokenName,
    secret: &TokenSecret,
    scopes: Scopes,
    expires_in_days: Option<u32>,
) -> Result<(), ServiceError> {
    let token = NewToken {
        id: Uuid::new_v4(),
        name: name.as_str(),
        hash: secret.hash(),
        scopes,
        expires_at: expires_in_days.map(|d| Utc::now() + Duration::days(d.into())),
    };
    let conn = db.conn().await?;
    if store::insert_token(&**conn, &token).await? {
        Ok(())
    } else {
        Err(ServiceError::Conflict(format!(
            "a live token named {:?} exists; revoke it first or choose another name",
            name.as_str()
        )))
    }
}

pub async fn list_tokens(db: &Db) -> Result<Vec<TokenRecord>, ServiceError> {
    Ok(store::list_tokens(&**db.conn().await?).await?)
}

pub async fn revoke_token(db: &Db, name: &TokenName) -> Result<(), ServiceError> {
    if store::revoke_token(&**db.conn().await?, name.as_str()).await? {
        Ok(())
    } else {
        Err(ServiceError::NotFound(format!(
            "no live token named {:?}",
            name.as_str()
        )))
    }
}
