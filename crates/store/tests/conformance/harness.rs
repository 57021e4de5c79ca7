//! The harness of the conformance suite: a fresh database per case (a SQLite file, or a
//! `blu_test_<uuid>` PostgreSQL database created through the server's `postgres` maintenance
//! database and dropped afterwards), the store under test, a few raw statements to arrange
//! rows the ports do not write, and the fixtures shared by the cases.

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

use blu_app::ports::{NewSession, OtpRecord, Store, StoreError};
use blu_domain::Timestamp;
use blu_store::driver::{Arg, Row, query};
use blu_store::{AssetRow, Database, PgStore, SqliteStore};
use rust_decimal::Decimal;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{AssertSqlSafe, ConnectOptions, Connection};
use uuid::Uuid;

/// How to dispose of the database after the case.
pub enum Cleanup {
    SqliteDir(PathBuf),
    PostgresDatabase {
        maintenance: Box<PgConnectOptions>,
        name: String,
    },
}

pub struct TestDb {
    /// The store under test, behind its port.
    pub store: Arc<dyn Store>,
    /// The same store, concrete: its other ports and raw statements.
    pub db: Database,
    pub cleanup: Cleanup,
}

impl TestDb {
    pub async fn sqlite() -> TestDb {
        let dir = std::env::temp_dir().join(format!("blu-store-test-{}", Uuid::new_v4().simple()));
        let store = SqliteStore::open(&dir.join("test.db"))
            .await
            .expect("open SQLite");
        store.migrate().await.expect("migrate SQLite");
        let db = Database::Sqlite(store);
        TestDb {
            store: Arc::new(db.clone()),
            db,
            cleanup: Cleanup::SqliteDir(dir),
        }
    }

    /// None when `DATABASE_URL` is unset (the PostgreSQL half of the suite is skipped).
    pub async fn postgres() -> Option<TestDb> {
        let Ok(url) = std::env::var("DATABASE_URL") else {
            eprintln!("DATABASE_URL is not set: skipping the PostgreSQL run of this case");
            return None;
        };
        let options = PgConnectOptions::from_str(&url).expect("DATABASE_URL is a PostgreSQL URL");
        let maintenance = options.clone().database("postgres");
        let name = format!("blu_test_{}", Uuid::new_v4().simple());
        let mut admin = maintenance
            .connect()
            .await
            .expect("connect to the postgres database");
        // Identifiers cannot be bound; the name is generated above from a uuid, not input.
        sqlx::query(AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .expect("create the test database");
        admin.close().await.ok();
        let pool = PgPoolOptions::new()
            .max_connections(12)
            .connect_with(options.database(&name))
            .await
            .expect("connect to the test database");
        let store = PgStore::from_pool(pool).await.expect("claim-owner lock");
        store.migrate().await.expect("migrate PostgreSQL");
        let db = Database::Postgres(store);
        Some(TestDb {
            store: Arc::new(db.clone()),
            db,
            cleanup: Cleanup::PostgresDatabase {
                maintenance: Box::new(maintenance),
                name,
            },
        })
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self.db, Database::Postgres(_))
    }

    /// The PostgreSQL store (cases that only run there).
    pub fn pg(&self) -> &PgStore {
        match &self.db {
            Database::Postgres(store) => store,
            Database::Sqlite(_) => unreachable!("PostgreSQL only"),
        }
    }

    pub async fn assets(&self) -> Vec<AssetRow> {
        self.db.assets().await.unwrap()
    }

    /// Runs a fixed statement as the owning role and classifies its failure like the store.
    pub async fn execute(&self, sql: &'static str) -> Result<u64, StoreError> {
        query(sql).execute(self.db.pool()).await
    }

    /// Runs a statement with arguments (rows the ports never write, or write differently).
    pub async fn run(&self, sql: &'static str, args: Vec<Arg>) -> Result<u64, StoreError> {
        let mut statement = query(sql);
        for arg in args {
            statement = statement.bind(arg);
        }
        statement.execute(self.db.pool()).await
    }

    /// The rows of a read with arguments.
    pub async fn rows(&self, sql: &'static str, args: Vec<Arg>) -> Vec<Row> {
        let mut statement = query(sql);
        for arg in args {
            statement = statement.bind(arg);
        }
        statement.fetch_all(self.db.pool()).await.unwrap()
    }

    /// The one row of a read with arguments.
    pub async fn row(&self, sql: &'static str, args: Vec<Arg>) -> Row {
        let mut rows = self.rows(sql, args).await;
        assert_eq!(rows.len(), 1, "{sql}");
        rows.remove(0)
    }

    pub async fn portfolio(
        &self,
        user_id: Uuid,
        cash_irr: Decimal,
        at: Timestamp,
    ) -> Result<Uuid, StoreError> {
        let id = Uuid::new_v4();
        self.run(
            "INSERT INTO portfolios (id, user_id, cash_irr, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $4)",
            vec![id.into(), user_id.into(), cash_irr.into(), at.into()],
        )
        .await
        .map(|_| id)
    }

    pub async fn cash(&self, portfolio_id: Uuid) -> Decimal {
        self.row(
            "SELECT cash_irr FROM portfolios WHERE id = $1",
            vec![portfolio_id.into()],
        )
        .await
        .dec("cash_irr")
        .unwrap()
    }

    pub async fn holding(
        &self,
        portfolio_id: Uuid,
        asset: &str,
        quantity: Decimal,
        at: Timestamp,
    ) -> Uuid {
        let id = Uuid::new_v4();
        self.run(
            "INSERT INTO holdings (id, portfolio_id, asset_id, quantity, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $5)",
            vec![
                id.into(),
                portfolio_id.into(),
                asset.into(),
                quantity.into(),
                at.into(),
            ],
        )
        .await
        .expect("insert holding");
        id
    }

    pub async fn quantity(&self, holding_id: Uuid) -> Decimal {
        self.row(
            "SELECT quantity FROM holdings WHERE id = $1",
            vec![holding_id.into()],
        )
        .await
        .dec("quantity")
        .unwrap()
    }

    pub async fn price_round_trip(
        &self,
        price_usd: Decimal,
        price_irr: Decimal,
        at: Timestamp,
    ) -> (Decimal, Decimal) {
        self.run(
            "INSERT INTO prices (asset_id, price_usd, price_irr, fx_rate, fx_source, source, \
             fetched_at, fx_fetched_at, updated_at) \
             VALUES ('BTC', $1, $2, $3, 'bonbast', 'coingecko', $4, $4, $4)",
            vec![
                price_usd.into(),
                price_irr.into(),
                Decimal::from(1_456_000).into(),
                at.into(),
            ],
        )
        .await
        .unwrap();
        let row = self
            .row(
                "SELECT price_usd, price_irr FROM prices WHERE asset_id = 'BTC'",
                vec![],
            )
            .await;
        (row.dec("price_usd").unwrap(), row.dec("price_irr").unwrap())
    }

    pub async fn ledger_entry(
        &self,
        portfolio_id: Uuid,
        sequence: i64,
        at: Timestamp,
    ) -> Result<Uuid, StoreError> {
        let id = Uuid::new_v4();
        let snapshot = serde_json::json!({
            "cashIrr": 0, "holdingsValueIrr": 0, "totalValueIrr": 0,
            "allocation": {"FOUNDATION": 0, "GROWTH": 0, "UPSIDE": 0},
            "status": "BALANCED", "holdings": []
        });
        self.run(
            "INSERT INTO ledger (id, portfolio_id, sequence_number, entry_type, created_at, \
             before_snapshot, after_snapshot, amount_irr, boundary, message, prev_hash, entry_hash) \
             VALUES ($1, $2, $3, 'ADD_FUNDS', $4, $5, $5, $6, 'SAFE', 'Added 5M IRR cash', $7, $8)",
            vec![
                id.into(),
                portfolio_id.into(),
                sequence.into(),
                at.into(),
                snapshot.into(),
                Decimal::from(5_000_000).into(),
                "0".repeat(64).into(),
                format!("{:064x}", id.as_u128()).into(),
            ],
        )
        .await
        .map(|_| id)
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        match &self.cleanup {
            Cleanup::SqliteDir(dir) => {
                std::fs::remove_dir_all(dir).ok();
            }
            Cleanup::PostgresDatabase { maintenance, name } => {
                // Best effort, also after a failed assertion: a fresh runtime on its own
                // thread, because Drop cannot await inside the test's runtime.
                let (maintenance, name) = (PgConnectOptions::clone(maintenance), name.clone());
                std::thread::spawn(move || {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build();
                    if let Ok(runtime) = runtime {
                        runtime.block_on(async move {
                            if let Ok(mut admin) = maintenance.connect().await {
                                let drop = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                                sqlx::query(AssertSqlSafe(drop))
                                    .execute(&mut admin)
                                    .await
                                    .ok();
                            }
                        });
                    }
                })
                .join()
                .ok();
            }
        }
    }
}

pub fn t0() -> Timestamp {
    // Sub-second digits on purpose: every backend must keep microseconds.
    Timestamp::parse_rfc3339("2026-01-20T12:00:00.123456Z").unwrap()
}

pub fn hex64(c: char) -> String {
    std::iter::repeat_n(c, 64).collect()
}

pub fn otp(phone: &str, created: Timestamp) -> OtpRecord {
    OtpRecord {
        id: Uuid::new_v4(),
        phone: phone.to_owned(),
        code_hash: format!("{:064x}", Uuid::new_v4().as_u128()),
        attempts: 0,
        consumed: false,
        expires_at: created.plus_seconds(120),
        created_at: created,
    }
}

pub fn session(user_id: Uuid, issued: Timestamp, hash: char) -> NewSession {
    NewSession {
        id: Uuid::new_v4(),
        user_id,
        refresh_token_hash: hex64(hash),
        issued_at: issued,
        expires_at: issued.plus_days(7),
        user_agent: Some("BluMarkets/1.0 (iOS 17)".to_owned()),
        ip: Some("203.0.113.7".to_owned()),
    }
}
