//! Opening, reopening and backend selection.

use std::sync::Arc;
use std::time::Duration;

use mppsol_store::{
    ConsumeOutcome, PaymentRecord, PgOptions, PgStore, Reservation, SpendOutcome, SqliteStore,
    Store, StoreError, open_store,
};
use sqlx::Row;
use tokio::task::JoinSet;

use crate::harness::{TestDb, within_limit};

const DIGEST: [u8; 32] = [7; 32];

fn payment() -> PaymentRecord {
    PaymentRecord {
        challenge_id: "ch_keep".into(),
        role: "client".into(),
        method: "solana".into(),
        intent: "charge".into(),
        reference: "sig_keep".into(),
        amount: 42,
        currency: "sol".into(),
        recipient: "recipient".into(),
        payer: Some("payer".into()),
        realm: "https://api.example.com/x".into(),
        receipt: "receipt".into(),
        created_at: 1_700_000_000,
    }
}

async fn write_some_state(store: &dyn Store) {
    store
        .reserve_challenge("ch_keep", &DIGEST, 2_000_000_000)
        .await
        .unwrap();
    store
        .complete_challenge("ch_keep", &DIGEST, "receipt")
        .await
        .unwrap();
    store.consume_proof("sig_keep", "ch_keep").await.unwrap();
    store.record_payment(&payment()).await.unwrap();
    store
        .add_spend("agent", "2025-01-01", 42, 100)
        .await
        .unwrap();
}

async fn assert_state_is_there(store: &dyn Store) {
    assert_eq!(
        store
            .reserve_challenge("ch_keep", &DIGEST, 2_000_000_000)
            .await
            .unwrap(),
        Reservation::Completed {
            receipt: "receipt".into()
        }
    );
    assert_eq!(
        store.consume_proof("sig_keep", "ch_new").await.unwrap(),
        ConsumeOutcome::AlreadyConsumed {
            challenge_id: "ch_keep".into()
        }
    );
    assert_eq!(store.list_payments(5).await.unwrap(), vec![payment()]);
    assert_eq!(
        store
            .add_spend("agent", "2025-01-01", 0, 100)
            .await
            .unwrap(),
        SpendOutcome::Accepted { total: 42 }
    );
}

/// Generic: a new pool on the same database sees everything the first one wrote.
pub async fn data_survives_reopening(db: &TestDb) {
    let first = db.open().await;
    write_some_state(&*first).await;
    drop(first);
    let second = db.open().await;
    assert_state_is_there(&*second).await;
    // Reopening also re-runs the (already applied) migrations without complaint.
    let third = db.open().await;
    assert_state_is_there(&*third).await;
}

#[tokio::test]
async fn sqlite_file_keeps_data_after_close_and_reopen() {
    within_limit(async {
        let db = TestDb::sqlite();
        let TestDb::Sqlite { path, .. } = &db else {
            unreachable!()
        };
        let first = SqliteStore::open(path).await.unwrap();
        write_some_state(&first).await;
        first.close().await;
        assert!(
            path.exists(),
            "the database file and its parent were created"
        );
        let second = SqliteStore::open(path).await.unwrap();
        assert_state_is_there(&second).await;
    })
    .await;
}

#[tokio::test]
async fn sqlite_file_uses_wal_busy_timeout_and_foreign_keys() {
    within_limit(async {
        let db = TestDb::sqlite();
        let TestDb::Sqlite { path, .. } = &db else {
            unreachable!()
        };
        let store = SqliteStore::open(path).await.unwrap();
        let mut conn = store.pool().acquire().await.unwrap();
        let pragma = |name: &'static str| format!("PRAGMA {name}");
        let journal: String = sqlx::query_scalar(&pragma("journal_mode"))
            .fetch_one(&mut *conn)
            .await
            .unwrap();
        let busy: i64 = sqlx::query_scalar(&pragma("busy_timeout"))
            .fetch_one(&mut *conn)
            .await
            .unwrap();
        let foreign_keys: i64 = sqlx::query_scalar(&pragma("foreign_keys"))
            .fetch_one(&mut *conn)
            .await
            .unwrap();
        assert_eq!((journal.as_str(), busy, foreign_keys), ("wal", 5_000, 1));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_stores_opening_a_new_file_at_once_both_migrate() {
    within_limit(async {
        let db = TestDb::sqlite();
        let TestDb::Sqlite { path, .. } = &db else {
            unreachable!()
        };
        let mut opens = JoinSet::new();
        for _ in 0..4 {
            let path = path.clone();
            opens.spawn(async move { SqliteStore::open(&path).await });
        }
        let mut stores = Vec::new();
        while let Some(joined) = opens.join_next().await {
            stores.push(joined.unwrap().unwrap());
        }
        let applied: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations")
            .fetch_one(stores[0].pool())
            .await
            .unwrap();
        // Each migration file applied exactly once, however many stores raced.
        let files = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/sqlite"))
            .unwrap()
            .count();
        assert_eq!(applied, i64::try_from(files).unwrap());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_memory_store_is_shared_by_every_caller() {
    within_limit(async {
        let store = Arc::new(SqliteStore::in_memory().await.unwrap());
        let mut tasks = JoinSet::new();
        for i in 0..20 {
            let store = Arc::clone(&store);
            tasks.spawn(async move { store.consume_proof(&format!("sig_{i}"), "ch").await });
        }
        while let Some(joined) = tasks.join_next().await {
            assert_eq!(joined.unwrap().unwrap(), ConsumeOutcome::Fresh);
        }
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM consumed_proofs")
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert_eq!(count, 20);
        // A second in-memory store is a separate database.
        let other = SqliteStore::in_memory().await.unwrap();
        assert_eq!(
            other.consume_proof("sig_0", "ch").await.unwrap(),
            ConsumeOutcome::Fresh
        );
    })
    .await;
}

#[tokio::test]
async fn open_store_chooses_the_backend_from_the_location() {
    within_limit(async {
        let memory = open_store("sqlite::memory:").await.unwrap();
        assert_eq!(
            memory.consume_proof("sig", "ch").await.unwrap(),
            ConsumeOutcome::Fresh
        );

        let db = TestDb::sqlite();
        let TestDb::Sqlite { path, .. } = &db else {
            unreachable!()
        };
        let url = format!("sqlite://{}", path.display());
        open_store(&url)
            .await
            .unwrap()
            .consume_proof("sig", "ch")
            .await
            .unwrap();
        // `sqlite:<path>` and the bare path open the same file.
        let again = open_store(&format!("sqlite:{}", path.display()))
            .await
            .unwrap();
        assert_eq!(
            again.consume_proof("sig", "ch2").await.unwrap(),
            ConsumeOutcome::AlreadyConsumed {
                challenge_id: "ch".into()
            }
        );

        for bad in [
            "",
            "sqlite:",
            "sqlite://",
            "sqlite://x.db?mode=ro",
            "mysql://root:secret@localhost/db",
        ] {
            match open_store(bad).await {
                Err(StoreError::InvalidUrl(message)) => {
                    assert!(!message.contains("secret"), "{message}");
                }
                Err(other) => panic!("{bad:?}: expected InvalidUrl, got {other}"),
                Ok(_) => panic!("{bad:?}: expected InvalidUrl, got a store"),
            }
        }
    })
    .await;
}

#[tokio::test]
async fn pg_connect_with_applies_pool_options() {
    within_limit(async {
        let db = TestDb::postgres().await;
        let options = PgOptions {
            max_connections: 3,
            acquire_timeout: Duration::from_secs(5),
        };
        let store = PgStore::connect_with(&db.location(), options)
            .await
            .unwrap();
        assert_eq!(store.pool().options().get_max_connections(), 3);
        assert_eq!(
            store.pool().options().get_acquire_timeout(),
            Duration::from_secs(5)
        );
        let tables: Vec<String> = sqlx::query(
            "SELECT table_name::text AS name FROM information_schema.tables \
             WHERE table_schema = 'public' AND table_name NOT LIKE '\\_sqlx%' ORDER BY 1",
        )
        .fetch_all(store.pool())
        .await
        .unwrap()
        .iter()
        .map(|row| row.get("name"))
        .collect();
        for expected in [
            "challenge_reservations",
            "consumed_proofs",
            "daily_spend",
            "payments",
            "operators",
            "accounts",
            "transfers",
            "outbox_jobs",
            "audit_log",
        ] {
            assert!(
                tables.iter().any(|t| t == expected),
                "{expected} in {tables:?}"
            );
        }
        store.close().await;
    })
    .await;
}

#[tokio::test]
async fn pg_bad_url_or_unreachable_server_is_an_error_not_a_panic() {
    within_limit(async {
        assert!(matches!(
            PgStore::connect("postgres://u@localhost:notaport/db").await,
            Err(StoreError::InvalidUrl(_))
        ));
        // Nothing listens on port 1.
        let options = PgOptions {
            max_connections: 1,
            acquire_timeout: Duration::from_secs(2),
        };
        let result =
            PgStore::connect_with("postgres://postgres@127.0.0.1:1/postgres", options).await;
        assert!(
            matches!(result, Err(StoreError::Backend(_))),
            "got {result:?}"
        );
    })
    .await;
}
