//! The signed voucher: 50 bytes, `0x56 0x01 || channelId (32) || cumulativeAmount (u64 LE) ||
//! expiresAt (i64 LE)` (spec "Voucher Signing"). These exact bytes are what the
//! `authorizedSigner` signs and what the Ed25519 precompile verifies for `settle`.

use ed25519_dalek::{Signature as DalekSignature, VerifyingKey};
use solana_address::Address;
use solana_keypair::Keypair;
use solana_signature::Signature;
use solana_signer::Signer;

/// A voucher: "the payee may claim up to `cumulative_amount` from `channel_id`".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Voucher {
    /// The channel PDA.
    pub channel_id: Address,
    /// Total authorised since open, in base units.
    pub cumulative_amount: u64,
    /// Unix seconds after which the voucher is void; `0` never expires.
    pub expires_at: i64,
}

/// Why voucher bytes or a voucher signature were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VoucherError {
    /// Not exactly 50 bytes.
    #[error("a voucher is {expected} bytes, got {got}", expected = Voucher::LEN)]
    Length {
        /// Bytes given.
        got: usize,
    },
    /// The first two bytes are not `0x56 0x01`.
    #[error("voucher magic is not 0x56 0x01")]
    BadMagic,
    /// The signer is not a valid Ed25519 public key.
    #[error("voucher signer is not a valid Ed25519 public key")]
    InvalidSigner,
    /// The signature does not verify (strict Ed25519) under the signer.
    #[error("voucher signature does not verify")]
    BadSignature,
}

impl Voucher {
    /// Encoded length.
    pub const LEN: usize = 50;
    /// Tag byte `V` and format version 1.
    pub const MAGIC: [u8; 2] = [0x56, 0x01];

    /// The 50 signed bytes.
    pub fn to_bytes(&self) -> [u8; 50] {
        let mut out = [0u8; 50];
        out[0..2].copy_from_slice(&Self::MAGIC);
        out[2..34].copy_from_slice(self.channel_id.as_ref());
        out[34..42].copy_from_slice(&self.cumulative_amount.to_le_bytes());
        out[42..50].copy_from_slice(&self.expires_at.to_le_bytes());
        out
    }

    /// Parses exactly 50 bytes with the right magic.
    pub fn from_bytes(bytes: &[u8]) -> Result<Voucher, VoucherError> {
        let b: &[u8; 50] = bytes
            .try_into()
            .map_err(|_| VoucherError::Length { got: bytes.len() })?;
        if b[0..2] != Self::MAGIC {
            return Err(VoucherError::BadMagic);
        }
        let mut id = [0u8; 32];
        id.copy_from_slice(&b[2..34]);
        let mut amount = [0u8; 8];
        amount.copy_from_slice(&b[34..42]);
        let mut expires = [0u8; 8];
        expires.copy_from_slice(&b[42..50]);
        Ok(Voucher {
            channel_id: Address::new_from_array(id),
            cumulative_amount: u64::from_le_bytes(amount),
            expires_at: i64::from_le_bytes(expires),
        })
    }

    /// Signs the 50 bytes with `keypair` (the channel's authorized signer).
    pub fn sign(&self, keypair: &Keypair) -> Signature {
        keypair.sign_message(&self.to_bytes())
    }

    /// Verifies `sig` over the 50 bytes under `signer`, strictly (no small-order keys, no
    /// non-canonical encodings), as the precompile does.
    pub fn verify(&self, signer: &Address, sig: &Signature) -> Result<(), VoucherError> {
        let key = VerifyingKey::from_bytes(&signer.to_bytes())
            .map_err(|_| VoucherError::InvalidSigner)?;
        let sig =
            DalekSignature::from_slice(sig.as_ref()).map_err(|_| VoucherError::BadSignature)?;
        key.verify_strict(&self.to_bytes(), &sig)
            .map_err(|_| VoucherError::BadSignature)
    }

    /// Whether the voucher has expired at `now` (unix seconds).
    pub fn is_expired(&self, now: i64) -> bool {
        self.expires_at != 0 && now >= self.expires_at
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn voucher() -> Voucher {
        Voucher {
            channel_id: Address::new_from_array([7; 32]),
            cumulative_amount: 1_234_567,
            expires_at: 1_900_000_000,
        }
    }

    #[test]
    fn layout_is_the_spec_table() {
        let b = voucher().to_bytes();
        assert_eq!(&b[0..2], &[0x56, 0x01]);
        assert_eq!(&b[2..34], &[7; 32]);
        assert_eq!(&b[34..42], &1_234_567u64.to_le_bytes());
        assert_eq!(&b[42..50], &1_900_000_000i64.to_le_bytes());
        assert_eq!(Voucher::from_bytes(&b), Ok(voucher()));
    }

    #[test]
    fn bad_bytes_are_refused() {
        let mut b = voucher().to_bytes();
        assert_eq!(
            Voucher::from_bytes(&b[..49]),
            Err(VoucherError::Length { got: 49 })
        );
        let mut long = b.to_vec();
        long.push(0);
        assert_eq!(
            Voucher::from_bytes(&long),
            Err(VoucherError::Length { got: 51 })
        );
        b[1] = 0x02;
        assert_eq!(Voucher::from_bytes(&b), Err(VoucherError::BadMagic));
    }

    #[test]
    fn sign_then_verify_and_tampering_fails() {
        let kp = Keypair::new();
        let v = voucher();
        let sig = v.sign(&kp);
        assert_eq!(v.verify(&kp.pubkey(), &sig), Ok(()));
        let more = Voucher {
            cumulative_amount: v.cumulative_amount + 1,
            ..v
        };
        assert_eq!(
            more.verify(&kp.pubkey(), &sig),
            Err(VoucherError::BadSignature)
        );
        let other = Keypair::new();
        assert_eq!(
            v.verify(&other.pubkey(), &sig),
            Err(VoucherError::BadSignature)
        );
    }

    #[test]
    fn expiry_zero_never_expires() {
        let v = Voucher {
            expires_at: 0,
            ..voucher()
        };
        assert!(!v.is_expired(i64::MAX));
        assert!(voucher().is_expired(1_900_000_000));
        assert!(!voucher().is_expired(1_899_999_999));
    }
}
