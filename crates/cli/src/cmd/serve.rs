//! `mppsol serve --config mppsol.toml`: a reverse proxy that puts prices on the routes of any
//! upstream HTTP API. Priced routes answer 402 until paid; everything else passes through.
//! Configuration: flags, then environment, then the TOML file.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context as _, bail};
use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderName, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use mpp::{Amount, ChallengeKeyring, PriceTag, ReceiptSigner};
use mppsol_client::signer::load_keypair_file;
use mppsol_ledger::Ledger;
use mppsol_ledger::embedded::{EmbeddedConfig, EmbeddedLedger};
use mppsol_server::solana_charge::ReceiptPrograms;
use mppsol_server::solana_session::watch::{self, WatchConfig};
use mppsol_server::{
    Offer, PaidApi, PaymentConfig, PushBinding, SolanaCharge, SolanaChargeConfig, SolanaSession,
    SolanaSessionConfig,
};
use mppsol_solana::network::Network;
use mppsol_solana::session::VoucherSigner;
use serde::Deserialize;
use solana_address::Address;

use super::common::{challenge_secret, rpc_ledger};

/// Arguments of `mppsol serve`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The TOML configuration.
    #[arg(long, short)]
    config: PathBuf,
    /// Listen address (overrides `listen`).
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Upstream base URL (overrides `upstream`).
    #[arg(long)]
    upstream: Option<String>,
    /// Database: `postgres://…`, `sqlite:…` or a file path (overrides `database`).
    #[arg(long, env = "DATABASE_URL")]
    database_url: Option<String>,
    /// Solana JSON-RPC URL, or `embedded` (overrides `solana.rpc_url`).
    #[arg(long, env = "MPPSOL_RPC_URL")]
    rpc_url: Option<String>,
}

/// The TOML file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Listen address, e.g. `127.0.0.1:8402`.
    pub listen: Option<SocketAddr>,
    /// Upstream base URL.
    pub upstream: Option<String>,
    /// Protection space.
    pub realm: String,
    /// Database location (default: `mppsol.db` beside the config).
    pub database: Option<String>,
    /// Challenge secret file (created on first run).
    pub secret_file: Option<PathBuf>,
    /// Receipt-signing keypair file (receipts unsigned without it).
    pub receipt_keypair: Option<PathBuf>,
    /// The Solana method.
    pub solana: SolanaSection,
    /// Priced routes.
    #[serde(default, rename = "route")]
    pub routes: Vec<RouteSection>,
}

/// `[solana]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SolanaSection {
    /// `mainnet`, `devnet` or `localnet`.
    pub network: String,
    /// JSON-RPC URL or `embedded`.
    pub rpc_url: Option<String>,
    /// Who is paid (owner address).
    pub recipient: String,
    /// Sponsor fees with this keypair file.
    pub fee_payer_keypair: Option<PathBuf>,
    /// `reference` (default) or `spec`.
    pub push_binding: Option<String>,
    /// Accept charges paid from policy wallets through this policy program and opens funded
    /// by its `fundChannel` (default on localnet: the dev id; `"none"` disables).
    pub policy_program: Option<String>,
    /// Accept charges proven by this payments program's receipts (any program paying by CPI;
    /// default on localnet: the dev id; `"none"` disables receipts and policy charges).
    pub payments_program: Option<String>,
    /// Session offers (payment channels), for routes with `intent = "session"` or `"both"`.
    pub session: Option<SessionSection>,
}

/// `[solana.session]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionSection {
    /// The payee's keypair file (it signs cooperative closes); its address must be `recipient`.
    pub payee_keypair: PathBuf,
    /// Pays fees and channel rent (default: `fee_payer_keypair`).
    pub operator_keypair: Option<PathBuf>,
    /// The channel program (default on localnet: the bundled program's dev address).
    pub channel_program: Option<String>,
    /// Forced-close grace period, seconds (default 900).
    pub grace_period: Option<u32>,
    /// Idle timeout, seconds (default 3600).
    pub idle_timeout: Option<u32>,
    /// `client` (default) or `operator`.
    pub voucher_signer: Option<String>,
    /// Smallest deposit accepted, base units.
    pub minimum_deposit: Option<u64>,
    /// Run the watchtower in this process (default true).
    pub watch: Option<bool>,
}

/// `[[route]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteSection {
    /// HTTP method.
    pub method: String,
    /// Exact path.
    pub path: String,
    /// Base units.
    pub amount: String,
    /// `sol` or a mint.
    pub currency: String,
    /// Shown to payers.
    pub description: Option<String>,
    /// `charge` (default), `session`, or `both` (one 402 offering each).
    pub intent: Option<String>,
}

/// Runs the proxy until interrupted.
pub async fn run(args: Args) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(&args.config)
        .with_context(|| format!("reading {}", args.config.display()))?;
    let file: FileConfig = toml::from_str(&text).context("parsing the configuration")?;
    let base = args.config.parent().unwrap_or(Path::new(".")).to_path_buf();
    let listen = args
        .listen
        .or(file.listen)
        .unwrap_or(SocketAddr::from(([127, 0, 0, 1], 8402)));
    let upstream = args
        .upstream
        .or(file.upstream.clone())
        .context("no upstream: set `upstream` or --upstream")?;
    let app = build(&file, &base, &upstream, args.database_url, args.rpc_url).await?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding {listen}"))?;
    eprintln!(
        "mppsol serve: {} -> {upstream}, {} priced route(s)",
        listener.local_addr()?,
        file.routes.len()
    );
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .context("serving")
}

/// Builds the proxy application (also used by tests and benchmarks).
pub async fn build(
    file: &FileConfig,
    base: &Path,
    upstream: &str,
    database_url: Option<String>,
    rpc_url: Option<String>,
) -> anyhow::Result<Router> {
    let network: Network = file.solana.network.parse()?;
    let recipient = mppsol_solana::charge::request::parse_address(&file.solana.recipient)
        .context("solana.recipient is not a base58 address")?;
    let db = database_url
        .or(file.database.clone())
        .unwrap_or_else(|| base.join("mppsol.db").display().to_string());
    let store = mppsol_store::open_store(&db)
        .await
        .context("opening the database")?;
    let rpc = rpc_url
        .or(file.solana.rpc_url.clone())
        .unwrap_or_else(|| "embedded".into());
    let ledger: Arc<dyn Ledger> = if rpc == "embedded" {
        Arc::new(EmbeddedLedger::new(EmbeddedConfig::default()).await?)
    } else {
        rpc_ledger(&rpc, network.as_str())?
    };
    let mut cfg = SolanaChargeConfig::new(network, recipient);
    if let Some(p) = &file.solana.fee_payer_keypair {
        let k = load_keypair_file(&base.join(p)).context("loading solana.fee_payer_keypair")?;
        cfg = cfg.with_fee_payer(Arc::new(k));
    }
    cfg.push_binding = match file.solana.push_binding.as_deref() {
        None | Some("reference") => PushBinding::Reference,
        Some("spec") => PushBinding::Spec,
        Some(other) => bail!("push_binding must be `reference` or `spec`, not `{other}`"),
    };
    let (policy_program, payments_program) = program_ids(&file.solana, network)?;
    cfg.receipt_programs = payments_program.map(|payments| ReceiptPrograms {
        policy: policy_program,
        payments,
    });
    let method = Arc::new(SolanaCharge::new(cfg, ledger.clone(), store.clone()));
    let session = session_method(
        file,
        base,
        (network, recipient, policy_program),
        ledger,
        store.clone(),
    )?;
    let secret_path = base.join(
        file.secret_file
            .clone()
            .unwrap_or_else(|| "challenge.key".into()),
    );
    let mut config = PaymentConfig::new(
        file.realm.clone(),
        ChallengeKeyring::new(challenge_secret(&secret_path)?),
        store,
    );
    if let Some(p) = &file.receipt_keypair {
        let k = load_keypair_file(&base.join(p)).context("loading receipt_keypair")?;
        config = config.with_receipt_signer(ReceiptSigner::from_seed(k.secret_bytes().to_owned()));
    }
    let api = PaidApi::new(file.realm.clone(), config);
    let proxy = Proxy {
        http: reqwest::Client::new(),
        upstream: upstream.trim_end_matches('/').to_owned(),
    };
    let mut router = Router::new().route("/openapi.json", get(api.handler()));
    for r in &file.routes {
        let amount: Amount = r
            .amount
            .parse()
            .with_context(|| format!("route {} {}: amount", r.method, r.path))?;
        let http_method: axum::http::Method = r.method.to_ascii_uppercase().parse()?;
        let price = PriceTag {
            amount,
            currency: r.currency.clone(),
            recipient: None,
            description: r.description.clone(),
            external_id: None,
        };
        let intent = r.intent.as_deref().unwrap_or("charge");
        let mut methods: Vec<Arc<dyn mpp::ServerMethod>> = Vec::new();
        if matches!(intent, "charge" | "both") {
            methods.push(method.clone());
        }
        if matches!(intent, "session" | "both") {
            let s = session.clone().with_context(|| {
                format!(
                    "route {} {} asks for sessions: add [solana.session]",
                    r.method, r.path
                )
            })?;
            methods.push(s);
        }
        if methods.is_empty() {
            bail!(
                "route {} {}: intent must be charge, session or both",
                r.method,
                r.path
            );
        }
        // Only the configured HTTP method is priced; others on the same path pass through.
        let offers = methods
            .into_iter()
            .map(|mth| {
                let (m, price) = (http_method.clone(), price.clone());
                Offer::dynamic(mth, move |parts| (parts.method == m).then(|| price.clone()))
            })
            .collect();
        router = router.route(
            &r.path,
            any(forward)
                .layer(api.layer(http_method.as_str(), &r.path, offers))
                .with_state(proxy.clone()),
        );
    }
    Ok(router.fallback(any(forward).with_state(proxy)))
}

/// The `solana`/`session` method of `[solana.session]` (and its watchtower), if configured.
fn session_method(
    file: &FileConfig,
    base: &Path,
    (network, recipient, policy_program): (Network, Address, Option<Address>),
    ledger: Arc<dyn Ledger>,
    store: Arc<dyn mppsol_store::Store>,
) -> anyhow::Result<Option<Arc<SolanaSession>>> {
    let Some(s) = &file.solana.session else {
        return Ok(None);
    };
    let payee = load_keypair_file(&base.join(&s.payee_keypair))
        .context("loading solana.session.payee_keypair")?;
    if solana_signer::Signer::pubkey(&payee) != recipient {
        bail!("solana.session.payee_keypair must be the keypair of solana.recipient");
    }
    let operator_file = s
        .operator_keypair
        .as_ref()
        .or(file.solana.fee_payer_keypair.as_ref())
        .context("sessions need solana.session.operator_keypair or solana.fee_payer_keypair")?;
    let operator =
        load_keypair_file(&base.join(operator_file)).context("loading the session operator")?;
    let program = match (&s.channel_program, network) {
        (Some(p), _) => mppsol_solana::charge::request::parse_address(p)
            .context("solana.session.channel_program is not an address")?,
        (None, Network::Localnet) => mppsol_solana::channel::DEV_CHANNEL_PROGRAM_ID,
        (None, _) => bail!("solana.session.channel_program is required off localnet"),
    };
    let mints = file
        .routes
        .iter()
        .filter(|r| matches!(r.intent.as_deref(), Some("session" | "both")))
        .filter_map(|r| mppsol_solana::charge::request::parse_address(&r.currency))
        .collect();
    let mut cfg =
        SolanaSessionConfig::new(network, program, Arc::new(payee), Arc::new(operator), mints);
    cfg.grace_period = s.grace_period.unwrap_or(cfg.grace_period);
    cfg.idle_timeout = s.idle_timeout.unwrap_or(cfg.idle_timeout);
    cfg.minimum_deposit = s.minimum_deposit;
    cfg.voucher_signer = match s.voucher_signer.as_deref() {
        None | Some("client") => VoucherSigner::Client,
        Some("operator") => VoucherSigner::Operator,
        Some(other) => bail!("voucher_signer must be `client` or `operator`, not `{other}`"),
    };
    cfg.policy_program = policy_program;
    let session = Arc::new(SolanaSession::new(cfg, ledger, store));
    if s.watch.unwrap_or(true) {
        // Detached: it runs as long as the server.
        let _ = watch::spawn(
            session.clone(),
            WatchConfig::new(Arc::new(mpp::SystemClock)),
        );
    }
    Ok(Some(session))
}

/// `policy_program` and `payments_program`: an address, `"none"`, or (unset) the dev id on
/// localnet and none elsewhere.
fn program_ids(
    s: &SolanaSection,
    network: Network,
) -> anyhow::Result<(Option<Address>, Option<Address>)> {
    let pick = |v: &Option<String>, dev: Address, key: &str| -> anyhow::Result<Option<Address>> {
        match v.as_deref() {
            Some("none") => Ok(None),
            Some(a) => Ok(Some(
                mppsol_solana::charge::request::parse_address(a)
                    .with_context(|| format!("solana.{key} is not an address"))?,
            )),
            None => Ok((network == Network::Localnet).then_some(dev)),
        }
    };
    Ok((
        pick(
            &s.policy_program,
            mppsol_solana::policy::DEV_POLICY_PROGRAM_ID,
            "policy_program",
        )?,
        pick(
            &s.payments_program,
            mppsol_solana::policy::DEV_PAYMENTS_PROGRAM_ID,
            "payments_program",
        )?,
    ))
}

#[derive(Clone)]
struct Proxy {
    http: reqwest::Client,
    upstream: String,
}

/// Hop-by-hop headers, plus the payment credential: a bearer token the upstream must not see.
fn dropped(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection"
            | "keep-alive"
            | "proxy-connection"
            | "transfer-encoding"
            | "upgrade"
            | "te"
            | "trailer"
            | "host"
            | "authorization"
            | "content-length"
    )
}

async fn forward(State(p): State<Proxy>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
    let bytes = match axum::body::to_bytes(body, 16 * 1024 * 1024).await {
        Ok(b) => b,
        Err(_) => return (StatusCode::PAYLOAD_TOO_LARGE, "body too large").into_response(),
    };
    let mut out = p
        .http
        .request(parts.method.clone(), format!("{}{path}", p.upstream));
    for (k, v) in &parts.headers {
        if !dropped(k) {
            out = out.header(k, v);
        }
    }
    let resp = match out.body(bytes).send().await {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(error = %e.without_url(), "upstream unreachable");
            return (StatusCode::BAD_GATEWAY, "upstream unreachable").into_response();
        }
    };
    let status = resp.status();
    let mut builder = Response::builder().status(status);
    for (k, v) in resp.headers() {
        if !dropped(k) && k != header::CONTENT_LENGTH {
            builder = builder.header(k, v);
        }
    }
    match resp.bytes().await {
        Ok(b) => builder
            .body(Body::from(b))
            .unwrap_or_else(|_| StatusCode::BAD_GATEWAY.into_response()),
        Err(_) => (StatusCode::BAD_GATEWAY, "upstream body failed").into_response(),
    }
}
