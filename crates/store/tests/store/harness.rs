//! Test databases: a temporary SQLite file, or a fresh PostgreSQL database per test.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use mppsol_store::{OperatorStore, Store, open_operator_store, open_store};
use sqlx::{Connection, Executor, PgConnection};

/// Admin URL when `MPPSOL_TEST_PG_URL` is unset.
const DEFAULT_PG_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// No single store test should take longer than this; a hang fails instead of blocking CI.
const TEST_LIMIT: Duration = Duration::from_secs(120);

/// A database private to one test; removed (best effort) when dropped.
pub enum TestDb {
    /// A file `store.db` in a nested directory under a fresh temporary directory.
    Sqlite {
        /// The temporary directory (removed on drop).
        dir: PathBuf,
        /// The database file (its parent does not exist until the store creates it).
        path: PathBuf,
    },
    /// A database `mppsol_test_*` created for this test.
    Postgres {
        /// Where to connect to create and drop it.
        admin_url: String,
        /// Its name.
        name: String,
        /// Its URL.
        url: String,
    },
}

impl TestDb {
    /// A temporary SQLite location (nothing is created yet).
    pub fn sqlite() -> Self {
        let dir = std::env::temp_dir().join(format!("mppsol-store-test-{}", unique()));
        let path = dir.join("nested").join("store.db");
        TestDb::Sqlite { dir, path }
    }

    /// A fresh PostgreSQL database. Panics with instructions if PostgreSQL is unreachable: the
    /// PostgreSQL half of the suite must fail, never silently skip.
    pub async fn postgres() -> Self {
        let admin_url = pg_admin_url();
        let name = format!("mppsol_test_{}", unique());
        let mut admin = admin_connect(&admin_url).await;
        admin
            .execute(format!(r#"CREATE DATABASE "{name}""#).as_str())
            .await
            .unwrap_or_else(|e| panic!("CREATE DATABASE {name} failed: {e}"));
        let _ = admin.close().await;
        let url = with_database(&admin_url, &name);
        TestDb::Postgres {
            admin_url,
            name,
            url,
        }
    }

    /// What [`open_store`] is given: the file path or the URL.
    pub fn location(&self) -> String {
        match self {
            TestDb::Sqlite { path, .. } => path.display().to_string(),
            TestDb::Postgres { url, .. } => url.clone(),
        }
    }

    /// A new operator store (a new pool) on this database, through [`open_operator_store`].
    pub async fn open_operator(&self) -> Arc<dyn OperatorStore> {
        open_operator_store(&self.location())
            .await
            .unwrap_or_else(|e| panic!("opening the test store failed: {e}"))
    }

    /// A new store (a new pool) on this database, through [`open_store`].
    pub async fn open(&self) -> Arc<dyn Store> {
        open_store(&self.location())
            .await
            .unwrap_or_else(|e| panic!("opening the test store failed: {e}"))
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        match self {
            TestDb::Sqlite { dir, .. } => {
                let _ = std::fs::remove_dir_all(dir);
            }
            TestDb::Postgres {
                admin_url, name, ..
            } => {
                // Drop runs inside the test's runtime, which cannot be blocked on; a short-lived
                // thread with its own runtime does the async cleanup.
                let (admin_url, name) = (admin_url.clone(), name.clone());
                let cleanup = std::thread::spawn(move || {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build();
                    let Ok(runtime) = runtime else { return };
                    runtime.block_on(async {
                        if let Ok(mut admin) = PgConnection::connect(&admin_url).await {
                            let sql = format!(r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#);
                            if let Err(e) = admin.execute(sql.as_str()).await {
                                eprintln!("could not drop test database {name}: {e}");
                            }
                            let _ = admin.close().await;
                        }
                    });
                });
                let _ = cleanup.join();
            }
        }
    }
}

/// Runs one test body under [`TEST_LIMIT`].
pub async fn within_limit<F: std::future::Future<Output = ()>>(body: F) {
    tokio::time::timeout(TEST_LIMIT, body)
        .await
        .expect("store test exceeded its time limit");
}

/// The admin URL for PostgreSQL tests (env `MPPSOL_TEST_PG_URL` or the local default).
fn pg_admin_url() -> String {
    std::env::var("MPPSOL_TEST_PG_URL").unwrap_or_else(|_| DEFAULT_PG_URL.to_owned())
}

async fn admin_connect(admin_url: &str) -> PgConnection {
    let attempt = tokio::time::timeout(Duration::from_secs(10), PgConnection::connect(admin_url));
    match attempt.await {
        Ok(Ok(conn)) => conn,
        Ok(Err(e)) => panic!(
            "PostgreSQL tests need a server: could not connect to {admin_url}: {e}. \
             Start PostgreSQL or set MPPSOL_TEST_PG_URL to an admin URL (the role must be \
             allowed to CREATE DATABASE)."
        ),
        Err(_) => panic!(
            "PostgreSQL tests need a server: connecting to {admin_url} timed out after 10 s. \
             Start PostgreSQL or set MPPSOL_TEST_PG_URL."
        ),
    }
}

/// `url` with its database path replaced by `name` (query parameters kept).
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let base = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{base}/{name}?{query}"),
        None => format!("{base}/{name}"),
    }
}

/// Unique per process and call, and across concurrent test processes.
fn unique() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!(
        "{}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        nanos
    )
}

#[test]
fn with_database_replaces_only_the_path() {
    assert_eq!(
        with_database("postgres://u@h:5432/postgres", "x"),
        "postgres://u@h:5432/x"
    );
    assert_eq!(with_database("postgres://u@h", "x"), "postgres://u@h/x");
    assert_eq!(
        with_database("postgresql://u:p@h/db?sslmode=disable", "x"),
        "postgresql://u:p@h/x?sslmode=disable"
    );
}
