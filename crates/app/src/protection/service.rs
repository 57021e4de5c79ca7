//! The protection service (business-rules §8, api.md §10; D11, D25–D27): the operators'
//! volatility regimes, purchase (with a quote or in one step), cancellation and settlement at
//! expiry. Every money movement goes through the portfolio lock and commits its protection rows
//! with the ledger entry and activity row (`PortfolioChange::protections`).

use std::sync::Arc;

use blu_domain::ledger::NewEntry;
use blu_domain::portfolio::AssetPrice;
use blu_domain::protection::{
    Coverage, PricingModel, ProtectionDuration, ProtectionQuote, ProtectionStatus, PurchaseTerms,
    VolatilityRegime, check_acknowledged, check_quote_matches, purchase_protection,
    quote_protection, quote_terms,
};
use blu_domain::{
    AssetId, Boundary, EntryType, Irr, PortfolioState, PriceBook, Quantity, RuleViolation,
    Timestamp, activity,
};
use rust_decimal::Decimal;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::views::{
    CancelResult, ProtectionList, ProtectionView, PurchaseResult, SettleCounts, StatusFilter,
    protection_view,
};
use crate::portfolio::{
    Movement, PortfolioError, PortfolioResult, PortfolioService, Prepared, QuoteError, Replied,
    Reply, change_set, number, target_of, uuid_text,
};
use crate::ports::{
    AuditEntry, Conflict, PortfolioChange, PortfolioRecord, PortfolioTx, ProtectionNotification,
    ProtectionRecord, ProtectionStore, ProtectionWrite, QuoteState, RegimeSetting, StoreError,
};

/// A regime setting as an audit row records it.
fn regime_json(s: &RegimeSetting) -> Value {
    json!({ "regime": s.regime.as_str(), "reason": s.reason })
}

/// The protection use cases, on top of the portfolio service's store, prices and clock.
pub struct ProtectionService {
    pub(super) portfolio: Arc<PortfolioService>,
    pub(super) store: Arc<dyn ProtectionStore>,
    pub(super) model: PricingModel,
}

/// Longest accepted `reason` of a volatility regime (a note for operators, not a document).
const MAX_REGIME_REASON_CHARS: usize = 500;

/// The operator's volatility regimes as read for one request; an asset without one is NORMAL.
pub(super) struct Regimes(Vec<RegimeSetting>);

impl Regimes {
    pub(super) fn of(&self, asset: AssetId) -> VolatilityRegime {
        self.0
            .iter()
            .find(|s| s.asset == asset)
            .map_or(VolatilityRegime::Normal, |s| s.regime)
    }
}

/// Query of `GET /protection/quote` and the terms of `POST /protection`.
#[derive(Clone, Debug, Default)]
pub struct QuoteInput {
    pub holding_id: Option<String>,
    pub asset_id: Option<String>,
    pub coverage_pct: Option<Decimal>,
    pub duration_days: Option<i64>,
    pub duration_months: Option<i64>,
}

/// Body of `POST /protection/purchase` (and `POST /protection` with a `quoteId`).
#[derive(Clone, Debug, Default)]
pub struct PurchaseInput {
    pub quote_id: String,
    pub holding_id: Option<String>,
    pub coverage_pct: Option<Decimal>,
    pub duration_days: Option<i64>,
    pub premium_irr: Option<Irr>,
    pub acknowledged_premium: bool,
}

fn quote_error(state: QuoteState, valid_until: Timestamp) -> PortfolioError {
    match state {
        QuoteState::Expired => PortfolioError::Quote(QuoteError::Expired { valid_until }),
        _ => PortfolioError::Quote(QuoteError::InUse),
    }
}

fn parse_uuid(text: &str) -> Option<Uuid> {
    Uuid::parse_str(text.trim()).ok()
}

pub(super) fn active_on(protections: &[ProtectionRecord], asset: AssetId) -> bool {
    protections.iter().any(|p| {
        p.protection.terms.asset == asset && p.protection.status == ProtectionStatus::Active
    })
}

impl QuoteInput {
    pub(super) fn terms(&self) -> Result<(Coverage, ProtectionDuration), RuleViolation> {
        let coverage = Coverage::new(self.coverage_pct.unwrap_or(Decimal::ONE))?;
        let duration = match (self.duration_days, self.duration_months) {
            (Some(days), _) => ProtectionDuration::from_days(days)?,
            (None, Some(months)) => ProtectionDuration::from_months(months)?,
            (None, None) => {
                return Err(RuleViolation::invalid_field(
                    "durationDays",
                    "durationDays or durationMonths is required",
                ));
            }
        };
        Ok((coverage, duration))
    }

    /// The caller's holding named by `holdingId` or `assetId` (404 otherwise).
    pub(super) fn holding<'a>(
        &self,
        record: &'a PortfolioRecord,
    ) -> PortfolioResult<&'a crate::ports::HoldingRecord> {
        let found = match (&self.holding_id, &self.asset_id) {
            (Some(id), _) => {
                parse_uuid(id).and_then(|id| record.holdings.iter().find(|h| h.id == id))
            }
            (None, Some(asset)) => asset
                .trim()
                .to_ascii_uppercase()
                .parse::<AssetId>()
                .ok()
                .and_then(|a| record.holding(a)),
            (None, None) => {
                return Err(RuleViolation::invalid_field(
                    "holdingId",
                    "holdingId or assetId is required",
                )
                .into());
            }
        };
        found
            .filter(|h| h.quantity.is_positive())
            .ok_or(PortfolioError::NotFound("holding"))
    }
}

impl ProtectionService {
    pub fn new(
        portfolio: Arc<PortfolioService>,
        store: Arc<dyn ProtectionStore>,
        model: PricingModel,
    ) -> ProtectionService {
        ProtectionService {
            portfolio,
            store,
            model,
        }
    }

    /// The regimes in force now: read from the database on every pricing request, so a change
    /// made through any instance applies to the next quote everywhere.
    pub(super) async fn regimes(&self) -> PortfolioResult<Regimes> {
        Ok(Regimes(self.store.volatility_regimes().await?))
    }

    /// `GET /admin/v1/overrides` (`volatility`): the stored regimes in registry order.
    pub async fn volatility_regimes(&self) -> PortfolioResult<Vec<RegimeSetting>> {
        let mut settings = self.store.volatility_regimes().await?;
        settings.sort_by_key(|s| s.asset);
        Ok(settings)
    }

    /// `PUT /admin/v1/overrides/volatility/:assetId`: sets the regime that scales the asset's
    /// implied volatility (business-rules §8.3). Only protection-eligible assets are priced, so
    /// a regime on any other asset would be a setting with no effect: refused.
    pub async fn set_volatility_regime(
        &self,
        asset: AssetId,
        regime: &str,
        reason: Option<String>,
        audit: AuditEntry,
    ) -> PortfolioResult<RegimeSetting> {
        if !asset.asset().protection_eligible() {
            return Err(RuleViolation::invalid_field(
                "assetId",
                "volatility regimes apply to protection-eligible assets only",
            )
            .into());
        }
        let regime =
            VolatilityRegime::parse(&regime.trim().to_ascii_uppercase()).ok_or_else(|| {
                RuleViolation::invalid_field(
                    "regime",
                    "must be LOW, NORMAL, ELEVATED, HIGH or EXTREME",
                )
            })?;
        let reason = reason
            .map(|r| r.trim().to_owned())
            .filter(|r| !r.is_empty());
        if reason
            .as_ref()
            .is_some_and(|r| r.chars().count() > MAX_REGIME_REASON_CHARS)
        {
            return Err(
                RuleViolation::invalid_field("reason", "must be at most 500 characters").into(),
            );
        }
        let setting = RegimeSetting {
            asset,
            regime,
            reason,
            set_at: self.now(),
        };
        let before = self.regime_json(asset).await?;
        let audit = audit
            .with_target(asset.as_str())
            .with_before(before)
            .with_after(Some(regime_json(&setting)));
        self.store
            .set_volatility_regime(&setting, Some(&audit))
            .await?;
        Ok(setting)
    }

    /// `DELETE /admin/v1/overrides/volatility/:assetId`: the asset is NORMAL again. Returns
    /// whether a regime was set.
    pub async fn clear_volatility_regime(
        &self,
        asset: AssetId,
        audit: AuditEntry,
    ) -> PortfolioResult<bool> {
        let audit = audit
            .with_target(asset.as_str())
            .with_before(self.regime_json(asset).await?);
        Ok(self
            .store
            .clear_volatility_regime(asset, Some(&audit))
            .await?)
    }

    /// The asset's current regime setting for an audit row (`None`: NORMAL, unset).
    async fn regime_json(&self, asset: AssetId) -> PortfolioResult<Option<serde_json::Value>> {
        let settings = self.store.volatility_regimes().await?;
        Ok(settings.iter().find(|s| s.asset == asset).map(regime_json))
    }

    pub fn model(&self) -> PricingModel {
        self.model
    }

    pub(super) fn now(&self) -> Timestamp {
        self.portfolio.now()
    }

    pub(super) async fn record(&self, user_id: Uuid) -> PortfolioResult<PortfolioRecord> {
        self.portfolio
            .store
            .portfolio(user_id)
            .await?
            .ok_or(PortfolioError::NoPortfolio)
    }

    /// Prices a quote on `record` at the current fresh price (§8.2 checks in order), under the
    /// operator's regime of the holding's asset.
    pub(super) fn price_quote(
        &self,
        record: &PortfolioRecord,
        protections: &[ProtectionRecord],
        input: &QuoteInput,
        regimes: &Regimes,
        now: Timestamp,
    ) -> PortfolioResult<(Uuid, ProtectionQuote)> {
        let (coverage, duration) = input.terms()?;
        let holding = input.holding(record)?;
        let already = active_on(protections, holding.asset);
        if !holding.asset.asset().protection_eligible() || already {
            let zero = AssetPrice {
                price_usd: Decimal::ZERO,
                price_irr: Decimal::ZERO,
            };
            quote_terms(
                holding.asset,
                holding.quantity,
                already,
                coverage,
                duration,
                zero,
            )?;
        }
        let snapshot = self.portfolio.prices.snapshot();
        let fresh = self
            .portfolio
            .fresh_book(&snapshot, now, &[holding.asset])?;
        let price = fresh
            .get(holding.asset)
            .ok_or(PortfolioError::NotFound("price"))?;
        let quote = quote_protection(
            holding.asset,
            holding.quantity,
            already,
            coverage,
            duration,
            price,
            self.model,
            regimes.of(holding.asset),
            now,
        )?;
        Ok((holding.id, quote))
    }

    /// `POST /protection/purchase`: reserves the quote, checks the terms, and buys.
    pub async fn purchase(
        &self,
        user_id: Uuid,
        input: &PurchaseInput,
        reply: Reply,
    ) -> PortfolioResult<Replied> {
        check_acknowledged(input.acknowledged_premium)?;
        let mut tx = self.portfolio.lock(user_id).await?;
        let now = self.now();
        let stored = tx
            .reserve_protection_quote(&input.quote_id, now)
            .await?
            .ok_or(PortfolioError::Quote(QuoteError::NotFound))?;
        if stored.state != QuoteState::Reserved {
            return Err(quote_error(stored.state, stored.quote.valid_until));
        }
        if stored.quote.is_expired(now) {
            return Err(quote_error(QuoteState::Expired, stored.quote.valid_until));
        }
        let quoted_holding = stored.holding_id.to_string();
        check_quote_matches(
            &stored.quote,
            &quoted_holding,
            &PurchaseTerms {
                holding_id: input
                    .holding_id
                    .as_ref()
                    .map(|h| parse_uuid(h).map_or_else(|| h.clone(), |u| u.to_string())),
                coverage: input.coverage_pct,
                duration_days: input.duration_days,
                premium_irr: input.premium_irr,
            },
        )?;
        let record = tx.portfolio().cloned().ok_or(PortfolioError::NoPortfolio)?;
        let protections = tx.protections().await?;
        let snapshot = self.portfolio.prices.snapshot();
        self.portfolio
            .fresh_book(&snapshot, now, &[stored.quote.terms.asset])?;
        self.buy(
            tx,
            &record,
            &protections,
            stored.holding_id,
            stored.quote,
            Some(stored.id),
            now,
        )?
        .reply(reply)
        .await
    }

    /// `POST /protection` without a `quoteId`: quotes and buys under one lock.
    pub async fn purchase_now(
        &self,
        user_id: Uuid,
        input: &QuoteInput,
        acknowledged_premium: bool,
        reply: Reply,
    ) -> PortfolioResult<Replied> {
        input.terms()?;
        check_acknowledged(acknowledged_premium)?;
        // Read before the lock: on SQLite the lock is the database's write transaction, and
        // the regime is an ops setting, not portfolio state the movement must serialise with.
        let regimes = self.regimes().await?;
        let mut tx = self.portfolio.lock(user_id).await?;
        let now = self.now();
        let record = tx.portfolio().cloned().ok_or(PortfolioError::NoPortfolio)?;
        let protections = tx.protections().await?;
        let (holding_id, quote) = self.price_quote(&record, &protections, input, &regimes, now)?;
        self.buy(tx, &record, &protections, holding_id, quote, None, now)?
            .reply(reply)
            .await
    }

    #[allow(clippy::too_many_arguments)]
    fn buy(
        &self,
        tx: Box<dyn PortfolioTx>,
        record: &PortfolioRecord,
        protections: &[ProtectionRecord],
        holding_id: Uuid,
        quote: ProtectionQuote,
        quote_id: Option<String>,
        now: Timestamp,
    ) -> PortfolioResult<Prepared<PurchaseResult>> {
        let asset = quote.terms.asset;
        if !record.holdings.iter().any(|h| h.id == holding_id) {
            return Err(PortfolioError::NotFound("holding"));
        }
        let protection =
            purchase_protection(&quote, active_on(protections, asset), record.cash, now)?;
        let premium = protection.premium.premium_irr;
        let state = record.state();
        let mut after_state = state.clone();
        after_state.cash -= premium;
        let created = ProtectionRecord {
            id: Uuid::now_v7(),
            portfolio_id: record.id,
            holding_id: Some(holding_id),
            quote_id,
            protection,
            created_at: now,
        };
        let p = &created.protection;
        let g = &p.premium.greeks;
        let mut metadata = Map::new();
        metadata.insert("coverage".into(), number(p.terms.coverage.value()));
        metadata.insert("durationDays".into(), json!(p.terms.duration.days()));
        metadata.insert("notionalIrr".into(), number(p.terms.notional_irr.value()));
        metadata.insert("notionalUsd".into(), number(p.terms.notional_usd));
        metadata.insert(
            "protectedQuantity".into(),
            number(p.terms.protected_quantity.value()),
        );
        metadata.insert("strikeUsd".into(), number(p.terms.strike_usd));
        metadata.insert("model".into(), json!(p.premium.model));
        metadata.insert(
            "impliedVolatility".into(),
            number(p.premium.implied_volatility),
        );
        metadata.insert(
            "greeks".into(),
            json!({"delta": number(g.delta), "gamma": number(g.gamma), "vega": number(g.vega),
                   "theta": number(g.theta), "rho": number(g.rho)}),
        );
        if let Some(id) = &created.quote_id {
            metadata.insert("quoteId".into(), Value::String(id.clone()));
        }
        let message = activity::protection_purchased(
            u32::try_from(p.terms.duration.days()).unwrap_or_default(),
            asset,
        );
        let snapshot = self.portfolio.prices.snapshot();
        let book = PortfolioService::valuation_book(&snapshot);
        let mut change = movement(
            record,
            (&state, &after_state),
            &book,
            EntryType::ProtectionPurchase,
            message,
            premium,
            &created,
            Some(metadata),
            now,
        )?;
        change
            .protections
            .push(ProtectionWrite::Insert(created.clone()));
        let ledger_entry_id = change.entry.id.to_string();
        Ok(Prepared {
            tx,
            change,
            outcome: PurchaseResult {
                success: true,
                protection: protection_view(&created, &book, now),
                new_cash_irr: after_state.cash,
                ledger_entry_id,
            },
        })
    }

    /// `GET /protection[?status]` and `/protection/active`, newest first.
    pub async fn list(
        &self,
        user_id: Uuid,
        filter: StatusFilter,
    ) -> PortfolioResult<ProtectionList> {
        let protections = self.store.protections(user_id).await?;
        let book = PortfolioService::valuation_book(&self.portfolio.prices.snapshot());
        let now = self.now();
        Ok(ProtectionList {
            protections: protections
                .iter()
                .filter(|p| match filter {
                    StatusFilter::All => true,
                    StatusFilter::Only(s) => p.protection.status == s,
                })
                .map(|p| protection_view(p, &book, now))
                .collect(),
        })
    }

    /// `GET /protection/:id`.
    pub async fn get(&self, user_id: Uuid, id: &str) -> PortfolioResult<ProtectionView> {
        let id = parse_uuid(id).ok_or(PortfolioError::NotFound("protection"))?;
        let protections = self.store.protections(user_id).await?;
        let found = protections
            .iter()
            .find(|p| p.id == id)
            .ok_or(PortfolioError::NotFound("protection"))?;
        let book = PortfolioService::valuation_book(&self.portfolio.prices.snapshot());
        Ok(protection_view(found, &book, self.now()))
    }

    /// `DELETE /protection/:id`: CANCELLED, no refund, PROTECTION_CANCEL (amount 0).
    pub async fn cancel(&self, user_id: Uuid, id: &str, reply: Reply) -> PortfolioResult<Replied> {
        let id = parse_uuid(id).ok_or(PortfolioError::NotFound("protection"))?;
        let mut tx = self.portfolio.lock(user_id).await?;
        let record = tx
            .portfolio()
            .cloned()
            .ok_or(PortfolioError::NotFound("protection"))?;
        let mut found = tx
            .protections()
            .await?
            .into_iter()
            .find(|p| p.id == id)
            .ok_or(PortfolioError::NotFound("protection"))?;
        let now = self.now();
        let book = PortfolioService::valuation_book(&self.portfolio.prices.snapshot());
        let change = cancellation(&record, &mut found, &book, now)?;
        Prepared {
            tx,
            change,
            outcome: CancelResult {
                success: true,
                protection: protection_view(&found, &book, now),
            },
        }
        .reply(reply)
        .await
    }

    /// One `protection-expiry` tick (§8.6): settles every due protection whose asset has a
    /// fresh price fetched at or after its expiry; the others wait for the next tick.
    pub async fn settle_due(&self) -> PortfolioResult<SettleCounts> {
        let now = self.now();
        let mut counts = SettleCounts::default();
        for (user_id, protection_id) in self.store.due_protections(now).await? {
            counts.checked += 1;
            match self.settle_one(user_id, protection_id, now).await? {
                Some(ProtectionStatus::Exercised) => counts.exercised += 1,
                Some(_) => counts.expired += 1,
                None => counts.waiting += 1,
            }
        }
        Ok(counts)
    }

    async fn settle_one(
        &self,
        user_id: Uuid,
        protection_id: Uuid,
        now: Timestamp,
    ) -> PortfolioResult<Option<ProtectionStatus>> {
        let Some(mut tx) = self.portfolio.store.lock(user_id).await? else {
            return Ok(None);
        };
        let Some(record) = tx.portfolio().cloned() else {
            return Ok(None);
        };
        let Some(mut found) = tx
            .protections()
            .await?
            .into_iter()
            .find(|p| p.id == protection_id)
        else {
            return Ok(None);
        };
        let asset = found.protection.terms.asset;
        let snapshot = self.portfolio.prices.snapshot();
        let (Some(quote), Some(fx)) = (snapshot.price(asset), snapshot.fx.as_ref()) else {
            return Ok(None);
        };
        if self.portfolio.fresh_book(&snapshot, now, &[asset]).is_err() {
            return Ok(None);
        }
        let held = record.holding(asset).map_or(Quantity::ZERO, |h| h.quantity);
        let Some(settlement) = found
            .protection
            .settle(now, quote.price_usd, fx.usd_irr, quote.fetched_at, held)
            .cloned()
        else {
            return Ok(None);
        };
        let state = record.state();
        let mut after = state.clone();
        after.cash += settlement.payout_irr;
        let book = PortfolioService::valuation_book(&snapshot);
        let exercised = settlement.outcome == ProtectionStatus::Exercised;
        let (entry_type, message, amount) = if exercised {
            (
                EntryType::ProtectionPayout,
                activity::protection_payout(settlement.payout_irr, asset),
                settlement.payout_irr,
            )
        } else {
            (
                EntryType::ProtectionExpire,
                activity::protection_expired(asset),
                Irr::ZERO,
            )
        };
        let mut metadata = Map::new();
        metadata.insert("settlementPriceUsd".into(), number(settlement.spot_usd));
        metadata.insert("fxRate".into(), number(settlement.fx_rate));
        metadata.insert(
            "heldQuantity".into(),
            number(settlement.held_quantity.value()),
        );
        metadata.insert(
            "protectedQuantity".into(),
            number(found.protection.terms.protected_quantity.value()),
        );
        metadata.insert("payoutUsd".into(), number(settlement.payout_usd));
        let mut change = movement(
            &record,
            (&state, &after),
            &book,
            entry_type,
            message.clone(),
            amount,
            &found,
            Some(metadata),
            now,
        )?;
        let title = if exercised {
            "Protection paid out"
        } else {
            "Protection ended"
        };
        change.protections.push(ProtectionWrite::Transition {
            record: found.clone(),
            notification: Some(ProtectionNotification {
                user_id,
                kind: if exercised {
                    "PROTECTION_PAYOUT".into()
                } else {
                    "PROTECTION_EXPIRED".into()
                },
                entity_id: found.id.to_string(),
                dedupe_key: "settlement".into(),
                title: title.into(),
                body: message,
                data: json!({"protectionId": found.id.to_string(), "assetId": asset,
                             "payoutIrr": number(settlement.payout_irr.value())}),
            }),
        });
        match tx.commit(change).await {
            Ok(()) => Ok(Some(settlement.outcome)),
            Err(StoreError::Conflict(Conflict::ProtectionNotActive)) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
}

/// The change set of a protection movement with its ledger entry and activity row.
#[allow(clippy::too_many_arguments)]
fn movement(
    record: &PortfolioRecord,
    (before, after): (&PortfolioState, &PortfolioState),
    book: &PriceBook,
    entry_type: EntryType,
    message: String,
    amount: Irr,
    protection: &ProtectionRecord,
    metadata: Option<Map<String, Value>>,
    now: Timestamp,
) -> PortfolioResult<PortfolioChange> {
    let target = target_of(record)?;
    let asset = protection.protection.terms.asset;
    let movement = Movement {
        portfolio_id: record.id,
        entry_type,
        boundary: Boundary::Safe,
        message,
        before: (before, book),
        after: (after, book),
        target: &target,
        now,
    };
    let (mut entry, after_snapshot): (NewEntry, _) = movement.entry();
    entry.asset_id = Some(asset);
    entry.amount_irr = Some(amount);
    entry.protection_id = Some(uuid_text(protection.id));
    entry.metadata = metadata;
    let activity = movement.activity(Some(amount), Some(asset));
    change_set(
        Some(record),
        record.id,
        entry,
        &after_snapshot,
        after,
        activity,
        now,
    )
}

/// Cancels `found` (ACTIVE → CANCELLED, no refund, else 409 `PROTECTION_NOT_ACTIVE`) as a
/// movement sealed after `record`'s ledger head: PROTECTION_CANCEL (amount 0) with its activity
/// row and the conditional transition. `DELETE /protection/:id` commits one; closing an account
/// commits one per ACTIVE protection.
pub(crate) fn cancellation(
    record: &PortfolioRecord,
    found: &mut ProtectionRecord,
    book: &PriceBook,
    now: Timestamp,
) -> PortfolioResult<PortfolioChange> {
    found.protection.cancel(now)?;
    let state = record.state();
    let message = activity::protection_cancelled(found.protection.terms.asset);
    let mut change = movement(
        record,
        (&state, &state),
        book,
        EntryType::ProtectionCancel,
        message,
        Irr::ZERO,
        found,
        None,
        now,
    )?;
    change.protections.push(ProtectionWrite::Transition {
        record: found.clone(),
        notification: None,
    });
    Ok(change)
}
