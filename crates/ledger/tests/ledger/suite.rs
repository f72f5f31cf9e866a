//! The adapter suite: written once, run against the embedded and the RPC adapter.

use std::time::{Duration, Instant};

use mppsol_ledger::{Commitment, LedgerError, programs};
use solana_address::Address;
use solana_hash::Hash;
use solana_keypair::Keypair;
use solana_signature::Signature;
use solana_signer::Signer;

use crate::common::{Fixture, SOL, sign_with, transfer_checked};

pub async fn blockhash(fx: &Fixture) {
    let info = fx.ledger.latest_blockhash().await.unwrap();
    assert!(fx.ledger.is_blockhash_valid(&info.blockhash).await.unwrap());
    assert!(
        !fx.ledger
            .is_blockhash_valid(&Hash::new_from_array([7; 32]))
            .await
            .unwrap()
    );
    let height = fx.embedded.block_height().await.unwrap();
    assert_eq!(info.last_valid_block_height, height + 150);

    // A landed transaction moves the chain on; the old blockhash stays valid for 150 blocks.
    let slot = fx.ledger.slot().await.unwrap();
    fx.ledger
        .airdrop(&Address::new_unique(), SOL)
        .await
        .unwrap();
    assert_eq!(fx.ledger.slot().await.unwrap(), slot + 1);
    let next = fx.ledger.latest_blockhash().await.unwrap();
    assert_ne!(next.blockhash, info.blockhash);
    assert!(fx.ledger.is_blockhash_valid(&info.blockhash).await.unwrap());

    fx.embedded.advance_slots(151).await.unwrap();
    assert!(!fx.ledger.is_blockhash_valid(&info.blockhash).await.unwrap());
    assert_eq!(fx.ledger.slot().await.unwrap(), slot + 152);
}

pub async fn airdrop_and_balance(fx: &Fixture) {
    let who = Address::new_unique();
    assert_eq!(fx.ledger.balance(&who).await.unwrap(), 0);
    assert_eq!(fx.ledger.get_account(&who).await.unwrap(), None);
    let signature = fx.ledger.airdrop(&who, 2 * SOL).await.unwrap();
    let status = fx
        .ledger
        .confirm(&signature, Commitment::Confirmed, Duration::from_secs(5))
        .await
        .unwrap()
        .expect("landed");
    assert_eq!(status.err, None);
    assert_eq!(status.commitment, Commitment::Finalized);
    assert_eq!(fx.ledger.balance(&who).await.unwrap(), 2 * SOL);
    let account = fx.ledger.get_account(&who).await.unwrap().expect("exists");
    assert_eq!(account.lamports, 2 * SOL);
    assert_eq!(account.owner, programs::SYSTEM_PROGRAM);

    let landed = fx
        .ledger
        .get_transaction(&signature)
        .await
        .unwrap()
        .expect("landed");
    assert_eq!(landed.signature, signature);
    assert_eq!(landed.slot, status.slot);
    assert_eq!(landed.fee, 5000);
    let keys = landed.transaction.message.static_account_keys();
    let index = keys.iter().position(|k| *k == who).expect("recipient key");
    assert_eq!(landed.pre_balances[index], 0);
    assert_eq!(landed.post_balances[index], 2 * SOL);
    assert_eq!(
        landed.pre_balances[0] - landed.post_balances[0],
        2 * SOL + 5000
    );
    assert!(landed.block_time.is_some());

    let many = fx
        .ledger
        .get_multiple_accounts(&[who, Address::new_unique()])
        .await
        .unwrap();
    assert_eq!(many.len(), 2);
    assert_eq!(many[0].as_ref().map(|a| a.lamports), Some(2 * SOL));
    assert_eq!(many[1], None);
    let rent = fx
        .ledger
        .minimum_balance_for_rent_exemption(165)
        .await
        .unwrap();
    assert_eq!(rent, 2_039_280);
}

/// Pays `amount` of a dev mint from a funded sender to a new recipient; returns
/// (signature, sender ATA, recipient ATA).
async fn pay(fx: &Fixture, mint_2022: bool, amount: u64) -> (Signature, Address, Address, Keypair) {
    let mints = fx.embedded.dev_mints();
    let mint = if mint_2022 {
        mints.usdc_2022
    } else {
        mints.usdc
    };
    let alice = fx.funded(SOL).await;
    let bob = Address::new_unique();
    let from = fx
        .embedded
        .mint_tokens(&mint.address, &alice.pubkey(), 5_000_000)
        .await
        .unwrap();
    let to = fx
        .embedded
        .create_ata(&bob, &mint.address, &mint.token_program)
        .await
        .unwrap();
    let ix = transfer_checked(
        &mint.token_program,
        &mint.address,
        &alice.pubkey(),
        &bob,
        amount,
        mint.decimals,
    );
    let tx = fx.sign(&[ix], &[&alice]).await;
    let signature = fx.ledger.send(&tx).await.unwrap();
    assert_eq!(signature, tx.signatures[0]);
    (signature, from, to, alice)
}

pub async fn spl_token_transfer_checked(fx: &Fixture) {
    let (signature, from, to, _alice) = pay(fx, false, 1_250_000).await;
    let status = fx
        .ledger
        .confirm(&signature, Commitment::Finalized, Duration::from_secs(5))
        .await
        .unwrap()
        .expect("landed");
    assert_eq!(status.err, None);
    let balance = |a| async move {
        fx.ledger
            .token_balance(&a)
            .await
            .unwrap()
            .expect("token account")
    };
    assert_eq!(balance(from).await.amount, 3_750_000);
    assert_eq!(balance(to).await.amount, 1_250_000);
    assert_eq!(balance(to).await.decimals, 6);
    assert_eq!(
        fx.ledger
            .token_balance(&Address::new_unique())
            .await
            .unwrap(),
        None
    );

    let landed = fx
        .ledger
        .get_transaction(&signature)
        .await
        .unwrap()
        .expect("landed");
    assert_eq!(landed.err, None);
    let keys = landed.transaction.message.static_account_keys().to_vec();
    let index_of = |a: &Address| keys.iter().position(|k| k == a).expect("key") as u8;
    let amount_at = |balances: &[mppsol_ledger::TokenBalance], a: &Address| {
        balances
            .iter()
            .find(|b| b.account_index == index_of(a))
            .map(|b| b.amount)
    };
    assert_eq!(amount_at(&landed.pre_token_balances, &to), Some(0));
    assert_eq!(amount_at(&landed.post_token_balances, &to), Some(1_250_000));
    assert_eq!(
        amount_at(&landed.pre_token_balances, &from),
        Some(5_000_000)
    );
    assert_eq!(
        amount_at(&landed.post_token_balances, &from),
        Some(3_750_000)
    );
    let post = &landed.post_token_balances[0];
    assert_eq!(post.mint, fx.embedded.dev_mints().usdc.address);
    assert_eq!(post.program_id, programs::TOKEN_PROGRAM);
    assert_eq!(post.decimals, 6);
    assert!(
        landed
            .log_messages
            .iter()
            .any(|l| l.contains(&programs::TOKEN_PROGRAM.to_string()))
    );
}

pub async fn token_2022_transfer_fee(fx: &Fixture) {
    let (signature, from, to, _alice) = pay(fx, true, 1_000_000).await;
    assert_eq!(
        fx.ledger
            .token_balance(&from)
            .await
            .unwrap()
            .map(|t| t.amount),
        Some(4_000_000)
    );
    // 100 basis points of 1 USDC is withheld from the recipient.
    assert_eq!(
        fx.ledger
            .token_balance(&to)
            .await
            .unwrap()
            .map(|t| t.amount),
        Some(990_000)
    );
    let landed = fx
        .ledger
        .get_transaction(&signature)
        .await
        .unwrap()
        .expect("landed");
    let keys = landed.transaction.message.static_account_keys().to_vec();
    let to_index = keys.iter().position(|k| *k == to).expect("key") as u8;
    let post = landed
        .post_token_balances
        .iter()
        .find(|b| b.account_index == to_index)
        .expect("recipient balance");
    assert_eq!(post.amount, 990_000);
    assert_eq!(post.program_id, programs::TOKEN_2022_PROGRAM);
}

pub async fn expired_blockhash(fx: &Fixture) {
    let payer = fx.funded(SOL).await;
    let ix =
        solana_system_interface::instruction::transfer(&payer.pubkey(), &Address::new_unique(), 1);
    let tx = fx.sign(&[ix], &[&payer]).await;
    fx.embedded.expire_blockhash().await.unwrap();
    assert_eq!(
        fx.ledger.send(&tx).await,
        Err(LedgerError::BlockhashExpired)
    );
    let unknown = sign_with(
        &[solana_system_interface::instruction::transfer(
            &payer.pubkey(),
            &Address::new_unique(),
            1,
        )],
        &[&payer],
        Hash::new_from_array([3; 32]),
    );
    assert_eq!(
        fx.ledger.send(&unknown).await,
        Err(LedgerError::BlockhashExpired)
    );
    assert!(LedgerError::BlockhashExpired.is_retryable());
}

pub async fn duplicate_send(fx: &Fixture) {
    let payer = fx.funded(SOL).await;
    let ix = solana_system_interface::instruction::transfer(
        &payer.pubkey(),
        &Address::new_unique(),
        1_000_000,
    );
    let tx = fx.sign(&[ix], &[&payer]).await;
    fx.ledger.send(&tx).await.unwrap();
    assert_eq!(
        fx.ledger.send(&tx).await,
        Err(LedgerError::AlreadyProcessed)
    );
}

pub async fn failing_instruction(fx: &Fixture) {
    let usdc = fx.embedded.dev_mints().usdc;
    let alice = fx.funded(SOL).await;
    fx.embedded
        .mint_tokens(&usdc.address, &alice.pubkey(), 100)
        .await
        .unwrap();
    let bob = Address::new_unique();
    fx.embedded
        .create_ata(&bob, &usdc.address, &usdc.token_program)
        .await
        .unwrap();
    let ix = transfer_checked(
        &usdc.token_program,
        &usdc.address,
        &alice.pubkey(),
        &bob,
        101,
        6,
    );
    let tx = fx.sign(&[ix], &[&alice]).await;

    let sim = fx.ledger.simulate(&tx).await.unwrap();
    assert_eq!(
        sim.err.as_deref(),
        Some("Error processing Instruction 0: custom program error: 0x1")
    );
    assert!(!sim.logs.is_empty());

    let before = fx.ledger.balance(&alice.pubkey()).await.unwrap();
    match fx.ledger.send(&tx).await {
        Err(LedgerError::TransactionFailed { err, logs }) => {
            assert_eq!(
                err,
                "Error processing Instruction 0: custom program error: 0x1"
            );
            assert!(logs.iter().any(|l| l.contains("failed")), "{logs:?}");
        }
        other => panic!("expected TransactionFailed, got {other:?}"),
    }
    // Preflight refused it: no fee, no signature consumed.
    assert_eq!(fx.ledger.balance(&alice.pubkey()).await.unwrap(), before);
    assert_eq!(
        fx.ledger.signature_status(&tx.signatures[0]).await.unwrap(),
        None
    );
}

pub async fn simulate_success(fx: &Fixture) {
    let payer = fx.funded(SOL).await;
    let to = Address::new_unique();
    let ix = solana_system_interface::instruction::transfer(&payer.pubkey(), &to, 1_000_000);
    let tx = fx.sign(&[ix], &[&payer]).await;
    let sim = fx.ledger.simulate(&tx).await.unwrap();
    assert_eq!(sim.err, None);
    assert!(sim.units_consumed.unwrap_or(0) > 0);
    // Simulation lands nothing.
    assert_eq!(fx.ledger.balance(&to).await.unwrap(), 0);
}

pub async fn confirm_unknown_signature(fx: &Fixture) {
    let signature = Signature::from([9u8; 64]);
    let started = Instant::now();
    let status = fx
        .ledger
        .confirm(
            &signature,
            Commitment::Confirmed,
            Duration::from_millis(300),
        )
        .await
        .unwrap();
    assert_eq!(status, None);
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(
        fx.ledger
            .get_transaction(&signature)
            .await
            .unwrap()
            .is_none()
    );
}

pub async fn network_name(fx: &Fixture) {
    assert_eq!(fx.ledger.network(), "localnet");
    let mint = fx
        .ledger
        .get_account(&fx.embedded.dev_mints().usdc_2022.address)
        .await
        .unwrap()
        .expect("mint");
    assert_eq!(mint.owner, programs::TOKEN_2022_PROGRAM);
}

pub async fn inner_instructions_recorded(fx: &Fixture) {
    let usdc = fx.embedded.dev_mints().usdc_2022;
    let payer = fx.funded(SOL).await;
    let owner = Address::new_unique();
    let ix = spl_associated_token_account_interface::instruction::create_associated_token_account_idempotent(
        &payer.pubkey(),
        &owner,
        &usdc.address,
        &usdc.token_program,
    );
    let tx = fx.sign(&[ix], &[&payer]).await;
    let signature = fx.ledger.send(&tx).await.unwrap();
    let landed = fx
        .ledger
        .get_transaction(&signature)
        .await
        .unwrap()
        .expect("landed");
    let keys = landed.transaction.message.static_account_keys().to_vec();
    assert_eq!(landed.inner_instructions.len(), 1);
    let inner = &landed.inner_instructions[0];
    assert_eq!(inner.index, 0);
    let programs_called: Vec<Address> = inner
        .instructions
        .iter()
        .map(|ix| keys[usize::from(ix.program_id_index)])
        .collect();
    // The ATA program CPIs into Token-2022 (size, immutable owner, init) and System (create).
    assert!(
        programs_called.contains(&programs::TOKEN_2022_PROGRAM),
        "{programs_called:?}"
    );
    assert!(
        programs_called.contains(&programs::SYSTEM_PROGRAM),
        "{programs_called:?}"
    );
    let ata_index = keys
        .iter()
        .position(|k| {
            *k == spl_associated_token_account_interface::address::get_associated_token_address_with_program_id(
                &owner,
                &usdc.address,
                &usdc.token_program,
            )
        })
        .expect("ata key") as u8;
    // A new token account appears in the post balances only.
    assert!(
        landed
            .pre_token_balances
            .iter()
            .all(|b| b.account_index != ata_index)
    );
    let post = landed
        .post_token_balances
        .iter()
        .find(|b| b.account_index == ata_index)
        .expect("post balance");
    assert_eq!((post.owner, post.amount), (owner, 0));
}

/// Creates a lookup table holding a new recipient, then sends it 1 SOL in a v0 transaction
/// that loads the recipient from the table. Returns (signature, recipient).
pub async fn lookup_table_transfer(fx: &Fixture) -> (Signature, Address) {
    use solana_address_lookup_table_interface::instruction as alt;
    let authority = fx.funded(10 * SOL).await;
    let recipient = Address::new_unique();
    let recent_slot = fx.ledger.slot().await.unwrap() - 1;
    let (create, table) =
        alt::create_lookup_table(authority.pubkey(), authority.pubkey(), recent_slot);
    let extend = alt::extend_lookup_table(
        table,
        authority.pubkey(),
        Some(authority.pubkey()),
        vec![recipient],
    );
    let tx = fx.sign(&[create, extend], &[&authority]).await;
    fx.ledger.send(&tx).await.unwrap();

    let blockhash = fx.ledger.latest_blockhash().await.unwrap().blockhash;
    let message = solana_message::v0::Message::try_compile(
        &authority.pubkey(),
        &[solana_system_interface::instruction::transfer(
            &authority.pubkey(),
            &recipient,
            SOL,
        )],
        &[solana_message::AddressLookupTableAccount {
            key: table,
            addresses: vec![recipient],
        }],
        blockhash,
    )
    .unwrap();
    let tx = solana_transaction::versioned::VersionedTransaction::try_new(
        solana_message::VersionedMessage::V0(message),
        &[&authority],
    )
    .unwrap();
    assert!(!tx.message.static_account_keys().contains(&recipient));
    let signature = fx.ledger.send(&tx).await.unwrap();
    (signature, recipient)
}

pub async fn versioned_transaction_with_lookup_table(fx: &Fixture) {
    let (signature, recipient) = lookup_table_transfer(fx).await;
    assert_eq!(fx.ledger.balance(&recipient).await.unwrap(), SOL);

    let landed = fx
        .ledger
        .get_transaction(&signature)
        .await
        .unwrap()
        .expect("landed");
    assert!(matches!(
        landed.transaction.message,
        solana_message::VersionedMessage::V0(_)
    ));
    let statics = landed.transaction.message.static_account_keys().len();
    // The loaded (writable) recipient comes right after the static keys.
    assert_eq!(landed.pre_balances.len(), statics + 1);
    assert_eq!(landed.pre_balances[statics], 0);
    assert_eq!(landed.post_balances[statics], SOL);
}

/// An address's history, newest first, paged with `before`: a read-only reference key finds
/// exactly the transactions that carry it.
pub async fn signatures_for_address(fx: &Fixture) {
    let payer = fx.funded(SOL).await;
    let reference = Address::new_unique();
    let send = async |with_reference: bool| {
        let mut ix = solana_system_interface::instruction::transfer(
            &payer.pubkey(),
            &Address::new_unique(),
            SOL / 1000,
        );
        if with_reference {
            ix.accounts
                .push(solana_instruction::AccountMeta::new_readonly(
                    reference, false,
                ));
        }
        let tx = fx.sign(&[ix], &[&payer]).await;
        let signature = fx.ledger.send(&tx).await.unwrap();
        fx.ledger
            .confirm(&signature, Commitment::Confirmed, Duration::from_secs(5))
            .await
            .unwrap()
            .expect("landed");
        signature
    };
    let first = send(true).await;
    let _other = send(false).await;
    let last = send(true).await;

    let found = fx
        .ledger
        .signatures_for_address(&reference, None, 10)
        .await
        .unwrap();
    let ids: Vec<Signature> = found.iter().map(|s| s.signature).collect();
    assert_eq!(ids, vec![last, first]);
    assert!(found[0].slot > found[1].slot);
    assert_eq!(found[0].err, None);
    assert!(found[0].block_time.is_some());

    let newest = fx
        .ledger
        .signatures_for_address(&reference, None, 1)
        .await
        .unwrap();
    assert_eq!(newest.len(), 1);
    assert_eq!(newest[0].signature, last);
    let older = fx
        .ledger
        .signatures_for_address(&reference, Some(&last), 10)
        .await
        .unwrap();
    assert_eq!(older.len(), 1);
    assert_eq!(older[0].signature, first);

    let payer_history = fx
        .ledger
        .signatures_for_address(&payer.pubkey(), None, 10)
        .await
        .unwrap();
    assert_eq!(payer_history.len(), 4, "three transfers and the funding");
    assert!(
        fx.ledger
            .signatures_for_address(&Address::new_unique(), None, 10)
            .await
            .unwrap()
            .is_empty()
    );
}
