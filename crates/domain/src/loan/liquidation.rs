//! Liquidation (business-rules §7.9, D24): when a loan must be liquidated (LTV at the
//! threshold, or a maturity default), the sale that clears its debt, and its effect on the loan
//! and the portfolio.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::{Loan, LoanStatus, MATURITY_GRACE_DAYS};
use crate::money::{Irr, Quantity, checked_ratio, round_half_up};
use crate::portfolio::PortfolioState;
use crate::time::Timestamp;

/// Why a loan was liquidated (§7.9).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum LiquidationReason {
    /// The LTV reached the liquidation threshold. The spec names only `MATURITY_DEFAULT`;
    /// `LTV_BREACH` is this module's name for the other trigger.
    LtvBreach,
    /// Still ACTIVE more than `MATURITY_GRACE` days after the final due date.
    MaturityDefault,
}

/// What a liquidation did, kept on the loan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiquidationRecord {
    pub reason: LiquidationReason,
    pub liquidated_at: Timestamp,
    pub plan: LiquidationPlan,
}

impl Loan {
    /// Whether the loan must be liquidated now, and why (§7.9). `price_irr` must be a fresh
    /// price (the caller's check); pass `None` when it is not, and only the maturity default can
    /// fire. A non-positive price is treated as bad data, never as a reason to sell: its health
    /// band is CRITICAL, but the LTV trigger does not fire on it. Maturity default wins when both
    /// apply, because it holds whatever the price does.
    pub fn liquidation_trigger(
        &self,
        now: Timestamp,
        price_irr: Option<Decimal>,
        liquidation_ltv: Decimal,
    ) -> Option<LiquidationReason> {
        if !self.is_active() {
            return None;
        }
        if now > self.due_date.plus_days(MATURITY_GRACE_DAYS) {
            return Some(LiquidationReason::MaturityDefault);
        }
        let price = price_irr.filter(|p| *p > Decimal::ZERO)?;
        let ltv = self.health(now, price).ltv?;
        (ltv >= liquidation_ltv).then_some(LiquidationReason::LtvBreach)
    }

    /// The sale that clears the debt (§7.9) at `price_irr` (> 0) and the collateral's layer
    /// spread.
    pub fn liquidation_plan(&self, now: Timestamp, price_irr: Decimal) -> LiquidationPlan {
        liquidation_plan(
            self.outstanding_debt(now),
            self.collateral_quantity,
            price_irr,
            self.collateral_asset.asset().spread(),
        )
    }

    /// `liquidationPriceUsd` of `/loans/health` (api.md §9): the collateral USD price at which
    /// the LTV reaches `liquidation_ltv`, `debt / (liquidation_ltv × collateralQuantity × fx)`.
    /// Rounded half-up to 2 decimals as in the contract's example, but to 8 decimals below one
    /// dollar so that cheap assets (MATIC, XRP) keep a meaningful figure. `None` when the loan
    /// owes nothing or an input is not positive.
    pub fn liquidation_price_usd(
        &self,
        now: Timestamp,
        fx_rate: Decimal,
        liquidation_ltv: Decimal,
    ) -> Option<Decimal> {
        let debt = self.outstanding_debt(now).value();
        let quantity = self.collateral_quantity.value();
        let positive = |d: Decimal| d > Decimal::ZERO;
        if !(positive(debt) && positive(quantity) && positive(fx_rate) && positive(liquidation_ltv))
        {
            return None;
        }
        let price = checked_ratio(debt, liquidation_ltv * quantity * fx_rate)?;
        let dp = if price >= Decimal::ONE { 2 } else { 8 };
        Some(round_half_up(price, dp).normalize())
    }

    /// Records a liquidation (§7.9): the sale's applied amount pays the unpaid accrued interest
    /// first, then principal (D23's order); open installments close as PAID showing what was
    /// applied; the shortfall is recorded, not collected. Returns false (and changes nothing)
    /// when the loan is no longer ACTIVE, so a job racing a repayment skips it.
    pub fn record_liquidation(
        &mut self,
        plan: &LiquidationPlan,
        reason: LiquidationReason,
        now: Timestamp,
    ) -> bool {
        if !self.is_active() {
            return false;
        }
        let interest = plan.applied.min(self.unpaid_accrued_interest(now));
        let principal = (plan.applied - interest).min(self.unpaid_principal());
        self.place_closing_payment(interest, principal, now);
        self.interest_paid += interest;
        self.principal_paid += principal;
        self.status = LoanStatus::Liquidated;
        self.liquidation = Some(LiquidationRecord {
            reason,
            liquidated_at: now,
            plan: plan.clone(),
        });
        true
    }
}

/// The liquidation sale (§7.9).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiquidationPlan {
    pub debt: Irr,
    /// `G = ceil(debt / (1 − s))`: gross proceeds that clear the debt after the spread.
    pub gross_needed: Irr,
    /// `q = min(collateralQuantity, ceil8(G / priceIrr))`.
    pub quantity_sold: Quantity,
    /// Collateral units left in the holding (unfrozen).
    pub quantity_remaining: Quantity,
    /// `round(q × priceIrr)`.
    pub gross: Irr,
    /// `round(gross × s)`.
    pub spread: Irr,
    /// `gross − spread`.
    pub net: Irr,
    /// `min(net, debt)`.
    pub applied: Irr,
    /// `net − applied`, to cash.
    pub excess: Irr,
    /// `debt − applied`, recorded on the loan, not collected.
    pub shortfall: Irr,
}

/// Computes the liquidation sale (§7.9). The sold quantity rounds up (`ceil8`) so the sale
/// clears the debt, and never exceeds the collateral quantity.
///
/// # Panics
/// When `price_irr` is not positive: selling at no price is never a valid liquidation
/// ([`Loan::liquidation_trigger`] and [`liquidate_loan`] never get here with one).
pub fn liquidation_plan(
    debt: Irr,
    collateral_quantity: Quantity,
    price_irr: Decimal,
    spread: Decimal,
) -> LiquidationPlan {
    // Without a positive price nothing can be sold (callers refuse that case first).
    let gross_needed = Irr::ceil(debt.value() / (Decimal::ONE - spread));
    let quantity_sold = collateral_quantity.min(
        checked_ratio(gross_needed.value(), price_irr).map_or(Quantity::ZERO, Quantity::ceil8),
    );
    let gross = quantity_sold.value_at(price_irr);
    let spread_irr = gross.mul_round(spread);
    let net = gross - spread_irr;
    let applied = net.min(debt);
    LiquidationPlan {
        debt,
        gross_needed,
        quantity_sold,
        quantity_remaining: collateral_quantity - quantity_sold,
        gross,
        spread: spread_irr,
        net,
        applied,
        excess: net - applied,
        shortfall: debt - applied,
    }
}

/// Liquidates a loan against the portfolio (§7.9): sells `q` from the holding (never units
/// beyond the loan's collateral quantity), credits the excess to cash, unfreezes the holding and
/// records the liquidation on the loan. Returns `None` and changes nothing when the loan is no
/// longer ACTIVE or the price is not positive.
pub fn liquidate_loan(
    state: &mut PortfolioState,
    loan: &mut Loan,
    price_irr: Decimal,
    reason: LiquidationReason,
    now: Timestamp,
) -> Option<LiquidationPlan> {
    if !loan.is_active() || price_irr <= Decimal::ZERO {
        return None;
    }
    let plan = loan.liquidation_plan(now, price_irr);
    loan.record_liquidation(&plan, reason, now);
    let holding = state.holding_entry(loan.collateral_asset);
    // The holding can hold less than the collateral only if the state is inconsistent; never
    // drive a quantity negative.
    holding.quantity = if holding.quantity > plan.quantity_sold {
        holding.quantity - plan.quantity_sold
    } else {
        Quantity::ZERO
    };
    holding.frozen = false;
    state.cash += plan.excess;
    Some(plan)
}
