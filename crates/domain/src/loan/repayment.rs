//! Repayment and settlement (business-rules §7.6–7.7, D23): a payment pays interest before
//! principal installment by installment; paying the whole outstanding debt settles the loan and
//! forgives the interest not yet accrued.

use super::{Loan, LoanStatus};
use crate::error::{ErrorCode, RuleResult, RuleViolation};
use crate::money::Irr;
use crate::portfolio::PortfolioState;
use crate::time::Timestamp;

impl Loan {
    /// Applies a repayment (§7.6–7.7) and returns what happened. On refusal the loan is
    /// unchanged. `cash` is the portfolio's cash: the check is on the applied amount, not the
    /// requested one (§12 item 32).
    pub fn repay(&mut self, amount: Irr, cash: Irr, now: Timestamp) -> RuleResult<Repayment> {
        if !amount.is_positive() {
            return Err(RuleViolation::invalid_field(
                "amountIrr",
                "must be at least 1",
            ));
        }
        if !self.is_active() {
            return Err(RuleViolation::new(
                ErrorCode::LoanNotActive,
                "This loan is already closed.",
            ));
        }
        let owed = self.outstanding_debt(now);
        let applied = amount.min(owed);
        if applied > cash {
            return Err(RuleViolation::new(
                ErrorCode::InsufficientCash,
                "Not enough cash for this repayment.",
            )
            .with("required", applied)
            .with("available", cash));
        }
        if applied == owed {
            return Ok(self.settle(now));
        }
        let mut remaining = applied;
        let (mut interest_applied, mut principal_applied) = (Irr::ZERO, Irr::ZERO);
        for installment in self.installments.iter_mut().filter(|i| !i.is_paid()) {
            if remaining.is_zero() {
                break;
            }
            let interest = remaining.min(installment.unpaid_interest());
            installment.interest_paid += interest;
            remaining -= interest;
            let principal = remaining.min(installment.unpaid_principal());
            installment.principal_paid += principal;
            remaining -= principal;
            installment.refresh_status(now);
            interest_applied += interest;
            principal_applied += principal;
        }
        // A partial payment is below `owed` ≤ every unpaid installment part, so it is always
        // fully placed.
        debug_assert!(remaining.is_zero());
        self.interest_paid += interest_applied;
        self.principal_paid += principal_applied;
        Ok(Repayment {
            applied,
            principal_applied,
            interest_applied,
            settled: false,
            remaining_balance: self.outstanding_debt(now),
            installments_paid: self.installments_paid(),
            interest_forgiven: None,
            collateral_unfrozen: false,
        })
    }

    /// Settlement (§7.7): the principal is paid in full, the unpaid accrued interest is charged,
    /// the rest of the scheduled interest is forgiven and every open installment closes as PAID.
    /// The payment is placed on the installments so that each `paidIrr` shows what was applied:
    /// every open installment's unpaid principal, and the interest in installment order.
    fn settle(&mut self, now: Timestamp) -> Repayment {
        let principal_applied = self.unpaid_principal();
        let interest_applied = self.unpaid_accrued_interest(now);
        self.place_closing_payment(interest_applied, principal_applied, now);
        self.principal_paid += principal_applied;
        self.interest_paid += interest_applied;
        let forgiven = self.total_interest - self.interest_paid;
        self.status = LoanStatus::Repaid;
        self.settled_at = Some(now);
        self.interest_forgiven = Some(forgiven);
        Repayment {
            applied: principal_applied + interest_applied,
            principal_applied,
            interest_applied,
            settled: true,
            remaining_balance: Irr::ZERO,
            installments_paid: self.installments_paid(),
            interest_forgiven: Some(forgiven),
            collateral_unfrozen: true,
        }
    }

    /// Places a closing payment (settlement or liquidation proceeds) on the open installments:
    /// interest in installment order, then principal in installment order; then closes them.
    pub(super) fn place_closing_payment(&mut self, interest: Irr, principal: Irr, now: Timestamp) {
        let (mut interest, mut principal) = (interest, principal);
        for installment in self.installments.iter_mut().filter(|i| !i.is_paid()) {
            let i = interest.min(installment.unpaid_interest());
            installment.interest_paid += i;
            interest -= i;
        }
        for installment in self.installments.iter_mut().filter(|i| !i.is_paid()) {
            let p = principal.min(installment.unpaid_principal());
            installment.principal_paid += p;
            principal -= p;
            installment.close(now);
        }
    }
}

/// The outcome of a repayment (the numbers of api.md §9 `POST /loans/:id/repay`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Repayment {
    /// `min(amount, owed)`: what leaves cash.
    pub applied: Irr,
    pub principal_applied: Irr,
    pub interest_applied: Irr,
    pub settled: bool,
    /// Outstanding debt after the payment (business-rules §7.6 step 5; exactly 0 when settled).
    pub remaining_balance: Irr,
    /// The loan's total count of PAID installments.
    pub installments_paid: usize,
    pub interest_forgiven: Option<Irr>,
    pub collateral_unfrozen: bool,
}

/// Repays a loan from the portfolio's cash (§7.6): cash falls by the applied amount and the
/// collateral holding is unfrozen on settlement.
pub fn repay_loan(
    state: &mut PortfolioState,
    loan: &mut Loan,
    amount: Irr,
    now: Timestamp,
) -> RuleResult<Repayment> {
    let repayment = loan.repay(amount, state.cash, now)?;
    state.cash -= repayment.applied;
    if repayment.collateral_unfrozen
        && let Some(holding) = state.holding_mut(loan.collateral_asset)
    {
        holding.frozen = false;
    }
    Ok(repayment)
}
