//! The wallet funds and tops up a payment channel by CPI into the channel program.

use mppsol_solana::channel::ix::OpenArgs;
use mppsol_solana::channel::{ChannelState, DEV_CHANNEL_PROGRAM_ID, escrow_address};
use mppsol_solana::policy::ix::{self, WalletChannel};
use mppsol_solana::policy::{Counterparties, PolicyConfig, PolicyErrorCode as E};
use solana_address::Address;

use crate::harness::{Env, SLOT0, VAULT_START, default_policy, policy_err};

fn open_args(deposit: u64) -> OpenArgs {
    OpenArgs {
        salt: 1,
        deposit,
        grace_period: 600,
        open_slot: SLOT0,
        splits: vec![],
    }
}

#[test]
fn wallet_funds_and_tops_up_a_channel_under_the_policy() {
    let mut env = Env::new(&default_policy());
    let payee = Address::new_unique();
    let c = WalletChannel {
        channel_program: DEV_CHANNEL_PROGRAM_ID,
        payee,
        mint: env.mint,
        token_program: env.tp,
    };
    let agent = env.agent.insecure_clone();
    let args = open_args(400);
    env.send(&[ix::fund_channel(&env.k, &c, &args, 1, false)], &[&agent])
        .unwrap();
    let channel = c.channel_address(&env.k, &args);
    let escrow = escrow_address(&channel, &env.mint, env.tp);
    assert_eq!(env.balance(&escrow), 400);
    assert_eq!(env.balance(&env.vault()), VAULT_START - 400);
    let state = ChannelState::decode(&env.svm.get_account(&channel).unwrap().data).unwrap();
    assert_eq!(
        (
            state.payer,
            state.payee,
            state.authorized_signer,
            state.deposit
        ),
        (env.k.wallet(), payee, env.k.agent, 400)
    );

    env.send(
        &[ix::top_up_channel(&env.k, &c, &channel, 350, 2, false)],
        &[&agent],
    )
    .unwrap();
    assert_eq!(env.balance(&escrow), 750);
    assert_eq!(env.wallet_state().spent_today, 750);
    // The same rules apply: over single, escalation, replay.
    assert_eq!(
        policy_err(env.send(
            &[ix::top_up_channel(&env.k, &c, &channel, 1_001, 3, false)],
            &[&agent]
        )),
        E::OverSingleLimit
    );
    assert_eq!(
        policy_err(env.send(
            &[ix::top_up_channel(&env.k, &c, &channel, 501, 3, false)],
            &[&agent]
        )),
        E::EscalationRequired
    );
    assert_eq!(
        policy_err(env.send(
            &[ix::top_up_channel(&env.k, &c, &channel, 1, 2, false)],
            &[&agent]
        )),
        E::NonceReplayed
    );
    assert_eq!(env.balance(&escrow), 750);
}

#[test]
fn channel_funding_refuses_payees_and_programs_the_policy_does_not_allow() {
    let allowed = Address::new_unique();
    let mut env = Env::new(&PolicyConfig {
        counterparties: Counterparties::Only(vec![allowed]),
        ..default_policy()
    });
    let agent = env.agent.insecure_clone();
    let other = WalletChannel {
        channel_program: DEV_CHANNEL_PROGRAM_ID,
        payee: Address::new_unique(),
        mint: env.mint,
        token_program: env.tp,
    };
    assert_eq!(
        policy_err(env.send(
            &[ix::fund_channel(&env.k, &other, &open_args(10), 1, false)],
            &[&agent]
        )),
        E::CounterpartyNotAllowed
    );
    // A program other than the one the policy names never gets the wallet's signature.
    let rogue = WalletChannel {
        channel_program: mppsol_solana::policy::DEV_PAYMENTS_PROGRAM_ID,
        payee: allowed,
        ..other
    };
    assert_eq!(
        policy_err(env.send(
            &[ix::fund_channel(&env.k, &rogue, &open_args(10), 1, false)],
            &[&agent]
        )),
        E::ChannelProgramNotAllowed
    );
    assert_eq!(env.balance(&env.vault()), VAULT_START);
}

#[test]
fn another_program_tops_up_the_wallet_channel_with_the_agents_signature() {
    let mut env = Env::new(&default_policy());
    let c = WalletChannel {
        channel_program: DEV_CHANNEL_PROGRAM_ID,
        payee: Address::new_unique(),
        mint: env.mint,
        token_program: env.tp,
    };
    let agent = env.agent.insecure_clone();
    let args = open_args(100);
    env.send(&[ix::fund_channel(&env.k, &c, &args, 1, false)], &[&agent])
        .unwrap();
    let channel = c.channel_address(&env.k, &args);
    let vault_program = mppsol_solana::policy::DEV_EXAMPLE_VAULT_PROGRAM_ID;
    env.send(
        &[ix::example_top_up_via_policy(
            &vault_program,
            &env.k,
            &c,
            &channel,
            250,
            2,
        )],
        &[&agent],
    )
    .unwrap();
    assert_eq!(
        env.balance(&escrow_address(&channel, &env.mint, env.tp)),
        350
    );
    assert_eq!(env.balance(&env.vault()), VAULT_START - 350);
    // The policy still rules through the extra hop.
    let res = env.send(
        &[ix::example_top_up_via_policy(
            &vault_program,
            &env.k,
            &c,
            &channel,
            600,
            3,
        )],
        &[&agent],
    );
    assert_eq!(policy_err(res), E::EscalationRequired);
}
