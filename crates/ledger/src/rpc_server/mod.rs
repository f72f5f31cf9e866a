//! Serves an [`EmbeddedLedger`] as a Solana JSON-RPC 2.0 endpoint over HTTP (POST `/`, single
//! and batch requests), so other SDKs, wallets and the RPC adapter can use it.
//!
//! Response shapes follow Solana's (`{"context":{"slot":N,"apiVersion":...},"value":...}` where
//! Solana uses them). Bad input never panics: it is a JSON-RPC error (-32700 unparsable body,
//! -32600 not a request, -32601 unknown method, -32602 bad params; -32002 preflight failure with
//! `data.err`/`data.logs`, -32003 bad signature, -32015 unsupported transaction version).
//!
//! Where it differs from a validator:
//! - Everything is `finalized` at once; `commitment` and `minContextSlot` are accepted and ignored.
//! - `sendTransaction` with `skipPreflight` still answers with an error for a transaction that
//!   cannot pay its fee (expired blockhash, bad signature, duplicate) instead of dropping it
//!   silently; one that pays its fee and fails lands as failed, as on a cluster.
//! - `simulateTransaction` returns `accounts`, `returnData` and `innerInstructions` as `null`.
//! - `getAccountInfo` refuses `base64+zstd`; `jsonParsed` parses token accounts and mints only
//!   (other accounts fall back to base64, as Solana does for unparsable ones).
//! - `getFeeForMessage` prices compute-unit-price instructions with an estimated default limit
//!   (200k units per instruction) when no limit is set.

mod encode;
mod methods;
mod parsed;
mod transactions;

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::embedded::EmbeddedLedger;

/// The `solana-core` version reported by `getVersion` and in every `context.apiVersion`.
pub const SOLANA_CORE_VERSION: &str = "3.0.10";
/// The feature-set id reported by `getVersion`.
pub const FEATURE_SET: u32 = 3_294_202_862;

/// A JSON-RPC error object.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RpcError {
    code: i64,
    message: String,
    data: Option<Value>,
}

impl RpcError {
    fn new(code: i64, message: impl Into<String>) -> Self {
        RpcError {
            code,
            message: message.into(),
            data: None,
        }
    }

    fn parse_error() -> Self {
        RpcError::new(-32700, "Parse error")
    }

    fn invalid_request(detail: &str) -> Self {
        RpcError::new(-32600, format!("Invalid request: {detail}"))
    }

    fn method_not_found(method: &str) -> Self {
        RpcError::new(-32601, format!("Method not found: {method}"))
    }

    /// -32602.
    pub fn invalid_params(message: String) -> Self {
        RpcError::new(-32602, message)
    }

    /// -32603.
    pub fn internal(message: String) -> Self {
        RpcError::new(-32603, message)
    }

    /// A Solana server error (-32002 preflight failure, -32003 signature failure, ...).
    pub fn server(code: i64, message: String, data: Option<Value>) -> Self {
        RpcError {
            code,
            message,
            data,
        }
    }

    fn to_json(&self) -> Value {
        match &self.data {
            Some(data) => json!({"code": self.code, "message": self.message, "data": data}),
            None => json!({"code": self.code, "message": self.message}),
        }
    }
}

impl From<crate::LedgerError> for RpcError {
    fn from(e: crate::LedgerError) -> Self {
        RpcError::internal(e.to_string())
    }
}

/// A running server; stops when dropped or on [`RpcServerHandle::shutdown`].
#[derive(Debug)]
pub struct RpcServerHandle {
    local_addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl RpcServerHandle {
    /// The address it listens on (the real port when bound to port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// `http://ip:port`.
    pub fn url(&self) -> String {
        format!("http://{}", self.local_addr)
    }

    /// Stops accepting requests and waits (up to 5 s) for in-flight ones to finish.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let abort = task.abort_handle();
            if tokio::time::timeout(Duration::from_secs(5), task)
                .await
                .is_err()
            {
                abort.abort();
            }
        }
    }
}

impl Drop for RpcServerHandle {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            // The server may already have stopped; then there is nothing to signal.
            let _ = stop.send(());
        }
    }
}

/// Binds `addr` (port 0 picks a free port) and serves `ledger` until the handle is dropped.
pub async fn serve(
    ledger: EmbeddedLedger,
    addr: SocketAddr,
) -> Result<RpcServerHandle, std::io::Error> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let local_addr = listener.local_addr()?;
    let app = Router::new()
        .route("/", post(handle_http))
        .with_state(ledger);
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let server = axum::serve(listener, app).with_graceful_shutdown(async move {
            let _ = stop_rx.await;
        });
        if let Err(e) = server.await {
            tracing::error!(error = %e, "JSON-RPC server stopped with an error");
        }
    });
    tracing::info!(%local_addr, "JSON-RPC server listening");
    Ok(RpcServerHandle {
        local_addr,
        stop: Some(stop_tx),
        task: Some(task),
    })
}

fn json_response(body: &Value) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

async fn handle_http(State(ledger): State<EmbeddedLedger>, body: Bytes) -> Response {
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return json_response(&error_response(Value::Null, &RpcError::parse_error()));
    };
    match request {
        Value::Array(batch) => {
            if batch.is_empty() {
                let err = RpcError::invalid_request("empty batch");
                return json_response(&error_response(Value::Null, &err));
            }
            let mut responses = Vec::with_capacity(batch.len());
            for request in batch {
                if let Some(response) = handle_one(&ledger, request).await {
                    responses.push(response);
                }
            }
            if responses.is_empty() {
                // A batch of notifications gets no body.
                return StatusCode::NO_CONTENT.into_response();
            }
            json_response(&Value::Array(responses))
        }
        request => match handle_one(&ledger, request).await {
            Some(response) => json_response(&response),
            None => StatusCode::NO_CONTENT.into_response(),
        },
    }
}

fn error_response(id: Value, err: &RpcError) -> Value {
    json!({"jsonrpc": "2.0", "error": err.to_json(), "id": id})
}

/// One request; `None` for a notification (no `id`), which gets no response.
async fn handle_one(ledger: &EmbeddedLedger, request: Value) -> Option<Value> {
    let Value::Object(mut request) = request else {
        let err = RpcError::invalid_request("expected a JSON object");
        return Some(error_response(Value::Null, &err));
    };
    let id = request.remove("id");
    let id_value = id.clone().unwrap_or(Value::Null);
    if !matches!(id_value, Value::Null | Value::Number(_) | Value::String(_)) {
        let err = RpcError::invalid_request("id must be a number, a string or null");
        return Some(error_response(Value::Null, &err));
    }
    if request.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        let err = RpcError::invalid_request("jsonrpc must be \"2.0\"");
        return Some(error_response(id_value, &err));
    }
    let Some(method) = request
        .get("method")
        .and_then(Value::as_str)
        .map(str::to_string)
    else {
        let err = RpcError::invalid_request("method must be a string");
        return Some(error_response(id_value, &err));
    };
    let result = match methods::Params::new(request.remove("params")) {
        Ok(params) => methods::call(ledger, &method, params).await,
        Err(e) => Err(e),
    };
    id.as_ref()?;
    Some(match result {
        Ok(result) => json!({"jsonrpc": "2.0", "result": result, "id": id_value}),
        Err(err) => error_response(id_value, &err),
    })
}
