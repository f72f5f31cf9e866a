//! The `mppsol` binary as a user runs it: separate processes, real HTTP on loopback.

// Test code: a failed expectation is the test failing.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

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

/// `mppsol localnet` on a free port: the process, its RPC URL and its dev USDC mint.
fn start_localnet() -> (Kill, String, String) {
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
    let serve = Kill(
        bin()
            .args(["serve", "--config", config.to_str().unwrap(), "--listen"])
            .arg(format!("127.0.0.1:{port}"))
            .spawn()
            .unwrap(),
    );
    wait_listening(port);
    (serve, port)
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
