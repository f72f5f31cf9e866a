//! Instruction builders for every channel instruction, the canonical Ed25519 precompile
//! instruction for a voucher, and a decoder so a server can check a client-built transaction.
//!
//! Layouts (1-byte discriminator, then little-endian fields) and account orders are those of
//! the reference program; the program id is always a parameter.

use solana_address::Address;
use solana_instruction::{AccountMeta, Instruction};
use solana_signature::Signature;

use super::splits::{self, DistributionSplit, SplitsError};
use super::voucher::Voucher;
use super::{ChannelSeeds, escrow_address, event_authority, find_channel_address};
use crate::token::{ATA_PROGRAM, SYSTEM_PROGRAM, TokenProgram, associated_token_address};

/// The Ed25519 signature-verification precompile.
pub const ED25519_PROGRAM: Address =
    Address::from_str_const("Ed25519SigVerify111111111111111111111111111");

/// The Rent sysvar.
pub const SYSVAR_RENT: Address =
    Address::from_str_const("SysvarRent111111111111111111111111111111111");
/// The Instructions sysvar (read by `settle` / `settleAndSeal`).
pub const SYSVAR_INSTRUCTIONS: Address =
    Address::from_str_const("Sysvar1nstructions1111111111111111111111111");

/// Instruction discriminators.
pub mod disc {
    /// `open`.
    pub const OPEN: u8 = 1;
    /// `settle`.
    pub const SETTLE: u8 = 2;
    /// `topUp`.
    pub const TOP_UP: u8 = 3;
    /// `settleAndSeal`.
    pub const SETTLE_AND_SEAL: u8 = 4;
    /// `requestClose`.
    pub const REQUEST_CLOSE: u8 = 5;
    /// `seal`.
    pub const SEAL: u8 = 6;
    /// `distribute`.
    pub const DISTRIBUTE: u8 = 7;
    /// `withdrawPayer`.
    pub const WITHDRAW_PAYER: u8 = 8;
    /// `reclaim`.
    pub const RECLAIM: u8 = 9;
}

/// `open`'s arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenArgs {
    /// PDA disambiguator.
    pub salt: u64,
    /// Initial deposit, base units (non-zero).
    pub deposit: u64,
    /// Forced-close grace period, seconds (non-zero).
    pub grace_period: u32,
    /// Per-incarnation epoch: a slot within the last `OPEN_SLOT_WINDOW` slots.
    pub open_slot: u64,
    /// Distribution splits (the payee gets the remainder).
    pub splits: Vec<DistributionSplit>,
}

/// The parties of `open`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenParties {
    /// The depositing client (signer).
    pub payer: Address,
    /// The operator funding the rent (signer; normally the fee payer).
    pub rent_payer: Address,
    /// The paid server.
    pub payee: Address,
    /// The token mint.
    pub mint: Address,
    /// The voucher signer.
    pub authorized_signer: Address,
    /// The mint's token program.
    pub token_program: TokenProgram,
}

impl OpenParties {
    /// The PDA seeds these parties and `args` define.
    pub fn seeds(&self, args: &OpenArgs) -> ChannelSeeds {
        ChannelSeeds {
            payer: self.payer,
            payee: self.payee,
            mint: self.mint,
            authorized_signer: self.authorized_signer,
            salt: args.salt,
            open_slot: args.open_slot,
        }
    }
}

/// `open`: creates the channel and its escrow, deposits, commits the splits.
pub fn open(program: &Address, parties: &OpenParties, args: &OpenArgs) -> Instruction {
    let (channel, _) = find_channel_address(program, &parties.seeds(args));
    let tp = parties.token_program;
    let mut data = Vec::with_capacity(33 + 4 + 34 * args.splits.len());
    data.push(disc::OPEN);
    data.extend_from_slice(&args.salt.to_le_bytes());
    data.extend_from_slice(&args.deposit.to_le_bytes());
    data.extend_from_slice(&args.grace_period.to_le_bytes());
    data.extend_from_slice(&args.open_slot.to_le_bytes());
    data.extend_from_slice(&splits::preimage(&args.splits));
    Instruction {
        program_id: *program,
        accounts: vec![
            AccountMeta::new(parties.payer, true),
            AccountMeta::new(parties.rent_payer, true),
            AccountMeta::new_readonly(parties.payee, false),
            AccountMeta::new_readonly(parties.mint, false),
            AccountMeta::new_readonly(parties.authorized_signer, false),
            AccountMeta::new(channel, false),
            AccountMeta::new(
                associated_token_address(&parties.payer, &parties.mint, tp),
                false,
            ),
            AccountMeta::new(escrow_address(&channel, &parties.mint, tp), false),
            AccountMeta::new_readonly(tp.id(), false),
            AccountMeta::new_readonly(SYSTEM_PROGRAM, false),
            AccountMeta::new_readonly(SYSVAR_RENT, false),
            AccountMeta::new_readonly(ATA_PROGRAM, false),
            AccountMeta::new_readonly(event_authority(program), false),
            AccountMeta::new_readonly(*program, false),
        ],
        data,
    }
}

/// `settle`: must directly follow [`ed25519_voucher_instruction`] in the same transaction.
pub fn settle(program: &Address, channel: &Address) -> Instruction {
    Instruction {
        program_id: *program,
        accounts: vec![
            AccountMeta::new(*channel, false),
            AccountMeta::new_readonly(SYSVAR_INSTRUCTIONS, false),
        ],
        data: vec![disc::SETTLE],
    }
}

/// The token accounts a payer-side instruction touches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PayerAccounts {
    /// The channel payer (signer).
    pub payer: Address,
    /// The channel PDA.
    pub channel: Address,
    /// The channel mint.
    pub mint: Address,
    /// The mint's token program.
    pub token_program: TokenProgram,
}

/// `topUp`: the payer adds `amount` to the escrow.
pub fn top_up(program: &Address, a: &PayerAccounts, amount: u64) -> Instruction {
    let mut data = vec![disc::TOP_UP];
    data.extend_from_slice(&amount.to_le_bytes());
    Instruction {
        program_id: *program,
        accounts: vec![
            AccountMeta::new(a.payer, true),
            AccountMeta::new(a.channel, false),
            AccountMeta::new(
                associated_token_address(&a.payer, &a.mint, a.token_program),
                false,
            ),
            AccountMeta::new(escrow_address(&a.channel, &a.mint, a.token_program), false),
            AccountMeta::new_readonly(a.mint, false),
            AccountMeta::new_readonly(a.token_program.id(), false),
        ],
        data,
    }
}

/// `settleAndSeal`: the payee closes cooperatively; with `has_voucher` it must directly follow
/// [`ed25519_voucher_instruction`].
pub fn settle_and_seal(
    program: &Address,
    payee: &Address,
    channel: &Address,
    has_voucher: bool,
) -> Instruction {
    Instruction {
        program_id: *program,
        accounts: vec![
            AccountMeta::new_readonly(*payee, true),
            AccountMeta::new(*channel, false),
            AccountMeta::new_readonly(SYSVAR_INSTRUCTIONS, false),
        ],
        data: vec![disc::SETTLE_AND_SEAL, u8::from(has_voucher)],
    }
}

/// `requestClose`: the payer starts a forced close.
pub fn request_close(program: &Address, payer: &Address, channel: &Address) -> Instruction {
    Instruction {
        program_id: *program,
        accounts: vec![
            AccountMeta::new_readonly(*payer, true),
            AccountMeta::new(*channel, false),
        ],
        data: vec![disc::REQUEST_CLOSE],
    }
}

/// `seal`: anyone, once the grace period has passed.
pub fn seal(program: &Address, channel: &Address) -> Instruction {
    Instruction {
        program_id: *program,
        accounts: vec![AccountMeta::new(*channel, false)],
        data: vec![disc::SEAL],
    }
}

/// Who `distribute` pays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DistributeAccounts {
    /// The channel PDA.
    pub channel: Address,
    /// The channel payer.
    pub payer: Address,
    /// The channel payee.
    pub payee: Address,
    /// The channel rent payer.
    pub rent_payer: Address,
    /// The channel mint.
    pub mint: Address,
    /// The mint's token program.
    pub token_program: TokenProgram,
    /// The program's treasury owner (a deployment constant).
    pub treasury_owner: Address,
}

/// `distribute`: pays the split recipients and payee; from `Sealed` also refunds and closes.
pub fn distribute(
    program: &Address,
    a: &DistributeAccounts,
    splits: &[DistributionSplit],
) -> Instruction {
    let tp = a.token_program;
    let mut accounts = vec![
        AccountMeta::new(a.channel, false),
        AccountMeta::new(a.payer, false),
        AccountMeta::new(a.rent_payer, false),
        AccountMeta::new(escrow_address(&a.channel, &a.mint, tp), false),
        AccountMeta::new(associated_token_address(&a.payer, &a.mint, tp), false),
        AccountMeta::new(associated_token_address(&a.payee, &a.mint, tp), false),
        AccountMeta::new(
            associated_token_address(&a.treasury_owner, &a.mint, tp),
            false,
        ),
        AccountMeta::new_readonly(a.mint, false),
        AccountMeta::new_readonly(tp.id(), false),
        AccountMeta::new_readonly(event_authority(program), false),
        AccountMeta::new_readonly(*program, false),
    ];
    accounts.extend(
        splits
            .iter()
            .map(|s| AccountMeta::new(associated_token_address(&s.recipient, &a.mint, tp), false)),
    );
    let mut data = vec![disc::DISTRIBUTE];
    data.extend_from_slice(&splits::preimage(splits));
    Instruction {
        program_id: *program,
        accounts,
        data,
    }
}

/// `withdrawPayer`: the payer's refund from a `Sealed` channel.
pub fn withdraw_payer(program: &Address, a: &PayerAccounts) -> Instruction {
    Instruction {
        program_id: *program,
        accounts: vec![
            AccountMeta::new_readonly(a.payer, true),
            AccountMeta::new(a.channel, false),
            AccountMeta::new(escrow_address(&a.channel, &a.mint, a.token_program), false),
            AccountMeta::new(
                associated_token_address(&a.payer, &a.mint, a.token_program),
                false,
            ),
            AccountMeta::new_readonly(a.mint, false),
            AccountMeta::new_readonly(a.token_program.id(), false),
        ],
        data: vec![disc::WITHDRAW_PAYER],
    }
}

/// `reclaim`: anyone; returns a `Distributed` channel's rent to its rent payer.
pub fn reclaim(program: &Address, channel: &Address, rent_payer: &Address) -> Instruction {
    Instruction {
        program_id: *program,
        accounts: vec![
            AccountMeta::new(*channel, false),
            AccountMeta::new(*rent_payer, false),
        ],
        data: vec![disc::RECLAIM],
    }
}

/// Offsets of the canonical single-signature precompile layout.
const PUBKEY_OFFSET: u16 = 16;
const SIGNATURE_OFFSET: u16 = 48;
const MESSAGE_OFFSET: u16 = 112;
/// Length of the canonical voucher precompile instruction data.
pub const ED25519_VOUCHER_IX_LEN: usize = 162;

/// The canonical 162-byte Ed25519 precompile instruction verifying `signature` by `signer`
/// over the voucher bytes; every offset points into this instruction (`u16::MAX`).
pub fn ed25519_voucher_instruction(
    signer: &Address,
    signature: &Signature,
    voucher: &Voucher,
) -> Instruction {
    let mut data = Vec::with_capacity(ED25519_VOUCHER_IX_LEN);
    data.push(1); // one signature
    data.push(0); // padding
    for v in [
        SIGNATURE_OFFSET,
        u16::MAX,
        PUBKEY_OFFSET,
        u16::MAX,
        MESSAGE_OFFSET,
        Voucher::LEN as u16,
        u16::MAX,
    ] {
        data.extend_from_slice(&v.to_le_bytes());
    }
    data.extend_from_slice(signer.as_ref());
    data.extend_from_slice(signature.as_ref());
    data.extend_from_slice(&voucher.to_bytes());
    Instruction {
        program_id: ED25519_PROGRAM,
        accounts: vec![],
        data,
    }
}

/// The accounts of a decoded `open`, by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenKeys {
    /// 0: payer.
    pub payer: Address,
    /// 1: rent payer.
    pub rent_payer: Address,
    /// 2: payee.
    pub payee: Address,
    /// 3: mint.
    pub mint: Address,
    /// 4: authorized signer.
    pub authorized_signer: Address,
    /// 5: channel PDA.
    pub channel: Address,
    /// 6: payer token account.
    pub payer_token_account: Address,
    /// 7: escrow token account.
    pub channel_token_account: Address,
    /// 8: token program.
    pub token_program: Address,
    /// 9: system program.
    pub system_program: Address,
    /// 10: rent sysvar.
    pub rent: Address,
    /// 11: associated token program.
    pub associated_token_program: Address,
    /// 12: event authority.
    pub event_authority: Address,
    /// 13: the channel program itself.
    pub self_program: Address,
}

/// The accounts of a decoded `distribute`, by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DistributeKeys {
    /// 0: channel.
    pub channel: Address,
    /// 1: payer.
    pub payer: Address,
    /// 2: rent payer.
    pub rent_payer: Address,
    /// 3: escrow token account.
    pub channel_token_account: Address,
    /// 4: payer token account.
    pub payer_token_account: Address,
    /// 5: payee token account.
    pub payee_token_account: Address,
    /// 6: treasury token account.
    pub treasury_token_account: Address,
    /// 7: mint.
    pub mint: Address,
    /// 8: token program.
    pub token_program: Address,
    /// 9: event authority.
    pub event_authority: Address,
    /// 10: the channel program itself.
    pub self_program: Address,
    /// 11..: recipient token accounts, in split order.
    pub recipient_token_accounts: Vec<Address>,
}

/// The token-moving accounts of `topUp` and `withdrawPayer`, by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenKeys {
    /// The payer.
    pub payer: Address,
    /// The channel.
    pub channel: Address,
    /// The payer's token account.
    pub payer_token_account: Address,
    /// The escrow token account.
    pub channel_token_account: Address,
    /// The mint.
    pub mint: Address,
    /// The token program.
    pub token_program: Address,
}

/// A decoded channel instruction with its arguments and named accounts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChannelInstruction {
    /// `open`.
    Open {
        /// Arguments.
        args: OpenArgs,
        /// Accounts.
        keys: Box<OpenKeys>,
    },
    /// `settle`.
    Settle {
        /// The channel.
        channel: Address,
        /// The Instructions sysvar account given.
        instructions_sysvar: Address,
    },
    /// `topUp`.
    TopUp {
        /// Amount added.
        amount: u64,
        /// Accounts.
        keys: TokenKeys,
    },
    /// `settleAndSeal`.
    SettleAndSeal {
        /// Whether a voucher is applied.
        has_voucher: bool,
        /// The payee (signer).
        payee: Address,
        /// The channel.
        channel: Address,
        /// The Instructions sysvar account given.
        instructions_sysvar: Address,
    },
    /// `requestClose`.
    RequestClose {
        /// The payer (signer).
        payer: Address,
        /// The channel.
        channel: Address,
    },
    /// `seal`.
    Seal {
        /// The channel.
        channel: Address,
    },
    /// `distribute`.
    Distribute {
        /// The revealed splits.
        splits: Vec<DistributionSplit>,
        /// Accounts.
        keys: Box<DistributeKeys>,
    },
    /// `withdrawPayer`. `keys.payer_token_account` is the refund destination.
    WithdrawPayer {
        /// Accounts (escrow is the source).
        keys: TokenKeys,
    },
    /// `reclaim`.
    Reclaim {
        /// The channel.
        channel: Address,
        /// The rent payer.
        rent_payer: Address,
    },
}

/// Why an instruction is not a well-formed channel instruction.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Not addressed to the expected channel program.
    #[error("instruction is for program {got}, not the channel program {expected}")]
    WrongProgram {
        /// The configured channel program.
        expected: Address,
        /// The instruction's program.
        got: Address,
    },
    /// No data at all.
    #[error("empty instruction data")]
    Empty,
    /// An unknown discriminator.
    #[error("unknown channel instruction {0}")]
    UnknownDiscriminator(u8),
    /// Data of the wrong length for the instruction.
    #[error("{name}: instruction data is {got} bytes, expected {expected}")]
    DataLength {
        /// The instruction.
        name: &'static str,
        /// Bytes expected (after the discriminator).
        expected: usize,
        /// Bytes given (after the discriminator).
        got: usize,
    },
    /// Wrong number of accounts.
    #[error("{name}: {got} accounts, expected {expected}")]
    AccountCount {
        /// The instruction.
        name: &'static str,
        /// Accounts expected.
        expected: usize,
        /// Accounts given.
        got: usize,
    },
    /// The splits preimage is malformed.
    #[error("splits: {0}")]
    Splits(#[from] SplitsError),
    /// No instruction at that index in the message.
    #[error("the message has no instruction {0}")]
    NoSuchInstruction(usize),
    /// An account index outside the message's static keys (an address-lookup-table entry,
    /// which cannot be resolved without the table, or a malformed message).
    #[error("instruction account index {0} is not a static key of the message")]
    UnresolvedAccount(usize),
}

fn exact(
    name: &'static str,
    accounts: &[AccountMeta],
    n: usize,
) -> Result<Vec<Address>, DecodeError> {
    if accounts.len() != n {
        return Err(DecodeError::AccountCount {
            name,
            expected: n,
            got: accounts.len(),
        });
    }
    Ok(accounts.iter().map(|m| m.pubkey).collect())
}

fn no_data(name: &'static str, rest: &[u8], n: usize) -> Result<(), DecodeError> {
    if rest.len() != n {
        return Err(DecodeError::DataLength {
            name,
            expected: n,
            got: rest.len(),
        });
    }
    Ok(())
}

fn le_u64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_le_bytes(a)
}

fn token_keys(k: &[Address], order: [usize; 6]) -> TokenKeys {
    TokenKeys {
        payer: k[order[0]],
        channel: k[order[1]],
        payer_token_account: k[order[2]],
        channel_token_account: k[order[3]],
        mint: k[order[4]],
        token_program: k[order[5]],
    }
}

/// Decodes a channel instruction addressed to `program` (the configured channel program).
/// Account counts and data lengths are exact, as the program enforces them; signer and
/// writable flags are the caller's to check on the `AccountMeta`s.
pub fn decode_instruction(
    program: &Address,
    program_id: &Address,
    accounts: &[AccountMeta],
    data: &[u8],
) -> Result<ChannelInstruction, DecodeError> {
    if program_id != program {
        return Err(DecodeError::WrongProgram {
            expected: *program,
            got: *program_id,
        });
    }
    let (d, rest) = data.split_first().ok_or(DecodeError::Empty)?;
    Ok(match *d {
        disc::OPEN => {
            if rest.len() < 32 {
                return Err(DecodeError::DataLength {
                    name: "open",
                    expected: 32,
                    got: rest.len(),
                });
            }
            let k = exact("open", accounts, 14)?;
            let args = OpenArgs {
                salt: le_u64(&rest[0..]),
                deposit: le_u64(&rest[8..]),
                grace_period: u32::from_le_bytes([rest[16], rest[17], rest[18], rest[19]]),
                open_slot: le_u64(&rest[20..]),
                splits: splits::parse_preimage(&rest[28..])?,
            };
            ChannelInstruction::Open {
                args,
                keys: Box::new(OpenKeys {
                    payer: k[0],
                    rent_payer: k[1],
                    payee: k[2],
                    mint: k[3],
                    authorized_signer: k[4],
                    channel: k[5],
                    payer_token_account: k[6],
                    channel_token_account: k[7],
                    token_program: k[8],
                    system_program: k[9],
                    rent: k[10],
                    associated_token_program: k[11],
                    event_authority: k[12],
                    self_program: k[13],
                }),
            }
        }
        disc::SETTLE => {
            no_data("settle", rest, 0)?;
            let k = exact("settle", accounts, 2)?;
            ChannelInstruction::Settle {
                channel: k[0],
                instructions_sysvar: k[1],
            }
        }
        disc::TOP_UP => {
            no_data("topUp", rest, 8)?;
            let k = exact("topUp", accounts, 6)?;
            ChannelInstruction::TopUp {
                amount: le_u64(rest),
                keys: token_keys(&k, [0, 1, 2, 3, 4, 5]),
            }
        }
        disc::SETTLE_AND_SEAL => {
            no_data("settleAndSeal", rest, 1)?;
            let k = exact("settleAndSeal", accounts, 3)?;
            ChannelInstruction::SettleAndSeal {
                has_voucher: rest[0] != 0,
                payee: k[0],
                channel: k[1],
                instructions_sysvar: k[2],
            }
        }
        disc::REQUEST_CLOSE => {
            no_data("requestClose", rest, 0)?;
            let k = exact("requestClose", accounts, 2)?;
            ChannelInstruction::RequestClose {
                payer: k[0],
                channel: k[1],
            }
        }
        disc::SEAL => {
            no_data("seal", rest, 0)?;
            let k = exact("seal", accounts, 1)?;
            ChannelInstruction::Seal { channel: k[0] }
        }
        disc::DISTRIBUTE => {
            let splits = splits::parse_preimage(rest)?;
            let k = exact("distribute", accounts, 11 + splits.len())?;
            ChannelInstruction::Distribute {
                keys: Box::new(DistributeKeys {
                    channel: k[0],
                    payer: k[1],
                    rent_payer: k[2],
                    channel_token_account: k[3],
                    payer_token_account: k[4],
                    payee_token_account: k[5],
                    treasury_token_account: k[6],
                    mint: k[7],
                    token_program: k[8],
                    event_authority: k[9],
                    self_program: k[10],
                    recipient_token_accounts: k[11..].to_vec(),
                }),
                splits,
            }
        }
        disc::WITHDRAW_PAYER => {
            no_data("withdrawPayer", rest, 0)?;
            let k = exact("withdrawPayer", accounts, 6)?;
            ChannelInstruction::WithdrawPayer {
                keys: token_keys(&k, [0, 1, 3, 2, 4, 5]),
            }
        }
        disc::RECLAIM => {
            no_data("reclaim", rest, 0)?;
            let k = exact("reclaim", accounts, 2)?;
            ChannelInstruction::Reclaim {
                channel: k[0],
                rent_payer: k[1],
            }
        }
        other => return Err(DecodeError::UnknownDiscriminator(other)),
    })
}

/// Decodes instruction `index` of a transaction message, as a server verifying a client-built
/// open or topUp transaction sees it. Signer and writable flags come from the message header.
/// Accounts loaded through address lookup tables are refused ([`DecodeError::UnresolvedAccount`]).
pub fn decode_message_instruction(
    program: &Address,
    message: &solana_message::VersionedMessage,
    index: usize,
) -> Result<ChannelInstruction, DecodeError> {
    let keys = message.static_account_keys();
    let ix = message
        .instructions()
        .get(index)
        .ok_or(DecodeError::NoSuchInstruction(index))?;
    let key = |i: usize| {
        keys.get(i)
            .copied()
            .ok_or(DecodeError::UnresolvedAccount(i))
    };
    let program_id = key(usize::from(ix.program_id_index))?;
    let metas = ix
        .accounts
        .iter()
        .map(|&i| {
            let i = usize::from(i);
            let pubkey = key(i)?;
            let writable = message.is_maybe_writable_with_reserved_addresses(
                i,
                None::<&std::collections::BTreeSet<Address>>,
            );
            Ok(AccountMeta {
                pubkey,
                is_signer: message.is_signer(i),
                is_writable: writable,
            })
        })
        .collect::<Result<Vec<_>, DecodeError>>()?;
    decode_instruction(program, &program_id, &metas, &ix.data)
}

/// [`decode_instruction`] for a whole [`Instruction`].
pub fn decode(program: &Address, ix: &Instruction) -> Result<ChannelInstruction, DecodeError> {
    decode_instruction(program, &ix.program_id, &ix.accounts, &ix.data)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channel::DEV_CHANNEL_PROGRAM_ID as P;
    use solana_keypair::Keypair;
    use solana_signer::Signer;

    fn a(b: u8) -> Address {
        Address::new_from_array([b; 32])
    }

    fn parties() -> OpenParties {
        OpenParties {
            payer: a(1),
            rent_payer: a(2),
            payee: a(3),
            mint: a(4),
            authorized_signer: a(5),
            token_program: TokenProgram::Token,
        }
    }

    #[test]
    fn open_round_trips_through_the_decoder() {
        let args = OpenArgs {
            salt: 42,
            deposit: 1_000_000,
            grace_period: 900,
            open_slot: 123,
            splits: vec![DistributionSplit {
                recipient: a(9),
                share_bps: 500,
            }],
        };
        let ix = open(&P, &parties(), &args);
        assert_eq!(ix.data.len(), 1 + 28 + 4 + 34);
        assert_eq!(ix.accounts.len(), 14);
        assert!(ix.accounts[0].is_signer && ix.accounts[1].is_signer);
        let ChannelInstruction::Open { args: got, keys } = decode(&P, &ix).unwrap() else {
            panic!("not open")
        };
        assert_eq!(got, args);
        let (channel, _) = find_channel_address(&P, &parties().seeds(&args));
        assert_eq!(keys.channel, channel);
        assert_eq!(
            keys.channel_token_account,
            escrow_address(&channel, &a(4), TokenProgram::Token)
        );
        assert_eq!(keys.self_program, P);
    }

    #[test]
    fn decoder_refuses_malformed_instructions() {
        let ix = settle(&P, &a(7));
        assert_eq!(
            decode(&a(8), &ix),
            Err(DecodeError::WrongProgram {
                expected: a(8),
                got: P
            })
        );
        let mut extra = ix.clone();
        extra.accounts.push(AccountMeta::new(a(1), false));
        assert!(matches!(
            decode(&P, &extra),
            Err(DecodeError::AccountCount {
                expected: 2,
                got: 3,
                ..
            })
        ));
        let mut long = ix.clone();
        long.data.push(0);
        assert!(matches!(
            decode(&P, &long),
            Err(DecodeError::DataLength { .. })
        ));
        let mut unknown = ix;
        unknown.data = vec![99];
        assert_eq!(
            decode(&P, &unknown),
            Err(DecodeError::UnknownDiscriminator(99))
        );
        let d = distribute(
            &P,
            &DistributeAccounts {
                channel: a(1),
                payer: a(2),
                payee: a(3),
                rent_payer: a(4),
                mint: a(5),
                token_program: TokenProgram::Token2022,
                treasury_owner: a(6),
            },
            &[DistributionSplit {
                recipient: a(9),
                share_bps: 1,
            }],
        );
        assert_eq!(d.accounts.len(), 12);
        let mut short = d.clone();
        short.accounts.pop();
        assert!(matches!(
            decode(&P, &short),
            Err(DecodeError::AccountCount {
                expected: 12,
                got: 11,
                ..
            })
        ));
        assert!(matches!(
            decode(&P, &d),
            Ok(ChannelInstruction::Distribute { .. })
        ));
    }

    #[test]
    fn every_builder_decodes_to_its_variant() {
        let pa = PayerAccounts {
            payer: a(1),
            channel: a(2),
            mint: a(3),
            token_program: TokenProgram::Token,
        };
        assert!(matches!(
            decode(&P, &top_up(&P, &pa, 5)),
            Ok(ChannelInstruction::TopUp { amount: 5, .. })
        ));
        assert!(matches!(
            decode(&P, &settle_and_seal(&P, &a(3), &a(2), true)),
            Ok(ChannelInstruction::SettleAndSeal {
                has_voucher: true,
                ..
            })
        ));
        assert!(matches!(
            decode(&P, &request_close(&P, &a(1), &a(2))),
            Ok(ChannelInstruction::RequestClose { .. })
        ));
        assert!(matches!(
            decode(&P, &seal(&P, &a(2))),
            Ok(ChannelInstruction::Seal { .. })
        ));
        let Ok(ChannelInstruction::WithdrawPayer { keys }) = decode(&P, &withdraw_payer(&P, &pa))
        else {
            panic!("not withdrawPayer")
        };
        assert_eq!(
            keys.payer_token_account,
            associated_token_address(&a(1), &a(3), TokenProgram::Token)
        );
        assert!(matches!(
            decode(&P, &reclaim(&P, &a(2), &a(4))),
            Ok(ChannelInstruction::Reclaim { .. })
        ));
    }

    #[test]
    fn decodes_an_open_inside_a_signed_transaction_message() {
        let args = OpenArgs {
            salt: 1,
            deposit: 5,
            grace_period: 60,
            open_slot: 9,
            splits: vec![],
        };
        let ix = open(&P, &parties(), &args);
        let message =
            solana_message::Message::new(std::slice::from_ref(&ix), Some(&parties().rent_payer));
        let versioned = solana_message::VersionedMessage::Legacy(message);
        let decoded = decode_message_instruction(&P, &versioned, 0).unwrap();
        assert_eq!(decoded, decode(&P, &ix).unwrap());
        assert_eq!(
            decode_message_instruction(&P, &versioned, 1),
            Err(DecodeError::NoSuchInstruction(1))
        );
    }

    #[test]
    fn ed25519_instruction_is_the_canonical_162_bytes() {
        let kp = Keypair::new();
        let v = Voucher {
            channel_id: a(2),
            cumulative_amount: 10,
            expires_at: 0,
        };
        let sig = v.sign(&kp);
        let ix = ed25519_voucher_instruction(&kp.pubkey(), &sig, &v);
        assert_eq!(ix.data.len(), 162);
        assert_eq!(ix.program_id, ED25519_PROGRAM);
        assert_eq!(&ix.data[..2], &[1, 0]);
        assert_eq!(&ix.data[12..14], &50u16.to_le_bytes());
        assert_eq!(&ix.data[16..48], kp.pubkey().as_ref());
        assert_eq!(&ix.data[48..112], sig.as_ref());
        assert_eq!(&ix.data[112..], &v.to_bytes());
    }
}
