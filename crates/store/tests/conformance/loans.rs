//! Conformance cases of the loan storage: loans written with their movement inside the locked
//! portfolio transaction, read back with installments, conditional updates and health writes.

use blu_app::ports::{
    LoanHealthWrite, LoanNotification, LoanRecord, LoanWrite, PortfolioChange, StoreError,
};
use blu_domain::loan::{HealthStatus, Loan, LoanDuration, LoanStatus, LoanTerms};
use blu_domain::{AssetId, Boundary, EntryType, Irr, NewEntry, PortfolioStatus, Snapshot};
use rust_decimal_macros::dec;
use uuid::Uuid;

use super::portfolio::{activity, create, uuid_text};
use super::{TestDb, t0};

/// Commits a movement of `user` writing `loans` (cash and holdings as `state`).
async fn commit_loans(
    db: &TestDb,
    user: Uuid,
    frozen: bool,
    loans: Vec<LoanWrite>,
    seconds: i64,
) -> Result<(), StoreError> {
    let store = db.portfolios();
    let tx = store.lock(user).await.unwrap().unwrap();
    let locked = tx.portfolio().unwrap().clone();
    let mut state = locked.state();
    state.holding_mut(AssetId::Usdt).unwrap().frozen = frozen;
    let entry = NewEntry::new(
        uuid_text(Uuid::now_v7()),
        uuid_text(locked.id),
        EntryType::LoanCreate,
        t0().plus_seconds(seconds),
        Snapshot::empty(),
        Snapshot::empty(),
        Boundary::Safe,
        "Loan",
    )
    .seal(locked.head.as_ref())
    .unwrap();
    tx.commit(PortfolioChange {
        portfolio_id: locked.id,
        create: false,
        cash: state.cash,
        holdings: state.holdings.clone(),
        status: PortfolioStatus::Balanced,
        entry,
        activity: activity(EntryType::LoanCreate),
        consumed_quote: None,
        idempotency: None,
        now: t0().plus_seconds(seconds),
        rebalanced: false,
        protections: Vec::new(),
        loans,
    })
    .await
}

fn new_loan(portfolio_id: Uuid) -> LoanRecord {
    let terms = LoanTerms::new(Irr::new(30_000_000), LoanDuration::ThreeMonths, t0());
    LoanRecord {
        id: Uuid::now_v7(),
        portfolio_id,
        loan: Loan::from_terms(
            terms,
            AssetId::Usdt,
            blu_domain::Quantity::exact(dec!(0.5)).unwrap(),
            Irr::new(70_980_000),
        ),
        current_ltv: Some(dec!(0.422654)),
        health_status: Some(HealthStatus::Healthy),
        liquidated: None,
        // The store stamps rows with the movement's instant (second 1 below).
        created_at: t0().plus_seconds(1),
    }
}

pub(super) async fn a_loan_is_written_with_its_movement_and_reads_back_with_its_installments(
    db: &TestDb,
) {
    let user = db.scored_user().await;
    let (portfolio_id, _) = create(db, user).await;
    let store = db.portfolios();
    let record = new_loan(portfolio_id);
    let write = |record: &LoanRecord, insert: bool| LoanWrite {
        record: record.clone(),
        insert,
        notification: None,
    };
    commit_loans(db, user, true, vec![write(&record, true)], 1)
        .await
        .unwrap();
    let loaded = store.loans(user).await.unwrap();
    assert_eq!(loaded, vec![record.clone()]);
    assert_eq!(loaded[0].loan.installments.len(), 6);
    assert_eq!(store.active_loan_users().await.unwrap(), vec![user]);
    let portfolio = store.portfolio(user).await.unwrap().unwrap();
    assert_eq!(portfolio.active_loans, 1);
    assert!(portfolio.holding(AssetId::Usdt).unwrap().frozen);

    // A repayment under the lock: read inside the transaction, update, read back.
    let mut tx = store.lock(user).await.unwrap().unwrap();
    let mut locked = tx.loans().await.unwrap();
    drop(tx);
    assert_eq!(locked, vec![record.clone()]);
    let mut repaid = locked.remove(0);
    repaid
        .loan
        .repay(
            Irr::new(6_000_000),
            Irr::new(10_000_000),
            t0().plus_seconds(86_400 * 10),
        )
        .unwrap();
    commit_loans(db, user, true, vec![write(&repaid, false)], 2)
        .await
        .unwrap();
    assert_eq!(store.loans(user).await.unwrap(), vec![repaid.clone()]);

    // Settled: REPAID with its instant and forgiven interest; no longer ACTIVE.
    let mut settled = repaid.clone();
    let now = t0().plus_seconds(86_400 * 30);
    let owed = settled.loan.outstanding_debt(now);
    settled.loan.repay(owed, owed, now).unwrap();
    commit_loans(db, user, false, vec![write(&settled, false)], 3)
        .await
        .unwrap();
    let back = store.loans(user).await.unwrap();
    assert_eq!(back[0].loan.status, LoanStatus::Repaid);
    assert_eq!(back, vec![settled.clone()]);
    assert!(store.active_loan_users().await.unwrap().is_empty());
    // Updating a loan that is no longer ACTIVE is a conflict and writes nothing.
    let err = commit_loans(db, user, false, vec![write(&settled, false)], 4)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    let head = store.portfolio(user).await.unwrap().unwrap().head.unwrap();
    assert_eq!(head.sequence_number, 4);
}

pub(super) async fn loan_health_is_stored_only_on_active_loans_and_notifies_once(db: &TestDb) {
    let user = db.scored_user().await;
    let (portfolio_id, _) = create(db, user).await;
    let store = db.portfolios();
    let record = new_loan(portfolio_id);
    commit_loans(
        db,
        user,
        true,
        vec![LoanWrite {
            record: record.clone(),
            insert: true,
            notification: None,
        }],
        1,
    )
    .await
    .unwrap();
    let notification = LoanNotification {
        id: Uuid::now_v7(),
        user_id: user,
        kind: "LOAN_HEALTH".into(),
        entity_id: record.id.to_string(),
        dedupe_key: "WARNING:1".into(),
        title: "Your loan needs attention".into(),
        body: "Your loan is now 85% of the value of your USDT.".into(),
        data: Some(serde_json::json!({"loanId": record.id.to_string()})),
        at: t0(),
    };
    for _ in 0..2 {
        let tx = store.lock(user).await.unwrap().unwrap();
        tx.commit_loan_health(vec![LoanHealthWrite {
            loan_id: record.id,
            current_ltv: Some(dec!(0.85)),
            health_status: HealthStatus::Warning,
            checked_at: t0().plus_seconds(60),
            notification: Some(LoanNotification {
                id: Uuid::now_v7(),
                ..notification.clone()
            }),
        }])
        .await
        .unwrap();
    }
    let loaded = store.loans(user).await.unwrap();
    assert_eq!(loaded[0].current_ltv, Some(dec!(0.85)));
    assert_eq!(loaded[0].health_status, Some(HealthStatus::Warning));
    let count = db.count_notifications(&record.id.to_string()).await;
    assert_eq!(count, 1);
}

impl TestDb {
    /// Rows of the notifications outbox for one entity (owner role).
    async fn count_notifications(&self, entity_id: &str) -> i64 {
        self.row(
            "SELECT count(*) AS n FROM notifications WHERE entity_id = $1",
            vec![entity_id.into()],
        )
        .await
        .int("n")
        .unwrap()
    }
}
