//! `TestStack::spawn()`: an embedded ledger, a paid API on loopback and a funded agent, on
//! SQLite or a fresh PostgreSQL database.

// Test support: a failed setup step is a failed test.
#![allow(clippy::expect_used, clippy::unwrap_used, missing_docs)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use axum::Router;
use axum::routing::get;
use mpp::{Amount, ChallengeKeyring, ChallengeSecret, PriceTag, ReceiptSigner};
use mppsol_client::{ChargeMode, PayingClient, SolanaChargeClient, SpendingPolicy};
use mppsol_ledger::Ledger;
use mppsol_ledger::embedded::{DevMint, EmbeddedConfig, EmbeddedLedger};
use mppsol_server::{Offer, PaidApi, PaymentConfig, PushBinding, SolanaCharge, SolanaChargeConfig};
use mppsol_solana::charge::request::Split;
use mppsol_solana::network::Network;
use mppsol_solana::token::{TokenProgram, associated_token_address};
use mppsol_store::Store;
use solana_address::Address;
use solana_keypair::Keypair;
use solana_signer::Signer;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Asset {
    Sol,
    Usdc,
    Usdc2022,
}

#[derive(Debug, Clone)]
pub struct StackOptions {
    pub backend: Backend,
    pub asset: Asset,
    pub sponsored: bool,
    /// (recipient seed, amount, ataCreationRequired)
    pub splits: Vec<(u8, u64, bool)>,
    pub push_binding: PushBinding,
    pub price: u64,
    /// The server's clock (tests move it to expire challenges).
    pub clock: Arc<TestClock>,
}

/// The system clock plus an offset tests can move.
#[derive(Debug, Default)]
pub struct TestClock(std::sync::atomic::AtomicI64);

impl TestClock {
    pub fn advance(&self, secs: i64) {
        self.0.fetch_add(secs, Ordering::SeqCst);
    }
}

impl mpp::Clock for TestClock {
    fn now(&self) -> mpp::Timestamp {
        let now = mpp::SystemClock.now();
        mpp::Timestamp::from_unix(now.unix() + self.0.load(Ordering::SeqCst)).unwrap_or(now)
    }
}

impl StackOptions {
    pub fn new(backend: Backend, asset: Asset) -> Self {
        Self {
            backend,
            asset,
            sponsored: true,
            splits: Vec::new(),
            push_binding: PushBinding::Reference,
            price: 10_000,
            clock: Arc::new(TestClock::default()),
        }
    }
}

/// A fresh PostgreSQL database, dropped with the stack.
pub struct PgDb {
    pub url: String,
    name: String,
}

const PG_ADMIN: &str = "postgres://postgres@127.0.0.1:5432/postgres";

impl PgDb {
    pub async fn create() -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "mppsol_e2e_{}_{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        );
        let admin = std::env::var("MPPSOL_TEST_PG_URL").unwrap_or_else(|_| PG_ADMIN.into());
        let mut conn: sqlx::PgConnection = sqlx::Connection::connect(&admin)
            .await
            .unwrap_or_else(|e| panic!("PostgreSQL is required for these tests ({admin}): {e}"));
        sqlx::Executor::execute(&mut conn, format!("CREATE DATABASE {name}").as_str())
            .await
            .expect("create test database");
        let base = admin
            .rsplit_once('/')
            .map_or(admin.as_str(), |(b, _)| b)
            .to_owned();
        Self {
            url: format!("{base}/{name}"),
            name,
        }
    }
}

impl Drop for PgDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop runs outside async; use a private runtime on a plain thread.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let admin = std::env::var("MPPSOL_TEST_PG_URL").unwrap_or_else(|_| PG_ADMIN.into());
                if let Ok(mut c) = <sqlx::PgConnection as sqlx::Connection>::connect(&admin).await {
                    let _ = sqlx::Executor::execute(
                        &mut c,
                        format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str(),
                    )
                    .await;
                }
            });
        })
        .join();
    }
}

/// The paid API's store on `backend` (a SQLite file in `dir`, or a fresh PostgreSQL database
/// returned with it) and the agent's SQLite store in `dir`.
pub async fn open_stores(
    backend: Backend,
    dir: &TempDir,
) -> (Arc<dyn Store>, Option<PgDb>, Arc<dyn Store>) {
    let (server_store, pg) = match backend {
        Backend::Sqlite => (
            mppsol_store::open_store(dir.0.join("server.db").to_str().expect("utf-8"))
                .await
                .expect("sqlite store"),
            None,
        ),
        Backend::Postgres => {
            let db = PgDb::create().await;
            (
                mppsol_store::open_store(&db.url).await.expect("pg store"),
                Some(db),
            )
        }
    };
    let agent_store = mppsol_store::open_store(dir.0.join("agent.db").to_str().expect("utf-8"))
        .await
        .expect("agent store");
    (server_store, pg, agent_store)
}

pub mod session;

pub fn key(n: u8) -> Keypair {
    Keypair::new_from_array([n; 32])
}

pub struct TestStack {
    pub ledger: EmbeddedLedger,
    pub base_url: String,
    pub recipient: Arc<Keypair>,
    pub fee_payer: Arc<Keypair>,
    pub agent: Arc<Keypair>,
    pub server_store: Arc<dyn Store>,
    pub agent_store: Arc<dyn Store>,
    pub mint: Option<DevMint>,
    pub receipt_signer: ReceiptSigner,
    pub opts: StackOptions,
    secret: ChallengeSecret,
    _dir: TempDir,
    _pg: Option<PgDb>,
}

/// A temporary directory removed on drop.
pub struct TempDir(pub std::path::PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        let p = std::env::temp_dir().join(format!(
            "mppsol-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&p).expect("temp dir");
        Self(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl TestStack {
    pub async fn spawn(opts: StackOptions) -> Self {
        let ledger = EmbeddedLedger::new(EmbeddedConfig::default())
            .await
            .expect("embedded ledger");
        let dir = TempDir::new("e2e");
        let (server_store, pg, agent_store) = open_stores(opts.backend, &dir).await;
        let (recipient, fee_payer, agent) =
            (Arc::new(key(11)), Arc::new(key(12)), Arc::new(key(13)));
        ledger
            .fund_sol(&fee_payer.pubkey(), 10_000_000_000)
            .await
            .expect("fund fee payer");
        ledger
            .fund_sol(&agent.pubkey(), 10_000_000_000)
            .await
            .expect("fund agent");
        // The recipient exists with rent-exempt SOL (SOL legs to it must not be dust).
        ledger
            .fund_sol(&recipient.pubkey(), 1_000_000_000)
            .await
            .expect("fund recipient");
        let mints = ledger.dev_mints();
        let mint = match opts.asset {
            Asset::Sol => None,
            Asset::Usdc => Some(mints.usdc),
            Asset::Usdc2022 => Some(mints.usdc_2022),
        };
        if let Some(m) = &mint {
            ledger
                .mint_tokens(&m.address, &agent.pubkey(), 1_000_000_000)
                .await
                .expect("fund agent tokens");
            // The top-level recipient's ATA must exist (the spec forbids creating it for them).
            ledger
                .create_ata(&recipient.pubkey(), &m.address, &m.token_program)
                .await
                .expect("recipient ATA");
            for (seed, _, ata) in &opts.splits {
                if !ata {
                    ledger
                        .create_ata(&key(*seed).pubkey(), &m.address, &m.token_program)
                        .await
                        .expect("split ATA");
                }
            }
        } else {
            for (seed, _, _) in &opts.splits {
                ledger
                    .fund_sol(&key(*seed).pubkey(), 1_000_000_000)
                    .await
                    .expect("fund split");
            }
        }
        let secret = ChallengeSecret::new([21u8; 32]).expect("secret");
        let mut stack = Self {
            ledger,
            base_url: String::new(),
            recipient,
            fee_payer,
            agent,
            server_store,
            agent_store,
            mint,
            receipt_signer: ReceiptSigner::from_seed([22; 32]),
            opts,
            secret,
            _dir: dir,
            _pg: pg,
        };
        stack.base_url = stack.spawn_instance().await;
        stack
    }

    /// The price the routes ask.
    pub fn price(&self) -> PriceTag {
        PriceTag {
            amount: Amount::new(self.opts.price),
            currency: self
                .mint
                .as_ref()
                .map_or_else(|| "sol".to_owned(), |m| m.address.to_string()),
            recipient: None,
            description: Some("e2e route".into()),
            external_id: None,
        }
    }

    /// Starts another server on the same ledger and store (several instances, one database).
    pub async fn spawn_instance(&self) -> String {
        self.spawn_instance_on(Network::Localnet).await
    }

    /// Starts another instance that believes it settles on `network` (same secret and realm).
    pub async fn spawn_instance_on(&self, network: Network) -> String {
        let mut cfg = SolanaChargeConfig::new(network, self.recipient.pubkey());
        if self.opts.sponsored {
            cfg = cfg.with_fee_payer(self.fee_payer.clone());
        }
        cfg.push_binding = self.opts.push_binding;
        cfg.splits = self
            .opts
            .splits
            .iter()
            .map(|(seed, amount, ata)| Split {
                recipient: key(*seed).pubkey(),
                amount: Amount::new(*amount),
                memo: None,
                ata_creation_required: *ata,
            })
            .collect();
        let ledger: Arc<dyn Ledger> = Arc::new(self.ledger.clone());
        let method = Arc::new(SolanaCharge::new(cfg, ledger, self.server_store.clone()));
        let config = PaymentConfig::new(
            "e2e.local",
            ChallengeKeyring::new(self.secret.clone()),
            self.server_store.clone(),
        )
        .with_receipt_signer(self.receipt_signer.clone())
        .with_clock(self.opts.clock.clone());
        let api = PaidApi::new("e2e", config);
        let offer = Offer::fixed(method, self.price());
        let app = Router::new()
            .route(
                "/paid",
                get(paid_handler).layer(api.layer("GET", "/paid", vec![offer.clone()])),
            )
            .route(
                "/other",
                get(paid_handler).layer(api.layer("GET", "/other", vec![offer])),
            )
            .route("/openapi.json", get(api.handler()));
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        format!("http://{addr}")
    }

    /// A paying client for the agent.
    pub fn client(&self, mode: ChargeMode) -> PayingClient {
        let ledger: Arc<dyn Ledger> = Arc::new(self.ledger.clone());
        let method =
            SolanaChargeClient::new(self.agent.clone(), ledger, Network::Localnet).with_mode(mode);
        PayingClient::new(
            reqwest::Client::new(),
            vec![Arc::new(method)],
            SpendingPolicy {
                max_per_payment: Some(1_000_000_000),
                store: Some(self.agent_store.clone()),
                daily_budget: Some(100_000_000_000),
                ..SpendingPolicy::default()
            },
        )
        .with_records(self.agent_store.clone())
    }

    /// What `owner` holds in the stack's asset (lamports, or base units in its ATA).
    pub async fn balance(&self, owner: &Address) -> u64 {
        match &self.mint {
            None => self.ledger.balance(owner).await.expect("balance"),
            Some(m) => {
                let program = TokenProgram::from_id(&m.token_program).expect("token program");
                let ata = associated_token_address(owner, &m.address, program);
                self.ledger
                    .token_balance(&ata)
                    .await
                    .expect("token balance")
                    .map_or(0, |t| t.amount)
            }
        }
    }
}

async fn paid_handler(
    mppsol_server::Paid(p): mppsol_server::Paid,
) -> axum::Json<serde_json::Value> {
    axum::Json(serde_json::json!({"ok": true, "challenge": p.challenge_id}))
}

/// Asks for the route unpaid and returns its first challenge.
pub async fn challenge(url: &str) -> mpp::Challenge {
    let r = reqwest::get(url).await.expect("get");
    assert_eq!(r.status(), 402);
    let fields: Vec<String> = r
        .headers()
        .get_all("www-authenticate")
        .iter()
        .map(|v| v.to_str().expect("ascii").to_owned())
        .collect();
    mpp::parse_www_authenticate_fields(fields.iter().map(String::as_str))
        .expect("challenges")
        .remove(0)
}

/// Sends a credential and returns (status, body, receipt header).
pub async fn present(
    url: &str,
    credential: &mpp::Credential,
) -> (u16, serde_json::Value, Option<String>) {
    let r = reqwest::Client::new()
        .get(url)
        .header("authorization", mpp::format_authorization(credential))
        .send()
        .await
        .expect("send");
    let status = r.status().as_u16();
    let receipt = r
        .headers()
        .get("payment-receipt")
        .map(|v| v.to_str().expect("ascii").to_owned());
    let body = r.json().await.unwrap_or(serde_json::Value::Null);
    (status, body, receipt)
}

/// A child process killed (and reaped) when the test ends, however it ends.
pub struct Kill(pub std::process::Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One blocking JSON-RPC call (tests drive `mppsol localnet` from plain threads); asserts
/// that no error came back and returns `result`.
pub fn rpc(url: &str, method: &str, params: serde_json::Value) -> serde_json::Value {
    let body = serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let v: serde_json::Value = rt.block_on(async {
        reqwest::Client::new()
            .post(url)
            .json(&body)
            .send()
            .await
            .expect("json-rpc request")
            .json()
            .await
            .expect("json-rpc reply")
    });
    assert!(v.get("error").is_none(), "{method}: {v}");
    v["result"].clone()
}
