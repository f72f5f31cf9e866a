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

#[cfg(test)]
mod tests {
    use mpp::Amount;
    use solana_hash::Hash;
    use solana_instruction::Instruction;
    use solana_keypair::Keypair;
    use solana_message::{Message, VersionedMessage};
    use solana_signer::Signer;

    use super::*;
    use crate::charge::build::sign_partial;
    use crate::charge::request::{ChargeRequest, MethodDetails};
    use crate::network::Network;
    use crate::policy::ix::{Payment, WalletKeys, pay_with_receipt};
    use crate::policy::{DEV_PAYMENTS_PROGRAM_ID, DEV_POLICY_PROGRAM_ID};
    use crate::token::{TOKEN_PROGRAM, TransferFee};

    const ID: &str = "challenge-1";

    fn kp(n: u8) -> Keypair {
        Keypair::new_from_array([n; 32])
    }

    fn programs() -> ReceiptPrograms {
        ReceiptPrograms {
            policy: Some(DEV_POLICY_PROGRAM_ID),
            payments: DEV_PAYMENTS_PROGRAM_ID,
        }
    }

    fn request(server: &Keypair) -> ChargeRequest {
        ChargeRequest {
            amount: Amount::new(10_000),
            currency: Address::new_from_array([42; 32]).to_string(),
            recipient: kp(7).pubkey(),
            description: None,
            external_id: None,
            method_details: MethodDetails {
                network: Some(Network::Localnet),
                decimals: Some(6),
                token_program: Some(TOKEN_PROGRAM),
                fee_payer: true,
                fee_payer_key: Some(server.pubkey()),
                ..MethodDetails::default()
            },
        }
    }

    fn terms<'a>(req: &'a ChargeRequest, server: &Keypair) -> ChargeTerms<'a> {
        ChargeTerms {
            request: req,
            token_program: None,
            transfer_fee: TransferFee::NONE,
            server_fee_payer: Some(server.pubkey()),
        }
    }

    fn keys(owner: Address, agent: &Keypair) -> WalletKeys {
        WalletKeys {
            program: DEV_POLICY_PROGRAM_ID,
            owner,
            agent: agent.pubkey(),
        }
    }

    fn payment(req: &ChargeRequest, amount: u64) -> Payment {
        Payment {
            recipient: req.recipient,
            mint: Address::new_from_array([42; 32]),
            token_program: TokenProgram::Token,
            amount,
            nonce: 1,
            category: 0,
            memo: Vec::new(),
            owner_signs: false,
        }
    }

    fn tx(fee_payer: &Address, agent: &Keypair, ixs: &[Instruction]) -> VersionedTransaction {
        let msg = Message::new_with_blockhash(ixs, Some(fee_payer), &Hash::new_from_array([1; 32]));
        let n = usize::from(msg.header.num_required_signatures);
        let mut tx = VersionedTransaction {
            signatures: vec![Default::default(); n],
            message: VersionedMessage::Legacy(msg),
        };
        sign_partial(&mut tx, agent).unwrap();
        tx
    }

    fn check(
        req: &ChargeRequest,
        server: &Keypair,
        t: &VersionedTransaction,
    ) -> Result<CheckedPayment, VerifyError> {
        check_policy_pull_transaction(
            t,
            &terms(req, server),
            &PullPolicy::default(),
            &programs(),
            ID,
        )
    }

    #[test]
    fn a_well_formed_policy_payment_passes_and_names_the_wallet() {
        let (server, agent, owner) = (kp(1), kp(2), kp(3).pubkey());
        let req = request(&server);
        let k = keys(owner, &agent);
        let ix = pay_with_receipt(
            &k,
            &payment(&req, 10_000),
            &DEV_PAYMENTS_PROGRAM_ID,
            &challenge_hash(ID),
        );
        let t = tx(&server.pubkey(), &agent, &[ix]);
        assert!(calls_program(&t, &DEV_POLICY_PROGRAM_ID));
        let ok = check(&req, &server, &t).unwrap();
        assert_eq!(ok.payer, k.wallet());
        assert_eq!(ok.legs[0].leg.amount, 10_000);
    }

    #[test]
    fn wrong_amount_challenge_or_payments_program_is_refused() {
        let (server, agent, owner) = (kp(1), kp(2), kp(3).pubkey());
        let req = request(&server);
        let k = keys(owner, &agent);
        let less = pay_with_receipt(
            &k,
            &payment(&req, 9_999),
            &DEV_PAYMENTS_PROGRAM_ID,
            &challenge_hash(ID),
        );
        assert!(matches!(
            check(&req, &server, &tx(&server.pubkey(), &agent, &[less])),
            Err(VerifyError::MissingTransfer { amount: 10_000, .. })
        ));
        let other = pay_with_receipt(
            &k,
            &payment(&req, 10_000),
            &DEV_PAYMENTS_PROGRAM_ID,
            &challenge_hash("another"),
        );
        assert!(matches!(
            check(&req, &server, &tx(&server.pubkey(), &agent, &[other])),
            Err(VerifyError::Receipt(_))
        ));
        let foreign = Address::new_from_array([5; 32]);
        let elsewhere = pay_with_receipt(&k, &payment(&req, 10_000), &foreign, &challenge_hash(ID));
        assert!(matches!(
            check(&req, &server, &tx(&server.pubkey(), &agent, &[elsewhere])),
            Err(VerifyError::Receipt(_))
        ));
    }

    #[test]
    fn the_fee_payer_as_owner_or_agent_is_refused() {
        let (server, agent) = (kp(1), kp(2));
        let req = request(&server);
        // The server's key as the wallet's owner would co-sign an escalation.
        let k = keys(server.pubkey(), &agent);
        let ix = pay_with_receipt(
            &k,
            &payment(&req, 10_000),
            &DEV_PAYMENTS_PROGRAM_ID,
            &challenge_hash(ID),
        );
        assert!(matches!(
            check(&req, &server, &tx(&server.pubkey(), &agent, &[ix])),
            Err(VerifyError::FeePayerInInstruction { index: 0 })
        ));
        let k = keys(kp(3).pubkey(), &server);
        let ix = pay_with_receipt(
            &k,
            &payment(&req, 10_000),
            &DEV_PAYMENTS_PROGRAM_ID,
            &challenge_hash(ID),
        );
        assert!(matches!(
            check(&req, &server, &tx(&server.pubkey(), &server, &[ix])),
            Err(VerifyError::FeePayerInInstruction { index: 0 })
        ));
    }

    #[test]
    fn another_instruction_beside_the_policy_payment_is_refused() {
        let (server, agent, owner) = (kp(1), kp(2), kp(3).pubkey());
        let req = request(&server);
        let k = keys(owner, &agent);
        let pay = pay_with_receipt(
            &k,
            &payment(&req, 10_000),
            &DEV_PAYMENTS_PROGRAM_ID,
            &challenge_hash(ID),
        );
        let extra = Instruction {
            program_id: Address::new_from_array([9; 32]),
            accounts: vec![],
            data: vec![],
        };
        assert!(matches!(
            check(
                &req,
                &server,
                &tx(&server.pubkey(), &agent, &[pay.clone(), extra])
            ),
            Err(VerifyError::InstructionNotAllowed { index: 1, .. })
        ));
        assert!(matches!(
            check(
                &req,
                &server,
                &tx(&server.pubkey(), &agent, &[pay.clone(), pay])
            ),
            Err(VerifyError::InstructionNotAllowed { index: 1, .. })
        ));
    }

    fn receipt_data(req: &ChargeRequest, id: &str, amount: u64) -> Vec<u8> {
        let mint = Address::new_from_array([42; 32]);
        let mut d = vec![0u8; 192];
        d[0] = 0x52;
        d[1] = 1;
        d[8..40].copy_from_slice(&challenge_hash(id));
        d[72..104].copy_from_slice(req.recipient.as_ref());
        d[104..136].copy_from_slice(
            associated_token_address(&req.recipient, &mint, TokenProgram::Token).as_ref(),
        );
        d[136..168].copy_from_slice(mint.as_ref());
        d[168..176].copy_from_slice(&amount.to_le_bytes());
        d
    }

    #[test]
    fn a_push_receipt_must_be_written_by_the_transaction_and_pay_enough() {
        let (server, payer) = (kp(1), kp(2));
        let mut req = request(&server);
        req.method_details.fee_payer = false;
        req.method_details.fee_payer_key = None;
        let mint = Address::new_from_array([42; 32]);
        let receipt = find_receipt_address(&DEV_PAYMENTS_PROGRAM_ID, &challenge_hash(ID)).0;
        let dest = associated_token_address(&req.recipient, &mint, TokenProgram::Token);
        let touching = |accounts: Vec<Address>| {
            let ix = Instruction {
                program_id: Address::new_from_array([8; 32]),
                accounts: accounts
                    .into_iter()
                    .map(|a| solana_instruction::AccountMeta::new(a, false))
                    .collect(),
                data: vec![],
            };
            tx(&payer.pubkey(), &payer, &[ix])
        };
        let t = terms(&req, &server);
        let good = touching(vec![receipt, dest]);
        let owner = DEV_PAYMENTS_PROGRAM_ID;
        assert!(
            check_receipt_payment(
                &good,
                &t,
                &programs(),
                ID,
                &owner,
                &receipt_data(&req, ID, 10_000)
            )
            .is_ok()
        );
        // Another transaction (it does not write this receipt) cannot claim it.
        let unrelated = touching(vec![dest]);
        assert!(matches!(
            check_receipt_payment(
                &unrelated,
                &t,
                &programs(),
                ID,
                &owner,
                &receipt_data(&req, ID, 10_000)
            ),
            Err(VerifyError::Receipt(_))
        ));
        // A look-alike account not owned by the payments program.
        assert!(matches!(
            check_receipt_payment(
                &good,
                &t,
                &programs(),
                ID,
                &Address::new_from_array([3; 32]),
                &receipt_data(&req, ID, 10_000)
            ),
            Err(VerifyError::Receipt(_))
        ));
        assert!(matches!(
            check_receipt_payment(
                &good,
                &t,
                &programs(),
                ID,
                &owner,
                &receipt_data(&req, ID, 9_999)
            ),
            Err(VerifyError::Receipt(_))
        ));
    }
}
