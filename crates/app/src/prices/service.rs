//! The price service: the process-local cache of the latest prices (the `PriceCache` every
//! valuation reads), its refresh from the providers, admin overrides, and persistence.
//!
//! Two layers are kept in memory and combined on every read:
//! - the **feed**: the last value each provider gave, with the time it was fetched. A provider
//!   that fails leaves its assets untouched (old price, old timestamp: they go stale, they are
//!   never repriced at a guess), and the last good FX stays with its own timestamp;
//! - the **overrides** (api.md §13.1): an active override replaces the feed's value, has source
//!   `manual` and is re-stamped with the business clock's `now` on every read, so it always counts
//!   as fresh (also after test-clock advances). Prices of the `fixed` source are constant by
//!   definition and are re-stamped the same way.
//!
//! `priceIrr` is always `priceUsd × effective FX` (the FX override when active).

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use blu_domain::{AssetId, Timestamp};
use rust_decimal::Decimal;

use crate::ports::{
    AuditEntry, Clock, DailyClose, FxQuote, FxSource, PriceBus, PriceCache, PriceOverride,
    PriceQuote, PriceSnapshot, PriceSource, PriceStore, PriceTick, PriceWrite, StoreError,
};

/// Source name of admin overrides.
pub const MANUAL_SOURCE: &str = "manual";
/// Source name of the fixed-price file: constant, so always current.
pub const FIXED_SOURCE: &str = "fixed";
/// Longest accepted override TTL (one year).
pub const MAX_OVERRIDE_TTL_SECONDS: u64 = 365 * 86_400;
/// A 24-hour change cannot fall below −100 %; above +100,000 % (×1,001) it is a typing mistake.
const MIN_CHANGE_24H_PCT: Decimal = Decimal::from_parts(100, 0, 0, true, 0);
const MAX_CHANGE_24H_PCT: Decimal = Decimal::from_parts(100_000, 0, 0, false, 0);
/// Longest history a client may ask for, in days.
pub const MAX_HISTORY_DAYS: u32 = 400;

#[derive(Clone, Debug)]
pub struct PriceSettings {
    /// Prices or FX older than this are stale (D17: 120 s); used for metrics and status.
    pub max_age: Duration,
    /// Intraday chart points older than this are deleted on each refresh (daily closes stay).
    pub point_retention: Duration,
}

impl Default for PriceSettings {
    fn default() -> PriceSettings {
        PriceSettings {
            max_age: Duration::from_secs(120),
            point_retention: Duration::from_secs(7 * 86_400),
        }
    }
}

/// Failures of override and history use cases.
#[derive(Debug, thiserror::Error)]
pub enum PriceError {
    /// Bad input, naming the field (400).
    #[error("{field} {message}")]
    Invalid {
        field: &'static str,
        message: &'static str,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn invalid(field: &'static str, message: &'static str) -> PriceError {
    PriceError::Invalid { field, message }
}

/// What one refresh did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RefreshReport {
    pub fx_updated: bool,
    /// Assets whose feed price was updated.
    pub updated: Vec<AssetId>,
    /// Providers (and `fx`) that failed.
    pub failed_sources: Vec<String>,
}

/// An active override as returned by the admin API.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppliedOverride {
    pub quote: PriceQuote,
    pub expires_at: Option<Timestamp>,
}

pub struct PriceService {
    store: Arc<dyn PriceStore>,
    fx_source: Arc<dyn FxSource>,
    sources: Vec<Arc<dyn PriceSource>>,
    bus: Arc<dyn PriceBus>,
    clock: Arc<dyn Clock>,
    settings: PriceSettings,
    feed: RwLock<Arc<PriceSnapshot>>,
    overrides: RwLock<Arc<Vec<PriceOverride>>>,
    /// `at` of the ticks this instance published recently (to tell them from other instances').
    published: Mutex<VecDeque<Timestamp>>,
    /// Real time (µs) at which this instance last finished a `prices` tick itself: its cache is
    /// then the stored state, and the follower need not reload it.
    pub(super) last_local_tick: std::sync::atomic::AtomicI64,
}

impl PriceService {
    pub fn new(
        store: Arc<dyn PriceStore>,
        fx_source: Arc<dyn FxSource>,
        sources: Vec<Arc<dyn PriceSource>>,
        bus: Arc<dyn PriceBus>,
        clock: Arc<dyn Clock>,
        settings: PriceSettings,
    ) -> PriceService {
        PriceService {
            store,
            fx_source,
            sources,
            bus,
            clock,
            settings,
            feed: RwLock::default(),
            overrides: RwLock::default(),
            published: Mutex::default(),
            last_local_tick: std::sync::atomic::AtomicI64::new(i64::MIN),
        }
    }

    pub fn settings(&self) -> &PriceSettings {
        &self.settings
    }

    pub fn bus(&self) -> &Arc<dyn PriceBus> {
        &self.bus
    }

    pub(crate) fn store(&self) -> &Arc<dyn PriceStore> {
        &self.store
    }

    fn feed(&self) -> Arc<PriceSnapshot> {
        self.feed.read().expect("price feed lock").clone()
    }

    fn active_overrides(&self, now: Timestamp) -> Vec<PriceOverride> {
        let all = self.overrides.read().expect("override lock").clone();
        all.iter().filter(|o| o.is_active(now)).cloned().collect()
    }

    /// The effective snapshot at `now`: feed values, overrides applied, constant sources and
    /// overrides re-stamped, `priceIrr` at the effective FX.
    pub fn snapshot_at(&self, now: Timestamp) -> PriceSnapshot {
        self.view_with(now, &self.active_overrides(now))
    }

    /// The snapshot at `now` with these (active) overrides applied. A `priceIrr` that does not
    /// fit a decimal drops the quote (the asset reads as missing, so stale), never a panic.
    fn view_with(&self, now: Timestamp, overrides: &[PriceOverride]) -> PriceSnapshot {
        let mut view = (*self.feed()).clone();
        if let Some(fx) = view.fx.as_mut().filter(|fx| fx.source == FIXED_SOURCE) {
            fx.fetched_at = now;
        }
        for o in overrides {
            match o.asset {
                None => {
                    view.fx = Some(FxQuote {
                        usd_irr: o.value,
                        source: MANUAL_SOURCE.to_owned(),
                        fetched_at: now,
                    });
                }
                Some(asset) => {
                    view.prices[asset.index()] = Some(PriceQuote {
                        asset,
                        price_usd: o.value,
                        price_irr: Decimal::ZERO,
                        change_24h_pct: o.change_24h_pct,
                        source: MANUAL_SOURCE.to_owned(),
                        fetched_at: now,
                    });
                }
            }
        }
        let fx = view.fx.as_ref().map(|fx| fx.usd_irr);
        for slot in view.prices.iter_mut() {
            let Some(quote) = slot.as_mut() else { continue };
            if quote.source == FIXED_SOURCE {
                quote.fetched_at = now;
            }
            if let Some(fx) = fx {
                match quote.price_usd.checked_mul(fx) {
                    Some(irr) => quote.price_irr = irr,
                    None => *slot = None,
                }
            }
        }
        view
    }

    /// Loads prices, FX and overrides from the database (startup, and instances that did not
    /// run this tick's refresh).
    pub async fn reload(&self) -> Result<(), StoreError> {
        let stored = self.store.load_prices().await?;
        // A stored value outside the domain's bounds (written before they existed, or by hand)
        // is ignored with a warning: it must never stop the server or a request (issue 11).
        let fx = stored.fx.filter(|fx| {
            let ok = blu_domain::asset::fx_in_bounds(fx.usd_irr);
            if !ok {
                tracing::warn!(usd_irr = %fx.usd_irr, "stored FX outside its bounds ignored");
            }
            ok
        });
        let mut feed = PriceSnapshot {
            fx,
            prices: Default::default(),
        };
        for quote in stored.prices {
            if !blu_domain::asset::price_usd_in_bounds(quote.asset, quote.price_usd) {
                tracing::warn!(asset = %quote.asset, price_usd = %quote.price_usd, "stored price outside its bounds ignored");
                continue;
            }
            let index = quote.asset.index();
            feed.prices[index] = Some(quote);
        }
        let overrides: Vec<PriceOverride> = stored
            .overrides
            .into_iter()
            .filter(|o| {
                let ok = o.in_bounds();
                if !ok {
                    tracing::warn!(subject = o.subject(), value = %o.value, "stored override outside its bounds ignored");
                }
                ok
            })
            .collect();
        *self.feed.write().expect("price feed lock") = Arc::new(feed);
        *self.overrides.write().expect("override lock") = Arc::new(overrides);
        self.record_metrics(self.clock.now());
        Ok(())
    }

    /// Fetches FX and every provider once, keeps what failed, persists and publishes.
    pub async fn refresh(&self) -> Result<RefreshReport, StoreError> {
        let now = self.clock.now();
        let mut report = RefreshReport::default();
        let mut next = (*self.feed()).clone();
        let (fx_result, price_results) = tokio::join!(
            self.fx_source.fetch_usd_irr(),
            futures_join_all(&self.sources)
        );
        let mut fetched_fx = None;
        match fx_result {
            Ok(rate) if blu_domain::asset::fx_in_bounds(rate) => {
                let quote = FxQuote {
                    usd_irr: rate,
                    source: self.fx_source.name().to_owned(),
                    fetched_at: now,
                };
                next.fx = Some(quote.clone());
                fetched_fx = Some(quote);
                report.fx_updated = true;
            }
            Ok(rate) => {
                tracing::warn!(source = self.fx_source.name(), %rate, "FX outside its bounds refused");
                report.failed_sources.push("fx".to_owned());
            }
            Err(error) => {
                tracing::warn!(source = self.fx_source.name(), %error, "FX fetch failed; keeping the last good rate");
                report.failed_sources.push("fx".to_owned());
            }
        }
        for (source, result) in price_results {
            match result {
                Ok(prices) => {
                    for p in prices {
                        if !blu_domain::asset::price_usd_in_bounds(p.asset, p.price_usd) {
                            tracing::warn!(source = source.name(), asset = %p.asset, "price refused");
                            continue;
                        }
                        next.prices[p.asset.index()] = Some(PriceQuote {
                            asset: p.asset,
                            price_usd: p.price_usd,
                            price_irr: Decimal::ZERO,
                            change_24h_pct: p.change_24h_pct,
                            source: source.name().to_owned(),
                            fetched_at: now,
                        });
                        if !report.updated.contains(&p.asset) {
                            report.updated.push(p.asset);
                        }
                    }
                }
                Err(error) => {
                    tracing::warn!(source = source.name(), %error, "price fetch failed; keeping previous prices");
                    report.failed_sources.push(source.name().to_owned());
                }
            }
        }
        if let Some(fx) = next.fx.clone() {
            for quote in next.prices.iter_mut().flatten() {
                // Both factors are within their bounds: the product fits (≤ 10^17).
                quote.price_irr = quote.price_usd * fx.usd_irr;
            }
        }
        let feed_fx = next.fx.clone();
        let updated_feed: Vec<PriceQuote> = report
            .updated
            .iter()
            .filter_map(|a| next.price(*a).cloned())
            .collect();
        *self.feed.write().expect("price feed lock") = Arc::new(next);

        let view = self.snapshot_at(now);
        let mut changed: HashSet<AssetId> = report.updated.iter().copied().collect();
        changed.extend(self.active_overrides(now).iter().filter_map(|o| o.asset));
        let points: Vec<PriceQuote> = AssetId::ALL
            .iter()
            .filter(|a| changed.contains(a))
            .filter_map(|a| view.price(*a).cloned())
            .collect();
        let write = PriceWrite {
            fx: fetched_fx,
            prices: match feed_fx {
                Some(fx) => updated_feed.into_iter().map(|q| (q, fx.clone())).collect(),
                // Without any FX yet, rows cannot be complete; they are written with the first FX.
                None => Vec::new(),
            },
            points: points.clone(),
            prune_points_before: Some(now.plus_seconds(
                -i64::try_from(self.settings.point_retention.as_secs()).unwrap_or(i64::MAX),
            )),
            set_override: None,
            audit: None,
        };
        self.store.save_prices(&write).await?;
        self.publish(points, view.fx, now).await;
        self.record_metrics(now);
        Ok(report)
    }

    async fn publish(&self, prices: Vec<PriceQuote>, fx: Option<FxQuote>, at: Timestamp) {
        {
            let mut published = self.published.lock().expect("published lock");
            published.push_back(at);
            while published.len() > 32 {
                published.pop_front();
            }
        }
        let tick = PriceTick { prices, fx, at };
        if let Err(error) = self.bus.publish(&tick).await {
            tracing::warn!(%error, "price tick not published");
        }
    }

    /// Whether this instance published the tick at `at`.
    pub fn published_here(&self, at: Timestamp) -> bool {
        self.published.lock().expect("published lock").contains(&at)
    }

    /// Sets the override of one asset's USD price (api.md §13.1). Takes effect at once: cache,
    /// a history point and a published tick.
    pub async fn set_price_override(
        &self,
        asset: AssetId,
        price_usd: Decimal,
        change_24h_pct: Option<Decimal>,
        ttl_seconds: Option<u64>,
        reason: Option<String>,
        audit: AuditEntry,
    ) -> Result<AppliedOverride, PriceError> {
        if asset.is_fixed_income() {
            return Err(invalid(
                "assetId",
                "IRR_FIXED_INCOME is priced internally and cannot be overridden",
            ));
        }
        if !blu_domain::asset::price_usd_in_bounds(asset, price_usd) {
            return Err(invalid(
                "priceUsd",
                "must be greater than 0 and within 1000 times the asset's reference price either way",
            ));
        }
        if change_24h_pct.is_some_and(|c| !(MIN_CHANGE_24H_PCT..=MAX_CHANGE_24H_PCT).contains(&c)) {
            return Err(invalid("change24hPct", "must be between -100 and 100000"));
        }
        let o = self.new_override(Some(asset), price_usd, change_24h_pct, ttl_seconds, reason)?;
        let view = self.apply_override(o.clone(), audit).await?;
        let quote = view
            .price(asset)
            .cloned()
            .expect("an active override always yields a price");
        Ok(AppliedOverride {
            quote,
            expires_at: o.expires_at,
        })
    }

    /// Sets the FX override; every `priceIrr` follows at once.
    pub async fn set_fx_override(
        &self,
        usd_irr: Decimal,
        ttl_seconds: Option<u64>,
        reason: Option<String>,
        audit: AuditEntry,
    ) -> Result<(FxQuote, Option<Timestamp>), PriceError> {
        if !blu_domain::asset::fx_in_bounds(usd_irr) {
            return Err(invalid("usdIrr", "must be between 100000 and 100000000"));
        }
        let o = self.new_override(None, usd_irr, None, ttl_seconds, reason)?;
        let view = self.apply_override(o.clone(), audit).await?;
        let fx = view.fx.expect("an active FX override always yields FX");
        Ok((fx, o.expires_at))
    }

    fn new_override(
        &self,
        asset: Option<AssetId>,
        value: Decimal,
        change_24h_pct: Option<Decimal>,
        ttl_seconds: Option<u64>,
        reason: Option<String>,
    ) -> Result<PriceOverride, PriceError> {
        let now = self.clock.now();
        let expires_at = match ttl_seconds {
            None => None,
            Some(ttl) if ttl == 0 || ttl > MAX_OVERRIDE_TTL_SECONDS => {
                return Err(invalid("ttlSeconds", "must be between 1 and 31536000"));
            }
            Some(ttl) => Some(now.plus_seconds(ttl as i64)),
        };
        Ok(PriceOverride {
            asset,
            value,
            change_24h_pct,
            reason: reason.filter(|r| !r.trim().is_empty()),
            expires_at,
            created_at: now,
        })
    }

    /// The active override of a subject as an audit row records it.
    fn override_json(&self, subject: &str) -> Option<serde_json::Value> {
        self.active_overrides(self.clock.now())
            .iter()
            .find(|o| o.subject() == subject)
            .map(override_json)
    }

    /// Stores the override, its history points and the operator's audit row in one
    /// transaction, and only then applies it in memory: a write that fails changes nothing.
    async fn apply_override(
        &self,
        o: PriceOverride,
        audit: AuditEntry,
    ) -> Result<PriceSnapshot, PriceError> {
        let subject = o.subject();
        let audit = audit
            .with_target(subject)
            .with_before(self.override_json(subject))
            .with_after(Some(override_json(&o)));
        let affects_all = o.asset.is_none();
        let asset = o.asset;
        let now = self.clock.now();
        let mut prospective: Vec<PriceOverride> = self
            .active_overrides(now)
            .into_iter()
            .filter(|p| p.subject() != subject)
            .collect();
        prospective.push(o.clone());
        let view = self.view_with(now, &prospective);
        let points: Vec<PriceQuote> = if affects_all {
            view.prices.iter().flatten().cloned().collect()
        } else {
            asset
                .and_then(|a| view.price(a).cloned())
                .into_iter()
                .collect()
        };
        self.store
            .save_prices(&PriceWrite {
                points: points.clone(),
                set_override: Some(o.clone()),
                audit: Some(audit),
                ..PriceWrite::default()
            })
            .await?;
        self.replace_override(subject, Some(o));
        self.publish(points, view.fx.clone(), now).await;
        self.record_metrics(now);
        Ok(view)
    }

    fn replace_override(&self, subject: &str, with: Option<PriceOverride>) {
        let mut guard = self.overrides.write().expect("override lock");
        let mut next: Vec<PriceOverride> = guard
            .iter()
            .filter(|o| o.subject() != subject)
            .cloned()
            .collect();
        next.extend(with);
        *guard = Arc::new(next);
    }

    /// Clears the override of an asset (`Some`) or of FX (`None`); the feed's value applies
    /// again at once (with its own age). Clearing when none is set is not an error.
    pub async fn clear_override(
        &self,
        asset: Option<AssetId>,
        audit: AuditEntry,
    ) -> Result<(), PriceError> {
        let subject = asset.map_or(crate::ports::FX_SUBJECT, AssetId::as_str);
        let audit = audit
            .with_target(subject)
            .with_before(self.override_json(subject));
        self.store.delete_override(subject, Some(&audit)).await?;
        self.replace_override(subject, None);
        let now = self.clock.now();
        let view = self.snapshot_at(now);
        let prices = match asset {
            Some(a) => view.price(a).cloned().into_iter().collect(),
            None => view.prices.iter().flatten().cloned().collect(),
        };
        self.publish(prices, view.fx.clone(), now).await;
        self.record_metrics(now);
        Ok(())
    }

    /// Active overrides as they apply now: (asset overrides with their quotes, FX override).
    pub fn overrides(&self) -> (Vec<AppliedOverride>, Option<(FxQuote, Option<Timestamp>)>) {
        let now = self.clock.now();
        let view = self.snapshot_at(now);
        let active = self.active_overrides(now);
        let mut prices: Vec<AppliedOverride> = active
            .iter()
            .filter_map(|o| {
                let quote = view.price(o.asset?)?.clone();
                Some(AppliedOverride {
                    quote,
                    expires_at: o.expires_at,
                })
            })
            .collect();
        prices.sort_by_key(|o| o.quote.asset);
        let fx = active
            .iter()
            .find(|o| o.asset.is_none())
            .and_then(|o| Some((view.fx.clone()?, o.expires_at)));
        (prices, fx)
    }

    /// Daily closes of the last `days` UTC days (today included), oldest first.
    pub async fn history(&self, asset: AssetId, days: u32) -> Result<Vec<DailyClose>, PriceError> {
        if days == 0 || days > MAX_HISTORY_DAYS {
            return Err(invalid("days", "must be between 1 and 400"));
        }
        let from = self.clock.now().plus_days(-(i64::from(days) - 1));
        Ok(self.store.daily_closes(asset, &utc_day(from)).await?)
    }

    /// Sets the freshness gauges (`price_age_seconds{asset}`, `fx_age_seconds`,
    /// `price_override_active{asset}`).
    pub fn record_metrics(&self, now: Timestamp) {
        let view = self.snapshot_at(now);
        let overridden: HashSet<AssetId> = self
            .active_overrides(now)
            .iter()
            .filter_map(|o| o.asset)
            .collect();
        for asset in AssetId::ALL.iter().filter(|a| !a.is_fixed_income()) {
            if let Some(q) = view.price(*asset) {
                metrics::gauge!("price_age_seconds", "asset" => asset.as_str())
                    .set(age_seconds(now, q.fetched_at));
            }
            metrics::gauge!("price_override_active", "asset" => asset.as_str())
                .set(if overridden.contains(asset) { 1.0 } else { 0.0 });
        }
        if let Some(fx) = &view.fx {
            metrics::gauge!("fx_age_seconds").set(age_seconds(now, fx.fetched_at));
        }
    }
}

/// An override as an audit row records it (decimals as exact JSON numbers).
fn override_json(o: &PriceOverride) -> serde_json::Value {
    let number = |d: Decimal| {
        serde_json::to_value(blu_domain::num::Num(d)).unwrap_or(serde_json::Value::Null)
    };
    serde_json::json!({
        "value": number(o.value),
        "change24hPct": o.change_24h_pct.map(number),
        "reason": o.reason,
        "expiresAt": o.expires_at.map(Timestamp::to_rfc3339_millis),
    })
}

fn age_seconds(now: Timestamp, at: Timestamp) -> f64 {
    // Metrics are floats by nature; money never passes through here.
    now.micros_since(at).max(0) as f64 / 1_000_000.0
}

/// `YYYY-MM-DD` of an instant (UTC).
pub fn utc_day(t: Timestamp) -> String {
    t.to_rfc3339_micros()[..10].to_owned()
}

/// Runs every source concurrently, pairing each with its result.
async fn futures_join_all(
    sources: &[Arc<dyn PriceSource>],
) -> Vec<(
    Arc<dyn PriceSource>,
    Result<Vec<crate::ports::FetchedPrice>, crate::ports::SourceError>,
)> {
    let mut set = tokio::task::JoinSet::new();
    for (i, source) in sources.iter().enumerate() {
        let source = source.clone();
        set.spawn(async move { (i, source.fetch_prices().await) });
    }
    let mut results = Vec::with_capacity(sources.len());
    while let Some(joined) = set.join_next().await {
        match joined {
            Ok((i, result)) => results.push((i, result)),
            Err(error) => tracing::error!(%error, "a price source task panicked"),
        }
    }
    results.sort_by_key(|(i, _)| *i);
    results
        .into_iter()
        .map(|(i, r)| (sources[i].clone(), r))
        .collect()
}

impl PriceCache for PriceService {
    fn snapshot(&self) -> Arc<PriceSnapshot> {
        Arc::new(self.snapshot_at(self.clock.now()))
    }
}
