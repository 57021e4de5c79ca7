//! Conformance of the rebalance marker of a portfolio movement (`portfolios.last_rebalance_at`).

use blu_app::ports::PortfolioChange;
use blu_domain::ledger::NewEntry;
use blu_domain::{Boundary, EntryType, Irr, PortfolioStatus, Snapshot, Timestamp};
use uuid::Uuid;

use super::portfolio::{activity, create, uuid_text};
use super::{TestDb, t0};

/// Commits one REBALANCE-like movement (cash +1) at `at`, flagged as a rebalance or not.
async fn commit_at(db: &TestDb, user: Uuid, portfolio_id: Uuid, at: Timestamp, rebalanced: bool) {
    let tx = db.portfolios().lock(user).await.unwrap().unwrap();
    let locked = tx.portfolio().unwrap().clone();
    let mut state = locked.state();
    state.cash += Irr::new(1);
    let entry_type = if rebalanced {
        EntryType::Rebalance
    } else {
        EntryType::AddFunds
    };
    let entry = NewEntry::new(
        uuid_text(Uuid::now_v7()),
        uuid_text(portfolio_id),
        entry_type,
        at,
        Snapshot::empty(),
        Snapshot::empty(),
        Boundary::Safe,
        "Moved",
    )
    .seal(locked.head.as_ref())
    .unwrap();
    tx.commit(PortfolioChange {
        portfolio_id,
        create: false,
        cash: state.cash,
        holdings: state.holdings.clone(),
        status: PortfolioStatus::Balanced,
        entry,
        activity: activity(entry_type),
        consumed_quote: None,
        idempotency: None,
        rebalanced,
        now: at,
        loans: Vec::new(),
        protections: Vec::new(),
    })
    .await
    .unwrap();
}

pub(super) async fn a_rebalance_commit_sets_last_rebalance_at_and_other_movements_keep_it(
    db: &TestDb,
) {
    let user = db.scored_user().await;
    let (portfolio_id, _) = create(db, user).await;
    let store = db.portfolios();
    assert_eq!(
        store
            .portfolio(user)
            .await
            .unwrap()
            .unwrap()
            .last_rebalance_at,
        None
    );
    let rebalanced_at = t0().plus_seconds(60);
    commit_at(db, user, portfolio_id, rebalanced_at, true).await;
    let record = store.portfolio(user).await.unwrap().unwrap();
    assert_eq!(record.last_rebalance_at, Some(rebalanced_at));
    commit_at(db, user, portfolio_id, t0().plus_seconds(120), false).await;
    let record = store.portfolio(user).await.unwrap().unwrap();
    assert_eq!(record.last_rebalance_at, Some(rebalanced_at));
    assert_eq!(record.cash, Irr::new(1_002));
    // The locked read sees it too.
    let tx = store.lock(user).await.unwrap().unwrap();
    assert_eq!(
        tx.portfolio().unwrap().last_rebalance_at,
        Some(rebalanced_at)
    );
}
