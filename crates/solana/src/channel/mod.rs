//! The payment-channel program's host-side interface (`draft-solana-session-00`, "Channel
//! Program Interface"): vouchers, PDA derivation, splits, account state, instruction builders
//! and decoders, error codes. No I/O.
//!
//! The channel program id is always a parameter: the program is configuration (the challenge's
//! `channelProgram`), never hard-coded. [`DEV_CHANNEL_PROGRAM_ID`] is only the address the
//! embedded chain loads the bundled program at.
//!
//! | module | holds |
//! |---|---|
//! | [`voucher`] | the 50-byte signed voucher |
//! | [`splits`] | distribution splits: rules, canonical preimage, SHA-256, payout math |
//! | [`state`] | the `Channel` account |
//! | [`ix`] | instruction builders, the Ed25519 precompile instruction, the decoder |
//! | [`error`] | the program's error codes |

pub mod error;
pub mod ix;
pub mod splits;
pub mod state;
pub mod voucher;

use solana_address::Address;

use crate::token::{TokenProgram, associated_token_address};

pub use error::ChannelErrorCode;
pub use ix::{
    ChannelInstruction, DecodeError, decode_instruction, decode_message_instruction,
    ed25519_voucher_instruction,
};
pub use splits::{DistributionSplit, SplitsError};
pub use state::{ChannelState, ChannelStatus, StateError};
pub use voucher::{Voucher, VoucherError};

/// Where the embedded chain (and `mppsol localnet`) loads the bundled channel program. Its
/// keypair is `programs/keys/channel-program-dev.json`, committed for development only: anyone
/// can upgrade a program deployed with it.
pub const DEV_CHANNEL_PROGRAM_ID: Address =
    Address::from_str_const("ADphTeEsWPxkukaNaiyfKNiYwuVwLSv4JVPEZRweh63v");

/// The treasury owner compiled into the bundled program (`TREASURY_OWNER`): redirected payouts
/// and final dust go to its ATA. Dev key `programs/keys/treasury-owner-dev.json`.
pub const DEV_TREASURY_OWNER: Address =
    Address::from_str_const("G9hYsRio2N9Fhgm1R6mBNGcQcNCLdLjSmmVYF9Mf5y6R");

/// Slots after `openSlot` in which `open` may land; `reclaim` waits until it has passed.
pub const OPEN_SLOT_WINDOW: u64 = 1500;

/// First seed of the channel PDA.
pub const CHANNEL_SEED: &[u8] = b"channel";

/// Seed of the event-authority PDA (Anchor-style self-CPI events).
pub const EVENT_AUTHORITY_SEED: &[u8] = b"event_authority";

/// Everything the channel PDA is derived from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChannelSeeds {
    /// The client depositing funds.
    pub payer: Address,
    /// The server receiving payment.
    pub payee: Address,
    /// The token mint.
    pub mint: Address,
    /// The voucher signer (the payer unless delegated).
    pub authorized_signer: Address,
    /// Disambiguates concurrent channels between the same parties.
    pub salt: u64,
    /// The per-incarnation epoch (a recent slot).
    pub open_slot: u64,
}

/// The channel PDA and its canonical bump:
/// `["channel", payer, payee, mint, authorizedSigner, salt LE, openSlot LE]`.
pub fn find_channel_address(program: &Address, seeds: &ChannelSeeds) -> (Address, u8) {
    Address::find_program_address(
        &[
            CHANNEL_SEED,
            seeds.payer.as_ref(),
            seeds.payee.as_ref(),
            seeds.mint.as_ref(),
            seeds.authorized_signer.as_ref(),
            &seeds.salt.to_le_bytes(),
            &seeds.open_slot.to_le_bytes(),
        ],
        program,
    )
}

/// The channel's escrow: the channel PDA's associated token account.
pub fn escrow_address(channel: &Address, mint: &Address, token_program: TokenProgram) -> Address {
    associated_token_address(channel, mint, token_program)
}

/// The program's event-authority PDA.
pub fn event_authority(program: &Address) -> Address {
    Address::find_program_address(&[EVENT_AUTHORITY_SEED], program).0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seeds() -> ChannelSeeds {
        ChannelSeeds {
            payer: Address::new_from_array([1; 32]),
            payee: Address::new_from_array([2; 32]),
            mint: Address::new_from_array([3; 32]),
            authorized_signer: Address::new_from_array([4; 32]),
            salt: 7,
            open_slot: 1000,
        }
    }

    #[test]
    fn every_seed_changes_the_channel_address() {
        let base = find_channel_address(&DEV_CHANNEL_PROGRAM_ID, &seeds()).0;
        let variants = [
            ChannelSeeds {
                payer: Address::new_from_array([9; 32]),
                ..seeds()
            },
            ChannelSeeds {
                payee: Address::new_from_array([9; 32]),
                ..seeds()
            },
            ChannelSeeds {
                mint: Address::new_from_array([9; 32]),
                ..seeds()
            },
            ChannelSeeds {
                authorized_signer: Address::new_from_array([9; 32]),
                ..seeds()
            },
            ChannelSeeds { salt: 8, ..seeds() },
            ChannelSeeds {
                open_slot: 1001,
                ..seeds()
            },
        ];
        for v in variants {
            assert_ne!(
                find_channel_address(&DEV_CHANNEL_PROGRAM_ID, &v).0,
                base,
                "{v:?}"
            );
        }
        let other_program = Address::new_from_array([5; 32]);
        assert_ne!(find_channel_address(&other_program, &seeds()).0, base);
    }

    #[test]
    fn channel_address_is_off_curve_and_escrow_is_its_ata() {
        let (channel, bump) = find_channel_address(&DEV_CHANNEL_PROGRAM_ID, &seeds());
        assert!(!channel.is_on_curve());
        let again = Address::create_program_address(
            &[
                CHANNEL_SEED,
                &[1; 32],
                &[2; 32],
                &[3; 32],
                &[4; 32],
                &7u64.to_le_bytes(),
                &1000u64.to_le_bytes(),
                &[bump],
            ],
            &DEV_CHANNEL_PROGRAM_ID,
        )
        .unwrap();
        assert_eq!(again, channel);
        let mint = Address::new_from_array([3; 32]);
        assert_eq!(
            escrow_address(&channel, &mint, TokenProgram::Token),
            associated_token_address(&channel, &mint, TokenProgram::Token)
        );
        assert_ne!(
            escrow_address(&channel, &mint, TokenProgram::Token),
            escrow_address(&channel, &mint, TokenProgram::Token2022)
        );
    }
}
