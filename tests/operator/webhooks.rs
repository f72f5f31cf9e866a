//! Webhooks: registered through the API, delivered signed, retried with backoff after
//! failures, once delivered never again; the delivery log shows each try.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use mppsol_e2e::Backend;
use mppsol_operator::webhooks::{
    ID_HEADER, SIGNATURE_HEADER, SenderConfig, TIMESTAMP_HEADER, WebhookSender, verify,
};
use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::{MASTER, OpStack, address, call, transfer};
use crate::settlement::Shifted;

/// What the receiver saw: (status it answered, headers, body).
type Seen = Arc<Mutex<Vec<(u16, HeaderMap, String)>>>;

/// A receiver on loopback that answers 500 to its first `failures` requests, then 200.
async fn receiver(failures: usize) -> (String, Seen) {
    let seen: Seen = Arc::default();
    let log = Arc::clone(&seen);
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: String| {
            let log = Arc::clone(&log);
            async move {
                let mut log = log.lock().unwrap();
                let status = if log.len() < failures { 500 } else { 200 };
                log.push((status, headers, body));
                StatusCode::from_u16(status).unwrap()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, seen)
}

fn sender(s: &OpStack, ahead: i64) -> WebhookSender {
    WebhookSender::new(
        s.state.store_arc(),
        mppsol_operator::MasterKey::from_bytes(&MASTER),
        Arc::new(Shifted(ahead)),
        SenderConfig {
            worker_id: format!("sender{ahead}"),
            ..SenderConfig::default()
        },
    )
}

pub async fn webhook_failing_three_times_is_delivered_once_and_verifies(backend: Backend) {
    let s = OpStack::spawn(backend).await;
    let (url, seen) = receiver(3).await;
    let (status, v) = call(
        &s.operator,
        Method::POST,
        "/v1/webhooks",
        Some(json!({"url": url, "event_types": ["policy.violation"]})),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    let secret = v["secret"].as_str().unwrap().to_owned();
    let hook_id = v["webhook"]["id"].as_str().unwrap().to_owned();

    // One policy violation (an event of the subscribed type) and one escalation (not).
    let a = s
        .custodial(
            "hooked",
            json!({"max_single_transfer": "100", "escalation_threshold": "50"}),
        )
        .await;
    let id = a["id"].as_str().unwrap();
    let (status, _) = transfer(
        &s.operator,
        id,
        "big",
        json!({"amount": "1000", "counterparty": address(40)}),
    )
    .await;
    assert_eq!(status, 422);
    let (status, _) = transfer(
        &s.operator,
        id,
        "held",
        json!({"amount": "60", "counterparty": address(40)}),
    )
    .await;
    assert_eq!(status, 202);

    // Each round is past the previous backoff (at most 2^11 s).
    for round in 0..6 {
        sender(&s, round * 4_096).run_once().await.unwrap();
    }
    let seen = seen.lock().unwrap().clone();
    assert_eq!(
        seen.iter().map(|(st, ..)| *st).collect::<Vec<_>>(),
        vec![500, 500, 500, 200]
    );
    let event_ids: Vec<&str> = seen
        .iter()
        .map(|(_, h, _)| h[ID_HEADER].to_str().unwrap())
        .collect();
    assert!(
        event_ids.iter().all(|e| *e == event_ids[0]),
        "{event_ids:?}"
    );
    let (_, headers, body) = &seen[3];
    let ts: i64 = headers[TIMESTAMP_HEADER].to_str().unwrap().parse().unwrap();
    let sig = headers[SIGNATURE_HEADER].to_str().unwrap();
    verify(
        &secret,
        ts,
        sig,
        body.as_bytes(),
        ts,
        Duration::from_secs(300),
    )
    .unwrap();
    assert!(
        verify(
            "whsec_wrong",
            ts,
            sig,
            body.as_bytes(),
            ts,
            Duration::from_secs(300)
        )
        .is_err()
    );
    assert!(
        verify(
            &secret,
            ts,
            sig,
            body.as_bytes(),
            ts + 301,
            Duration::from_secs(300)
        )
        .is_err()
    );
    let body: Value = serde_json::from_str(body).unwrap();
    assert_eq!(body["type"], "policy.violation");
    assert_eq!(body["id"], event_ids[0]);

    // The delivery log: one delivery, four tries, delivered.
    let (status, log) = call(
        &s.operator,
        Method::GET,
        &format!("/v1/webhooks/{hook_id}/deliveries"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{log}");
    let rows = log["data"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{log}");
    assert_eq!(rows[0]["status"], "delivered");
    assert_eq!(rows[0]["attempts"], 4);
    assert_eq!(rows[0]["last_status_code"], 200);

    // Nothing more is sent later.
    sender(&s, 100_000).run_once().await.unwrap();
    assert_eq!(seen.len(), 4);
}

pub async fn webhook_urls_and_types_are_validated(backend: Backend) {
    let s = OpStack::spawn(backend).await;
    for body in [
        json!({"url": "ftp://example.com/x"}),
        json!({"url": "not a url"}),
        json!({"url": "http://127.0.0.1/x", "event_types": ["transfer.exploded"]}),
    ] {
        let (status, v) = call(&s.operator, Method::POST, "/v1/webhooks", Some(body)).await;
        assert_eq!(status, 422, "{v}");
    }
    let (status, v) = call(&s.operator, Method::GET, "/v1/webhooks", None).await;
    assert_eq!(status, 200);
    assert_eq!(v["data"].as_array().unwrap().len(), 0);
    let other = s.other_operator().await;
    let (status, v) = call(
        &s.operator,
        Method::POST,
        "/v1/webhooks",
        Some(json!({"url": "http://127.0.0.1:9/x"})),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    let id = v["webhook"]["id"].as_str().unwrap();
    let (status, _) = call(
        &other,
        Method::GET,
        &format!("/v1/webhooks/{id}/deliveries"),
        None,
    )
    .await;
    assert_eq!(status, 404);
}
