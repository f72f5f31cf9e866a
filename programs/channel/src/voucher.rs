//! Reads the voucher verified by the Ed25519 precompile instruction immediately before the
//! current one (via the Instructions sysvar) and applies it to the channel.

use pinocchio::{
    AccountView, Address, ProgramResult,
    sysvars::instructions::{INSTRUCTIONS_ID, Instructions},
};

use crate::error::{ChannelError, fail};
use crate::state::Channel;

/// The Ed25519 signature-verification precompile.
pub const ED25519_PROGRAM_ID: Address =
    Address::from_str_const("Ed25519SigVerify111111111111111111111111111");

/// Voucher payload length: magic (2) || channelId (32) || cumulativeAmount (8) || expiresAt (8).
pub const VOUCHER_LEN: usize = 50;
/// Voucher magic: tag `V` and format version 1.
pub const VOUCHER_MAGIC: [u8; 2] = [0x56, 0x01];

// Canonical single-signature layout: a 16-byte header (count, padding, seven u16 offsets), the
// public key, the signature, then the message.
const PUBKEY_OFFSET: usize = 16;
const SIGNATURE_OFFSET: usize = 48;
const MESSAGE_OFFSET: usize = 112;
const ED25519_IX_LEN: usize = MESSAGE_OFFSET + VOUCHER_LEN;
const THIS_INSTRUCTION: u16 = u16::MAX;

/// Checks the precompile instruction before the current one and, on success, raises
/// `ch.settled` to the voucher's cumulative amount. `now` is the Clock unix timestamp.
#[inline(always)]
pub fn apply_voucher(sysvar: &AccountView, channel: &Address, ch: &mut Channel, now: i64) -> ProgramResult {
    if sysvar.address() != &INSTRUCTIONS_ID {
        return fail(ChannelError::InvalidProgramAccount);
    }
    let ixs = Instructions::try_from(sysvar)?;
    let current = ixs.load_current_index() as usize;
    if current == 0 {
        return fail(ChannelError::MissingEd25519Verification);
    }
    let prev_index = current - 1;
    let prev = ixs
        .load_instruction_at(prev_index)
        .map_err(|_| pinocchio::error::ProgramError::from(ChannelError::MissingEd25519Verification))?;
    if prev.get_program_id() != &ED25519_PROGRAM_ID {
        return fail(ChannelError::MissingEd25519Verification);
    }
    let d = prev.get_instruction_data();
    if d.len() != ED25519_IX_LEN || d[0] != 1 || d[1] != 0 {
        return fail(ChannelError::MalformedEd25519Instruction);
    }
    let field = |i: usize| u16::from_le_bytes([d[2 + 2 * i], d[3 + 2 * i]]);
    // Every offset must point into the precompile instruction itself (u16::MAX, or its own
    // index), at the canonical positions, with a 50-byte message.
    let here = |ix: u16| ix == THIS_INSTRUCTION || ix as usize == prev_index;
    if field(0) as usize != SIGNATURE_OFFSET
        || !here(field(1))
        || field(2) as usize != PUBKEY_OFFSET
        || !here(field(3))
        || field(4) as usize != MESSAGE_OFFSET
        || field(5) as usize != VOUCHER_LEN
        || !here(field(6))
    {
        return fail(ChannelError::MalformedEd25519Instruction);
    }
    if &d[PUBKEY_OFFSET..PUBKEY_OFFSET + 32] != ch.authorized_signer.as_ref() {
        return fail(ChannelError::VoucherSignerMismatch);
    }
    let m = &d[MESSAGE_OFFSET..];
    if m[0..2] != VOUCHER_MAGIC {
        return fail(ChannelError::VoucherBadMagic);
    }
    if &m[2..34] != channel.as_ref() {
        return fail(ChannelError::VoucherChannelMismatch);
    }
    let mut b = [0u8; 8];
    b.copy_from_slice(&m[34..42]);
    let cumulative = u64::from_le_bytes(b);
    b.copy_from_slice(&m[42..50]);
    let expires_at = i64::from_le_bytes(b);
    if expires_at != 0 && now >= expires_at {
        return fail(ChannelError::VoucherExpired);
    }
    if cumulative <= ch.settled {
        return fail(ChannelError::VoucherWatermarkNotMonotonic);
    }
    if cumulative > ch.deposit {
        return fail(ChannelError::VoucherOverDeposit);
    }
    ch.settled = cumulative;
    Ok(())
}
