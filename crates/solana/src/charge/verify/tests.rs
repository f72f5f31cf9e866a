//! The pull and push rules, each refusal asserted exactly.

use mpp::Amount;
use solana_address::Address;
use solana_hash::Hash;
use solana_instruction::{AccountMeta, Instruction};
use solana_keypair::Keypair;
use solana_message::{Message, VersionedMessage, v0};
use solana_signer::Signer;
use solana_transaction::versioned::VersionedTransaction;

use super::*;
use crate::charge::build::{BuildOptions, build_charge_transaction, sign_partial};
use crate::charge::request::{ChargeRequest, MethodDetails, Split};
use crate::network::Network;
use crate::token::{TOKEN_2022_PROGRAM, TOKEN_PROGRAM};

fn kp(n: u8) -> Keypair {
    Keypair::new_from_array([n; 32])
}

fn mint() -> Address {
    Address::new_from_array([42; 32])
}

fn usdc_request(server: &Keypair, sponsored: bool, splits: Vec<Split>) -> ChargeRequest {
    ChargeRequest {
        amount: Amount::new(1_050_000),
        currency: mint().to_string(),
        recipient: kp(7).pubkey(),
        description: None,
        external_id: Some("order-1".into()),
        method_details: MethodDetails {
            network: Some(Network::Localnet),
            decimals: Some(6),
            token_program: Some(TOKEN_PROGRAM),
            fee_payer: sponsored,
            fee_payer_key: sponsored.then(|| server.pubkey()),
            splits,
            reference: Some(Address::new_from_array([9; 32])),
            ..MethodDetails::default()
        },
    }
}

fn split(n: u8, amount: u64, ata: bool) -> Split {
    Split {
        recipient: kp(n).pubkey(),
        amount: Amount::new(amount),
        memo: None,
        ata_creation_required: ata,
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

fn signed(req: &ChargeRequest, payer: &Keypair, opts: &BuildOptions) -> VersionedTransaction {
    let mut tx = build_charge_transaction(req, &payer.pubkey(), opts).unwrap();
    sign_partial(&mut tx, payer).unwrap();
    tx
}

/// Re-signs a transaction whose instructions a test replaced.
fn with_instructions(
    payer: &Keypair,
    fee_payer: &Address,
    ixs: &[Instruction],
) -> VersionedTransaction {
    let msg = Message::new_with_blockhash(ixs, Some(fee_payer), &Hash::new_from_array([1; 32]));
    let n = usize::from(msg.header.num_required_signatures);
    let mut tx = VersionedTransaction {
        signatures: vec![Default::default(); n],
        message: VersionedMessage::Legacy(msg),
    };
    // The payer may not be a signer at all (the drain shapes need no client signature).
    let _ = sign_partial(&mut tx, payer);
    tx
}

fn opts() -> BuildOptions {
    BuildOptions::new(Hash::new_from_array([1; 32]))
}

#[test]
fn sponsored_token_payment_with_splits_passes_and_cosigns() {
    let (server, payer) = (kp(1), kp(2));
    let req = usdc_request(&server, true, vec![split(3, 50_000, true)]);
    let mut tx = signed(&req, &payer, &opts());
    let ok = check_pull_transaction(&tx, &terms(&req, &server), &PullPolicy::default()).unwrap();
    assert_eq!(ok.payer, payer.pubkey());
    assert_eq!(ok.legs.len(), 2);
    assert_eq!(ok.legs[0].leg.amount, 1_000_000);
    assert!(ok.bound_to_reference);
    let sig = cosign(&mut tx, &server).unwrap();
    assert_eq!(tx.signatures[0], sig);
    assert!(tx.verify_with_results().iter().all(|ok| *ok));
}

#[test]
fn fee_payer_must_be_the_sponsor() {
    let (server, payer) = (kp(1), kp(2));
    let req = usdc_request(&server, true, vec![]);
    let mut unsponsored = req.clone();
    unsponsored.method_details.fee_payer = false;
    unsponsored.method_details.fee_payer_key = None;
    // The client pays its own fees although the challenge says the server does.
    let tx = signed(&unsponsored, &payer, &opts());
    assert_eq!(
        check_pull_transaction(&tx, &terms(&req, &server), &PullPolicy::default()).err(),
        Some(VerifyError::FeePayerMismatch {
            expected: server.pubkey(),
            found: payer.pubkey()
        })
    );
}

#[test]
fn fee_payer_as_transfer_authority_is_refused() {
    // The drain: a transfer whose authority is the sponsor, which the co-signature would
    // authorise.
    let (server, payer) = (kp(1), kp(2));
    let req = usdc_request(&server, true, vec![]);
    let good = signed(&req, &payer, &opts());
    let keys = good.message.static_account_keys().to_vec();
    let mut ixs: Vec<Instruction> = good
        .message
        .instructions()
        .iter()
        .map(|c| Instruction {
            program_id: keys[usize::from(c.program_id_index)],
            accounts: c
                .accounts
                .iter()
                .map(|i| AccountMeta::new(keys[usize::from(*i)], false))
                .collect(),
            data: c.data.clone(),
        })
        .collect();
    let transfer = ixs
        .iter_mut()
        .find(|i| i.program_id == TOKEN_PROGRAM)
        .unwrap();
    transfer.accounts[3] = AccountMeta::new_readonly(server.pubkey(), true);
    let tx = with_instructions(&payer, &server.pubkey(), &ixs);
    let r = check_pull_transaction(&tx, &terms(&req, &server), &PullPolicy::default());
    assert_eq!(
        r.err(),
        Some(VerifyError::FeePayerInInstruction { index: 1 })
    );

    // SOL variant: a system transfer from the fee payer.
    let mut sol = usdc_request(&server, true, vec![]);
    sol.currency = "sol".into();
    sol.method_details.decimals = None;
    sol.method_details.token_program = None;
    let ix = solana_system_interface::instruction::transfer(
        &server.pubkey(),
        &kp(7).pubkey(),
        1_050_000,
    );
    let tx = with_instructions(&payer, &server.pubkey(), &[ix]);
    assert_eq!(
        check_pull_transaction(&tx, &terms(&sol, &server), &PullPolicy::default()).err(),
        Some(VerifyError::FeePayerInInstruction { index: 0 })
    );
}

#[test]
fn unsponsored_transaction_must_not_mention_the_server_key() {
    let (server, payer) = (kp(1), kp(2));
    let req = usdc_request(&server, false, vec![]);
    let tx = signed(&req, &payer, &opts());
    assert!(check_pull_transaction(&tx, &terms(&req, &server), &PullPolicy::default()).is_ok());
    let memo_signed_by_server = Instruction {
        program_id: crate::token::MEMO_PROGRAM,
        accounts: vec![AccountMeta::new_readonly(server.pubkey(), true)],
        data: b"order-1".to_vec(),
    };
    let tx = with_instructions(&payer, &payer.pubkey(), &[memo_signed_by_server]);
    assert_eq!(
        check_pull_transaction(&tx, &terms(&req, &server), &PullPolicy::default()).err(),
        Some(VerifyError::FeePayerInInstruction { index: 0 })
    );
}

#[test]
fn priority_fee_above_the_cap_is_refused() {
    let (server, payer) = (kp(1), kp(2));
    let req = usdc_request(&server, true, vec![]);
    let mut o = opts();
    o.compute_unit_price = Some(2_000_000);
    let tx = signed(&req, &payer, &o);
    assert_eq!(
        check_pull_transaction(&tx, &terms(&req, &server), &PullPolicy::default()).err(),
        Some(VerifyError::ComputeBudget(
            "price 2000000 above 1000000".into()
        ))
    );
}

#[test]
fn lookup_tables_are_refused() {
    let (server, payer) = (kp(1), kp(2));
    let req = usdc_request(&server, true, vec![]);
    let legacy = signed(&req, &payer, &opts());
    let VersionedMessage::Legacy(m) = legacy.message else {
        unreachable!()
    };
    let v0msg = v0::Message {
        header: m.header,
        account_keys: m.account_keys,
        recent_blockhash: m.recent_blockhash,
        instructions: m.instructions,
        address_table_lookups: vec![v0::MessageAddressTableLookup {
            account_key: Address::new_from_array([5; 32]),
            writable_indexes: vec![0],
            readonly_indexes: vec![],
        }],
    };
    let mut tx = VersionedTransaction {
        signatures: legacy.signatures,
        message: VersionedMessage::V0(v0msg),
    };
    sign_partial(&mut tx, &payer).unwrap();
    assert_eq!(
        check_pull_transaction(&tx, &terms(&req, &server), &PullPolicy::default()).err(),
        Some(VerifyError::AddressLookupTable)
    );
}

#[test]
fn extra_or_foreign_instructions_are_refused() {
    let (server, payer) = (kp(1), kp(2));
    let mut req = usdc_request(&server, false, vec![]);
    req.external_id = None;
    let foreign = Instruction {
        program_id: Address::new_from_array([77; 32]),
        accounts: vec![],
        data: vec![],
    };
    let good = signed(&req, &payer, &opts());
    let n = good.message.instructions().len();
    let mut ixs = decompile(&good);
    ixs.push(foreign);
    let tx = with_instructions(&payer, &payer.pubkey(), &ixs);
    assert_eq!(
        check_pull_transaction(&tx, &terms(&req, &server), &PullPolicy::default()).err(),
        Some(VerifyError::InstructionNotAllowed {
            index: n,
            program: Address::new_from_array([77; 32])
        })
    );
    // A second, unrequested transfer of the same asset.
    let mut ixs = decompile(&good);
    let dup = ixs
        .iter()
        .find(|i| i.program_id == TOKEN_PROGRAM)
        .unwrap()
        .clone();
    ixs.push(dup);
    let tx = with_instructions(&payer, &payer.pubkey(), &ixs);
    assert_eq!(
        check_pull_transaction(&tx, &terms(&req, &server), &PullPolicy::default()).err(),
        Some(VerifyError::UnexpectedTransfer { index: n })
    );
}

fn decompile(tx: &VersionedTransaction) -> Vec<Instruction> {
    let keys = tx.message.static_account_keys();
    let h = tx.message.header();
    let n_signed = usize::from(h.num_required_signatures);
    tx.message
        .instructions()
        .iter()
        .map(|c| Instruction {
            program_id: keys[usize::from(c.program_id_index)],
            accounts: c
                .accounts
                .iter()
                .map(|i| {
                    let i = usize::from(*i);
                    AccountMeta {
                        pubkey: keys[i],
                        is_signer: i < n_signed,
                        // Writability does not affect any rule under test.
                        is_writable: true,
                    }
                })
                .collect(),
            data: c.data.clone(),
        })
        .collect()
}

#[test]
fn wrong_amount_recipient_or_mint_is_a_missing_leg() {
    let (server, payer) = (kp(1), kp(2));
    let req = usdc_request(&server, false, vec![]);
    let mut cheaper = req.clone();
    cheaper.amount = Amount::new(1_049_999);
    let tx = signed(&cheaper, &payer, &opts());
    assert_eq!(
        check_pull_transaction(&tx, &terms(&req, &server), &PullPolicy::default()).err(),
        Some(VerifyError::MissingTransfer {
            recipient: kp(7).pubkey(),
            amount: 1_050_000
        })
    );
    let mut elsewhere = req.clone();
    elsewhere.recipient = kp(8).pubkey();
    let tx = signed(&elsewhere, &payer, &opts());
    assert!(matches!(
        check_pull_transaction(&tx, &terms(&req, &server), &PullPolicy::default()),
        Err(VerifyError::MissingTransfer { .. })
    ));
    let mut other_mint = req.clone();
    other_mint.currency = Address::new_from_array([43; 32]).to_string();
    let tx = signed(&other_mint, &payer, &opts());
    assert!(matches!(
        check_pull_transaction(&tx, &terms(&req, &server), &PullPolicy::default()),
        Err(VerifyError::MissingTransfer { .. })
    ));
}

#[test]
fn signatures_are_verified_and_bounded() {
    let (server, payer) = (kp(1), kp(2));
    let req = usdc_request(&server, false, vec![]);
    let mut tx = signed(&req, &payer, &opts());
    tx.signatures[0] = Default::default();
    assert_eq!(
        check_pull_transaction(&tx, &terms(&req, &server), &PullPolicy::default()).err(),
        Some(VerifyError::BadSignature { index: 0 })
    );
    let tight = PullPolicy {
        max_signers: 1,
        ..PullPolicy::default()
    };
    let sponsored = usdc_request(&server, true, vec![]);
    let tx = signed(&sponsored, &payer, &opts());
    assert_eq!(
        check_pull_transaction(&tx, &terms(&sponsored, &server), &tight).err(),
        Some(VerifyError::TooManySigners { max: 1, found: 2 })
    );
}

#[test]
fn ata_creation_only_for_marked_splits_when_sponsored() {
    let (server, payer) = (kp(1), kp(2));
    let marked = usdc_request(&server, true, vec![split(3, 50_000, true)]);
    let unmarked = usdc_request(&server, true, vec![split(3, 50_000, false)]);
    let tx = signed(&marked, &payer, &opts());
    assert_eq!(
        check_pull_transaction(&tx, &terms(&unmarked, &server), &PullPolicy::default()).err(),
        Some(VerifyError::UnauthorisedAtaCreation { index: 1 })
    );
}

#[test]
fn token_2022_fee_must_be_grossed_up() {
    let (server, payer) = (kp(1), kp(2));
    let mut req = usdc_request(&server, false, vec![]);
    req.method_details.token_program = Some(TOKEN_2022_PROGRAM);
    let fee = TransferFee {
        basis_points: 100,
        maximum_fee: 1_000_000,
    };
    let t = ChargeTerms {
        transfer_fee: fee,
        ..terms(&req, &server)
    };
    let net_only = signed(&req, &payer, &opts());
    assert!(matches!(
        check_pull_transaction(&net_only, &t, &PullPolicy::default()),
        Err(VerifyError::MissingTransfer { .. })
    ));
    let mut o = opts();
    o.transfer_fee = fee;
    let grossed = signed(&req, &payer, &o);
    assert!(check_pull_transaction(&grossed, &t, &PullPolicy::default()).is_ok());
}

#[test]
fn push_ignores_other_instructions_but_needs_every_leg_and_no_sponsor() {
    let (server, payer) = (kp(1), kp(2));
    let req = usdc_request(&server, false, vec![split(3, 50_000, false)]);
    let mut ixs = decompile(&signed(&req, &payer, &opts()));
    ixs.push(Instruction {
        program_id: Address::new_from_array([77; 32]),
        accounts: vec![],
        data: vec![],
    });
    let tx = with_instructions(&payer, &payer.pubkey(), &ixs);
    let ok = check_push_transaction(&tx, &terms(&req, &server)).unwrap();
    assert!(ok.bound_to_reference);
    let mut without_split = req.clone();
    without_split.method_details.splits.clear();
    without_split.amount = Amount::new(1_000_000);
    let tx = signed(&without_split, &payer, &opts());
    assert!(check_push_transaction(&tx, &terms(&without_split, &server)).is_ok());
    assert_eq!(
        check_push_transaction(&tx, &terms(&req, &server)).err(),
        Some(VerifyError::MissingTransfer {
            recipient: kp(3).pubkey(),
            amount: 50_000
        })
    );
    let sponsored = usdc_request(&server, true, vec![]);
    assert_eq!(
        check_push_transaction(&tx, &terms(&sponsored, &server)).err(),
        Some(VerifyError::PushNotAllowedWhenSponsored)
    );
}

#[test]
fn settled_balances_must_cover_each_destination() {
    use settled::{BalanceChange, check_settled};
    let (server, payer) = (kp(1), kp(2));
    let req = usdc_request(&server, false, vec![split(7, 50_000, false)]);
    let tx = signed(&req, &payer, &opts());
    let ok = check_pull_transaction(&tx, &terms(&req, &server), &PullPolicy::default()).unwrap();
    // The primary recipient is also the split recipient: one account owed both legs.
    let dest = ok.legs[0].destination;
    assert_eq!(ok.legs[1].destination, dest);
    let full = [BalanceChange {
        account: dest,
        pre: 10,
        post: 1_050_010,
    }];
    assert_eq!(check_settled(&ok.legs, &full), Ok(()));
    let short = [BalanceChange {
        account: dest,
        pre: 10,
        post: 1_000_010,
    }];
    assert_eq!(
        check_settled(&ok.legs, &short),
        Err(VerifyError::Underpaid {
            recipient: dest,
            expected: 1_050_000,
            received: 1_000_000
        })
    );
}
