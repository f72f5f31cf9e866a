//! `/metrics`, `/healthz`, `/readyz` and request ids.

use std::sync::Arc;

use mppsol_e2e::Backend;
use mppsol_ledger::Ledger;
use mppsol_ledger::rpc::{RpcConfig, RpcLedger};
use mppsol_operator::ops::{Metrics, REQUEST_ID, with_observability};
use mppsol_operator::settlement::{SettlementObserver, Settler, WorkerConfig};
use mppsol_operator::{AppState, MasterKey, OperatorConfig};
use mppsol_solana::network::Network;
use serde_json::{Value, json};
use solana_address::Address;

use crate::harness::{MASTER, OpStack, address, transfer};

/// Serves `state`'s API with observability on loopback; returns its base URL.
async fn serve(state: AppState, metrics: Arc<Metrics>) -> String {
    let app = with_observability(mppsol_operator::router(state.clone()), state, metrics);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    url
}

/// The value of a metric line (`name{labels}`), if exposed.
fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
}

pub async fn metrics_count_settlements_and_readiness_checks_the_rpc(backend: Backend) {
    let s = OpStack::spawn(backend).await;
    let metrics = Arc::new(Metrics::new().unwrap());
    let base = serve(s.state.clone(), Arc::clone(&metrics)).await;
    let a = s.custodial("observed", json!({})).await;
    let id = a["id"].as_str().unwrap();
    let owner: Address = a["address"].as_str().unwrap().parse().unwrap();
    s.ledger.fund_sol(&owner, 5_000_000_000).await.unwrap();
    for i in 0..3 {
        let body = json!({"amount": "2000000", "counterparty": address(50)});
        let (status, v) = transfer(&s.operator, id, &format!("m{i}"), body).await;
        assert_eq!(status, 201, "{v}");
    }
    let text = reqwest::get(format!("{base}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        metric(&text, "mppsol_operator_outbox_jobs{state=\"pending\"}"),
        Some(3.0),
        "{text}"
    );
    let w = Settler::new(
        s.state.store_arc(),
        Arc::new(s.ledger.clone()),
        MasterKey::from_bytes(&MASTER),
        Arc::new(mpp::SystemClock),
        WorkerConfig::default(),
    )
    .with_observer(Arc::clone(&metrics) as Arc<dyn SettlementObserver>);
    w.run_once().await.unwrap();
    let text = reqwest::get(format!("{base}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        metric(
            &text,
            "mppsol_operator_settlements_total{outcome=\"settled\"}"
        ),
        Some(3.0),
        "{text}"
    );
    assert_eq!(
        metric(
            &text,
            "mppsol_operator_settled_amount_total{currency=\"sol\"}"
        ),
        Some(6_000_000.0)
    );
    assert_eq!(
        metric(&text, "mppsol_operator_outbox_jobs{state=\"pending\"}"),
        Some(0.0)
    );
    assert_eq!(
        metric(&text, "mppsol_operator_settlement_latency_seconds_count"),
        Some(3.0)
    );
    // Requests to this server are counted (the first scrape, at least).
    assert!(metric(&text, "mppsol_operator_http_requests_total{class=\"2xx\"}").unwrap() >= 1.0);

    // Health, readiness and request ids.
    let r = reqwest::get(format!("{base}/healthz")).await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()[REQUEST_ID]
            .to_str()
            .unwrap()
            .starts_with("req_")
    );
    let r = reqwest::Client::new()
        .get(format!("{base}/readyz"))
        .header(REQUEST_ID, "trace-123")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()[REQUEST_ID], "trace-123");
    let v: Value = r.json().await.unwrap();
    assert_eq!(v, json!({"database": "ok", "rpc": "ok"}));

    // The same service on an RPC endpoint nobody listens on is not ready.
    let dead_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dead: Arc<dyn Ledger> = Arc::new(
        RpcLedger::new(RpcConfig::new(
            format!("http://127.0.0.1:{dead_port}"),
            "localnet",
        ))
        .unwrap(),
    );
    let cut_off = AppState::new(OperatorConfig {
        store: s.state.store_arc(),
        ledger: dead,
        network: Network::Localnet,
        master_key: MasterKey::from_bytes(&MASTER),
        clock: Arc::new(mpp::SystemClock),
    });
    let base = serve(cut_off, Arc::new(Metrics::new().unwrap())).await;
    let r = reqwest::get(format!("{base}/readyz")).await.unwrap();
    assert_eq!(r.status(), 503);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v, json!({"database": "ok", "rpc": "unavailable"}));
    let text = reqwest::get(format!("{base}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(metric(&text, "mppsol_operator_rpc_errors_total"), Some(1.0));
}
