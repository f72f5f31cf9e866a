//! Client side: the transfer transaction for a charge request, in the order the server's
//! checks expect: compute budget, split-ATA creations, primary transfer (carrying the
//! challenge's reference key), split transfers, then the `externalId` memo.

use solana_address::Address;
use solana_hash::Hash;
use solana_instruction::{AccountMeta, Instruction};
use solana_message::{Message, VersionedMessage};
use solana_signature::Signature;
use solana_signer::Signer;
use solana_transaction::versioned::VersionedTransaction;

use crate::charge::payload::MAX_TRANSACTION_BYTES;
use crate::charge::request::{ChargeRequest, Currency};
use crate::error::BuildError;
use crate::token::{
    MEMO_PROGRAM, TokenProgram, TransferFee, associated_token_address, transfer_checked,
};

/// What the client decided or looked up before building.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    /// The blockhash to use (the request's `recentBlockhash`, or a fresh one).
    pub blockhash: Hash,
    /// The mint's token program when the request does not state it (read from the mint's
    /// owner; the spec forbids guessing).
    pub token_program: Option<TokenProgram>,
    /// The mint's Token-2022 transfer fee, grossed up so each recipient receives its leg.
    pub transfer_fee: TransferFee,
    /// Compute-unit limit; estimated from the instructions when `None`.
    pub compute_unit_limit: Option<u32>,
    /// Priority fee in micro-lamports per compute unit; none when `None` or 0.
    pub compute_unit_price: Option<u64>,
}

impl BuildOptions {
    /// Options with a blockhash and nothing else.
    pub fn new(blockhash: Hash) -> Self {
        Self {
            blockhash,
            token_program: None,
            transfer_fee: TransferFee::NONE,
            compute_unit_limit: None,
            compute_unit_price: None,
        }
    }
}

/// Builds the unsigned transaction paying `req` from `payer` (the transfer authority). When the
/// request is sponsored, the server's key is the fee payer and its signature slot stays empty.
pub fn build_charge_transaction(
    req: &ChargeRequest,
    payer: &Address,
    opts: &BuildOptions,
) -> Result<VersionedTransaction, BuildError> {
    req.validate()?;
    let fee_payer = req.sponsor().unwrap_or(*payer);
    let legs = req.legs()?;
    let mut transfers = Vec::with_capacity(legs.len());
    let mut creates = Vec::new();
    match req.currency()? {
        Currency::Sol => {
            for leg in &legs {
                transfers.push(solana_system_interface::instruction::transfer(
                    payer,
                    &leg.recipient,
                    leg.amount,
                ));
            }
        }
        Currency::Mint(mint) => {
            let program = req
                .token_program()
                .or(opts.token_program)
                .ok_or(BuildError::TokenProgramUnknown)?;
            let decimals = req.method_details.decimals.unwrap_or_default();
            let source = associated_token_address(payer, &mint, program);
            for leg in &legs {
                if leg.ata_creation_required {
                    creates.push(
                        spl_associated_token_account_interface::instruction::create_associated_token_account_idempotent(
                            &fee_payer,
                            &leg.recipient,
                            &mint,
                            &program.id(),
                        ),
                    );
                }
                let gross = match program {
                    TokenProgram::Token => leg.amount,
                    TokenProgram::Token2022 => opts
                        .transfer_fee
                        .gross_for(leg.amount)
                        .ok_or(BuildError::FeeOverflow)?,
                };
                transfers.push(transfer_checked(
                    program,
                    &source,
                    &mint,
                    &associated_token_address(&leg.recipient, &mint, program),
                    payer,
                    gross,
                    decimals,
                ));
            }
        }
    }
    if let (Some(reference), Some(primary)) = (req.method_details.reference, transfers.first_mut())
    {
        primary
            .accounts
            .push(AccountMeta::new_readonly(reference, false));
    }

    let mut ixs = Vec::with_capacity(transfers.len() + creates.len() + 3);
    let limit = opts.compute_unit_limit.unwrap_or_else(|| {
        // Generous for p-token / Token-2022 / system transfers; ATA creation dominates.
        let n = |v: usize| u32::try_from(v).unwrap_or(u32::MAX);
        20_000u32
            .saturating_add(n(creates.len()).saturating_mul(30_000))
            .saturating_add(n(transfers.len()).saturating_mul(15_000))
    });
    ixs.push(
        solana_compute_budget_interface::ComputeBudgetInstruction::set_compute_unit_limit(limit),
    );
    if let Some(price) = opts.compute_unit_price.filter(|p| *p > 0) {
        ixs.push(
            solana_compute_budget_interface::ComputeBudgetInstruction::set_compute_unit_price(
                price,
            ),
        );
    }
    ixs.extend(creates);
    ixs.extend(transfers);
    if let Some(memo) = &req.external_id {
        ixs.push(Instruction {
            program_id: MEMO_PROGRAM,
            accounts: Vec::new(),
            data: memo.as_bytes().to_vec(),
        });
    }

    let message = Message::new_with_blockhash(&ixs, Some(&fee_payer), &opts.blockhash);
    let n = usize::from(message.header.num_required_signatures);
    let tx = VersionedTransaction {
        signatures: vec![Signature::default(); n],
        message: VersionedMessage::Legacy(message),
    };
    let size = bincode::serialized_size(&tx).map_err(|e| BuildError::Compile(e.to_string()))?;
    if size > MAX_TRANSACTION_BYTES as u64 {
        return Err(BuildError::TooLarge);
    }
    Ok(tx)
}

/// Signs every slot that belongs to `signer`, leaving the others (the sponsor's) as they are.
pub fn sign_partial(tx: &mut VersionedTransaction, signer: &dyn Signer) -> Result<(), BuildError> {
    let me = signer.pubkey();
    let bytes = tx.message.serialize();
    let keys = tx.message.static_account_keys();
    let n = usize::from(tx.message.header().num_required_signatures).min(tx.signatures.len());
    let mut signed = false;
    for i in 0..n {
        if keys.get(i) == Some(&me) {
            tx.signatures[i] = signer
                .try_sign_message(&bytes)
                .map_err(|e| BuildError::Compile(e.to_string()))?;
            signed = true;
        }
    }
    if signed {
        Ok(())
    } else {
        Err(BuildError::Compile(format!(
            "{me} is not a signer of this transaction"
        )))
    }
}
