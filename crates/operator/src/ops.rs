//! Observability: Prometheus `/metrics`, `/healthz` (the process answers), `/readyz` (the
//! database and the Solana RPC answer), and a request id on every request — taken from
//! `X-Request-Id` or generated, echoed back, and carried by the request's tracing span. Logs
//! name the method, the path and the status; never headers, bodies or query strings (where
//! keys, signatures and secrets travel).

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use mppsol_store::operator::SettlementJob;
use prometheus::{
    Encoder as _, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGaugeVec, Opts, Registry,
    TextEncoder,
};
use tracing::Instrument as _;

use crate::AppState;
use crate::settlement::{JobOutcome, SettlementObserver};
use crate::webhooks::DeliveryObserver;

/// The request id header.
pub const REQUEST_ID: &str = "x-request-id";

/// The service's metrics (one registry per process).
pub struct Metrics {
    registry: Registry,
    payments: IntCounterVec,
    amount: IntCounterVec,
    latency: Histogram,
    queue: IntGaugeVec,
    webhook_failures: IntCounter,
    rpc_errors: IntCounter,
    requests: IntCounterVec,
}

impl Metrics {
    /// A fresh registry with every metric registered.
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new_custom(Some("mppsol_operator".into()), None)?;
        let payments = IntCounterVec::new(
            Opts::new("settlements_total", "Settlement steps by outcome"),
            &["outcome"],
        )?;
        let amount = IntCounterVec::new(
            Opts::new("settled_amount_total", "Base units settled, by currency"),
            &["currency"],
        )?;
        let latency = Histogram::with_opts(
            HistogramOpts::new(
                "settlement_latency_seconds",
                "Enqueue to settled (whole-second enqueue times)",
            )
            .buckets(vec![0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0]),
        )?;
        let queue = IntGaugeVec::new(
            Opts::new("outbox_jobs", "Outbox jobs by state, read at scrape time"),
            &["state"],
        )?;
        let webhook_failures =
            IntCounter::new("webhook_failures_total", "Webhook POSTs that failed")?;
        let rpc_errors = IntCounter::new("rpc_errors_total", "Solana RPC calls that failed")?;
        let requests = IntCounterVec::new(
            Opts::new("http_requests_total", "HTTP requests by status class"),
            &["class"],
        )?;
        registry.register(Box::new(payments.clone()))?;
        registry.register(Box::new(amount.clone()))?;
        registry.register(Box::new(latency.clone()))?;
        registry.register(Box::new(queue.clone()))?;
        registry.register(Box::new(webhook_failures.clone()))?;
        registry.register(Box::new(rpc_errors.clone()))?;
        registry.register(Box::new(requests.clone()))?;
        Ok(Self {
            registry,
            payments,
            amount,
            latency,
            queue,
            webhook_failures,
            rpc_errors,
            requests,
        })
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        // Encoding into a Vec fails only on invalid metric names, which are fixed above.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8_lossy(&out).into_owned()
    }

    /// Sets the queue-depth gauges.
    pub fn set_queue(&self, pending: u64, in_progress: u64) {
        let clamp = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        self.queue
            .with_label_values(&["pending"])
            .set(clamp(pending));
        self.queue
            .with_label_values(&["in_progress"])
            .set(clamp(in_progress));
    }
}

impl SettlementObserver for Metrics {
    fn job_done(&self, job: &SettlementJob, outcome: &JobOutcome) {
        let label = match outcome {
            JobOutcome::Settled { .. } => "settled",
            JobOutcome::AlreadyFinal => "already_final",
            JobOutcome::Failed { .. } => "failed",
            JobOutcome::Retry { .. } => "retry",
            JobOutcome::LostLease => "lost_lease",
            JobOutcome::AwaitingSignature => "awaiting_signature",
        };
        self.payments.with_label_values(&[label]).inc();
        if let JobOutcome::Settled { .. } = outcome {
            self.amount
                .with_label_values(&[job.transfer.currency.as_str()])
                .inc_by(job.transfer.amount);
            let now = time_now();
            #[allow(clippy::cast_precision_loss)] // seconds: far below 2^52
            self.latency
                .observe(now.saturating_sub(job.enqueued_at).max(0) as f64);
        }
    }

    fn rpc_error(&self) {
        self.rpc_errors.inc();
    }
}

impl DeliveryObserver for Metrics {
    fn delivery_failed(&self) {
        self.webhook_failures.inc();
    }
}

fn time_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

#[derive(Clone)]
struct Ops {
    state: AppState,
    metrics: Arc<Metrics>,
}

/// `router` plus `/metrics`, `/healthz`, `/readyz`, with request ids, request logs and
/// request counts on every route.
pub fn with_observability(router: Router, state: AppState, metrics: Arc<Metrics>) -> Router {
    let ops = Ops { state, metrics };
    let routes = Router::new()
        .route("/metrics", get(metrics_text))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
        .with_state(ops.clone());
    router
        .merge(routes)
        .layer(axum::middleware::from_fn_with_state(ops, request_span))
}

async fn metrics_text(State(ops): State<Ops>) -> Response {
    if let Ok(depth) = ops.state.store().outbox_depth().await {
        ops.metrics.set_queue(depth.pending, depth.in_progress);
    }
    (
        [("content-type", "text/plain; version=0.0.4")],
        ops.metrics.render(),
    )
        .into_response()
}

/// 200 when the database and the RPC both answer within two seconds; 503 naming which did not.
async fn ready(State(ops): State<Ops>) -> Response {
    let limit = Duration::from_secs(2);
    let db = matches!(
        tokio::time::timeout(limit, ops.state.store().outbox_depth()).await,
        Ok(Ok(_))
    );
    let rpc = matches!(
        tokio::time::timeout(limit, ops.state.ledger().latest_blockhash()).await,
        Ok(Ok(_))
    );
    if !rpc {
        ops.metrics.rpc_errors.inc();
    }
    let word = |ok: bool| if ok { "ok" } else { "unavailable" };
    let status = if db && rpc {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        axum::Json(serde_json::json!({"database": word(db), "rpc": word(rpc)})),
    )
        .into_response()
}

async fn request_span(State(ops): State<Ops>, mut request: Request, next: Next) -> Response {
    let id = request
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 64 && v.bytes().all(|b| b.is_ascii_graphic()))
        .map_or_else(|| mppsol_store::operator::new_id("req"), str::to_owned);
    if let Ok(value) = HeaderValue::from_str(&id) {
        request.headers_mut().insert(REQUEST_ID, value);
    }
    let span = tracing::info_span!("request", request_id = %id, method = %request.method(),
        path = %request.uri().path());
    let started = Instant::now();
    let mut response = next.run(request).instrument(span.clone()).await;
    let status = response.status().as_u16();
    span.in_scope(|| {
        tracing::info!(
            status,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "request"
        );
    });
    ops.metrics
        .requests
        .with_label_values(&[&format!("{}xx", status / 100)])
        .inc();
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    response
}
