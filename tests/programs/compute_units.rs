//! Compute units per instruction, for BENCHMARKS.md ("Policy program compute units"). CU
//! counts are deterministic for a given ELF; the bounds catch an accidental blow-up.
//! Print: `cargo test -p mppsol-e2e --test programs compute_units -- --nocapture`.

use mppsol_solana::channel::DEV_CHANNEL_PROGRAM_ID;
use mppsol_solana::channel::ix::OpenArgs;
use mppsol_solana::policy::ix::{self, WalletChannel};
use mppsol_solana::policy::receipt;
use mppsol_solana::policy::{
    DEV_EXAMPLE_VAULT_PROGRAM_ID as VAULT, DEV_PAYMENTS_PROGRAM_ID as PAYMENTS, challenge_hash,
    example_vault_authority,
};
use solana_address::Address;
use solana_signer::Signer;

use crate::harness::{Env, SLOT0, default_policy};

#[test]
fn compute_units_per_instruction() {
    let mut rows: Vec<(&str, u64)> = Vec::new();
    let mut env = Env::deterministic();
    let owner = env.owner.insecure_clone();
    let agent = env.agent.insecure_clone();
    rows.push((
        "policy createWallet",
        env.send(
            &[ix::create_wallet(&env.k, &default_policy()).unwrap()],
            &[&owner],
        )
        .unwrap(),
    ));
    env.token_account(&env.k.wallet(), 1_000_000);
    rows.push((
        "policy setPolicy",
        env.send(
            &[ix::set_policy(&env.k, &default_policy()).unwrap()],
            &[&owner],
        )
        .unwrap(),
    ));
    let (to, _) = env.recipient();
    rows.push((
        "policy pay (no memo)",
        env.pay(&env.payment(&to, 100, 1)).unwrap(),
    ));
    let mut p = env.payment(&to, 100, 2);
    p.memo = b"mpp:0123456789abcdef".to_vec();
    rows.push(("policy pay (20-byte memo)", env.pay(&p).unwrap()));
    let p = env.payment(&to, 100, 3);
    rows.push((
        "policy payWithReceipt (CPI payments)",
        env.send(
            &[ix::pay_with_receipt(
                &env.k,
                &p,
                &PAYMENTS,
                &challenge_hash("cu"),
            )],
            &[&agent],
        )
        .unwrap(),
    ));
    let c = WalletChannel {
        channel_program: DEV_CHANNEL_PROGRAM_ID,
        payee: Address::new_from_array([200; 32]),
        mint: env.mint,
        token_program: env.tp,
    };
    let args = OpenArgs {
        salt: 9,
        deposit: 100,
        grace_period: 60,
        open_slot: SLOT0,
        splits: vec![],
    };
    rows.push((
        "policy fundChannel (CPI channel open)",
        env.send(&[ix::fund_channel(&env.k, &c, &args, 4, false)], &[&agent])
            .unwrap(),
    ));
    let channel = c.channel_address(&env.k, &args);
    rows.push((
        "policy topUpChannel (CPI channel topUp)",
        env.send(
            &[ix::top_up_channel(&env.k, &c, &channel, 100, 5, false)],
            &[&agent],
        )
        .unwrap(),
    ));
    rows.push((
        "policy setPaused",
        env.send(&[ix::set_paused(&env.k, true)], &[&owner])
            .unwrap(),
    ));
    let dest = env.token_account(&owner.pubkey(), 0);
    let left = env.balance(&env.vault());
    rows.push((
        "policy withdraw",
        env.send(
            &[ix::withdraw(&env.k, &env.mint, env.tp, &dest, left)],
            &[&owner],
        )
        .unwrap(),
    ));
    rows.push((
        "policy closeWallet (closes vault)",
        env.send(&[ix::close_wallet(&env.k, &env.mint, env.tp)], &[&owner])
            .unwrap(),
    ));

    let (payer, a, _) = env.direct_payer(1_000);
    rows.push((
        "payments pay (receipt)",
        env.send(
            &[receipt::pay(&PAYMENTS, &a, 10, &challenge_hash("cu-2"))],
            &[&payer],
        )
        .unwrap(),
    ));

    env.token_account(
        &example_vault_authority(&VAULT, &payer.pubkey(), &PAYMENTS),
        1_000,
    );
    let (oracle, _) = env.recipient();
    let q = ix::ExampleQuote {
        program: VAULT,
        payments_program: PAYMENTS,
        owner: payer.pubkey(),
        rent_payer: payer.pubkey(),
        oracle,
        mint: env.mint,
        token_program: env.tp,
        amount: 10,
        challenge_hash: challenge_hash("cu-3"),
    };
    rows.push((
        "example-vault buyQuote (CPI payments)",
        env.send(&[ix::example_buy_quote(&q)], &[&payer]).unwrap(),
    ));

    println!("| instruction | compute units |\n|---|---|");
    for (name, cu) in &rows {
        println!("| {name} | {cu} |");
        assert!(*cu > 0 && *cu < 100_000, "{name}: {cu} CU");
    }
}
