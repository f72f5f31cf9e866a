//! `mppsol operator worker` as separate processes on one PostgreSQL database and one
//! `mppsol localnet` chain: killed with SIGKILL at random points, and several at once.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use rand::Rng as _;
use reqwest::Method;
use serde_json::{Value, json};

use super::*;

/// A fresh PostgreSQL database; returns its URL.
fn fresh_pg(tag: &str) -> String {
    let admin = std::env::var("MPPSOL_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let name = format!("mppsol_cmd_{tag}_{}", std::process::id());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        use sqlx::{Connection, Executor};
        let mut c = sqlx::PgConnection::connect(&admin)
            .await
            .expect("PostgreSQL is required for this test");
        c.execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
            .await
            .unwrap();
        c.execute(format!("CREATE DATABASE {name}").as_str())
            .await
            .unwrap();
    });
    format!("{}/{name}", admin.rsplit_once('/').unwrap().0)
}

/// `mppsol localnet` on a free port; returns it and its RPC URL.
fn localnet() -> (Kill, String) {
    let mut chain = Kill(
        bin()
            .args(["localnet", "--port", "0", "--json"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut line = String::new();
    BufReader::new(chain.0.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let info: Value = serde_json::from_str(&line).expect("localnet --json line");
    (chain, info["url"].as_str().unwrap().to_owned())
}

/// One operator deployment's shared settings: database, chain, master key.
struct Deployment {
    db: String,
    rpc_url: String,
    dir: PathBuf,
    key_file: PathBuf,
}

impl Deployment {
    fn new(tag: &str, rpc_url: &str) -> Self {
        let dir = tmp(tag);
        let key_file = dir.join("master.hex");
        std::fs::write(&key_file, "cd".repeat(32)).unwrap();
        Self {
            db: fresh_pg(tag),
            rpc_url: rpc_url.to_owned(),
            dir,
            key_file,
        }
    }

    fn args(&self) -> Vec<String> {
        [
            "--data-dir",
            self.dir.to_str().unwrap(),
            "--master-key-file",
            self.key_file.to_str().unwrap(),
            "--rpc-url",
            &self.rpc_url,
        ]
        .map(str::to_owned)
        .to_vec()
    }

    /// An API instance on a free port.
    fn api(&self) -> (Kill, u16, Vec<String>) {
        let port = free_port();
        let args = self.args();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (child, lines) = start_operator(port, &args, &[("DATABASE_URL", &self.db)]);
        (child, port, lines)
    }

    /// A settlement worker process.
    fn worker(&self) -> Kill {
        let args = self.args();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        start_worker(
            &args,
            &["--lease-secs", "1", "--batch", "16"],
            Some(&self.db),
        )
    }

    /// `(status, count)` of every transfer.
    fn transfer_counts(&self, rt: &tokio::runtime::Runtime) -> Vec<(String, i64)> {
        rt.block_on(async {
            use sqlx::Connection;
            let mut c = sqlx::PgConnection::connect(&self.db).await.unwrap();
            sqlx::query_as("SELECT status, COUNT(*) FROM transfers GROUP BY status ORDER BY status")
                .fetch_all(&mut c)
                .await
                .unwrap()
        })
    }

    fn settled(&self, rt: &tokio::runtime::Runtime) -> i64 {
        self.transfer_counts(rt)
            .iter()
            .find(|(s, _)| s == "settled")
            .map_or(0, |(_, n)| *n)
    }

    /// Distinct signatures of settled transfers and `transfer.settled` events.
    fn signatures_and_events(&self, rt: &tokio::runtime::Runtime) -> (i64, i64) {
        rt.block_on(async {
            use sqlx::Connection;
            let mut c = sqlx::PgConnection::connect(&self.db).await.unwrap();
            let sigs: i64 = sqlx::query_scalar(
                "SELECT COUNT(DISTINCT signature) FROM transfers WHERE status = 'settled'",
            )
            .fetch_one(&mut c)
            .await
            .unwrap();
            let events: i64 =
                sqlx::query_scalar("SELECT COUNT(*) FROM events WHERE type = 'transfer.settled'")
                    .fetch_one(&mut c)
                    .await
                    .unwrap();
            (sigs, events)
        })
    }
}

fn api_at(port: u16, lines: &[String]) -> mppsol_client::OperatorApi {
    mppsol_client::OperatorApi::new(
        reqwest::Client::new(),
        format!("http://127.0.0.1:{port}"),
        mppsol_client::ApiCredentials::new(
            printed(lines, "key id:").unwrap(),
            printed(lines, "secret:").unwrap(),
        ),
    )
}

/// Creates a custodial SOL account funded with 20 SOL; returns its id.
fn funded_account(
    rt: &tokio::runtime::Runtime,
    api: &mppsol_client::OperatorApi,
    rpc_url: &str,
) -> String {
    let body = json!({"handle": "payer", "custody_mode": "custodial"});
    let r = rt
        .block_on(api.send(Method::POST, "/v1/accounts", Some(&body)))
        .unwrap();
    assert_eq!(r.status(), 201);
    let v: Value = rt.block_on(r.json()).unwrap();
    let address = v["account"]["address"].as_str().unwrap();
    let sig = rpc(
        rpc_url,
        "requestAirdrop",
        json!([address, 20_000_000_000u64]),
    );
    assert!(sig.is_string());
    v["account"]["id"].as_str().unwrap().to_owned()
}

/// Sends the transfer requests `(idempotency key, amount)`, 16 at a time, spread over `apis`;
/// returns each answer's (status, transfer id).
fn request_transfers(
    rt: &tokio::runtime::Runtime,
    apis: &[mppsol_client::OperatorApi],
    account: &str,
    to: &str,
    requests: &[(String, u64)],
) -> Vec<(u16, String)> {
    use futures::StreamExt as _;
    let path = format!("/v1/accounts/{account}/transfers");
    rt.block_on(
        futures::stream::iter(requests.iter().enumerate().map(|(i, (key, amount))| {
            let api = &apis[i % apis.len()];
            let body = json!({"amount": amount.to_string(), "counterparty": to});
            let path = path.clone();
            async move {
                let r = api
                    .send_idempotent(Method::POST, &path, Some(&body), Some(key))
                    .await
                    .unwrap();
                let status = r.status().as_u16();
                let v: Value = r.json().await.unwrap();
                (status, v["id"].as_str().unwrap_or_default().to_owned())
            }
        }))
        .buffered(16)
        .collect(),
    )
}

fn balance(rpc_url: &str, address: &str) -> u64 {
    rpc(rpc_url, "getBalance", json!([address]))["value"]
        .as_u64()
        .unwrap()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn worker_killed_at_random_points_settles_every_transfer_exactly_once() {
    const N: u64 = 500;
    let (_chain, rpc_url) = localnet();
    let d = Deployment::new("worker_crash", &rpc_url);
    let rt = runtime();
    let (_api, port, lines) = d.api();
    let api = api_at(port, &lines);
    let account = funded_account(&rt, &api, &rpc_url);
    let to = {
        use solana_signer::Signer as _;
        solana_keypair::Keypair::new().pubkey().to_string()
    };
    let requests: Vec<(String, u64)> = (0..N).map(|i| (format!("t{i}"), 1_000_000 + i)).collect();
    let answers = request_transfers(&rt, std::slice::from_ref(&api), &account, &to, &requests);
    assert!(answers.iter().all(|(s, _)| *s == 201), "{answers:?}");

    // Kill workers with SIGKILL at random moments until everything is settled.
    let mut rng = rand::thread_rng();
    let mut kills = 0;
    let deadline = Instant::now() + Duration::from_secs(300);
    while d.settled(&rt) < N as i64 {
        assert!(Instant::now() < deadline, "{:?}", d.transfer_counts(&rt));
        let worker = d.worker();
        std::thread::sleep(Duration::from_millis(rng.gen_range(150..1500)));
        drop(worker); // SIGKILL, then reaped
        kills += 1;
    }
    assert!(kills >= 3, "the workers were killed only {kills} times");
    assert_eq!(
        d.transfer_counts(&rt),
        vec![("settled".to_owned(), N as i64)]
    );
    assert_eq!(d.signatures_and_events(&rt), (N as i64, N as i64));
    let expected: u64 = requests.iter().map(|(_, a)| a).sum();
    assert_eq!(balance(&rpc_url, &to), expected);
    // A worker started afterwards finds nothing to do: the balance stays.
    let late = d.worker();
    std::thread::sleep(Duration::from_secs(2));
    drop(late);
    assert_eq!(balance(&rpc_url, &to), expected);
    // The reconciler finds every transfer on chain and nothing drifted.
    let out = bin()
        .args(["operator"])
        .args(d.args())
        .args(["reconcile"])
        .env("DATABASE_URL", &d.db)
        .env_remove("MPPSOL_MASTER_KEY")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["transfers_checked"], N);
    assert_eq!(report["chain"], json!([]));
}

#[test]
fn two_workers_and_two_api_instances_pay_each_transfer_once() {
    const REQUESTS: u64 = 1_000;
    const KEYS: u64 = 800;
    let (_chain, rpc_url) = localnet();
    let d = Deployment::new("worker_pair", &rpc_url);
    let rt = runtime();
    let (_api_a, port_a, lines) = d.api();
    let (_api_b, port_b, _) = d.api();
    let apis = [api_at(port_a, &lines), api_at(port_b, &lines)];
    let account = funded_account(&rt, &apis[0], &rpc_url);
    let to = {
        use solana_signer::Signer as _;
        solana_keypair::Keypair::new().pubkey().to_string()
    };
    let _workers = [d.worker(), d.worker()];
    // 200 requests repeat an earlier key with the same body (a client retrying).
    let requests: Vec<(String, u64)> = (0..REQUESTS)
        .map(|i| {
            let k = i % KEYS;
            (format!("k{k}"), 1_000_000 + k)
        })
        .collect();
    let answers = request_transfers(&rt, &apis, &account, &to, &requests);
    assert!(
        answers.iter().all(|(s, _)| *s == 201 || *s == 200),
        "{answers:?}"
    );
    let ids: HashSet<&str> = answers.iter().map(|(_, id)| id.as_str()).collect();
    assert_eq!(ids.len(), KEYS as usize);
    assert_eq!(
        answers.iter().filter(|(s, _)| *s == 201).count(),
        KEYS as usize
    );
    let deadline = Instant::now() + Duration::from_secs(300);
    while d.settled(&rt) < KEYS as i64 {
        assert!(Instant::now() < deadline, "{:?}", d.transfer_counts(&rt));
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(
        d.transfer_counts(&rt),
        vec![("settled".to_owned(), KEYS as i64)]
    );
    assert_eq!(d.signatures_and_events(&rt), (KEYS as i64, KEYS as i64));
    let expected: u64 = (0..KEYS).map(|k| 1_000_000 + k).sum();
    assert_eq!(balance(&rpc_url, &to), expected);
}
