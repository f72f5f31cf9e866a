//! The first operator and its key (printed once by `mppsol operator` on a fresh database, or by
//! `mppsol operator init`), and key issuing shared with the API.

use mppsol_client::operator::signing_key;
use mppsol_store::operator::{Actor, ApiKey, KeyRole, NewApiKey, Operator};

use crate::AppState;
use crate::crypto::{API_KEY_CONTEXT, new_key_secret};
use crate::error::ApiError;

/// A key and its secret, shown once and never stored.
#[derive(Clone)]
pub struct IssuedKey {
    /// The key (its id goes in `X-Mppsol-Key`).
    pub key: ApiKey,
    /// The secret the holder signs with.
    pub secret: String,
}

impl std::fmt::Debug for IssuedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedKey")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

/// A fresh secret and the sealed verifier the store keeps for it.
pub fn new_secret(state: &AppState) -> (String, Vec<u8>) {
    let secret = new_key_secret();
    let sealed = state
        .master_key()
        .seal(&signing_key(&secret), API_KEY_CONTEXT);
    (secret, sealed)
}

/// Issues a key of `role` (an agent key for `account_id`) for the actor's operator.
pub async fn issue_key(
    state: &AppState,
    actor: &Actor,
    role: KeyRole,
    account_id: Option<String>,
) -> Result<IssuedKey, ApiError> {
    let (secret, sealed_verifier) = new_secret(state);
    let key = state
        .store()
        .create_api_key(
            actor,
            &NewApiKey {
                operator_id: actor.operator_id.clone(),
                role,
                account_id,
                sealed_verifier,
            },
            state.now(),
        )
        .await?;
    Ok(IssuedKey { key, secret })
}

/// Creates an operator and its first operator key.
pub async fn bootstrap_operator(
    state: &AppState,
    name: &str,
) -> Result<(Operator, IssuedKey), ApiError> {
    let operator = state.store().create_operator(name, state.now()).await?;
    let system = Actor {
        operator_id: operator.id.clone(),
        key_id: "system".into(),
    };
    let key = issue_key(state, &system, KeyRole::Operator, None).await?;
    Ok((operator, key))
}

/// On a database with no operator, creates the first one; otherwise does nothing.
pub async fn bootstrap_if_empty(
    state: &AppState,
    name: &str,
) -> Result<Option<(Operator, IssuedKey)>, ApiError> {
    if state.store().count_operators().await? > 0 {
        return Ok(None);
    }
    bootstrap_operator(state, name).await.map(Some)
}
