//! `SessionStack`: the embedded ledger with the channel program, a route priced with the
//! `solana`/`session` method (one or more server instances on one store), and an agent whose
//! session client keeps its channels in its own store.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use mpp::{Amount, ChallengeKeyring, ChallengeSecret, PriceTag, ReceiptSigner};
use mppsol_client::{PayingClient, SolanaSessionClient, SpendingPolicy};
use mppsol_ledger::Ledger;
use mppsol_ledger::embedded::{DevMint, EmbeddedConfig, EmbeddedLedger};
use mppsol_server::{Offer, PaidApi, PaymentConfig, SolanaSession, SolanaSessionConfig};
use mppsol_solana::channel::DEV_CHANNEL_PROGRAM_ID;
use mppsol_solana::network::Network;
use mppsol_solana::session::VoucherSigner;
use mppsol_solana::token::{TokenProgram, associated_token_address};
use mppsol_store::{ChannelRecord, Store};
use solana_address::Address;
use solana_keypair::Keypair;
use solana_signer::Signer;
use tokio::task::JoinHandle;

use crate::{Backend, PgDb, TempDir, key};

/// A running server instance; dropping it (or [`Instance::kill`]) stops it abruptly.
pub struct Instance {
    pub url: String,
    pub method: Arc<SolanaSession>,
    task: JoinHandle<()>,
}

impl Instance {
    /// Stops the instance as a crash would: connections dropped, nothing flushed.
    pub fn kill(&self) {
        self.task.abort();
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub struct SessionStack {
    pub ledger: EmbeddedLedger,
    pub mint: DevMint,
    pub payee: Arc<Keypair>,
    pub operator: Arc<Keypair>,
    pub agent: Arc<Keypair>,
    pub server_store: Arc<dyn Store>,
    pub agent_store: Arc<dyn Store>,
    pub price: u64,
    pub deposit: u64,
    pub grace_period: u32,
    pub operator_vouchers: bool,
    secret: ChallengeSecret,
    dir: TempDir,
    _pg: Option<PgDb>,
}

impl SessionStack {
    pub async fn spawn(backend: Backend, price: u64, deposit: u64) -> Self {
        let ledger = EmbeddedLedger::new(EmbeddedConfig::default())
            .await
            .expect("embedded ledger");
        // TEMP until the ledger loads the bundled program itself.
        let elf = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../programs/bin/channel.so"
        ))
        .expect("channel.so");
        ledger
            .add_program(DEV_CHANNEL_PROGRAM_ID, &elf)
            .await
            .expect("channel program");
        let dir = TempDir::new("session");
        let (server_store, pg, agent_store) = crate::open_stores(backend, &dir).await;
        let (payee, operator, agent) = (Arc::new(key(31)), Arc::new(key(32)), Arc::new(key(33)));
        for k in [&payee, &operator, &agent] {
            ledger
                .fund_sol(&k.pubkey(), 10_000_000_000)
                .await
                .expect("fund");
        }
        let mint = ledger.dev_mints().usdc;
        ledger
            .mint_tokens(&mint.address, &agent.pubkey(), 1_000_000_000)
            .await
            .expect("fund agent tokens");
        ledger
            .create_ata(&payee.pubkey(), &mint.address, &mint.token_program)
            .await
            .expect("payee ATA");
        Self {
            ledger,
            mint,
            payee,
            operator,
            agent,
            server_store,
            agent_store,
            price,
            deposit,
            grace_period: 900,
            operator_vouchers: false,
            secret: ChallengeSecret::new([41u8; 32]).expect("secret"),
            dir,
            _pg: pg,
        }
    }

    pub fn price_tag(&self) -> PriceTag {
        PriceTag {
            amount: Amount::new(self.price),
            currency: self.mint.address.to_string(),
            recipient: None,
            description: Some("metered".into()),
            external_id: None,
        }
    }

    pub fn method(&self, store: Arc<dyn Store>) -> Arc<SolanaSession> {
        let mut cfg = SolanaSessionConfig::new(
            Network::Localnet,
            DEV_CHANNEL_PROGRAM_ID,
            self.payee.clone(),
            self.operator.clone(),
            vec![self.mint.address],
        );
        cfg.grace_period = self.grace_period;
        if self.operator_vouchers {
            cfg.voucher_signer = VoucherSigner::Operator;
        }
        let ledger: Arc<dyn Ledger> = Arc::new(self.ledger.clone());
        Arc::new(SolanaSession::new(cfg, ledger, store))
    }

    /// Starts a server instance on the stack's store.
    pub async fn instance(&self) -> Instance {
        self.instance_on(self.server_store.clone()).await
    }

    /// Starts a server instance on `store` (a fresh pool after a "restart").
    pub async fn instance_on(&self, store: Arc<dyn Store>) -> Instance {
        self.instance_with(store, None).await
    }

    /// An instance whose handler never answers while `hang` is set: the voucher is accepted and
    /// persisted by the middleware, and the response never leaves (as if the process died).
    pub async fn instance_with(
        &self,
        store: Arc<dyn Store>,
        hang: Option<Arc<std::sync::atomic::AtomicBool>>,
    ) -> Instance {
        let method = self.method(store.clone());
        let config = PaymentConfig::new(
            "session.e2e",
            ChallengeKeyring::new(self.secret.clone()),
            store,
        )
        .with_receipt_signer(ReceiptSigner::from_seed([42; 32]));
        let api = PaidApi::new("session e2e", config);
        let offer = Offer::fixed(method.clone(), self.price_tag());
        let handler = move |paid: mppsol_server::Paid| {
            let hang = hang.clone();
            async move {
                if hang.is_some_and(|h| h.load(std::sync::atomic::Ordering::SeqCst)) {
                    std::future::pending::<()>().await;
                }
                metered(paid).await
            }
        };
        let app = Router::new().route(
            "/metered",
            get(handler).layer(api.layer("GET", "/metered", vec![offer])),
        );
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Instance {
            url: format!("http://{addr}/metered"),
            method,
            task,
        }
    }

    /// Reopens the server's database through a new pool (what a restarted process does).
    pub async fn reopen_server_store(&self) -> Arc<dyn Store> {
        match &self._pg {
            Some(db) => mppsol_store::open_store(&db.url).await.expect("pg store"),
            None => mppsol_store::open_store(self.dir.0.join("server.db").to_str().expect("utf-8"))
                .await
                .expect("sqlite store"),
        }
    }

    pub fn session_client(&self, store: Arc<dyn Store>) -> Arc<SolanaSessionClient> {
        let ledger: Arc<dyn Ledger> = Arc::new(self.ledger.clone());
        let mut c = SolanaSessionClient::new(
            self.agent.clone(),
            ledger,
            store,
            Network::Localnet,
            self.deposit,
        );
        c.expected_programs = vec![DEV_CHANNEL_PROGRAM_ID];
        Arc::new(c)
    }

    /// The agent's paying client (a fresh one after a "restart" still finds its channel).
    pub fn client(&self) -> (PayingClient, Arc<SolanaSessionClient>) {
        let session = self.session_client(self.agent_store.clone());
        let client = PayingClient::new(
            reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(30))
                .build()
                .expect("http"),
            vec![session.clone()],
            SpendingPolicy {
                max_per_payment: Some(1_000_000_000),
                ..SpendingPolicy::default()
            },
        );
        (client, session)
    }

    /// The paid API's stored record of `channel` (it must exist).
    pub async fn channel_record(&self, channel: &Address) -> ChannelRecord {
        self.server_store
            .channel(&channel.to_string())
            .await
            .expect("channel store")
            .expect("the channel is recorded")
    }

    pub async fn token_balance(&self, owner: &Address) -> u64 {
        let program = TokenProgram::from_id(&self.mint.token_program).expect("token program");
        let ata = associated_token_address(owner, &self.mint.address, program);
        self.ledger
            .token_balance(&ata)
            .await
            .expect("token balance")
            .map_or(0, |t| t.amount)
    }
}

async fn metered(mppsol_server::Paid(p): mppsol_server::Paid) -> axum::Json<serde_json::Value> {
    axum::Json(serde_json::json!({"ok": true, "spent": p.receipt.extra.get("spent")}))
}
