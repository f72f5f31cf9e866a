//! `/v1/openapi.json`: OpenAPI 3.1 description of every route (public, unsigned).

use axum::Json;
use serde_json::{Value, json};

/// Every route as `(method, path, summary, request body schema, success status)`.
pub const ROUTES: &[(&str, &str, &str, Option<&str>, &str)] = &[
    (
        "post",
        "/v1/accounts",
        "Create an account (operator). Custodial accounts get a generated key, sealed at rest.",
        Some("CreateAccount"),
        "201",
    ),
    (
        "get",
        "/v1/accounts",
        "List accounts, newest first (an agent key sees its own).",
        None,
        "200",
    ),
    ("get", "/v1/accounts/{id}", "Get an account.", None, "200"),
    (
        "patch",
        "/v1/accounts/{id}",
        "Pause or resume an account (operator): {\"status\": \"paused\" | \"active\"}; a paused account spends nothing.",
        Some("UpdateAccount"),
        "200",
    ),
    (
        "get",
        "/v1/accounts/{id}/policy",
        "Get an account's policy.",
        None,
        "200",
    ),
    (
        "put",
        "/v1/accounts/{id}/policy",
        "Replace an account's policy (operator).",
        Some("Policy"),
        "200",
    ),
    (
        "post",
        "/v1/accounts/{id}/transfers",
        "Request a transfer. Requires Idempotency-Key. 201 accepted, 202 pending_approval (above the escalation threshold), 200 idempotent replay, 422 policy violation (rule named), 409 key reused for another request. A non-custodial account's accepted transfer carries `unsigned_transaction` (base64 wire transaction, the account as fee payer) for its agent to sign and POST to /v1/transfers/{id}/signed.",
        Some("CreateTransfer"),
        "201",
    ),
    (
        "post",
        "/v1/accounts/{id}/receipts",
        "Report a payment the agent made itself (a Payment-Receipt value); recorded as a settled transfer, optionally within a session.",
        Some("Receipt"),
        "201",
    ),
    (
        "post",
        "/v1/accounts/{id}/credentials",
        "Custodial paying: send the 402's WWW-Authenticate value(s); after balance and policy checks, returns the Authorization value signed with the account's key (202 when it needs approval).",
        Some("CredentialRequest"),
        "200",
    ),
    (
        "get",
        "/v1/transfers",
        "List transfers, newest first. Filters: account_id, status, session_id; paging: limit, cursor.",
        None,
        "200",
    ),
    (
        "get",
        "/v1/transfers/{id}",
        "Get a transfer; `unsigned_transaction` (on a fresh blockhash) while a non-custodial transfer waits for its agent's signature.",
        None,
        "200",
    ),
    (
        "post",
        "/v1/transfers/{id}/signed",
        "Submit a non-custodial transfer's transaction signed by the account's key: accepted (202) only if its message is exactly the transfer's `unsigned_transaction` message (any still-valid blockhash) and the signature verifies (else 422, field `transaction`); 409 if the transfer does not wait for one. The worker then sends and confirms it; if it expires unsent, the transfer waits for a new signature.",
        Some("SignedTransaction"),
        "202",
    ),
    (
        "post",
        "/v1/transfers/{id}/approve",
        "Approve a pending_approval transfer (operator); the policy runs again without the threshold.",
        None,
        "200",
    ),
    (
        "post",
        "/v1/transfers/{id}/reject",
        "Reject a pending_approval transfer (operator).",
        Some("Reject"),
        "200",
    ),
    (
        "get",
        "/v1/sessions",
        "List sessions, newest first. Filter: account_id.",
        None,
        "200",
    ),
    (
        "get",
        "/v1/events",
        "List events (operator). Filter: type.",
        None,
        "200",
    ),
    (
        "get",
        "/v1/api-keys",
        "List API keys (operator); secrets are never returned.",
        None,
        "200",
    ),
    (
        "post",
        "/v1/api-keys",
        "Create an API key (operator); the secret is in this response only.",
        Some("CreateKey"),
        "201",
    ),
    (
        "post",
        "/v1/api-keys/{id}/rotate",
        "Replace a key with a new one (operator, or an agent for its own key); the old one stops working at once.",
        None,
        "201",
    ),
    (
        "delete",
        "/v1/api-keys/{id}",
        "Revoke a key (operator).",
        None,
        "200",
    ),
    (
        "post",
        "/v1/webhooks",
        "Register a webhook endpoint (operator); its signing secret appears once, in this response.",
        Some("CreateWebhook"),
        "201",
    ),
    (
        "get",
        "/v1/webhooks",
        "List webhook endpoints (operator).",
        None,
        "200",
    ),
    (
        "get",
        "/v1/webhooks/{id}/deliveries",
        "An endpoint's delivery log: attempts, last status, delivered time (operator).",
        None,
        "200",
    ),
];

fn amount() -> Value {
    json!({"type": "string", "pattern": "^[0-9]+$", "description": "base units"})
}

fn schemas() -> Value {
    let list = json!({"type": ["array", "null"], "items": {"type": "string"}});
    json!({
        "CreateAccount": {"type": "object", "required": ["handle", "custody_mode"], "additionalProperties": false, "properties": {
            "handle": {"type": "string", "pattern": "^[A-Za-z0-9_.-]{1,64}$"},
            "custody_mode": {"enum": ["custodial", "non_custodial"]},
            "address": {"type": "string", "description": "required for non_custodial"},
            "currency": {"type": "string", "description": "`sol` (default) or a mint address"},
            "policy": {"$ref": "#/components/schemas/Policy"}}},
        "UpdateAccount": {"type": "object", "required": ["status"], "additionalProperties": false, "properties": {
            "status": {"enum": ["active", "paused"]}}},
        "Policy": {"type": "object", "additionalProperties": false, "properties": {
            "max_single_transfer": amount(), "max_daily_spend": amount(),
            "allowed_counterparties": list, "categories": list,
            "require_memo": {"type": "boolean"}, "escalation_threshold": amount(),
            "paused": {"type": "boolean"}}},
        "CreateTransfer": {"type": "object", "required": ["amount", "counterparty"], "additionalProperties": false, "properties": {
            "amount": amount(), "counterparty": {"type": "string"}, "memo": {"type": "string"},
            "category": {"type": "string"}, "session_id": {"type": "string"}}},
        "Receipt": {"type": "object", "required": ["receipt", "counterparty"], "additionalProperties": false, "properties": {
            "receipt": {"type": "string"}, "amount": amount(), "counterparty": {"type": "string"},
            "memo": {"type": "string"}, "category": {"type": "string"},
            "credential": {"type": "string"},
            "session": {"type": "object", "required": ["provider_endpoint"], "properties": {
                "provider_endpoint": {"type": "string"}, "cap": amount(),
                "channel_program": {"type": "string"}}}}},
        "CredentialRequest": {"type": "object", "required": ["www_authenticate"], "additionalProperties": false, "properties": {
            "www_authenticate": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 16},
            "request_url": {"type": "string"}, "memo": {"type": "string"}, "category": {"type": "string"},
            "close": {"type": "boolean"}, "deposit": amount()}},
        "SignedTransaction": {"type": "object", "required": ["transaction"], "additionalProperties": false, "properties": {
            "transaction": {"type": "string", "description": "base64 wire transaction (bincode), signed"}}},
        "Reject": {"type": "object", "required": ["reason"], "properties": {"reason": {"type": "string"}}},
        "CreateKey": {"type": "object", "required": ["role"], "additionalProperties": false, "properties": {
            "role": {"enum": ["operator", "agent"]}, "account_id": {"type": "string"}}},
        "CreateWebhook": {"type": "object", "required": ["url"], "additionalProperties": false, "properties": {
            "url": {"type": "string", "format": "uri"},
            "event_types": {"type": ["array", "null"], "items": {"enum": ["transfer.settled", "transfer.failed",
                "transfer.pending_approval", "session.opened", "session.settled", "policy.violation"]}}}},
        "Problem": {"type": "object", "description": "RFC 9457; type is urn:mppsol:problem:<code>; policy violations carry `rule` and `transfer_id`", "properties": {
            "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
            "detail": {"type": "string"}, "rule": {"type": "string"}, "transfer_id": {"type": "string"}}}
    })
}

/// The document.
pub fn document_value() -> Value {
    let mut paths = serde_json::Map::new();
    for (method, path, summary, body, ok) in ROUTES {
        let mut op = json!({
            "summary": summary,
            "responses": {
                *ok: {"description": "success"},
                "default": {"description": "a problem", "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}
            }
        });
        if let Some(schema) = body {
            op["requestBody"] = json!({"required": true, "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}}});
        }
        if path.contains("{id}") {
            op["parameters"] = json!([{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}]);
        }
        if *path == "/v1/accounts/{id}/transfers"
            && let Some(params) = op["parameters"].as_array_mut()
        {
            params.push(json!({"name": "Idempotency-Key", "in": "header", "required": true, "schema": {"type": "string"}}));
        }
        let entry = paths.entry(path.to_string()).or_insert_with(|| json!({}));
        entry[*method] = op;
    }
    json!({
        "openapi": "3.1.0",
        "info": {"title": "mppsol operator API", "version": "1"},
        "paths": paths,
        "components": {
            "schemas": schemas(),
            "securitySchemes": {
                "key": {"type": "apiKey", "in": "header", "name": "X-Mppsol-Key"},
                "timestamp": {"type": "apiKey", "in": "header", "name": "X-Mppsol-Timestamp", "description": "Unix seconds; refused beyond 300 s of the server clock"},
                "nonce": {"type": "apiKey", "in": "header", "name": "X-Mppsol-Nonce", "description": "16 to 64 URL-safe characters, fresh per request; each is accepted once per key"},
                "signature": {"type": "apiKey", "in": "header", "name": "X-Mppsol-Signature", "description": "base64url(HMAC-SHA256(signing_key, METHOD \\n PATH?QUERY \\n TIMESTAMP \\n NONCE \\n IDEMPOTENCY-KEY (or empty) \\n base64url(SHA-256(body)))), signing_key = HMAC-SHA256(secret, \"mppsol/v1/request-signing\")"}
            }
        },
        "security": [{"key": [], "timestamp": [], "nonce": [], "signature": []}]
    })
}

/// `GET /v1/openapi.json`.
pub async fn document() -> Json<Value> {
    Json(document_value())
}
