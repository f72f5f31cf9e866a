//! Request signatures, roles and key lifecycle.

use mpp::Clock;
use mppsol_client::operator::{ApiCredentials, SignedParts, new_nonce};
use mppsol_e2e::Backend;
use reqwest::Method;
use serde_json::json;

use crate::harness::{OpStack, call, transfer};

/// Sends `GET path` with headers signed by `key` at `timestamp` with `nonce`, optionally
/// replacing one header; returns (status, detail).
async fn raw(
    s: &OpStack,
    key: &ApiCredentials,
    path: &str,
    timestamp: i64,
    nonce: &str,
    replace: Option<(&str, &str)>,
) -> (u16, String) {
    let mut req = reqwest::Client::new().get(format!("{}{path}", s.base_url));
    for (name, value) in key.sign(&get(path, timestamp, nonce)) {
        match replace {
            Some((n, v)) if n == name => req = req.header(name, v),
            _ => req = req.header(name, value),
        }
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let body: serde_json::Value = r.json().await.unwrap_or_default();
    (
        status,
        body["detail"].as_str().unwrap_or_default().to_owned(),
    )
}

fn get<'a>(path: &'a str, timestamp: i64, nonce: &'a str) -> SignedParts<'a> {
    SignedParts {
        method: "GET",
        path_and_query: path,
        timestamp,
        nonce,
        idempotency_key: None,
        body: b"",
    }
}

pub async fn bad_stale_and_replayed_signatures_are_refused(backend: Backend) {
    let s = OpStack::spawn(backend).await;
    let key = ApiCredentials::new(s.operator_key.key.id.clone(), s.operator_key.secret.clone());
    let now = mpp::SystemClock.now().unix();
    let path = "/v1/accounts";

    let fresh = new_nonce();
    assert_eq!(raw(&s, &key, path, now, &fresh, None).await.0, 200);
    let (status, detail) = raw(&s, &key, path, now, &fresh, None).await;
    assert_eq!(status, 401);
    assert!(detail.contains("replayed"), "{detail}");

    let (status, detail) = raw(&s, &key, path, now - 301, &new_nonce(), None).await;
    assert_eq!(status, 401);
    assert!(detail.contains("stale"), "{detail}");
    let (status, detail) = raw(&s, &key, path, now + 301, &new_nonce(), None).await;
    assert_eq!(status, 401);
    assert!(detail.contains("stale"), "{detail}");
    // Inside the window is fine.
    assert_eq!(
        raw(&s, &key, path, now - 200, &new_nonce(), None).await.0,
        200
    );

    let wrong_secret = ApiCredentials::new(s.operator_key.key.id.clone(), "mppsol_sk_guess");
    let (status, detail) = raw(&s, &wrong_secret, path, now, &new_nonce(), None).await;
    assert_eq!(status, 401);
    assert!(detail.contains("does not match"), "{detail}");
    // The signature covers the path (and query): moving it elsewhere fails.
    let mut req = reqwest::Client::new().get(format!("{}/v1/transfers", s.base_url));
    for (name, value) in key.sign(&get(path, now, &new_nonce())) {
        req = req.header(name, value);
    }
    assert_eq!(req.send().await.unwrap().status(), 401);
    // …and the body, and the idempotency key.
    let good = br#"{"handle":"good","custody_mode":"custodial"}"#;
    let signed = |nonce: &str, key_header: Option<&'static str>| {
        let parts = SignedParts {
            method: "POST",
            path_and_query: path,
            timestamp: now,
            nonce,
            idempotency_key: key_header,
            body: good,
        };
        key.sign(&parts)
    };
    let mut req = reqwest::Client::new()
        .post(format!("{}/v1/accounts", s.base_url))
        .body(r#"{"handle":"evil","custody_mode":"custodial"}"#);
    for (name, value) in signed(&new_nonce(), None) {
        req = req.header(name, value);
    }
    assert_eq!(req.send().await.unwrap().status(), 401);
    let mut req = reqwest::Client::new()
        .post(format!("{}/v1/accounts", s.base_url))
        .header("idempotency-key", "swapped")
        .body(good.to_vec());
    for (name, value) in signed(&new_nonce(), Some("original")) {
        req = req.header(name, value);
    }
    assert_eq!(req.send().await.unwrap().status(), 401);

    let cases = [
        (
            Some(("x-mppsol-signature", "bm90LWEtbWFj")),
            "base64url of 32 bytes",
        ),
        (Some(("x-mppsol-timestamp", "yesterday")), "Unix seconds"),
        (Some(("x-mppsol-key", "key_unknown")), "unknown or revoked"),
        (Some(("x-mppsol-nonce", "short")), "16 to 64"),
    ];
    for (replace, expected) in cases {
        let (status, detail) = raw(&s, &key, path, now, &new_nonce(), replace).await;
        assert_eq!(status, 401, "{replace:?}");
        assert!(detail.contains(expected), "{replace:?}: {detail}");
    }
    let r = reqwest::get(format!("{}{path}", s.base_url)).await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(
        r.headers()["content-type"].to_str().unwrap(),
        "application/problem+json"
    );
    // Nothing was created by any refused request.
    let (_, list) = call(&s.operator, Method::GET, "/v1/accounts", None).await;
    assert_eq!(list["data"], json!([]));
}

pub async fn agent_keys_are_confined_to_their_account(backend: Backend) {
    let s = OpStack::spawn(backend).await;
    let mine = s.custodial("mine", json!({})).await;
    let other = s.custodial("other", json!({})).await;
    let (mine, other) = (mine["id"].as_str().unwrap(), other["id"].as_str().unwrap());
    let agent = s.agent_key(mine).await;
    let (status, own) = call(&agent, Method::GET, &format!("/v1/accounts/{mine}"), None).await;
    assert_eq!(status, 200);
    assert_eq!(own["id"], mine);
    let (_, listed) = call(&agent, Method::GET, "/v1/accounts", None).await;
    assert_eq!(listed["data"].as_array().unwrap().len(), 1);
    let (status, _) = call(&agent, Method::GET, &format!("/v1/accounts/{other}"), None).await;
    assert_eq!(status, 404);
    let (status, _) = transfer(
        &agent,
        other,
        "x",
        json!({"amount": "1", "counterparty": crate::harness::address(2)}),
    )
    .await;
    assert_eq!(status, 404);
    let (status, t) = transfer(
        &s.operator,
        other,
        "x",
        json!({"amount": "1", "counterparty": crate::harness::address(2)}),
    )
    .await;
    assert_eq!(status, 201);
    let (status, _) = call(
        &agent,
        Method::GET,
        &format!("/v1/transfers/{}", t["id"].as_str().unwrap()),
        None,
    )
    .await;
    assert_eq!(status, 404);
    let (_, transfers) = call(&agent, Method::GET, "/v1/transfers", None).await;
    assert_eq!(transfers["data"], json!([]));
    for (method, path, body) in [
        (
            Method::POST,
            "/v1/accounts".to_owned(),
            Some(json!({"handle": "x", "custody_mode": "custodial"})),
        ),
        (
            Method::PUT,
            format!("/v1/accounts/{mine}/policy"),
            Some(json!({})),
        ),
        (Method::GET, "/v1/api-keys".to_owned(), None),
        (
            Method::POST,
            "/v1/api-keys".to_owned(),
            Some(json!({"role": "operator"})),
        ),
        (Method::GET, "/v1/events".to_owned(), None),
    ] {
        let (status, problem) = call(&agent, method.clone(), &path, body).await;
        assert_eq!(status, 403, "{method} {path}: {problem}");
    }
}

pub async fn rotated_and_revoked_keys_stop_working(backend: Backend) {
    let s = OpStack::spawn(backend).await;
    let a = s.custodial("rot", json!({})).await;
    let id = a["id"].as_str().unwrap();
    let (status, created) = call(
        &s.operator,
        Method::POST,
        "/v1/api-keys",
        Some(json!({"role": "agent", "account_id": id})),
    )
    .await;
    assert_eq!(status, 201);
    let old_id = created["key"]["id"].as_str().unwrap().to_owned();
    assert!(old_id.starts_with("key_"));
    let old = mppsol_client::OperatorApi::new(
        reqwest::Client::new(),
        s.base_url.clone(),
        ApiCredentials::new(old_id.clone(), created["secret"].as_str().unwrap()),
    );
    assert_eq!(call(&old, Method::GET, "/v1/accounts", None).await.0, 200);

    // An agent rotates its own key.
    let (status, rotated) = call(
        &old,
        Method::POST,
        &format!("/v1/api-keys/{old_id}/rotate"),
        None,
    )
    .await;
    assert_eq!(status, 201, "{rotated}");
    assert_eq!(rotated["key"]["role"], "agent");
    assert_eq!(rotated["key"]["account_id"], id);
    let new_id = rotated["key"]["id"].as_str().unwrap().to_owned();
    let new = mppsol_client::OperatorApi::new(
        reqwest::Client::new(),
        s.base_url.clone(),
        ApiCredentials::new(new_id.clone(), rotated["secret"].as_str().unwrap()),
    );
    let (status, problem) = call(&old, Method::GET, "/v1/accounts", None).await;
    assert_eq!(status, 401);
    assert!(problem["detail"].as_str().unwrap().contains("revoked"));
    assert_eq!(call(&new, Method::GET, "/v1/accounts", None).await.0, 200);
    let (status, _) = call(
        &new,
        Method::POST,
        &format!("/v1/api-keys/{old_id}/rotate"),
        None,
    )
    .await;
    assert_eq!(status, 403, "an agent rotates only its own key");

    let (_, keys) = call(&s.operator, Method::GET, "/v1/api-keys", None).await;
    let old_row = keys["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == old_id.as_str())
        .unwrap()
        .clone();
    assert_eq!(old_row["status"], "revoked");
    assert_eq!(old_row["replaced_by"], new_id.as_str());
    assert!(
        keys.to_string().find("mppsol_sk_").is_none(),
        "secrets are never listed"
    );

    let (status, revoked) = call(
        &s.operator,
        Method::DELETE,
        &format!("/v1/api-keys/{new_id}"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(revoked["status"], "revoked");
    assert_eq!(call(&new, Method::GET, "/v1/accounts", None).await.0, 401);
    let (status, _) = call(
        &s.operator,
        Method::DELETE,
        &format!("/v1/api-keys/{new_id}"),
        None,
    )
    .await;
    assert_eq!(status, 404, "already revoked");
}
