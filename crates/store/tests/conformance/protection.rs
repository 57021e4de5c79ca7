//! Conformance cases of the protection storage (`ProtectionStore` and the protection writes of a
//! locked movement): single-use quotes, protections written with their movement, transitions out
//! of ACTIVE with their notification in the same transaction, and the expiry job's due list.

use std::sync::Arc;

use blu_app::ports::{
    Conflict, NotificationStore, PortfolioChange, ProtectionNotification, ProtectionQuoteRecord,
    ProtectionRecord, ProtectionStore, ProtectionWrite, QuoteState, StoreError,
};
use blu_domain::portfolio::AssetPrice;
use blu_domain::protection::{
    Coverage, PricingModel, Protection, ProtectionDuration, ProtectionQuote, ProtectionStatus,
    ProtectionTerms, Settlement, VolatilityRegime,
};
use blu_domain::{
    AssetId, Boundary, EntryType, Irr, NewEntry, PortfolioStatus, Quantity, Snapshot, Timestamp,
};
use rust_decimal_macros::dec;
use uuid::Uuid;

use super::portfolio::{activity, create, uuid_text};
use super::{TestDb, t0};

impl TestDb {
    fn protection_outbox(&self) -> Arc<dyn NotificationStore> {
        Arc::new(self.db.clone())
    }

    fn protection_store(&self) -> Arc<dyn ProtectionStore> {
        Arc::new(self.db.clone())
    }

    /// (kind, dedupe key) of the outbox rows of one entity (owner role).
    async fn outbox_rows(&self, entity_id: &str) -> Vec<(String, String)> {
        let sql = "SELECT kind, dedupe_key FROM notifications WHERE entity_id = $1 ORDER BY kind";
        self.rows(sql, vec![entity_id.into()])
            .await
            .iter()
            .map(|r| (r.text("kind").unwrap(), r.text("dedupe_key").unwrap()))
            .collect()
    }

    /// The ledger head's sequence number of `user`'s portfolio.
    async fn head(&self, user: Uuid) -> u64 {
        let portfolio = self.portfolios().portfolio(user).await.unwrap().unwrap();
        portfolio.head.unwrap().sequence_number
    }
}

/// Terms on `quantity` units of `asset` at 100 USD (1 USD = 1,456,000 IRR), full coverage.
fn quote(asset: AssetId, quantity: rust_decimal::Decimal, at: Timestamp) -> ProtectionQuote {
    let price = AssetPrice {
        price_usd: dec!(100),
        price_irr: dec!(145600000),
    };
    let terms = ProtectionTerms::new(
        asset,
        Quantity::exact(quantity).unwrap(),
        Coverage::new(dec!(1)).unwrap(),
        ProtectionDuration::from_days(30).unwrap(),
        price,
    );
    let premium = PricingModel::LayerRate.price(&terms, VolatilityRegime::Normal);
    ProtectionQuote {
        terms,
        premium,
        quoted_at: at,
        valid_until: at.plus_seconds(300),
    }
}

/// A quote of `user` on the USDT holding of the portfolio `create` made.
async fn usdt_quote(db: &TestDb, user: Uuid) -> ProtectionQuoteRecord {
    let portfolio = db.portfolios().portfolio(user).await.unwrap().unwrap();
    let record = ProtectionQuoteRecord {
        id: format!("pq_{}", Uuid::new_v4().simple()),
        user_id: user,
        portfolio_id: portfolio.id,
        holding_id: portfolio.holding(AssetId::Usdt).unwrap().id,
        quote: quote(AssetId::Usdt, dec!(0.5), t0()),
        state: QuoteState::Available,
    };
    db.protection_store()
        .save_protection_quote(&record)
        .await
        .unwrap();
    record
}

/// An ACTIVE protection of `portfolio_id` on `asset`, bought at `start`, expiring at `expires`
/// (built directly: eligibility is the domain's concern, not the store's).
fn protection(
    portfolio_id: Uuid,
    asset: AssetId,
    start: Timestamp,
    expires: Timestamp,
) -> ProtectionRecord {
    let quoted = quote(asset, dec!(0.5), start);
    ProtectionRecord {
        id: Uuid::now_v7(),
        portfolio_id,
        holding_id: None,
        quote_id: None,
        protection: Protection {
            terms: quoted.terms,
            premium: quoted.premium,
            start_at: start,
            expires_at: expires,
            status: ProtectionStatus::Active,
            cancelled_at: None,
            settlement: None,
        },
        created_at: start,
    }
}

/// What a protection row keeps of a record: the terms and greeks the API reports. The quote-only
/// pricing inputs (holding quantity, spot, d1, the Black-Scholes breakdown) live in the quote's
/// terms document; a row reads them back as protected quantity, strike (K = S), 0 and none.
fn stored(record: &ProtectionRecord) -> ProtectionRecord {
    let mut kept = record.clone();
    let p = &mut kept.protection;
    p.terms.holding_quantity = p.terms.protected_quantity;
    p.terms.spot_usd = p.terms.strike_usd;
    p.terms.spot_irr = p.terms.strike_irr;
    p.premium.greeks.d1 = rust_decimal::Decimal::ZERO;
    p.premium.black_scholes = None;
    kept
}

fn all_stored(records: &[&ProtectionRecord]) -> Vec<ProtectionRecord> {
    records.iter().map(|r| stored(r)).collect()
}

/// Commits a movement of `user` (cash and holdings unchanged) carrying `writes`.
async fn commit_protections(
    db: &TestDb,
    user: Uuid,
    writes: Vec<ProtectionWrite>,
    at: Timestamp,
) -> Result<(), StoreError> {
    let store = db.portfolios();
    let tx = store.lock(user).await.unwrap().unwrap();
    let locked = tx.portfolio().unwrap().clone();
    let state = locked.state();
    let entry = NewEntry::new(
        uuid_text(Uuid::now_v7()),
        uuid_text(locked.id),
        EntryType::ProtectionPurchase,
        at,
        Snapshot::empty(),
        Snapshot::empty(),
        Boundary::Safe,
        "Protection",
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
        activity: activity(EntryType::ProtectionPurchase),
        consumed_quote: None,
        idempotency: None,
        now: at,
        rebalanced: false,
        protections: writes,
        loans: Vec::new(),
    })
    .await
}

/// Reserves `id` under `user`'s lock and rolls back (the transaction is dropped).
async fn reserve(db: &TestDb, user: Uuid, id: &str, at: Timestamp) -> Option<QuoteState> {
    let store = db.portfolios();
    let mut tx = store.lock(user).await.unwrap().unwrap();
    let found = tx.reserve_protection_quote(id, at).await.unwrap();
    found.map(|q| q.state)
}

fn notification(user_id: Uuid, record: &ProtectionRecord, kind: &str) -> ProtectionNotification {
    ProtectionNotification {
        user_id,
        kind: kind.into(),
        entity_id: record.id.to_string(),
        dedupe_key: "settlement".into(),
        title: "Protection ended".into(),
        body: "Your BTC protection ended.".into(),
        data: serde_json::json!({"protectionId": record.id.to_string(), "assetId": "BTC"}),
    }
}

fn settle(record: &ProtectionRecord, spot_usd: rust_decimal::Decimal) -> ProtectionRecord {
    let mut settled = record.clone();
    let p = &mut settled.protection;
    let (at, held) = (p.expires_at, p.terms.protected_quantity);
    p.settle(at, spot_usd, dec!(1456000), at, held)
        .expect("ACTIVE and expired");
    settled
}

pub(super) async fn a_protection_quote_is_reserved_only_by_its_owner_and_consumed_once(
    db: &TestDb,
) {
    let (owner, stranger) = (db.scored_user().await, db.scored_user().await);
    let (portfolio_id, _) = create(db, owner).await;
    create(db, stranger).await;
    let stored = usdt_quote(db, owner).await;
    let sibling = usdt_quote(db, owner).await;
    let at = t0().plus_seconds(10);

    assert_eq!(reserve(db, stranger, &stored.id, at).await, None);
    assert_eq!(reserve(db, owner, "pq_unknown", at).await, None);
    // A reservation is part of the locked transaction: dropping it releases the quote, so the
    // owner reserves it again, and reads back every priced term.
    assert_eq!(
        reserve(db, owner, &stored.id, at).await,
        Some(QuoteState::Reserved)
    );
    let store = db.portfolios();
    let mut tx = store.lock(owner).await.unwrap().unwrap();
    let reserved = tx
        .reserve_protection_quote(&stored.id, at)
        .await
        .unwrap()
        .unwrap();
    drop(tx);
    assert_eq!(
        reserved,
        ProtectionQuoteRecord {
            state: QuoteState::Reserved,
            ..stored.clone()
        }
    );

    // The purchase consumes its quote and expires the holding's other AVAILABLE quotes.
    let mut bought = protection(
        portfolio_id,
        AssetId::Usdt,
        at,
        at.plus_seconds(30 * 86_400),
    );
    bought.holding_id = Some(stored.holding_id);
    bought.quote_id = Some(stored.id.clone());
    commit_protections(db, owner, vec![ProtectionWrite::Insert(bought.clone())], at)
        .await
        .unwrap();
    assert_eq!(
        reserve(db, owner, &stored.id, at).await,
        Some(QuoteState::Consumed)
    );
    assert_eq!(
        reserve(db, owner, &sibling.id, at).await,
        Some(QuoteState::Expired)
    );

    // A second purchase with the consumed quote is a conflict and writes nothing.
    let head = db.head(owner).await;
    let mut again = protection(portfolio_id, AssetId::Btc, at, at.plus_seconds(86_400));
    again.quote_id = Some(stored.id.clone());
    let err = commit_protections(db, owner, vec![ProtectionWrite::Insert(again)], at)
        .await
        .unwrap_err();
    assert!(
        matches!(
            &err,
            StoreError::Conflict(Conflict::ProtectionQuoteConsumed)
        ),
        "{err:?}"
    );
    assert_eq!(db.head(owner).await, head);
    let protections = db.protection_store().protections(owner).await.unwrap();
    assert_eq!(protections, all_stored(&[&bought]));
}

pub(super) async fn an_expired_protection_quote_cannot_be_reserved(db: &TestDb) {
    let user = db.scored_user().await;
    create(db, user).await;
    let late = usdt_quote(db, user).await;
    let edge = usdt_quote(db, user).await;
    let valid_until = late.quote.valid_until;
    assert_eq!(
        reserve(db, user, &late.id, valid_until.plus_seconds(1)).await,
        Some(QuoteState::Expired)
    );
    assert_eq!(
        reserve(db, user, &late.id, valid_until.plus_seconds(3600)).await,
        Some(QuoteState::Expired)
    );
    // Valid through its last instant (`validUntil` itself), like `ProtectionQuote::is_expired`.
    assert_eq!(
        reserve(db, user, &edge.id, valid_until).await,
        Some(QuoteState::Reserved)
    );
}

pub(super) async fn a_purchased_protection_reads_back_whole_newest_first_and_only_for_its_owner(
    db: &TestDb,
) {
    let (owner, stranger) = (db.scored_user().await, db.scored_user().await);
    let (portfolio_id, _) = create(db, owner).await;
    let store = db.protection_store();
    assert!(store.protections(owner).await.unwrap().is_empty());
    assert!(
        store.protections(stranger).await.unwrap().is_empty(),
        "no portfolio yet"
    );
    let first = t0().plus_seconds(1);
    let older = protection(portfolio_id, AssetId::Btc, first, first.plus_days(30));
    let second = t0().plus_seconds(2);
    let newer = protection(portfolio_id, AssetId::Eth, second, second.plus_days(60));
    commit_protections(
        db,
        owner,
        vec![ProtectionWrite::Insert(older.clone())],
        first,
    )
    .await
    .unwrap();
    commit_protections(
        db,
        owner,
        vec![ProtectionWrite::Insert(newer.clone())],
        second,
    )
    .await
    .unwrap();
    let expected = all_stored(&[&newer, &older]);
    assert_eq!(store.protections(owner).await.unwrap(), expected);
    let portfolios = db.portfolios();
    let mut tx = portfolios.lock(owner).await.unwrap().unwrap();
    assert_eq!(tx.protections().await.unwrap(), expected);
    assert_eq!(tx.portfolio().unwrap().active_protections, 2);
    drop(tx);
    create(db, stranger).await;
    assert!(store.protections(stranger).await.unwrap().is_empty());

    // A second ACTIVE protection on the same asset is refused by the database.
    let head = db.head(owner).await;
    let twin = protection(portfolio_id, AssetId::Btc, second, second.plus_days(30));
    let err = commit_protections(db, owner, vec![ProtectionWrite::Insert(twin)], second)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    assert_eq!(db.head(owner).await, head);
}

pub(super) async fn a_protection_leaves_active_once_with_its_notification_in_the_same_transaction(
    db: &TestDb,
) {
    let user = db.scored_user().await;
    let (portfolio_id, _) = create(db, user).await;
    let start = t0().plus_seconds(1);
    let cancelled = protection(portfolio_id, AssetId::Btc, start, start.plus_days(30));
    let expired = protection(portfolio_id, AssetId::Eth, start, start.plus_days(30));
    let exercised = protection(portfolio_id, AssetId::Sol, start, start.plus_days(30));
    let inserts = [&cancelled, &expired, &exercised]
        .map(|r| ProtectionWrite::Insert(r.clone()))
        .to_vec();
    commit_protections(db, user, inserts, start).await.unwrap();

    // CANCELLED without a notification.
    let mut cancel = cancelled.clone();
    cancel.protection.cancel(start.plus_days(2)).unwrap();
    let transition = |record: &ProtectionRecord, notification| ProtectionWrite::Transition {
        record: record.clone(),
        notification,
    };
    commit_protections(
        db,
        user,
        vec![transition(&cancel, None)],
        start.plus_days(2),
    )
    .await
    .unwrap();

    // A batch whose second transition lost its race (the protection is no longer ACTIVE)
    // rolls back whole: the first settlement and its notification are not kept.
    let at = start.plus_days(30);
    let lapsed = settle(&expired, dec!(120));
    assert_eq!(lapsed.protection.status, ProtectionStatus::Expired);
    let lapsed_note = notification(user, &lapsed, "PROTECTION_EXPIRED");
    let head = db.head(user).await;
    let err = commit_protections(
        db,
        user,
        vec![
            transition(&lapsed, Some(lapsed_note.clone())),
            transition(&cancel, None),
        ],
        at,
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&err, StoreError::Conflict(Conflict::ProtectionNotActive)),
        "{err:?}"
    );
    assert_eq!(db.head(user).await, head);
    assert!(db.outbox_rows(&expired.id.to_string()).await.is_empty());

    // EXPIRED and EXERCISED, each with its notification, in one movement.
    let paid = settle(&exercised, dec!(80));
    assert_eq!(paid.protection.status, ProtectionStatus::Exercised);
    let mut paid_note = notification(user, &paid, "PROTECTION_PAYOUT");
    paid_note.data["payoutIrr"] = serde_json::json!(14_560_000);
    paid_note.data["cancelledAt"] = serde_json::Value::Null;
    commit_protections(
        db,
        user,
        vec![
            transition(&lapsed, Some(lapsed_note.clone())),
            transition(&paid, Some(paid_note.clone())),
        ],
        at,
    )
    .await
    .unwrap();
    let mut loaded = db.protection_store().protections(user).await.unwrap();
    loaded.sort_by_key(|r| r.protection.terms.asset);
    let mut expected = all_stored(&[&cancel, &lapsed, &paid]);
    expected.sort_by_key(|r| r.protection.terms.asset);
    assert_eq!(loaded, expected);
    let settlement: &Settlement = paid.protection.settlement.as_ref().unwrap();
    assert_eq!(settlement.payout_usd, dec!(10), "(100 − 80) × 0.5");
    assert_eq!(settlement.payout_irr, Irr::new(14_560_000));
    let note_rows = |kind: &str| vec![(kind.to_owned(), "settlement".to_owned())];
    assert_eq!(
        db.outbox_rows(&lapsed.id.to_string()).await,
        note_rows("PROTECTION_EXPIRED")
    );
    assert_eq!(
        db.outbox_rows(&paid.id.to_string()).await,
        note_rows("PROTECTION_PAYOUT")
    );
    // Push data is text: a number written by the settlement is delivered as its digits, so the
    // row never blocks the outbox (FCM takes string values only); nulls are dropped.
    let claimed = db
        .protection_outbox()
        .claim_due(at, 10, 5, at.plus_seconds(600))
        .await
        .unwrap();
    let payout = claimed
        .iter()
        .find(|n| n.kind == "PROTECTION_PAYOUT")
        .unwrap();
    assert_eq!(
        payout.data,
        std::collections::BTreeMap::from([
            ("assetId".to_owned(), "BTC".to_owned()),
            ("payoutIrr".to_owned(), "14560000".to_owned()),
            ("protectionId".to_owned(), paid.id.to_string()),
        ])
    );
    assert_eq!(claimed.len(), 2);
    assert_eq!(
        db.portfolios()
            .portfolio(user)
            .await
            .unwrap()
            .unwrap()
            .active_protections,
        0
    );

    // A second settlement (another worker's late attempt) is a conflict: one ledger entry,
    // one notification.
    let head = db.head(user).await;
    let err = commit_protections(
        db,
        user,
        vec![transition(&paid, Some(paid_note))],
        at.plus_seconds(60),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    assert_eq!(db.head(user).await, head);
    assert_eq!(db.outbox_rows(&paid.id.to_string()).await.len(), 1);
}

pub(super) async fn due_protections_are_the_active_ones_past_expiry_oldest_first_for_every_user(
    db: &TestDb,
) {
    let (a, b) = (db.scored_user().await, db.scored_user().await);
    let (pa, _) = create(db, a).await;
    let (pb, _) = create(db, b).await;
    let now = t0().plus_days(40);
    let start = t0().plus_seconds(1);
    let a_late = protection(pa, AssetId::Btc, start, now.plus_seconds(-60));
    let a_edge = protection(pa, AssetId::Eth, start, now);
    let a_future = protection(pa, AssetId::Sol, start, now.plus_seconds(1));
    let a_cancelled = protection(pa, AssetId::Ton, start, now.plus_seconds(-3600));
    let b_oldest = protection(pb, AssetId::Btc, start, now.plus_seconds(-7200));
    let writes = |records: &[&ProtectionRecord]| {
        records
            .iter()
            .map(|r| ProtectionWrite::Insert((*r).clone()))
            .collect::<Vec<_>>()
    };
    commit_protections(
        db,
        a,
        writes(&[&a_late, &a_edge, &a_future, &a_cancelled]),
        start,
    )
    .await
    .unwrap();
    commit_protections(db, b, writes(&[&b_oldest]), start)
        .await
        .unwrap();
    let mut cancel = a_cancelled.clone();
    cancel.protection.cancel(start.plus_days(1)).unwrap();
    let write = ProtectionWrite::Transition {
        record: cancel,
        notification: None,
    };
    commit_protections(db, a, vec![write], start.plus_days(1))
        .await
        .unwrap();

    let store = db.protection_store();
    assert_eq!(
        store.due_protections(now).await.unwrap(),
        vec![(b, b_oldest.id), (a, a_late.id), (a, a_edge.id)],
        "ACTIVE, expiresAt ≤ now, oldest expiry first, across tenants"
    );
    assert!(
        store
            .due_protections(now.plus_seconds(-7201))
            .await
            .unwrap()
            .is_empty()
    );
    // Once settled, a protection is no longer due.
    let settled = settle(&b_oldest, dec!(100));
    let write = ProtectionWrite::Transition {
        record: settled,
        notification: None,
    };
    commit_protections(db, b, vec![write], now).await.unwrap();
    assert_eq!(
        store.due_protections(now).await.unwrap(),
        vec![(a, a_late.id), (a, a_edge.id)]
    );
}
