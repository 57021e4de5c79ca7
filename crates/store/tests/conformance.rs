//! One conformance suite for both stores. Every case runs against SQLite (a fresh file per test)
//! and, when `DATABASE_URL` points at a PostgreSQL server, against a fresh database per test.
//! Without `DATABASE_URL` the PostgreSQL variants pass vacuously and say so.
//!
//!     cargo test -p blu-store -j 1
//!     DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres cargo test -p blu-store -j 1
//!
//! The harness (`conformance/harness.rs`) is apart from the cases, one file per port.

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
    housekeeping_keeps_a_consumed_quote_past_its_expiry_and_drops_an_unused_one,
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

#[path = "conformance/harness.rs"]
mod harness;

#[path = "conformance/auth.rs"]
mod auth;
#[path = "conformance/biometric.rs"]
mod biometric;
#[path = "conformance/loans.rs"]
mod loans;
#[path = "conformance/notifications.rs"]
mod notifications;
#[path = "conformance/opening.rs"]
mod opening;
#[path = "conformance/portfolio.rs"]
mod portfolio;
#[path = "conformance/postgres_only.rs"]
mod postgres_only;
#[path = "conformance/prices.rs"]
mod prices;
#[path = "conformance/protection.rs"]
mod protection;
#[path = "conformance/rebalance.rs"]
mod rebalance;
#[path = "conformance/schema.rs"]
mod schema;

use auth::*;
pub use harness::{TestDb, hex64, otp, session, t0};
use loans::*;
use portfolio::*;
use protection::*;
use rebalance::*;
use schema::*;
