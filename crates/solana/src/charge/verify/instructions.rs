//! Decodes the compiled instructions a charge transaction may contain into typed values; every
//! other instruction is `Other` and the allowlist refuses it.

use solana_address::Address;
use solana_message::compiled_instruction::CompiledInstruction;

use crate::error::VerifyError;
use crate::token::{
    ATA_PROGRAM, COMPUTE_BUDGET_PROGRAM, MEMO_PROGRAM, MEMO_V1_PROGRAM, SYSTEM_PROGRAM,
    TokenProgram,
};

/// One decoded instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded {
    /// ComputeBudget `SetComputeUnitLimit`.
    ComputeUnitLimit(u32),
    /// ComputeBudget `SetComputeUnitPrice` (micro-lamports).
    ComputeUnitPrice(u64),
    /// Any other ComputeBudget instruction.
    OtherComputeBudget,
    /// System `Transfer`.
    SystemTransfer {
        /// Funding account.
        from: Address,
        /// Receiving account.
        to: Address,
        /// Lamports.
        lamports: u64,
        /// Accounts beyond the two the instruction uses (a reference key).
        extra: Vec<Address>,
    },
    /// Token / Token-2022 `TransferChecked`.
    TransferChecked {
        /// Which token program.
        program: TokenProgram,
        /// Source token account.
        source: Address,
        /// Mint.
        mint: Address,
        /// Destination token account.
        destination: Address,
        /// Owner or delegate of the source.
        authority: Address,
        /// Base units debited from the source.
        amount: u64,
        /// Decimals asserted.
        decimals: u8,
        /// Accounts beyond the four (multisig signers or a reference key).
        extra: Vec<Address>,
    },
    /// Associated Token Account `CreateIdempotent`.
    CreateAtaIdempotent {
        /// Pays the rent.
        payer: Address,
        /// The account created.
        ata: Address,
        /// Its owner.
        owner: Address,
        /// Its mint.
        mint: Address,
        /// System program account passed.
        system_program: Address,
        /// Token program account passed.
        token_program: Address,
    },
    /// SPL Memo (v1 or v2).
    Memo {
        /// The memo bytes.
        data: Vec<u8>,
        /// Accounts listed (they must sign).
        signers: Vec<Address>,
    },
    /// Anything else.
    Other {
        /// Its program.
        program: Address,
    },
}

/// Resolves an instruction's program and accounts against the message's static keys.
pub fn decode(keys: &[Address], ix: &CompiledInstruction) -> Result<Decoded, VerifyError> {
    let key = |i: u8| {
        keys.get(usize::from(i))
            .copied()
            .ok_or(VerifyError::MalformedTransaction)
    };
    let program = key(ix.program_id_index)?;
    let accounts = ix
        .accounts
        .iter()
        .map(|i| key(*i))
        .collect::<Result<Vec<_>, _>>()?;
    let d = &ix.data;
    let out = if program == COMPUTE_BUDGET_PROGRAM {
        match (d.first(), d.len()) {
            (Some(2), 5) => Decoded::ComputeUnitLimit(u32::from_le_bytes(arr(&d[1..5]))),
            (Some(3), 9) => Decoded::ComputeUnitPrice(u64::from_le_bytes(arr(&d[1..9]))),
            _ => Decoded::OtherComputeBudget,
        }
    } else if program == SYSTEM_PROGRAM {
        // bincode SystemInstruction::Transfer = u32 LE 2, then u64 LE lamports.
        if d.len() == 12 && d[..4] == [2, 0, 0, 0] && accounts.len() >= 2 {
            Decoded::SystemTransfer {
                from: accounts[0],
                to: accounts[1],
                lamports: u64::from_le_bytes(arr(&d[4..12])),
                extra: accounts[2..].to_vec(),
            }
        } else {
            Decoded::Other { program }
        }
    } else if let Some(tp) = TokenProgram::from_id(&program) {
        if d.len() == 10 && d[0] == 12 && accounts.len() >= 4 {
            Decoded::TransferChecked {
                program: tp,
                source: accounts[0],
                mint: accounts[1],
                destination: accounts[2],
                authority: accounts[3],
                amount: u64::from_le_bytes(arr(&d[1..9])),
                decimals: d[9],
                extra: accounts[4..].to_vec(),
            }
        } else {
            Decoded::Other { program }
        }
    } else if program == ATA_PROGRAM {
        if d.as_slice() == [1] && accounts.len() == 6 {
            Decoded::CreateAtaIdempotent {
                payer: accounts[0],
                ata: accounts[1],
                owner: accounts[2],
                mint: accounts[3],
                system_program: accounts[4],
                token_program: accounts[5],
            }
        } else {
            Decoded::Other { program }
        }
    } else if program == MEMO_PROGRAM || program == MEMO_V1_PROGRAM {
        Decoded::Memo {
            data: d.clone(),
            signers: accounts,
        }
    } else {
        Decoded::Other { program }
    };
    Ok(out)
}

fn arr<const N: usize>(s: &[u8]) -> [u8; N] {
    let mut a = [0u8; N];
    a.copy_from_slice(s);
    a
}
