//! Conformance cases of the portfolio port (`PortfolioStore`), run on both backends by the
//! `conformance!` list of the parent suite.

use std::sync::Arc;

use blu_app::ports::{
    AccountClosure, Conflict, IdempotencyClaim, IdempotencyCompletion, IdempotencyRequest,
    LedgerQuery, NewActivity, PortfolioChange, PortfolioStore, ProtectionStore, ProtectionWrite,
    RiskUpdate, SettingsUpdate, StoreError, TradeQuote, new_holding_id,
};
use blu_domain::fixed_income::Lot;
use blu_domain::ledger::{NewEntry, UuidText, verify};
use blu_domain::trade::TradeAction;
use blu_domain::{
    Allocation, AssetId, Boundary, EntryType, Holding, Irr, PortfolioState, PortfolioStatus,
    Quantity, Snapshot, Timestamp,
};
use rust_decimal_macros::dec;
use uuid::Uuid;

use blu_store::Database;

use super::{TestDb, t0};

impl TestDb {
    pub(super) fn portfolios(&self) -> Arc<dyn PortfolioStore> {
        Arc::new(self.db.clone())
    }

    /// The same database as seen by another process (PostgreSQL: its own claim owner).
    pub(super) async fn another_process(&self) -> Arc<dyn PortfolioStore> {
        match &self.db {
            Database::Sqlite(_) => Arc::new(self.db.clone()),
            Database::Postgres(store) => Arc::new(Database::Postgres(
                blu_store::PgStore::from_pool(store.pg_pool().clone())
                    .await
                    .expect("claim-owner lock"),
            )),
        }
    }

    pub(super) fn protections(&self) -> Arc<dyn ProtectionStore> {
        Arc::new(self.db.clone())
    }

    /// A user with a scored questionnaire.
    pub(super) async fn scored_user(&self) -> Uuid {
        let phone = format!("+989{:09}", Uuid::new_v4().as_u128() % 1_000_000_000);
        let (user, _) = self.store.login_user(&phone, t0()).await.unwrap();
        let update = RiskUpdate {
            score: 6,
            tier: "MEDIUM".into(),
            profile_name: "Balanced".into(),
            target: target(),
            version: "v10.1".into(),
            answers: serde_json::json!([]),
            breakdown: serde_json::json!({}),
            at: t0(),
        };
        let has_portfolio = self
            .portfolios()
            .save_risk(user.id, &update, &activity(EntryType::AddFunds))
            .await
            .unwrap();
        assert!(!has_portfolio);
        user.id
    }
}

fn target() -> Allocation {
    Allocation::new(dec!(0.5), dec!(0.35), dec!(0.15))
}

fn q(v: rust_decimal::Decimal) -> Quantity {
    Quantity::exact(v).unwrap()
}

pub(super) fn activity(kind: EntryType) -> NewActivity {
    NewActivity {
        action_type: kind.as_str().into(),
        boundary: Boundary::Safe,
        message: "Started with 1M IRR".into(),
        amount: Some(Irr::new(1_000_000)),
        asset: None,
        at: t0(),
    }
}

pub(super) fn uuid_text(id: Uuid) -> UuidText {
    UuidText::parse(&id.to_string()).unwrap()
}

/// Creates a portfolio: cash 1,000, USDT 0.5 and one fixed-income lot.
pub(super) async fn create(db: &TestDb, user: Uuid) -> (Uuid, PortfolioState) {
    let store = db.portfolios();
    let tx = store.lock(user).await.unwrap().expect("the user exists");
    assert!(tx.portfolio().is_none());
    assert_eq!(tx.onboarding().risk_score, Some(6));
    let mut fi = Holding::new(AssetId::IrrFixedIncome, q(dec!(2)));
    fi.lots.push(Lot {
        units: q(dec!(2)),
        purchased_at: t0(),
    });
    let state = PortfolioState {
        cash: Irr::new(1_000),
        holdings: vec![Holding::new(AssetId::Usdt, q(dec!(0.5))), fi],
    };
    let portfolio_id = Uuid::now_v7();
    let mut entry = NewEntry::new(
        uuid_text(Uuid::now_v7()),
        uuid_text(portfolio_id),
        EntryType::PortfolioCreated,
        t0(),
        Snapshot::empty(),
        Snapshot::empty(),
        Boundary::Safe,
        "Started",
    );
    entry.amount_irr = Some(Irr::new(1_000));
    let entry = entry.seal(None).unwrap();
    tx.commit(PortfolioChange {
        portfolio_id,
        create: true,
        cash: state.cash,
        holdings: state.holdings.clone(),
        status: PortfolioStatus::Balanced,
        entry,
        activity: activity(EntryType::PortfolioCreated),
        consumed_quote: None,
        protections: Vec::new(),
        idempotency: None,
        rebalanced: false,
        now: t0(),
        loans: Vec::new(),
    })
    .await
    .unwrap();
    (portfolio_id, state)
}

pub(super) async fn a_committed_movement_reads_back_with_lots_head_and_stable_holding_ids(
    db: &TestDb,
) {
    let user = db.scored_user().await;
    let (portfolio_id, state) = create(db, user).await;
    let store = db.portfolios();
    let record = store.portfolio(user).await.unwrap().expect("stored");
    assert_eq!(record.id, portfolio_id);
    assert_eq!(record.state(), state);
    assert_eq!(record.target, Some(target()));
    assert_eq!(record.head.as_ref().unwrap().sequence_number, 1);
    let usdt = record.holding(AssetId::Usdt).unwrap();
    assert_eq!(usdt.id, new_holding_id(portfolio_id, AssetId::Usdt));
    assert_eq!(
        record.holding(AssetId::IrrFixedIncome).unwrap().lots.len(),
        1
    );
    // A second movement under the lock: sell the whole USDT holding, keep the row at 0.
    let tx = store.lock(user).await.unwrap().unwrap();
    let locked = tx.portfolio().unwrap().clone();
    let mut next = locked.state();
    next.cash += Irr::new(700_000);
    next.holding_mut(AssetId::Usdt).unwrap().quantity = Quantity::ZERO;
    let entry = NewEntry::new(
        uuid_text(Uuid::now_v7()),
        uuid_text(portfolio_id),
        EntryType::AddFunds,
        t0().plus_seconds(1),
        Snapshot::empty(),
        Snapshot::empty(),
        Boundary::Safe,
        "Added",
    )
    .seal(locked.head.as_ref())
    .unwrap();
    tx.commit(PortfolioChange {
        portfolio_id,
        create: false,
        cash: next.cash,
        holdings: next.holdings.clone(),
        status: PortfolioStatus::Balanced,
        entry,
        activity: activity(EntryType::AddFunds),
        consumed_quote: None,
        protections: Vec::new(),
        idempotency: None,
        rebalanced: false,
        now: t0().plus_seconds(1),
        loans: Vec::new(),
    })
    .await
    .unwrap();
    let after = store.portfolio(user).await.unwrap().unwrap();
    assert_eq!(after.cash, Irr::new(701_000));
    assert_eq!(after.holding(AssetId::Usdt).unwrap().id, usdt.id);
    assert_eq!(
        after.holding(AssetId::Usdt).unwrap().quantity,
        Quantity::ZERO
    );
    assert_eq!(after.head.as_ref().unwrap().sequence_number, 2);
    // Pages, single entries and the verification input read the same rows.
    let page = store
        .ledger_page(
            user,
            &LedgerQuery {
                limit: 1,
                ..LedgerQuery::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(page[0].sequence_number, 2);
    let id = Uuid::parse_str(page[0].id.as_str()).unwrap();
    assert_eq!(
        store.ledger_entry(user, id).await.unwrap().unwrap(),
        page[0]
    );
    let stranger = db.scored_user().await;
    assert!(store.ledger_entry(stranger, id).await.unwrap().is_none());
    let (entries, current) = store
        .verification_input(portfolio_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(entries.len(), 2);
    // The rows hash as they were sealed (both backends store the exact hashed content).
    assert!(entries.iter().all(|e| e.recompute_hash() == e.entry_hash));
    assert_eq!(entries[1].prev_hash, entries[0].entry_hash);
    assert_eq!(verify(&entries, &current).entry_count, 2);
    assert_eq!(current.cash, Irr::new(701_000));
    assert!(store.portfolio_ids().await.unwrap().contains(&portfolio_id));
    let activity = store.activity_page(user, None, 10).await.unwrap();
    assert_eq!(activity.len(), 2);
    assert!(activity[0].id > activity[1].id);
    let older = store
        .activity_page(user, Some(activity[0].id), 10)
        .await
        .unwrap();
    assert_eq!(older.len(), 1);
}

fn trade_quote(user: Uuid, portfolio_id: Uuid) -> TradeQuote {
    TradeQuote {
        id: format!("tq_{}", Uuid::new_v4().simple()),
        user_id: user,
        portfolio_id,
        asset: AssetId::Btc,
        action: TradeAction::Buy,
        amount: Irr::new(10_000_000),
        sell_all: false,
        quantity: q(dec!(0.00007023)),
        price_usd: Some(dec!(97500)),
        price_irr: dec!(141960000000),
        fx_rate: Some(dec!(1456000)),
        spread: Irr::new(30_000),
        consumed: false,
        expires_at: t0().plus_seconds(30),
        created_at: t0(),
    }
}

/// Commits a movement (cash unchanged) that consumes `quote`.
async fn consume(
    store: &Arc<dyn PortfolioStore>,
    user: Uuid,
    quote: &TradeQuote,
) -> Result<(), StoreError> {
    let tx = store.lock(user).await.unwrap().unwrap();
    let locked = tx.portfolio().unwrap().clone();
    let entry = NewEntry::new(
        uuid_text(Uuid::now_v7()),
        uuid_text(locked.id),
        EntryType::AddFunds,
        t0(),
        Snapshot::empty(),
        Snapshot::empty(),
        Boundary::Safe,
        "x",
    )
    .seal(locked.head.as_ref())
    .unwrap();
    tx.commit(PortfolioChange {
        portfolio_id: locked.id,
        create: false,
        cash: locked.cash,
        holdings: locked.state().holdings,
        status: PortfolioStatus::Balanced,
        entry,
        activity: activity(EntryType::AddFunds),
        consumed_quote: Some(quote.clone()),
        protections: Vec::new(),
        idempotency: None,
        rebalanced: false,
        now: t0(),
        loans: Vec::new(),
    })
    .await
}

/// A user with a portfolio and one quote kept in the database.
async fn user_with_a_saved_quote(db: &TestDb) -> (Uuid, Uuid, Arc<dyn PortfolioStore>, TradeQuote) {
    let user = db.scored_user().await;
    let (portfolio_id, _) = create(db, user).await;
    let store = db.portfolios();
    let quote = trade_quote(user, portfolio_id);
    store
        .save_quotes(std::slice::from_ref(&quote))
        .await
        .unwrap();
    (user, portfolio_id, store, quote)
}

/// The row of a consumed quote is what refuses a second fill of a quote kept in Redis, so
/// housekeeping keeps it past the quote's expiry; an unused expired quote goes at once.
pub(super) async fn housekeeping_keeps_a_consumed_quote_past_its_expiry_and_drops_an_unused_one(
    db: &TestDb,
) {
    let (user, portfolio_id, store, unused) = user_with_a_saved_quote(db).await;
    // Kept outside the database (Redis): the consumption inserts its row as CONSUMED.
    let filled = trade_quote(user, portfolio_id);
    consume(&store, user, &filled).await.unwrap();
    let retention = std::time::Duration::from_secs(3600);
    let housekeeping = |now: Timestamp| {
        let outbox = db.outbox();
        async move {
            outbox
                .housekeeping(now, std::time::Duration::from_secs(86_400), retention, 50)
                .await
                .unwrap()
        }
    };

    housekeeping(filled.expires_at.plus_seconds(60)).await;
    assert!(store.quote(user, &unused.id).await.unwrap().is_none());
    let kept = store.quote(user, &filled.id).await.unwrap();
    assert!(kept.expect("the consumed quote is kept").consumed);
    let again = consume(&store, user, &filled).await.unwrap_err();
    assert!(
        matches!(again, StoreError::Conflict(Conflict::TradeQuoteConsumed)),
        "{again:?}"
    );

    housekeeping(filled.expires_at.plus_seconds(3601)).await;
    assert!(store.quote(user, &filled.id).await.unwrap().is_none());
}

pub(super) async fn a_quote_is_read_only_by_its_owner_and_consumed_once(db: &TestDb) {
    let (user, portfolio_id, store, quote) = user_with_a_saved_quote(db).await;
    let stranger = db.scored_user().await;
    assert!(store.quote(stranger, &quote.id).await.unwrap().is_none());
    assert_eq!(store.quote(user, &quote.id).await.unwrap().unwrap(), quote);
    let entries = || async {
        let all = LedgerQuery {
            limit: 100,
            ..LedgerQuery::default()
        };
        store.ledger_page(user, &all).await.unwrap().len()
    };
    let before = entries().await;

    consume(&store, user, &quote).await.unwrap();
    assert!(
        store
            .quote(user, &quote.id)
            .await
            .unwrap()
            .unwrap()
            .consumed
    );
    let again = consume(&store, user, &quote).await.unwrap_err();
    assert!(
        matches!(again, StoreError::Conflict(Conflict::TradeQuoteConsumed)),
        "{again:?}"
    );

    // A quote kept outside the database (Redis) is recorded by its consumption, once.
    let kept_elsewhere = trade_quote(user, portfolio_id);
    assert!(
        store
            .quote(user, &kept_elsewhere.id)
            .await
            .unwrap()
            .is_none()
    );
    consume(&store, user, &kept_elsewhere).await.unwrap();
    let recorded = store
        .quote(user, &kept_elsewhere.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        recorded,
        TradeQuote {
            consumed: true,
            ..kept_elsewhere.clone()
        }
    );
    let again = consume(&store, user, &kept_elsewhere).await.unwrap_err();
    assert!(
        matches!(again, StoreError::Conflict(Conflict::TradeQuoteConsumed)),
        "{again:?}"
    );
    // Neither refusal wrote anything: one ledger entry per successful consumption.
    assert_eq!(entries().await, before + 2);
}

fn idempotency_request(
    user: Uuid,
    claim: Uuid,
    fingerprint: &str,
    now: Timestamp,
) -> IdempotencyRequest {
    IdempotencyRequest {
        user_id: user,
        key: "k".into(),
        claim,
        method: "POST".into(),
        path: "/api/v1/portfolio/add-funds".into(),
        fingerprint: fingerprint.into(),
        now,
        expired_before: now.plus_seconds(-86_400),
        abandoned_before: now.plus_seconds(-120),
    }
}

fn idempotency_completion(user: Uuid, claim: Uuid) -> IdempotencyCompletion {
    IdempotencyCompletion {
        user_id: user,
        key: "k".into(),
        claim,
        status: 201,
        body: br#"{"ok":1}"#.to_vec(),
    }
}

pub(super) async fn an_idempotency_key_is_claimed_once_completed_and_replayed(db: &TestDb) {
    let user = db.scored_user().await;
    let store = db.portfolios();
    let first = Uuid::new_v4();
    let request = |fingerprint: &str, now: Timestamp| {
        idempotency_request(user, Uuid::new_v4(), fingerprint, now)
    };
    assert_eq!(
        store
            .claim_idempotency(&idempotency_request(user, first, "a", t0()))
            .await
            .unwrap(),
        IdempotencyClaim::Started
    );
    assert_eq!(
        store.claim_idempotency(&request("a", t0())).await.unwrap(),
        IdempotencyClaim::InProgress
    );
    assert_eq!(
        store.claim_idempotency(&request("b", t0())).await.unwrap(),
        IdempotencyClaim::Mismatch
    );
    let completion = idempotency_completion(user, first);
    store.complete_idempotency(&completion, t0()).await.unwrap();
    assert_eq!(
        store.claim_idempotency(&request("a", t0())).await.unwrap(),
        IdempotencyClaim::Replay {
            status: 201,
            body: completion.body.clone()
        }
    );
    // After 24 h the key is free again.
    let later = t0().plus_seconds(86_401);
    let second = Uuid::new_v4();
    assert_eq!(
        store
            .claim_idempotency(&idempotency_request(user, second, "b", later))
            .await
            .unwrap(),
        IdempotencyClaim::Started
    );
    store.release_idempotency(user, "k", second).await.unwrap();
    assert_eq!(
        store.claim_idempotency(&request("c", later)).await.unwrap(),
        IdempotencyClaim::Started
    );
}

pub(super) async fn only_the_holder_of_an_idempotency_claim_completes_or_releases_it(db: &TestDb) {
    let user = db.scored_user().await;
    let store = db.portfolios();
    let holder = Uuid::new_v4();
    let stranger = Uuid::new_v4();
    store
        .claim_idempotency(&idempotency_request(user, holder, "a", t0()))
        .await
        .unwrap();
    // Another claim id can neither release nor complete the record.
    store
        .release_idempotency(user, "k", stranger)
        .await
        .unwrap();
    assert_eq!(
        store
            .claim_idempotency(&idempotency_request(user, stranger, "a", t0()))
            .await
            .unwrap(),
        IdempotencyClaim::InProgress
    );
    let refused = store
        .complete_idempotency(&idempotency_completion(user, stranger), t0())
        .await;
    assert!(
        matches!(refused, Err(StoreError::IdempotencyClaimLost)),
        "{refused:?}"
    );
    store
        .complete_idempotency(&idempotency_completion(user, holder), t0())
        .await
        .unwrap();
    // A completed record is never released, whoever asks.
    store.release_idempotency(user, "k", holder).await.unwrap();
    assert!(matches!(
        store
            .claim_idempotency(&idempotency_request(user, stranger, "a", t0()))
            .await
            .unwrap(),
        IdempotencyClaim::Replay { .. }
    ));
}

/// A process that dies holding a claim (crash, SIGKILL) must not make the retry wait for the
/// two-minute backstop (issue 10). PostgreSQL: the claim's owner lock dies with the owner's
/// session. SQLite: `blu serve` releases every claim left when it starts.
pub(super) async fn a_claim_of_a_process_that_is_gone_is_taken_over_at_once(db: &TestDb) {
    let user = db.scored_user().await;
    let store = db.portfolios();
    let departed = db.another_process().await;
    departed
        .claim_idempotency(&idempotency_request(user, Uuid::new_v4(), "a", t0()))
        .await
        .unwrap();
    let retry = || idempotency_request(user, Uuid::new_v4(), "a", t0());
    if db.is_postgres() {
        // Alive: the retry waits.
        assert_eq!(
            store.claim_idempotency(&retry()).await.unwrap(),
            IdempotencyClaim::InProgress
        );
        assert_eq!(store.release_abandoned_idempotency().await.unwrap(), 0);
        drop(departed);
        // The owner lock goes with the departed process's session; allow the server a moment
        // to notice the closed connection.
        let mut claim = store.claim_idempotency(&retry()).await.unwrap();
        for _ in 0..50 {
            if claim == IdempotencyClaim::Started {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            claim = store.claim_idempotency(&retry()).await.unwrap();
        }
        assert_eq!(claim, IdempotencyClaim::Started);
    } else {
        drop(departed);
        assert_eq!(store.release_abandoned_idempotency().await.unwrap(), 1);
        assert_eq!(
            store.claim_idempotency(&retry()).await.unwrap(),
            IdempotencyClaim::Started
        );
    }
}

pub(super) async fn consent_needs_a_score_and_settings_and_deletion_round_trip(db: &TestDb) {
    let store = db.portfolios();
    let (unscored, _) = db.store.login_user("+989120000001", t0()).await.unwrap();
    assert!(
        store
            .save_consent(unscored.id, t0())
            .await
            .unwrap()
            .is_none()
    );
    let user = db.scored_user().await;
    let first = store.save_consent(user, t0()).await.unwrap().unwrap();
    let again = store
        .save_consent(user, t0().plus_seconds(5))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first, again);
    let settings = store
        .update_settings(
            user,
            &SettingsUpdate {
                language: Some("en".into()),
                notifications_enabled: Some(false),
                notification_token: Some("tok".into()),
                ..SettingsUpdate::default()
            },
            t0(),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(settings.language, "en");
    assert!(!settings.notifications_enabled);
    let profile = store.profile(user).await.unwrap().unwrap();
    assert_eq!(profile.risk_score, Some(6));
    assert!(profile.consent_risk && profile.consent_loss && profile.consent_no_guarantee);
    assert_eq!(profile.settings.notification_token.as_deref(), Some("tok"));
    // A user without a portfolio closes with nothing to cancel.
    let tx = store.lock(user).await.unwrap().expect("the user exists");
    assert!(tx.portfolio().is_none());
    tx.close_account(AccountClosure {
        cancellations: Vec::new(),
        anonymised_phone: "deleted:x".into(),
        now: t0(),
    })
    .await
    .unwrap();
    assert!(store.profile(user).await.unwrap().is_none());
    assert!(store.lock(user).await.unwrap().is_none());
}

pub(super) async fn closing_an_account_cancels_its_protection_on_the_ledger_and_revokes_sessions(
    db: &TestDb,
) {
    let user = db.scored_user().await;
    let (portfolio_id, state) = create(db, user).await;
    db.protection(portfolio_id, t0().plus_days(10)).await;
    let session = super::session(user, t0(), 'a');
    db.store.create_session(&session).await.unwrap();
    let store = db.portfolios();
    let mut tx = store.lock(user).await.unwrap().expect("the user exists");
    let record = tx.portfolio().cloned().expect("a portfolio");
    let mut found = tx.protections().await.unwrap().remove(0);
    let later = t0().plus_seconds(60);
    found.protection.cancel(later).unwrap();
    let entry = NewEntry::new(
        uuid_text(Uuid::now_v7()),
        uuid_text(portfolio_id),
        EntryType::ProtectionCancel,
        later,
        Snapshot::empty(),
        Snapshot::empty(),
        Boundary::Safe,
        "Protection cancelled for BTC",
    )
    .seal(record.head.as_ref())
    .unwrap();
    let cancellation = PortfolioChange {
        portfolio_id,
        create: false,
        cash: state.cash,
        holdings: state.holdings.clone(),
        status: PortfolioStatus::Balanced,
        entry,
        activity: activity(EntryType::ProtectionCancel),
        consumed_quote: None,
        protections: vec![ProtectionWrite::Transition {
            record: found,
            notification: None,
        }],
        idempotency: None,
        rebalanced: false,
        now: later,
        loans: Vec::new(),
    };
    tx.close_account(AccountClosure {
        cancellations: vec![cancellation],
        anonymised_phone: "deleted:y".into(),
        now: later,
    })
    .await
    .unwrap();

    let (entries, after) = store
        .verification_input(portfolio_id)
        .await
        .unwrap()
        .expect("the ledger outlives the account");
    let types: Vec<EntryType> = entries.iter().map(|e| e.entry_type).collect();
    assert_eq!(
        types,
        [EntryType::PortfolioCreated, EntryType::ProtectionCancel]
    );
    assert_eq!(after, state, "cancelling moves no money");
    assert!(
        db.protections()
            .due_protections(t0().plus_days(365))
            .await
            .unwrap()
            .is_empty(),
        "no protection is ACTIVE any more"
    );
    let revoked = db.store.session(session.id).await.unwrap().unwrap();
    assert_eq!(revoked.revoked_at, Some(later));
    assert!(store.profile(user).await.unwrap().is_none());
    assert!(store.lock(user).await.unwrap().is_none());
}
