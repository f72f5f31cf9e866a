//! Transfers: idempotency, each policy rule, escalation and approval, listing, receipts.

use mppsol_e2e::Backend;
use mppsol_store::operator::{Actor, EventType};
use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::{OpStack, address, call, transfer};

fn actor(s: &OpStack) -> Actor {
    Actor {
        operator_id: s.operator_id.clone(),
        key_id: "test".into(),
    }
}

/// What the account has counted today.
async fn spent(s: &OpStack, account_id: &str) -> u64 {
    s.state
        .store()
        .spent_on_day(&actor(s), account_id, s.state.now())
        .await
        .unwrap()
}

pub async fn same_key_same_body_replays_and_other_body_conflicts(backend: Backend) {
    let s = OpStack::spawn(backend).await;
    let a = s.custodial("idem", json!({})).await;
    let id = a["id"].as_str().unwrap();
    let body = json!({"amount": "1500", "counterparty": address(7), "memo": "invoice 1"});
    let (status, first) = transfer(&s.operator, id, "key-1", body.clone()).await;
    assert_eq!(status, 201, "{first}");
    assert_eq!(first["status"], "pending");
    assert_eq!(first["amount"], "1500");
    assert_eq!(first["kind"], "transfer");
    assert!(first["id"].as_str().unwrap().starts_with("txn_"));

    let (status, again) = transfer(&s.operator, id, "key-1", body).await;
    assert_eq!(status, 200);
    assert_eq!(again, first);

    let (status, problem) = transfer(
        &s.operator,
        id,
        "key-1",
        json!({"amount": "1501", "counterparty": address(7), "memo": "invoice 1"}),
    )
    .await;
    assert_eq!(status, 409, "{problem}");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains(first["id"].as_str().unwrap())
    );

    let (status, _) = call(
        &s.operator,
        Method::POST,
        &format!("/v1/accounts/{id}/transfers"),
        Some(json!({"amount": "1", "counterparty": address(7)})),
    )
    .await;
    assert_eq!(status, 400, "the Idempotency-Key header is required");

    let ghost = json!({"amount": "1", "counterparty": address(7), "session_id": "sess_nope"});
    let (status, problem) = transfer(&s.operator, id, "key-2", ghost).await;
    assert_eq!(status, 404, "{problem}");
    assert!(problem["detail"].as_str().unwrap().contains("sess_nope"));

    // Counted once, with one outbox job written with it.
    let store = s.state.store();
    assert_eq!(spent(&s, id).await, 1500);
    let job = store
        .outbox_job(first["id"].as_str().unwrap())
        .await
        .unwrap()
        .expect("outbox job");
    assert_eq!(job.kind, "settle_transfer");
    assert_eq!(job.status, "pending");
    let (status, list) = call(&s.operator, Method::GET, "/v1/transfers", None).await;
    assert_eq!(status, 200);
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
}

async fn violation(s: &OpStack, account: &str, key: &str, body: Value) -> String {
    let (status, problem) = transfer(&s.operator, account, key, body).await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(problem["type"], "urn:mppsol:problem:policy-violation");
    assert!(problem["transfer_id"].as_str().unwrap().starts_with("txn_"));
    let rule = problem["rule"].as_str().unwrap().to_owned();
    assert!(
        problem["detail"].as_str().unwrap().contains(&rule),
        "{problem}"
    );
    rule
}

pub async fn each_policy_violation_is_refused_with_its_rule_and_an_event(backend: Backend) {
    let s = OpStack::spawn(backend).await;
    let allowed = address(3);
    let a = s
        .custodial(
            "strict",
            json!({
                "max_single_transfer": "1000", "max_daily_spend": "1500",
                "allowed_counterparties": [allowed], "categories": ["api"], "require_memo": true
            }),
        )
        .await;
    let id = a["id"].as_str().unwrap();
    let ok = |amount: &str| json!({"amount": amount, "counterparty": allowed, "memo": "m", "category": "api"});
    let mut rules = Vec::new();
    rules.push(violation(&s, id, "k1", ok("1001")).await);
    rules.push(
        violation(
            &s,
            id,
            "k2",
            json!({"amount": "10", "counterparty": address(4), "memo": "m", "category": "api"}),
        )
        .await,
    );
    rules.push(
        violation(
            &s,
            id,
            "k3",
            json!({"amount": "10", "counterparty": allowed, "category": "api"}),
        )
        .await,
    );
    rules.push(
        violation(
            &s,
            id,
            "k4",
            json!({"amount": "10", "counterparty": allowed, "memo": "m", "category": "ads"}),
        )
        .await,
    );
    let (status, t) = transfer(&s.operator, id, "k5", ok("800")).await;
    assert_eq!(status, 201, "{t}");
    rules.push(violation(&s, id, "k6", ok("800")).await);
    // A refused retry is still refused, with the same transfer.
    let (status, again) = transfer(&s.operator, id, "k6", ok("800")).await;
    assert_eq!(
        (status, again["rule"].as_str()),
        (422, Some("max_daily_spend"))
    );
    let path = format!("/v1/accounts/{id}/policy");
    let (status, _) = call(
        &s.operator,
        Method::PUT,
        &path,
        Some(json!({"paused": true})),
    )
    .await;
    assert_eq!(status, 200);
    rules.push(violation(&s, id, "k7", ok("1")).await);
    // Pausing the account itself refuses the same way, and resuming lifts it.
    let (status, _) = call(&s.operator, Method::PUT, &path, Some(json!({}))).await;
    assert_eq!(status, 200);
    let account_path = format!("/v1/accounts/{id}");
    let paused = json!({"status": "paused"});
    let (status, got) = call(&s.operator, Method::PATCH, &account_path, Some(paused)).await;
    assert_eq!(
        (status, got["status"].as_str()),
        (200, Some("paused")),
        "{got}"
    );
    let any = json!({"amount": "1", "counterparty": address(4)});
    rules.push(violation(&s, id, "k8", any.clone()).await);
    let active = json!({"status": "active"});
    let (status, _) = call(&s.operator, Method::PATCH, &account_path, Some(active)).await;
    assert_eq!(status, 200);
    let (status, t) = transfer(&s.operator, id, "k9", any).await;
    assert_eq!(status, 201, "{t}");
    assert_eq!(
        rules,
        [
            "max_single_transfer",
            "counterparty",
            "require_memo",
            "category",
            "max_daily_spend",
            "paused",
            "paused"
        ]
    );

    // One policy.violation event per refusal, naming the rule; nothing counted for them.
    let (status, events) = call(
        &s.operator,
        Method::GET,
        "/v1/events?type=policy.violation",
        None,
    )
    .await;
    assert_eq!(status, 200);
    let event_rules: Vec<&str> = events["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            assert!(e["id"].as_str().unwrap().starts_with("evt_"));
            e["payload"]["rule"].as_str().unwrap()
        })
        .collect();
    assert_eq!(event_rules, rules);
    let store = s.state.store();
    let stored = store
        .list_events(&actor(&s), Some(EventType::PolicyViolation))
        .await
        .unwrap();
    assert_eq!(stored.len(), 7);
    assert_eq!(spent(&s, id).await, 801);
    let (_, rejected) = call(
        &s.operator,
        Method::GET,
        "/v1/transfers?status=rejected",
        None,
    )
    .await;
    assert_eq!(rejected["data"].as_array().unwrap().len(), 7);
}

pub async fn above_threshold_waits_for_approval_then_settles_or_is_rejected(backend: Backend) {
    let s = OpStack::spawn(backend).await;
    let a = s
        .custodial(
            "big",
            json!({"escalation_threshold": "500", "max_daily_spend": "1000"}),
        )
        .await;
    let id = a["id"].as_str().unwrap();
    let agent = s.agent_key(id).await;
    let body = |n: &str| json!({"amount": n, "counterparty": address(8)});
    let (status, t) = transfer(&agent, id, "big-1", body("700")).await;
    assert_eq!(status, 202, "{t}");
    assert_eq!(t["status"], "pending_approval");
    let txn = t["id"].as_str().unwrap().to_owned();
    // A second one waits too: nothing is counted while transfers wait.
    let (status, second) = transfer(&agent, id, "big-2", body("600")).await;
    assert_eq!(status, 202, "{second}");
    let store = s.state.store();
    assert_eq!(
        store.outbox_job(&txn).await.unwrap(),
        None,
        "no settlement before approval"
    );
    assert_eq!(spent(&s, id).await, 0);
    let (_, events) = call(
        &s.operator,
        Method::GET,
        "/v1/events?type=transfer.pending_approval",
        None,
    )
    .await;
    assert_eq!(events["data"][0]["subject_id"], txn.as_str());

    // Agents cannot approve.
    let (status, _) = call(
        &agent,
        Method::POST,
        &format!("/v1/transfers/{txn}/approve"),
        None,
    )
    .await;
    assert_eq!(status, 403);
    let (status, approved) = call(
        &s.operator,
        Method::POST,
        &format!("/v1/transfers/{txn}/approve"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{approved}");
    assert_eq!(approved["status"], "pending");
    assert_eq!(
        store.outbox_job(&txn).await.unwrap().unwrap().kind,
        "settle_transfer"
    );
    assert_eq!(spent(&s, id).await, 700);
    let (status, _) = call(
        &s.operator,
        Method::POST,
        &format!("/v1/transfers/{txn}/approve"),
        None,
    )
    .await;
    assert_eq!(status, 409, "approved once only");

    // Approval re-checks the daily limit: 700 + 600 > 1000.
    let second_id = second["id"].as_str().unwrap();
    let (status, problem) = call(
        &s.operator,
        Method::POST,
        &format!("/v1/transfers/{second_id}/approve"),
        None,
    )
    .await;
    assert_eq!(
        (status, problem["rule"].as_str()),
        (422, Some("max_daily_spend")),
        "{problem}"
    );
    let (status, rejected) = call(
        &s.operator,
        Method::POST,
        &format!("/v1/transfers/{second_id}/reject"),
        Some(json!({"reason": "not this month"})),
    )
    .await;
    assert_eq!(status, 200, "{rejected}");
    assert_eq!(rejected["status"], "rejected");
    assert_eq!(rejected["rejection_rule"], "operator");
    assert_eq!(rejected["rejection_reason"], "not this month");
    let (status, _) = call(
        &s.operator,
        Method::POST,
        &format!("/v1/transfers/{second_id}/reject"),
        Some(json!({"reason": "again"})),
    )
    .await;
    assert_eq!(status, 409);
    assert_eq!(spent(&s, id).await, 700);
}

pub async fn transfers_list_with_filters_and_cursor(backend: Backend) {
    let s = OpStack::spawn(backend).await;
    let a = s
        .custodial("one", json!({"escalation_threshold": "100"}))
        .await;
    let b = s.custodial("two", json!({})).await;
    let (a, b) = (a["id"].as_str().unwrap(), b["id"].as_str().unwrap());
    for i in 0..5 {
        let amount = if i % 2 == 0 { "50" } else { "150" };
        let (status, _) = transfer(
            &s.operator,
            a,
            &format!("a{i}"),
            json!({"amount": amount, "counterparty": address(9)}),
        )
        .await;
        assert!(status == 201 || status == 202);
    }
    let (status, _) = transfer(
        &s.operator,
        b,
        "b0",
        json!({"amount": "1", "counterparty": address(9)}),
    )
    .await;
    assert_eq!(status, 201);

    let mut seen = Vec::new();
    let mut path = format!("/v1/transfers?account_id={a}&limit=2");
    loop {
        let (status, page) = call(&s.operator, Method::GET, &path, None).await;
        assert_eq!(status, 200, "{page}");
        for t in page["data"].as_array().unwrap() {
            assert_eq!(t["account_id"], a);
            seen.push(t["id"].as_str().unwrap().to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(c) => path = format!("/v1/transfers?account_id={a}&limit=2&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(seen.len(), 5);
    seen.dedup();
    assert_eq!(seen.len(), 5, "no row twice across pages");
    let (_, waiting) = call(
        &s.operator,
        Method::GET,
        "/v1/transfers?status=pending_approval",
        None,
    )
    .await;
    assert_eq!(waiting["data"].as_array().unwrap().len(), 2);
    let (status, problem) = call(&s.operator, Method::GET, "/v1/transfers?status=lost", None).await;
    assert_eq!((status, problem["field"].as_str()), (422, Some("status")));
    let (status, problem) = call(&s.operator, Method::GET, "/v1/transfers?cursor=%%%", None).await;
    assert_eq!((status, problem["field"].as_str()), (422, Some("cursor")));
}

fn receipt(reference: &str) -> String {
    let r = mpp::Receipt::success(
        mpp::MethodName::solana(),
        mpp::Timestamp::parse("2026-11-21T12:00:00Z").unwrap(),
        reference,
    );
    mpp::format_payment_receipt(&r)
}

pub async fn receipts_are_recorded_once_and_fill_sessions(backend: Backend) {
    let s = OpStack::spawn(backend).await;
    let a = s
        .account(json!({"handle": "self", "custody_mode": "non_custodial", "address": address(20)}))
        .await;
    let id = a["id"].as_str().unwrap();
    let agent = s.agent_key(id).await;
    let path = format!("/v1/accounts/{id}/receipts");
    let body = |reference: &str, amount: &str| {
        json!({"receipt": receipt(reference), "amount": amount, "counterparty": address(21),
            "session": {"provider_endpoint": "https://llm.example/v1", "cap": "1000"}})
    };
    let (status, first) = call(&agent, Method::POST, &path, Some(body("sig-1", "400"))).await;
    assert_eq!(status, 201, "{first}");
    assert_eq!(first["status"], "settled");
    assert_eq!(first["kind"], "receipt");
    assert_eq!(first["signature"], "sig-1");
    let (status, again) = call(&agent, Method::POST, &path, Some(body("sig-1", "400"))).await;
    assert_eq!((status, &again), (200, &first));
    let (status, _) = call(&agent, Method::POST, &path, Some(body("sig-1", "401"))).await;
    assert_eq!(status, 409);
    let (status, second) = call(&agent, Method::POST, &path, Some(body("sig-2", "500"))).await;
    assert_eq!(status, 201);
    assert_eq!(second["session_id"], first["session_id"]);
    let (status, over) = call(&agent, Method::POST, &path, Some(body("sig-3", "101"))).await;
    assert_eq!(
        (status, over["field"].as_str()),
        (422, Some("amount")),
        "{over}"
    );

    let (status, sessions) = call(&agent, Method::GET, "/v1/sessions", None).await;
    assert_eq!(status, 200);
    let list = sessions["data"].as_array().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["running_total"], "900");
    assert_eq!(list[0]["cap"], "1000");
    assert_eq!(list[0]["status"], "open");
    assert!(list[0]["id"].as_str().unwrap().starts_with("sess_"));
    let (_, events) = call(&s.operator, Method::GET, "/v1/events", None).await;
    let types: Vec<&str> = events["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        ["session.opened", "transfer.settled", "transfer.settled"]
    );
    let (status, bad) = call(
        &agent,
        Method::POST,
        &path,
        Some(json!({"receipt": "not a receipt", "amount": "1", "counterparty": address(21)})),
    )
    .await;
    assert_eq!((status, bad["field"].as_str()), (422, Some("receipt")));
}

pub async fn concurrent_requests_with_one_key_create_one_transfer(backend: Backend) {
    let s = OpStack::spawn(backend).await;
    let a = s
        .custodial("race", json!({"max_daily_spend": "100000"}))
        .await;
    let id = a["id"].as_str().unwrap().to_owned();
    let body = json!({"amount": "1000", "counterparty": address(30)});
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (api, id, body) = (s.operator.clone(), id.clone(), body.clone());
            tokio::spawn(async move { transfer(&api, &id, "same", body).await })
        })
        .collect();
    let mut statuses = Vec::new();
    let mut ids = Vec::new();
    for t in tasks {
        let (status, v) = t.await.unwrap();
        statuses.push(status);
        ids.push(v["id"].as_str().unwrap().to_owned());
    }
    statuses.sort();
    assert_eq!(statuses, [200, 200, 200, 200, 200, 200, 200, 201]);
    ids.dedup();
    assert_eq!(ids.len(), 1);
    assert_eq!(spent(&s, &id).await, 1000);
}
