//! Charge payments made through the spending-policy program or by any program through the
//! payments program (`docs/005-policy-wallets.md`).
//!
//! Pull: the only value-moving instruction is the configured policy program's `payWithReceipt`
//! (compute-budget instructions may precede it). Its accounts and data are checked against the
//! challenge, the server's fee payer appears in none of its accounts, and the receipt it creates
//! is the challenge's, so the landed payment is bound to this challenge and no other.
//!
//! Push: whatever program paid, the receipt PDA of the challenge must be written by the
//! presented transaction and pay the server; the balance change is then checked as usual.

use solana_address::Address;
use solana_transaction::versioned::VersionedTransaction;

use super::instructions::{Decoded, decode};
use super::{
    AllowlistContext, ChargeTerms, CheckedPayment, Envelope, MatchedLeg, PullPolicy,
    check_allowlist, check_envelope,
};
use crate::charge::request::Currency;
use crate::error::VerifyError;
use crate::policy::ix::disc;
use crate::policy::{PaymentReceipt, challenge_hash, find_receipt_address, find_wallet_address};
use crate::token::{MEMO_PROGRAM, SYSTEM_PROGRAM, TokenProgram, associated_token_address};

/// The programs a server accepts payments through (configuration; dev ids on localnet).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReceiptPrograms {
    /// The spending-policy program whose `payWithReceipt` a pull transaction may call.
    pub policy: Option<Address>,
    /// The payments program that writes receipts.
    pub payments: Address,
}

/// `payWithReceipt` account positions.
mod at {
    pub const AGENT: usize = 0;
    pub const OWNER: usize = 1;
    pub const WALLET: usize = 2;
    pub const RECIPIENT: usize = 4;
    pub const RECIPIENT_ATA: usize = 5;
    pub const MINT: usize = 6;
    pub const TOKEN_PROGRAM: usize = 7;
    pub const MEMO_PROGRAM: usize = 8;
    pub const PAYMENTS_PROGRAM: usize = 9;
    pub const RECEIPT: usize = 10;
    pub const SYSTEM_PROGRAM: usize = 11;
    pub const COUNT: usize = 12;
}

/// `disc ‖ amount ‖ nonce ‖ category ‖ challenge_hash`, then the memo.
const PAY_WITH_RECEIPT_HEAD: usize = 1 + 8 + 8 + 1 + 32;

/// Whether `tx` calls the policy program (the server then verifies it with
/// [`check_policy_pull_transaction`]).
pub fn calls_program(tx: &VersionedTransaction, program: &Address) -> bool {
    let keys = tx.message.static_account_keys();
    tx.message
        .instructions()
        .iter()
        .any(|ix| keys.get(usize::from(ix.program_id_index)) == Some(program))
}

/// The token mint and program a receipt payment needs; SOL and fee-bearing Token-2022 mints
/// cannot be paid this way (the policy counts the gross amount, the receipt records it).
fn token_asset(
    terms: &ChargeTerms<'_>,
    index: usize,
) -> Result<(Address, TokenProgram), VerifyError> {
    let asset = terms.asset()?;
    match (asset.currency, asset.program) {
        (Currency::Mint(mint), Some(p)) if asset.fee == crate::token::TransferFee::NONE => {
            Ok((mint, p))
        }
        _ => Err(VerifyError::WrongAsset { index }),
    }
}

/// The single leg a receipt payment can pay (splits need several transfers).
fn single_leg(terms: &ChargeTerms<'_>) -> Result<crate::charge::request::Leg, VerifyError> {
    let legs = terms.request.legs()?;
    match legs.as_slice() {
        [leg] => Ok(*leg),
        _ => Err(VerifyError::Receipt(
            "a payment with a receipt pays one recipient; this challenge has splits".into(),
        )),
    }
}

/// Checks a client-signed pull transaction that pays through the policy program's
/// `payWithReceipt`, before the server co-signs and broadcasts it.
pub fn check_policy_pull_transaction(
    tx: &VersionedTransaction,
    terms: &ChargeTerms<'_>,
    policy: &PullPolicy,
    programs: &ReceiptPrograms,
    challenge_id: &str,
) -> Result<CheckedPayment, VerifyError> {
    let Envelope {
        keys,
        n_signers,
        fee_payer,
        sponsor,
    } = check_envelope(tx, terms, policy)?;
    let policy_program = programs
        .policy
        .ok_or_else(|| VerifyError::Receipt("this server accepts no policy program".into()))?;
    let mut pay = None;
    let mut budget = Vec::new();
    for (index, ix) in tx.message.instructions().iter().enumerate() {
        let program = *keys
            .get(usize::from(ix.program_id_index))
            .ok_or(VerifyError::MalformedTransaction)?;
        if program == policy_program {
            if pay.replace((index, ix)).is_some() {
                return Err(VerifyError::InstructionNotAllowed { index, program });
            }
            continue;
        }
        match decode(keys, ix)? {
            d @ (Decoded::ComputeUnitLimit(_) | Decoded::ComputeUnitPrice(_)) => budget.push(d),
            Decoded::Other { program } => {
                return Err(VerifyError::InstructionNotAllowed { index, program });
            }
            _ => return Err(VerifyError::InstructionNotAllowed { index, program }),
        }
    }
    let asset = terms.asset()?;
    let is_signer = |a: &Address| keys[..n_signers].contains(a);
    check_allowlist(
        &budget,
        &AllowlistContext {
            terms,
            asset: &asset,
            policy,
            fee_payer,
            sponsor,
            is_signer: &is_signer,
        },
    )?;
    let Some((index, ix)) = pay else {
        return Err(VerifyError::MissingTransfer {
            recipient: terms.request.recipient,
            amount: terms.request.amount.get(),
        });
    };
    let accounts = ix
        .accounts
        .iter()
        .map(|i| keys.get(usize::from(*i)).copied())
        .collect::<Option<Vec<Address>>>()
        .ok_or(VerifyError::MalformedTransaction)?;
    let data = &ix.data;
    if accounts.len() != at::COUNT
        || data.len() < PAY_WITH_RECEIPT_HEAD
        || data[0] != disc::PAY_WITH_RECEIPT
    {
        return Err(VerifyError::InstructionNotAllowed {
            index,
            program: policy_program,
        });
    }
    // The server's key signs and pays fees, nothing else: not the agent, the owner (its
    // signature would approve an escalation), the rent payer or a token account. It may be the
    // recipient (the server paying itself), which the program only reads as the counterparty.
    if sponsor.is_some_and(|s| {
        accounts
            .iter()
            .enumerate()
            .any(|(i, a)| *a == s && i != at::RECIPIENT)
    }) {
        return Err(VerifyError::FeePayerInInstruction { index });
    }
    let agent = accounts[at::AGENT];
    let owner = accounts[at::OWNER];
    if !is_signer(&agent) {
        return Err(VerifyError::UnsignedAuthority { index });
    }
    let wallet = find_wallet_address(&policy_program, &owner, &agent).0;
    if accounts[at::WALLET] != wallet {
        return Err(VerifyError::UnsignedAuthority { index });
    }
    let (mint, token_program) = token_asset(terms, index)?;
    let leg = single_leg(terms)?;
    let destination = associated_token_address(&leg.recipient, &mint, token_program);
    let amount = u64::from_le_bytes(
        data[1..9]
            .try_into()
            .map_err(|_| VerifyError::MalformedTransaction)?,
    );
    if accounts[at::RECIPIENT] != leg.recipient
        || accounts[at::RECIPIENT_ATA] != destination
        || amount != leg.amount
    {
        return Err(VerifyError::MissingTransfer {
            recipient: leg.recipient,
            amount: leg.amount,
        });
    }
    if accounts[at::MINT] != mint
        || accounts[at::TOKEN_PROGRAM] != token_program.id()
        || accounts[at::MEMO_PROGRAM] != MEMO_PROGRAM
        || accounts[at::SYSTEM_PROGRAM] != SYSTEM_PROGRAM
    {
        return Err(VerifyError::WrongAsset { index });
    }
    let hash = challenge_hash(challenge_id);
    if data[18..50] != hash
        || accounts[at::PAYMENTS_PROGRAM] != programs.payments
        || accounts[at::RECEIPT] != find_receipt_address(&programs.payments, &hash).0
    {
        return Err(VerifyError::Receipt(
            "the payment's receipt is not this challenge's".into(),
        ));
    }
    let memo = &data[PAY_WITH_RECEIPT_HEAD..];
    if let Some(ext) = &terms.request.external_id
        && memo != ext.as_bytes()
    {
        return Err(VerifyError::MemoMismatch);
    }
    Ok(CheckedPayment {
        payer: wallet,
        legs: vec![MatchedLeg {
            leg,
            destination,
            instruction: index,
        }],
        // The receipt binds it to the challenge more strongly than a reference key.
        bound_to_reference: true,
    })
}

/// Checks a landed push payment made by any program through the payments program: the
/// transaction lists the challenge's receipt account, and the receipt (read by the caller
/// after landing: `receipt_owner`, `receipt_data`) pays the challenge's recipient at least its
/// amount. Returns the leg whose balance change the caller then checks with
/// [`super::settled::check_settled`].
pub fn check_receipt_payment(
    tx: &VersionedTransaction,
    terms: &ChargeTerms<'_>,
    programs: &ReceiptPrograms,
    challenge_id: &str,
    receipt_owner: &Address,
    receipt_data: &[u8],
) -> Result<CheckedPayment, VerifyError> {
    if terms.request.sponsor().is_some() {
        return Err(VerifyError::PushNotAllowedWhenSponsored);
    }
    let hash = challenge_hash(challenge_id);
    let receipt_address = find_receipt_address(&programs.payments, &hash).0;
    let keys = tx.message.static_account_keys();
    if !keys.contains(&receipt_address) {
        return Err(VerifyError::Receipt(
            "the transaction does not write this challenge's receipt".into(),
        ));
    }
    if *receipt_owner != programs.payments {
        return Err(VerifyError::Receipt(
            "the receipt account is not the payments program's".into(),
        ));
    }
    let (mint, token_program) = token_asset(terms, 0)?;
    let leg = single_leg(terms)?;
    let receipt =
        PaymentReceipt::decode(receipt_data).map_err(|e| VerifyError::Receipt(e.to_string()))?;
    receipt
        .verify(challenge_id, &leg.recipient, &mint, leg.amount)
        .map_err(|e| VerifyError::Receipt(e.to_string()))?;
    let destination = associated_token_address(&leg.recipient, &mint, token_program);
    if receipt.destination != destination || !keys.contains(&destination) {
        return Err(VerifyError::MissingTransfer {
            recipient: leg.recipient,
            amount: leg.amount,
        });
    }
    Ok(CheckedPayment {
        payer: receipt.payer,
        legs: vec![MatchedLeg {
            leg,
            destination,
            instruction: 0,
        }],
        bound_to_reference: true,
    })
}
