//! `mppsol bench URL`: a load generator for paid endpoints. It pays `solana`/`charge` pull
//! challenges from many pre-funded payers over N concurrent keep-alive connections for a fixed
//! time and reports paid requests per second, latency percentiles, refusals and CPU time (its
//! own, and the server's when given its PID).
//!
//! Every paid request is the whole flow any client sees: `GET` → 402 → pick the challenge,
//! build and sign the transfer → `GET` with `Authorization: Payment` → 200 with a
//! `Payment-Receipt`. It speaks to any MPP server the same way (it is [`PayingClient`]). What
//! can be done before the clock starts is: payers loaded, one signer and client per payer, the
//! mint's program and fee read once, connections opened by a warm-up.

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use mppsol_client::{PayingClient, SolanaChargeClient, SpendingPolicy};
use mppsol_solana::charge::request::parse_address;
use mppsol_solana::network::Network;
use serde::Serialize;
use solana_keypair::Keypair;

use super::common::rpc_ledger;

/// Arguments of `mppsol bench`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The paid URL (answers 402 with a `solana`/`charge` challenge).
    url: String,
    /// JSON file holding an array of payer keypairs (each 64 bytes, Solana CLI form), funded
    /// with the route's currency. More payers than connections, so no payer pays twice at once.
    #[arg(long)]
    payers: PathBuf,
    /// Solana JSON-RPC endpoint (read once for the mint; used for a blockhash only when a
    /// challenge carries none).
    #[arg(long, default_value = "http://127.0.0.1:8899")]
    rpc_url: String,
    /// Network the challenges must be for.
    #[arg(long, default_value = "localnet")]
    network: String,
    /// The route's mint (read once before the run; otherwise read per payment).
    #[arg(long)]
    mint: Option<String>,
    /// Refuse challenges asking more than this many base units.
    #[arg(long, default_value_t = 1_000_000)]
    max_amount: u64,
    /// Concurrent connections, each paying in a loop.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Measured seconds.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Unmeasured seconds before (opens connections, warms caches).
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// The server's process id, to report its CPU time over the measured window.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Another process to report CPU time for, `NAME=PID` (repeatable; e.g. the localnet).
    #[arg(long, value_parser = parse_watch)]
    watch_pid: Vec<(String, u32)>,
}

fn parse_watch(s: &str) -> Result<(String, u32), String> {
    let (name, pid) = s.split_once('=').ok_or("expected NAME=PID")?;
    let pid = pid
        .parse()
        .map_err(|_| format!("`{pid}` is not a process id"))?;
    Ok((name.to_owned(), pid))
}

/// What one measured window produced (printed as one JSON object).
#[derive(Debug, Default, Serialize)]
struct Report {
    ok: u64,
    /// Paid requests during the warm-up (real payments too, not in `rps`).
    warmup_ok: u64,
    seconds: f64,
    rps: f64,
    p50_ms: Option<f64>,
    p99_ms: Option<f64>,
    errors: BTreeMap<String, u64>,
    loadgen_cpu_s: f64,
    loadgen_cpu_ms_per_paid: Option<f64>,
    server_cpu_s: Option<f64>,
    server_cpu_ms_per_paid: Option<f64>,
    /// CPU seconds of each `--watch-pid` process, and `machine`: all CPUs busy (any process).
    cpu_s: BTreeMap<String, f64>,
}

#[derive(Default)]
struct Tally {
    ok: u64,
    latencies: Vec<Duration>,
    errors: BTreeMap<String, u64>,
}

/// Runs the load and prints the report of the measured window.
pub async fn run(args: Args) -> anyhow::Result<()> {
    if args.concurrency == 0 {
        bail!("--concurrency must be at least 1");
    }
    let network: Network = args.network.parse()?;
    let text = std::fs::read_to_string(&args.payers)
        .with_context(|| format!("reading {}", args.payers.display()))?;
    let keys: Vec<Vec<u8>> = serde_json::from_str(&text).context("payers: a JSON array of keys")?;
    if keys.len() < args.concurrency {
        bail!(
            "{} payers for {} connections: each connection needs its own",
            keys.len(),
            args.concurrency
        );
    }
    let ledger = rpc_ledger(&args.rpc_url, network.as_str())?;
    let known_mint = match &args.mint {
        Some(m) => {
            let mint = parse_address(m).context("--mint is not a base58 address")?;
            let (program, fee) = SolanaChargeClient::read_mint(ledger.as_ref(), mint)
                .await
                .context("reading the mint")?;
            Some((mint, program, fee))
        }
        None => None,
    };
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency * 2)
        .build()?;
    let policy = SpendingPolicy {
        max_per_payment: Some(args.max_amount),
        allowed_networks: vec![network.to_string()],
        ..SpendingPolicy::default()
    };
    let mut payers = VecDeque::with_capacity(keys.len());
    for (i, k) in keys.iter().enumerate() {
        let key = Keypair::try_from(k.as_slice()).with_context(|| format!("payer {i}"))?;
        let mut method = SolanaChargeClient::new(Arc::new(key), ledger.clone(), network);
        if let Some((mint, program, fee)) = known_mint {
            method = method.with_known_mint(mint, program, fee);
        }
        payers.push_back(PayingClient::new(
            http.clone(),
            vec![Arc::new(method)],
            policy.clone(),
        ));
    }
    // Least recently used first: a payer is back in the queue only once its payment finished.
    let payers = Arc::new(Mutex::new(payers));
    let url = Arc::new(args.url.clone());

    let warm = load(&payers, &url, args.concurrency, secs(args.warmup)?).await;
    let cpu0 = (cpu_seconds("self")?, server_cpu(args.server_pid)?);
    let watched0 = watched_cpu(&args.watch_pid)?;
    let start = Instant::now();
    let tally = load(&payers, &url, args.concurrency, secs(args.duration)?).await;
    let seconds = start.elapsed().as_secs_f64();
    let loadgen_cpu_s = cpu_seconds("self")? - cpu0.0;
    let server_cpu_s = match (server_cpu(args.server_pid)?, cpu0.1) {
        (Some(b), Some(a)) => Some(b - a),
        _ => None,
    };
    let mut cpu_s = watched_cpu(&args.watch_pid)?;
    for (k, v) in &mut cpu_s {
        *v -= watched0.get(k).copied().unwrap_or(0.0);
    }

    let mut lat = tally.latencies;
    lat.sort_unstable();
    let per_paid = |cpu: f64| (tally.ok > 0).then(|| 1000.0 * cpu / tally.ok as f64);
    let report = Report {
        ok: tally.ok,
        warmup_ok: warm.ok,
        seconds,
        rps: tally.ok as f64 / seconds,
        p50_ms: percentile(&lat, 50),
        p99_ms: percentile(&lat, 99),
        errors: tally.errors,
        loadgen_cpu_s,
        loadgen_cpu_ms_per_paid: per_paid(loadgen_cpu_s),
        server_cpu_s,
        server_cpu_ms_per_paid: server_cpu_s.and_then(per_paid),
        cpu_s,
    };
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}

fn secs(s: f64) -> anyhow::Result<Duration> {
    Duration::try_from_secs_f64(s).context("durations are non-negative seconds")
}

/// `concurrency` loops paying `url` until `duration` has passed; their results merged.
async fn load(
    payers: &Arc<Mutex<VecDeque<PayingClient>>>,
    url: &Arc<String>,
    concurrency: usize,
    duration: Duration,
) -> Tally {
    let deadline = Instant::now() + duration;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let payers = payers.clone();
        let url = url.clone();
        tasks.spawn(async move {
            let mut t = Tally::default();
            while Instant::now() < deadline {
                let Some(client) = take(&payers) else {
                    *t.errors.entry("no free payer".into()).or_default() += 1;
                    break;
                };
                let t0 = Instant::now();
                match pay_once(&client, &url).await {
                    Ok(()) => {
                        t.ok += 1;
                        t.latencies.push(t0.elapsed());
                    }
                    Err(e) => *t.errors.entry(e).or_default() += 1,
                }
                give_back(&payers, client);
            }
            t
        });
    }
    let mut all = Tally::default();
    while let Some(done) = tasks.join_next().await {
        match done {
            Ok(t) => {
                all.ok += t.ok;
                all.latencies.extend(t.latencies);
                for (k, n) in t.errors {
                    *all.errors.entry(k).or_default() += n;
                }
            }
            Err(e) => *all.errors.entry(format!("task failed: {e}")).or_default() += 1,
        }
    }
    all
}

fn take(payers: &Mutex<VecDeque<PayingClient>>) -> Option<PayingClient> {
    payers.lock().ok()?.pop_front()
}

fn give_back(payers: &Mutex<VecDeque<PayingClient>>, client: PayingClient) {
    if let Ok(mut q) = payers.lock() {
        q.push_back(client);
    }
}

/// One paid request; a paid request is a 200 carrying a `Payment-Receipt`. Errors are short
/// labels to count.
async fn pay_once(client: &PayingClient, url: &str) -> Result<(), String> {
    let paid = client
        .get(url)
        .await
        .map_err(|e| truncate(&e.to_string()))?;
    let status = paid.response.status();
    let has_receipt = paid.receipt.is_some();
    // Read the body so the connection goes back to the pool.
    let body = paid
        .response
        .bytes()
        .await
        .map_err(|e| truncate(&e.to_string()))?;
    if status.is_success() && has_receipt {
        Ok(())
    } else {
        Err(truncate(&format!(
            "HTTP {status}: {}",
            String::from_utf8_lossy(&body)
        )))
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(160).collect()
}

fn percentile(sorted: &[Duration], p: usize) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let i = (p * sorted.len() / 100).min(sorted.len() - 1);
    Some(sorted[i].as_secs_f64() * 1000.0)
}

fn server_cpu(pid: Option<u32>) -> anyhow::Result<Option<f64>> {
    pid.map(|p| cpu_seconds(&p.to_string())).transpose()
}

/// CPU seconds so far of each watched process, and of the whole machine (`machine`).
fn watched_cpu(pids: &[(String, u32)]) -> anyhow::Result<BTreeMap<String, f64>> {
    let mut out = BTreeMap::new();
    for (name, pid) in pids {
        out.insert(name.clone(), cpu_seconds(&pid.to_string())?);
    }
    out.insert("machine".into(), machine_busy_seconds()?);
    Ok(out)
}

/// CPU seconds all CPUs have been busy (user, nice, system, irq, softirq, steal), from
/// `/proc/stat`.
fn machine_busy_seconds() -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string("/proc/stat").context("reading /proc/stat")?;
    let line = stat.lines().next().context("empty /proc/stat")?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(|f| f.parse().unwrap_or(0))
        .collect();
    let busy: u64 = [0, 1, 2, 5, 6, 7].iter().filter_map(|&i| v.get(i)).sum();
    Ok(busy as f64 / 100.0)
}

/// User + system CPU seconds of a process so far, from `/proc/<pid>/stat` (Linux).
fn cpu_seconds(pid: &str) -> anyhow::Result<f64> {
    let path = format!("/proc/{pid}/stat");
    let stat = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    // Fields after the command name, which is in parentheses and may contain spaces.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .context("unexpected /proc stat format")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| -> anyhow::Result<f64> {
        let v: u64 = fields
            .get(i)
            .context("short /proc stat")?
            .parse()
            .context("non-numeric /proc stat field")?;
        Ok(v as f64)
    };
    // utime and stime are fields 14 and 15 of the line, i.e. 11 and 12 after the name.
    // Linux reports them in USER_HZ, which is 100 on every mainstream architecture.
    Ok((ticks(11)? + ticks(12)?) / 100.0)
}
