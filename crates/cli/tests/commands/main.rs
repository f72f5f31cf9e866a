//! The `mppsol` binary as a user runs it: separate processes, real HTTP on loopback.

// Test code: a failed expectation is the test failing.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

mod custodial;
mod worker;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mppsol"))
}

fn run(args: &[&str]) -> Output {
    bin().args(args).output().expect("run mppsol")
}

struct Kill(Child);
impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn tmp(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("mppsol-cmd-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn rpc(url: &str, method: &str, params: serde_json::Value) -> serde_json::Value {
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

/// `mppsol localnet --port 0 --json` as a process, and its JSON line (url, dev mints, program).
fn localnet() -> (Kill, serde_json::Value) {
    let mut child = Kill(
        bin()
            .args(["localnet", "--port", "0", "--json"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut line = String::new();
    BufReader::new(child.0.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let info = serde_json::from_str(&line).expect("localnet --json line");
    (child, info)
}

fn wait_listening(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "port {port} never opened");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn demo_runs_the_whole_story_and_exits_zero() {
    let dir = tmp("demo");
    let out = run(&["demo", "--data-dir", dir.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("402 Payment Required"), "{stdout}");
    assert!(
        stdout.contains("agent  USDC 100.000000 -> 99.990000"),
        "{stdout}"
    );
    assert!(stdout.contains("receipt signature verified"), "{stdout}");
    assert!(dir.join("seller.db").exists() && dir.join("agent.db").exists());
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn demo_session_pays_many_requests_with_two_transactions() {
    let dir = tmp("demo-session");
    let out = run(&[
        "demo",
        "--session",
        "--requests",
        "40",
        "--data-dir",
        dir.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("40 paid requests, 2 transactions on chain"),
        "{stdout}"
    );
    assert!(
        stdout.contains("agent  USDC 100.000000 -> 99.960000"),
        "{stdout}"
    );
    assert!(
        stdout.contains("settled 0.040000 USDC, refunded 0.020000 USDC"),
        "{stdout}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn keys_new_then_show_and_never_overwrite() {
    let dir = tmp("keys");
    let path = dir.join("id.json");
    let made = run(&["keys", "new", "--out", path.to_str().unwrap()]);
    assert!(made.status.success());
    let shown = run(&["keys", "show", path.to_str().unwrap()]);
    assert_eq!(shown.stdout, made.stdout);
    let again = run(&["keys", "new", "--out", path.to_str().unwrap()]);
    assert!(!again.status.success(), "overwrote a key");
    let _ = std::fs::remove_dir_all(dir);
}

fn new_key(dir: &Path, name: &str) -> (PathBuf, String) {
    let path = dir.join(format!("{name}.json"));
    let out = run(&["keys", "new", "--out", path.to_str().unwrap()]);
    assert!(out.status.success());
    (
        path,
        String::from_utf8(out.stdout).unwrap().trim().to_owned(),
    )
}

#[test]
fn serve_prices_an_upstream_and_pay_pays_it_over_localnet() {
    let dir = tmp("serve");
    // 1. localnet
    let (_localnet, rpc_url, usdc) = start_localnet();

    // 2. keys, funded through the RPC endpoint
    let (seller_file, seller) = new_key(&dir, "seller");
    let (payer_file, payer) = new_key(&dir, "payer");
    rpc(
        &rpc_url,
        "requestAirdrop",
        serde_json::json!([seller, 2_000_000_000u64]),
    );
    rpc(
        &rpc_url,
        "requestAirdrop",
        serde_json::json!([payer, 1_000_000_000u64]),
    );
    rpc(
        &rpc_url,
        "mppsol_mintTokens",
        serde_json::json!([payer, usdc, 5_000_000u64]),
    );
    rpc(
        &rpc_url,
        "mppsol_mintTokens",
        serde_json::json!([seller, usdc, 0u64]),
    );

    // 3. an upstream that knows nothing about payments
    let upstream_port = free_port();
    let upstream = std::thread::spawn(move || {
        let l = TcpListener::bind(("127.0.0.1", upstream_port)).unwrap();
        for stream in l.incoming().take(2) {
            let mut s = stream.unwrap();
            let mut buf = [0u8; 4096];
            let n = std::io::Read::read(&mut s, &mut buf).unwrap();
            let req = String::from_utf8_lossy(&buf[..n]).to_string();
            // The credential must never reach the upstream.
            let leaked = req.to_ascii_lowercase().contains("authorization: payment");
            let body = if leaked {
                "LEAKED"
            } else {
                "{\"forecast\":\"sunny\"}"
            };
            let resp = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            std::io::Write::write_all(&mut s, resp.as_bytes()).unwrap();
        }
    });

    // 4. mppsol serve
    let (_serve, port) = start_serve(&dir, upstream_port, &rpc_url, &seller, &usdc);
    let url = format!("http://127.0.0.1:{port}/forecast");

    // 5. a spending limit below the price refuses before signing
    let denied = run(&[
        "pay",
        &url,
        "--max-amount",
        "24999",
        "--rpc-url",
        &rpc_url,
        "--keypair",
        payer_file.to_str().unwrap(),
    ]);
    assert!(!denied.status.success());
    assert!(String::from_utf8_lossy(&denied.stderr).contains("denied by policy"));

    // 6. mppsol pay pays and prints the upstream's body
    let paid = run(&[
        "pay",
        &url,
        "--max-amount",
        "25000",
        "--rpc-url",
        &rpc_url,
        "--keypair",
        payer_file.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&paid.stderr).to_string();
    assert!(paid.status.success(), "{stderr}");
    assert_eq!(
        String::from_utf8_lossy(&paid.stdout),
        "{\"forecast\":\"sunny\"}"
    );
    let receipt = stderr
        .lines()
        .find_map(|l| l.strip_prefix("payment-receipt: "))
        .expect("receipt printed");

    // 7. the receipt verifies against the key the proxy publishes, and its transaction landed
    verify_receipt(receipt, port, &rpc_url);
    let _ = seller_file;
    drop(upstream);
    let _ = std::fs::remove_dir_all(dir);
}

/// `mppsol receipt verify`: the receipt verifies against the key the server on `port`
/// publishes, and its transaction landed.
fn verify_receipt(receipt: &str, port: u16, rpc_url: &str) {
    let verified = run(&[
        "receipt",
        "verify",
        receipt,
        "--server",
        &format!("http://127.0.0.1:{port}"),
        "--rpc-url",
        rpc_url,
    ]);
    assert!(
        verified.status.success(),
        "{}",
        String::from_utf8_lossy(&verified.stderr)
    );
    assert!(String::from_utf8_lossy(&verified.stdout).contains("landed in slot"));
}

#[test]
fn programs_deploy_puts_the_channel_program_on_localnet_through_the_upgradeable_loader() {
    let dir = tmp("deploy");
    let (_localnet, info) = localnet();
    let rpc_url = info["url"].as_str().unwrap().to_owned();
    // The bundled program is already there at the dev id.
    let dev = info["channelProgram"].as_str().unwrap().to_owned();
    let loaded = rpc(
        &rpc_url,
        "getAccountInfo",
        serde_json::json!([dev, {"encoding": "base64"}]),
    );
    assert_eq!(loaded["value"]["executable"], true);

    let (payer_file, payer) = new_key(&dir, "payer");
    let (program_file, program) = new_key(&dir, "program");
    rpc(
        &rpc_url,
        "requestAirdrop",
        serde_json::json!([payer, 10_000_000_000u64]),
    );
    let deploy = || {
        run(&[
            "programs",
            "deploy",
            "--url",
            &rpc_url,
            "--program",
            "channel",
            "--program-keypair",
            program_file.to_str().unwrap(),
            "--payer",
            payer_file.to_str().unwrap(),
        ])
    };
    let out = deploy();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), program);
    let account = rpc(
        &rpc_url,
        "getAccountInfo",
        serde_json::json!([program, {"encoding": "base64"}]),
    );
    assert_eq!(account["value"]["executable"], true);
    assert_eq!(
        account["value"]["owner"],
        "BPFLoaderUpgradeab1e11111111111111111111111"
    );

    // The deployed program runs: `seal` (6) on an account it does not own is refused with its
    // own error, InvalidChannelOwner (14 = 0xe).
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let refused = rt.block_on(async {
        use mppsol_ledger::Ledger as _;
        use solana_signer::Signer as _;
        let ledger = mppsol_ledger::rpc::RpcLedger::new(mppsol_ledger::rpc::RpcConfig::new(
            rpc_url.clone(),
            "localnet",
        ))
        .unwrap();
        let payer = mppsol_client::signer::load_keypair_file(&payer_file).unwrap();
        let ix = solana_instruction::Instruction {
            program_id: program.parse().unwrap(),
            accounts: vec![solana_instruction::AccountMeta::new(
                solana_address::Address::new_unique(),
                false,
            )],
            data: vec![6],
        };
        let blockhash = ledger.latest_blockhash().await.unwrap().blockhash;
        let message =
            solana_message::Message::new_with_blockhash(&[ix], Some(&payer.pubkey()), &blockhash);
        let tx = solana_transaction::versioned::VersionedTransaction::try_new(
            solana_message::VersionedMessage::Legacy(message),
            &[&payer],
        )
        .unwrap();
        ledger.send(&tx).await.unwrap_err().to_string()
    });
    assert!(refused.contains("custom program error: 0xe"), "{refused}");

    // Deploying over an existing account is refused before anything is spent.
    let again = deploy();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
}

/// Sessions through `mppsol serve` as a process: the 11th voucher is accepted and persisted,
/// the proxy forwards the request, and the process is killed with SIGKILL before it answers.
/// After a restart on the same database, the restarted client and the server agree on the
/// accepted amount; the lost response's voucher counted once; the close settles exactly that.
#[test]
fn serve_session_survives_sigkill_between_accepting_a_voucher_and_responding() {
    use std::sync::Arc;
    use std::sync::mpsc;

    const PRICE: u64 = 1_000;
    let dir = tmp("serve-session-kill");
    let (_localnet, info) = localnet();
    let rpc_url = info["url"].as_str().unwrap().to_owned();
    let usdc = info["usdc"].as_str().unwrap().to_owned();
    let (seller_file, seller) = new_key(&dir, "seller");
    let (agent_file, agent) = new_key(&dir, "agent");
    rpc(
        &rpc_url,
        "requestAirdrop",
        serde_json::json!([seller, 5_000_000_000u64]),
    );
    rpc(
        &rpc_url,
        "mppsol_mintTokens",
        serde_json::json!([agent, usdc, 5_000_000u64]),
    );
    rpc(
        &rpc_url,
        "mppsol_mintTokens",
        serde_json::json!([seller, usdc, 0u64]),
    );

    // The upstream answers every request but the 11th, which it holds while the test kills
    // the proxy.
    let upstream_port = free_port();
    let (held_tx, held_rx) = mpsc::channel::<()>();
    std::thread::spawn(move || {
        let l = TcpListener::bind(("127.0.0.1", upstream_port)).unwrap();
        let mut held = Vec::new();
        for (n, stream) in l.incoming().enumerate() {
            let mut s = stream.unwrap();
            let mut buf = [0u8; 8192];
            let _ = std::io::Read::read(&mut s, &mut buf).unwrap();
            if n == 10 {
                held.push(s);
                let _ = held_tx.send(());
                continue;
            }
            let body = "{\"unit\":\"ok\"}";
            let resp = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = std::io::Write::write_all(&mut s, resp.as_bytes());
        }
    });

    let port = free_port();
    let config = dir.join("mppsol.toml");
    std::fs::write(
        &config,
        format!(
            r#"realm = "units.test"
upstream = "http://127.0.0.1:{upstream_port}"
database = "server.db"

[solana]
network = "localnet"
rpc_url = "{rpc_url}"
recipient = "{seller}"
fee_payer_keypair = "seller.json"

[solana.session]
payee_keypair = "seller.json"
watch = false

[[route]]
method = "GET"
path = "/unit"
amount = "{PRICE}"
currency = "{usdc}"
intent = "session"
"#
        ),
    )
    .unwrap();
    let start_serve = || {
        let child = Kill(
            bin()
                .args(["serve", "--config", config.to_str().unwrap(), "--listen"])
                .arg(format!("127.0.0.1:{port}"))
                .current_dir(&dir)
                .spawn()
                .unwrap(),
        );
        wait_listening(port);
        child
    };
    let mut serve = start_serve();
    let url = format!("http://127.0.0.1:{port}/unit");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let agent_key = Arc::new(mppsol_client::signer::load_keypair_file(&agent_file).unwrap());
    let agent_db = dir.join("agent.db");
    let client = |timeout: Duration| {
        let ledger: Arc<dyn mppsol_ledger::Ledger> = Arc::new(
            mppsol_ledger::rpc::RpcLedger::new(mppsol_ledger::rpc::RpcConfig::new(
                &rpc_url, "localnet",
            ))
            .unwrap(),
        );
        let store = rt
            .block_on(mppsol_store::open_store(agent_db.to_str().unwrap()))
            .unwrap();
        let session = Arc::new(mppsol_client::SolanaSessionClient::new(
            agent_key.clone(),
            ledger,
            store.clone(),
            mppsol_solana::network::Network::Localnet,
            100 * PRICE,
        ));
        let paying = mppsol_client::PayingClient::new(
            reqwest::Client::builder().timeout(timeout).build().unwrap(),
            vec![session],
            mppsol_client::SpendingPolicy::default(),
        );
        (paying, store)
    };
    let (paying, _) = client(Duration::from_secs(30));
    for i in 1..=10 {
        let r = rt.block_on(paying.get(&url)).unwrap();
        assert_eq!(r.response.status(), 200, "request {i}");
    }
    // The 11th: persisted, forwarded, held upstream; the proxy dies by SIGKILL.
    let eleventh = {
        let paying = paying.clone();
        let url = url.clone();
        rt.spawn(async move { paying.get(&url).await })
    };
    held_rx
        .recv_timeout(Duration::from_secs(30))
        .expect("11th request reached upstream");
    serve.0.kill().unwrap();
    let _ = serve.0.wait();
    assert!(
        rt.block_on(eleventh).unwrap().is_err(),
        "no answer from a killed proxy"
    );

    // Restart both sides.
    serve = start_serve();
    let (paying, agent_store) = client(Duration::from_secs(30));
    let r = rt.block_on(paying.get(&url)).unwrap();
    assert_eq!(r.response.status(), 200);
    assert_eq!(rt.block_on(r.response.text()).unwrap(), "{\"unit\":\"ok\"}");

    let server_store = rt
        .block_on(mppsol_store::open_store(
            dir.join("server.db").to_str().unwrap(),
        ))
        .unwrap();
    let open = rt
        .block_on(server_store.channels_with_status(mppsol_store::SessionStatus::Open, 10))
        .unwrap();
    assert_eq!(open.len(), 1);
    let ch = &open[0];
    assert_eq!(
        ch.accepted_cumulative,
        12 * PRICE,
        "the killed request's voucher counted once"
    );
    assert_eq!(ch.spent, 12 * PRICE);
    let mine = rt
        .block_on(agent_store.client_channel(&ch.channel_id))
        .unwrap()
        .unwrap();
    assert_eq!(
        mine.accepted, ch.accepted_cumulative,
        "client and server agree"
    );
    let closed = rt.block_on(paying.close_session(&url)).unwrap();
    let receipt = closed.receipt.unwrap();
    assert_eq!(
        receipt.extra["spent"],
        serde_json::json!((12 * PRICE).to_string())
    );
    assert_eq!(
        receipt.extra["refunded"],
        serde_json::json!((88 * PRICE).to_string())
    );
    drop(serve);
    let _ = seller_file;
    let _ = std::fs::remove_dir_all(dir);
}

/// Starts `mppsol operator` on `port` with `args` and `env`; returns the process and what it
/// printed up to its "listening" line.
fn start_operator(port: u16, args: &[&str], env: &[(&str, &str)]) -> (Kill, Vec<String>) {
    let listen = format!("127.0.0.1:{port}");
    let mut cmd = bin();
    cmd.args(["operator", "--listen", &listen])
        .args(args)
        .env_remove("DATABASE_URL")
        .env_remove("MPPSOL_MASTER_KEY")
        .env_remove("MPPSOL_RPC_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = Kill(cmd.spawn().expect("spawn operator"));
    let mut lines = Vec::new();
    let reader = BufReader::new(child.0.stdout.take().unwrap());
    for line in reader.lines() {
        let line = line.unwrap();
        let done = line.contains("listening on");
        lines.push(line);
        if done {
            break;
        }
    }
    assert!(
        lines.last().is_some_and(|l| l.contains("listening on")),
        "{lines:?}"
    );
    wait_listening(port);
    (child, lines)
}

/// `mppsol operator ARGS worker WORKER_ARGS` on `database_url` (else the data dir's SQLite).
fn start_worker(args: &[&str], worker_args: &[&str], database_url: Option<&str>) -> Kill {
    let mut cmd = bin();
    cmd.arg("operator")
        .args(args)
        .arg("worker")
        .args(worker_args)
        .env_remove("DATABASE_URL")
        .env_remove("MPPSOL_MASTER_KEY")
        .env_remove("MPPSOL_RPC_URL")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if let Some(url) = database_url {
        cmd.env("DATABASE_URL", url);
    }
    Kill(cmd.spawn().expect("spawn worker"))
}

/// The value after `label` in the printed lines.
fn printed(lines: &[String], label: &str) -> Option<String> {
    lines
        .iter()
        .find_map(|l| l.strip_prefix(label).map(|v| v.trim().to_owned()))
}

/// `GET /v1/accounts` signed with the key; returns the status.
fn list_accounts(port: u16, key_id: &str, secret: &str) -> u16 {
    let api = mppsol_client::OperatorApi::new(
        reqwest::Client::new(),
        format!("http://127.0.0.1:{port}"),
        mppsol_client::ApiCredentials::new(key_id, secret),
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        api.send(reqwest::Method::GET, "/v1/accounts", None)
            .await
            .unwrap()
            .status()
            .as_u16()
    })
}

#[test]
fn operator_starts_on_sqlite_with_no_setup_and_prints_its_first_key_once() {
    let dir = tmp("operator");
    let data = dir.join("data");
    let data_arg = ["--data-dir", data.to_str().unwrap()];
    let port = free_port();
    let (first, lines) = start_operator(port, &data_arg, &[]);
    let key_id = printed(&lines, "key id:").expect("a key id is printed on first start");
    let secret = printed(&lines, "secret:").expect("the secret is printed on first start");
    assert!(
        key_id.starts_with("key_") && secret.starts_with("mppsol_sk_"),
        "{lines:?}"
    );
    assert_eq!(list_accounts(port, &key_id, &secret), 200);
    assert_eq!(list_accounts(port, &key_id, "mppsol_sk_wrong"), 401);
    drop(first);

    assert!(data.join("operator.db").exists());
    let master = data.join("master.key");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&master).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // Restarted: no new key, and the first one still works (same master key, same database).
    let port = free_port();
    let (_second, lines) = start_operator(port, &data_arg, &[]);
    assert_eq!(printed(&lines, "secret:"), None, "{lines:?}");
    assert_eq!(list_accounts(port, &key_id, &secret), 200);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn operator_serves_the_dashboard_with_a_secure_cookie_behind_tls() {
    let dir = tmp("operator-dashboard");
    let data = dir.join("data");
    let port = free_port();
    let (_op, lines) = start_operator(
        port,
        &["--data-dir", data.to_str().unwrap(), "--behind-tls"],
        &[],
    );
    assert!(
        lines
            .last()
            .is_some_and(|l| l.contains("dashboard at /dashboard"))
    );
    let key_id = printed(&lines, "key id:").unwrap();
    let secret = printed(&lines, "secret:").unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let root = http.get(format!("{base}/")).send().await.unwrap();
        assert_eq!(root.status().as_u16(), 303);
        assert_eq!(root.headers()["location"], "/dashboard");
        let page = http
            .get(format!("{base}/dashboard/sign-in"))
            .send()
            .await
            .unwrap();
        assert_eq!(page.status().as_u16(), 200);
        assert!(page.text().await.unwrap().contains("name=\"secret\""));
        let signed = http
            .post(format!("{base}/dashboard/sign-in"))
            .form(&[("key_id", key_id.as_str()), ("secret", secret.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(signed.status().as_u16(), 303);
        let cookie = signed.headers()["set-cookie"].to_str().unwrap().to_owned();
        assert!(
            cookie.contains("HttpOnly")
                && cookie.contains("SameSite=Strict")
                && cookie.ends_with("; Secure"),
            "{cookie}"
        );
    });
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn operator_switches_to_postgres_with_database_url_and_init_adds_operators() {
    let admin = std::env::var("MPPSOL_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let name = format!("mppsol_cmd_operator_{}", std::process::id());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let exec = |sql: String| {
        rt.block_on(async {
            use sqlx::{Connection, Executor};
            let mut c = sqlx::PgConnection::connect(&admin)
                .await
                .expect("PostgreSQL is required for this test");
            c.execute(sql.as_str()).await.unwrap();
        })
    };
    exec(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
    exec(format!("CREATE DATABASE {name}"));
    let url = format!("{}/{name}", admin.rsplit_once('/').unwrap().0);
    let dir = tmp("operator-pg");
    let key_file = dir.join("master.hex");
    std::fs::write(&key_file, "ab".repeat(32)).unwrap();
    let common = [
        "--data-dir",
        dir.to_str().unwrap(),
        "--master-key-file",
        key_file.to_str().unwrap(),
    ];

    // Flags may come after the subcommand too.
    let out = bin()
        .args(["operator", "init", "--name", "second"])
        .args(common)
        .env("DATABASE_URL", &url)
        .env_remove("MPPSOL_MASTER_KEY")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    let (key_id, secret) = (
        printed(&lines, "key id:").unwrap(),
        printed(&lines, "secret:").unwrap(),
    );
    let port = free_port();
    let (op, lines) = start_operator(port, &common, &[("DATABASE_URL", url.as_str())]);
    assert_eq!(
        printed(&lines, "secret:"),
        None,
        "an operator exists: no bootstrap"
    );
    assert_eq!(list_accounts(port, &key_id, &secret), 200);
    assert!(
        !dir.join("operator.db").exists(),
        "nothing was written to SQLite"
    );
    drop(op);
    exec(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// `mppsol localnet` on a free port: the process, its RPC URL and its dev USDC mint.
fn start_localnet() -> (Kill, String, String) {
    let (localnet, info) = localnet();
    let rpc_url = info["url"].as_str().unwrap().to_owned();
    let usdc = info["usdc"].as_str().unwrap().to_owned();
    (localnet, rpc_url, usdc)
}

/// `mppsol serve` pricing `GET /forecast` at 25000 USDC base units, paid to (and fees sponsored
/// by) `seller` (whose key is `dir/seller.json`); returns the process and its port.
fn start_serve(
    dir: &Path,
    upstream_port: u16,
    rpc_url: &str,
    seller: &str,
    usdc: &str,
) -> (Kill, u16) {
    let port = free_port();
    let config = dir.join("mppsol.toml");
    std::fs::write(
        &config,
        format!(
            r#"realm = "forecast.test"
upstream = "http://127.0.0.1:{upstream_port}"
receipt_keypair = "seller.json"

[solana]
network = "localnet"
rpc_url = "{rpc_url}"
recipient = "{seller}"
fee_payer_keypair = "seller.json"

[[route]]
method = "GET"
path = "/forecast"
amount = "25000"
currency = "{usdc}"
description = "Tomorrow's forecast"
"#
        ),
    )
    .unwrap();
    (serve(&config, port), port)
}

/// An upstream answering every request with a small JSON body (one connection at a time).
fn start_upstream() -> u16 {
    let l = TcpListener::bind(("127.0.0.1", 0)).unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in l.incoming() {
            let Ok(mut s) = stream else { continue };
            let mut buf = [0u8; 4096];
            if std::io::Read::read(&mut s, &mut buf).is_err() {
                continue;
            }
            let body = "{\"forecast\":\"sunny\"}";
            let resp = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = std::io::Write::write_all(&mut s, resp.as_bytes());
        }
    });
    port
}

#[test]
fn bench_pays_a_served_route_and_every_reported_payment_landed() {
    let dir = tmp("bench");
    let (_localnet, rpc_url, usdc) = start_localnet();
    let (_seller_file, seller) = new_key(&dir, "seller");
    rpc(
        &rpc_url,
        "requestAirdrop",
        serde_json::json!([seller, 2_000_000_000u64]),
    );
    let seller_ata = rpc(
        &rpc_url,
        "mppsol_mintTokens",
        serde_json::json!([seller, usdc, 0u64]),
    );
    // Four payers (64-byte keypairs, Solana CLI form) in one file, each funded with USDC.
    let mut payers = Vec::new();
    for i in 0..4 {
        let (file, address) = new_key(&dir, &format!("payer{i}"));
        rpc(
            &rpc_url,
            "mppsol_mintTokens",
            serde_json::json!([address, usdc, 5_000_000u64]),
        );
        let key: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
        payers.push(key);
    }
    let payers_file = dir.join("payers.json");
    std::fs::write(&payers_file, serde_json::Value::Array(payers).to_string()).unwrap();
    let upstream_port = start_upstream();
    let (serve, port) = start_serve(&dir, upstream_port, &rpc_url, &seller, &usdc);

    let out = run(&[
        "bench",
        &format!("http://127.0.0.1:{port}/forecast"),
        "--payers",
        payers_file.to_str().unwrap(),
        "--rpc-url",
        &rpc_url,
        "--mint",
        &usdc,
        "--concurrency",
        "2",
        "--duration",
        "1",
        "--warmup",
        "0.2",
        "--server-pid",
        &serve.0.id().to_string(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON report");
    let ok = report["ok"].as_u64().unwrap();
    let warm = report["warmup_ok"].as_u64().unwrap();
    assert!(ok > 0, "{report}");
    assert_eq!(report["errors"], serde_json::json!({}), "{report}");
    assert!(report["p50_ms"].as_f64().unwrap() > 0.0, "{report}");
    assert!(report["server_cpu_s"].as_f64().is_some(), "{report}");
    // Every paid request it counted moved exactly the price to the seller.
    let balance = rpc(
        &rpc_url,
        "getTokenAccountBalance",
        serde_json::json!([seller_ata]),
    );
    assert_eq!(
        balance["value"]["amount"].as_str().unwrap(),
        (25_000 * (ok + warm)).to_string()
    );
    let _ = std::fs::remove_dir_all(dir);
}

/// `mppsol serve --config … --listen 127.0.0.1:port`, once it accepts connections.
fn serve(config: &Path, port: u16) -> Kill {
    let child = Kill(
        bin()
            .args(["serve", "--config", config.to_str().unwrap(), "--listen"])
            .arg(format!("127.0.0.1:{port}"))
            .spawn()
            .unwrap(),
    );
    wait_listening(port);
    child
}

/// Runs `mppsol wallet …` and returns stdout; a failure shows stderr.
fn wallet(args: &[&str]) -> String {
    let mut all = vec!["wallet"];
    all.extend_from_slice(args);
    let out = run(&all);
    assert!(
        out.status.success(),
        "wallet {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

#[test]
fn wallet_create_fund_policy_pause_withdraw_show_over_localnet() {
    let dir = tmp("wallet");
    let (_localnet, info) = localnet();
    let url = info["url"].as_str().unwrap().to_owned();
    let usdc = info["usdc"].as_str().unwrap().to_owned();
    let (owner_file, owner) = new_key(&dir, "owner");
    let (funder_file, funder) = new_key(&dir, "funder");
    let (_, agent) = new_key(&dir, "agent");
    for who in [&owner, &funder] {
        rpc(
            &url,
            "requestAirdrop",
            serde_json::json!([who, 1_000_000_000u64]),
        );
    }
    rpc(
        &url,
        "mppsol_mintTokens",
        serde_json::json!([funder, usdc, 700_000u64]),
    );
    let (owner_file, funder_file) = (owner_file.to_str().unwrap(), funder_file.to_str().unwrap());
    let owned = ["--rpc-url", &url, "--agent", &agent, "--owner", owner_file];
    let target = ["--rpc-url", &url, "--agent", &agent, "--owner", &owner];
    let show = |extra: &[&str]| -> serde_json::Value {
        let mut a = vec!["show"];
        a.extend_from_slice(&target);
        a.extend_from_slice(extra);
        serde_json::from_str(&wallet(&a)).unwrap()
    };

    let mut create = vec!["create"];
    create.extend_from_slice(&owned);
    create.extend_from_slice(&["--max-single", "5000", "--max-daily", "20000"]);
    let address = wallet(&create);
    let mut fund = vec![
        "fund",
        "--from",
        funder_file,
        "--mint",
        &usdc,
        "--amount",
        "600000",
    ];
    fund.extend_from_slice(&target);
    wallet(&fund);
    let s = show(&["--mint", &usdc]);
    assert_eq!(s["wallet"], address.as_str());
    assert_eq!(s["agent"], agent.as_str());
    assert_eq!(s["maxSingle"], 5000);
    assert_eq!(s["paused"], false);
    assert_eq!(s["vaultBalance"], 600_000);

    let mut policy = vec!["policy"];
    policy.extend_from_slice(&owned);
    policy.extend_from_slice(&[
        "--max-single",
        "9000",
        "--max-daily",
        "90000",
        "--counterparty",
        &funder,
    ]);
    wallet(&policy);
    let s = show(&[]);
    assert_eq!(s["maxSingle"], 9000);
    assert_eq!(s["counterparties"], serde_json::json!([funder]));

    let mut pause = vec!["pause"];
    pause.extend_from_slice(&owned);
    wallet(&pause);
    assert_eq!(show(&[])["paused"], true);
    pause.push("--resume");
    wallet(&pause);
    assert_eq!(show(&[])["paused"], false);

    let mut withdraw = vec!["withdraw", "--mint", &usdc, "--amount", "250000"];
    withdraw.extend_from_slice(&owned);
    wallet(&withdraw);
    assert_eq!(show(&["--mint", &usdc])["vaultBalance"], 350_000);
    // More than the vault holds: refused, nothing moves.
    let mut too_much = vec!["wallet", "withdraw", "--mint", &usdc, "--amount", "999999"];
    too_much.extend_from_slice(&owned);
    assert!(!run(&too_much).status.success());
    assert_eq!(show(&["--mint", &usdc])["vaultBalance"], 350_000);
    // Another key names another (absent) wallet: pausing fails, this one stays live.
    let stranger = [
        "wallet",
        "pause",
        "--rpc-url",
        &url,
        "--agent",
        &agent,
        "--owner",
        funder_file,
    ];
    assert!(!run(&stranger).status.success());
    assert_eq!(show(&[])["paused"], false);
    let _ = std::fs::remove_dir_all(dir);
}

/// An upstream answering `n` requests with a fixed JSON body.
fn plain_upstream(n: usize) -> (u16, std::thread::JoinHandle<()>) {
    let l = TcpListener::bind(("127.0.0.1", 0)).unwrap();
    let port = l.local_addr().unwrap().port();
    let h = std::thread::spawn(move || {
        for stream in l.incoming().take(n) {
            let mut s = stream.unwrap();
            let mut buf = [0u8; 4096];
            let _ = std::io::Read::read(&mut s, &mut buf).unwrap();
            let body = "{\"forecast\":\"sunny\"}";
            let resp = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            std::io::Write::write_all(&mut s, resp.as_bytes()).unwrap();
        }
    });
    (port, h)
}

#[test]
fn agent_pays_serve_from_its_policy_wallet_and_the_chain_refuses_over_limit() {
    let w = PolicySetup::new("policy-pay", "30000");
    let (dir, rpc_url, usdc, seller) = (&w.dir, &w.rpc_url, &w.usdc, &w.seller);
    let (agent_file, agent, owner_file, owner) = (&w.agent_file, &w.agent, &w.owner_file, &w.owner);
    let owned = [
        "--rpc-url",
        rpc_url,
        "--agent",
        agent,
        "--owner",
        owner_file.to_str().unwrap(),
    ];

    let (upstream_port, upstream) = plain_upstream(1);
    let port = free_port();
    let config = dir.join("mppsol.toml");
    std::fs::write(
        &config,
        format!(
            r#"realm = "forecast.test"
upstream = "http://127.0.0.1:{upstream_port}"

[solana]
network = "localnet"
rpc_url = "{rpc_url}"
recipient = "{seller}"
fee_payer_keypair = "seller.json"

[[route]]
method = "GET"
path = "/forecast"
amount = "25000"
currency = "{usdc}"
"#
        ),
    )
    .unwrap();
    let _serve = serve(&config, port);
    let url = format!("http://127.0.0.1:{port}/forecast");
    let pay = |max: &str| {
        run(&[
            "pay",
            &url,
            "--max-amount",
            max,
            "--rpc-url",
            rpc_url,
            "--keypair",
            agent_file.to_str().unwrap(),
            "--policy-owner",
            owner,
        ])
    };
    let paid = pay("25000");
    assert!(
        paid.status.success(),
        "{}",
        String::from_utf8_lossy(&paid.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&paid.stdout),
        "{\"forecast\":\"sunny\"}"
    );
    let show = [
        "show",
        "--rpc-url",
        rpc_url,
        "--agent",
        agent,
        "--owner",
        owner,
        "--mint",
        usdc,
    ];
    let s: serde_json::Value = serde_json::from_str(&wallet(&show)).unwrap();
    assert_eq!(s["vaultBalance"], 75_000);
    assert_eq!(s["spentToday"], 25_000);

    // The owner lowers the on-chain limit; the host limit (--max-amount) would still allow it.
    let mut policy = vec!["policy", "--max-single", "20000", "--max-daily", "90000"];
    policy.extend_from_slice(&owned);
    wallet(&policy);
    let refused = pay("1000000");
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("OverSingleLimit"), "{stderr}");
    let s: serde_json::Value = serde_json::from_str(&wallet(&show)).unwrap();
    assert_eq!(s["vaultBalance"], 75_000, "nothing moved");
    drop(upstream);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn agent_pays_a_serve_session_from_its_policy_wallet_and_gets_the_refund_in_the_vault() {
    use std::sync::Arc;
    let w = PolicySetup::new("policy-session", "50000");
    let (dir, rpc_url, usdc, seller) = (&w.dir, &w.rpc_url, &w.usdc, &w.seller);
    let (agent_file, agent, owner) = (&w.agent_file, &w.agent, &w.owner);

    let (upstream_port, upstream) = plain_upstream(5);
    let port = free_port();
    let config = dir.join("mppsol.toml");
    std::fs::write(
        &config,
        format!(
            r#"realm = "tokens.test"
upstream = "http://127.0.0.1:{upstream_port}"

[solana]
network = "localnet"
rpc_url = "{rpc_url}"
recipient = "{seller}"
fee_payer_keypair = "seller.json"

[solana.session]
payee_keypair = "seller.json"

[[route]]
method = "GET"
path = "/tokens"
amount = "1000"
currency = "{usdc}"
intent = "session"
"#
        ),
    )
    .unwrap();
    let _serve = serve(&config, port);
    let url = format!("http://127.0.0.1:{port}/tokens");

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let ledger: Arc<dyn mppsol_ledger::Ledger> = Arc::new(
            mppsol_ledger::rpc::RpcLedger::new(mppsol_ledger::rpc::RpcConfig::new(
                rpc_url.clone(),
                "localnet",
            ))
            .unwrap(),
        );
        let store = mppsol_store::open_store(dir.join("agent.db").to_str().unwrap())
            .await
            .unwrap();
        let agent_key = mppsol_client::signer::load_keypair_file(agent_file).unwrap();
        let session = mppsol_client::SolanaSessionClient::new(
            Arc::new(agent_key),
            ledger,
            store,
            mppsol_solana::network::Network::Localnet,
            10_000,
        )
        .with_policy_wallet(mppsol_client::PolicyWallet::new(
            mppsol_solana::policy::DEV_POLICY_PROGRAM_ID,
            mppsol_solana::policy::DEV_PAYMENTS_PROGRAM_ID,
            owner.parse().unwrap(),
        ));
        let client = mppsol_client::PayingClient::new(
            reqwest::Client::new(),
            vec![Arc::new(session)],
            mppsol_client::SpendingPolicy::default(),
        );
        for i in 0..5 {
            let r = client.get(&url).await.unwrap();
            assert_eq!(r.response.status(), 200, "request {i}");
        }
        let closed = client.close_session(&url).await.unwrap();
        assert!(closed.receipt.is_some());
    });
    let s: serde_json::Value = serde_json::from_str(&wallet(&[
        "show",
        "--rpc-url",
        rpc_url,
        "--agent",
        agent,
        "--owner",
        owner,
        "--mint",
        usdc,
    ]))
    .unwrap();
    assert_eq!(
        s["spentToday"], 10_000,
        "the deposit went through the policy"
    );
    assert_eq!(
        s["vaultBalance"], 95_000,
        "5 × 1_000 paid, the rest refunded"
    );
    drop(upstream);
    let _ = std::fs::remove_dir_all(dir);
}

/// `mppsol localnet`, a seller, an agent and an owner (SOL each), and the agent's policy
/// wallet created with `max_single` and funded with 100_000 dev USDC by the owner.
struct PolicySetup {
    _localnet: Kill,
    dir: PathBuf,
    rpc_url: String,
    usdc: String,
    seller: String,
    agent_file: PathBuf,
    agent: String,
    owner_file: PathBuf,
    owner: String,
}

impl PolicySetup {
    fn new(tag: &str, max_single: &str) -> Self {
        let dir = tmp(tag);
        let (localnet, info) = localnet();
        let rpc_url = info["url"].as_str().unwrap().to_owned();
        let usdc = info["usdc"].as_str().unwrap().to_owned();
        let (_, seller) = new_key(&dir, "seller");
        let (agent_file, agent) = new_key(&dir, "agent");
        let (owner_file, owner) = new_key(&dir, "owner");
        for who in [&seller, &agent, &owner] {
            rpc(
                &rpc_url,
                "requestAirdrop",
                serde_json::json!([who, 2_000_000_000u64]),
            );
        }
        rpc(
            &rpc_url,
            "mppsol_mintTokens",
            serde_json::json!([seller, usdc, 0u64]),
        );
        rpc(
            &rpc_url,
            "mppsol_mintTokens",
            serde_json::json!([owner, usdc, 100_000u64]),
        );
        let owner_path = owner_file.to_str().unwrap();
        wallet(&[
            "create",
            "--max-single",
            max_single,
            "--max-daily",
            "90000",
            "--rpc-url",
            &rpc_url,
            "--agent",
            &agent,
            "--owner",
            owner_path,
        ]);
        wallet(&[
            "fund",
            "--rpc-url",
            &rpc_url,
            "--agent",
            &agent,
            "--owner",
            &owner,
            "--from",
            owner_path,
            "--mint",
            &usdc,
            "--amount",
            "100000",
        ]);
        Self {
            _localnet: localnet,
            dir,
            rpc_url,
            usdc,
            seller,
            agent_file,
            agent,
            owner_file,
            owner,
        }
    }
}
