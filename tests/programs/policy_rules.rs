//! Every policy rule refuses what it should and allows what it should, balances to the unit.

use mppsol_solana::policy::state::CategorySet;
use mppsol_solana::policy::{Counterparties, PolicyConfig, PolicyErrorCode as E};
use solana_address::Address;

use crate::harness::{DAY0, Env, VAULT_START, default_policy, policy_err};

#[test]
fn allowed_payment_moves_exactly_the_amount_and_records_nonce_and_spend() {
    let mut env = Env::new(&default_policy());
    let (to, to_ata) = env.recipient();
    env.pay(&env.payment(&to, 400, 1)).unwrap();
    assert_eq!(env.balance(&to_ata), 400);
    assert_eq!(env.balance(&env.vault()), VAULT_START - 400);
    let w = env.wallet_state();
    assert_eq!(w.last_nonce, 1);
    assert_eq!(w.spent_today, 400);
    assert_eq!(w.day_index, (DAY0 / 86_400) as u64);
    assert_eq!(w.remaining_today(DAY0), 2_600);
}

#[test]
fn over_single_limit_is_refused_and_nothing_moves() {
    let mut env = Env::new(&default_policy());
    let (to, to_ata) = env.recipient();
    let mut p = env.payment(&to, 1_001, 1);
    p.owner_signs = true;
    assert_eq!(policy_err(env.pay(&p)), E::OverSingleLimit);
    assert_eq!(env.balance(&to_ata), 0);
    assert_eq!(env.balance(&env.vault()), VAULT_START);
    p.amount = 1_000;
    env.pay(&p).unwrap();
    assert_eq!(env.balance(&to_ata), 1_000);
}

#[test]
fn daily_limit_holds_within_a_day_and_resets_at_the_day_boundary() {
    let mut env = Env::new(&PolicyConfig {
        escalation_threshold: u64::MAX,
        ..default_policy()
    });
    let (to, to_ata) = env.recipient();
    let last_second = (DAY0 / 86_400 + 1) * 86_400 - 1;
    env.set_time(last_second - 100);
    for nonce in 1..=3 {
        env.pay(&env.payment(&to, 1_000, nonce)).unwrap();
    }
    // 3 000 spent: one more unit the same day is over.
    env.set_time(last_second);
    assert_eq!(
        policy_err(env.pay(&env.payment(&to, 1, 4))),
        E::OverDailyLimit
    );
    // The next UTC day starts a new window.
    env.set_time(last_second + 1);
    env.pay(&env.payment(&to, 1_000, 4)).unwrap();
    assert_eq!(env.balance(&to_ata), 4_000);
    let w = env.wallet_state();
    assert_eq!(w.spent_today, 1_000);
    assert_eq!(w.day_index, (last_second + 1) as u64 / 86_400);
    // A payment that would cross the limit is refused whole, not partly paid.
    env.pay(&env.payment(&to, 1_000, 5)).unwrap();
    assert_eq!(
        policy_err(env.pay(&env.payment(&to, 1_001, 6))),
        E::OverSingleLimit
    );
    env.pay(&env.payment(&to, 999, 6)).unwrap();
    assert_eq!(
        policy_err(env.pay(&env.payment(&to, 2, 7))),
        E::OverDailyLimit
    );
    assert_eq!(env.balance(&to_ata), 4_000 + 1_999);
}

#[test]
fn counterparty_outside_the_allow_list_is_refused() {
    let allowed = Address::new_unique();
    let mut env = Env::new(&PolicyConfig {
        counterparties: Counterparties::Only(vec![Address::new_unique(), allowed]),
        ..default_policy()
    });
    let allowed_ata = env.token_account(&allowed, 0);
    let (other, other_ata) = env.recipient();
    assert_eq!(
        policy_err(env.pay(&env.payment(&other, 10, 1))),
        E::CounterpartyNotAllowed
    );
    assert_eq!(env.balance(&other_ata), 0);
    env.pay(&env.payment(&allowed, 10, 1)).unwrap();
    assert_eq!(env.balance(&allowed_ata), 10);
}

#[test]
fn an_empty_allow_list_allows_nobody() {
    let mut env = Env::new(&PolicyConfig {
        counterparties: Counterparties::Only(vec![]),
        ..default_policy()
    });
    let (to, _) = env.recipient();
    assert_eq!(
        policy_err(env.pay(&env.payment(&to, 10, 1))),
        E::CounterpartyNotAllowed
    );
}

#[test]
fn category_outside_the_set_is_refused() {
    let mut env = Env::new(&PolicyConfig {
        categories: CategorySet::of(&[3, 200]),
        ..default_policy()
    });
    let (to, to_ata) = env.recipient();
    let mut p = env.payment(&to, 10, 1);
    p.category = 4;
    assert_eq!(policy_err(env.pay(&p)), E::CategoryNotAllowed);
    p.category = 200;
    env.pay(&p).unwrap();
    assert_eq!(env.balance(&to_ata), 10);
}

#[test]
fn missing_memo_is_refused_when_required() {
    let mut env = Env::new(&PolicyConfig {
        require_memo: true,
        ..default_policy()
    });
    let (to, to_ata) = env.recipient();
    let mut p = env.payment(&to, 10, 1);
    assert_eq!(policy_err(env.pay(&p)), E::MemoRequired);
    p.memo = b"mpp:challenge-42".to_vec();
    let agent = env.agent.insecure_clone();
    let (_, logs) = env
        .send_logged(&[mppsol_solana::policy::ix::pay(&env.k, &p)], &[&agent])
        .unwrap();
    assert_eq!(env.balance(&to_ata), 10);
    // The memo went through SPL Memo, by CPI (depth 2), in the same instruction.
    assert!(
        logs.iter()
            .any(|l| l == "Program MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr invoke [2]")
    );
    assert!(
        logs.iter().any(|l| l == "Program log: Memo (len 16)"),
        "{logs:#?}"
    );
    p.memo = vec![b'x'; 567];
    p.nonce = 2;
    assert_eq!(policy_err(env.pay(&p)), E::MemoTooLong);
}

#[test]
fn above_escalation_needs_the_owner_co_signature() {
    let mut env = Env::new(&default_policy());
    let (to, to_ata) = env.recipient();
    let mut p = env.payment(&to, 501, 1);
    assert_eq!(policy_err(env.pay(&p)), E::EscalationRequired);
    // At the threshold the agent alone suffices.
    p.amount = 500;
    env.pay(&p).unwrap();
    p.amount = 501;
    p.nonce = 2;
    p.owner_signs = true;
    env.pay(&p).unwrap();
    assert_eq!(env.balance(&to_ata), 1_001);
}

#[test]
fn paused_wallet_refuses_until_unpaused() {
    let mut env = Env::new(&default_policy());
    let (to, to_ata) = env.recipient();
    let owner = env.owner.insecure_clone();
    env.send(
        &[mppsol_solana::policy::ix::set_paused(&env.k, true)],
        &[&owner],
    )
    .unwrap();
    assert!(env.wallet_state().paused);
    assert_eq!(policy_err(env.pay(&env.payment(&to, 10, 1))), E::Paused);
    env.send(
        &[mppsol_solana::policy::ix::set_paused(&env.k, false)],
        &[&owner],
    )
    .unwrap();
    env.pay(&env.payment(&to, 10, 1)).unwrap();
    assert_eq!(env.balance(&to_ata), 10);
}

#[test]
fn replayed_or_lower_nonce_is_refused() {
    let mut env = Env::new(&default_policy());
    let (to, to_ata) = env.recipient();
    assert_eq!(
        policy_err(env.pay(&env.payment(&to, 10, 0))),
        E::NonceReplayed
    );
    env.pay(&env.payment(&to, 10, 1)).unwrap();
    assert_eq!(
        policy_err(env.pay(&env.payment(&to, 11, 1))),
        E::NonceReplayed
    );
    env.pay(&env.payment(&to, 10, 7)).unwrap();
    assert_eq!(
        policy_err(env.pay(&env.payment(&to, 12, 6))),
        E::NonceReplayed
    );
    assert_eq!(env.wallet_state().last_nonce, 7);
    assert_eq!(env.balance(&to_ata), 20);
}

#[test]
fn zero_amount_and_foreign_agent_are_refused() {
    let mut env = Env::new(&default_policy());
    let (to, _) = env.recipient();
    assert_eq!(policy_err(env.pay(&env.payment(&to, 0, 1))), E::ZeroAmount);
    // Someone else signing as agent for this wallet.
    let stranger = solana_keypair::Keypair::new();
    env.svm
        .airdrop(&solana_signer::Signer::pubkey(&stranger), 1_000_000_000)
        .unwrap();
    let mut ix = mppsol_solana::policy::ix::pay(&env.k, &env.payment(&to, 10, 1));
    ix.accounts[0].pubkey = solana_signer::Signer::pubkey(&stranger);
    assert_eq!(policy_err(env.send(&[ix], &[&stranger])), E::NotAgent);
}

#[test]
fn recipient_account_must_be_the_recipients_ata() {
    let mut env = Env::new(&default_policy());
    let (to, _) = env.recipient();
    let (_, other_ata) = env.recipient();
    let mut ix = mppsol_solana::policy::ix::pay(&env.k, &env.payment(&to, 10, 1));
    ix.accounts[5].pubkey = other_ata;
    let agent = env.agent.insecure_clone();
    assert_eq!(
        policy_err(env.send(&[ix], &[&agent])),
        E::RecipientAccountMismatch
    );
    assert_eq!(env.balance(&other_ata), 0);
}

#[test]
fn token_2022_mint_pays_and_limits_apply() {
    let mut env = Env::new_with(
        &default_policy(),
        mppsol_solana::token::TokenProgram::Token2022,
    );
    let (to, to_ata) = env.recipient();
    env.pay(&env.payment(&to, 250, 1)).unwrap();
    assert_eq!(env.balance(&to_ata), 250);
    assert_eq!(env.balance(&env.vault()), VAULT_START - 250);
    assert_eq!(
        policy_err(env.pay(&env.payment(&to, 1_001, 2))),
        E::OverSingleLimit
    );
}
