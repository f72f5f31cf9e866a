//! `mppsol operator`: the operator service. Starts on SQLite under the data dir with no setup
//! (`DATABASE_URL=postgres://…` switches to PostgreSQL), on the embedded ledger unless
//! `--rpc-url` names a cluster. On a database with no operator it creates one and prints its
//! API key once; `mppsol operator init` creates another and exits.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use mpp::SystemClock;
use mppsol_ledger::Ledger;
use mppsol_ledger::embedded::{EmbeddedConfig, EmbeddedLedger};
use mppsol_operator::bootstrap::bootstrap_if_empty;
use mppsol_operator::ops::{Metrics, with_observability};
use mppsol_operator::reconcile::Reconciler;
use mppsol_operator::settlement::{SettlementObserver, Settler, WorkerConfig};
use mppsol_operator::webhooks::{DeliveryObserver, SenderConfig, WebhookSender};
use mppsol_operator::{
    AppState, DashboardOptions, IssuedKey, MasterKey, OperatorConfig, PolicyPrograms,
    bootstrap_operator,
};
use mppsol_solana::network::Network;

use super::common::rpc_ledger;

/// Arguments of `mppsol operator`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Listen address.
    #[arg(long, default_value = "127.0.0.1:8480", global = true)]
    listen: SocketAddr,
    /// Where the SQLite database and the generated master key live.
    #[arg(long, env = "MPPSOL_DATA_DIR", global = true)]
    data_dir: Option<PathBuf>,
    /// Database: `postgres://…`, `sqlite:…` or a file path (default: `operator.db` in the data dir).
    #[arg(long = "database", env = "DATABASE_URL", global = true)]
    database: Option<String>,
    /// Solana JSON-RPC URL (default: an embedded ledger in this process).
    #[arg(long, env = "MPPSOL_RPC_URL", global = true)]
    rpc_url: Option<String>,
    /// The cluster custodial accounts pay on (`mainnet`, `devnet`, `localnet`).
    #[arg(
        long,
        env = "MPPSOL_NETWORK",
        default_value = "localnet",
        global = true
    )]
    network: String,
    /// File holding the master key (64 hex digits or base64 of 32 bytes). Without it and
    /// without `MPPSOL_MASTER_KEY`, a key is generated into the data dir on first start.
    #[arg(long, global = true)]
    master_key_file: Option<PathBuf>,
    /// The spending-policy program custodial token accounts pay through: `dev` (the bundled
    /// programs at their development ids, the default on the embedded ledger), a program id
    /// (with `--payments-program`), or `off` (the default with `--rpc-url`).
    #[arg(long, env = "MPPSOL_POLICY_PROGRAM", global = true)]
    policy_program: Option<String>,
    /// The payments program that records charge receipts (with a `--policy-program` id).
    #[arg(long, env = "MPPSOL_PAYMENTS_PROGRAM", global = true)]
    payments_program: Option<String>,
    /// The service is reached over HTTPS (a TLS proxy in front): the dashboard's session
    /// cookie is marked `Secure`.
    #[arg(long, env = "MPPSOL_BEHIND_TLS", global = true)]
    behind_tls: bool,
    /// Create an operator, print its API key, and exit.
    #[command(subcommand)]
    action: Option<Action>,
}

/// `mppsol operator <action>`.
#[derive(Debug, clap::Subcommand)]
pub enum Action {
    /// Create an operator and print its first API key (shown once).
    Init {
        /// The operator's name.
        #[arg(long, default_value = "default")]
        name: String,
    },
    /// Run the settlement worker: sign, send and confirm accepted transfers from the outbox
    /// (any number of workers may share one PostgreSQL database).
    Worker {
        /// Jobs claimed at once.
        #[arg(long, default_value_t = 32)]
        batch: u32,
        /// Seconds a claim holds before another worker may take a job over.
        #[arg(long, default_value_t = 30)]
        lease_secs: u64,
        /// Serve `/metrics`, `/healthz` and `/readyz` for this worker on this address.
        #[arg(long)]
        metrics_listen: Option<SocketAddr>,
    },
    /// Compare the store with the chain (counters, sessions, transfers), print the drift as
    /// JSON, and with `--repair` fix the safe cases. Exits 1 when drift remains.
    Reconcile {
        /// Check transfers updated in the last this many hours.
        #[arg(long, default_value_t = 24)]
        hours: u32,
        /// Repair counters and pending transfers that landed.
        #[arg(long)]
        repair: bool,
    },
}

/// The environment variable that may hold the master key itself.
const MASTER_KEY_ENV: &str = "MPPSOL_MASTER_KEY";

fn default_data_dir() -> PathBuf {
    std::env::var_os("HOME").map_or_else(
        || PathBuf::from(".mppsol"),
        |home| PathBuf::from(home).join(".local/share/mppsol"),
    )
}

/// The master key: the file given, else the environment, else the data dir's (created once,
/// owner-only).
fn master_key(file: Option<&Path>, data_dir: &Path) -> anyhow::Result<MasterKey> {
    if let Some(path) = file {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        return MasterKey::parse(&text)
            .with_context(|| format!("master key in {}", path.display()));
    }
    if let Ok(text) = std::env::var(MASTER_KEY_ENV) {
        return MasterKey::parse(&text).with_context(|| format!("master key in {MASTER_KEY_ENV}"));
    }
    let path = data_dir.join("master.key");
    if !path.exists() {
        std::fs::create_dir_all(data_dir)
            .with_context(|| format!("creating {}", data_dir.display()))?;
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut f = opts
            .open(&path)
            .with_context(|| format!("creating {}", path.display()))?;
        std::io::Write::write_all(&mut f, MasterKey::generate_hex().as_bytes())
            .with_context(|| format!("writing {}", path.display()))?;
        eprintln!(
            "mppsol operator: generated a master key in {} (keep it; sealed keys need it)",
            path.display()
        );
    }
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    MasterKey::parse(&text).with_context(|| format!("master key in {}", path.display()))
}

fn print_key(operator_id: &str, key: &IssuedKey) {
    println!("operator: {operator_id}");
    println!("key id:   {}", key.key.id);
    println!("secret:   {}", key.secret);
    println!("(the secret is shown once and is not stored; keep it now)");
}

/// Runs the service until interrupted (or `init` and exits).
/// The policy programs custodial token accounts pay through, from the flags.
fn policy_programs(args: &Args) -> anyhow::Result<Option<PolicyPrograms>> {
    let choice = match (&args.policy_program, &args.rpc_url) {
        (Some(p), _) => p.as_str(),
        (None, None) => "dev",
        (None, Some(_)) => "off",
    };
    Ok(match choice {
        "off" => None,
        "dev" => Some(PolicyPrograms::dev()),
        id => Some(PolicyPrograms {
            policy: id.parse().context("--policy-program")?,
            payments: args
                .payments_program
                .as_deref()
                .context("--payments-program is needed with a --policy-program id")?
                .parse()
                .context("--payments-program")?,
            channel: None,
        }),
    })
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let data_dir = args.data_dir.clone().unwrap_or_else(default_data_dir);
    let database = match args.database.clone() {
        Some(db) => db,
        None => data_dir.join("operator.db").display().to_string(),
    };
    let store = mppsol_store::open_operator_store(&database)
        .await
        .context("opening the database")?;
    let network: Network = args.network.parse().context("--network")?;
    let ledger: Arc<dyn Ledger> = match &args.rpc_url {
        Some(url) => rpc_ledger(url, network.as_str())?,
        None => Arc::new(
            EmbeddedLedger::new(EmbeddedConfig::default())
                .await
                .context("starting the embedded ledger")?,
        ),
    };
    let state = AppState::new(OperatorConfig {
        store,
        ledger,
        network,
        master_key: master_key(args.master_key_file.as_deref(), &data_dir)?,
        clock: Arc::new(SystemClock),
    });
    let state = match policy_programs(&args)? {
        Some(programs) => state.with_policy_programs(programs),
        None => state,
    };
    // Custodial sessions keep their channels in the same database.
    let state = state.with_session_store(
        mppsol_store::open_store(&database)
            .await
            .context("opening the database (channels)")?,
    );
    match args.action {
        Some(Action::Init { name }) => {
            let (operator, key) = bootstrap_operator(&state, &name)
                .await
                .context("creating the operator")?;
            print_key(&operator.id, &key);
            return Ok(());
        }
        Some(Action::Reconcile { hours, repair }) => {
            let now = state.now();
            let report = Reconciler::new(state.store_arc(), Arc::clone(state.ledger()))
                .run(now - i64::from(hours) * 3600, 10_000, repair, now)
                .await
                .context("reconciling")?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            let unrepaired = report.chain.iter().any(|d| !d.repaired)
                || report.channels.iter().any(|d| !d.repaired)
                || !report.sessions.is_empty()
                || report.counters_repaired < report.counters.len();
            if unrepaired {
                std::process::exit(1);
            }
            return Ok(());
        }
        Some(Action::Worker {
            batch,
            lease_secs,
            metrics_listen,
        }) => {
            return run_worker(&state, batch, lease_secs, metrics_listen).await;
        }
        None => {}
    }
    if let Some((operator, key)) = bootstrap_if_empty(&state, "default")
        .await
        .context("creating the first operator")?
    {
        println!("mppsol operator: a new database; created the first operator and its API key");
        print_key(&operator.id, &key);
    }
    let metrics = Arc::new(Metrics::new().context("metrics")?);
    if args.rpc_url.is_none() {
        // The embedded chain lives in this process: no other worker can reach it. (Printed
        // before "listening": callers may stop reading stdout after that line.)
        println!(
            "mppsol operator: settling and sending webhooks in this process (embedded ledger)"
        );
        tokio::spawn(background(&state, WorkerConfig::default(), &metrics));
    }
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("binding {}", args.listen))?;
    let local = listener.local_addr().context("local address")?;
    println!(
        "mppsol operator: listening on http://{local} (dashboard at /dashboard, OpenAPI at \
         /v1/openapi.json), network {}",
        network.as_str()
    );
    let dashboard = DashboardOptions {
        secure_cookie: args.behind_tls,
    };
    let app = with_observability(
        mppsol_operator::router_with(state.clone(), dashboard),
        state,
        metrics,
    );
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .context("serving")?;
    Ok(())
}

/// The settlement worker and the webhook sender, until interrupted.
fn background(
    state: &AppState,
    config: WorkerConfig,
    metrics: &Arc<Metrics>,
) -> impl std::future::Future<Output = ()> + use<> {
    let settler = Settler::new(
        state.store_arc(),
        Arc::clone(state.ledger()),
        state.master_key().clone(),
        Arc::new(SystemClock),
        config,
    )
    .with_observer(Arc::clone(metrics) as Arc<dyn SettlementObserver>);
    let sender = WebhookSender::new(
        state.store_arc(),
        state.master_key().clone(),
        Arc::new(SystemClock),
        SenderConfig::default(),
    )
    .with_observer(Arc::clone(metrics) as Arc<dyn DeliveryObserver>);
    async move {
        let stop = || async {
            let _ = tokio::signal::ctrl_c().await;
        };
        tokio::join!(settler.run(stop()), sender.run(stop()));
    }
}

/// `mppsol operator worker`: settles the outbox and sends webhooks until interrupted.
async fn run_worker(
    state: &AppState,
    batch: u32,
    lease_secs: u64,
    metrics_listen: Option<SocketAddr>,
) -> anyhow::Result<()> {
    let config = WorkerConfig {
        batch: batch.max(1),
        lease: std::time::Duration::from_secs(lease_secs.max(1)),
        ..WorkerConfig::default()
    };
    println!(
        "mppsol operator worker: {} settling the outbox (batch {}, lease {} s)",
        config.worker_id,
        config.batch,
        config.lease.as_secs()
    );
    let metrics = Arc::new(Metrics::new().context("metrics")?);
    if let Some(addr) = metrics_listen {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding {addr}"))?;
        let app = with_observability(axum::Router::new(), state.clone(), Arc::clone(&metrics));
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::warn!(error = %e, "metrics endpoint stopped");
            }
        });
    }
    background(state, config, &metrics).await;
    Ok(())
}
