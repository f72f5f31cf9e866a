//! Another program paying through the CPI primitive (`programs/cpi`), from its own PDA.

use mppsol_solana::policy::ix;
use mppsol_solana::policy::{
    DEV_EXAMPLE_VAULT_PROGRAM_ID as VAULT, DEV_PAYMENTS_PROGRAM_ID as PAYMENTS,
    DEV_POLICY_PROGRAM_ID as POLICY, PaymentReceipt, PaymentsErrorCode as P, PolicyErrorCode as E,
    challenge_hash, example_vault_authority, find_receipt_address,
};
use solana_keypair::Keypair;
use solana_signer::Signer;

use crate::harness::{Env, custom, default_policy, payments_err, policy_err};

#[test]
fn vault_pda_pays_an_oracle_with_a_receipt_once_per_challenge() {
    let mut env = Env::bare();
    let owner = Keypair::new();
    env.svm.airdrop(&owner.pubkey(), 1_000_000_000).unwrap();
    let authority = example_vault_authority(&VAULT, &owner.pubkey(), &PAYMENTS);
    let vault_ata = env.token_account(&authority, 5_000);
    let (oracle, oracle_ata) = env.recipient();
    let hash = challenge_hash("quote-SOL-USD-1");
    let buy = |amount| {
        ix::example_buy_quote(&ix::ExampleQuote {
            program: VAULT,
            payments_program: PAYMENTS,
            owner: owner.pubkey(),
            rent_payer: owner.pubkey(),
            oracle,
            mint: env.mint,
            token_program: env.tp,
            amount,
            challenge_hash: hash,
        })
    };
    let (first, second) = (buy(1_200), buy(1_300));
    env.send(&[first], &[&owner]).unwrap();
    assert_eq!(env.balance(&oracle_ata), 1_200);
    assert_eq!(env.balance(&vault_ata), 3_800);
    let acct = env
        .svm
        .get_account(&find_receipt_address(&PAYMENTS, &hash).0)
        .unwrap();
    let r = PaymentReceipt::decode(&acct.data).unwrap();
    assert_eq!(
        r.verify("quote-SOL-USD-1", &oracle, &env.mint, 1_200),
        Ok(())
    );
    assert_eq!(r.payer, authority);
    assert_eq!(
        payments_err(env.send(&[second], &[&owner])),
        P::ReceiptAlreadyExists
    );
    assert_eq!(env.balance(&oracle_ata), 1_200);
}

#[test]
fn vault_refuses_an_authority_that_is_not_its_pda() {
    let mut env = Env::bare();
    let owner = Keypair::new();
    let stranger = Keypair::new();
    env.svm.airdrop(&stranger.pubkey(), 1_000_000_000).unwrap();
    let authority = example_vault_authority(&VAULT, &owner.pubkey(), &PAYMENTS);
    env.token_account(&authority, 5_000);
    let (oracle, _) = env.recipient();
    // The stranger names the owner's vault but signs as themselves.
    let mut buy = ix::example_buy_quote(&ix::ExampleQuote {
        program: VAULT,
        payments_program: PAYMENTS,
        owner: stranger.pubkey(),
        rent_payer: stranger.pubkey(),
        oracle,
        mint: env.mint,
        token_program: env.tp,
        amount: 1,
        challenge_hash: challenge_hash("x"),
    });
    buy.accounts[2].pubkey = authority;
    let err = env.send(&[buy], &[&stranger]).unwrap_err();
    assert_eq!(custom(&err), Some(8003));
}

/// A chain where the example vault's agent PDA is the agent of a policy wallet (default policy)
/// whose vault holds 10 000: (env, the vault owner, the routing, the wallet's vault).
fn vault_agent_wallet() -> (Env, Keypair, ix::ExampleViaPolicy, solana_address::Address) {
    let mut env = Env::bare();
    let vault_owner = Keypair::new();
    env.svm
        .airdrop(&vault_owner.pubkey(), 1_000_000_000)
        .unwrap();
    let via = ix::ExampleViaPolicy {
        program: VAULT,
        policy_program: POLICY,
        owner: vault_owner.pubkey(),
        wallet_owner: env.owner.pubkey(),
    };
    let k = via.wallet_keys();
    // The agent PDA funds receipts, so it holds lamports (a system account without data).
    env.svm.airdrop(&k.agent, 100_000_000).unwrap();
    let owner = env.owner.insecure_clone();
    env.send(
        &[ix::create_wallet(&k, &default_policy()).unwrap()],
        &[&owner],
    )
    .unwrap();
    let wallet_vault = env.token_account(&k.wallet(), 10_000);
    (env, vault_owner, via, wallet_vault)
}

#[test]
fn vault_agent_pays_through_a_policy_wallet_and_the_policy_still_applies() {
    let (mut env, vault_owner, via, wallet_vault) = vault_agent_wallet();
    let (oracle, oracle_ata) = env.recipient();
    let p = env.payment(&oracle, 450, 1);
    env.send(
        &[ix::example_buy_quote_via_policy(&via, &p)],
        &[&vault_owner],
    )
    .unwrap();
    assert_eq!(env.balance(&oracle_ata), 450);
    assert_eq!(env.balance(&wallet_vault), 9_550);
    // The policy's escalation rule binds the program too: the PDA agent cannot exceed 500 alone.
    let big = env.payment(&oracle, 600, 2);
    let res = env.send(
        &[ix::example_buy_quote_via_policy(&via, &big)],
        &[&vault_owner],
    );
    assert_eq!(policy_err(res), E::EscalationRequired);
    assert_eq!(env.balance(&oracle_ata), 450);
}

#[test]
fn vault_agent_pays_through_the_policy_with_a_receipt() {
    let (mut env, vault_owner, via, wallet_vault) = vault_agent_wallet();
    let k = via.wallet_keys();
    let (oracle, oracle_ata) = env.recipient();
    let hash = challenge_hash("quote-with-receipt");
    let p = env.payment(&oracle, 300, 1);
    env.send(
        &[ix::example_buy_quote_via_policy_with_receipt(
            &via, &p, &PAYMENTS, &hash,
        )],
        &[&vault_owner],
    )
    .unwrap();
    assert_eq!(
        (env.balance(&oracle_ata), env.balance(&wallet_vault)),
        (300, 9_700)
    );
    let acct = env
        .svm
        .get_account(&find_receipt_address(&PAYMENTS, &hash).0)
        .unwrap();
    let r = PaymentReceipt::decode(&acct.data).unwrap();
    assert_eq!(
        r.verify("quote-with-receipt", &oracle, &env.mint, 300),
        Ok(())
    );
    assert_eq!(r.payer, k.wallet());
    // Program -> policy -> payments: the second payment for the challenge still fails.
    let again = env.payment(&oracle, 300, 2);
    let res = env.send(
        &[ix::example_buy_quote_via_policy_with_receipt(
            &via, &again, &PAYMENTS, &hash,
        )],
        &[&vault_owner],
    );
    assert_eq!(payments_err(res), P::ReceiptAlreadyExists);
    assert_eq!(env.balance(&oracle_ata), 300);
}
