//! Server side: the rules a charge transaction must pass, as pure functions over decoded
//! values. Chain reads (mint program, transfer fee) and writes (co-sign, send) belong to the
//! caller.
//!
//! Pull mode is strict, because the server signs and pays for what it broadcasts: no lookup
//! tables, the fee payer exactly where the challenge says and nowhere else, only allowlisted
//! instructions, bounded compute budget and signers, every transfer paying exactly one leg.
//! Push mode only needs the legs present in a transaction that succeeded, plus (by default)
//! our reference key binding it to the challenge.

pub mod instructions;
pub mod legs;
pub mod policy;
pub mod settled;

use solana_address::Address;
use solana_signature::Signature;
use solana_signer::Signer;
use solana_transaction::versioned::VersionedTransaction;

use crate::charge::request::{ChargeRequest, Currency};
use crate::error::VerifyError;
use crate::token::{SYSTEM_PROGRAM, TokenProgram, TransferFee, associated_token_address};
use instructions::{Decoded, decode};
pub use legs::{Asset, MatchedLeg};

#[cfg(test)]
mod tests;

/// Limits a server puts on what its fee payer will sign.
#[derive(Debug, Clone)]
pub struct PullPolicy {
    /// Highest `SetComputeUnitLimit` accepted.
    pub max_compute_unit_limit: u32,
    /// Highest `SetComputeUnitPrice` accepted (micro-lamports per CU); the priority fee is
    /// `limit × price / 10^6` lamports, paid by the fee payer when sponsored.
    pub max_compute_unit_price: u64,
    /// Most signatures accepted (each costs the fee payer 5,000 lamports when sponsored).
    pub max_signers: usize,
}

impl Default for PullPolicy {
    fn default() -> Self {
        Self {
            max_compute_unit_limit: 400_000,
            max_compute_unit_price: 1_000_000,
            max_signers: 2,
        }
    }
}

/// What the server resolved about the challenge it issued.
#[derive(Debug, Clone)]
pub struct ChargeTerms<'a> {
    /// The echoed (HMAC-verified) request.
    pub request: &'a ChargeRequest,
    /// The mint's token program, resolved (the request's, or the mint owner's).
    pub token_program: Option<TokenProgram>,
    /// The mint's Token-2022 transfer fee in force.
    pub transfer_fee: TransferFee,
    /// The server's fee-payer key, whether or not this challenge is sponsored: in an
    /// unsponsored transaction it must not appear at all.
    pub server_fee_payer: Option<Address>,
}

impl ChargeTerms<'_> {
    pub(crate) fn asset(&self) -> Result<Asset, VerifyError> {
        let currency = self.request.currency()?;
        let program = match currency {
            Currency::Sol => None,
            Currency::Mint(_) => Some(self.request.token_program().or(self.token_program).ok_or(
                VerifyError::MalformedPayload("token program unknown".into()),
            )?),
        };
        Ok(Asset {
            currency,
            program,
            decimals: self.request.method_details.decimals.unwrap_or_default(),
            fee: if program == Some(TokenProgram::Token2022) {
                self.transfer_fee
            } else {
                TransferFee::NONE
            },
        })
    }
}

/// A transaction that passed the checks.
#[derive(Debug, Clone)]
pub struct CheckedPayment {
    /// Who authorised the primary transfer (the payer).
    pub payer: Address,
    /// Each leg and where it lands.
    pub legs: Vec<MatchedLeg>,
    /// Whether the primary transfer carries the challenge's reference key.
    pub bound_to_reference: bool,
}

/// Checks a client-signed pull transaction before the server co-signs and broadcasts it.
pub fn check_pull_transaction(
    tx: &VersionedTransaction,
    terms: &ChargeTerms<'_>,
    policy: &PullPolicy,
) -> Result<CheckedPayment, VerifyError> {
    let Envelope {
        keys,
        n_signers,
        fee_payer,
        sponsor,
    } = check_envelope(tx, terms, policy)?;
    let msg = &tx.message;
    let decoded = msg
        .instructions()
        .iter()
        .map(|ix| decode(keys, ix))
        .collect::<Result<Vec<_>, _>>()?;
    let asset = terms.asset()?;
    let is_signer = |a: &Address| keys[..n_signers].contains(a);
    let ctx = AllowlistContext {
        terms,
        asset: &asset,
        policy,
        fee_payer,
        sponsor,
        is_signer: &is_signer,
    };
    check_allowlist(&decoded, &ctx)?;
    let legs = legs::match_legs(terms.request, &asset, &decoded, true)?;
    finish(terms, &decoded, legs)
}

/// What the envelope checks resolved.
pub(crate) struct Envelope<'t> {
    pub(crate) keys: &'t [Address],
    pub(crate) n_signers: usize,
    pub(crate) fee_payer: Address,
    pub(crate) sponsor: Option<Address>,
}

/// The rules every pull transaction meets whatever it pays with: legacy or v0 without lookup
/// tables, the fee payer where the challenge says (and the server key absent when not
/// sponsored), bounded signers, every present signature valid.
pub(crate) fn check_envelope<'t>(
    tx: &'t VersionedTransaction,
    terms: &ChargeTerms<'_>,
    policy: &PullPolicy,
) -> Result<Envelope<'t>, VerifyError> {
    let msg = &tx.message;
    if !matches!(
        msg,
        solana_message::VersionedMessage::Legacy(_) | solana_message::VersionedMessage::V0(_)
    ) {
        return Err(VerifyError::MalformedTransaction);
    }
    if msg.address_table_lookups().is_some_and(|l| !l.is_empty()) {
        return Err(VerifyError::AddressLookupTable);
    }
    let keys = msg.static_account_keys();
    let fee_payer = *keys.first().ok_or(VerifyError::MalformedTransaction)?;
    let sponsor = terms.request.sponsor();
    match sponsor {
        Some(expected) if expected != fee_payer => {
            return Err(VerifyError::FeePayerMismatch {
                expected,
                found: fee_payer,
            });
        }
        None if terms.server_fee_payer.is_some_and(|s| keys.contains(&s)) => {
            return Err(VerifyError::FeePayerInInstruction { index: 0 });
        }
        _ => {}
    }

    let n_signers = usize::from(msg.header().num_required_signatures);
    if n_signers > policy.max_signers {
        return Err(VerifyError::TooManySigners {
            max: policy.max_signers,
            found: n_signers,
        });
    }
    if tx.signatures.len() != n_signers || keys.len() < n_signers {
        return Err(VerifyError::MalformedTransaction);
    }
    let bytes = msg.serialize();
    for (i, (sig, key)) in tx.signatures.iter().zip(keys).enumerate() {
        // The sponsor's slot is empty until the server co-signs.
        if i == 0 && sponsor.is_some() {
            continue;
        }
        if !sig.verify(key.as_ref(), &bytes) {
            return Err(VerifyError::BadSignature { index: i });
        }
    }

    Ok(Envelope {
        keys,
        n_signers,
        fee_payer,
        sponsor,
    })
}

/// What the allowlist needs besides the instructions (bundled: the upstream BPF backend is not
/// involved here, but six loose arguments read worse than one struct).
pub(crate) struct AllowlistContext<'a> {
    terms: &'a ChargeTerms<'a>,
    asset: &'a Asset,
    policy: &'a PullPolicy,
    fee_payer: Address,
    sponsor: Option<Address>,
    is_signer: &'a dyn Fn(&Address) -> bool,
}

pub(crate) fn check_allowlist(
    decoded: &[Decoded],
    ctx: &AllowlistContext<'_>,
) -> Result<(), VerifyError> {
    let AllowlistContext {
        terms,
        asset,
        policy,
        fee_payer,
        sponsor,
        is_signer,
    } = *ctx;
    let reference = terms.request.method_details.reference;
    let extra_ok = |extra: &[Address]| extra.iter().all(|a| Some(*a) == reference);
    let (mut limit_seen, mut price_seen) = (false, false);
    let req = terms.request;
    for (index, d) in decoded.iter().enumerate() {
        let uses_sponsor =
            |accounts: &[&Address]| sponsor.is_some_and(|s| accounts.iter().any(|a| **a == s));
        match d {
            Decoded::ComputeUnitLimit(n) => {
                if std::mem::replace(&mut limit_seen, true) {
                    return Err(VerifyError::ComputeBudget("limit set twice".into()));
                }
                if *n > policy.max_compute_unit_limit {
                    return Err(VerifyError::ComputeBudget(format!(
                        "limit {n} above {}",
                        policy.max_compute_unit_limit
                    )));
                }
            }
            Decoded::ComputeUnitPrice(p) => {
                if std::mem::replace(&mut price_seen, true) {
                    return Err(VerifyError::ComputeBudget("price set twice".into()));
                }
                if *p > policy.max_compute_unit_price {
                    return Err(VerifyError::ComputeBudget(format!(
                        "price {p} above {}",
                        policy.max_compute_unit_price
                    )));
                }
            }
            Decoded::OtherComputeBudget => {
                return Err(VerifyError::ComputeBudget(format!(
                    "instruction {index} is not a limit or price"
                )));
            }
            Decoded::SystemTransfer {
                from, to, extra, ..
            } => {
                if !matches!(asset.currency, Currency::Sol) {
                    return Err(VerifyError::WrongAsset { index });
                }
                if uses_sponsor(&[from, to]) {
                    return Err(VerifyError::FeePayerInInstruction { index });
                }
                if !is_signer(from) {
                    return Err(VerifyError::UnsignedAuthority { index });
                }
                if !extra_ok(extra) {
                    return Err(VerifyError::InstructionNotAllowed {
                        index,
                        program: SYSTEM_PROGRAM,
                    });
                }
            }
            Decoded::TransferChecked {
                program,
                source,
                destination,
                authority,
                extra,
                ..
            } => {
                if uses_sponsor(&[source, destination, authority]) {
                    return Err(VerifyError::FeePayerInInstruction { index });
                }
                if !is_signer(authority) {
                    return Err(VerifyError::UnsignedAuthority { index });
                }
                if !extra_ok(extra) {
                    return Err(VerifyError::InstructionNotAllowed {
                        index,
                        program: program.id(),
                    });
                }
            }
            Decoded::CreateAtaIdempotent {
                payer,
                ata,
                owner,
                mint,
                system_program,
                token_program,
            } => {
                let (Currency::Mint(m), Some(p)) = (asset.currency, asset.program) else {
                    return Err(VerifyError::UnauthorisedAtaCreation { index });
                };
                // Only split recipients, and when sponsored only those the challenge marks:
                // never the primary recipient or an arbitrary owner.
                let allowed_owner = req.method_details.splits.iter().any(|s| {
                    s.recipient == *owner && (sponsor.is_none() || s.ata_creation_required)
                });
                let well_formed = *payer == fee_payer
                    && *mint == m
                    && *token_program == p.id()
                    && *system_program == SYSTEM_PROGRAM
                    && *ata == associated_token_address(owner, &m, p);
                if !allowed_owner || !well_formed {
                    return Err(VerifyError::UnauthorisedAtaCreation { index });
                }
            }
            Decoded::Memo { data, signers } => {
                if data.len() > crate::token::MAX_MEMO_BYTES {
                    return Err(VerifyError::MemoMismatch);
                }
                if sponsor.is_some_and(|sp| signers.contains(&sp)) {
                    return Err(VerifyError::FeePayerInInstruction { index });
                }
                if let Some(ext) = &req.external_id
                    && data.as_slice() != ext.as_bytes()
                {
                    return Err(VerifyError::MemoMismatch);
                }
            }
            Decoded::Other { program } => {
                return Err(VerifyError::InstructionNotAllowed {
                    index,
                    program: *program,
                });
            }
        }
    }
    Ok(())
}

fn finish(
    terms: &ChargeTerms<'_>,
    decoded: &[Decoded],
    legs: Vec<MatchedLeg>,
) -> Result<CheckedPayment, VerifyError> {
    let primary = legs.first().ok_or(VerifyError::MalformedTransaction)?;
    let (payer, extra) = match &decoded[primary.instruction] {
        Decoded::SystemTransfer { from, extra, .. } => (*from, extra),
        Decoded::TransferChecked {
            authority, extra, ..
        } => (*authority, extra),
        _ => return Err(VerifyError::MalformedTransaction),
    };
    let bound_to_reference = terms
        .request
        .method_details
        .reference
        .is_some_and(|r| extra.contains(&r));
    Ok(CheckedPayment {
        payer,
        legs,
        bound_to_reference,
    })
}

/// Checks a landed push transaction's instructions: every leg paid by its own transfer. Other
/// instructions are the payer's business (it paid the fees). Success on chain and the balance
/// changes are checked separately ([`settled::check_settled`]).
pub fn check_push_transaction(
    tx: &VersionedTransaction,
    terms: &ChargeTerms<'_>,
) -> Result<CheckedPayment, VerifyError> {
    if terms.request.sponsor().is_some() {
        return Err(VerifyError::PushNotAllowedWhenSponsored);
    }
    let keys = tx.message.static_account_keys();
    // Instructions may reference lookup-table accounts we cannot resolve here; only those that
    // decode against the static keys can pay a leg, which is what our clients produce.
    let decoded: Vec<Decoded> = tx
        .message
        .instructions()
        .iter()
        .map(|ix| {
            decode(keys, ix).unwrap_or(Decoded::Other {
                program: Address::default(),
            })
        })
        .collect();
    let asset = terms.asset()?;
    let legs = legs::match_legs(terms.request, &asset, &decoded, false)?;
    finish(terms, &decoded, legs)
}

/// Signs the fee-payer slot (index 0) of a checked sponsored transaction; returns the
/// transaction's id, which is that signature.
pub fn cosign(
    tx: &mut VersionedTransaction,
    fee_payer: &dyn Signer,
) -> Result<Signature, VerifyError> {
    let keys = tx.message.static_account_keys();
    if keys.first() != Some(&fee_payer.pubkey()) || tx.signatures.is_empty() {
        return Err(VerifyError::FeePayerMismatch {
            expected: fee_payer.pubkey(),
            found: keys.first().copied().unwrap_or_default(),
        });
    }
    let sig = fee_payer
        .try_sign_message(&tx.message.serialize())
        .map_err(|_| VerifyError::BadSignature { index: 0 })?;
    tx.signatures[0] = sig;
    Ok(sig)
}
