//! Access control over plain HTTP: no session, no page; no CSRF token, no action; one
//! operator never sees another's data; user content is escaped everywhere it is shown.

use mppsol_e2e::Backend;
use mppsol_operator::bootstrap_operator;
use mppsol_store::operator::{Actor, KeyRole};
use reqwest::Method;
use reqwest::header::COOKIE;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::harness::{OpStack, address, call, transfer};
use crate::web::{Web, client, read};

const PAGES: [&str; 8] = [
    "/dashboard",
    "/dashboard/accounts",
    "/dashboard/accounts/acct_x",
    "/dashboard/transfers",
    "/dashboard/transfers.csv",
    "/dashboard/approvals",
    "/dashboard/sessions",
    "/dashboard/webhooks",
];

const ACTIONS: [&str; 5] = [
    "/dashboard/accounts",
    "/dashboard/accounts/acct_x/policy",
    "/dashboard/transfers/txn_x/approve",
    "/dashboard/sessions/sess_x/close",
    "/dashboard/sign-out",
];

pub async fn pages_refuse_access_without_a_session(backend: Backend) {
    let s = OpStack::spawn(backend).await;
    let http = client();
    for cookie in [None, Some("mppsol_dashboard=forged-token")] {
        for page in PAGES {
            let mut r = http.get(format!("{}{page}", s.base_url));
            if let Some(c) = cookie {
                r = r.header(COOKIE, c);
            }
            let (status, body, location) = read(r.send().await.unwrap()).await;
            assert_eq!(
                (status, location.as_str()),
                (303, "/dashboard/sign-in"),
                "{page} with {cookie:?}: {body}"
            );
        }
        for action in ACTIONS {
            let mut r = http
                .post(format!("{}{action}", s.base_url))
                .form(&[("csrf", "x"), ("handle", "sneaky")]);
            if let Some(c) = cookie {
                r = r.header(COOKIE, c);
            }
            let (status, _, _) = read(r.send().await.unwrap()).await;
            assert_eq!(status, 401, "{action} with {cookie:?}");
        }
    }
    let (status, _, location) =
        read(http.get(format!("{}/", s.base_url)).send().await.unwrap()).await;
    assert_eq!((status, location.as_str()), (303, "/dashboard"));

    // A wrong secret, a revoked key and an agent key do not sign in.
    let sign_in = |id: String, secret: String| {
        let http = http.clone();
        let url = format!("{}/dashboard/sign-in", s.base_url);
        async move {
            read(
                http.post(url)
                    .form(&[("key_id", id), ("secret", secret)])
                    .send()
                    .await
                    .unwrap(),
            )
            .await
        }
    };
    let (status, body, _) = sign_in(s.operator_key.key.id.clone(), "mppsol_sk_wrong".into()).await;
    assert_eq!(status, 401);
    assert!(body.contains("do not match an active key"), "{body}");
    let a = s.custodial("agent-owner", json!({})).await;
    let system = Actor {
        operator_id: s.operator_id.clone(),
        key_id: "system".into(),
    };
    let agent = mppsol_operator::bootstrap::issue_key(
        &s.state,
        &system,
        KeyRole::Agent,
        Some(a["id"].as_str().unwrap().to_owned()),
    )
    .await
    .unwrap();
    let (status, body, _) = sign_in(agent.key.id.clone(), agent.secret.clone()).await;
    assert_eq!(status, 401);
    assert!(body.contains("Agent keys cannot sign in"), "{body}");

    // The cookie is strict, and only its hash is stored.
    let web = Web::sign_in(&s.base_url, &s.operator_key).await;
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(web.set_cookie.contains(attribute), "{}", web.set_cookie);
    }
    assert!(!web.set_cookie.contains("Secure"), "plain HTTP here");
    let token = web.cookie.split_once('=').unwrap().1.to_owned();
    let now = s.state.now();
    assert!(
        s.state
            .store()
            .dashboard_session(&token, now)
            .await
            .unwrap()
            .is_none()
    );
    let hash = hex_of(&Sha256::digest(token.as_bytes()));
    assert!(
        s.state
            .store()
            .dashboard_session(&hash, now)
            .await
            .unwrap()
            .is_some()
    );
    // Signing out (with the token) ends it.
    let (status, _, location) = web.post("/dashboard/sign-out", &[]).await;
    assert_eq!((status, location.as_str()), (303, "/dashboard/sign-in"));
    let (status, _, _) = web.get("/dashboard").await;
    assert_eq!(status, 303, "the old cookie no longer works");

    // Revoking the key ends its sessions too.
    let web = Web::sign_in(&s.base_url, &s.operator_key).await;
    let (status, _) = call(
        &s.operator,
        Method::DELETE,
        &format!("/v1/api-keys/{}", s.operator_key.key.id),
        None,
    )
    .await;
    assert_eq!(status, 200);
    let (status, _, _) = web.get("/dashboard/accounts").await;
    assert_eq!(status, 303);
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub async fn a_post_without_the_csrf_token_is_refused(backend: Backend) {
    let s = OpStack::spawn(backend).await;
    let web = Web::sign_in(&s.base_url, &s.operator_key).await;
    let form = [("handle", "forged"), ("custody_mode", "custodial")];
    let (status, body, _) = web.post_raw("/dashboard/accounts", &form).await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("security token"), "{body}");
    let mut wrong = form.to_vec();
    wrong.push(("csrf", "not-the-token"));
    let (status, _, _) = web.post_raw("/dashboard/accounts", &wrong).await;
    assert_eq!(status, 403);
    let (_, list) = call(&s.operator, Method::GET, "/v1/accounts", None).await;
    assert_eq!(list["data"], json!([]), "nothing was created");
    // Another session's token is not this session's.
    let other = Web::sign_in(&s.base_url, &s.operator_key).await;
    assert_ne!(other.csrf, web.csrf);
    let mut theirs = form.to_vec();
    theirs.push(("csrf", &other.csrf));
    let (status, _, _) = web.post_raw("/dashboard/accounts", &theirs).await;
    assert_eq!(status, 403);
    // With the token it works.
    let (status, body, location) = web.post("/dashboard/accounts", &form).await;
    assert_eq!(status, 303, "{body}");
    assert!(
        location.starts_with("/dashboard/accounts/acct_"),
        "{location}"
    );
}

pub async fn operators_never_see_each_others_data(backend: Backend) {
    let s = OpStack::spawn(backend).await;
    // The first operator: an account, a rejected and a waiting transfer, a session, a
    // webhook with a delivery.
    let a = s
        .account(
            json!({"handle": "secret-project", "custody_mode": "non_custodial",
            "address": address(30), "policy": {"escalation_threshold": "10"}}),
        )
        .await;
    let _ = a;
    let c = s
        .custodial("hidden-agent", json!({"escalation_threshold": "10"}))
        .await;
    let cid = c["id"].as_str().unwrap().to_owned();
    let (status, waiting) = transfer(
        &s.operator,
        &cid,
        "k1",
        json!({"amount": "500", "counterparty": address(31), "memo": "classified memo"}),
    )
    .await;
    assert_eq!(status, 202, "{waiting}");
    let txn = waiting["id"].as_str().unwrap().to_owned();
    let aid = a["id"].as_str().unwrap().to_owned();
    let agent = s.agent_key(&aid).await;
    let (status, r) = call(
        &agent,
        Method::POST,
        &format!("/v1/accounts/{aid}/receipts"),
        Some(
            json!({"receipt": crate::receipt("sig-secret"), "amount": "5",
            "counterparty": address(32),
            "session": {"provider_endpoint": "https://hidden.example/v1", "cap": "100"}}),
        ),
    )
    .await;
    assert_eq!(status, 201, "{r}");
    let sess = r["session_id"].as_str().unwrap().to_owned();
    let (status, hook) = call(
        &s.operator,
        Method::POST,
        "/v1/webhooks",
        Some(json!({"url": "http://127.0.0.1:9/hidden-hook"})),
    )
    .await;
    assert_eq!(status, 201, "{hook}");
    let whk = hook["webhook"]["id"]
        .as_str()
        .or(hook["id"].as_str())
        .unwrap()
        .to_owned();
    // An event after the endpoint exists, fanned out into a delivery.
    let (status, _) = transfer(
        &s.operator,
        &cid,
        "k2",
        json!({"amount": "600", "counterparty": address(31)}),
    )
    .await;
    assert_eq!(status, 202);
    s.state
        .store()
        .fan_out_events(100, s.state.now())
        .await
        .unwrap();
    let first = Web::sign_in(&s.base_url, &s.operator_key).await;
    let (_, log, _) = first.get(&format!("/dashboard/webhooks/{whk}")).await;
    let delivery = log
        .split("/dashboard/deliveries/")
        .nth(1)
        .and_then(|r| r.split('/').next())
        .expect("the owner sees a delivery")
        .to_owned();

    // The rival signs in and looks everywhere.
    let (_, rival_key) = bootstrap_operator(&s.state, "rival").await.unwrap();
    let rival = Web::sign_in(&s.base_url, &rival_key).await;
    let secrets = [
        "secret-project",
        "hidden-agent",
        cid.as_str(),
        aid.as_str(),
        txn.as_str(),
        sess.as_str(),
        whk.as_str(),
        "classified memo",
        "hidden.example",
        "hidden-hook",
    ];
    for page in [
        "/dashboard",
        "/dashboard/accounts",
        "/dashboard/accounts?q=secret",
        "/dashboard/transfers",
        "/dashboard/transfers.csv",
        "/dashboard/approvals",
        "/dashboard/sessions",
        "/dashboard/webhooks",
    ] {
        let (status, body, _) = rival.get(page).await;
        assert_eq!(status, 200, "{page}");
        for secret in secrets {
            assert!(!body.contains(secret), "{page} shows {secret}");
        }
    }
    let (_, overview, _) = rival.get("/dashboard").await;
    assert!(overview.contains("Awaiting approval"));
    for page in [
        format!("/dashboard/accounts/{cid}"),
        format!("/dashboard/transfers/{txn}"),
        format!("/dashboard/webhooks/{whk}"),
    ] {
        let (status, body, _) = rival.get(&page).await;
        assert_eq!(status, 404, "{page}: {body}");
        for secret in secrets.iter().filter(|s| !page.contains(*s)) {
            assert!(!body.contains(secret), "{page} shows {secret}");
        }
    }
    for (action, form) in [
        (
            format!("/dashboard/accounts/{cid}/policy"),
            vec![("max_single_transfer", "1")],
        ),
        (
            format!("/dashboard/accounts/{cid}/status"),
            vec![("status", "paused")],
        ),
        (format!("/dashboard/transfers/{txn}/approve"), vec![]),
        (
            format!("/dashboard/transfers/{txn}/reject"),
            vec![("reason", "mine now")],
        ),
        (format!("/dashboard/sessions/{sess}/close"), vec![]),
        (
            format!("/dashboard/deliveries/{delivery}/redeliver"),
            vec![],
        ),
    ] {
        let (status, _, _) = rival.post(&action, &form).await;
        assert_eq!(status, 404, "{action}");
    }
    // Nothing of the owner's changed.
    let (_, t) = call(
        &s.operator,
        Method::GET,
        &format!("/v1/transfers/{txn}"),
        None,
    )
    .await;
    assert_eq!(t["status"], "pending_approval");
    let (_, acct) = call(
        &s.operator,
        Method::GET,
        &format!("/v1/accounts/{cid}"),
        None,
    )
    .await;
    assert_eq!(acct["status"], "active");
}

pub async fn user_content_is_escaped(backend: Backend) {
    let s = OpStack::spawn(backend).await;
    let evil = "<script>alert(1)</script>\"'";
    let a = s
        .account(json!({"handle": "plain", "custody_mode": "non_custodial",
            "address": address(40), "policy": {"escalation_threshold": "10"}}))
        .await;
    let aid = a["id"].as_str().unwrap().to_owned();
    let c = s
        .custodial("custodian", json!({"escalation_threshold": "10"}))
        .await;
    let cid = c["id"].as_str().unwrap().to_owned();
    let (status, t) = transfer(
        &s.operator,
        &cid,
        "k1",
        json!({"amount": "500", "counterparty": address(41), "memo": evil}),
    )
    .await;
    assert_eq!(status, 202, "{t}");
    let txn = t["id"].as_str().unwrap().to_owned();
    let agent = s.agent_key(&aid).await;
    let (status, r) = call(
        &agent,
        Method::POST,
        &format!("/v1/accounts/{aid}/receipts"),
        Some(json!({"receipt": crate::receipt("sig-x"), "amount": "5",
            "counterparty": address(42),
            "session": {"provider_endpoint": format!("https://p.example/{evil}"), "cap": "100"}})),
    )
    .await;
    assert_eq!(status, 201, "{r}");

    let web = Web::sign_in(&s.base_url, &s.operator_key).await;
    // Named or numeric entities (askama writes `&#60;`): read both the same way.
    let escaped = "&lt;script&gt;alert(1)&lt;/script&gt;";
    let norm = |body: String| body.replace("&#60;", "&lt;").replace("&#62;", "&gt;");
    let check = |page: &str, body: &str| {
        assert!(
            !body.contains("<script>alert(1)"),
            "{page} does not escape: {body}"
        );
        assert!(!body.contains("alert(1)</script>\""), "{page}");
    };
    for page in [
        "/dashboard/transfers".to_owned(),
        format!("/dashboard/transfers/{txn}"),
        "/dashboard/approvals".to_owned(),
        format!("/dashboard/accounts/{cid}"),
        "/dashboard/sessions".to_owned(),
    ] {
        let (status, body, _) = web.get(&page).await;
        let body = norm(body);
        assert_eq!(status, 200, "{page}");
        let at = body.find("alert(1)").unwrap_or(0).saturating_sub(40);
        assert!(
            body.contains(escaped),
            "{page} shows the content, escaped: {}",
            &body[at..(at + 120).min(body.len())]
        );
        check(&page, &body);
    }
    // Reflected input: a search, a typed key id, a policy field, a rejection reason.
    let (_, body, _) = web
        .get("/dashboard/accounts?q=%3Cscript%3Ealert(1)%3C%2Fscript%3E%22")
        .await;
    let body = norm(body);
    assert!(body.contains(escaped));
    check("search", &body);
    let (status, body, _) = read(
        client()
            .post(format!("{}/dashboard/sign-in", s.base_url))
            .form(&[("key_id", evil), ("secret", "x")])
            .send()
            .await
            .unwrap(),
    )
    .await;
    let body = norm(body);
    assert_eq!(status, 401);
    assert!(body.contains(escaped));
    check("sign-in", &body);
    let (status, body, _) = web
        .post(
            &format!("/dashboard/accounts/{cid}/policy"),
            &[("max_daily_spend", evil)],
        )
        .await;
    let body = norm(body);
    assert_eq!(status, 422);
    assert!(body.contains(escaped));
    check("policy form", &body);
    let (status, _, _) = web
        .post(
            &format!("/dashboard/transfers/{txn}/reject"),
            &[("reason", evil)],
        )
        .await;
    assert_eq!(status, 303);
    let (_, body, _) = web.get(&format!("/dashboard/transfers/{txn}")).await;
    let body = norm(body);
    assert!(body.contains("rejected"));
    assert!(
        body.contains(&format!("<dd class=\"reason\">{escaped}&#34;&#39;</dd>")),
        "the reason, quotes included, is escaped"
    );
    check("rejected transfer", &body);
    // The CSV carries it as data, quoted.
    let (_, csv, _) = web.get("/dashboard/transfers.csv").await;
    assert!(csv.contains("\"<script>alert(1)</script>\"\"'\""), "{csv}");
}
