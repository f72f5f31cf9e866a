//! Interop with `solana-pay-kit` 0.10.0 (PyPI), both ways, as separate processes on loopback:
//! its client (interop/py/pay.py) pays `mppsol serve`, and `mppsol pay` pays its server
//! (interop/py/server.py), settling on `mppsol localnet`. Each test checks the HTTP status, the
//! receipt, that the transaction is on the chain (`getTransaction`), and that the token balances
//! moved by exactly the price.
//!
//! Needs the venv that `bash interop/py/setup.sh` makes (`.ci/run` runs it); without it these
//! tests fail, they never skip.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use mppsol_e2e::{Kill, free_port, rpc};
use serde_json::{Value, json};

/// The price of every route here: 0.025 of the 6-decimal dev USDC.
const PRICE: u64 = 25_000;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(d) if Path::new(&d).is_absolute() => PathBuf::from(d),
        Some(d) => workspace().join(d),
        None => workspace().join("target"),
    }
}

/// The `mppsol` binary, built once per test run into the same target directory.
fn mppsol() -> Command {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    let bin = BIN.get_or_init(|| {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let out = Command::new(cargo)
            .args(["build", "-q", "--locked", "-p", "mppsol-cli"])
            .current_dir(workspace())
            .env("CARGO_TARGET_DIR", target_dir())
            .output()
            .expect("run cargo build -p mppsol-cli");
        assert!(
            out.status.success(),
            "cargo build -p mppsol-cli failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let bin = target_dir().join("debug").join("mppsol");
        assert!(bin.exists(), "{} missing after the build", bin.display());
        bin
    });
    Command::new(bin)
}

fn interop_dir() -> PathBuf {
    workspace().join("interop").join("py")
}

/// The interop venv's Python; a missing venv fails the test (it is never skipped).
fn venv_python() -> PathBuf {
    let py = interop_dir().join(".venv").join("bin").join("python");
    assert!(
        py.exists(),
        "{} is missing: run `bash interop/py/setup.sh` first (it installs solana-pay-kit 0.10.0 \
         from PyPI into interop/py/.venv; .ci/run does this)",
        py.display()
    );
    py
}

/// The interop venv's Python running one of interop/py's scripts.
fn python(script: &str) -> Command {
    let mut c = Command::new(venv_python());
    c.arg(interop_dir().join(script))
        .env("PYTHONDONTWRITEBYTECODE", "1");
    c
}

fn run(mut c: Command) -> Output {
    c.output().expect("spawn")
}

/// Where a long-running child's stderr goes: `<dir>/<name>.log` (kept when a test fails).
fn log_to(dir: &Path, name: &str) -> Stdio {
    Stdio::from(std::fs::File::create(dir.join(format!("{name}.log"))).expect("log file"))
}

/// Spawns `c` with its stdout piped, returns it with the first stdout line parsed as JSON; the
/// rest of stdout is drained so the child never blocks on a full pipe.
fn spawn_json_line(mut c: Command, what: &str) -> (Kill, Value) {
    let mut child = Kill(c.stdout(Stdio::piped()).spawn().expect("spawn"));
    let mut out = BufReader::new(child.0.stdout.take().expect("stdout"));
    let mut line = String::new();
    out.read_line(&mut line).expect("read first line");
    assert!(
        !line.trim().is_empty(),
        "{what} exited before printing its JSON line ({:?})",
        child.0.try_wait()
    );
    std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
    let v = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{what}: {e}: {line}"));
    (child, v)
}

fn scratch(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("mppsol-spk-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn wait_listening(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "port {port} never opened");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `mppsol localnet` plus two funded wallets: a seller (recipient and fee payer, with an empty
/// USDC account) and a payer (SOL for fees, 5 USDC).
struct Chain {
    _localnet: Kill,
    dir: PathBuf,
    rpc: String,
    usdc: String,
    seller: Wallet,
    payer: Wallet,
}

struct Wallet {
    file: PathBuf,
    address: String,
    usdc_account: String,
}

impl Chain {
    fn start(tag: &str) -> Chain {
        venv_python();
        let dir = scratch(tag);
        let mut c = mppsol();
        c.args(["localnet", "--port", "0", "--json"])
            .stderr(log_to(&dir, "localnet"));
        let (localnet, info) = spawn_json_line(c, "mppsol localnet");
        let rpc_url = info["url"].as_str().expect("url").to_owned();
        let usdc = info["usdc"].as_str().expect("usdc").to_owned();
        assert!(rpc_url.starts_with("http://127.0.0.1:"), "{rpc_url}");
        let wallet = |name: &str, lamports: u64, usdc_amount: u64| {
            let file = dir.join(format!("{name}.json"));
            let mut k = mppsol();
            k.args(["keys", "new", "--out"]).arg(&file);
            let out = run(k);
            assert!(out.status.success(), "{out:?}");
            let address = String::from_utf8(out.stdout).unwrap().trim().to_owned();
            rpc(&rpc_url, "requestAirdrop", json!([address, lamports]));
            let account = rpc(
                &rpc_url,
                "mppsol_mintTokens",
                json!([address, usdc, usdc_amount]),
            );
            Wallet {
                file,
                address,
                usdc_account: account.as_str().expect("token account").to_owned(),
            }
        };
        let seller = wallet("seller", 2_000_000_000, 0);
        let payer = wallet("payer", 1_000_000_000, 5_000_000);
        Chain {
            _localnet: localnet,
            dir,
            rpc: rpc_url,
            usdc,
            seller,
            payer,
        }
    }

    fn token_balance(&self, account: &str) -> u64 {
        let v = rpc(&self.rpc, "getTokenAccountBalance", json!([account]));
        v["value"]["amount"]
            .as_str()
            .expect("amount")
            .parse()
            .unwrap()
    }

    fn balances(&self) -> (u64, u64) {
        (
            self.token_balance(&self.payer.usdc_account),
            self.token_balance(&self.seller.usdc_account),
        )
    }

    fn sol_balance(&self, address: &str) -> u64 {
        rpc(&self.rpc, "getBalance", json!([address]))["value"]
            .as_u64()
            .expect("lamports")
    }

    /// The transaction is on the chain and succeeded.
    fn landed(&self, signature: &str) -> Value {
        let tx = rpc(
            &self.rpc,
            "getTransaction",
            json!([signature, {"encoding": "json", "maxSupportedTransactionVersion": 0,
                               "commitment": "confirmed"}]),
        );
        assert!(!tx.is_null(), "{signature} is not on the localnet");
        assert!(tx["meta"]["err"].is_null(), "{signature} failed: {tx}");
        assert_eq!(tx["transaction"]["signatures"][0], signature);
        tx
    }

    /// The transaction landed and moved `PRICE` of the dev USDC from the payer's account to the
    /// seller's, as its own token balances show.
    fn assert_landed(&self, signature: &str) -> Value {
        let tx = self.landed(signature);
        let keys = tx["transaction"]["message"]["accountKeys"]
            .as_array()
            .expect("accountKeys");
        let amount_of = |list: &str, account: &str| -> u64 {
            tx["meta"][list]
                .as_array()
                .expect("token balances")
                .iter()
                .find(|b| {
                    b["mint"] == self.usdc.as_str()
                        && keys[b["accountIndex"].as_u64().unwrap() as usize] == account
                })
                .map_or(0, |b| {
                    b["uiTokenAmount"]["amount"]
                        .as_str()
                        .unwrap()
                        .parse()
                        .unwrap()
                })
        };
        let payer = &self.payer.usdc_account;
        let seller = &self.seller.usdc_account;
        assert_eq!(
            amount_of("preTokenBalances", payer) - amount_of("postTokenBalances", payer),
            PRICE,
            "payer's USDC in {signature}: {tx}"
        );
        assert_eq!(
            amount_of("postTokenBalances", seller) - amount_of("preTokenBalances", seller),
            PRICE,
            "seller's USDC in {signature}: {tx}"
        );
        tx
    }
}

impl Drop for Chain {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("keys, configs and logs kept in {}", self.dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// An upstream that knows nothing about payments, for `mppsol serve` to put a price on; it
/// answers `LEAKED` if a payment credential ever reaches it.
fn upstream() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in l.incoming() {
            let Ok(mut s) = stream else { return };
            let mut buf = [0u8; 8192];
            let n = s.read(&mut buf).unwrap_or(0);
            let req = String::from_utf8_lossy(&buf[..n]).to_ascii_lowercase();
            let body = if req.contains("authorization: payment") {
                "LEAKED"
            } else {
                "{\"forecast\":\"sunny\"}"
            };
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
                 connection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    port
}

/// `mppsol serve` pricing GET /forecast at `PRICE` dev USDC; `extra` goes into `[solana]`.
fn serve(chain: &Chain, extra: &str) -> (Kill, u16) {
    let port = free_port();
    let config = chain.dir.join("mppsol.toml");
    std::fs::write(
        &config,
        format!(
            r#"realm = "forecast.test"
upstream = "http://127.0.0.1:{upstream}"
receipt_keypair = "seller.json"

[solana]
network = "localnet"
rpc_url = "{rpc}"
recipient = "{seller}"
{extra}

[[route]]
method = "GET"
path = "/forecast"
amount = "{PRICE}"
currency = "{usdc}"
description = "Tomorrow's forecast"
"#,
            upstream = upstream(),
            rpc = chain.rpc,
            seller = chain.seller.address,
            usdc = chain.usdc,
        ),
    )
    .unwrap();
    let mut c = mppsol();
    c.args(["serve", "--config"])
        .arg(&config)
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .stderr(log_to(&chain.dir, "serve"));
    let child = Kill(c.spawn().expect("spawn mppsol serve"));
    wait_listening(port);
    (child, port)
}

/// Runs interop/py/pay.py (solana-pay-kit's client) and returns its JSON summary (printed
/// whether or not it got a receipt), with its stderr added.
fn spk_pay(chain: &Chain, url: &str, push: bool) -> Value {
    let mut c = python("pay.py");
    c.arg(url)
        .arg("--keypair")
        .arg(&chain.payer.file)
        .args(["--rpc-url", &chain.rpc, "--asset", &chain.usdc])
        .args(["--max-amount", &PRICE.to_string()]);
    if push {
        c.arg("--push");
    }
    let out = run(c);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let mut v: Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!(
            "pay.py printed no summary ({}, {e}):\n{stdout}\n{stderr}",
            out.status
        )
    });
    // Shown by the assertions that print the summary.
    v["stderr"] = stderr.into();
    v
}

/// The common checks on what solana-pay-kit's client got back from `mppsol serve`.
fn check_spk_paid(chain: &Chain, port: u16, out: &Value, mode: &str) -> String {
    assert_eq!(out["mode"], mode);
    assert_eq!(out["status"], 200, "{out}");
    assert_eq!(out["body"], "{\"forecast\":\"sunny\"}", "{out}");
    // The challenge the SDK accepted: spec network name, base units, our mint and recipient.
    let req = &out["challengeRequest"];
    assert_eq!(req["amount"], PRICE.to_string(), "{out}");
    assert_eq!(req["currency"], chain.usdc.as_str());
    assert_eq!(req["recipient"], chain.seller.address.as_str());
    assert_eq!(req["methodDetails"]["network"], "localnet");
    // The receipt: decoded by the SDK and by mppsol, referencing the landed transaction.
    let header = out["receipt"]
        .as_str()
        .unwrap_or_else(|| panic!("no Payment-Receipt came back: {out}"));
    let decoded = &out["receiptDecoded"];
    assert_eq!(decoded["status"], "success");
    assert_eq!(decoded["method"], "solana");
    let receipt =
        mpp::header::payment_receipt::parse_payment_receipt(header).expect("mppsol parses it");
    assert_eq!(receipt.status, "success");
    assert_eq!(decoded["reference"], receipt.reference.as_str());
    let signature = out["signature"].as_str().expect("signature").to_owned();
    assert_eq!(receipt.reference, signature);
    // What landed is what the SDK signed.
    let tx = chain.landed(&signature);
    let payer_signature = out["payerSignature"].as_str().expect("payerSignature");
    assert!(
        tx["transaction"]["signatures"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s == payer_signature),
        "{payer_signature} not in {tx}"
    );
    // Signed by the key the proxy publishes, and its transaction landed.
    let mut v = mppsol();
    v.args(["receipt", "verify", header, "--server"])
        .arg(format!("http://127.0.0.1:{port}"))
        .args(["--rpc-url", &chain.rpc]);
    let verified = run(v);
    assert!(
        verified.status.success(),
        "mppsol receipt verify: {}",
        String::from_utf8_lossy(&verified.stderr)
    );
    signature
}

#[test]
fn solana_pay_kit_client_pays_mppsol_serve_pull() {
    let chain = Chain::start("pull");
    // Fees sponsored: the SDK signs as payer only, mppsol co-signs as fee payer.
    let (_serve, port) = serve(&chain, "fee_payer_keypair = \"seller.json\"");
    let url = format!("http://127.0.0.1:{port}/forecast");
    let (payer_before, seller_before) = chain.balances();
    let payer_sol_before = chain.sol_balance(&chain.payer.address);

    let out = spk_pay(&chain, &url, false);

    let req = &out["challengeRequest"];
    assert_eq!(req["methodDetails"]["feePayer"], true, "{out}");
    assert_eq!(
        req["methodDetails"]["feePayerKey"],
        chain.seller.address.as_str()
    );
    let signature = check_spk_paid(&chain, port, &out, "pull");
    let tx = chain.assert_landed(&signature);
    assert_eq!(
        tx["transaction"]["message"]["accountKeys"][0],
        chain.seller.address.as_str(),
        "the server's fee payer pays the fee"
    );
    assert_eq!(
        chain.balances(),
        (payer_before - PRICE, seller_before + PRICE)
    );
    assert_eq!(
        chain.sol_balance(&chain.payer.address),
        payer_sol_before,
        "sponsored: the payer spent no SOL"
    );
}

#[test]
fn solana_pay_kit_client_pays_mppsol_serve_push_with_spec_binding() {
    let chain = Chain::start("push");
    // Push needs an unsponsored challenge; `spec` accepts push payments that lack mppsol's
    // reference key (solana-pay-kit knows nothing of it).
    let (_serve, port) = serve(&chain, "push_binding = \"spec\"");
    let url = format!("http://127.0.0.1:{port}/forecast");
    let (payer_before, seller_before) = chain.balances();

    let out = spk_pay(&chain, &url, true);

    assert!(
        out["challengeRequest"]["methodDetails"]
            .get("feePayer")
            .is_none(),
        "{out}"
    );
    let signature = check_spk_paid(&chain, port, &out, "push");
    let tx = chain.assert_landed(&signature);
    assert_eq!(
        tx["transaction"]["message"]["accountKeys"][0],
        chain.payer.address.as_str(),
        "the payer pays its own fee in push mode"
    );
    assert_eq!(
        chain.balances(),
        (payer_before - PRICE, seller_before + PRICE)
    );
}

/// mppsol's default (`push_binding = "reference"`) only takes push payments that carry the
/// challenge's reference key, which the spec does not define and solana-pay-kit does not add.
/// The SDK broadcasts before it asks, so its transfer lands and is refused: it pays nothing.
#[test]
fn solana_pay_kit_push_is_refused_by_mppsol_serve_reference_binding() {
    let chain = Chain::start("push-ref");
    let (_serve, port) = serve(&chain, "");
    let url = format!("http://127.0.0.1:{port}/forecast");

    let out = spk_pay(&chain, &url, true);

    assert_eq!(out["status"], 402, "{out}");
    assert!(out["receipt"].is_null(), "{out}");
    let problem: Value = serde_json::from_str(out["body"].as_str().unwrap()).unwrap();
    assert!(
        problem["type"]
            .as_str()
            .unwrap()
            .ends_with("/verification-failed"),
        "{problem}"
    );
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("reference missing"),
        "{problem}"
    );
    chain.assert_landed(out["signature"].as_str().expect("the SDK broadcast"));
}

/// Runs interop/py/server.py (solana-pay-kit's server) and returns it with its JSON line.
fn spk_server(
    chain: &Chain,
    currency: &str,
    human_amount: &str,
    base_units: u64,
    extra: &[&str],
) -> (Kill, Value) {
    let mut c = python("server.py");
    c.args(["--rpc-url", &chain.rpc])
        .args(["--recipient", &chain.seller.address])
        .args(["--currency", currency, "--amount", human_amount])
        .args(extra)
        .stderr(log_to(&chain.dir, "server-py"));
    let (child, info) = spawn_json_line(c, "server.py");
    assert_eq!(info["amount"], base_units.to_string(), "{info}");
    (child, info)
}

/// The SDK server's 402 carries one `solana`/`charge` challenge that mppsol parses; returns
/// its decoded request.
fn spk_challenge(url: &str) -> serde_json::Map<String, Value> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let unpaid = rt.block_on(async { reqwest::get(url).await.expect("GET") });
    assert_eq!(unpaid.status(), 402);
    let challenges = mpp::header::www_authenticate::parse_www_authenticate_fields(
        unpaid
            .headers()
            .get_all("www-authenticate")
            .iter()
            .map(|v| v.to_str().unwrap()),
    )
    .expect("mppsol parses the SDK's WWW-Authenticate");
    assert_eq!(challenges.len(), 1);
    assert_eq!(challenges[0].method.as_str(), "solana");
    assert_eq!(challenges[0].intent.as_str(), "charge");
    challenges[0].request_value().clone()
}

/// Runs `mppsol pay` against the solana-pay-kit server; returns (body, receipt header).
fn mppsol_pay(chain: &Chain, url: &str, currency: &str, max: u64, push: bool) -> (Value, String) {
    let mut c = mppsol();
    c.args(["pay", url, "--max-amount", &max.to_string()])
        .arg("--keypair")
        .arg(&chain.payer.file)
        .args(["--rpc-url", &chain.rpc, "--currency", currency]);
    if push {
        c.arg("--push");
    }
    let out = run(c);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "mppsol pay: {stdout}\n{stderr}");
    let receipt = stderr
        .lines()
        .find_map(|l| l.strip_prefix("payment-receipt: "))
        .unwrap_or_else(|| panic!("no receipt printed: {stderr}"))
        .to_owned();
    let body = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    (body, receipt)
}

/// The SDK's receipt, parsed by mppsol, for a payment the SDK's handler saw.
fn check_spk_receipt(header: &str, body: &Value) -> String {
    let receipt =
        mpp::header::payment_receipt::parse_payment_receipt(header).expect("SDK receipt parses");
    assert_eq!(receipt.status, "success");
    assert_eq!(receipt.method.as_str(), "solana");
    assert!(receipt.extra.contains_key("challengeId"), "{receipt:?}");
    assert_eq!(body["paid"], true);
    assert_eq!(body["reference"], receipt.reference.as_str());
    receipt.reference
}

#[test]
fn mppsol_pay_pays_the_solana_pay_kit_server() {
    let chain = Chain::start("server");
    let fee_payer = chain.seller.file.to_str().unwrap().to_owned();
    let (_server, info) = spk_server(
        &chain,
        &chain.usdc,
        "0.025",
        PRICE,
        &["--fee-payer-keypair", &fee_payer],
    );
    let url = info["url"].as_str().unwrap().to_owned();
    let req = spk_challenge(&url);
    assert_eq!(req["amount"], PRICE.to_string());
    assert_eq!(req["currency"], chain.usdc.as_str());
    assert_eq!(req["methodDetails"]["network"], "localnet");
    assert_eq!(req["methodDetails"]["feePayer"], true);
    assert_eq!(
        req["methodDetails"]["feePayerKey"],
        chain.seller.address.as_str()
    );
    let (payer_before, seller_before) = chain.balances();
    let payer_sol_before = chain.sol_balance(&chain.payer.address);

    let (body, header) = mppsol_pay(&chain, &url, &chain.usdc, PRICE, false);

    let signature = check_spk_receipt(&header, &body);
    let tx = chain.assert_landed(&signature);
    assert_eq!(
        tx["transaction"]["message"]["accountKeys"][0],
        chain.seller.address.as_str(),
        "the SDK's fee payer co-signed and paid the fee"
    );
    assert_eq!(
        chain.balances(),
        (payer_before - PRICE, seller_before + PRICE)
    );
    assert_eq!(
        chain.sol_balance(&chain.payer.address),
        payer_sol_before,
        "sponsored: the payer spent no SOL"
    );
}

/// The SDK writes `currency: "SOL"` in upper case; mppsol pays it, pushing the transfer itself
/// (the SDK server takes push payments once `accept_push_mode` is on).
#[test]
fn mppsol_pay_pushes_sol_to_the_solana_pay_kit_server() {
    const LAMPORTS: u64 = 1_000_000;
    let chain = Chain::start("server-sol");
    let (_server, info) = spk_server(&chain, "SOL", "0.001", LAMPORTS, &["--accept-push"]);
    let url = info["url"].as_str().unwrap().to_owned();
    let req = spk_challenge(&url);
    assert_eq!(req["currency"], "SOL");
    assert_eq!(req["amount"], LAMPORTS.to_string());
    assert!(req["methodDetails"].get("feePayer").is_none(), "{req:?}");
    let payer_before = chain.sol_balance(&chain.payer.address);
    let seller_before = chain.sol_balance(&chain.seller.address);

    let (body, header) = mppsol_pay(&chain, &url, "sol", LAMPORTS, true);

    let signature = check_spk_receipt(&header, &body);
    let tx = chain.landed(&signature);
    assert_eq!(
        tx["transaction"]["message"]["accountKeys"][0],
        chain.payer.address.as_str()
    );
    let fee = tx["meta"]["fee"].as_u64().expect("fee");
    assert_eq!(
        chain.sol_balance(&chain.seller.address),
        seller_before + LAMPORTS
    );
    assert_eq!(
        chain.sol_balance(&chain.payer.address),
        payer_before - LAMPORTS - fee
    );
}
