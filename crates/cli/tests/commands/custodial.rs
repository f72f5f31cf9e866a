//! An agent holding only an API key pays a route of a real `mppsol serve` process through
//! `mppsol operator` (custodial account, `--rpc-url` on `mppsol localnet`), and the
//! `mppsol operator worker` process settles the charge by itself — no receipt is posted.
//! Afterwards the operator's SQLite file holds no form of the custodial key or the API secrets.

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use mppsol_client::{OperatorSigner, PayingClient, SpendingPolicy};
use mppsol_solana::network::Network;
use reqwest::Method;
use serde_json::{Value, json};
use solana_address::Address;
use solana_keypair::Keypair;

use super::*;

/// Sends a signed request; returns (status, JSON body).
async fn call(
    api: &mppsol_client::OperatorApi,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let r = api.send(method, path, body.as_ref()).await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

fn token_amount(rpc_url: &str, token_account: &str) -> u64 {
    rpc(rpc_url, "getTokenAccountBalance", json!([token_account]))["value"]["amount"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

/// The custodial keypair, opened from the database with the master key (as the service does).
async fn custodial_keypair(
    db: &Path,
    master: &[u8; 32],
    account_id: &str,
    address: &str,
) -> Keypair {
    use sqlx::{Connection, Row};
    let mut c = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    let sealed: Vec<u8> = sqlx::query("SELECT sealed_key FROM accounts WHERE id = $1")
        .bind(account_id)
        .fetch_one(&mut c)
        .await
        .unwrap()
        .get(0);
    let opened = mppsol_operator::MasterKey::from_bytes(master)
        .open(
            &sealed,
            &mppsol_operator::crypto::account_key_context(address),
        )
        .unwrap();
    Keypair::try_from(opened.as_slice()).unwrap()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn custodial_agent_pays_serve_and_the_worker_settles_the_charge_without_a_receipt() {
    let dir = tmp("custodial-serve");
    let (_localnet, rpc_url, usdc) = start_localnet();
    let (_seller_file, seller) = new_key(&dir, "seller");
    rpc(
        &rpc_url,
        "requestAirdrop",
        json!([seller, 2_000_000_000u64]),
    );
    let seller_ata = rpc(&rpc_url, "mppsol_mintTokens", json!([seller, usdc, 0u64]));
    let seller_ata = seller_ata.as_str().unwrap().to_owned();
    let upstream_port = start_upstream();
    let (_serve, serve_port) = start_serve(&dir, upstream_port, &rpc_url, &seller, &usdc);

    // The operator API and its worker: one SQLite file, the localnet over JSON-RPC.
    let master = [0xef_u8; 32];
    let key_file = dir.join("master.hex");
    std::fs::write(&key_file, hex(&master)).unwrap();
    let data = dir.join("data");
    let args = [
        "--data-dir",
        data.to_str().unwrap(),
        "--master-key-file",
        key_file.to_str().unwrap(),
        "--rpc-url",
        &rpc_url,
    ];
    let op_port = free_port();
    let (_operator, lines) = start_operator(op_port, &args, &[]);
    let _worker = start_worker(&args, &["--lease-secs", "2"], None);
    let base = format!("http://127.0.0.1:{op_port}");
    let operator_secret = printed(&lines, "secret:").unwrap();
    let operator = mppsol_client::OperatorApi::new(
        reqwest::Client::new(),
        base.clone(),
        mppsol_client::ApiCredentials::new(
            printed(&lines, "key id:").unwrap(),
            operator_secret.clone(),
        ),
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (status, a) = rt.block_on(call(
        &operator,
        Method::POST,
        "/v1/accounts",
        Some(
            json!({"handle": "agent-7", "custody_mode": "custodial", "currency": usdc,
            "policy": {"max_single_transfer": "100000"}}),
        ),
    ));
    assert_eq!(status, 201, "{a}");
    let id = a["account"]["id"].as_str().unwrap().to_owned();
    let address = a["account"]["address"].as_str().unwrap().to_owned();
    // Dev tokens from the localnet's faucet; no SOL: the payee sponsors the fees.
    rpc(
        &rpc_url,
        "mppsol_mintTokens",
        json!([address, usdc, 1_000_000u64]),
    );
    let (status, k) = rt.block_on(call(
        &operator,
        Method::POST,
        "/v1/api-keys",
        Some(json!({"role": "agent", "account_id": id})),
    ));
    assert_eq!(status, 201, "{k}");
    let agent_secret = k["secret"].as_str().unwrap().to_owned();
    let agent = mppsol_client::OperatorApi::new(
        reqwest::Client::new(),
        base.clone(),
        mppsol_client::ApiCredentials::new(k["key"]["id"].as_str().unwrap(), agent_secret.clone()),
    );

    // The agent pays the priced route with only its API key.
    let before = token_amount(&rpc_url, &seller_ata);
    let client = PayingClient::new(
        reqwest::Client::new(),
        vec![Arc::new(OperatorSigner::new(
            agent.clone(),
            id.clone(),
            Network::Localnet,
        ))],
        SpendingPolicy::default(),
    );
    let paid = rt
        .block_on(client.get(&format!("http://127.0.0.1:{serve_port}/forecast")))
        .expect("paid");
    assert_eq!(paid.response.status(), 200);
    let receipt_header = paid
        .response
        .headers()
        .get("payment-receipt")
        .expect("a receipt")
        .to_str()
        .unwrap()
        .to_owned();
    let receipt = paid.receipt.expect("a parsed receipt");
    assert_eq!(token_amount(&rpc_url, &seller_ata) - before, 25_000);
    verify_receipt(&receipt_header, serve_port, &rpc_url);

    // The worker settles it under the landed signature; nobody posts the receipt.
    let deadline = Instant::now() + Duration::from_secs(60);
    let settled = loop {
        let (_, list) = rt.block_on(call(&agent, Method::GET, "/v1/transfers", None));
        let t = list["data"][0].clone();
        if t["status"] == "settled" {
            break t;
        }
        assert_eq!(t["status"], "pending", "{t}");
        assert!(Instant::now() < deadline, "never settled: {t}");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(settled["kind"], "charge");
    assert_eq!(settled["signature"], receipt.reference.as_str());
    assert_eq!(settled["amount"], "25000");
    let (_, events) = rt.block_on(call(
        &operator,
        Method::GET,
        "/v1/events?type=transfer.settled",
        None,
    ));
    assert_eq!(events["data"].as_array().unwrap().len(), 1, "{events}");

    // No form of any secret in the database's bytes.
    let db = data.join("operator.db");
    let keypair = rt.block_on(custodial_keypair(&db, &master, &id, &address));
    let mut stored = Vec::new();
    for suffix in ["", "-wal", "-shm"] {
        if let Ok(bytes) = std::fs::read(format!("{}{suffix}", db.display())) {
            stored.extend(bytes);
        }
    }
    assert!(
        stored
            .windows(address.len())
            .any(|w| w == address.as_bytes()),
        "the scan sees the account row"
    );
    let secret = keypair.secret_bytes();
    let full = keypair.to_bytes();
    let b64 = base64::engine::general_purpose::STANDARD;
    let forms: Vec<Vec<u8>> = vec![
        secret.to_vec(),
        full.to_vec(),
        hex(secret).into_bytes(),
        hex(&full).into_bytes(),
        keypair.to_base58_string().into_bytes(),
        Address::new_from_array(*secret).to_string().into_bytes(),
        b64.encode(secret).into_bytes(),
        b64.encode(full).into_bytes(),
        operator_secret.into_bytes(),
        agent_secret.into_bytes(),
    ];
    for form in forms {
        assert!(
            !stored.windows(form.len()).any(|w| w == form.as_slice()),
            "a secret is stored in plain text"
        );
    }
    let _ = std::fs::remove_dir_all(dir);
}
