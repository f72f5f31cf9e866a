//! One module per instruction.

pub mod distribute;
pub mod open;
pub mod reclaim;
pub mod request_close;
pub mod seal;
pub mod settle;
pub mod settle_and_seal;
pub mod top_up;
pub mod withdraw_payer;

use pinocchio::{AccountView, Address, ProgramResult};

use crate::error::{ChannelError, fail};
use crate::require_signer;
use crate::state::Channel;

/// Loads the channel of a payer-signed instruction into `out`: `payer` signed, is the channel's
/// payer, and the channel is in status `want`.
#[inline(always)]
pub(crate) fn payer_channel(
    program_id: &Address,
    payer: &AccountView,
    channel: &AccountView,
    want: u8,
    out: &mut Channel,
) -> ProgramResult {
    require_signer(payer)?;
    Channel::load(channel, program_id, out)?;
    if payer.address() != &out.payer {
        return fail(ChannelError::InvalidChannelPayer);
    }
    if out.status != want {
        return fail(ChannelError::InvalidChannelStatus);
    }
    Ok(())
}
