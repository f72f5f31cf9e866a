//! The RPC adapter's transport: unreachable nodes, 429 retries, 503 give-up.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::post;
use mppsol_ledger::rpc::{RpcConfig, RpcLedger};
use mppsol_ledger::{Ledger, LedgerError};
use solana_address::Address;

/// A loopback server answering every POST with `respond(n)` for the n-th request (from 0).
async fn fake_node(
    respond: impl Fn(usize) -> axum::response::Response + Clone + Send + Sync + 'static,
) -> (SocketAddr, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&hits);
    let app = Router::new().route(
        "/",
        post(move || {
            let respond = respond.clone();
            let n = counter.fetch_add(1, Ordering::SeqCst);
            async move { respond(n) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (addr, hits)
}

fn quick_config(url: String) -> RpcConfig {
    RpcConfig {
        max_retries: 3,
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(50),
        timeout: Duration::from_secs(5),
        ..RpcConfig::new(url, "devnet")
    }
}

#[tokio::test]
async fn closed_port_is_unreachable_quickly_and_hides_secrets() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let url = format!("http://user:hunter2@127.0.0.1:{port}/key-in-path?api-key=s3cret");
    let ledger = RpcLedger::new(quick_config(url)).unwrap();
    let started = Instant::now();
    let err = ledger.slot().await.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    match &err {
        LedgerError::Unreachable { url, reason } => {
            assert_eq!(url, &format!("http://127.0.0.1:{port}/"));
            assert!(
                !reason.contains("hunter2") && !reason.contains("s3cret"),
                "{reason}"
            );
            assert!(reason.to_lowercase().contains("connect"), "{reason}");
        }
        other => panic!("expected Unreachable, got {other:?}"),
    }
    assert!(err.is_retryable());
    assert!(!err.to_string().contains("s3cret"));
    assert_eq!(ledger.url(), format!("http://127.0.0.1:{port}/"));
}

#[tokio::test]
async fn retries_after_429_then_succeeds() {
    let (addr, hits) = fake_node(|n| {
        if n < 2 {
            (
                StatusCode::TOO_MANY_REQUESTS,
                [(header::RETRY_AFTER, "0")],
                "slow down",
            )
                .into_response()
        } else {
            axum::Json(serde_json::json!({"jsonrpc": "2.0", "result": 4242, "id": 1}))
                .into_response()
        }
    })
    .await;
    let ledger = RpcLedger::new(quick_config(format!("http://{addr}"))).unwrap();
    assert_eq!(ledger.slot().await, Ok(4242));
    assert_eq!(hits.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn gives_up_on_a_node_that_stays_unavailable() {
    let (addr, hits) = fake_node(|_| StatusCode::SERVICE_UNAVAILABLE.into_response()).await;
    let ledger = RpcLedger::new(quick_config(format!("http://{addr}"))).unwrap();
    let started = Instant::now();
    assert_eq!(
        ledger.balance(&Address::new_unique()).await,
        Err(LedgerError::Unavailable { status: 503 })
    );
    // One try plus three retries, with backoff capped at 50 ms.
    assert_eq!(hits.load(Ordering::SeqCst), 4);
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn json_rpc_errors_and_garbage_are_classified() {
    let (addr, _) = fake_node(|n| match n {
        0 => axum::Json(serde_json::json!({"jsonrpc": "2.0",
            "error": {"code": -32005, "message": "Node is behind by 42 slots"}, "id": 1}))
        .into_response(),
        _ => (StatusCode::OK, "<html>nope</html>").into_response(),
    })
    .await;
    let ledger = RpcLedger::new(quick_config(format!("http://{addr}"))).unwrap();
    assert_eq!(
        ledger.slot().await,
        Err(LedgerError::Rpc {
            code: -32005,
            message: "Node is behind by 42 slots".to_string()
        })
    );
    assert!(matches!(
        ledger.slot().await,
        Err(LedgerError::InvalidResponse(_))
    ));
}

#[tokio::test]
async fn airdrop_is_refused_on_mainnet_without_a_request() {
    let (addr, hits) = fake_node(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response()).await;
    let ledger = RpcLedger::new(RpcConfig::new(format!("http://{addr}"), "mainnet")).unwrap();
    assert_eq!(ledger.network(), "mainnet");
    assert!(matches!(
        ledger.airdrop(&Address::new_unique(), 1).await,
        Err(LedgerError::Unsupported(_))
    ));
    assert_eq!(hits.load(Ordering::SeqCst), 0);
}
