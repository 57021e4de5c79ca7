//! `status-refresh` use case (business-rules §10, §4.3): recompute every portfolio's value,
//! layer shares and status with the single status function at the latest prices, store them,
//! and notify a change into SLIGHTLY_OFF or ATTENTION_REQUIRED (no activity entry). The same
//! pass raises price alerts: a held asset whose 24 h change exceeds 10 % either way is notified
//! once per asset per day per user.

use std::sync::Arc;

use blu_domain::money::round_half_up;
use blu_domain::{AssetId, PortfolioStatus, Timestamp};

use crate::prices::utc_day;
use rust_decimal::Decimal;
use serde::Serialize;
use uuid::Uuid;

use crate::portfolio::PortfolioService;
use crate::ports::{
    Clock, NewNotification, NotificationStore, PriceCache, StatusStore, StatusWrite,
};

pub const KIND_DRIFT: &str = "DRIFT";
pub const KIND_PRICE_MOVE: &str = "PRICE_MOVE";
/// A 24 h move beyond this (in %, either way) raises a price alert.
pub const PRICE_ALERT_PCT: Decimal = Decimal::TEN;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RefreshReport {
    pub refreshed: u32,
    pub drift_notices: u32,
    pub price_alerts: u32,
    pub failed: u32,
}

pub struct StatusRefresh {
    portfolios: Arc<PortfolioService>,
    statuses: Arc<dyn StatusStore>,
    outbox: Arc<dyn NotificationStore>,
    prices: Arc<dyn PriceCache>,
    clock: Arc<dyn Clock>,
}

impl StatusRefresh {
    pub fn new(
        portfolios: Arc<PortfolioService>,
        statuses: Arc<dyn StatusStore>,
        outbox: Arc<dyn NotificationStore>,
        prices: Arc<dyn PriceCache>,
        clock: Arc<dyn Clock>,
    ) -> StatusRefresh {
        StatusRefresh {
            portfolios,
            statuses,
            outbox,
            prices,
            clock,
        }
    }

    #[tracing::instrument(skip_all)]
    pub async fn run(&self) -> anyhow::Result<RefreshReport> {
        let mut report = RefreshReport::default();
        let snapshot = self.prices.snapshot();
        for stored in self.statuses.portfolio_statuses().await? {
            let (view, holdings) = match self.portfolios.portfolio(stored.user_id).await {
                Ok(found) => found,
                Err(e) => {
                    tracing::warn!(portfolio = %stored.portfolio_id, error = %e, "status refresh failed");
                    report.failed += 1;
                    continue;
                }
            };
            let now = self.clock.now();
            let status = view.status.as_str();
            let into_drift = status != stored.status && view.status != PortfolioStatus::Balanced;
            let write = StatusWrite {
                status: status.to_owned(),
                holdings_value_irr: view.holdings_value_irr.value(),
                total_value_irr: view.total_value_irr.value(),
                shares: view.allocation.values(),
                max_drift_pp: view.drift_pct,
                drift_detected_at: into_drift.then_some(now),
                at: now,
            };
            self.statuses
                .save_status(stored.portfolio_id, &write)
                .await?;
            report.refreshed += 1;
            if into_drift
                && self
                    .outbox
                    .enqueue(&drift_notice(&stored, view.status, now), now)
                    .await?
            {
                report.drift_notices += 1;
            }
            for holding in &holdings {
                let change = snapshot
                    .price(holding.asset_id)
                    .and_then(|q| q.change_24h_pct);
                if let Some(change) = change.filter(|c| c.abs() > PRICE_ALERT_PCT) {
                    let notice = price_notice(
                        stored.user_id,
                        stored.portfolio_id,
                        holding.asset_id,
                        change,
                        now,
                    );
                    if self.outbox.enqueue(&notice, now).await? {
                        report.price_alerts += 1;
                    }
                }
            }
        }
        Ok(report)
    }
}

/// One per change into drift (the key is the status and the moment of the change).
pub fn drift_notice(
    stored: &crate::ports::StoredStatus,
    status: PortfolioStatus,
    at: Timestamp,
) -> NewNotification {
    NewNotification {
        user_id: stored.user_id,
        kind: KIND_DRIFT.to_owned(),
        entity_id: stored.portfolio_id.to_string(),
        dedupe_key: format!("{}:{}", status.as_str(), at.to_rfc3339_millis()),
        title: "Portfolio status".to_owned(),
        body: format!("{}.", status.message()),
        data: [
            ("type".to_owned(), KIND_DRIFT.to_owned()),
            ("status".to_owned(), status.as_str().to_owned()),
        ]
        .into(),
    }
}

/// "BTC moved +12.5% in 24 hours." — once per asset per day per user.
pub fn price_notice(
    user_id: Uuid,
    portfolio_id: Uuid,
    asset: AssetId,
    change_pct: Decimal,
    at: Timestamp,
) -> NewNotification {
    let day = utc_day(at);
    let sign = if change_pct.is_sign_positive() {
        "+"
    } else {
        ""
    };
    // Copy rounding is half-up like every other figure (api.md §1), not the library's
    // banker's rounding: 12.25 % reads 12.3 %.
    let change = round_half_up(change_pct, 1).normalize();
    NewNotification {
        user_id,
        kind: KIND_PRICE_MOVE.to_owned(),
        entity_id: portfolio_id.to_string(),
        dedupe_key: format!("{}:{day}", asset.as_str()),
        title: format!("{} price move", asset.as_str()),
        body: format!("{} moved {sign}{change}% in 24 hours.", asset.as_str()),
        data: [
            ("type".to_owned(), KIND_PRICE_MOVE.to_owned()),
            ("assetId".to_owned(), asset.as_str().to_owned()),
        ]
        .into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_price_alert_names_the_asset_and_the_signed_move_and_is_keyed_by_day() {
        let at = Timestamp::parse_rfc3339("2026-01-20T12:00:00Z").unwrap();
        let n = price_notice(
            Uuid::nil(),
            Uuid::nil(),
            AssetId::Btc,
            Decimal::new(1254, 2),
            at,
        );
        assert_eq!(n.body, "BTC moved +12.5% in 24 hours.");
        assert_eq!(n.dedupe_key, "BTC:2026-01-20");
        let down = price_notice(
            Uuid::nil(),
            Uuid::nil(),
            AssetId::Btc,
            Decimal::new(-11, 0),
            at,
        );
        assert_eq!(down.body, "BTC moved -11% in 24 hours.");
    }

    #[test]
    fn a_price_alert_rounds_the_move_half_up() {
        let at = Timestamp::parse_rfc3339("2026-01-20T12:00:00Z").unwrap();
        let n = price_notice(
            Uuid::nil(),
            Uuid::nil(),
            AssetId::Eth,
            Decimal::new(1225, 2),
            at,
        );
        assert_eq!(n.body, "ETH moved +12.3% in 24 hours.");
    }
}
