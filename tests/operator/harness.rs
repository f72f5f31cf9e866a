//! `OpStack`: the operator service on loopback HTTP over an embedded ledger, on a temporary
//! SQLite file or a fresh PostgreSQL database, with its first operator's key.

use std::net::SocketAddr;
use std::sync::Arc;

use mpp::SystemClock;
use mppsol_client::OperatorApi;
use mppsol_client::operator::ApiCredentials;
use mppsol_e2e::{Backend, PgDb, TempDir};
use mppsol_ledger::Ledger;
use mppsol_ledger::embedded::{EmbeddedConfig, EmbeddedLedger};
use mppsol_operator::{AppState, IssuedKey, MasterKey, OperatorConfig, bootstrap_operator};
use mppsol_solana::network::Network;
use reqwest::Method;
use serde_json::{Value, json};
use solana_address::Address;
use solana_signer::Signer as _;

/// The master key every test stack uses (tests open sealed values with it).
pub const MASTER: [u8; 32] = [42; 32];

pub struct OpStack {
    pub base_url: String,
    pub state: AppState,
    pub ledger: EmbeddedLedger,
    pub operator_id: String,
    pub operator: OperatorApi,
    /// The first operator's key and secret.
    pub operator_key: IssuedKey,
    pub backend: Backend,
    /// The SQLite file or the PostgreSQL URL.
    pub location: String,
    _dir: TempDir,
    _pg: Option<PgDb>,
}

impl OpStack {
    pub async fn spawn(backend: Backend) -> Self {
        let ledger = EmbeddedLedger::new(EmbeddedConfig::default())
            .await
            .expect("embedded ledger");
        Self::spawn_on(backend, ledger).await
    }

    /// On an existing ledger (the custodial end-to-end shares the paid API's).
    pub async fn spawn_on(backend: Backend, ledger: EmbeddedLedger) -> Self {
        Self::spawn_with(backend, ledger, None).await
    }

    /// On an existing ledger, custodial token accounts paying through `policy` programs.
    pub async fn spawn_with(
        backend: Backend,
        ledger: EmbeddedLedger,
        policy: Option<mppsol_operator::PolicyPrograms>,
    ) -> Self {
        let dir = TempDir::new("operator");
        let (location, pg) = match backend {
            Backend::Sqlite => (dir.0.join("operator.db").display().to_string(), None),
            Backend::Postgres => {
                let db = PgDb::create().await;
                (db.url.clone(), Some(db))
            }
        };
        let store = mppsol_store::open_operator_store(&location)
            .await
            .expect("operator store");
        let shared: Arc<dyn Ledger> = Arc::new(ledger.clone());
        let state = AppState::new(OperatorConfig {
            store,
            ledger: shared,
            network: Network::Localnet,
            master_key: MasterKey::from_bytes(&MASTER),
            clock: Arc::new(SystemClock),
        });
        let state = match policy {
            Some(programs) => state.with_policy_programs(programs),
            None => state,
        };
        let state = state.with_session_store(
            mppsol_store::open_store(&location)
                .await
                .expect("channel store"),
        );
        let (operator, key) = bootstrap_operator(&state, "acme").await.expect("bootstrap");
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .expect("bind");
        let base_url = format!("http://{}", listener.local_addr().expect("addr"));
        let app = mppsol_operator::router(state.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        let api = api_for(&base_url, &key);
        Self {
            base_url,
            state,
            ledger,
            operator_id: operator.id,
            operator: api,
            operator_key: key,
            backend,
            location,
            _dir: dir,
            _pg: pg,
        }
    }

    /// On `ledger` with the bundled policy programs; the operator's policy-owner key funded.
    pub async fn spawn_with_policy_wallets(backend: Backend, ledger: EmbeddedLedger) -> Self {
        let s = Self::spawn_with(
            backend,
            ledger,
            Some(mppsol_operator::PolicyPrograms::dev()),
        )
        .await;
        let owner = mppsol_operator::policy_wallet::owner_key(&s.state, &s.operator_id)
            .await
            .expect("owner key");
        s.ledger
            .fund_sol(&owner.pubkey(), 1_000_000_000)
            .await
            .expect("fund the owner");
        s
    }

    /// A custodial account in `mint` with `policy` (on a stack with policy wallets): its
    /// wallet's vault holds 100_000, its key 1 SOL for fees and rents.
    pub async fn wallet_account(&self, mint: &Address, policy: Value) -> WalletAccount {
        let (status, v) = call(
            &self.operator,
            Method::POST,
            "/v1/accounts",
            Some(json!({"handle": "payer", "custody_mode": "custodial",
                "currency": mint.to_string(), "policy": policy})),
        )
        .await;
        assert_eq!(status, 201, "{v}");
        let parse = |v: &Value| -> Address { v.as_str().expect("text").parse().expect("address") };
        let (address, owner, wallet) = (
            parse(&v["account"]["address"]),
            parse(&v["policy_wallet"]["owner"]),
            parse(&v["policy_wallet"]["wallet"]),
        );
        let vault = self
            .ledger
            .mint_tokens(mint, &wallet, 100_000)
            .await
            .expect("fund the vault");
        assert_eq!(
            v["account"]["token_account"],
            vault.to_string(),
            "the account's balance is its wallet's vault"
        );
        self.ledger
            .fund_sol(&address, 1_000_000_000)
            .await
            .expect("fund the key");
        WalletAccount {
            id: v["account"]["id"].as_str().expect("id").to_owned(),
            address,
            owner,
            wallet,
            vault,
        }
    }

    /// What a token account holds.
    pub async fn token_balance(&self, account: &Address) -> u64 {
        self.ledger
            .token_balance(account)
            .await
            .expect("token balance")
            .map_or(0, |t| t.amount)
    }

    /// A client signing with `key`.
    pub fn api(&self, key: &IssuedKey) -> OperatorApi {
        api_for(&self.base_url, key)
    }

    /// A second operator on the same service, with its own key.
    pub async fn other_operator(&self) -> OperatorApi {
        let (_, key) = bootstrap_operator(&self.state, "rival")
            .await
            .expect("operator");
        self.api(&key)
    }

    /// Creates an account as the first operator; returns its JSON.
    pub async fn account(&self, body: Value) -> Value {
        let (status, v) = call(&self.operator, Method::POST, "/v1/accounts", Some(body)).await;
        assert_eq!(status, 201, "{v}");
        v["account"].clone()
    }

    /// A custodial SOL account with `policy`.
    pub async fn custodial(&self, handle: &str, policy: Value) -> Value {
        self.account(json!({"handle": handle, "custody_mode": "custodial", "policy": policy}))
            .await
    }

    /// An agent key for `account_id` (issued by the first operator).
    pub async fn agent_key(&self, account_id: &str) -> OperatorApi {
        let (status, v) = call(
            &self.operator,
            Method::POST,
            "/v1/api-keys",
            Some(json!({"role": "agent", "account_id": account_id})),
        )
        .await;
        assert_eq!(status, 201, "{v}");
        OperatorApi::new(
            reqwest::Client::new(),
            self.base_url.clone(),
            ApiCredentials::new(
                v["key"]["id"].as_str().expect("id"),
                v["secret"].as_str().expect("secret"),
            ),
        )
    }
}

/// A custodial account paying through its policy wallet.
pub struct WalletAccount {
    pub id: String,
    /// The account key: the wallet's agent.
    pub address: Address,
    /// The operator's policy-owner key.
    pub owner: Address,
    pub wallet: Address,
    pub vault: Address,
}

pub fn api_for(base_url: &str, key: &IssuedKey) -> OperatorApi {
    OperatorApi::new(
        reqwest::Client::new(),
        base_url.to_owned(),
        ApiCredentials::new(key.key.id.clone(), key.secret.clone()),
    )
}

/// Sends a signed request; returns (status, JSON body or Null).
pub async fn call(
    api: &OperatorApi,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let r = api
        .send(method, path, body.as_ref())
        .await
        .expect("request");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// `POST /v1/accounts/{id}/transfers` with an idempotency key.
pub async fn transfer(api: &OperatorApi, account_id: &str, key: &str, body: Value) -> (u16, Value) {
    let path = format!("/v1/accounts/{account_id}/transfers");
    let r = api
        .send_idempotent(Method::POST, &path, Some(&body), Some(key))
        .await
        .expect("request");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// A valid address that is not on any allowlist in these tests.
pub fn address(seed: u8) -> String {
    use solana_signer::Signer;
    mppsol_e2e::key(seed).pubkey().to_string()
}
