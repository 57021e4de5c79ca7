//! One conformance suite for both stores. Every case runs against SQLite (a fresh file per test)
//! and, when `DATABASE_URL` points at a PostgreSQL server, against a fresh database per test
//! (`blu_test_<uuid>`, created through the server's `postgres` maintenance database and dropped
//! afterwards). Without `DATABASE_URL` the PostgreSQL variants pass vacuously and say so.
//!
//!     cargo test -p blu-store -j 1
//!     DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres cargo test -p blu-store -j 1

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use blu_app::ports::{NewSession, OtpRecord, SessionRotation, Store, StoreError};
use blu_domain::asset::PriceSource;
use blu_domain::{AssetId, Timestamp};
use blu_store::codec::{PgRowExt, SqliteRowExt, dec_text, to_datetime, ts_text, uuid_text};
use blu_store::error::map_sqlx;
use blu_store::{AssetRow, PgStore, SqliteStore};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{AssertSqlSafe, ConnectOptions, Connection};
use uuid::Uuid;

// ---------------------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------------------

enum Backend {
    Sqlite {
        store: SqliteStore,
        dir: PathBuf,
    },
    Postgres {
        store: PgStore,
        maintenance: Box<PgConnectOptions>,
        name: String,
    },
}

struct TestDb {
    store: Arc<dyn Store>,
    backend: Backend,
}

impl TestDb {
    async fn sqlite() -> TestDb {
        let dir = std::env::temp_dir().join(format!("blu-store-test-{}", Uuid::new_v4().simple()));
        let store = SqliteStore::open(&dir.join("test.db"))
            .await
            .expect("open SQLite");
        store.migrate().await.expect("migrate SQLite");
        TestDb {
            store: Arc::new(store.clone()),
            backend: Backend::Sqlite { store, dir },
        }
    }

    /// None when `DATABASE_URL` is unset (the PostgreSQL half of the suite is skipped).
    async fn postgres() -> Option<TestDb> {
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
        Some(TestDb {
            store: Arc::new(store.clone()),
            backend: Backend::Postgres {
                store,
                maintenance: Box::new(maintenance),
                name,
            },
        })
    }

    fn is_postgres(&self) -> bool {
        matches!(self.backend, Backend::Postgres { .. })
    }

    async fn assets(&self) -> Vec<AssetRow> {
        match &self.backend {
            Backend::Sqlite { store, .. } => store.assets().await.unwrap(),
            Backend::Postgres { store, .. } => store.assets().await.unwrap(),
        }
    }

    /// Runs a fixed statement as the owning role and classifies its failure like the store.
    async fn execute(&self, sql: &'static str) -> Result<u64, StoreError> {
        let done = match &self.backend {
            Backend::Sqlite { store, .. } => sqlx::query(sql)
                .execute(store.sqlite_pool())
                .await
                .map(|d| d.rows_affected()),
            Backend::Postgres { store, .. } => sqlx::query(sql)
                .execute(store.pg_pool())
                .await
                .map(|d| d.rows_affected()),
        };
        done.map_err(map_sqlx)
    }

    async fn portfolio(
        &self,
        user_id: Uuid,
        cash_irr: Decimal,
        at: Timestamp,
    ) -> Result<Uuid, StoreError> {
        let id = Uuid::new_v4();
        let sql = "INSERT INTO portfolios (id, user_id, cash_irr, created_at, updated_at) \
                   VALUES ($1, $2, $3, $4, $4)";
        let done = match &self.backend {
            Backend::Sqlite { store, .. } => sqlx::query(sql)
                .bind(uuid_text(id))
                .bind(uuid_text(user_id))
                .bind(dec_text(cash_irr))
                .bind(ts_text(at))
                .execute(store.sqlite_pool())
                .await
                .map(drop),
            Backend::Postgres { store, .. } => sqlx::query(sql)
                .bind(id)
                .bind(user_id)
                .bind(cash_irr)
                .bind(to_datetime(at).unwrap())
                .execute(store.pg_pool())
                .await
                .map(drop),
        };
        done.map(|()| id).map_err(map_sqlx)
    }

    async fn cash(&self, portfolio_id: Uuid) -> Decimal {
        let sql = "SELECT cash_irr FROM portfolios WHERE id = $1";
        match &self.backend {
            Backend::Sqlite { store, .. } => sqlx::query(sql)
                .bind(uuid_text(portfolio_id))
                .fetch_one(store.sqlite_pool())
                .await
                .unwrap()
                .dec("cash_irr")
                .unwrap(),
            Backend::Postgres { store, .. } => sqlx::query(sql)
                .bind(portfolio_id)
                .fetch_one(store.pg_pool())
                .await
                .unwrap()
                .dec("cash_irr")
                .unwrap(),
        }
    }

    async fn holding(
        &self,
        portfolio_id: Uuid,
        asset: &str,
        quantity: Decimal,
        at: Timestamp,
    ) -> Uuid {
        let id = Uuid::new_v4();
        let sql = "INSERT INTO holdings (id, portfolio_id, asset_id, quantity, created_at, updated_at) \
                   VALUES ($1, $2, $3, $4, $5, $5)";
        match &self.backend {
            Backend::Sqlite { store, .. } => sqlx::query(sql)
                .bind(uuid_text(id))
                .bind(uuid_text(portfolio_id))
                .bind(asset)
                .bind(dec_text(quantity))
                .bind(ts_text(at))
                .execute(store.sqlite_pool())
                .await
                .map(drop),
            Backend::Postgres { store, .. } => sqlx::query(sql)
                .bind(id)
                .bind(portfolio_id)
                .bind(asset)
                .bind(quantity)
                .bind(to_datetime(at).unwrap())
                .execute(store.pg_pool())
                .await
                .map(drop),
        }
        .expect("insert holding");
        id
    }

    async fn quantity(&self, holding_id: Uuid) -> Decimal {
        let sql = "SELECT quantity FROM holdings WHERE id = $1";
        match &self.backend {
            Backend::Sqlite { store, .. } => sqlx::query(sql)
                .bind(uuid_text(holding_id))
                .fetch_one(store.sqlite_pool())
                .await
                .unwrap()
                .dec("quantity")
                .unwrap(),
            Backend::Postgres { store, .. } => sqlx::query(sql)
                .bind(holding_id)
                .fetch_one(store.pg_pool())
                .await
                .unwrap()
                .dec("quantity")
                .unwrap(),
        }
    }

    async fn price_round_trip(
        &self,
        price_usd: Decimal,
        price_irr: Decimal,
        at: Timestamp,
    ) -> (Decimal, Decimal) {
        let sql = "INSERT INTO prices (asset_id, price_usd, price_irr, fx_rate, fx_source, source, \
                   fetched_at, fx_fetched_at, updated_at) \
                   VALUES ('BTC', $1, $2, $3, 'bonbast', 'coingecko', $4, $4, $4)";
        let read = "SELECT price_usd, price_irr FROM prices WHERE asset_id = 'BTC'";
        match &self.backend {
            Backend::Sqlite { store, .. } => {
                sqlx::query(sql)
                    .bind(dec_text(price_usd))
                    .bind(dec_text(price_irr))
                    .bind("1456000")
                    .bind(ts_text(at))
                    .execute(store.sqlite_pool())
                    .await
                    .unwrap();
                let row = sqlx::query(read)
                    .fetch_one(store.sqlite_pool())
                    .await
                    .unwrap();
                (row.dec("price_usd").unwrap(), row.dec("price_irr").unwrap())
            }
            Backend::Postgres { store, .. } => {
                sqlx::query(sql)
                    .bind(price_usd)
                    .bind(price_irr)
                    .bind(dec!(1456000))
                    .bind(to_datetime(at).unwrap())
                    .execute(store.pg_pool())
                    .await
                    .unwrap();
                let row = sqlx::query(read).fetch_one(store.pg_pool()).await.unwrap();
                (row.dec("price_usd").unwrap(), row.dec("price_irr").unwrap())
            }
        }
    }

    async fn ledger_entry(
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
        let sql = "INSERT INTO ledger (id, portfolio_id, sequence_number, entry_type, created_at, \
                   before_snapshot, after_snapshot, amount_irr, boundary, message, prev_hash, entry_hash) \
                   VALUES ($1, $2, $3, 'ADD_FUNDS', $4, $5, $5, $6, 'SAFE', 'Added 5M IRR cash', $7, $8)";
        let prev = "0".repeat(64);
        let hash = format!("{:064x}", id.as_u128());
        let done = match &self.backend {
            Backend::Sqlite { store, .. } => sqlx::query(sql)
                .bind(uuid_text(id))
                .bind(uuid_text(portfolio_id))
                .bind(sequence)
                .bind(ts_text(at))
                .bind(snapshot.to_string())
                .bind("5000000")
                .bind(prev)
                .bind(hash)
                .execute(store.sqlite_pool())
                .await
                .map(drop),
            Backend::Postgres { store, .. } => sqlx::query(sql)
                .bind(id)
                .bind(portfolio_id)
                .bind(sequence)
                .bind(to_datetime(at).unwrap())
                .bind(sqlx::types::Json(snapshot))
                .bind(dec!(5000000))
                .bind(prev)
                .bind(hash)
                .execute(store.pg_pool())
                .await
                .map(drop),
        };
        done.map(|()| id).map_err(map_sqlx)
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        match &self.backend {
            Backend::Sqlite { dir, .. } => {
                std::fs::remove_dir_all(dir).ok();
            }
            Backend::Postgres {
                maintenance, name, ..
            } => {
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

/// Generates `on_sqlite::<case>` and `on_postgres::<case>` for every case.
macro_rules! conformance {
    ($($case:ident),* $(,)?) => {
        mod on_sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let db = super::TestDb::sqlite().await;
                    super::$case(&db).await;
                }
            )*
        }
        mod on_postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let Some(db) = super::TestDb::postgres().await else { return };
                    super::$case(&db).await;
                }
            )*
        }
    };
}

conformance!(
    the_store_answers_a_ping_and_names_its_backend,
    a_new_code_invalidates_every_older_code_of_the_phone,
    the_latest_code_is_the_newest_unconsumed_one_even_when_expired,
    attempts_are_counted_until_the_maximum_and_then_refused,
    ten_concurrent_attempts_with_a_maximum_of_three_let_exactly_three_through,
    an_expired_code_accepts_no_attempt,
    consuming_a_code_twice_succeeds_only_once,
    the_first_login_creates_the_user_and_later_logins_find_it,
    concurrent_first_logins_of_one_phone_create_one_user,
    a_user_has_a_portfolio_once_one_is_stored,
    a_session_is_stored_with_every_field_to_the_microsecond,
    a_rotation_applies_only_to_the_expected_hash_and_generation,
    a_revoked_session_cannot_rotate,
    revoking_counts_only_sessions_that_were_still_open,
    purging_deletes_only_dead_codes_and_sessions,
    ledger_rows_cannot_be_updated_or_deleted,
    the_asset_seed_equals_the_domain_registry,
    money_and_quantities_round_trip_exactly_and_normalized,
    a_negative_cash_balance_is_refused_by_the_database,
    a_uniqueness_violation_is_reported_as_a_conflict,
    a_committed_movement_reads_back_with_lots_head_and_stable_holding_ids,
    a_quote_is_read_only_by_its_owner_and_consumed_once,
    an_idempotency_key_is_claimed_once_completed_and_replayed,
    only_the_holder_of_an_idempotency_claim_completes_or_releases_it,
    a_claim_of_a_process_that_is_gone_is_taken_over_at_once,
    consent_needs_a_score_and_settings_and_deletion_round_trip,
    closing_an_account_cancels_its_protection_on_the_ledger_and_revokes_sessions,
    a_rebalance_commit_sets_last_rebalance_at_and_other_movements_keep_it,
    a_loan_is_written_with_its_movement_and_reads_back_with_its_installments,
    loan_health_is_stored_only_on_active_loans_and_notifies_once,
    a_protection_quote_is_reserved_only_by_its_owner_and_consumed_once,
    an_expired_protection_quote_cannot_be_reserved,
    a_purchased_protection_reads_back_whole_newest_first_and_only_for_its_owner,
    a_protection_leaves_active_once_with_its_notification_in_the_same_transaction,
    due_protections_are_the_active_ones_past_expiry_oldest_first_for_every_user,
);

#[path = "conformance/biometric.rs"]
mod biometric;
#[path = "conformance/loans.rs"]
mod loans;
#[path = "conformance/notifications.rs"]
mod notifications;
#[path = "conformance/portfolio.rs"]
mod portfolio;
#[path = "conformance/prices.rs"]
mod prices;
#[path = "conformance/protection.rs"]
mod protection;
#[path = "conformance/rebalance.rs"]
mod rebalance;
use loans::*;
use portfolio::*;
use protection::*;
use rebalance::*;

fn t0() -> Timestamp {
    // Sub-second digits on purpose: every backend must keep microseconds.
    Timestamp::parse_rfc3339("2026-01-20T12:00:00.123456Z").unwrap()
}

fn hex64(c: char) -> String {
    std::iter::repeat_n(c, 64).collect()
}

fn otp(phone: &str, created: Timestamp) -> OtpRecord {
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

fn session(user_id: Uuid, issued: Timestamp, hash: char) -> NewSession {
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

// ---------------------------------------------------------------------------------------------
// Cases
// ---------------------------------------------------------------------------------------------

async fn the_store_answers_a_ping_and_names_its_backend(db: &TestDb) {
    db.store.ping().await.unwrap();
    let expected = if db.is_postgres() {
        "postgres"
    } else {
        "sqlite"
    };
    assert_eq!(db.store.backend(), expected);
}

async fn a_new_code_invalidates_every_older_code_of_the_phone(db: &TestDb) {
    let s = &db.store;
    let first = otp("+989121111111", t0());
    let second = otp("+989121111111", t0().plus_seconds(30));
    let other_phone = otp("+989122222222", t0());
    s.replace_otp(&first).await.unwrap();
    s.replace_otp(&other_phone).await.unwrap();
    s.replace_otp(&second).await.unwrap();

    assert_eq!(
        s.latest_otp("+989121111111").await.unwrap(),
        Some(second.clone())
    );
    let now = t0().plus_seconds(31);
    assert_eq!(s.take_otp_attempt(first.id, now, 3).await.unwrap(), None);
    assert!(
        !s.consume_otp(first.id).await.unwrap(),
        "the older code is already consumed"
    );
    assert_eq!(
        s.latest_otp("+989122222222").await.unwrap(),
        Some(other_phone)
    );
}

async fn the_latest_code_is_the_newest_unconsumed_one_even_when_expired(db: &TestDb) {
    let s = &db.store;
    assert_eq!(s.latest_otp("+989121111111").await.unwrap(), None);
    let code = otp("+989121111111", t0());
    s.replace_otp(&code).await.unwrap();
    // latest_otp takes no clock: expiry is the caller's check.
    assert_eq!(
        s.latest_otp("+989121111111").await.unwrap(),
        Some(code.clone())
    );
    assert!(s.consume_otp(code.id).await.unwrap());
    assert_eq!(s.latest_otp("+989121111111").await.unwrap(), None);
}

async fn attempts_are_counted_until_the_maximum_and_then_refused(db: &TestDb) {
    let s = &db.store;
    let code = otp("+989121111111", t0());
    s.replace_otp(&code).await.unwrap();
    let now = t0().plus_seconds(10);
    for expected in 1..=3 {
        let taken = s
            .take_otp_attempt(code.id, now, 3)
            .await
            .unwrap()
            .expect("attempt left");
        assert_eq!(taken.attempts, expected);
        assert_eq!(taken.id, code.id);
        assert_eq!(taken.code_hash, code.code_hash);
    }
    assert_eq!(s.take_otp_attempt(code.id, now, 3).await.unwrap(), None);
    assert_eq!(
        s.latest_otp("+989121111111")
            .await
            .unwrap()
            .unwrap()
            .attempts,
        3
    );
    assert_eq!(
        s.take_otp_attempt(Uuid::new_v4(), now, 3).await.unwrap(),
        None
    );
}

async fn ten_concurrent_attempts_with_a_maximum_of_three_let_exactly_three_through(db: &TestDb) {
    let code = otp("+989121111111", t0());
    db.store.replace_otp(&code).await.unwrap();
    let now = t0().plus_seconds(10);
    let attempts = (0..10).map(|_| {
        let store = Arc::clone(&db.store);
        tokio::spawn(async move { store.take_otp_attempt(code.id, now, 3).await })
    });
    let results = futures::future::join_all(attempts).await;
    let mut counts: Vec<i32> = results
        .into_iter()
        .filter_map(|r| r.unwrap().unwrap())
        .map(|otp| otp.attempts)
        .collect();
    counts.sort_unstable();
    assert_eq!(counts, [1, 2, 3]);
    assert_eq!(
        db.store
            .latest_otp("+989121111111")
            .await
            .unwrap()
            .unwrap()
            .attempts,
        3
    );
}

async fn an_expired_code_accepts_no_attempt(db: &TestDb) {
    let s = &db.store;
    let code = otp("+989121111111", t0());
    s.replace_otp(&code).await.unwrap();
    let just_before = Timestamp::from_micros(code.expires_at.as_micros() - 1);
    assert_eq!(
        s.take_otp_attempt(code.id, code.expires_at, 3)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        s.take_otp_attempt(code.id, code.expires_at.plus_seconds(60), 3)
            .await
            .unwrap(),
        None
    );
    let taken = s.take_otp_attempt(code.id, just_before, 3).await.unwrap();
    assert_eq!(taken.map(|o| o.attempts), Some(1));
}

async fn consuming_a_code_twice_succeeds_only_once(db: &TestDb) {
    let s = &db.store;
    let code = otp("+989121111111", t0());
    s.replace_otp(&code).await.unwrap();
    assert!(s.consume_otp(code.id).await.unwrap());
    assert!(!s.consume_otp(code.id).await.unwrap());
    assert_eq!(
        s.take_otp_attempt(code.id, t0().plus_seconds(1), 3)
            .await
            .unwrap(),
        None
    );
    assert!(!s.consume_otp(Uuid::new_v4()).await.unwrap());
}

async fn the_first_login_creates_the_user_and_later_logins_find_it(db: &TestDb) {
    let s = &db.store;
    let (user, created) = s.login_user("+989121111111", t0()).await.unwrap();
    assert!(created);
    assert_eq!(user.phone, "+989121111111");
    assert!(user.phone_verified);
    assert_eq!(user.created_at, t0());
    assert_eq!(user.last_login_at, Some(t0()));
    assert_eq!(user.risk_score, None);
    assert!(!user.consent_risk && !user.consent_loss && !user.consent_no_guarantee);
    assert!(!user.has_portfolio && !user.onboarding_complete());

    let later = t0().plus_days(1);
    let (again, created_again) = s.login_user("+989121111111", later).await.unwrap();
    assert!(!created_again);
    assert_eq!(again.id, user.id);
    assert_eq!(again.created_at, t0());
    assert_eq!(again.last_login_at, Some(later));
    assert_eq!(s.user(user.id).await.unwrap(), Some(again));
    assert_eq!(s.user(Uuid::new_v4()).await.unwrap(), None);

    let (other, other_created) = s.login_user("+989122222222", later).await.unwrap();
    assert!(other_created);
    assert_ne!(other.id, user.id);
}

async fn concurrent_first_logins_of_one_phone_create_one_user(db: &TestDb) {
    let logins = (0..10).map(|i| {
        let store = Arc::clone(&db.store);
        tokio::spawn(async move {
            store
                .login_user("+989121111111", t0().plus_seconds(i))
                .await
        })
    });
    let results: Vec<_> = futures::future::join_all(logins)
        .await
        .into_iter()
        .map(|r| r.unwrap().unwrap())
        .collect();
    assert_eq!(results.iter().filter(|(_, created)| *created).count(), 1);
    let id = results[0].0.id;
    assert!(results.iter().all(|(user, _)| user.id == id));
    let count = db
        .execute("UPDATE users SET updated_at = updated_at WHERE phone = '+989121111111'")
        .await
        .unwrap();
    assert_eq!(count, 1, "exactly one row for the phone");
}

async fn a_user_has_a_portfolio_once_one_is_stored(db: &TestDb) {
    let (user, _) = db.store.login_user("+989121111111", t0()).await.unwrap();
    db.portfolio(user.id, Decimal::ZERO, t0()).await.unwrap();
    let stored = db.store.user(user.id).await.unwrap().unwrap();
    assert!(stored.has_portfolio);
    assert!(
        !stored.onboarding_complete(),
        "no risk score or consents yet"
    );
}

async fn a_session_is_stored_with_every_field_to_the_microsecond(db: &TestDb) {
    let s = &db.store;
    let (user, _) = s.login_user("+989121111111", t0()).await.unwrap();
    let new = session(user.id, t0(), 'a');
    s.create_session(&new).await.unwrap();
    let stored = s.session(new.id).await.unwrap().unwrap();
    assert_eq!(stored.id, new.id);
    assert_eq!(stored.user_id, user.id);
    assert_eq!(stored.refresh_token_hash, hex64('a'));
    assert_eq!(stored.previous_refresh_token_hash, None);
    assert_eq!(stored.generation, 0);
    assert_eq!(stored.rotated_at, t0());
    assert_eq!(stored.created_at, t0());
    assert_eq!(stored.expires_at, t0().plus_days(7));
    assert_eq!(stored.revoked_at, None);
    assert_eq!(stored.user_agent, new.user_agent);
    assert_eq!(stored.ip, new.ip);
    assert_eq!(s.session(Uuid::new_v4()).await.unwrap(), None);
}

async fn a_rotation_applies_only_to_the_expected_hash_and_generation(db: &TestDb) {
    let s = &db.store;
    let (user, _) = s.login_user("+989121111111", t0()).await.unwrap();
    let new = session(user.id, t0(), 'a');
    s.create_session(&new).await.unwrap();
    let later = t0().plus_seconds(900);
    let rotation = |expected: char, generation: i64, next: char| SessionRotation {
        session_id: new.id,
        expected_hash: hex64(expected),
        expected_generation: generation,
        new_hash: hex64(next),
        rotated_at: later,
        expires_at: later.plus_days(7),
    };

    assert!(
        !s.rotate_session(&rotation('a', 1, 'b')).await.unwrap(),
        "wrong generation"
    );
    assert!(
        !s.rotate_session(&rotation('c', 0, 'b')).await.unwrap(),
        "wrong hash"
    );
    assert!(s.rotate_session(&rotation('a', 0, 'b')).await.unwrap());
    // The same rotation again is stale: a concurrent refresh lost the race.
    assert!(!s.rotate_session(&rotation('a', 0, 'd')).await.unwrap());

    let stored = s.session(new.id).await.unwrap().unwrap();
    assert_eq!(stored.refresh_token_hash, hex64('b'));
    assert_eq!(stored.previous_refresh_token_hash, Some(hex64('a')));
    assert_eq!(stored.generation, 1);
    assert_eq!(stored.rotated_at, later);
    assert_eq!(stored.expires_at, later.plus_days(7));
    assert_eq!(stored.created_at, t0());
    assert!(s.rotate_session(&rotation('b', 1, 'c')).await.unwrap());
    assert!(
        !s.rotate_session(&SessionRotation {
            session_id: Uuid::new_v4(),
            ..rotation('c', 2, 'd')
        })
        .await
        .unwrap()
    );
}

async fn a_revoked_session_cannot_rotate(db: &TestDb) {
    let s = &db.store;
    let (user, _) = s.login_user("+989121111111", t0()).await.unwrap();
    let new = session(user.id, t0(), 'a');
    s.create_session(&new).await.unwrap();
    assert_eq!(
        s.revoke_session(new.id, t0().plus_seconds(5))
            .await
            .unwrap(),
        1
    );
    let rotation = SessionRotation {
        session_id: new.id,
        expected_hash: hex64('a'),
        expected_generation: 0,
        new_hash: hex64('b'),
        rotated_at: t0().plus_seconds(10),
        expires_at: t0().plus_days(7),
    };
    assert!(!s.rotate_session(&rotation).await.unwrap());
    let stored = s.session(new.id).await.unwrap().unwrap();
    assert_eq!(stored.revoked_at, Some(t0().plus_seconds(5)));
    assert_eq!(stored.refresh_token_hash, hex64('a'));
}

async fn revoking_counts_only_sessions_that_were_still_open(db: &TestDb) {
    let s = &db.store;
    let (user, _) = s.login_user("+989121111111", t0()).await.unwrap();
    let (other, _) = s.login_user("+989122222222", t0()).await.unwrap();
    let sessions: Vec<NewSession> = ['a', 'b', 'c']
        .into_iter()
        .map(|h| session(user.id, t0(), h))
        .collect();
    for new in &sessions {
        s.create_session(new).await.unwrap();
    }
    let others = session(other.id, t0(), 'd');
    s.create_session(&others).await.unwrap();

    let now = t0().plus_seconds(60);
    assert_eq!(s.revoke_session(sessions[0].id, now).await.unwrap(), 1);
    assert_eq!(
        s.revoke_session(sessions[0].id, now.plus_seconds(1))
            .await
            .unwrap(),
        0
    );
    assert_eq!(s.revoke_session(Uuid::new_v4(), now).await.unwrap(), 0);
    assert_eq!(
        s.revoke_user_sessions(user.id, now.plus_seconds(2))
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        s.revoke_user_sessions(user.id, now.plus_seconds(3))
            .await
            .unwrap(),
        0
    );

    let first = s.session(sessions[0].id).await.unwrap().unwrap();
    assert_eq!(
        first.revoked_at,
        Some(now),
        "a second revocation keeps the first time"
    );
    assert_eq!(
        s.session(sessions[2].id).await.unwrap().unwrap().revoked_at,
        Some(now.plus_seconds(2))
    );
    assert_eq!(
        s.session(others.id).await.unwrap().unwrap().revoked_at,
        None
    );
}

async fn purging_deletes_only_dead_codes_and_sessions(db: &TestDb) {
    let s = &db.store;
    let cutoff = t0().plus_days(1);
    // Codes: one expired long ago, one replaced (consumed) long ago, one live after the cutoff.
    let expired = otp("+989121111111", t0());
    let replaced = otp("+989122222222", t0());
    let replacement = otp("+989122222222", t0().plus_seconds(1));
    let live = otp("+989123333333", cutoff.plus_seconds(10));
    for code in [&expired, &replaced, &replacement, &live] {
        s.replace_otp(code).await.unwrap();
    }

    let (user, _) = s.login_user("+989121111111", t0()).await.unwrap();
    let mut old_expired = session(user.id, t0().plus_days(-30), 'a');
    old_expired.expires_at = t0().plus_days(-23);
    let revoked = session(user.id, t0(), 'b');
    let active = session(user.id, t0(), 'c');
    let revoked_recently = session(user.id, t0(), 'd');
    for new in [&old_expired, &revoked, &active, &revoked_recently] {
        s.create_session(new).await.unwrap();
    }
    s.revoke_session(revoked.id, t0()).await.unwrap();
    s.revoke_session(revoked_recently.id, cutoff.plus_seconds(1))
        .await
        .unwrap();

    // expired, replaced and replacement are all past their expiry by the cutoff.
    assert_eq!(s.purge_auth(cutoff, cutoff).await.unwrap(), (3, 2));
    assert_eq!(s.latest_otp("+989123333333").await.unwrap(), Some(live));
    assert!(s.session(old_expired.id).await.unwrap().is_none());
    assert!(s.session(revoked.id).await.unwrap().is_none());
    assert!(s.session(active.id).await.unwrap().is_some());
    assert!(s.session(revoked_recently.id).await.unwrap().is_some());
    assert_eq!(s.purge_auth(cutoff, cutoff).await.unwrap(), (0, 0));
}

async fn ledger_rows_cannot_be_updated_or_deleted(db: &TestDb) {
    let (user, _) = db.store.login_user("+989121111111", t0()).await.unwrap();
    let portfolio = db.portfolio(user.id, dec!(5000000), t0()).await.unwrap();
    db.ledger_entry(portfolio, 1, t0()).await.unwrap();

    for sql in [
        "UPDATE ledger SET message = 'rewritten'",
        "UPDATE ledger SET amount_irr = '1'",
        "DELETE FROM ledger",
    ] {
        let refused = db.execute(sql).await;
        let Err(StoreError::Other(error)) = refused else {
            panic!("{sql} was not refused: {refused:?}");
        };
        assert!(
            format!("{error:#}").contains("immutable"),
            "{sql}: {error:#}"
        );
    }
    // Deleting the portfolio would cascade into its ledger: refused too.
    assert!(db.execute("DELETE FROM portfolios").await.is_err());
    assert_eq!(
        db.execute("UPDATE portfolios SET version = version")
            .await
            .unwrap(),
        1
    );
    // A second entry with the same sequence number breaks the per-portfolio chain.
    let duplicate = db.ledger_entry(portfolio, 1, t0()).await;
    assert!(
        matches!(duplicate, Err(StoreError::Conflict(_))),
        "{duplicate:?}"
    );
    db.ledger_entry(portfolio, 2, t0()).await.unwrap();
}

async fn the_asset_seed_equals_the_domain_registry(db: &TestDb) {
    let rows = db.assets().await;
    assert_eq!(rows.len(), AssetId::ALL.len());
    for (row, id) in rows.iter().zip(AssetId::ALL) {
        let asset = id.asset();
        let layer = asset.layer.params();
        let (source, source_id) = match asset.price_source {
            PriceSource::CoinGecko(s) => ("coingecko", Some(s.to_owned())),
            PriceSource::Finnhub(s) => ("finnhub", Some(s.to_owned())),
            PriceSource::Internal => ("internal", None),
        };
        let expected = AssetRow {
            id: asset.symbol.to_owned(),
            position: id.index() as i64,
            name: asset.name.to_owned(),
            layer: asset.layer.as_str().to_owned(),
            category: asset.category.to_owned(),
            layer_weight: asset.layer_weight.normalize(),
            price_source: source.to_owned(),
            source_id,
            default_price_usd: asset.default_price_usd.map(|p| p.normalize()),
            base_volatility: asset.base_volatility.normalize(),
            liquidity_score: asset.liquidity_score.normalize(),
            asset_max_ltv: asset.asset_max_ltv.normalize(),
            effective_max_ltv: asset.effective_max_ltv().normalize(),
            implied_volatility: asset.implied_volatility.normalize(),
            protection_eligible: asset.protection_eligible(),
            protection_execution_spread: asset
                .protection
                .as_ref()
                .map(|p| p.execution_spread.normalize()),
            protection_min_premium_30d: asset
                .protection
                .as_ref()
                .map(|p| p.min_premium_30d.normalize()),
            protection_max_premium_30d: asset
                .protection
                .as_ref()
                .map(|p| p.max_premium_30d.normalize()),
            trade_spread: layer.spread.normalize(),
            layer_ltv: layer.ltv.normalize(),
            protection_monthly_rate: layer.protection_monthly_rate.normalize(),
            protection_margin_per_day: layer.protection_margin_per_day.normalize(),
        };
        assert_eq!(row, &expected, "{id}");
    }
}

async fn money_and_quantities_round_trip_exactly_and_normalized(db: &TestDb) {
    let (user, _) = db.store.login_user("+989121111111", t0()).await.unwrap();
    // The largest IRR amount the product handles (a portfolio of 100 trillion rials).
    let largest_irr = dec!(100000000000000);
    let portfolio = db.portfolio(user.id, largest_irr, t0()).await.unwrap();
    let cash = db.cash(portfolio).await;
    assert_eq!(cash, largest_irr);
    assert_eq!(cash.to_string(), "100000000000000");

    // 8-dp quantities, the smallest one and the widest one NUMERIC(28,8) holds.
    for (asset, quantity, text) in [
        ("BTC", dec!(0.00000001), "0.00000001"),
        ("ETH", dec!(13.73626373), "13.73626373"),
        (
            "USDT",
            dec!(99999999999999999999.99999999),
            "99999999999999999999.99999999",
        ),
        ("PAXG", dec!(1.50000000), "1.5"),
    ] {
        let holding = db.holding(portfolio, asset, quantity, t0()).await;
        let stored = db.quantity(holding).await;
        assert_eq!(stored, quantity, "{asset}");
        // No padded scale from NUMERIC(28,8): the ledger hashes this text.
        assert_eq!(stored.to_string(), text, "{asset}");
    }

    // Prices and ratios keep 18 decimal places: rust_decimal's full 28-digit precision.
    let price_usd = dec!(79228162514.264337593543950335);
    let price_irr = dec!(141960000000.5);
    let (usd, irr) = db.price_round_trip(price_usd, price_irr, t0()).await;
    assert_eq!(usd, price_usd);
    assert_eq!(usd.to_string(), "79228162514.264337593543950335");
    assert_eq!(irr.to_string(), "141960000000.5");
}

async fn a_negative_cash_balance_is_refused_by_the_database(db: &TestDb) {
    let (user, _) = db.store.login_user("+989121111111", t0()).await.unwrap();
    let refused = db.portfolio(user.id, dec!(-1), t0()).await;
    assert!(matches!(refused, Err(StoreError::Other(_))), "{refused:?}");
    let portfolio = db.portfolio(user.id, dec!(0), t0()).await.unwrap();
    assert_eq!(db.cash(portfolio).await.to_string(), "0");
}

async fn a_uniqueness_violation_is_reported_as_a_conflict(db: &TestDb) {
    let (user, _) = db.store.login_user("+989121111111", t0()).await.unwrap();
    db.portfolio(user.id, dec!(0), t0()).await.unwrap();
    let second = db.portfolio(user.id, dec!(0), t0()).await;
    let Err(StoreError::Conflict(constraint)) = second else {
        panic!("expected a conflict, got {second:?}");
    };
    assert!(constraint.contains("user_id"), "{constraint}");

    let new = session(user.id, t0(), 'a');
    db.store.create_session(&new).await.unwrap();
    assert!(matches!(
        db.store.create_session(&new).await,
        Err(StoreError::Conflict(_))
    ));
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL only: row-level security and the tenant transaction
// ---------------------------------------------------------------------------------------------

mod postgres_only {
    use sqlx::Row;

    use super::*;

    fn pg(db: &TestDb) -> &PgStore {
        match &db.backend {
            Backend::Postgres { store, .. } => store,
            Backend::Sqlite { .. } => unreachable!("PostgreSQL only"),
        }
    }

    async fn insert_ledger_in(
        tx: &mut sqlx::Transaction<'static, sqlx::Postgres>,
        portfolio_id: Uuid,
        sequence: i64,
    ) -> Result<(), StoreError> {
        let empty = serde_json::json!({"cashIrr": 0, "holdings": []});
        sqlx::query(
            "INSERT INTO ledger (id, portfolio_id, sequence_number, entry_type, created_at, \
             before_snapshot, after_snapshot, boundary, message, prev_hash, entry_hash) \
             VALUES ($1, $2, $3, 'ADD_FUNDS', now(), $4, $4, 'SAFE', 'Added cash', $5, $5)",
        )
        .bind(Uuid::new_v4())
        .bind(portfolio_id)
        .bind(sequence)
        .bind(sqlx::types::Json(empty))
        .bind(hex64('f'))
        .execute(&mut **tx)
        .await
        .map(drop)
        .map_err(map_sqlx)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn under_the_tenant_role_a_user_sees_only_their_own_rows() {
        let Some(db) = TestDb::postgres().await else {
            return;
        };
        let (a, _) = db.store.login_user("+989121111111", t0()).await.unwrap();
        let (b, _) = db.store.login_user("+989122222222", t0()).await.unwrap();
        let pa = db.portfolio(a.id, dec!(1000), t0()).await.unwrap();
        let pb = db.portfolio(b.id, dec!(2000), t0()).await.unwrap();
        db.ledger_entry(pa, 1, t0()).await.unwrap();
        db.ledger_entry(pb, 1, t0()).await.unwrap();
        db.holding(pa, "BTC", dec!(1), t0()).await;
        db.holding(pb, "BTC", dec!(2), t0()).await;

        let mut tx = pg(&db).tenant_tx(a.id).await.unwrap();
        let portfolios: Vec<Uuid> = sqlx::query_scalar("SELECT id FROM portfolios")
            .fetch_all(&mut *tx)
            .await
            .unwrap();
        assert_eq!(portfolios, [pa]);
        let ledger: Vec<Uuid> = sqlx::query_scalar("SELECT portfolio_id FROM ledger")
            .fetch_all(&mut *tx)
            .await
            .unwrap();
        assert_eq!(ledger, [pa]);
        let of_b: i64 = sqlx::query_scalar("SELECT count(*) FROM ledger WHERE portfolio_id = $1")
            .bind(pb)
            .fetch_one(&mut *tx)
            .await
            .unwrap();
        assert_eq!(of_b, 0);
        let holdings: i64 = sqlx::query_scalar("SELECT count(*) FROM holdings")
            .fetch_one(&mut *tx)
            .await
            .unwrap();
        assert_eq!(holdings, 1);
        let users: Vec<Uuid> = sqlx::query_scalar("SELECT id FROM users")
            .fetch_all(&mut *tx)
            .await
            .unwrap();
        assert_eq!(users, [a.id]);
        let robbed = sqlx::query("UPDATE portfolios SET cash_irr = 0 WHERE id = $1")
            .bind(pb)
            .execute(&mut *tx)
            .await
            .unwrap();
        assert_eq!(
            robbed.rows_affected(),
            0,
            "B's portfolio is invisible, so untouched"
        );
        // Reference data stays readable for pricing inside the tenant transaction.
        let assets: i64 = sqlx::query_scalar("SELECT count(*) FROM assets")
            .fetch_one(&mut *tx)
            .await
            .unwrap();
        assert_eq!(assets, 15);
        // A's own ledger accepts appends.
        insert_ledger_in(&mut tx, pa, 2).await.unwrap();
        tx.commit().await.unwrap();
        assert_eq!(db.cash(pb).await, dec!(2000));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn under_the_tenant_role_a_user_cannot_write_into_another_users_ledger() {
        let Some(db) = TestDb::postgres().await else {
            return;
        };
        let (a, _) = db.store.login_user("+989121111111", t0()).await.unwrap();
        let (b, _) = db.store.login_user("+989122222222", t0()).await.unwrap();
        let pa = db.portfolio(a.id, dec!(1000), t0()).await.unwrap();
        let pb = db.portfolio(b.id, dec!(2000), t0()).await.unwrap();
        db.ledger_entry(pa, 1, t0()).await.unwrap();

        let mut tx = pg(&db).tenant_tx(a.id).await.unwrap();
        let refused = insert_ledger_in(&mut tx, pb, 1).await;
        let Err(StoreError::Other(error)) = refused else {
            panic!("insert into B's ledger was not refused: {refused:?}");
        };
        assert!(
            format!("{error:#}").contains("row-level security"),
            "{error:#}"
        );
        tx.rollback().await.unwrap();

        // The application role holds no UPDATE or DELETE right on the ledger, even for its
        // own rows (and the trigger would refuse anyway).
        for sql in ["UPDATE ledger SET message = 'x'", "DELETE FROM ledger"] {
            let mut tx = pg(&db).tenant_tx(a.id).await.unwrap();
            let refused = sqlx::query(sql).execute(&mut *tx).await.map_err(map_sqlx);
            let Err(StoreError::Other(error)) = refused else {
                panic!("{sql} was not refused: {refused:?}");
            };
            assert!(
                format!("{error:#}").contains("permission denied"),
                "{sql}: {error:#}"
            );
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_tenant_settings_end_with_the_transaction() {
        let Some(db) = TestDb::postgres().await else {
            return;
        };
        let Backend::Postgres {
            maintenance, name, ..
        } = &db.backend
        else {
            unreachable!()
        };
        // One connection, so the next query is certain to reuse the tenant's connection.
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .connect_with(PgConnectOptions::clone(maintenance).database(name))
            .await
            .unwrap();
        let store = PgStore::from_pool(pool).await.expect("claim-owner lock");
        let (a, _) = db.store.login_user("+989121111111", t0()).await.unwrap();
        let (b, _) = db.store.login_user("+989122222222", t0()).await.unwrap();
        db.portfolio(a.id, dec!(1), t0()).await.unwrap();
        db.portfolio(b.id, dec!(1), t0()).await.unwrap();

        let mut tx = store.tenant_tx(a.id).await.unwrap();
        let row = sqlx::query("SELECT current_user AS role, current_setting('app.user_id') AS id")
            .fetch_one(&mut *tx)
            .await
            .unwrap();
        assert_eq!(row.get::<String, _>("role"), "blu_app");
        assert_eq!(row.get::<String, _>("id"), a.id.to_string());
        tx.commit().await.unwrap();

        let row = sqlx::query(
            "SELECT current_user <> 'blu_app' AS owner, \
             coalesce(current_setting('app.user_id', true), '') AS id",
        )
        .fetch_one(store.pg_pool())
        .await
        .unwrap();
        assert!(row.get::<bool, _>("owner"));
        assert_eq!(row.get::<String, _>("id"), "");
        let all: i64 = sqlx::query_scalar("SELECT count(*) FROM portfolios")
            .fetch_one(store.pg_pool())
            .await
            .unwrap();
        assert_eq!(all, 2, "jobs run as the owner and see every portfolio");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn open_chooses_postgres_for_a_postgres_url_and_migrating_again_is_harmless() {
        let Some(db) = TestDb::postgres().await else {
            return;
        };
        let Backend::Postgres { name, .. } = &db.backend else {
            unreachable!()
        };
        let url = std::env::var("DATABASE_URL").unwrap();
        let base = url.split('?').next().unwrap();
        let base = &base[..base.rfind('/').unwrap()];
        let store = blu_store::open(Some(&format!("{base}/{name}")), Path::new("/nonexistent"))
            .await
            .unwrap();
        assert_eq!(store.backend(), "postgres");
        store.ping().await.unwrap();
    }
}

// ---------------------------------------------------------------------------------------------
// Opening by URL
// ---------------------------------------------------------------------------------------------

mod opening {
    use super::*;

    struct TempDir(PathBuf);

    impl TempDir {
        fn new() -> TempDir {
            TempDir(std::env::temp_dir().join(format!("blu-open-test-{}", Uuid::new_v4().simple())))
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            std::fs::remove_dir_all(&self.0).ok();
        }
    }

    #[tokio::test]
    async fn without_a_url_the_store_is_a_sqlite_file_in_the_data_directory() {
        let dir = TempDir::new();
        let store = blu_store::open(None, &dir.0).await.unwrap();
        assert_eq!(store.backend(), "sqlite");
        let (user, _) = store.login_user("+989121111111", t0()).await.unwrap();
        assert!(dir.0.join("blu.db").is_file());
        drop(store);
        // Reopening runs the migrations again without effect and keeps the data.
        let store = blu_store::open(None, &dir.0).await.unwrap();
        assert_eq!(
            store.user(user.id).await.unwrap().map(|u| u.id),
            Some(user.id)
        );
    }

    #[tokio::test]
    async fn a_sqlite_url_names_the_database_file() {
        let dir = TempDir::new();
        let file = dir.0.join("nested").join("custom.db");
        let url = format!("sqlite://{}?mode=rwc", file.display());
        let store = blu_store::open(Some(&url), Path::new("/nonexistent"))
            .await
            .unwrap();
        assert_eq!(store.backend(), "sqlite");
        store.ping().await.unwrap();
        assert!(file.is_file());
    }

    #[tokio::test]
    async fn an_unsupported_url_scheme_is_refused() {
        let dir = TempDir::new();
        let refused = blu_store::open(Some("mysql://localhost/blu"), &dir.0).await;
        let message = format!("{:#}", refused.err().expect("refused"));
        assert!(message.contains("mysql"), "{message}");
    }
}

// ---------------------------------------------------------------------------------------------
// Both schemas describe the same tables
// ---------------------------------------------------------------------------------------------

/// (table, column, nullable) of every table of a migrated database, sorted.
type Columns = Vec<(String, String, bool)>;

async fn sqlite_columns(db: &TestDb) -> Columns {
    let Backend::Sqlite { store, .. } = &db.backend else {
        unreachable!()
    };
    let mut columns: Columns = sqlx::query_as::<_, (String, String, bool, i64)>(
        "SELECT m.name, p.name, p.\"notnull\", p.pk FROM sqlite_schema m \
         JOIN pragma_table_info(m.name) p \
         WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name NOT LIKE '_sqlx%'",
    )
    .fetch_all(store.sqlite_pool())
    .await
    .unwrap()
    .into_iter()
    // A primary-key column is never NULL in practice; SQLite only enforces it when declared.
    .map(|(table, column, not_null, pk)| (table, column, !not_null && pk == 0))
    .collect();
    columns.sort();
    columns
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sqlite_and_postgres_schemas_have_the_same_tables_columns_and_nullability() {
    let Some(pg) = TestDb::postgres().await else {
        return;
    };
    let Backend::Postgres { store, .. } = &pg.backend else {
        unreachable!()
    };
    let mut expected: Columns = sqlx::query_as::<_, (String, String, String)>(
        "SELECT table_name::text, column_name::text, is_nullable::text \
         FROM information_schema.columns \
         WHERE table_schema = 'public' AND table_name NOT LIKE '\\_sqlx%'",
    )
    .fetch_all(store.pg_pool())
    .await
    .unwrap()
    .into_iter()
    .map(|(table, column, nullable)| (table, column, nullable == "YES"))
    .collect();
    expected.sort();
    let tables: std::collections::BTreeSet<&str> = expected.iter().map(|c| c.0.as_str()).collect();
    assert_eq!(tables.len(), 26, "{tables:?}");
    let sqlite = TestDb::sqlite().await;
    assert_eq!(sqlite_columns(&sqlite).await, expected);
}
