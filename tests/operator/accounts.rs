//! Accounts, policies, the OpenAPI document, operator isolation and the audit log.

use mppsol_e2e::Backend;
use reqwest::Method;
use serde_json::json;
use sqlx::Connection;

use crate::harness::{OpStack, address, call, transfer};

pub async fn accounts_are_created_listed_in_pages_and_read(backend: Backend) {
    let s = OpStack::spawn(backend).await;
    let custodial = s.custodial("bot-1", json!({})).await;
    assert_eq!(custodial["custody_mode"], "custodial");
    assert_eq!(custodial["status"], "active");
    assert_eq!(custodial["currency"], "sol");
    assert!(custodial["id"].as_str().unwrap().starts_with("acct_"));
    assert!(custodial["address"].as_str().unwrap().len() >= 32);
    let own = address(1);
    let mut ids = vec![custodial["id"].as_str().unwrap().to_owned()];
    for (i, handle) in ["bot-2", "bot-3"].iter().enumerate() {
        let a = s
            .account(json!({"handle": handle, "custody_mode": "non_custodial",
                "address": address(2 + i as u8)}))
            .await;
        ids.push(a["id"].as_str().unwrap().to_owned());
    }
    let usdc = s.ledger.dev_mints().usdc.address.to_string();
    let token = s
        .account(
            json!({"handle": "usdc-bot", "custody_mode": "non_custodial",
            "address": own, "currency": usdc}),
        )
        .await;
    assert_eq!(token["currency"], usdc.as_str());
    assert!(token["token_account"].is_string(), "{token}");
    ids.push(token["id"].as_str().unwrap().to_owned());

    let (status, first) = call(&s.operator, Method::GET, "/v1/accounts?limit=3", None).await;
    assert_eq!(status, 200);
    assert_eq!(first["data"].as_array().unwrap().len(), 3);
    let cursor = first["next_cursor"]
        .as_str()
        .expect("a full page has a cursor");
    let (status, second) = call(
        &s.operator,
        Method::GET,
        &format!("/v1/accounts?limit=3&cursor={cursor}"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(second["data"].as_array().unwrap().len(), 1);
    assert!(second["next_cursor"].is_null());
    let mut listed: Vec<String> = first["data"]
        .as_array()
        .unwrap()
        .iter()
        .chain(second["data"].as_array().unwrap())
        .map(|a| a["id"].as_str().unwrap().to_owned())
        .collect();
    listed.sort();
    ids.sort();
    assert_eq!(listed, ids);

    let path = format!("/v1/accounts/{}", custodial["id"].as_str().unwrap());
    let (status, got) = call(&s.operator, Method::GET, &path, None).await;
    assert_eq!(status, 200);
    assert_eq!(got, custodial);
    assert!(got.get("sealed_key").is_none());
}

pub async fn bad_account_input_is_refused_with_the_field_named(backend: Backend) {
    let s = OpStack::spawn(backend).await;
    s.custodial("taken", json!({})).await;
    let cases = [
        (
            json!({"handle": "taken", "custody_mode": "custodial"}),
            409,
            None,
        ),
        (
            json!({"handle": "has space", "custody_mode": "custodial"}),
            422,
            Some("handle"),
        ),
        (
            json!({"handle": "x", "custody_mode": "non_custodial"}),
            422,
            Some("address"),
        ),
        (
            json!({"handle": "x", "custody_mode": "non_custodial", "address": "nope"}),
            422,
            Some("address"),
        ),
        (
            json!({"handle": "x", "custody_mode": "custodial", "address": address(1)}),
            422,
            Some("address"),
        ),
        (
            json!({"handle": "x", "custody_mode": "custodial", "currency": address(9)}),
            422,
            Some("currency"),
        ),
        (
            json!({"handle": "x", "custody_mode": "sometimes"}),
            400,
            None,
        ),
        (
            json!({"handle": "x", "custody_mode": "custodial", "extra": 1}),
            400,
            None,
        ),
    ];
    for (body, expected, field) in cases {
        let (status, problem) = call(
            &s.operator,
            Method::POST,
            "/v1/accounts",
            Some(body.clone()),
        )
        .await;
        assert_eq!(status, expected, "{body} → {problem}");
        assert!(
            problem["type"]
                .as_str()
                .unwrap()
                .starts_with("urn:mppsol:problem:")
        );
        assert!(!problem["detail"].as_str().unwrap().is_empty());
        if let Some(field) = field {
            assert_eq!(problem["field"], field, "{problem}");
        }
    }
}

pub async fn policies_are_validated_and_replaced(backend: Backend) {
    let s = OpStack::spawn(backend).await;
    let a = s
        .custodial("p", json!({"max_single_transfer": "100"}))
        .await;
    let path = format!("/v1/accounts/{}/policy", a["id"].as_str().unwrap());
    let (status, got) = call(&s.operator, Method::GET, &path, None).await;
    assert_eq!(status, 200);
    assert_eq!(got["max_single_transfer"], "100");
    assert_eq!(got["paused"], false);

    let policy = json!({
        "max_single_transfer": "5000", "max_daily_spend": 20000,
        "allowed_counterparties": [address(3), address(3)], "categories": ["api", "data"],
        "require_memo": true, "escalation_threshold": "1000", "paused": false
    });
    let (status, put) = call(&s.operator, Method::PUT, &path, Some(policy)).await;
    assert_eq!(status, 200, "{put}");
    assert_eq!(put["max_daily_spend"], "20000");
    assert_eq!(put["allowed_counterparties"], json!([address(3)]));
    let (_, got) = call(&s.operator, Method::GET, &path, None).await;
    assert_eq!(got, put);

    let refused = [
        (
            json!({"max_single_transfer": "10", "max_daily_spend": "5"}),
            "max_single_transfer",
        ),
        (
            json!({"max_single_transfer": "10", "escalation_threshold": "10"}),
            "escalation_threshold",
        ),
        (
            json!({"max_daily_spend": "9223372036854775808"}),
            "max_daily_spend",
        ),
        (
            json!({"allowed_counterparties": ["not-an-address"]}),
            "allowed_counterparties",
        ),
        (json!({"categories": ["Upper Case"]}), "categories"),
    ];
    for (body, field) in refused {
        let (status, problem) = call(&s.operator, Method::PUT, &path, Some(body.clone())).await;
        assert_eq!(status, 422, "{body} → {problem}");
        assert_eq!(problem["field"], field);
    }
    let (status, _) = call(
        &s.operator,
        Method::PUT,
        &path,
        Some(json!({"max_single_transfer": -1})),
    )
    .await;
    assert_eq!(status, 400);
    // The last good policy stands.
    let (_, got) = call(&s.operator, Method::GET, &path, None).await;
    assert_eq!(got, put);
}

pub async fn openapi_document_describes_every_route(backend: Backend) {
    let s = OpStack::spawn(backend).await;
    // Public: no signature needed.
    let doc: serde_json::Value = reqwest::get(format!("{}/v1/openapi.json", s.base_url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    for (method, path, ..) in mppsol_operator::api::openapi::ROUTES {
        assert!(doc["paths"][*path][*method].is_object(), "{method} {path}");
    }
    assert_eq!(mppsol_operator::api::openapi::ROUTES.len(), 23);
    // Every documented route exists: unsigned, each answers 401, never 404.
    for (method, path, ..) in mppsol_operator::api::openapi::ROUTES {
        let url = format!("{}{}", s.base_url, path.replace("{id}", "x"));
        let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let r = reqwest::Client::new().request(m, url).send().await.unwrap();
        assert_eq!(r.status(), 401, "{method} {path}");
    }
}

pub async fn other_operators_objects_are_not_found(backend: Backend) {
    let s = OpStack::spawn(backend).await;
    let a = s
        .custodial("mine", json!({"escalation_threshold": "10"}))
        .await;
    let id = a["id"].as_str().unwrap();
    s.ledger
        .fund_sol(
            &a["address"].as_str().unwrap().parse().unwrap(),
            1_000_000_000,
        )
        .await
        .unwrap();
    let (status, t) = transfer(
        &s.operator,
        id,
        "k1",
        json!({"amount": "50", "counterparty": address(5)}),
    )
    .await;
    assert_eq!(status, 202, "{t}");
    let txn = t["id"].as_str().unwrap();

    let rival = s.other_operator().await;
    for (method, path, body) in [
        (Method::GET, format!("/v1/accounts/{id}"), None),
        (Method::GET, format!("/v1/accounts/{id}/policy"), None),
        (
            Method::PUT,
            format!("/v1/accounts/{id}/policy"),
            Some(json!({"paused": true})),
        ),
        (Method::GET, format!("/v1/transfers/{txn}"), None),
        (Method::POST, format!("/v1/transfers/{txn}/approve"), None),
        (
            Method::POST,
            format!("/v1/transfers/{txn}/reject"),
            Some(json!({"reason": "mine now"})),
        ),
        (
            Method::POST,
            format!("/v1/accounts/{id}/receipts"),
            Some(json!({
            "receipt": "eyJ4IjoxfQ", "amount": "1", "counterparty": address(5)})),
        ),
        (
            Method::POST,
            "/v1/api-keys".to_owned(),
            Some(json!({"role": "agent", "account_id": id})),
        ),
    ] {
        let (status, problem) = call(&rival, method.clone(), &path, body).await;
        assert_eq!(status, 404, "{method} {path} → {problem}");
    }
    let (status, r) = transfer(
        &rival,
        id,
        "k2",
        json!({"amount": "1", "counterparty": address(5)}),
    )
    .await;
    assert_eq!(status, 404, "{r}");
    for path in [
        "/v1/accounts",
        "/v1/transfers",
        "/v1/sessions",
        "/v1/events",
    ] {
        let (status, list) = call(&rival, Method::GET, path, None).await;
        assert_eq!(status, 200);
        assert_eq!(list["data"], json!([]), "{path}");
    }
    // Nothing changed for the owner.
    let (_, still) = call(
        &s.operator,
        Method::GET,
        &format!("/v1/transfers/{txn}"),
        None,
    )
    .await;
    assert_eq!(still["status"], "pending_approval");
    let (_, policy) = call(
        &s.operator,
        Method::GET,
        &format!("/v1/accounts/{id}/policy"),
        None,
    )
    .await;
    assert_eq!(policy["paused"], false);
}

pub async fn audit_log_refuses_update_and_delete(backend: Backend) {
    let s = OpStack::spawn(backend).await;
    s.custodial("audited", json!({})).await;
    let actor = mppsol_store::operator::Actor {
        operator_id: s.operator_id.clone(),
        key_id: "test".into(),
    };
    let entries = s.state.store().list_audit(&actor).await.unwrap();
    let actions: Vec<&str> = entries.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        ["operator.create", "api_key.create", "account.create"]
    );
    for sql in ["UPDATE audit_log SET action = 'x'", "DELETE FROM audit_log"] {
        let result = match backend {
            Backend::Sqlite => {
                let mut c = sqlx::SqliteConnection::connect(&format!("sqlite://{}", s.location))
                    .await
                    .unwrap();
                sqlx::query(sql).execute(&mut c).await.map(|_| ())
            }
            Backend::Postgres => {
                let mut c = sqlx::PgConnection::connect(&s.location).await.unwrap();
                sqlx::query(sql).execute(&mut c).await.map(|_| ())
            }
        };
        let err = result.expect_err(sql).to_string();
        assert!(err.contains("append-only"), "{sql}: {err}");
    }
    assert_eq!(s.state.store().list_audit(&actor).await.unwrap(), entries);
}
