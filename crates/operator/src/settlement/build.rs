//! The message a `settle_transfer` job pays with. The worker signs it with a custodial key; a
//! non-custodial account's agent gets it unsigned and must send back exactly this message
//! signed (`crate::settlement::agent_signed`).

use mppsol_ledger::Ledger;
use mppsol_solana::token::{
    MEMO_PROGRAM, TokenProgram, associated_token_address, transfer_checked,
};
use mppsol_store::operator::{PolicyWalletRecord, Transfer};
use solana_address::Address;
use solana_hash::Hash;
use solana_instruction::Instruction;
use solana_message::Message;

use super::SettleError;

/// The transfer paid by `payer` (its fee payer and authority) on `blockhash`: SOL by the
/// System program, a mint by `TransferChecked` (creating the recipient's associated account if
/// needed), or through the account's policy wallet when it has one (`wallet`: the program's
/// `pay` from the wallet's vault), then a memo naming the transfer (and the transfer's own
/// memo). The same inputs and chain state give the same message.
pub async fn transfer_message(
    ledger: &dyn Ledger,
    t: &Transfer,
    payer: &Address,
    blockhash: Hash,
    wallet: Option<&PolicyWalletRecord>,
) -> Result<Message, SettleError> {
    let to: Address = t
        .counterparty
        .parse()
        .map_err(|_| SettleError::Transaction("counterparty is not an address".into()))?;
    let mut ixs = Vec::with_capacity(4);
    if t.currency == "sol" {
        ixs.push(solana_system_interface::instruction::transfer(
            payer, &to, t.amount,
        ));
    } else {
        let mint: Address = t
            .currency
            .parse()
            .map_err(|_| SettleError::Transaction("currency is not a mint".into()))?;
        let mint_account = ledger
            .get_account(&mint)
            .await?
            .ok_or_else(|| SettleError::Transaction(format!("mint {mint} not found")))?;
        let program = TokenProgram::from_id(&mint_account.owner)
            .ok_or_else(|| SettleError::Transaction("mint under no token program".into()))?;
        // A mint's decimals sit at byte 44 of its account (both token programs).
        let decimals = *mint_account
            .data
            .get(44)
            .ok_or_else(|| SettleError::Transaction("mint account too short".into()))?;
        let source = associated_token_address(payer, &mint, program);
        let destination = associated_token_address(&to, &mint, program);
        ixs.push(
            spl_associated_token_account_interface::instruction::create_associated_token_account_idempotent(
                payer,
                &to,
                &mint,
                &program.id(),
            ),
        );
        match wallet {
            Some(record) => ixs.push(
                crate::policy_wallet::pay_instruction(
                    ledger,
                    record,
                    payer,
                    crate::policy_wallet::PaymentTo {
                        recipient: &to,
                        mint: &mint,
                        token_program: program,
                        amount: t.amount,
                        memo: t.memo.as_deref(),
                    },
                )
                .await
                .map_err(SettleError::Transaction)?,
            ),
            None => ixs.push(transfer_checked(
                program,
                &source,
                &mint,
                &destination,
                payer,
                t.amount,
                decimals,
            )),
        }
    }
    ixs.push(memo(format!("mppsol:{}", t.id)));
    if let Some(text) = &t.memo {
        ixs.push(memo(text.clone()));
    }
    Ok(Message::new_with_blockhash(&ixs, Some(payer), &blockhash))
}

fn memo(text: String) -> Instruction {
    Instruction {
        program_id: MEMO_PROGRAM,
        accounts: Vec::new(),
        data: text.into_bytes(),
    }
}
