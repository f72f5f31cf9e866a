//! Secrets at rest: the master key and the AEAD that seals custodial keys and API-key verifiers,
//! and the generation of API-key secrets.
//!
//! Sealed bytes are `nonce (12) ‖ AES-256-GCM-SIV ciphertext+tag`. GCM-SIV stays safe if a
//! random nonce ever repeats. The associated data names what is sealed (and, for account keys,
//! the address), so a sealed value copied into another row does not open.

use aes_gcm_siv::aead::{Aead, KeyInit, Payload};
use aes_gcm_siv::{Aes256GcmSiv, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};
use rand::RngCore;

const NONCE_LEN: usize = 12;

/// Why a master key or a sealed value is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CryptoError {
    /// The master key text is not 32 bytes in hex or base64.
    #[error("the master key must be 32 bytes, written as 64 hex digits or base64")]
    BadMasterKey,
    /// A sealed value does not open under this master key (wrong key, or tampered).
    #[error("a sealed secret does not open under this master key")]
    Unseal,
}

/// The 32-byte key that seals every secret the service stores. `Debug` prints nothing of it.
#[derive(Clone)]
pub struct MasterKey(Aes256GcmSiv);

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(…)")
    }
}

impl MasterKey {
    /// A key from its 32 bytes.
    pub fn from_bytes(bytes: &[u8; 32]) -> Self {
        Self(Aes256GcmSiv::new(bytes.into()))
    }

    /// Reads 64 hex digits or base64 (standard or URL-safe, padded or not) of 32 bytes;
    /// surrounding whitespace (a trailing newline in a key file) is ignored.
    pub fn parse(text: &str) -> Result<Self, CryptoError> {
        let t = text.trim();
        let bytes = if t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit()) {
            hex::decode(t).ok()
        } else {
            STANDARD
                .decode(t)
                .or_else(|_| URL_SAFE.decode(t))
                .or_else(|_| URL_SAFE_NO_PAD.decode(t))
                .ok()
        };
        let arr: [u8; 32] = bytes
            .and_then(|b| b.try_into().ok())
            .ok_or(CryptoError::BadMasterKey)?;
        Ok(Self::from_bytes(&arr))
    }

    /// A fresh random key, as the hex text a key file holds.
    pub fn generate_hex() -> String {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        hex::encode(bytes)
    }

    /// Seals `secret`, bound to `context`.
    pub fn seal(&self, secret: &[u8], context: &str) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let payload = Payload {
            msg: secret,
            aad: context.as_bytes(),
        };
        // Encryption fails only for inputs beyond 2^36 bytes; ours are under 100.
        let sealed = self
            .0
            .encrypt(Nonce::from_slice(&nonce), payload)
            .unwrap_or_default();
        let mut out = Vec::with_capacity(NONCE_LEN + sealed.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        out
    }

    /// Opens what [`MasterKey::seal`] sealed under the same `context`.
    pub fn open(&self, sealed: &[u8], context: &str) -> Result<Vec<u8>, CryptoError> {
        if sealed.len() < NONCE_LEN {
            return Err(CryptoError::Unseal);
        }
        let (nonce, body) = sealed.split_at(NONCE_LEN);
        self.0
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: body,
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| CryptoError::Unseal)
    }
}

/// The context a custodial account's secret key is sealed under.
pub fn account_key_context(address: &str) -> String {
    format!("mppsol/account-key/{address}")
}

/// The context an API key's verifier is sealed under.
pub const API_KEY_CONTEXT: &str = "mppsol/api-key-verifier";

/// A fresh API-key secret (`mppsol_sk_` + 43 URL-safe characters, 256 bits).
pub fn new_key_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("mppsol_sk_{}", URL_SAFE_NO_PAD.encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secrets_open_only_with_the_same_key_and_context() {
        let key = MasterKey::from_bytes(&[7; 32]);
        let sealed = key.seal(b"secret key bytes", "ctx-a");
        assert!(!sealed.windows(6).any(|w| w == b"secret"));
        assert_eq!(key.open(&sealed, "ctx-a"), Ok(b"secret key bytes".to_vec()));
        assert_eq!(key.open(&sealed, "ctx-b"), Err(CryptoError::Unseal));
        let other = MasterKey::from_bytes(&[8; 32]);
        assert_eq!(other.open(&sealed, "ctx-a"), Err(CryptoError::Unseal));
        let mut tampered = sealed.clone();
        if let Some(last) = tampered.last_mut() {
            *last ^= 1;
        }
        assert_eq!(key.open(&tampered, "ctx-a"), Err(CryptoError::Unseal));
        assert_eq!(key.open(&[1, 2], "ctx-a"), Err(CryptoError::Unseal));
        // A fresh nonce every time.
        assert_ne!(key.seal(b"x", "c"), key.seal(b"x", "c"));
    }

    #[test]
    fn master_keys_parse_from_hex_and_base64_only_at_32_bytes() {
        let hex_text = "11".repeat(32);
        let b64 = STANDARD.encode([0x11u8; 32]);
        let sealed = MasterKey::parse(&hex_text).expect("hex").seal(b"v", "c");
        assert_eq!(
            MasterKey::parse(&format!("{b64}\n"))
                .expect("b64")
                .open(&sealed, "c"),
            Ok(b"v".to_vec())
        );
        assert!(MasterKey::parse(&MasterKey::generate_hex()).is_ok());
        assert_eq!(
            MasterKey::parse("abcd").map(|_| ()),
            Err(CryptoError::BadMasterKey)
        );
        assert_eq!(
            MasterKey::parse(&STANDARD.encode([1u8; 31])).map(|_| ()),
            Err(CryptoError::BadMasterKey)
        );
        assert!(!format!("{:?}", MasterKey::from_bytes(&[9; 32])).contains('9'));
    }
}
