//! Owner instructions: only the owner may set the policy, pause, withdraw and close.

use mppsol_solana::policy::ix::{self, WalletKeys};
use mppsol_solana::policy::{PolicyConfig, PolicyErrorCode as E};
use solana_keypair::Keypair;
use solana_signer::Signer;

use crate::harness::{Env, VAULT_START, default_policy, policy_err};

/// `ix` with its first account (the owner) replaced by `who`.
fn as_signer(
    mut ix: solana_instruction::Instruction,
    who: &Keypair,
) -> solana_instruction::Instruction {
    ix.accounts[0].pubkey = who.pubkey();
    ix
}

#[test]
fn a_stranger_cannot_use_owner_instructions() {
    let mut env = Env::new(&default_policy());
    let stranger = Keypair::new();
    env.svm.airdrop(&stranger.pubkey(), 1_000_000_000).unwrap();
    let loose = PolicyConfig {
        max_single: u64::MAX,
        max_daily: u64::MAX,
        ..default_policy()
    };
    let dest = env.token_account(&stranger.pubkey(), 0);
    let attempts = [
        ix::set_policy(&env.k, &loose).unwrap(),
        ix::set_paused(&env.k, true),
        ix::withdraw(&env.k, &env.mint, env.tp, &dest, 1),
        ix::close_wallet(&env.k, &env.mint, env.tp),
    ];
    for attempt in attempts {
        assert_eq!(
            policy_err(env.send(&[as_signer(attempt, &stranger)], &[&stranger])),
            E::NotOwner
        );
    }
    // The agent is not the owner either.
    let agent = env.agent.insecure_clone();
    let ix = as_signer(ix::set_policy(&env.k, &loose).unwrap(), &agent);
    assert_eq!(policy_err(env.send(&[ix], &[&agent])), E::NotOwner);
    assert_eq!(env.balance(&dest), 0);
    assert_eq!(env.wallet_state().policy, default_policy());
}

#[test]
fn set_policy_replaces_rules_but_keeps_nonce_and_spend() {
    let mut env = Env::new(&default_policy());
    let (to, _) = env.recipient();
    env.pay(&env.payment(&to, 300, 4)).unwrap();
    let owner = env.owner.insecure_clone();
    let tighter = PolicyConfig {
        max_single: 100,
        ..default_policy()
    };
    env.send(&[ix::set_policy(&env.k, &tighter).unwrap()], &[&owner])
        .unwrap();
    let w = env.wallet_state();
    assert_eq!(w.policy, tighter);
    assert_eq!((w.last_nonce, w.spent_today), (4, 300));
    assert_eq!(
        policy_err(env.pay(&env.payment(&to, 101, 5))),
        E::OverSingleLimit
    );
}

#[test]
fn malformed_policy_and_second_create_are_refused() {
    let mut env = Env::new(&default_policy());
    let owner = env.owner.insecure_clone();
    let mut bad = ix::set_policy(&env.k, &default_policy()).unwrap();
    bad.data[1 + 24] |= 0x80; // unknown flag bit
    assert_eq!(policy_err(env.send(&[bad], &[&owner])), E::InvalidPolicy);
    let mut short = ix::set_policy(&env.k, &default_policy()).unwrap();
    short.data.pop();
    assert_eq!(policy_err(env.send(&[short], &[&owner])), E::InvalidPolicy);
    let again = ix::create_wallet(&env.k, &default_policy()).unwrap();
    assert_eq!(
        policy_err(env.send(&[again], &[&owner])),
        E::WalletAlreadyExists
    );
}

#[test]
fn create_refuses_an_address_that_is_not_the_wallet_pda() {
    let mut env = Env::bare();
    let owner = env.owner.insecure_clone();
    let other = WalletKeys {
        agent: solana_address::Address::new_unique(),
        ..env.k
    };
    let mut ix = ix::create_wallet(&env.k, &default_policy()).unwrap();
    ix.accounts[2].pubkey = other.wallet();
    assert_eq!(
        policy_err(env.send(&[ix], &[&owner])),
        E::WalletAddressMismatch
    );
}

#[test]
fn owner_withdraws_then_closes_and_gets_the_rent_back() {
    let mut env = Env::new(&default_policy());
    let owner = env.owner.insecure_clone();
    let dest = env.token_account(&owner.pubkey(), 0);
    env.send(
        &[ix::withdraw(&env.k, &env.mint, env.tp, &dest, 250)],
        &[&owner],
    )
    .unwrap();
    assert_eq!(env.balance(&dest), 250);
    assert_eq!(
        policy_err(env.send(&[ix::close_wallet(&env.k, &env.mint, env.tp)], &[&owner])),
        E::VaultNotEmpty
    );
    env.send(
        &[ix::withdraw(
            &env.k,
            &env.mint,
            env.tp,
            &dest,
            VAULT_START - 250,
        )],
        &[&owner],
    )
    .unwrap();
    assert_eq!(env.balance(&dest), VAULT_START);
    let wallet = env.k.wallet();
    let rent = env.svm.get_balance(&wallet).unwrap() + env.svm.get_balance(&env.vault()).unwrap();
    let before = env.svm.get_balance(&owner.pubkey()).unwrap();
    env.send(&[ix::close_wallet(&env.k, &env.mint, env.tp)], &[&owner])
        .unwrap();
    let after = env.svm.get_balance(&owner.pubkey()).unwrap();
    assert_eq!(
        after,
        before + rent - 5_000,
        "rent back, minus one signature fee"
    );
    assert!(env.svm.get_account(&wallet).is_none_or(|a| a.lamports == 0));
    assert!(
        env.svm
            .get_account(&env.vault())
            .is_none_or(|a| a.lamports == 0)
    );
}
