//! The payments program: one receipt per challenge, readable by a server.

use mppsol_solana::policy::receipt;
use mppsol_solana::policy::{
    DEV_PAYMENTS_PROGRAM_ID as PAYMENTS, PaymentReceipt, PaymentsErrorCode as P, challenge_hash,
    find_receipt_address, ix,
};
use solana_account::Account;

use solana_signer::Signer;

use crate::harness::{DAY0, Env, SLOT0, VAULT_START, default_policy, payments_err};

fn read_receipt(env: &Env, challenge_id: &str) -> PaymentReceipt {
    let addr = find_receipt_address(&PAYMENTS, &challenge_hash(challenge_id)).0;
    let acct = env.svm.get_account(&addr).expect("receipt exists");
    assert_eq!(acct.owner, PAYMENTS);
    PaymentReceipt::decode(&acct.data).unwrap()
}

#[test]
fn direct_pay_records_a_receipt_and_a_second_payment_for_the_challenge_fails() {
    let mut env = Env::bare();
    let (payer, a, server) = env.direct_payer(10_000);
    let (source, server_ata) = (a.source, a.destination);
    let hash = challenge_hash("challenge-1");
    env.send(&[receipt::pay(&PAYMENTS, &a, 2_500, &hash)], &[&payer])
        .unwrap();
    assert_eq!(env.balance(&server_ata), 2_500);
    assert_eq!(env.balance(&source), 7_500);

    let r = read_receipt(&env, "challenge-1");
    assert_eq!(r.verify("challenge-1", &server, &env.mint, 2_500), Ok(()));
    assert_eq!(
        (r.payer, r.destination, r.slot, r.unix_timestamp),
        (payer.pubkey(), server_ata, SLOT0, DAY0)
    );

    // Same challenge again (another amount, so a different transaction): refused, nothing moves.
    assert_eq!(
        payments_err(env.send(&[receipt::pay(&PAYMENTS, &a, 2_501, &hash)], &[&payer])),
        P::ReceiptAlreadyExists
    );
    assert_eq!(env.balance(&server_ata), 2_500);
    // Another challenge is another receipt.
    env.send(
        &[receipt::pay(
            &PAYMENTS,
            &a,
            100,
            &challenge_hash("challenge-2"),
        )],
        &[&payer],
    )
    .unwrap();
    assert_eq!(env.balance(&server_ata), 2_600);
    assert_eq!(read_receipt(&env, "challenge-2").amount, 100);
}

#[test]
fn a_prefunded_receipt_address_cannot_block_the_payment() {
    let mut env = Env::bare();
    let (payer, a, _) = env.direct_payer(1_000);
    let (source, server_ata) = (a.source, a.destination);
    let hash = challenge_hash("griefed");
    let addr = find_receipt_address(&PAYMENTS, &hash).0;
    env.svm
        .set_account(
            addr,
            Account {
                lamports: 1_000,
                data: vec![],
                owner: solana_address::Address::default(),
                executable: false,
                rent_epoch: 0,
            },
        )
        .unwrap();
    env.send(&[receipt::pay(&PAYMENTS, &a, 1, &hash)], &[&payer])
        .unwrap();
    assert_eq!(read_receipt(&env, "griefed").amount, 1);
    assert_eq!((env.balance(&source), env.balance(&server_ata)), (999, 1));
}

#[test]
fn receipt_must_be_the_challenge_pda_and_amount_non_zero() {
    let mut env = Env::bare();
    let (payer, a, _) = env.direct_payer(1_000);
    let (source, server_ata) = (a.source, a.destination);
    let mut wrong = receipt::pay(&PAYMENTS, &a, 5, &challenge_hash("a"));
    wrong.accounts[5].pubkey = find_receipt_address(&PAYMENTS, &challenge_hash("b")).0;
    assert_eq!(
        payments_err(env.send(&[wrong], &[&payer])),
        P::ReceiptAddressMismatch
    );
    assert_eq!(
        payments_err(env.send(
            &[receipt::pay(&PAYMENTS, &a, 0, &challenge_hash("a"))],
            &[&payer]
        )),
        P::ZeroAmount
    );
    assert_eq!((env.balance(&source), env.balance(&server_ata)), (1_000, 0));
}

#[test]
fn policy_pay_with_receipt_records_the_wallet_as_payer_once() {
    let mut env = Env::new(&default_policy());
    let (server, server_ata) = env.recipient();
    let agent = env.agent.insecure_clone();
    let hash = challenge_hash("ch-policy");
    let p = env.payment(&server, 300, 1);
    env.send(
        &[ix::pay_with_receipt(&env.k, &p, &PAYMENTS, &hash)],
        &[&agent],
    )
    .unwrap();
    assert_eq!(env.balance(&server_ata), 300);
    assert_eq!(env.balance(&env.vault()), VAULT_START - 300);
    let r = read_receipt(&env, "ch-policy");
    assert_eq!(r.verify("ch-policy", &server, &env.mint, 300), Ok(()));
    assert_eq!(r.payer, env.k.wallet());
    // A new nonce passes the policy, but the challenge is already paid.
    let again = env.payment(&server, 300, 2);
    let res = env.send(
        &[ix::pay_with_receipt(&env.k, &again, &PAYMENTS, &hash)],
        &[&agent],
    );
    assert_eq!(payments_err(res), P::ReceiptAlreadyExists);
    assert_eq!(env.balance(&server_ata), 300);
    assert_eq!(
        env.wallet_state().last_nonce,
        1,
        "the failed payment changed nothing"
    );
}

#[test]
fn policy_pay_with_receipt_refuses_a_payments_program_the_policy_does_not_name() {
    let mut env = Env::new(&mppsol_solana::policy::PolicyConfig {
        payments_program: None,
        ..default_policy()
    });
    let (server, _) = env.recipient();
    let agent = env.agent.insecure_clone();
    let p = env.payment(&server, 300, 1);
    let res = env.send(
        &[ix::pay_with_receipt(
            &env.k,
            &p,
            &PAYMENTS,
            &challenge_hash("x"),
        )],
        &[&agent],
    );
    assert_eq!(
        crate::harness::policy_err(res),
        mppsol_solana::policy::PolicyErrorCode::PaymentsProgramNotAllowed
    );
}
