//! Authentication: a bearer token or a browser session, checked against the database.
//!
//! Verdicts are cached for under a second (`CACHE_FOR`), so a revocation takes effect on
//! every replica within a second while a busy client costs one query per token per half
//! second, not one per request. `last_used_at` is written at most once a minute per token.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::Utc;
use uuid::Uuid;

use super::error::ServiceError;
use crate::config::AuthSettings;
use crate::domain::{Scope, Scopes, TokenHash, TokenSecret};
use crate::store::{self, Db, Grant, StoreError};

/// How long a verdict (granted, revoked, unknown) is reused.
const CACHE_FOR: Duration = Duration::from_millis(500);
/// Cached verdicts at most; past that, expired ones go, then all.
const CACHE_LIMIT: usize = 10_000;
const TOUCH_EVERY: Duration = Duration::from_secs(60);

/// Who is asking, once authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caller {
    /// The token, or none where authentication is off (loopback only).
    pub token_id: Option<Uuid>,
    pub scopes: Scopes,
}

impl Caller {
    pub fn require(&self, scope: Scope) -> Result<(), ServiceError> {
        if self.scopes.contains(scope) {
            Ok(())
        } else {
            Err(ServiceError::Forbidden(scope))
        }
    }
}

/// What a request presented.
#[derive(Debug)]
pub enum Credential {
    Bearer(TokenSecret),
    Session(TokenSecret),
}

/// Why a credential was refused; each has its own error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("this request needs a token: send Authorization: Bearer maia_…")]
    Missing,
    #[error("the Authorization header is not a maia bearer token")]
    Malformed,
    #[error("the token is not valid")]
    Unknown,
    #[error("the token has been revoked")]
    Revoked,
    #[error("the token has expired")]
    Expired,
}

/// A credential's kind and hash.
type CacheKey = (u8, [u8; 32]);
/// What the database said of it, and when.
type Verdict = (Instant, Option<Grant>);

#[derive(Debug, Clone, Copy)]
enum Kind {
    Bearer,
    Session,
}

pub struct Authenticator {
    db: Db,
    required: bool,
    cache: Mutex<HashMap<CacheKey, Verdict>>,
    touched: Mutex<HashMap<Uuid, Instant>>,
}

impl Authenticator {
    pub fn new(db: Db, settings: &AuthSettings) -> Self {
        Self {
            db,
            required: settings.required,
            cache: Mutex::new(HashMap::new()),
            touched: Mutex::new(HashMap::new()),
        }
    }

    /// The caller a credential stands for. Without one, where authentication is off, the
    /// caller may do everything (only this machine can reach maia then).
    pub async fn authenticate(
        &self,
        credential: Option<&Credential>,
    ) -> Result<Result<Caller, Refusal>, StoreError> {
        let (kind, secret) = match credential {
            None if !self.required => {
                return Ok(Ok(Caller {
                    token_id: None,
                    scopes: Scopes::all(),
                }))
            }
            None => return Ok(Err(Refusal::Missing)),
            Some(Credential::Bearer(s)) => (Kind::Bearer, s),
            Some(Credential::Session(s)) => (Kind::Session, s),
        };
        let hash = secret.hash();
        let grant = self.grant(kind, &hash).await?;
        Ok(self.judge(kind, &hash, grant))
    }

    fn judge(&self, kind: Kind, hash: &TokenHash, grant: Option<Grant>) -> Result<Caller, Refusal> {
        let grant = grant.ok_or(Refusal::Unknown)?;
        // A session's row holds the token's hash, not the session's.
        if matches!(kind, Kind::Bearer) && !grant.hash.matches(hash) {
            return Err(Refusal::Unknown);
        }
        if grant.revoked {
            return Err(Refusal::Revoked);
        }
        if grant.expires_at.is_some_and(|at| at <= Utc::now()) {
            return Err(Refusal::Expired);
        }
        self.touch(grant.token_id);
        Ok(Caller {
            token_id: Some(grant.token_id),
            scopes: grant.scopes,
        })
    }

    async fn grant(&self, kind: Kind, hash: &TokenHash) -> Result<Option<Grant>, StoreError> {
        let key = (kind as u8, *hash_bytes(hash));
        if let Some((at, grant)) = self
            .cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
        {
            if at.elapsed() < CACHE_FOR {
                return Ok(grant.clone());
            }
        }
        let grant = self
            .db
            .bounded(async {
                let db = self.db.conn().await?;
                match kind {
                    Kind::Bearer => store::find_token(&**db, hash).await,
                    Kind::Session => store::find_session(&**db, hash).await,
                }
            })
            .await?;
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= CACHE_LIMIT {
            cache.retain(|_, (at, _)| at.elapsed() < CACHE_FOR);
            if cache.len() >= CACHE_LIMIT {
                cache.clear();
            }
        }
        cache.insert(key, (Instant::now(), grant.clone()));
        Ok(grant)
    }

    /// Records the use in the background, at most once a minute per token.
    fn touch(&self, token_id: Uuid) {
        {
            let mut touched = self.touched.lock().unwrap_or_else(|e| e.into_inner());
            if touched
                .get(&token_id)
                .is_some_and(|at| at.elapsed() < TOUCH_EVERY)
            {
                return;
            }
            if touched.len() >= CACHE_LIMIT {
                touched.clear();
            }
            touched.insert(token_id, Instant::now());
        }
        let db = self.db.clone();
        tokio::spawn(async move {
            let work = async { store::touch_token(&**db.conn().await?, token_id).await };
            let result = db.bounded(work).await;
            if let Err(e) = result {
                tracing::debug!(error = %e, "could not record a token's last use");
            }
        });
    }
}

fn hash_bytes(hash: &TokenHash) -> &[u8; 32] {
    hash.as_bytes()
        .try_into()
        .expect("a token hash is 32 bytes")
}

/// A browser session: its secret (the cookie's value) and when it ends.
pub struct Session {
    pub secret: TokenSecret,
    pub expires_at: chrono::DateTime<Utc>,
}

impl Authenticator {
    /// Opens a session for a valid bearer token; the session grants what the token grants,
    /// for as long as the token does.
    pub async fn open_session(
        &self,
        token: &TokenSecret,
        hours: u64,
    ) -> Result<Result<Session, Refusal>, StoreError> {
        let caller = match self
            .authenticate(Some(&Credential::Bearer(token.clone())))
            .await?
        {
            Ok(caller) => caller,
            Err(refusal) => return Ok(Err(refusal)),
        };
        let Some(token_id) = caller.token_id else {
            return Ok(Err(Refusal::Unknown));
        };
        let secret = TokenSecret::generate_session();
        let expires_at =
            Utc::now() + chrono::Duration::hours(hours.try_into().unwrap_or(i64::MAX / 3600));
        let hash = secret.hash();
        let work = async {
            store::insert_session(&**self.db.conn().await?, &hash, token_id, expires_at).await
        };
        self.db.bounded(work).await?;
        Ok(Ok(Session { secret, expires_at }))
    }

    pub async fn close_session(&self, secret: &TokenSecret) -> Result<(), StoreError> {
        let hash = secret.hash();
        self.cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&(Kind::Session as u8, *hash_bytes(&hash)));
        let work = async { store::delete_session(&**self.db.conn().await?, &hash).await };
        self.db.bounded(work).await
    }
}
