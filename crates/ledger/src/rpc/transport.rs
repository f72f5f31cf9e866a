//! JSON-RPC over HTTP: retries on 429/503 with bounded backoff, and error classification.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use reqwest::{StatusCode, Url, header::RETRY_AFTER};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use solana_transaction_error::TransactionError;

use crate::{LedgerError, tx_error};

/// How hard to retry a rate-limited or unavailable node.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RetryPolicy {
    pub max_retries: u32,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
}

impl RetryPolicy {
    /// `initial * 2^attempt`, capped.
    fn backoff(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.min(16));
        self.initial_backoff
            .saturating_mul(factor)
            .min(self.max_backoff)
    }
}

/// The URL as it may appear in errors and logs: scheme, host and port only (no credentials,
/// path tokens, query or fragment, where providers put API keys).
pub(crate) fn redact(url: &Url) -> String {
    match url.host_str() {
        Some(host) => match url.port() {
            Some(port) => format!("{}://{host}:{port}/", url.scheme()),
            None => format!("{}://{host}/", url.scheme()),
        },
        None => format!("{}://", url.scheme()),
    }
}

/// A reqwest error's text without its URL, with its causes (for example "Connection refused").
fn describe(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Maps a JSON-RPC error object to a ledger error.
pub(crate) fn classify_rpc_error(error: &Value) -> LedgerError {
    let code = error.get("code").and_then(Value::as_i64).unwrap_or(0);
    let message = error
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let data = error.get("data");
    let err = data.and_then(|d| d.get("err")).filter(|e| !e.is_null());
    if err == Some(&json!("BlockhashNotFound")) || message.contains("Blockhash not found") {
        return LedgerError::BlockhashExpired;
    }
    if err == Some(&json!("AlreadyProcessed")) || message.contains("already been processed") {
        return LedgerError::AlreadyProcessed;
    }
    match code {
        // Preflight (simulation) failure.
        -32002 => LedgerError::TransactionFailed {
            err: err.map_or_else(
                || {
                    message
                        .trim_start_matches("Transaction simulation failed: ")
                        .to_string()
                },
                tx_error::text_from_json,
            ),
            logs: data
                .and_then(|d| d.get("logs"))
                .and_then(|l| serde_json::from_value(l.clone()).ok())
                .unwrap_or_default(),
        },
        -32003 => LedgerError::TransactionFailed {
            err: tx_error::text(&TransactionError::SignatureFailure),
            logs: Vec::new(),
        },
        _ => LedgerError::Rpc { code, message },
    }
}

/// A JSON-RPC client for one URL.
#[derive(Debug)]
pub(crate) struct Transport {
    client: reqwest::Client,
    url: Url,
    redacted: String,
    timeout: Duration,
    retry: RetryPolicy,
    next_id: AtomicU64,
}

impl Transport {
    pub fn new(url: &str, timeout: Duration, retry: RetryPolicy) -> Result<Self, LedgerError> {
        let parsed = Url::parse(url).map_err(|e| LedgerError::Unreachable {
            url: "<invalid URL>".to_string(),
            reason: format!("invalid RPC URL: {e}"),
        })?;
        let redacted = redact(&parsed);
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .build()
            .map_err(|e| LedgerError::Unreachable {
                url: redacted.clone(),
                reason: describe(e),
            })?;
        Ok(Transport {
            client,
            url: parsed,
            redacted,
            timeout,
            retry,
            next_id: AtomicU64::new(1),
        })
    }

    /// The URL with secrets removed.
    pub fn redacted_url(&self) -> &str {
        &self.redacted
    }

    fn transport_error(&self, e: reqwest::Error) -> LedgerError {
        if e.is_timeout() {
            LedgerError::Timeout(self.timeout)
        } else if e.is_decode() {
            LedgerError::InvalidResponse(describe(e))
        } else {
            LedgerError::Unreachable {
                url: self.redacted.clone(),
                reason: describe(e),
            }
        }
    }

    /// Calls `method` and decodes its `result`.
    pub async fn call<T: DeserializeOwned>(
        &self,
        method: &str,
        params: Value,
    ) -> Result<T, LedgerError> {
        let result = self.call_value(method, params).await?;
        serde_json::from_value(result)
            .map_err(|e| LedgerError::InvalidResponse(format!("{method}: unexpected result: {e}")))
    }

    async fn call_value(&self, method: &str, params: Value) -> Result<Value, LedgerError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let body = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        let mut attempt = 0u32;
        loop {
            let response = self
                .client
                .post(self.url.clone())
                .json(&body)
                .send()
                .await
                .map_err(|e| self.transport_error(e))?;
            let status = response.status();
            if status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::SERVICE_UNAVAILABLE
            {
                if attempt >= self.retry.max_retries {
                    return Err(LedgerError::Unavailable {
                        status: status.as_u16(),
                    });
                }
                let delay = retry_after(&response)
                    .unwrap_or_else(|| self.retry.backoff(attempt))
                    .min(self.retry.max_backoff);
                attempt += 1;
                tracing::debug!(method, %status, ?delay, attempt, "RPC node busy; retrying");
                tokio::time::sleep(delay).await;
                continue;
            }
            let bytes = response
                .bytes()
                .await
                .map_err(|e| self.transport_error(e))?;
            let Ok(value) = serde_json::from_slice::<Value>(&bytes) else {
                let snippet: String = String::from_utf8_lossy(&bytes).chars().take(200).collect();
                return Err(LedgerError::InvalidResponse(format!(
                    "{method}: HTTP {status}, body is not JSON: {snippet}"
                )));
            };
            if let Some(error) = value.get("error").filter(|e| !e.is_null()) {
                return Err(classify_rpc_error(error));
            }
            if !status.is_success() {
                return Err(LedgerError::InvalidResponse(format!(
                    "{method}: HTTP {status}"
                )));
            }
            return match value.get("result") {
                Some(result) => Ok(result.clone()),
                None => Err(LedgerError::InvalidResponse(format!(
                    "{method}: response has neither result nor error"
                ))),
            };
        }
    }
}

/// `Retry-After` in seconds, if the node sent one.
fn retry_after(response: &reqwest::Response) -> Option<Duration> {
    let value = response.headers().get(RETRY_AFTER)?.to_str().ok()?;
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_drops_credentials_paths_and_queries() {
        let url =
            Url::parse("https://user:secret@rpc.example.com:8899/token123/?api-key=abc#x").unwrap();
        assert_eq!(redact(&url), "https://rpc.example.com:8899/");
        let url = Url::parse("http://127.0.0.1:8899").unwrap();
        assert_eq!(redact(&url), "http://127.0.0.1:8899/");
    }

    #[test]
    fn backoff_is_bounded() {
        let policy = RetryPolicy {
            max_retries: 10,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(2),
        };
        assert_eq!(policy.backoff(0), Duration::from_millis(100));
        assert_eq!(policy.backoff(3), Duration::from_millis(800));
        assert_eq!(policy.backoff(30), Duration::from_secs(2));
    }

    #[test]
    fn preflight_errors_are_classified() {
        let expired = json!({"code": -32002, "message": "Transaction simulation failed: Blockhash not found",
                             "data": {"err": "BlockhashNotFound", "logs": []}});
        assert_eq!(classify_rpc_error(&expired), LedgerError::BlockhashExpired);
        let dup = json!({"code": -32002, "message": "Transaction simulation failed: This transaction has already been processed",
                         "data": {"err": "AlreadyProcessed"}});
        assert_eq!(classify_rpc_error(&dup), LedgerError::AlreadyProcessed);
        let failed = json!({"code": -32002, "message": "x",
                            "data": {"err": {"InstructionError": [0, {"Custom": 1}]}, "logs": ["a"]}});
        assert_eq!(
            classify_rpc_error(&failed),
            LedgerError::TransactionFailed {
                err: "Error processing Instruction 0: custom program error: 0x1".to_string(),
                logs: vec!["a".to_string()],
            }
        );
        let other = json!({"code": -32601, "message": "Method not found"});
        assert_eq!(
            classify_rpc_error(&other),
            LedgerError::Rpc {
                code: -32601,
                message: "Method not found".to_string()
            }
        );
    }
}
