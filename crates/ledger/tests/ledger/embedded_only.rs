//! What only the embedded ledger offers: dev assets, clock control, preflight choice.

use std::time::{Duration, Instant};

use mppsol_ledger::embedded::{EmbeddedConfig, EmbeddedLedger, TransferFee};
use mppsol_ledger::{Commitment, Ledger, LedgerError, programs};
use solana_address::Address;
use solana_keypair::Keypair;
use solana_signer::Signer;
use spl_token_2022_interface::extension::transfer_fee::TransferFeeConfig;
use spl_token_2022_interface::extension::{BaseStateWithExtensions, StateWithExtensions};

use crate::common::{Fixture, SOL, transfer_checked};

/// The Clock sysvar's fields we check (five little-endian 64-bit words).
struct ClockView {
    slot: u64,
    unix_timestamp: i64,
}

impl ClockView {
    fn parse(data: &[u8]) -> Self {
        let word = |i: usize| <[u8; 8]>::try_from(&data[i * 8..i * 8 + 8]).unwrap();
        ClockView {
            slot: u64::from_le_bytes(word(0)),
            unix_timestamp: i64::from_le_bytes(word(4)),
        }
    }
}

fn assert_send_sync_clone<T: Send + Sync + Clone + 'static>() {}

#[tokio::test]
async fn dev_assets_are_deterministic_and_real() {
    assert_send_sync_clone::<EmbeddedLedger>();
    let a = EmbeddedLedger::new(EmbeddedConfig::default())
        .await
        .unwrap();
    let b = EmbeddedLedger::new(EmbeddedConfig::default())
        .await
        .unwrap();
    assert_eq!(a.dev_mints(), b.dev_mints());
    assert_eq!(a.faucet(), b.faucet());
    assert_eq!(a.genesis_hash(), b.genesis_hash());
    let other = EmbeddedLedger::new(EmbeddedConfig {
        seed: 7,
        usdc_2022_fee: TransferFee {
            basis_points: 50,
            maximum_fee: 5_000,
        },
        ..EmbeddedConfig::default()
    })
    .await
    .unwrap();
    assert_ne!(other.dev_mints().usdc.address, a.dev_mints().usdc.address);
    assert_ne!(other.faucet(), a.faucet());

    let mints = a.dev_mints();
    assert_eq!(mints.usdc.decimals, 6);
    assert_eq!(mints.usdc.token_program, programs::TOKEN_PROGRAM);
    assert_eq!(mints.usdc.transfer_fee, None);
    assert_eq!(mints.usdc_2022.token_program, programs::TOKEN_2022_PROGRAM);
    assert_eq!(
        mints.usdc_2022.transfer_fee,
        Some(TransferFee {
            basis_points: 100,
            maximum_fee: 1_000_000
        })
    );

    // The mint really carries the extension, with the configured fee.
    let account = other
        .get_account(&other.dev_mints().usdc_2022.address)
        .await
        .unwrap()
        .expect("mint");
    let state = StateWithExtensions::<spl_token_2022_interface::state::Mint>::unpack(&account.data)
        .unwrap();
    let fee = state.get_extension::<TransferFeeConfig>().unwrap();
    assert_eq!(
        u16::from(fee.newer_transfer_fee.transfer_fee_basis_points),
        50
    );
    assert_eq!(u64::from(fee.newer_transfer_fee.maximum_fee), 5_000);
    assert_eq!(state.base.decimals, 6);
    assert_eq!(
        Option::<Address>::from(state.base.mint_authority),
        Some(other.faucet())
    );
}

#[tokio::test]
async fn clock_follows_wall_time_and_advances_per_transaction() {
    let fx = Fixture::embedded().await;
    let clock = |fx: &Fixture| {
        let ledger = fx.embedded.clone();
        async move {
            let account = ledger
                .get_account(&programs::SYSVAR_CLOCK)
                .await
                .unwrap()
                .unwrap();
            ClockView::parse(&account.data)
        }
    };
    let wall = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let before = clock(&fx).await;
    assert!(
        (before.unix_timestamp - wall).abs() <= 2,
        "{} vs {wall}",
        before.unix_timestamp
    );
    assert_eq!(before.slot, fx.ledger.slot().await.unwrap());

    let signature = fx
        .ledger
        .airdrop(&Address::new_unique(), SOL)
        .await
        .unwrap();
    let after = clock(&fx).await;
    assert_eq!(after.slot, before.slot + 1);
    let landed = fx
        .ledger
        .get_transaction(&signature)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(landed.slot, before.slot);

    fx.embedded.set_unix_timestamp(1_000_000).await.unwrap();
    let moved = clock(&fx).await;
    assert!((moved.unix_timestamp - 1_000_000).abs() <= 1);
    assert_eq!(fx.embedded.unix_timestamp().await.unwrap() / 10, 100_000);

    let height = fx.embedded.block_height().await.unwrap();
    fx.embedded.advance_slots(10).await.unwrap();
    assert_eq!(fx.embedded.block_height().await.unwrap(), height + 10);
    assert_eq!(clock(&fx).await.slot, after.slot + 10);
}

#[tokio::test]
async fn without_preflight_a_failing_transaction_lands_and_pays_its_fee() {
    let fx = Fixture::embedded().await;
    let usdc = fx.embedded.dev_mints().usdc;
    let alice = fx.funded(SOL).await;
    fx.embedded
        .mint_tokens(&usdc.address, &alice.pubkey(), 10)
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
        11,
        6,
    );
    let tx = fx.sign(&[ix], &[&alice]).await;

    let signature = fx.embedded.send_with_options(&tx, true).await.unwrap();
    let status = fx
        .ledger
        .signature_status(&signature)
        .await
        .unwrap()
        .expect("landed");
    assert_eq!(
        status.err.as_deref(),
        Some("Error processing Instruction 0: custom program error: 0x1")
    );
    assert_eq!(
        fx.ledger.balance(&alice.pubkey()).await.unwrap(),
        SOL - 5000
    );
    let landed = fx
        .ledger
        .get_transaction(&signature)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(landed.err, status.err);
    assert_eq!(landed.fee, 5000);
    assert_eq!(
        fx.embedded.send_with_options(&tx, true).await,
        Err(LedgerError::AlreadyProcessed)
    );
}

#[tokio::test]
async fn mint_tokens_reuses_the_associated_account() {
    let fx = Fixture::embedded().await;
    let mint = fx.embedded.dev_mints().usdc_2022;
    let owner = Address::new_unique();
    let first = fx
        .embedded
        .mint_tokens(&mint.address, &owner, 1_000)
        .await
        .unwrap();
    let second = fx
        .embedded
        .mint_tokens(&mint.address, &owner, 2_000)
        .await
        .unwrap();
    assert_eq!(first, second);
    assert_eq!(
        first,
        spl_associated_token_account_interface::address::get_associated_token_address_with_program_id(
            &owner,
            &mint.address,
            &programs::TOKEN_2022_PROGRAM,
        )
    );
    let balance = fx.ledger.token_balance(&first).await.unwrap().unwrap();
    assert_eq!((balance.amount, balance.decimals), (3_000, 6));
    // Not a mint the faucet controls.
    assert!(matches!(
        fx.embedded
            .mint_tokens(&Address::new_unique(), &owner, 1)
            .await,
        Err(LedgerError::Embedded(_))
    ));
}

#[tokio::test]
async fn add_program_rejects_a_bad_elf() {
    let fx = Fixture::embedded().await;
    let result = fx
        .embedded
        .add_program(Address::new_unique(), b"not an elf")
        .await;
    assert!(
        matches!(result, Err(LedgerError::Embedded(ref m)) if m.contains("loading program")),
        "{result:?}"
    );
}

#[tokio::test]
async fn confirm_wakes_up_when_the_transaction_lands() {
    let fx = Fixture::embedded().await;
    let payer = fx.funded(SOL).await;
    let ix = solana_system_interface::instruction::transfer(
        &payer.pubkey(),
        &Address::new_unique(),
        1_000_000,
    );
    let tx = fx.sign(&[ix], &[&payer]).await;
    let ledger = fx.embedded.clone();
    let signature = tx.signatures[0];
    let waiter = tokio::spawn(async move {
        ledger
            .confirm(&signature, Commitment::Finalized, Duration::from_secs(20))
            .await
    });
    let started = Instant::now();
    tokio::task::yield_now().await;
    fx.ledger.send(&tx).await.unwrap();
    let status = waiter.await.unwrap().unwrap().expect("confirmed");
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(status.err, None);
}

#[tokio::test]
async fn usable_from_many_tasks_at_once() {
    let fx = Fixture::embedded().await;
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let ledger = fx.embedded.clone();
        tasks.push(tokio::spawn(async move {
            let who = Keypair::new().pubkey();
            ledger.airdrop(&who, 3 * SOL).await.unwrap();
            ledger.balance(&who).await.unwrap()
        }));
    }
    for task in tasks {
        assert_eq!(task.await.unwrap(), 3 * SOL);
    }
}

/// The canonical one-signature Ed25519 precompile instruction: header, key, signature, message.
fn ed25519_ix(signer: &Keypair, message: &[u8], tamper: bool) -> solana_instruction::Instruction {
    let mut sig: [u8; 64] = signer.sign_message(message).into();
    if tamper {
        sig[0] ^= 1;
    }
    let mut data = vec![1u8, 0];
    let msg_len = u16::try_from(message.len()).unwrap();
    for v in [48u16, u16::MAX, 16, u16::MAX, 112, msg_len, u16::MAX] {
        data.extend_from_slice(&v.to_le_bytes());
    }
    data.extend_from_slice(signer.pubkey().as_ref());
    data.extend_from_slice(&sig);
    data.extend_from_slice(message);
    solana_instruction::Instruction {
        program_id: programs::ED25519_PROGRAM,
        accounts: vec![],
        data,
    }
}

#[tokio::test]
async fn ed25519_precompile_verifies_signatures() {
    let fx = Fixture::embedded().await;
    let payer = fx.funded(SOL).await;
    let signer = Keypair::new();
    let good = fx
        .sign(&[ed25519_ix(&signer, b"voucher bytes", false)], &[&payer])
        .await;
    fx.ledger
        .send(&good)
        .await
        .expect("a valid signature lands");
    let bad = fx
        .sign(&[ed25519_ix(&signer, b"voucher bytes", true)], &[&payer])
        .await;
    let err = fx.ledger.send(&bad).await.unwrap_err();
    assert!(
        matches!(&err, LedgerError::TransactionFailed { err, .. } if err.contains("Instruction 0")),
        "{err:?}"
    );
}

#[tokio::test]
async fn channel_program_is_loaded_unless_disabled() {
    let fx = Fixture::embedded().await;
    let account = fx
        .ledger
        .get_account(&programs::DEV_CHANNEL_PROGRAM_ID)
        .await
        .unwrap()
        .expect("the channel program is deployed at genesis");
    assert!(account.executable);
    let bare = EmbeddedLedger::new(EmbeddedConfig {
        channel_program: None,
        ..EmbeddedConfig::default()
    })
    .await
    .unwrap();
    assert!(
        bare.get_account(&programs::DEV_CHANNEL_PROGRAM_ID)
            .await
            .unwrap()
            .is_none()
    );
}
