//! The dashboard's transfers page with 100,000 transfers in PostgreSQL: server time (the
//! `Server-Timing` header the dashboard sets: handler, queries and rendering) of the first
//! page, a filtered page and a deep keyset page, medians of N requests over loopback HTTP.
//!
//! ```sh
//! cargo bench -p mppsol-e2e --bench dashboard            # ROWS=100000 N=50
//! ROWS=200000 N=100 cargo bench -p mppsol-e2e --bench dashboard
//! ```
//!
//! The rows are inserted by one `INSERT … SELECT generate_series` (spread over 40 accounts, 7
//! counterparties, 30 days and all statuses but `rejected`), then `ANALYZE`d. It fails (exit
//! code 1) if a median is above the 200 ms budget.

// A benchmark binary: a failed setup step ends it.
#![allow(clippy::expect_used, clippy::unwrap_used, missing_docs)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use mpp::SystemClock;
use mppsol_e2e::PgDb;
use mppsol_ledger::embedded::{EmbeddedConfig, EmbeddedLedger};
use mppsol_operator::{AppState, MasterKey, OperatorConfig, bootstrap_operator};
use mppsol_solana::network::Network;
use mppsol_store::operator::{Actor, NewAccount, Policy};
use solana_signer::Signer as _;
use sqlx::Connection as _;

// The dashboard tests' signed-in HTTP session.
#[allow(dead_code)]
#[path = "../dashboard/web.rs"]
mod web;

/// The budget the issue sets for the transfers page.
const BUDGET_MS: f64 = 200.0;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let ok = rt.block_on(run());
    if !ok {
        std::process::exit(1);
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn p95(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[(v.len() * 95 / 100).min(v.len() - 1)]
}

async fn run() -> bool {
    let rows = env("ROWS", 100_000);
    let n = env("N", 50).max(1);
    let db = PgDb::create().await;
    let store = mppsol_store::open_operator_store(&db.url).await.unwrap();
    let ledger = EmbeddedLedger::new(EmbeddedConfig::default())
        .await
        .unwrap();
    let state = AppState::new(OperatorConfig {
        store: Arc::clone(&store),
        ledger: Arc::new(ledger),
        network: Network::Localnet,
        master_key: MasterKey::from_bytes(&[9; 32]),
        clock: Arc::new(SystemClock),
    });
    let (operator, key) = bootstrap_operator(&state, "bench").await.unwrap();
    let actor = Actor {
        operator_id: operator.id.clone(),
        key_id: key.key.id.clone(),
    };
    let mut accounts = Vec::new();
    for i in 0..40 {
        let a = store
            .create_account(
                &actor,
                &NewAccount {
                    operator_id: operator.id.clone(),
                    handle: format!("agent-{i:02}"),
                    address: mppsol_e2e::key(i + 1).pubkey().to_string(),
                    currency: "sol".into(),
                    token_account: None,
                    sealed_key: None,
                },
                &Policy::default(),
                0,
            )
            .await
            .unwrap();
        accounts.push(a.id);
    }
    let counterparties: Vec<String> = (100..107)
        .map(|i| mppsol_e2e::key(i).pubkey().to_string())
        .collect();
    let now = state.now();
    // Newest at `now`, one every 26 s: 100,000 rows span 30 days.
    let started = Instant::now();
    let mut c = sqlx::PgConnection::connect(&db.url).await.unwrap();
    sqlx::query(
        "INSERT INTO transfers (id, account_id, kind, amount, currency, counterparty, memo, \
             category, session_id, idempotency_key, request_hash, signature, status, \
             rejection_rule, rejection_reason, counted_day, signed_at, created_at, updated_at, \
             settled_at) \
         SELECT 'txn_bench_' || lpad(g::text, 8, '0'), \
             ($1::text[])[1 + g % array_length($1::text[], 1)], 'transfer', 1000 + g % 50000, \
             'sol', ($2::text[])[1 + g % array_length($2::text[], 1)], 'bench ' || g, NULL, \
             NULL, 'bench-' || g, decode(md5(g::text) || md5(g::text), 'hex'), \
             CASE WHEN g % 10 < 7 THEN 'sig_bench_' || g END, \
             CASE WHEN g % 10 < 7 THEN 'settled' WHEN g % 10 = 7 THEN 'pending' \
                  WHEN g % 10 = 8 THEN 'pending_approval' ELSE 'failed' END, \
             NULL, NULL, NULL, NULL, $3 - g * 26, $3 - g * 26, \
             CASE WHEN g % 10 < 7 THEN $3 - g * 26 END \
         FROM generate_series(1, $4::bigint) g",
    )
    .bind(&accounts)
    .bind(&counterparties)
    .bind(now)
    .bind(i64::try_from(rows).unwrap())
    .execute(&mut c)
    .await
    .unwrap();
    sqlx::query("ANALYZE transfers")
        .execute(&mut c)
        .await
        .unwrap();
    let inserted = started.elapsed();
    // The row 90% of the way down, as a cursor (OFFSET only here, in the setup).
    let deep_offset = i64::try_from(rows * 9 / 10).unwrap();
    let (at, id): (i64, String) = sqlx::query_as(
        "SELECT created_at, id FROM transfers ORDER BY created_at DESC, id DESC OFFSET $1 LIMIT 1",
    )
    .bind(deep_offset)
    .fetch_one(&mut c)
    .await
    .unwrap();
    let cursor = URL_SAFE_NO_PAD.encode(format!("{at}:{id}"));

    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = mppsol_operator::router(state.clone());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let web = web::Web::sign_in(&base, &key).await;
    let (http, cookie) = (web.http.clone(), web.cookie.clone());

    let day = |secs: i64| mppsol_store::operator::utc_day(secs);
    let filtered = format!(
        "/dashboard/transfers?status=failed&account={}&counterparty={}&from={}&to={}",
        // Failed rows are g % 10 == 9, so of accounts[g % 40] with g % 40 in {9, 19, 29, 39}.
        accounts[9],
        counterparties[2],
        day(now - 20 * 86_400),
        day(now - 5 * 86_400)
    );
    let pages = [
        ("first page", "/dashboard/transfers".to_owned()),
        ("filtered page", filtered),
        (
            "deep keyset page (90%)",
            format!("/dashboard/transfers?cursor={cursor}"),
        ),
        ("overview", "/dashboard".to_owned()),
    ];
    println!(
        "dashboard bench: {rows} transfers inserted in {:.1} s; {n} requests per page",
        inserted.as_secs_f64()
    );
    println!(
        "{:<26} {:>12} {:>12} {:>12} {:>6}",
        "page", "server p50", "server p95", "client p50", "rows"
    );
    let mut ok = true;
    for (name, path) in pages {
        let (mut server, mut client, mut shown) = (Vec::new(), Vec::new(), 0usize);
        for i in 0..=n {
            let t = Instant::now();
            let r = http
                .get(format!("{base}{path}"))
                .header("cookie", &cookie)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status().as_u16(), 200, "{path}");
            let timing = r.headers()["server-timing"].to_str().unwrap().to_owned();
            let body = r.text().await.unwrap();
            let elapsed = t.elapsed();
            shown = body.matches("<tr>").count().saturating_sub(1);
            // The first request warms the connection pool and statement cache.
            if i == 0 {
                continue;
            }
            let ms: f64 = timing
                .strip_prefix("app;dur=")
                .and_then(|v| v.parse().ok())
                .unwrap();
            server.push(ms);
            client.push(elapsed.as_secs_f64() * 1000.0);
        }
        let (p50, p95v, c50) = (median(server.clone()), p95(server), median(client));
        println!("{name:<26} {p50:>9.2} ms {p95v:>9.2} ms {c50:>9.2} ms {shown:>6}");
        if name != "overview" && p50 > BUDGET_MS {
            println!("  over the {BUDGET_MS} ms budget");
            ok = false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    ok
}
