//! Paid session requests per second against the machine's raw Ed25519 verification rate, in
//! one run on the same machine.
//!
//! `cargo bench -p mppsol-e2e --bench session -- [--backend sqlite|postgres] [--channels N]
//! [--requests N]`
//!
//! Each channel belongs to its own agent and is driven by one sequential worker (vouchers on a
//! channel are strictly ordered); vouchers are signed before the clock starts, so the measured
//! work is the server's: HTTP, challenge HMAC, voucher verification, the durable
//! compare-and-set, the receipt. Client, server and database share the machine's cores.

#![allow(clippy::expect_used, clippy::unwrap_used, missing_docs)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use mpp::{Credential, format_authorization};
use mppsol_client::{PayingClient, SolanaSessionClient, SpendingPolicy};
use mppsol_e2e::Backend;
use mppsol_e2e::session::SessionStack;
use mppsol_ledger::Ledger;
use mppsol_solana::network::Network;
use mppsol_solana::session::{SessionPayload, VoucherAction, VoucherData};
use solana_keypair::Keypair;
use solana_signer::Signer;

const PRICE: u64 = 10;

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

/// Ed25519 verifications per second on `threads` threads for `dur`.
fn raw_ed25519_rate(threads: usize, dur: Duration) -> f64 {
    let key = Keypair::new();
    let msg = [7u8; 50];
    let sig = key.sign_message(&msg);
    let pk = key.pubkey();
    let start = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            std::thread::spawn(move || {
                let mut n = 0u64;
                let t = Instant::now();
                while t.elapsed() < dur {
                    for _ in 0..64 {
                        assert!(sig.verify(pk.as_ref(), &msg));
                        n += 1;
                    }
                }
                n
            })
        })
        .collect();
    let total: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
    total as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    let backend = match arg("--backend").as_deref() {
        Some("postgres") => Backend::Postgres,
        _ => Backend::Sqlite,
    };
    let channels: usize = arg("--channels").map_or(16, |v| v.parse().unwrap());
    let requests: u64 = arg("--requests").map_or(500, |v| v.parse().unwrap());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let raw_before = raw_ed25519_rate(2, Duration::from_secs(2));
    let (paid, secs) = rt.block_on(run(backend, channels, requests));
    let raw_after = raw_ed25519_rate(2, Duration::from_secs(2));
    let raw = (raw_before + raw_after) / 2.0;
    let rate = paid as f64 / secs;
    println!(
        "backend={backend:?} channels={channels} requests/channel={requests} paid={paid} \
         secs={secs:.2} session_req_per_s={rate:.0} raw_ed25519_verify_per_s_2_threads={raw:.0} \
         ratio={:.3}",
        rate / raw
    );
}

async fn run(backend: Backend, channels: usize, requests: u64) -> (u64, f64) {
    let stack = SessionStack::spawn(backend, PRICE, PRICE * (requests + 10)).await;
    let server = stack.instance().await;
    let http = reqwest::Client::new();
    let challenge = mppsol_e2e::challenge(&server.url).await;
    let mut lanes = Vec::new();
    for i in 0..channels {
        let agent = Arc::new(Keypair::new());
        stack
            .ledger
            .mint_tokens(&stack.mint.address, &agent.pubkey(), 1_000_000_000)
            .await
            .unwrap();
        let store = mppsol_store::open_store("sqlite::memory:").await.unwrap();
        let ledger: Arc<dyn Ledger> = Arc::new(stack.ledger.clone());
        let method = Arc::new(SolanaSessionClient::new(
            agent.clone(),
            ledger,
            store,
            Network::Localnet,
            PRICE * (requests + 10),
        ));
        let client = PayingClient::new(
            http.clone(),
            vec![method.clone()],
            SpendingPolicy::default(),
        );
        let r = client.get(&server.url).await.unwrap();
        assert_eq!(r.response.status(), 200, "lane {i} opens");
        let ch = method.channels().await.remove(0);
        let channel = ch.channel_id.parse().unwrap();
        // Pre-signed: voucher k authorises (k + 1) × price (the open request paid the first).
        let headers: Vec<String> = (2..=requests + 1)
            .map(|k| {
                let voucher = VoucherData {
                    channel_id: channel,
                    cumulative_amount: k * PRICE,
                    expires_at: None,
                }
                .sign(&agent);
                let payload = SessionPayload::Voucher(VoucherAction {
                    channel_id: channel,
                    voucher,
                })
                .to_json();
                format_authorization(&Credential::new(
                    challenge.clone(),
                    payload.as_object().unwrap().clone(),
                ))
            })
            .collect();
        lanes.push(headers);
    }
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for headers in lanes {
        let http = http.clone();
        let url = server.url.clone();
        tasks.spawn(async move {
            let mut ok = 0u64;
            for h in headers {
                let r = http
                    .get(&url)
                    .header("authorization", h)
                    .send()
                    .await
                    .unwrap();
                if r.status() == 200 {
                    ok += 1;
                }
                let _ = r.bytes().await;
            }
            ok
        });
    }
    let mut paid = 0;
    while let Some(j) = tasks.join_next().await {
        paid += j.unwrap();
    }
    let secs = start.elapsed().as_secs_f64();
    assert_eq!(paid, requests * channels as u64, "every voucher paid");
    (paid, secs)
}
