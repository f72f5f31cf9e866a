//! The `mppsol` binary as a user runs it: separate processes, real HTTP on loopback.

// Test code: a failed expectation is the test failing.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

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
    let mut localnet = Kill(
        bin()
            .args(["localnet", "--port", "0", "--json"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut line = String::new();
    BufReader::new(localnet.0.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let info: serde_json::Value = serde_json::from_str(&line).expect("localnet --json line");
    let rpc_url = info["url"].as_str().unwrap().to_owned();
    let usdc = info["usdc"].as_str().unwrap().to_owned();

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
    let _serve = Kill(
        bin()
            .args(["serve", "--config", config.to_str().unwrap(), "--listen"])
            .arg(format!("127.0.0.1:{port}"))
            .spawn()
            .unwrap(),
    );
    wait_listening(port);
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
    let verified = run(&[
        "receipt",
        "verify",
        receipt,
        "--server",
        &format!("http://127.0.0.1:{port}"),
        "--rpc-url",
        &rpc_url,
    ]);
    assert!(
        verified.status.success(),
        "{}",
        String::from_utf8_lossy(&verified.stderr)
    );
    assert!(String::from_utf8_lossy(&verified.stdout).contains("landed in slot"));
    let _ = seller_file;
    drop(upstream);
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

    let out = bin()
        .args(["operator"])
        .args(common)
        .args(["init", "--name", "second"])
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
