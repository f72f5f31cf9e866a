//! Paid session requests per second against the machine's raw Ed25519 verification rate, in
//! one run on the same machine.
//!
//! `cargo bench -p mppsol-e2e --bench session -- [--backend sqlite|postgres]
//! [--channels N[,N…]] [--requests N]`
//!
//! Each channel belongs to its own agent and is driven by one sequential worker (vouchers on a
//! channel are strictly ordered: one in flight per channel); vouchers are signed before the
//! clock starts, so the measured work is the server's: HTTP, challenge HMAC, voucher
//! verification, the durable compare-and-set, the receipt. Client, server and database share
//! the machine's cores. `--channels 16,64,256` runs one round per count (the concurrency
//! sweep) on the same server and channels, each lane sending `--requests` vouchers per round.

#![allow(clippy::expect_used, clippy::unwrap_used, missing_docs)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use mpp::{Challenge, Credential, format_authorization};
use mppsol_client::{PayingClient, SolanaSessionClient, SpendingPolicy};
use mppsol_e2e::Backend;
use mppsol_e2e::session::SessionStack;
use mppsol_ledger::Ledger;
use mppsol_solana::network::Network;
use mppsol_solana::session::{SessionPayload, VoucherAction, VoucherData};
use solana_address::Address;
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
    // One round per entry: that many channels, each with one voucher in flight at a time.
    let sweep: Vec<usize> = arg("--channels").map_or(vec![16], |v| {
        v.split(',').map(|n| n.trim().parse().unwrap()).collect()
    });
    let requests: u64 = arg("--requests").map_or(500, |v| v.parse().unwrap());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let raw_before = raw_ed25519_rate(2, Duration::from_secs(2));
    let rounds = rt.block_on(run(backend, &sweep, requests));
    let raw_after = raw_ed25519_rate(2, Duration::from_secs(2));
    let raw = (raw_before + raw_after) / 2.0;
    println!(
        "raw_ed25519_verify_per_s_2_threads before={raw_before:.0} after={raw_after:.0} \
         mean={raw:.0}"
    );
    for (channels, paid, secs) in rounds {
        let rate = paid as f64 / secs;
        println!(
            "backend={backend:?} channels={channels} requests/channel={requests} paid={paid} \
             secs={secs:.2} session_req_per_s={rate:.0} raw_ed25519_verify_per_s_2_threads={raw:.0} \
             ratio={:.3}",
            rate / raw
        );
    }
}

/// Opens `n` channels, one agent each, through the real 402 → open flow.
async fn open_lanes(
    stack: &SessionStack,
    url: &str,
    http: &reqwest::Client,
    n: usize,
    deposit: u64,
) -> Vec<(Arc<Keypair>, Address)> {
    let mut lanes = Vec::with_capacity(n);
    for i in 0..n {
        let agent = Arc::new(Keypair::new());
        stack
            .ledger
            .mint_tokens(&stack.mint.address, &agent.pubkey(), deposit * 2)
            .await
            .unwrap();
        let store = mppsol_store::open_store("sqlite::memory:").await.unwrap();
        let ledger: Arc<dyn Ledger> = Arc::new(stack.ledger.clone());
        let method = Arc::new(SolanaSessionClient::new(
            agent.clone(),
            ledger,
            store,
            Network::Localnet,
            deposit,
        ));
        let client = PayingClient::new(
            http.clone(),
            vec![method.clone()],
            SpendingPolicy::default(),
        );
        let r = client.get(url).await.unwrap();
        assert_eq!(r.response.status(), 200, "lane {i} opens");
        let ch = method.channels().await.remove(0);
        lanes.push((agent, ch.channel_id.parse().unwrap()));
    }
    lanes
}

/// `Authorization` values for vouchers `from..from + n` of a channel: voucher `k` authorises
/// `k × price` (the open request paid the first).
fn vouchers(
    challenge: &Challenge,
    agent: &Keypair,
    channel: Address,
    from: u64,
    n: u64,
) -> Vec<String> {
    (from..from + n)
        .map(|k| {
            let voucher = VoucherData {
                channel_id: channel,
                cumulative_amount: k * PRICE,
                expires_at: None,
            }
            .sign(agent);
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
        .collect()
}

async fn run(backend: Backend, sweep: &[usize], requests: u64) -> Vec<(usize, u64, f64)> {
    let most = sweep.iter().copied().max().unwrap_or(0);
    let deposit = PRICE * (requests * sweep.len() as u64 + 10);
    let stack = SessionStack::spawn(backend, PRICE, deposit).await;
    let server = stack.instance().await;
    let http = reqwest::Client::new();
    let challenge = mppsol_e2e::challenge(&server.url).await;
    let lanes = open_lanes(&stack, &server.url, &http, most, deposit).await;
    // The next voucher number of each lane, across rounds.
    let mut next = vec![2u64; most];
    let mut out = Vec::new();
    for &channels in sweep {
        // Signed before the clock starts: the load generator only sends.
        let work: Vec<Vec<String>> = lanes[..channels]
            .iter()
            .zip(next.iter_mut())
            .map(|((agent, channel), k)| {
                let v = vouchers(&challenge, agent, *channel, *k, requests);
                *k += requests;
                v
            })
            .collect();
        // Markers on stderr, so a profiler can attach to the measured window only.
        eprintln!("round channels={channels}: start");
        let start = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for headers in work {
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
        eprintln!("round channels={channels}: end");
        assert_eq!(paid, requests * channels as u64, "every voucher paid");
        out.push((channels, paid, secs));
    }
    // Every paid request was metered once, durably.
    let mut metered = 0;
    for (_, channel) in &lanes {
        let rec = stack.channel_record(channel).await;
        metered += rec.spent / PRICE;
    }
    let served: u64 = out.iter().map(|(_, p, _)| p).sum::<u64>() + most as u64;
    assert_eq!(
        metered, served,
        "spent on the channels = price × paid requests"
    );
    out
}
