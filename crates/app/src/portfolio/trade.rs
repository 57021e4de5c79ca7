//! Trading (business-rules §5, D14–D18): preview with a 30-second quote, execute at the quoted
//! or the current fresh price on the locked portfolio, and the limits.

use blu_domain::portfolio::AssetPrice;
use blu_domain::trade::{
    MAX_TRADE_IRR, MIN_TRADE_IRR, TradeAction, TradePlan, TradeRequest, execute_trade,
    parse_asset_id, preview_trade, validate_request,
};
use blu_domain::{
    Allocation, AssetId, Boundary, EntryType, ErrorCode, Irr, Layer, PortfolioStatus, Quantity,
    RuleViolation, Timestamp, activity,
};
use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::{Map, Value};
use tracing::field::Empty;
use uuid::Uuid;

use super::{
    Movement, PortfolioError, PortfolioResult, PortfolioService, Prepared, QUOTE_TTL_SECONDS,
    QuoteError, Replied, Reply, change_set, target_of, ts_millis,
};
use crate::ports::TradeQuote;
use crate::trace;

/// Longer than any id a preview issues (`tq_` and 32 hex digits): unknown without asking the
/// quote book (a client-chosen string never becomes a long Redis key or query).
const MAX_QUOTE_ID_LEN: usize = 64;

/// A trade request as received (api.md §7; aliases resolved by the HTTP layer).
#[derive(Clone, Debug, Default)]
pub struct TradeInput {
    pub action: String,
    pub asset_id: String,
    /// Exact decimal from the body; fractional rials are rounded half-up.
    pub amount_irr: Option<Decimal>,
    pub sell_all: bool,
}

/// An execute request.
#[derive(Clone, Debug, Default)]
pub struct ExecuteRequest {
    pub trade: TradeInput,
    pub acknowledged_warning: bool,
    pub quote_id: Option<String>,
}

impl TradeInput {
    /// Checks 1, 2 and 4 of §5.4.
    fn parse(&self) -> PortfolioResult<TradeRequest> {
        let action: TradeAction = self
            .action
            .parse()
            .map_err(|_| RuleViolation::invalid_field("action", "must be BUY or SELL"))?;
        let asset = parse_asset_id(&self.asset_id)?;
        trace::record("asset", asset);
        trace::record("action", action.as_str());
        let request = TradeRequest {
            action,
            asset,
            amount: self.amount_irr.map(Irr::round),
            sell_all: self.sell_all,
        };
        validate_request(&request)?;
        Ok(request)
    }
}

/// `preview` of `POST /trade/preview`.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TradeView {
    pub action: TradeAction,
    pub asset_id: AssetId,
    pub layer: Layer,
    pub quantity: Quantity,
    pub amount_irr: Irr,
    pub net_amount_irr: Irr,
    #[serde(with = "blu_domain::num")]
    pub price_usd: Decimal,
    #[serde(with = "blu_domain::num")]
    pub price_irr: Decimal,
    #[serde(with = "blu_domain::num")]
    pub spread: Decimal,
    pub spread_amount_irr: Irr,
    pub sell_all: bool,
    pub cash_after_irr: Irr,
}

/// Before, target and after allocations of a preview.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct AllocationChange {
    pub before: Allocation,
    pub target: Allocation,
    pub after: Allocation,
}

/// The body of `POST /trade/preview`.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PreviewResult {
    pub valid: bool,
    pub quote_id: String,
    #[serde(with = "ts_millis")]
    pub valid_until: Timestamp,
    pub preview: TradeView,
    pub allocation: AllocationChange,
    pub boundary: Boundary,
    pub friction_copy: Vec<String>,
    pub moves_toward: bool,
    pub requires_acknowledgment: bool,
}

/// `trade` of the execute body.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExecutedTrade {
    pub action: TradeAction,
    pub asset_id: AssetId,
    pub quantity: Quantity,
    pub amount_irr: Irr,
    #[serde(with = "blu_domain::num")]
    pub price_usd: Decimal,
    #[serde(with = "blu_domain::num")]
    pub price_irr: Decimal,
    #[serde(with = "blu_domain::num")]
    pub spread: Decimal,
    pub spread_amount_irr: Irr,
}

/// The body of `POST /trade/execute`.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExecuteResult {
    pub success: bool,
    pub trade_id: String,
    pub ledger_entry_id: String,
    pub trade: ExecutedTrade,
    pub new_cash_irr: Irr,
    pub new_holding_quantity: Quantity,
    pub boundary: Boundary,
    pub status: PortfolioStatus,
}

/// The body of `GET /trade/limits`.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TradeLimits {
    pub min_trade_irr: Irr,
    pub max_trade_irr: Irr,
    pub spreads_by_layer: Allocation,
    pub quote_ttl_seconds: i64,
    pub price_max_age_seconds: u64,
}

fn view(plan: &TradePlan) -> TradeView {
    TradeView {
        action: plan.action,
        asset_id: plan.asset,
        layer: plan.layer,
        quantity: plan.quantity,
        amount_irr: plan.amount,
        net_amount_irr: plan.net_amount,
        price_usd: plan.price_usd.normalize(),
        price_irr: plan.price_irr.normalize(),
        spread: plan.spread.normalize(),
        spread_amount_irr: plan.spread_amount,
        sell_all: plan.sell_all,
        cash_after_irr: plan.cash_after,
    }
}

fn mismatch(field: &str, quoted: impl Serialize, requested: impl Serialize) -> PortfolioError {
    RuleViolation::new(
        ErrorCode::QuoteMismatch,
        "This trade differs from its quote; please review it again",
    )
    .with("field", field)
    .with("quoted", quoted)
    .with("requested", requested)
    .into()
}

/// Business-rules §5.3: the quote must be the caller's, unused, unexpired and match.
fn check_quote(
    quote: Option<TradeQuote>,
    request: &TradeRequest,
    now: Timestamp,
) -> PortfolioResult<TradeQuote> {
    let quote = quote.ok_or(PortfolioError::Quote(QuoteError::NotFound))?;
    if quote.consumed {
        return Err(PortfolioError::Quote(QuoteError::InUse));
    }
    if now > quote.expires_at {
        return Err(PortfolioError::Quote(QuoteError::Expired {
            valid_until: quote.expires_at,
        }));
    }
    if quote.asset != request.asset {
        return Err(mismatch("assetId", quote.asset, request.asset));
    }
    if quote.action != request.action {
        return Err(mismatch("action", quote.action, request.action));
    }
    if quote.sell_all != request.sell_all {
        return Err(mismatch("sellAll", quote.sell_all, request.sell_all));
    }
    if !request.sell_all && Some(quote.amount) != request.amount {
        return Err(mismatch(
            "amountIrr",
            quote.amount,
            request.amount.unwrap_or(Irr::ZERO),
        ));
    }
    Ok(quote)
}

impl PortfolioService {
    /// `POST /trade/preview`: the plan at the current fresh price and a 30-second quote.
    #[tracing::instrument(skip_all, fields(user_id = %user_id, asset = Empty, action = Empty))]
    pub async fn preview_trade(
        &self,
        user_id: Uuid,
        input: &TradeInput,
    ) -> PortfolioResult<PreviewResult> {
        let request = input.parse()?;
        let record = self
            .reads
            .run(user_id)
            .await?
            .ok_or(PortfolioError::NoPortfolio)?;
        let target = target_of(&record)?;
        let now = self.now();
        let snapshot = self.prices.snapshot();
        let fresh = self.fresh_book(&snapshot, now, &[request.asset])?;
        let book = Self::valuation_book(&snapshot);
        let plan = preview_trade(
            &record.state(),
            &target,
            &request,
            fresh.get(request.asset),
            &book,
            now,
        )?;
        let quote = TradeQuote {
            id: format!("tq_{}", Uuid::new_v4().simple()),
            user_id,
            portfolio_id: record.id,
            asset: request.asset,
            action: request.action,
            amount: if request.sell_all {
                Irr::ZERO
            } else {
                request.amount.unwrap_or(Irr::ZERO)
            },
            sell_all: request.sell_all,
            quantity: plan.quantity,
            price_usd: Some(plan.price_usd),
            price_irr: plan.price_irr,
            fx_rate: Some(plan.fx_rate),
            spread: plan.spread_amount,
            consumed: false,
            expires_at: now.plus_seconds(QUOTE_TTL_SECONDS),
            created_at: now,
        };
        let (quote_id, valid_until) = (quote.id.clone(), quote.expires_at);
        self.quotes.save(quote).await?;
        Ok(PreviewResult {
            valid: true,
            quote_id,
            valid_until,
            preview: view(&plan),
            allocation: AllocationChange {
                before: plan.before.rounded(6),
                target: plan.target,
                after: plan.after.rounded(6),
            },
            boundary: plan.boundary,
            friction_copy: plan.friction_copy.clone(),
            moves_toward: plan.moves_toward,
            requires_acknowledgment: plan.requires_acknowledgment,
        })
    }

    /// `POST /trade/execute`: re-validates on the locked state and applies the trade at the
    /// quoted price (consuming the quote) or at the current fresh price, committed with its
    /// answer.
    #[tracing::instrument(
        skip_all,
        fields(user_id = %user_id, portfolio_id = Empty, asset = Empty, action = Empty)
    )]
    pub async fn execute_trade(
        &self,
        user_id: Uuid,
        request: &ExecuteRequest,
        reply: Reply,
    ) -> PortfolioResult<Replied> {
        let trade = request.trade.parse()?;
        // The quote is looked up before the lock, so a unit of work never waits for a second
        // pooled connection while it holds one (the database book reads on its own
        // connection). Single use does not rest on this read: the movement's own write of
        // the consumption refuses a quote consumed in between (`QUOTE_IN_USE`).
        let found = match &request.quote_id {
            Some(id) if id.len() <= MAX_QUOTE_ID_LEN => Some(self.quotes.find(user_id, id).await?),
            Some(_) => Some(None),
            None => None,
        };
        let tx = self.lock(user_id).await?;
        let record = tx.portfolio().cloned().ok_or(PortfolioError::NoPortfolio)?;
        let target = target_of(&record)?;
        let now = self.now();
        let snapshot = self.prices.snapshot();
        let mut book = Self::valuation_book(&snapshot);
        let (fill, quote) = match found {
            Some(found) => {
                let quote = check_quote(found, &trade, now)?;
                let fill = AssetPrice {
                    price_usd: quote.price_usd.unwrap_or(Decimal::ZERO),
                    price_irr: quote.price_irr,
                };
                (Some(fill), Some(quote))
            }
            None => {
                let fresh = self.fresh_book(&snapshot, now, &[trade.asset])?;
                (fresh.get(trade.asset), None)
            }
        };
        if let Some(fill) = fill {
            book.set_usd(trade.asset, fill.price_usd);
        }
        let state = record.state();
        let (plan, outcome) = execute_trade(
            &state,
            &target,
            &trade,
            fill,
            &book,
            now,
            request.acknowledged_warning,
        )?;
        let (entry_type, message) = match plan.action {
            TradeAction::Buy => (
                EntryType::TradeBuy,
                activity::bought(plan.asset, plan.amount),
            ),
            TradeAction::Sell => (
                EntryType::TradeSell,
                activity::sold(plan.asset, plan.amount),
            ),
        };
        let movement = Movement {
            portfolio_id: record.id,
            entry_type,
            boundary: plan.boundary,
            message,
            before: (&state, &book),
            after: (&outcome.state, &book),
            target: &target,
            now,
        };
        let (mut entry, after) = movement.entry();
        entry.asset_id = Some(plan.asset);
        entry.quantity = Some(plan.quantity);
        entry.amount_irr = Some(plan.amount);
        entry.price_irr = Some(plan.price_irr.normalize());
        entry.spread_irr = Some(plan.spread_amount);
        let mut metadata = Map::new();
        metadata.insert("fxRate".into(), number(plan.fx_rate));
        if plan.action == TradeAction::Sell {
            metadata.insert(
                "proceedsIrr".into(),
                number((plan.amount - plan.spread_amount).value()),
            );
        }
        if let Some(quote) = &quote {
            metadata.insert("quoteId".into(), Value::String(quote.id.clone()));
        }
        entry.metadata = Some(metadata);
        let activity = movement.activity(Some(plan.amount), Some(plan.asset));
        let mut change = change_set(
            Some(&record),
            record.id,
            entry,
            &after,
            &outcome.state,
            activity,
            now,
        )?;
        change.consumed_quote = quote.clone();
        let id = change.entry.id.to_string();
        let result = ExecuteResult {
            success: true,
            trade_id: id.clone(),
            ledger_entry_id: id,
            trade: ExecutedTrade {
                action: plan.action,
                asset_id: plan.asset,
                quantity: plan.quantity,
                amount_irr: plan.amount,
                price_usd: plan.price_usd.normalize(),
                price_irr: plan.price_irr.normalize(),
                spread: plan.spread.normalize(),
                spread_amount_irr: plan.spread_amount,
            },
            new_cash_irr: outcome.new_cash,
            new_holding_quantity: outcome.new_holding_quantity,
            boundary: plan.boundary,
            status: after.status,
        };
        let replied = Prepared {
            tx,
            change,
            outcome: result,
        }
        .reply(reply)
        .await?;
        if let Some(quote) = &quote {
            self.quotes.consumed(quote).await;
        }
        Ok(replied)
    }

    /// `GET /trade/limits`.
    pub fn trade_limits(&self) -> TradeLimits {
        let spread = |layer: Layer| layer.params().spread;
        TradeLimits {
            min_trade_irr: Irr::new(MIN_TRADE_IRR),
            max_trade_irr: Irr::new(MAX_TRADE_IRR),
            spreads_by_layer: Allocation::new(
                spread(Layer::Foundation),
                spread(Layer::Growth),
                spread(Layer::Upside),
            ),
            quote_ttl_seconds: QUOTE_TTL_SECONDS,
            price_max_age_seconds: self.price_max_age.as_secs(),
        }
    }
}

/// An exact JSON number.
pub(crate) fn number(value: Decimal) -> Value {
    blu_domain::num::canonical(value)
        .parse::<serde_json::Number>()
        .map(Value::Number)
        .unwrap_or(Value::Null)
}
