//! Host-side interface of the spending-policy program (`programs/policy`), the payments
//! program with on-chain receipts (`programs/payments`) and the example CPI consumer
//! (`programs/example-vault`): PDA derivation, account decoding, instruction builders, error
//! codes. No I/O. Byte layouts: `docs/003-policy-program.md`.
//!
//! Program ids are always parameters. The `DEV_*` ids are where the tests (and, later, the
//! embedded chain) load the bundled programs; their keypairs in `programs/keys/` are committed
//! for development only: anyone can upgrade a program deployed with them.
//!
//! | module | holds |
//! |---|---|
//! | [`state`] | the policy blob ([`PolicyConfig`]) and the wallet account ([`WalletState`]) |
//! | [`receipt`] | the payments program: receipt PDA, [`PaymentReceipt`], `pay` builder |
//! | [`ix`] | builders for every policy instruction and the example vault |
//! | [`error`] | policy, payments and example-vault error codes |

pub mod error;
pub mod ix;
pub mod receipt;
pub mod state;

use sha2::{Digest, Sha256};
use solana_address::Address;

use crate::token::{TokenProgram, associated_token_address};

pub use error::{ExampleVaultErrorCode, PaymentsErrorCode, PolicyErrorCode};
pub use receipt::{PaymentReceipt, ReceiptError, find_receipt_address};
pub use state::{Counterparties, PolicyConfig, PolicyError, WalletState};

/// Dev id of the policy program (`programs/keys/policy-program-dev.json`).
pub const DEV_POLICY_PROGRAM_ID: Address =
    Address::from_str_const("3q1STtYxB6PU8SoHjgQgqqJcPevvrXNPqBx6pGu3C8A6");
/// Dev id of the payments program (`programs/keys/payments-program-dev.json`).
pub const DEV_PAYMENTS_PROGRAM_ID: Address =
    Address::from_str_const("AxDNQbSdTpoUifxixQ3pADfazNGv6k24heWGqPzH5i1z");
/// Dev id of the example vault (`programs/keys/example-vault-program-dev.json`).
pub const DEV_EXAMPLE_VAULT_PROGRAM_ID: Address =
    Address::from_str_const("FbWbBmzdNhFtQxKNQaGoHmFZU2yaAwptY9ERGrKEzjEa");

/// First seed of the wallet PDA.
pub const WALLET_SEED: &[u8] = b"wallet";
/// Counterparty allow-list capacity.
pub const MAX_COUNTERPARTIES: usize = 16;
/// Longest memo `pay` accepts.
pub const MAX_MEMO_LEN: usize = 566;
/// The daily window: spend is counted per `unix_timestamp / 86_400` (UTC days).
pub const DAY_SECONDS: i64 = 86_400;

/// The wallet PDA of `(owner, agent)`: `["wallet", owner, agent]`.
pub fn find_wallet_address(program: &Address, owner: &Address, agent: &Address) -> (Address, u8) {
    Address::find_program_address(&[WALLET_SEED, owner.as_ref(), agent.as_ref()], program)
}

/// The wallet's vault for `mint`: the wallet PDA's associated token account.
pub fn vault_address(wallet: &Address, mint: &Address, token_program: TokenProgram) -> Address {
    associated_token_address(wallet, mint, token_program)
}

/// `sha256(challenge id)`: what a payment with a receipt carries and the receipt PDA is
/// seeded by.
pub fn challenge_hash(challenge_id: &str) -> [u8; 32] {
    Sha256::digest(challenge_id.as_bytes()).into()
}

/// The example vault's authority PDA for payments through `payments_program`.
pub fn example_vault_authority(
    program: &Address,
    owner: &Address,
    payments_program: &Address,
) -> Address {
    Address::find_program_address(
        &[b"vault", owner.as_ref(), payments_program.as_ref()],
        program,
    )
    .0
}

/// The example vault's policy-agent PDA for `policy_program`.
pub fn example_vault_agent(
    program: &Address,
    owner: &Address,
    policy_program: &Address,
) -> Address {
    Address::find_program_address(
        &[b"agent", owner.as_ref(), policy_program.as_ref()],
        program,
    )
    .0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wallet_pda_depends_on_owner_agent_and_program() {
        let o = Address::new_from_array([1; 32]);
        let a = Address::new_from_array([2; 32]);
        let (w, _) = find_wallet_address(&DEV_POLICY_PROGRAM_ID, &o, &a);
        assert!(!w.is_on_curve());
        assert_ne!(w, find_wallet_address(&DEV_POLICY_PROGRAM_ID, &a, &o).0);
        assert_ne!(w, find_wallet_address(&DEV_PAYMENTS_PROGRAM_ID, &o, &a).0);
    }

    #[test]
    fn challenge_hash_is_sha256_of_the_id() {
        assert_eq!(
            challenge_hash("abc"),
            [
                0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40, 0xde, 0x5d, 0xae,
                0x22, 0x23, 0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61,
                0xf2, 0x00, 0x15, 0xad
            ]
        );
    }
}
