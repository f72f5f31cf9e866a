//! Settlement throughput and latency: the operator's settlement worker on the embedded ledger
//! (LiteSVM, in process) with PostgreSQL.
//!
//! ```sh
//! cargo bench -p mppsol-e2e --bench settlement            # defaults below
//! N=4000 WORKERS=4 BATCH=64 RATE=200 SECS=10 cargo bench -p mppsol-e2e --bench settlement
//! ```
//!
//! 1. Throughput: N transfers are enqueued (the API's store transaction: policy, counter,
//!    outbox row), then WORKERS settlers drain the queue; settlements/s = N / drain time.
//! 2. Latency: transfers are enqueued at RATE per second for SECS seconds while the workers
//!    run; each one's latency is enqueue commit → the worker's settled commit.

// A benchmark binary: a failed setup step ends it.
#![allow(clippy::expect_used, clippy::unwrap_used, missing_docs)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mpp::SystemClock;
use mppsol_e2e::PgDb;
use mppsol_ledger::embedded::{EmbeddedConfig, EmbeddedLedger};
use mppsol_operator::MasterKey;
use mppsol_operator::crypto::account_key_context;
use mppsol_operator::settlement::{JobOutcome, SettlementObserver, Settler, WorkerConfig};
use mppsol_store::OperatorStore;
use mppsol_store::operator::{
    Actor, NewAccount, NewTransfer, Policy, SettlementJob, TransferKind, TransferOutcome,
};
use solana_keypair::Keypair;
use solana_signer::Signer as _;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// When each transfer was settled.
#[derive(Default)]
struct Settled(Mutex<HashMap<String, Instant>>);

impl SettlementObserver for Settled {
    fn job_done(&self, job: &SettlementJob, outcome: &JobOutcome) {
        if matches!(outcome, JobOutcome::Settled { .. }) {
            self.0
                .lock()
                .unwrap()
                .insert(job.transfer.id.clone(), Instant::now());
        }
    }
    fn rpc_error(&self) {}
}

struct Bench {
    store: Arc<dyn OperatorStore>,
    ledger: EmbeddedLedger,
    actor: Actor,
    accounts: Vec<String>,
    to: String,
    next: std::sync::atomic::AtomicU64,
}

const MASTER: [u8; 32] = [7; 32];

impl Bench {
    async fn new(db: &PgDb) -> Self {
        let store = mppsol_store::open_operator_store(&db.url).await.unwrap();
        let ledger = EmbeddedLedger::new(EmbeddedConfig::default())
            .await
            .unwrap();
        let op = store.create_operator("bench", 0).await.unwrap();
        let actor = Actor {
            operator_id: op.id.clone(),
            key_id: "bench".into(),
        };
        let master = MasterKey::from_bytes(&MASTER);
        let mut accounts = Vec::new();
        for i in 0..8 {
            let kp = Keypair::new();
            let address = kp.pubkey();
            ledger.fund_sol(&address, 1_000_000_000_000).await.unwrap();
            let account = store
                .create_account(
                    &actor,
                    &NewAccount {
                        operator_id: op.id.clone(),
                        handle: format!("payer{i}"),
                        address: address.to_string(),
                        currency: "sol".into(),
                        token_account: None,
                        sealed_key: Some(
                            master.seal(&kp.to_bytes(), &account_key_context(&address.to_string())),
                        ),
                    },
                    &Policy::default(),
                    0,
                )
                .await
                .unwrap();
            accounts.push(account.id);
        }
        let to = Keypair::new().pubkey().to_string();
        Self {
            store,
            ledger,
            actor,
            accounts,
            to,
            next: 0.into(),
        }
    }

    /// Enqueues one transfer; returns its id.
    async fn enqueue(&self) -> String {
        let n = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let account = &self.accounts[usize::try_from(n).unwrap() % self.accounts.len()];
        let t = NewTransfer {
            account_id: account.clone(),
            kind: TransferKind::Transfer,
            amount: 1_000_000,
            currency: "sol".into(),
            counterparty: self.to.clone(),
            memo: None,
            category: None,
            session_id: None,
            idempotency_key: format!("b{n}"),
            request_hash: [0; 32],
            signature: None,
        };
        let now = SystemClock.now().unix();
        match self
            .store
            .request_transfer(&self.actor, &t, mppsol_operator::policy::decide, now)
            .await
            .unwrap()
        {
            TransferOutcome::Created(t) => t.id,
            other => panic!("{other:?}"),
        }
    }

    fn settlers(&self, workers: u64, batch: u32, observer: &Arc<Settled>) -> Vec<Settler> {
        (0..workers)
            .map(|i| {
                Settler::new(
                    Arc::clone(&self.store),
                    Arc::new(self.ledger.clone()),
                    MasterKey::from_bytes(&MASTER),
                    Arc::new(SystemClock),
                    WorkerConfig {
                        worker_id: format!("bench{i}"),
                        batch,
                        idle_poll: Duration::from_millis(2),
                        ..WorkerConfig::default()
                    },
                )
                .with_observer(Arc::clone(observer) as Arc<dyn SettlementObserver>)
            })
            .collect()
    }
}

use mpp::Clock as _;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(run());
}

async fn run() {
    let n = env("N", 2_000);
    let workers = env("WORKERS", 4);
    let batch = u32::try_from(env("BATCH", 64)).unwrap();
    let rate = env("RATE", 200);
    let secs = env("SECS", 10);
    let db = PgDb::create().await;
    let bench = Arc::new(Bench::new(&db).await);

    // 1. Throughput.
    let started = Instant::now();
    futures::future::join_all((0..n).map(|_| bench.enqueue())).await;
    let enqueue = started.elapsed();
    let settled = Arc::new(Settled::default());
    let settlers = bench.settlers(workers, batch, &settled);
    let started = Instant::now();
    futures::future::join_all(
        settlers
            .iter()
            .map(|w| async move { while !w.run_once().await.unwrap().is_empty() {} }),
    )
    .await;
    let drain = started.elapsed();
    let done = settled.0.lock().unwrap().len();
    assert_eq!(u64::try_from(done).unwrap(), n, "every transfer settled");
    #[allow(clippy::cast_precision_loss)]
    let per_sec = n as f64 / drain.as_secs_f64();
    #[allow(clippy::cast_precision_loss)]
    let enq_per_sec = n as f64 / enqueue.as_secs_f64();
    println!(
        "throughput: {n} transfers, {workers} workers x batch {batch}: drained in {:.2} s = {per_sec:.0} settlements/s (enqueue alone: {enq_per_sec:.0}/s)",
        drain.as_secs_f64()
    );

    // 2. Latency under a steady load.
    let settled = Arc::new(Settled::default());
    let settlers = Arc::new(bench.settlers(workers, batch, &settled));
    let stop = Arc::new(tokio::sync::Notify::new());
    let mut running = Vec::new();
    for i in 0..settlers.len() {
        let (settlers, stop) = (Arc::clone(&settlers), Arc::clone(&stop));
        running.push(tokio::spawn(async move {
            settlers[i].run(stop.notified()).await;
        }));
    }
    let mut enqueued = HashMap::new();
    let total = rate * secs;
    let gap = Duration::from_secs_f64(1.0 / rate as f64);
    let mut tick = tokio::time::interval(gap);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let started = Instant::now();
    for _ in 0..total {
        tick.tick().await;
        let id = bench.enqueue().await;
        enqueued.insert(id, Instant::now());
    }
    let offered = started.elapsed();
    let deadline = Instant::now() + Duration::from_secs(60);
    while settled.0.lock().unwrap().len() < enqueued.len() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.notify_waiters();
    let at = settled.0.lock().unwrap().clone();
    let mut latencies: Vec<Duration> = enqueued
        .iter()
        .filter_map(|(id, t0)| at.get(id).map(|t1| t1.saturating_duration_since(*t0)))
        .collect();
    latencies.sort();
    println!(
        "latency: {} of {} settled at an offered {rate}/s over {:.1} s; enqueue->settled p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        latencies.len(),
        enqueued.len(),
        offered.as_secs_f64(),
        percentile(&latencies, 0.5).as_secs_f64() * 1e3,
        percentile(&latencies, 0.99).as_secs_f64() * 1e3,
        latencies.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
    );
    for r in running {
        r.abort();
    }
}
