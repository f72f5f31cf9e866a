//! `jsonParsed` instructions for System, SPL Token / Token-2022, ATA and Memo, in the shape
//! Solana's RPC produces; anything else is "partially decoded" (program id, accounts, data).

mod token_program;

use serde_json::{Value, json};
use solana_address::Address;
use solana_message::compiled_instruction::CompiledInstruction;
use solana_system_interface::instruction::SystemInstruction;

use crate::programs::{
    ASSOCIATED_TOKEN_PROGRAM, SYSTEM_PROGRAM, TOKEN_2022_PROGRAM, TOKEN_PROGRAM, is_memo_program,
};
use crate::token;

/// The `uiTokenAmount` object.
pub(crate) fn ui_token_amount(amount: u64, decimals: u8) -> Value {
    json!({
        "uiAmount": token::ui_amount(amount, decimals),
        "decimals": decimals,
        "amount": amount.to_string(),
        "uiAmountString": token::ui_amount_string(amount, decimals),
    })
}

/// One instruction in `jsonParsed` form.
pub(crate) fn instruction(
    ix: &CompiledInstruction,
    keys: &[Address],
    stack_height: Option<u32>,
) -> Value {
    let program_id = keys
        .get(usize::from(ix.program_id_index))
        .copied()
        .unwrap_or_default();
    let accounts: Option<Vec<Address>> = ix
        .accounts
        .iter()
        .map(|i| keys.get(usize::from(*i)).copied())
        .collect();
    let parsed = accounts.as_deref().and_then(|accounts| {
        if program_id == SYSTEM_PROGRAM {
            system(&ix.data, accounts).map(|p| ("system", p))
        } else if program_id == TOKEN_PROGRAM {
            token_program::parse(&ix.data, accounts).map(|p| ("spl-token", p))
        } else if program_id == TOKEN_2022_PROGRAM {
            token_program::parse(&ix.data, accounts).map(|p| ("spl-token-2022", p))
        } else if program_id == ASSOCIATED_TOKEN_PROGRAM {
            associated_token(&ix.data, accounts).map(|p| ("spl-associated-token-account", p))
        } else if is_memo_program(&program_id) {
            std::str::from_utf8(&ix.data)
                .ok()
                .map(|memo| ("spl-memo", Value::String(memo.to_string())))
        } else {
            None
        }
    });
    match parsed {
        Some((program, parsed)) => json!({
            "program": program,
            "programId": program_id.to_string(),
            "parsed": parsed,
            "stackHeight": stack_height,
        }),
        None => json!({
            "programId": program_id.to_string(),
            "accounts": ix
                .accounts
                .iter()
                .filter_map(|i| keys.get(usize::from(*i)).map(ToString::to_string))
                .collect::<Vec<_>>(),
            "data": bs58::encode(&ix.data).into_string(),
            "stackHeight": stack_height,
        }),
    }
}

pub(super) fn typed(kind: &str, info: Value) -> Value {
    json!({ "type": kind, "info": info })
}

/// The instruction's accounts as base58 strings, at least `n` of them.
pub(super) fn keys_at_least(accounts: &[Address], n: usize) -> Option<Vec<String>> {
    (accounts.len() >= n).then(|| accounts.iter().map(ToString::to_string).collect())
}

fn system(data: &[u8], accounts: &[Address]) -> Option<Value> {
    let ix: SystemInstruction = bincode::deserialize(data).ok()?;
    let parsed = match ix {
        SystemInstruction::CreateAccount {
            lamports,
            space,
            owner,
        }
        | SystemInstruction::CreateAccountAllowPrefund {
            lamports,
            space,
            owner,
        } => {
            let a = keys_at_least(accounts, 2)?;
            typed(
                "createAccount",
                json!({"source": a[0], "newAccount": a[1], "lamports": lamports, "space": space, "owner": owner.to_string()}),
            )
        }
        SystemInstruction::Assign { owner } => {
            let a = keys_at_least(accounts, 1)?;
            typed(
                "assign",
                json!({"account": a[0], "owner": owner.to_string()}),
            )
        }
        SystemInstruction::Transfer { lamports } => {
            let a = keys_at_least(accounts, 2)?;
            typed(
                "transfer",
                json!({"source": a[0], "destination": a[1], "lamports": lamports}),
            )
        }
        SystemInstruction::CreateAccountWithSeed {
            base,
            seed,
            lamports,
            space,
            owner,
        } => {
            let a = keys_at_least(accounts, 2)?;
            typed(
                "createAccountWithSeed",
                json!({"source": a[0], "newAccount": a[1], "base": base.to_string(), "seed": seed,
                       "lamports": lamports, "space": space, "owner": owner.to_string()}),
            )
        }
        SystemInstruction::AdvanceNonceAccount => {
            let a = keys_at_least(accounts, 3)?;
            typed(
                "advanceNonce",
                json!({"nonceAccount": a[0], "recentBlockhashesSysvar": a[1], "nonceAuthority": a[2]}),
            )
        }
        SystemInstruction::WithdrawNonceAccount(lamports) => {
            let a = keys_at_least(accounts, 5)?;
            typed(
                "withdrawFromNonce",
                json!({"nonceAccount": a[0], "destination": a[1], "recentBlockhashesSysvar": a[2],
                       "rentSysvar": a[3], "nonceAuthority": a[4], "lamports": lamports}),
            )
        }
        SystemInstruction::InitializeNonceAccount(authority) => {
            let a = keys_at_least(accounts, 3)?;
            typed(
                "initializeNonce",
                json!({"nonceAccount": a[0], "recentBlockhashesSysvar": a[1], "rentSysvar": a[2],
                       "nonceAuthority": authority.to_string()}),
            )
        }
        SystemInstruction::AuthorizeNonceAccount(new_authority) => {
            let a = keys_at_least(accounts, 2)?;
            typed(
                "authorizeNonce",
                json!({"nonceAccount": a[0], "nonceAuthority": a[1], "newAuthorized": new_authority.to_string()}),
            )
        }
        SystemInstruction::Allocate { space } => {
            let a = keys_at_least(accounts, 1)?;
            typed("allocate", json!({"account": a[0], "space": space}))
        }
        SystemInstruction::AllocateWithSeed {
            base,
            seed,
            space,
            owner,
        } => {
            let a = keys_at_least(accounts, 2)?;
            typed(
                "allocateWithSeed",
                json!({"account": a[0], "base": base.to_string(), "seed": seed, "space": space, "owner": owner.to_string()}),
            )
        }
        SystemInstruction::AssignWithSeed { base, seed, owner } => {
            let a = keys_at_least(accounts, 2)?;
            typed(
                "assignWithSeed",
                json!({"account": a[0], "base": base.to_string(), "seed": seed, "owner": owner.to_string()}),
            )
        }
        SystemInstruction::TransferWithSeed {
            lamports,
            from_seed,
            from_owner,
        } => {
            let a = keys_at_least(accounts, 3)?;
            typed(
                "transferWithSeed",
                json!({"source": a[0], "sourceBase": a[1], "destination": a[2], "lamports": lamports,
                       "sourceSeed": from_seed, "sourceOwner": from_owner.to_string()}),
            )
        }
        SystemInstruction::UpgradeNonceAccount => {
            let a = keys_at_least(accounts, 1)?;
            typed("upgradeNonce", json!({"nonceAccount": a[0]}))
        }
    };
    Some(parsed)
}

fn associated_token(data: &[u8], accounts: &[Address]) -> Option<Value> {
    // Empty data is the original `Create`; then a one-byte borsh enum tag.
    match data.first() {
        None | Some(0) | Some(1) => {
            let kind = if data.first() == Some(&1) {
                "createIdempotent"
            } else {
                "create"
            };
            if data.len() > 1 {
                return None;
            }
            let a = keys_at_least(accounts, 6)?;
            Some(typed(
                kind,
                json!({"source": a[0], "account": a[1], "wallet": a[2], "mint": a[3],
                       "systemProgram": a[4], "tokenProgram": a[5]}),
            ))
        }
        Some(2) if data.len() == 1 => {
            let a = keys_at_least(accounts, 7)?;
            Some(typed(
                "recoverNested",
                json!({"nestedSource": a[0], "nestedMint": a[1], "destination": a[2],
                       "nestedOwner": a[3], "ownerMint": a[4], "wallet": a[5], "tokenProgram": a[6]}),
            ))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use solana_message::Message;

    fn compile(ix: solana_instruction::Instruction) -> (CompiledInstruction, Vec<Address>) {
        let message = Message::new(&[ix], None);
        (message.instructions[0].clone(), message.account_keys)
    }

    #[test]
    fn transfer_checked_parses_like_solana() {
        let (source, mint, destination, owner) = (
            Address::new_unique(),
            Address::new_unique(),
            Address::new_unique(),
            Address::new_unique(),
        );
        let ix = spl_token_2022_interface::instruction::transfer_checked(
            &TOKEN_PROGRAM,
            &source,
            &mint,
            &destination,
            &owner,
            &[],
            1_250_000,
            6,
        )
        .unwrap();
        let (compiled, keys) = compile(ix);
        assert_eq!(
            instruction(&compiled, &keys, None),
            json!({
                "program": "spl-token",
                "programId": TOKEN_PROGRAM.to_string(),
                "parsed": {"type": "transferChecked", "info": {
                    "source": source.to_string(), "mint": mint.to_string(),
                    "destination": destination.to_string(), "authority": owner.to_string(),
                    "tokenAmount": {"uiAmount": 1.25, "decimals": 6, "amount": "1250000",
                                    "uiAmountString": "1.25"}}},
                "stackHeight": null,
            })
        );
    }

    #[test]
    fn system_memo_ata_and_unknown() {
        let (from, to) = (Address::new_unique(), Address::new_unique());
        let (c, k) = compile(solana_system_interface::instruction::transfer(
            &from, &to, 42,
        ));
        assert_eq!(
            instruction(&c, &k, Some(2))["parsed"],
            json!({"type": "transfer", "info": {"source": from.to_string(),
                   "destination": to.to_string(), "lamports": 42}})
        );
        let memo = solana_instruction::Instruction::new_with_bytes(
            crate::programs::MEMO_PROGRAM,
            b"order-17",
            vec![],
        );
        let (c, k) = compile(memo);
        assert_eq!(instruction(&c, &k, None)["parsed"], json!("order-17"));
        assert_eq!(instruction(&c, &k, None)["program"], json!("spl-memo"));
        let ata = spl_associated_token_account_interface::instruction::create_associated_token_account_idempotent(
            &from, &to, &Address::new_unique(), &TOKEN_2022_PROGRAM,
        );
        let (c, k) = compile(ata);
        assert_eq!(
            instruction(&c, &k, None)["parsed"]["type"],
            json!("createIdempotent")
        );
        let other = solana_instruction::Instruction::new_with_bytes(
            Address::new_unique(),
            &[1, 2, 3],
            vec![],
        );
        let (c, k) = compile(other);
        let v = instruction(&c, &k, None);
        assert_eq!(v["data"], json!(bs58::encode([1u8, 2, 3]).into_string()));
        assert!(v.get("parsed").is_none());
    }
}
